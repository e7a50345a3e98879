// The dashboard page: plain script, no framework, no build. Everything shown comes from the JSON
// API and is put into the page as text nodes or attribute values (device labels come from a
// registry file, reject details from whoever published); no HTML parsing of data anywhere.
// Live: an EventSource on /api/events says what was committed ('batch', 'reject'); the page
// then fetches what it shows (the selected device's new readings, the aggregates, throttled).
(function () {
  'use strict';

  // ---- bounds and timing (the server has its own, DASHBOARD_DEFAULTS in server.ts) ----
  var LIMITS = {
    maxPoints: 1000, // replaced by /api/config: points kept per chart
    refreshMinMs: 1000, // aggregates (devices, rejects, totals) at most this often on events
    refreshIdleMs: 10000, // and at least this often (stale status, relative times)
    liveBatchFetches: 8, // more new batches of the selected device in one event: reload the charts
    seenBatches: 2048, // batch numbers remembered to skip repeats
    reconnectMs: 30000, // after the server refused the stream (client limit)
    recentRejectsShown: 20,
  };

  var REASONS = {
    oversize: 'larger than the message limit',
    malformed: 'not a well-formed signed batch',
    'wrong-alg': 'signed with another algorithm than ES256K',
    'topic-mismatch': 'topic does not name the signing device',
    'unknown-device': 'device not in the registry',
    'revoked-device': 'device revoked in the registry',
    'bad-signature': 'signature does not verify with the device key',
    conflict: 'same sequence number, different content (signed)',
    'chain-break': 'previous-batch hash does not match (signed)',
  };

  var STATUS_TEXT = {
    ok: 'every batch verified, chain complete',
    gaps: 'batches missing without a signed drop report',
    rejects: 'messages naming this device were rejected recently',
    stale: 'no verified batch recently',
    revoked: 'revoked in the registry',
  };

  var state = {
    config: null,
    devices: [],
    byAddress: {},
    selected: null,
    windowMs: 900000,
    clockOffset: 0, // server time - local time
    charts: {}, // name -> chart
    chartGen: 0, // bumped on every reload; late answers of an older load are dropped
    seen: {}, // "seq" -> 1 for the selected device's merged batches
    seenCount: 0,
    sumMode: {}, // name -> 'rate' | 'total'
    rejectsSeen: {},
  };

  // ---- DOM helpers: text only ----
  function $(id) {
    return document.getElementById(id);
  }

  /** el('td', {className, title, data: {...}, attrs: {...}}, child, 'text', ...) */
  function el(tag, props) {
    var e = document.createElement(tag);
    if (props) {
      if (props.className) e.className = props.className;
      if (props.title !== undefined) e.title = String(props.title);
      if (props.data) for (var k in props.data) e.setAttribute('data-' + k, String(props.data[k]));
      if (props.attrs) for (var a in props.attrs) e.setAttribute(a, String(props.attrs[a]));
      if (props.onclick) e.addEventListener('click', props.onclick);
    }
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }

  function append(parent, c) {
    if (c === null || c === undefined || c === false) return;
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function replaceRows(tbody, rows) {
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    for (var i = 0; i < rows.length; i++) tbody.appendChild(rows[i]);
  }

  // ---- formatting ----
  function serverNow() {
    return Date.now() + state.clockOffset;
  }

  function ago(ms) {
    if (ms === null || ms === undefined) return 'never';
    var s = Math.round((serverNow() - ms) / 1000);
    if (s < 0) s = 0;
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 172800) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function stamp(ms) {
    return ms === null || ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC');
  }

  function clock(ms, withSeconds) {
    var d = new Date(ms);
    var p = function (n) {
      return (n < 10 ? '0' : '') + n;
    };
    return p(d.getHours()) + ':' + p(d.getMinutes()) + (withSeconds ? ':' + p(d.getSeconds()) : '');
  }

  function shortAddr(a) {
    return a.slice(0, 8) + '\u2026' + a.slice(-4);
  }

  function num(x) {
    if (x === null || x === undefined || !isFinite(x)) return '\u2013';
    var a = Math.abs(x);
    if (a !== 0 && (a >= 1e7 || a < 1e-3)) return x.toExponential(2);
    if (a >= 1000) return x.toFixed(0);
    if (a >= 100) return x.toFixed(1);
    return String(Math.round(x * 100) / 100);
  }

  function deviceName(addr) {
    var d = addr && state.byAddress[addr];
    return d && d.label ? d.label : addr ? shortAddr(addr) : '(none)';
  }

  // ---- API ----
  function getJSON(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      return r.json().then(
        function (body) {
          if (!r.ok) throw new Error(path + ': ' + (body && body.error ? body.error : r.status));
          if (body && typeof body.nowMs === 'number') state.clockOffset = body.nowMs - Date.now();
          return body;
        },
        function () {
          throw new Error(path + ': HTTP ' + r.status);
        },
      );
    });
  }

  function showError(e) {
    var p = $('error');
    if (!e) {
      p.hidden = true;
      return;
    }
    p.textContent = String(e.message || e);
    p.hidden = false;
  }

  /** Runs fn at most once per minMs; calls in between are folded into one run at the end. */
  function throttle(fn, minMs) {
    var last = 0;
    var timer = null;
    var running = false;
    function run() {
      timer = null;
      last = Date.now();
      running = true;
      Promise.resolve()
        .then(fn)
        .catch(showError)
        .then(function () {
          running = false;
        });
    }
    return function () {
      if (timer) return;
      var wait = Math.max(0, last + minMs - Date.now(), running ? minMs : 0);
      timer = setTimeout(run, wait);
    };
  }

  // ---- header totals ----
  function renderTotals(s) {
    var dl = $('totals');
    while (dl.firstChild) dl.removeChild(dl.firstChild);
    function item(label, value, title, cls) {
      var wrap = el('div', { className: 'total' + (cls ? ' ' + cls : ''), title: title || '' }, el('dt', null, label), el('dd', null, value));
      dl.appendChild(wrap);
    }
    item('devices', s.store.devices);
    item('verified batches', s.store.batches, 'stored in the ' + s.source + ' database');
    item('rejects stored', s.store.rejects, 'unsigned rejects are stored rate-limited per reason');
    item('gaps', s.store.gapsUnexplained + ' / ' + s.store.gapsExplained, 'unexplained / explained by signed drop reports', s.store.gapsUnexplained ? 'warn' : '');
    if (s.ingest) {
      item('received', s.ingest.received, 'messages since the verifier started');
      item('rejected', s.ingest.rejectedTotal, 'since the verifier started, stored or not', s.ingest.rejectedTotal ? 'bad' : '');
      item('broker', s.ingest.connected ? 'connected' : 'disconnected', 'the verifier\u2019s MQTT connection', s.ingest.connected ? '' : 'bad');
    }
    item('live pages', s.live.clients + ' / ' + s.live.maxClients);
  }

  // ---- devices table ----
  function statusTitle(d) {
    var t = STATUS_TEXT[d.status] || d.status;
    if (d.status === 'rejects')
      t += ': ' + d.rejects + ' in the last ' + Math.round(state.devicesInfo.rejectWindowMs / 60000) + ' min' + (d.signedRejects ? ', ' + d.signedRejects + ' signed by its key' : ', none signed by its key');
    if (d.status === 'stale') t += ' (none for ' + Math.round(state.devicesInfo.staleAfterMs / 1000) + ' s)';
    return t;
  }

  function renderDevices(info) {
    state.devicesInfo = info;
    state.devices = info.devices;
    state.byAddress = {};
    for (var i = 0; i < info.devices.length; i++) state.byAddress[info.devices[i].address] = info.devices[i];
    $('devices-hint').textContent = info.devices.length >= info.limit ? '(first ' + info.limit + ')' : '';
    $('rejects-col').textContent = 'Rejects ' + Math.round(info.rejectWindowMs / 3600000) + ' h';
    $('devices-empty').hidden = info.devices.length > 0;
    var rows = info.devices.map(function (d) {
      var m = d.meta || {};
      var online = m.status ? el('span', { className: 'dot ' + m.status, title: 'claims to be ' + m.status + ' (status topic)' }) : null;
      var boardTitle = m.board
        ? 'claimed on the unsigned meta topic' + (m.firmware ? '; firmware ' + m.firmware : '') + (m.sources ? '; sources ' + m.sources.join(', ') : '') + (m.boot !== undefined ? '; boot ' + m.boot : '')
        : 'no meta record seen';
      var tr = el(
        'tr',
        {
          className: d.address === state.selected ? 'selected' : '',
          data: { address: d.address, status: d.status },
          attrs: { tabindex: 0, 'aria-selected': d.address === state.selected },
          title: 'Show the readings of this device',
        },
        el('td', null, el('span', { className: 'badge ' + d.status, title: statusTitle(d) }, d.status)),
        el('td', { className: 'label', title: d.label || '' }, online, d.label ? d.label : el('em', null, 'no label')),
        el('td', { className: 'mono', title: d.address }, shortAddr(d.address)),
        el('td', { title: boardTitle }, m.board || '\u2013'),
        el('td', { className: 'seen', title: stamp(d.lastSeenMs), data: { ms: d.lastSeenMs === null ? '' : d.lastSeenMs } }, ago(d.lastSeenMs)),
        el('td', { className: 'num' }, d.lastSeq === null ? '\u2013' : d.lastSeq),
        el('td', { className: 'num verified' }, d.batches),
        el(
          'td',
          { className: 'num gaps' + (d.gapsUnexplained ? ' warn' : ''), title: d.gapsFilled ? d.gapsFilled + ' filled late' : '' },
          d.gapsUnexplained + ' / ' + d.gapsExplained,
        ),
        el('td', { className: 'num rejects' + (d.rejects ? ' bad' : '') }, d.rejects),
      );
      tr.addEventListener('click', function () {
        select(d.address);
      });
      tr.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          select(d.address);
        }
      });
      return tr;
    });
    replaceRows($('devices').tBodies[0], rows);
    if (!state.selected && info.devices.length) {
      var first = pickDefault(info.devices);
      if (first) select(first, true);
    } else if (state.selected) updateDetailTitle();
  }

  function pickDefault(devs) {
    var fromHash = /^#device=([0-9a-f]{40})$/.exec(location.hash);
    if (fromHash && state.byAddress[fromHash[1]]) return fromHash[1];
    for (var i = 0; i < devs.length; i++) if (devs[i].batches > 0) return devs[i].address;
    return null;
  }

  function tickRelativeTimes() {
    var cells = document.querySelectorAll('#devices td.seen');
    for (var i = 0; i < cells.length; i++) {
      var ms = cells[i].getAttribute('data-ms');
      cells[i].textContent = ago(ms === '' ? null : Number(ms));
    }
  }

  // ---- rejects ----
  function renderRejects(r) {
    $('rejects-empty').hidden = r.byReason.length > 0;
    replaceRows(
      $('rejects').tBodies[0],
      r.byReason.map(function (x) {
        var fresh = state.rejectsSeen[x.reason] !== undefined && state.rejectsSeen[x.reason] < x.count;
        state.rejectsSeen[x.reason] = x.count;
        return el(
          'tr',
          { data: { reason: x.reason }, className: fresh ? 'fresh' : '' },
          el('td', { title: REASONS[x.reason] || '' }, el('code', null, x.reason), el('div', { className: 'why' }, REASONS[x.reason] || '')),
          el('td', { className: 'num count' }, x.count),
          el('td', { title: stamp(x.lastAtMs) }, ago(x.lastAtMs)),
        );
      }),
    );
    var ol = $('recent-rejects');
    while (ol.firstChild) ol.removeChild(ol.firstChild);
    r.recent.slice(0, LIMITS.recentRejectsShown).forEach(function (x) {
      ol.appendChild(
        el(
          'li',
          { data: { reason: x.reason } },
          el('span', { className: 'when', title: stamp(x.atMs) }, clock(x.atMs, true)),
          el('code', null, x.reason),
          el('span', { className: 'who', title: x.device || '' }, x.device ? deviceName(x.device) + (x.seq !== null ? ' #' + x.seq : '') : 'no device'),
          el('div', { className: 'detail', title: (x.topic ? 'topic ' + x.topic + '\n' : '') + x.detail }, x.detail),
        ),
      );
    });
    if (!r.recent.length) ol.appendChild(el('li', { className: 'empty' }, 'None.'));
  }

  // ---- device detail: charts ----
  function updateDetailTitle() {
    var d = state.byAddress[state.selected];
    $('detail-h').textContent = 'Readings: ' + (d && d.label ? d.label : state.selected ? shortAddr(state.selected) : '');
    $('detail-sub').textContent = state.selected || '';
  }

  function select(addr, keepHash) {
    if (state.selected === addr) return;
    state.selected = addr;
    if (!keepHash) history.replaceState(null, '', '#device=' + addr);
    var rows = $('devices').tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var on = rows[i].getAttribute('data-address') === addr;
      rows[i].className = on ? 'selected' : '';
      rows[i].setAttribute('aria-selected', String(on));
    }
    updateDetailTitle();
    loadCharts().catch(showError);
    loadGaps().catch(showError);
  }

  /** A rate for running totals: per hour for energy (Wh -> W), per minute for counters. */
  function rateOf(unit) {
    if (unit === 'Wh') return { factor: 3600, unit: 'W' };
    if (unit === 'kWh') return { factor: 3600, unit: 'kW' };
    if (unit === 'J') return { factor: 1, unit: 'W' };
    if (unit === 'm3') return { factor: 3600, unit: 'm3/h' };
    if (unit === 'l' || unit === 'L') return { factor: 60, unit: unit + '/min' };
    return { factor: 60, unit: unit ? unit + '/min' : '/min' };
  }

  function loadCharts() {
    var gen = ++state.chartGen;
    var dev = state.selected;
    state.seen = {};
    state.seenCount = 0;
    var box = $('charts');
    while (box.firstChild) box.removeChild(box.firstChild);
    state.charts = {};
    $('charts-empty').hidden = !!dev;
    if (!dev) return Promise.resolve();
    return getJSON('/api/series?device=' + dev).then(function (r) {
      if (gen !== state.chartGen) return;
      var numeric = r.series.filter(function (s) {
        return s.kind !== 'other';
      });
      $('charts-empty').hidden = numeric.length > 0;
      $('charts-empty').textContent = 'No readings stored for this device yet.';
      var since = Math.floor(serverNow() - state.windowMs);
      return Promise.all(
        numeric.map(function (s) {
          var c = makeChart(s);
          state.charts[s.name] = c;
          box.appendChild(c.node);
          var q = '/api/records?device=' + dev + '&name=' + encodeURIComponent(s.name) + '&since=' + since + '&limit=' + LIMITS.maxPoints;
          return getJSON(q).then(function (p) {
            if (gen !== state.chartGen) return;
            c.load(p.bucketMs, p.points);
            c.draw();
          });
        }),
      );
    });
  }

  function makeChart(series) {
    var isSum = series.kind === 'sum';
    if (isSum && !state.sumMode[series.name]) state.sumMode[series.name] = 'rate';
    var title = el('h4', null, series.name);
    var note = el('span', { className: 'hint' });
    var value = el('span', { className: 'value' });
    var head = el('div', { className: 'chart-head' }, title, note, value);
    var c = {
      name: series.name,
      unit: series.unit,
      kind: series.kind,
      points: [],
      bucketMs: 0,
      seqs: {}, // batches whose readings are in points
      seqCount: 0,
      loadedMaxSeq: 0,
      node: null,
      draw: null,
      pending: false,
    };
    if (isSum) {
      var toggle = el('div', { className: 'toggle', attrs: { role: 'group', 'aria-label': 'show as' } });
      ['rate', 'total'].forEach(function (mode) {
        var b = el('button', { attrs: { type: 'button', 'aria-pressed': state.sumMode[series.name] === mode }, data: { mode: mode } }, mode);
        b.addEventListener('click', function () {
          state.sumMode[series.name] = mode;
          var bs = toggle.querySelectorAll('button');
          for (var i = 0; i < bs.length; i++) bs[i].setAttribute('aria-pressed', String(bs[i] === b));
          c.draw();
        });
        toggle.appendChild(b);
      });
      head.appendChild(toggle);
    }
    var plot = el('div', { className: 'plot' });
    c.node = el('figure', { className: 'chart', data: { name: series.name, points: 0 } }, head, plot);

    c.draw = function () {
      c.pending = false;
      var mode = isSum ? state.sumMode[series.name] : 'value';
      var unit = series.unit || '';
      var ys;
      if (mode === 'rate') {
        var r = rateOf(series.unit);
        unit = r.unit;
        ys = rates(c.points, state.windowMs / 20, r.factor);
      } else
        ys = c.points
          .filter(function (p) {
            return (isSum ? p.s : p.v) !== null;
          })
          .map(function (p) {
            return { t: p.t, y: isSum ? p.s : p.v };
          });
      var what = mode === 'rate' ? ['rate'] : isSum ? ['total'] : [];
      if (unit) what.push(unit);
      title.textContent = series.name + (what.length ? ' (' + what.join(', ') + ')' : '');
      value.textContent = ys.length ? num(ys[ys.length - 1].y) + (unit ? ' ' + unit : '') : '';
      c.node.setAttribute('data-points', String(c.points.length));
      c.node.setAttribute('data-mode', mode);
      note.textContent = c.bucketMs ? 'mean per ' + Math.round(c.bucketMs / 1000) + ' s' : '';
      note.title = c.bucketMs ? 'more readings in this window than ' + LIMITS.maxPoints + ': averaged over equal intervals' : '';
      render(plot, ys);
    };

    c.load = function (bucketMs, points) {
      c.bucketMs = bucketMs;
      c.points = points;
      c.seqs = {};
      c.seqCount = 0;
      c.loadedMaxSeq = 0;
      for (var i = 0; i < points.length; i++) {
        if (!c.seqs[points[i].seq]) c.seqCount++;
        c.seqs[points[i].seq] = 1;
        if (points[i].seq > c.loadedMaxSeq) c.loadedMaxSeq = points[i].seq;
      }
    };

    /**
     * The readings of one new batch for this quantity, unless they are in already: the snapshot
     * and the live stream overlap a little after a (re)connect. A bucket only knows its newest
     * batch, so in bucket mode older batches than the snapshot's newest are taken as present.
     */
    c.addBatch = function (seq, recs) {
      if (c.seqs[seq] || (c.bucketMs && seq <= c.loadedMaxSeq)) return;
      if (c.seqCount >= LIMITS.seenBatches) c.load(c.bucketMs, c.points);
      c.seqs[seq] = 1;
      c.seqCount++;
      for (var i = 0; i < recs.length; i++) add(recs[i]);
      if (!c.pending) {
        c.pending = true;
        requestAnimationFrame(c.draw);
      }
    };

    /** A reading: appended (a late one in its place), or folded into the last bucket. */
    function add(p) {
      var pts = c.points;
      var last = pts[pts.length - 1];
      if (c.bucketMs && last && Math.floor(last.t / c.bucketMs) === Math.floor(p.t / c.bucketMs)) {
        if (p.v !== null) last.v = last.v === null ? p.v : (last.v * last.n + p.v) / (last.n + 1);
        if (p.s !== null) last.s = last.s === null ? p.s : Math.max(last.s, p.s);
        last.t = Math.max(last.t, p.t);
        last.n++;
      } else {
        var i = pts.length;
        while (i > 0 && pts[i - 1].t > p.t) i--;
        pts.splice(i, 0, { t: p.t, v: p.v, s: p.s, est: p.est, n: 1, seq: p.seq });
      }
      var from = serverNow() - state.windowMs;
      var drop = 0;
      while (drop < pts.length && (pts[drop].t < from || pts.length - drop > LIMITS.maxPoints)) drop++;
      if (drop) pts.splice(0, drop);
    }
    return c;
  }

  /** Trailing rate of a running total over about spanMs; a decrease (counter reset) is skipped. */
  function rates(pts, spanMs, factor) {
    var out = [];
    var j = -1;
    var idx = [];
    for (var k = 0; k < pts.length; k++) if (pts[k].s !== null) idx.push(k);
    for (var n = 1; n < idx.length; n++) {
      var b = pts[idx[n]];
      if (j < 0) j = 0;
      while (j < n - 1 && b.t - pts[idx[j]].t > spanMs) j++;
      var a = pts[idx[j]];
      var dt = b.t - a.t;
      var ds = b.s - a.s;
      if (dt > 0 && ds >= 0) out.push({ t: b.t, y: ((ds * 1000) / dt) * factor });
    }
    return out;
  }

  /** Nice round steps for an axis; `step` is kept on the array for formatting. */
  function ticks(lo, hi, count) {
    var span = hi - lo;
    if (!(span > 0)) return [lo];
    var step = Math.pow(10, Math.floor(Math.log(span / count) / Math.LN10));
    var err = span / count / step;
    if (err >= 7.5) step *= 10;
    else if (err >= 3.5) step *= 5;
    else if (err >= 1.5) step *= 2;
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    out.step = step;
    return out;
  }

  /** A tick label with as many decimals as the step needs. */
  function tickLabel(v, step) {
    if (Math.abs(v) >= 1e7 || (step < 1e-3 && v !== 0)) return v.toExponential(1);
    var d = Math.max(0, Math.min(6, -Math.floor(Math.log(step) / Math.LN10 + 1e-9)));
    return v.toFixed(d);
  }

  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map(function (s) {
    return s * 1000;
  });

  /** The oldest reading shown in any chart of the device: all charts share the time axis. */
  function firstTime() {
    var t = Infinity;
    for (var k in state.charts) {
      var p = state.charts[k].points;
      if (p.length && p[0].t < t) t = p[0].t;
    }
    return t;
  }

  function render(plot, ys) {
    var W = Math.max(240, plot.clientWidth || 480);
    var H = 150;
    var M = { l: 52, r: 10, t: 8, b: 22 };
    var root = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img' });
    var now = serverNow();
    var t1 = now;
    var t0 = now - state.windowMs;
    // A short history fills the width instead of sitting at the right edge.
    var first = firstTime();
    if (first > t0) t0 = Math.min(first, now - 10000);
    if (ys.length && ys[ys.length - 1].t > t1) t1 = ys[ys.length - 1].t;
    var lo = Infinity;
    var hi = -Infinity;
    for (var i = 0; i < ys.length; i++) {
      if (ys[i].y < lo) lo = ys[i].y;
      if (ys[i].y > hi) hi = ys[i].y;
    }
    if (!ys.length) {
      lo = 0;
      hi = 1;
    } else if (hi - lo < Math.abs(hi) * 1e-6 || hi === lo) {
      var pad = Math.abs(hi) * 0.05 || 1;
      lo -= pad;
      hi += pad;
    } else {
      var m = (hi - lo) * 0.08;
      lo -= m;
      hi += m;
    }
    var x = function (t) {
      return M.l + ((t - t0) / (t1 - t0)) * (W - M.l - M.r);
    };
    var y = function (v) {
      return M.t + (1 - (v - lo) / (hi - lo)) * (H - M.t - M.b);
    };
    var grid = svg('g', { class: 'grid' });
    var yt = ticks(lo, hi, 4);
    yt.forEach(function (v) {
      var yy = y(v).toFixed(1);
      grid.appendChild(svg('line', { x1: M.l, x2: W - M.r, y1: yy, y2: yy }));
      grid.appendChild(svg('text', { x: M.l - 6, y: yy, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, tickLabel(v, yt.step)));
    });
    var want = Math.max(2, Math.floor((W - M.l - M.r) / 90));
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var s = 0; s < TIME_STEPS.length; s++)
      if ((t1 - t0) / TIME_STEPS[s] <= want) {
        step = TIME_STEPS[s];
        break;
      }
    var tz = new Date().getTimezoneOffset() * 60000;
    for (var tt = Math.ceil((t0 - tz) / step) * step + tz; tt <= t1; tt += step) {
      var xx = x(tt).toFixed(1);
      grid.appendChild(svg('line', { x1: xx, x2: xx, y1: M.t, y2: H - M.b, class: 'v' }));
      // A label that would stick out of the plot is left off (its grid line stays).
      if (x(tt) > M.l + 20 && x(tt) < W - M.r - 22) grid.appendChild(svg('text', { x: xx, y: H - 6, 'text-anchor': 'middle' }, clock(tt, step < 60000)));
    }
    root.appendChild(grid);
    if (ys.length) {
      var pts = [];
      for (var k = 0; k < ys.length; k++) pts.push(x(ys[k].t).toFixed(1) + ',' + y(ys[k].y).toFixed(1));
      root.appendChild(svg('polyline', { class: 'line', points: pts.join(' ') }));
      var lastPt = ys[ys.length - 1];
      root.appendChild(svg('circle', { class: 'last', cx: x(lastPt.t).toFixed(1), cy: y(lastPt.y).toFixed(1), r: 3 }));
    } else root.appendChild(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, 'no readings in this window'));
    while (plot.firstChild) plot.removeChild(plot.firstChild);
    plot.appendChild(root);
  }

  function redrawCharts() {
    for (var k in state.charts) state.charts[k].draw();
  }

  // ---- gaps of the selected device ----
  function loadGaps() {
    var dev = state.selected;
    if (!dev) return Promise.resolve();
    return getJSON('/api/gaps?device=' + dev).then(function (r) {
      if (dev !== state.selected) return;
      $('gaps-empty').hidden = r.gaps.length > 0;
      replaceRows(
        $('gaps').tBodies[0],
        r.gaps.map(function (g) {
          var what = g.filledAtMs !== null ? 'filled late' : g.explained ? 'explained by the drop report in seq ' + g.dropReportSeq : 'unexplained';
          return el(
            'tr',
            { className: g.filledAtMs !== null ? 'muted' : g.explained ? '' : 'warn' },
            el('td', { className: 'num' }, g.seq),
            el('td', { className: 'num' }, g.nextSeq),
            el('td', null, what),
            el('td', { title: stamp(g.detectedAtMs) }, ago(g.detectedAtMs)),
          );
        }),
      );
    });
  }

  // ---- refreshing ----
  var refreshDevices = throttle(function () {
    return getJSON('/api/devices').then(renderDevices);
  }, LIMITS.refreshMinMs);
  var refreshRejects = throttle(function () {
    return getJSON('/api/rejects').then(renderRejects);
  }, LIMITS.refreshMinMs);
  var refreshTotals = throttle(function () {
    return getJSON('/api/stats').then(renderTotals);
  }, LIMITS.refreshMinMs);
  var refreshGaps = throttle(loadGaps, LIMITS.refreshMinMs);

  function refreshAll() {
    refreshDevices();
    refreshRejects();
    refreshTotals();
    refreshGaps();
  }

  function onBatches(list) {
    refreshDevices();
    refreshTotals();
    var mine = list.filter(function (b) {
      return b.device === state.selected && !state.seen[b.seq];
    });
    if (!mine.length) return;
    refreshGaps();
    if (mine.length > LIMITS.liveBatchFetches) return void loadCharts().catch(showError);
    var gen = state.chartGen;
    mine.forEach(function (b) {
      if (state.seenCount >= LIMITS.seenBatches) {
        state.seen = {};
        state.seenCount = 0;
      }
      state.seen[b.seq] = 1;
      state.seenCount++;
      getJSON('/api/batch?device=' + b.device + '&seq=' + b.seq)
        .then(function (r) {
          if (gen !== state.chartGen || r.device !== state.selected) return;
          var unknown = false;
          var byName = {};
          r.records.forEach(function (x) {
            if (state.charts[x.name]) (byName[x.name] = byName[x.name] || []).push(x);
            else if (x.v !== null || x.s !== null) unknown = true;
          });
          for (var name in byName) state.charts[name].addBatch(r.seq, byName[name]);
          if (unknown) loadCharts().catch(showError); // a quantity this device did not report before
        })
        .catch(showError);
    });
  }

  function setLive(st, text) {
    var s = $('live');
    s.setAttribute('data-state', st);
    s.textContent = text;
  }

  var source = null;
  function connect() {
    if (source) source.close();
    var es = new EventSource('/api/events');
    source = es;
    setLive('connecting', 'connecting');
    es.addEventListener('hello', function () {
      setLive('live', 'live');
      showError(null);
      // (Re)connected: whatever happened meanwhile is in the snapshot.
      refreshAll();
      loadCharts().catch(showError);
    });
    es.addEventListener('batch', function (ev) {
      onBatches(JSON.parse(ev.data));
    });
    es.addEventListener('reject', function () {
      refreshRejects();
      refreshDevices();
      refreshTotals();
    });
    es.addEventListener('resync', function () {
      refreshAll();
      loadCharts().catch(showError);
    });
    es.addEventListener('error', function () {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (the server's page limit) or gone: poll slowly, try again later.
        setLive('down', 'no live updates');
        setTimeout(function () {
          if (source === es) connect();
        }, LIMITS.reconnectMs);
      } else setLive('connecting', 'reconnecting');
    });
  }

  function init() {
    $('window').addEventListener('change', function (ev) {
      state.windowMs = Number(ev.target.value);
      loadCharts().catch(showError);
    });
    var resizeTimer = null;
    window.addEventListener('resize', function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(redrawCharts, 150);
    });
    getJSON('/api/config')
      .then(function (cfg) {
        state.config = cfg;
        LIMITS.maxPoints = cfg.maxPoints;
        for (var i = 0, o = $('window').options; i < o.length; i++) if (Number(o[i].value) > cfg.maxWindowMs) o[i].disabled = true;
      })
      .catch(showError)
      .then(function () {
        refreshAll();
        connect();
      });
    setInterval(function () {
      tickRelativeTimes();
      redrawCharts();
    }, 5000);
    setInterval(refreshAll, LIMITS.refreshIdleMs);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
