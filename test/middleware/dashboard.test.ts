// The dashboard: the JSON API and its bounds over a SQLite store filled through the ingest; the
// live stream (SSE) with its client limit, resync and slow-consumer bounds; and the page itself
// in headless Chromium against a live fleet (aedes, ingest, 3 simulated devices), with a forged
// message and a hostile device label. The screenshot goes to bench/out/dashboard.png (ignored
// by git).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { startAedes } from '../harness/brokers.js';
import { createIngest } from '../../agent-sim/middleware/ingest.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { openSqliteSource, type DashboardSource, type Changes } from '../../agent-sim/middleware/dashboard/source.js';
import { startDashboard, takeDashboardArg, deviceStatus, DASHBOARD_DEFAULTS } from '../../agent-sim/middleware/dashboard/server.js';
import { createMetaFeed } from '../../agent-sim/middleware/dashboard/meta.js';
import { SimDevice, fleetSpecs, provision, type FleetConfig } from '../../agent-sim/fleet.js';
import { parseCli } from '../../agent-sim/middleware/cli.js';
import { testDevice, registryOf, TEST_KEYS } from './fixtures.js';
import { fromHex } from '../../firmware/core/util/bytes.js';
import type { Reading } from '../../firmware/core/telemetry/senml.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-dash-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = resolve('bench/out/dashboard.png');

// ---------------------------------------------------------------------------------------------
// helpers

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json?: any;
}

function get(url: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((ok, fail) => {
    const req = http.request(url, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const r: Reply = { status: res.statusCode!, headers: res.headers, body };
        if (String(res.headers['content-type']).startsWith('application/json') && body) r.json = JSON.parse(body);
        ok(r);
      });
    });
    req.on('error', fail);
    req.end();
  });
}

/** An SSE connection read frame by frame. */
function openStream(url: string): Promise<{ status: number; events: { event: string; data: any }[]; close(): void; closed: Promise<void> }> {
  return new Promise((ok, fail) => {
    const req = http.get(url, (res) => {
      const events: { event: string; data: any }[] = [];
      let buf = '';
      res.setEncoding('utf8');
      const closed = new Promise<void>((c) => res.on('close', () => c()));
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(frame);
          const data = /^data: (.*)$/m.exec(frame);
          if (ev && data) events.push({ event: ev[1], data: JSON.parse(data[1]) });
        }
      });
      ok({ status: res.statusCode!, events, close: () => req.destroy(), closed });
    });
    req.on('error', fail);
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---------------------------------------------------------------------------------------------
// argument and status rules

test('takeDashboardArg: --dashboard alone, with a port, host:port or =, and bad values', () => {
  assert.deepEqual(takeDashboardArg(['run', '--devices', '3']), { argv: ['run', '--devices', '3'] });
  assert.deepEqual(takeDashboardArg(['run', '--dashboard']), { argv: ['run'], listen: { host: '127.0.0.1', port: 8080 } });
  assert.deepEqual(takeDashboardArg(['--dashboard', 'demo']), { argv: ['demo'], listen: { host: '127.0.0.1', port: 8080 } });
  assert.deepEqual(takeDashboardArg(['--dashboard', '--devices', '2']), { argv: ['--devices', '2'], listen: { host: '127.0.0.1', port: 8080 } });
  assert.deepEqual(takeDashboardArg(['demo', '--dashboard', '0']), { argv: ['demo'], listen: { host: '127.0.0.1', port: 0 } });
  assert.deepEqual(takeDashboardArg(['--dashboard=9000']), { argv: [], listen: { host: '127.0.0.1', port: 9000 } });
  assert.deepEqual(takeDashboardArg(['--dashboard', '0.0.0.0:9000']), { argv: [], listen: { host: '0.0.0.0', port: 9000 } });
  assert.deepEqual(takeDashboardArg(['--dashboard', '[::1]:9000']), { argv: [], listen: { host: '::1', port: 9000 } });
  assert.deepEqual(takeDashboardArg(['--', '--dashboard']), { argv: ['--', '--dashboard'] });
  assert.throws(() => takeDashboardArg(['--dashboard=70000']), /--dashboard expected \[host:\]port with a port in 0\.\.65535 .*got "70000"/);
  assert.throws(() => takeDashboardArg(['--dashboard=abc']), /got "abc"/);
  assert.throws(() => takeDashboardArg(['--dashboard', '--dashboard=1']), /--dashboard given twice/);
});

test('agent-verifier --dashboard: parsed into CliOptions.dashboard, refused with --no-db', () => {
  const o = parseCli(['--dashboard', '--stats', '0'], {});
  assert.ok(o !== 'help');
  assert.deepEqual([o.dashboard, o.statsMs], [{ host: '127.0.0.1', port: 8080 }, 0]);
  const p = parseCli(['--dashboard', '127.0.0.1:0'], {});
  assert.ok(p !== 'help');
  assert.deepEqual(p.dashboard, { host: '127.0.0.1', port: 0 });
  assert.equal('dashboard' in (parseCli([], {}) as object), false, 'no key without the option');
  assert.throws(() => parseCli(['--no-db', '--jsonl', '--dashboard'], {}), /--dashboard reads the SQLite database: it cannot go with --no-db/);
  assert.throws(() => parseCli(['--dashboard=x:y'], {}), /--dashboard expected \[host:\]port/);
  assert.throws(() => parseCli(['--db', 'postgres://u@h/db', '--dashboard'], {}), /--dashboard reads SQLite only so far/);
});

test('deviceStatus: revoked, then stale, then rejects, then gaps, else ok', () => {
  const base = { address: 'a'.repeat(40), label: 'x', revoked: false, firstSeenMs: 0, lastSeenMs: 1000, lastSeq: 3, batches: 3, gapsUnexplained: 0, gapsExplained: 2, gapsFilled: 0, rejects: 0, signedRejects: 0 };
  const at = (o: object, now = 2000) => deviceStatus({ ...base, ...o }, now, 5000);
  assert.equal(at({}), 'ok', 'explained gaps are not a problem');
  assert.equal(at({ gapsUnexplained: 1 }), 'gaps');
  assert.equal(at({ gapsUnexplained: 1, rejects: 1 }), 'rejects');
  assert.equal(at({}, 6000), 'ok', 'exactly staleAfterMs old is not stale yet');
  assert.equal(at({}, 6001), 'stale');
  assert.equal(at({ lastSeenMs: null }), 'stale', 'never seen');
  assert.equal(at({ revoked: true, rejects: 5 }, 99999), 'revoked');
});

// ---------------------------------------------------------------------------------------------
// API over SQLite, filled through the ingest (no broker: ingest.process)

const T0 = 1764080000; // Unix seconds of the first reading
const NOW = (T0 + 400) * 1000; // the dashboard's and the ingest's clock

/** 40 batches of 5 readings one second apart: m0/p (value) and m0/e (running total). */
function readingsOf(batch: number): Reading[] {
  const out: Reading[] = [];
  for (let k = 0; k < 5; k++) {
    const i = batch * 5 + k;
    out.push({ n: 'm0/p', u: 'W', v: 100 + ((i * 37) % 50), t: T0 + i });
    out.push({ n: 'm0/e', u: 'Wh', s: 5000 + i * 2, t: T0 + i });
  }
  return out;
}

test('API: devices, series, raw and bucketed records, batch, gaps, rejects, stats, and refused requests', async () => {
  const path = join(dir, 'api.sqlite');
  const store = openSqliteStore(path);
  const alice = testDevice(TEST_KEYS.alice);
  const bob = testDevice(TEST_KEYS.bob);
  const mallory = testDevice(TEST_KEYS.mallory);
  const reg = registryOf([alice, bob]);
  reg.devices[0].label = 'alice <b>&amp;</b>';
  const ing = createIngest({ store, registry: reg, now: () => NOW, chain: { gapGraceMs: 0 }, log: () => {} });
  for (let b = 0; b < 40; b++) assert.equal((await ing.process(alice.topic(), alice.next({ readings: readingsOf(b) }).message, NOW - 5000 + b)).status, 'accepted');
  const dash = await startDashboard({ source: openSqliteSource(path), now: () => NOW, staleAfterMs: 60000, cacheMs: 1, log: () => {} });
  try {
    let r = await get(dash.url + 'api/devices');
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    const devs = r.json.devices as any[];
    assert.deepEqual(
      devs.map((d) => [d.label, d.batches, d.lastSeq, d.status]),
      [
        ['alice <b>&amp;</b>', 40, 40, 'ok'],
        ['dev1', 0, null, 'stale'],
      ],
    );
    assert.equal(devs[0].address, alice.address);

    r = await get(dash.url + 'api/series?device=' + alice.address);
    assert.deepEqual(r.json.series, [
      { name: 'm0/e', unit: 'Wh', kind: 'sum' },
      { name: 'm0/p', unit: 'W', kind: 'value' },
    ]);

    // 200 readings in range: raw up to the limit, then averaged into buckets of equal width.
    const since = T0 * 1000;
    r = await get(dash.url + 'api/records?device=' + alice.address + '&name=m0/p&since=' + since);
    assert.equal(r.json.bucketMs, 0);
    assert.equal(r.json.points.length, 200);
    assert.deepEqual(r.json.points[7], { t: (T0 + 7) * 1000, v: 100 + ((7 * 37) % 50), s: null, est: false, n: 1, seq: 2 });
    const limit = 30;
    r = await get(dash.url + 'api/records?device=' + alice.address + '&name=m0/p&since=' + since + '&limit=' + limit);
    const width = Math.ceil((NOW - since) / limit);
    assert.equal(r.json.bucketMs, width);
    assert.ok(r.json.points.length <= limit);
    const expect = new Map<number, number[]>();
    for (let i = 0; i < 200; i++) {
      const k = Math.floor(((T0 + i) * 1000) / width);
      if (!expect.has(k)) expect.set(k, []);
      expect.get(k)!.push(100 + ((i * 37) % 50));
    }
    const keys = [...expect.keys()].sort((a, b) => a - b).slice(-limit);
    assert.equal(r.json.points.length, keys.length);
    r.json.points.forEach((p: any, j: number) => {
      const vals = expect.get(keys[j])!;
      assert.equal(p.n, vals.length);
      assert.ok(Math.abs(p.v - vals.reduce((a, b) => a + b, 0) / vals.length) < 1e-9, 'bucket ' + j + ' is the mean');
    });
    r = await get(dash.url + 'api/records?device=' + alice.address + '&name=m0/e&since=' + since + '&limit=' + limit);
    const lastE = r.json.points[r.json.points.length - 1];
    assert.deepEqual([lastE.s, lastE.t, lastE.seq], [5000 + 199 * 2, (T0 + 199) * 1000, 40], 'a total bucket keeps its last total, time and batch');

    r = await get(dash.url + 'api/batch?device=' + alice.address + '&seq=2');
    assert.equal(r.json.records.length, 10);
    assert.deepEqual(r.json.records.find((x: any) => x.name === 'm0/p' && x.t === (T0 + 5) * 1000), { name: 'm0/p', unit: 'W', t: (T0 + 5) * 1000, v: 100 + ((5 * 37) % 50), s: null, est: false, n: 1, seq: 2 });

    // A gap (seq 41 never comes), then a forged message naming alice: status gaps, then rejects.
    alice.next({ readings: readingsOf(40) }); // sealed, never sent
    await ing.process(alice.topic(), alice.next({ readings: readingsOf(41) }).message, NOW - 100);
    await ing.flush();
    await new Promise((res) => setTimeout(res, 5)); // past cacheMs
    r = await get(dash.url + 'api/devices');
    assert.deepEqual([r.json.devices[0].gapsUnexplained, r.json.devices[0].status], [1, 'gaps']);
    r = await get(dash.url + 'api/gaps?device=' + alice.address);
    assert.deepEqual(
      r.json.gaps.map((g: any) => [g.seq, g.nextSeq, g.explained, g.filledAtMs]),
      [[41, 42, false, null]],
    );
    const forged = mallory.sealPayload(mallory.next().payload, alice.kid);
    assert.equal((await ing.process(alice.topic(), forged, NOW - 50)).status, 'rejected');
    assert.equal((await ing.process('depin/zz/tele', forged, NOW - 40)).status, 'rejected');
    await new Promise((res) => setTimeout(res, 5));
    r = await get(dash.url + 'api/devices');
    assert.deepEqual([r.json.devices[0].rejects, r.json.devices[0].signedRejects, r.json.devices[0].status], [2, 0, 'rejects'], 'both name alice; neither is signed by her key');
    r = await get(dash.url + 'api/rejects');
    assert.deepEqual(
      r.json.byReason.map((x: any) => [x.reason, x.count]),
      [
        ['bad-signature', 1],
        ['topic-mismatch', 1],
      ],
    );
    assert.deepEqual(
      r.json.recent.map((x: any) => [x.reason, x.device]),
      [
        ['topic-mismatch', alice.address],
        ['bad-signature', alice.address],
      ],
    );
    r = await get(dash.url + 'api/stats');
    assert.deepEqual(
      [r.json.store.devices, r.json.store.batches, r.json.store.rejects, r.json.store.gapsUnexplained, r.json.ingest, r.json.meta],
      [2, 41, 2, 1, null, null],
    );

    // Static files, with the security headers.
    r = await get(dash.url);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.body, /<script src="app.js" defer><\/script>/);
    r = await get(dash.url + 'app.js');
    assert.match(String(r.headers['content-type']), /^text\/javascript/);
    assert.doesNotMatch(r.body, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'the page builds text nodes only');
    assert.equal((await get(dash.url + 'style.css')).status, 200);
    assert.equal((await get(dash.url, { method: 'HEAD' })).body, '');

    // Refused: each names what was expected.
    const refused: [string, number, RegExp][] = [
      ['api/records?device=' + alice.address + '&name=m0/p&since=' + since + '&limit=' + (DASHBOARD_DEFAULTS.maxPoints + 1), 400, /"limit" expected an integer in 1\.\.1000, got "1001"/],
      ['api/records?device=' + alice.address + '&name=m0/p&since=' + (NOW - DASHBOARD_DEFAULTS.maxWindowMs - 1), 400, /"since" expected an integer in/],
      ['api/records?device=' + alice.address + '&name=m0/p', 400, /"since" is required/],
      ['api/records?device=' + alice.address + '&name=' + 'x'.repeat(257) + '&since=' + since, 400, /"name" expected at most 256 characters, got 257/],
      ['api/series?device=ALICE', 400, /"device" expected 40 lowercase hex digits, got "ALICE"/],
      ['api/batch?device=' + alice.address + '&seq=0', 400, /"seq" expected an integer in 1\.\./],
      ['api/gaps?limit=' + (DASHBOARD_DEFAULTS.maxGaps + 1), 400, /"limit" expected an integer in 1\.\.100/],
      ['api/nothing', 404, /no such endpoint: \/api\/nothing/],
      ['../../etc/passwd', 404, /no such endpoint/],
      ['api/devices?pad=' + 'x'.repeat(DASHBOARD_DEFAULTS.maxUrlBytes), 414, /longer than 2048 bytes/],
    ];
    for (const [p, status, msg] of refused) {
      r = await get(dash.url + p);
      assert.equal(r.status, status, p.slice(0, 80));
      assert.match(r.json.error, msg, p.slice(0, 80));
    }
    const limitOk = await get(dash.url + 'api/records?device=' + alice.address + '&name=m0/p&since=' + since + '&limit=' + DASHBOARD_DEFAULTS.maxPoints);
    assert.equal(limitOk.status, 200, 'the limit itself is allowed');
    r = await get(dash.url + 'api/devices', { method: 'POST' });
    assert.deepEqual([r.status, r.headers.allow], [405, 'GET, HEAD']);
    assert.equal((await get(dash.url + 'api/events', { method: 'HEAD' })).status, 405, 'no live stream for HEAD');
    assert.equal(dash.clients(), 0);
    r = await get(dash.url + 'api/devices', { headers: { Host: 'evil.example:' + dash.port } });
    assert.equal(r.status, 421, 'a rebinding name is refused on a loopback server');
    r = await get('http://127.0.0.1:' + dash.port + '/api/devices', { headers: { Host: 'localhost:' + dash.port } });
    assert.equal(r.status, 200);
  } finally {
    await dash.close();
    await ing.stop();
    store.close();
  }
});

test('startDashboard: bounds must be positive integers', async () => {
  const source = {} as DashboardSource;
  await assert.rejects(startDashboard({ source, maxSseClients: 0 }), /"maxSseClients" expected an integer >= 1, got 0/);
  await assert.rejects(startDashboard({ source, port: 70000 }), /"port" expected a port in 0\.\.65535, got 70000/);
  await assert.rejects(startDashboard({ source, pollMs: 2.5 }), /"pollMs" expected an integer >= 1, got 2.5/);
});

// ---------------------------------------------------------------------------------------------
// live stream

test('SSE: batches and rejects pushed after commit, client limit, resync beyond changesLimit', async () => {
  const path = join(dir, 'sse.sqlite');
  const store = openSqliteStore(path);
  const alice = testDevice(TEST_KEYS.alice);
  const ing = createIngest({ store, registry: registryOf([alice]), log: () => {} });
  await ing.process(alice.topic(), alice.next().message);
  const dash = await startDashboard({ source: openSqliteSource(path), pollMs: 20, maxSseClients: 2, changesLimit: 3, log: () => {} });
  const streams: Awaited<ReturnType<typeof openStream>>[] = [];
  try {
    const a = await openStream(dash.url + 'api/events');
    streams.push(a);
    assert.equal(a.status, 200);
    await until('hello', () => a.events.some((e) => e.event === 'hello'));
    assert.equal(dash.clients(), 1);
    await new Promise((res) => setTimeout(res, 60));
    assert.deepEqual(a.events.map((e) => e.event), ['hello'], 'history is not replayed: the page loads a snapshot');

    await ing.process(alice.topic(), alice.next().message, 1234);
    await until('a batch event', () => a.events.some((e) => e.event === 'batch'));
    assert.deepEqual(a.events.find((e) => e.event === 'batch')!.data, [{ device: alice.address, seq: 2, atMs: 1234, records: 2 }]);
    await ing.process('depin/nothex/tele', new Uint8Array([1, 2, 3]), 2345);
    await until('a reject event', () => a.events.some((e) => e.event === 'reject'));
    assert.deepEqual(a.events.find((e) => e.event === 'reject')!.data, [{ atMs: 2345, reason: 'malformed', device: null, seq: null }]);

    // At the client limit: the next page is refused, and admitted once one leaves.
    const b = await openStream(dash.url + 'api/events');
    streams.push(b);
    assert.equal(b.status, 200);
    const refused = await get(dash.url + 'api/events');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '30');
    assert.match(refused.json.error, /2 pages are connected already \(maxSseClients\)/);
    b.close();
    await until('the page to leave', () => dash.clients() === 1);
    const c = await openStream(dash.url + 'api/events');
    streams.push(c);
    assert.equal(c.status, 200);

    // Exactly changesLimit new batches in one poll: delivered. More: the pages are told to reload.
    const n0 = a.events.length;
    const three = [alice.next(), alice.next(), alice.next()];
    await Promise.all(three.map((s) => ing.process(alice.topic(), s.message)));
    await until('three batches', () => a.events.slice(n0).some((e) => e.event === 'batch'));
    await new Promise((res) => setTimeout(res, 60));
    assert.deepEqual(
      a.events.slice(n0).flatMap((e) => (e.event === 'batch' ? e.data.map((x: any) => x.seq) : [e.event])),
      [3, 4, 5],
    );
    const n1 = a.events.length;
    const five = [alice.next(), alice.next(), alice.next(), alice.next(), alice.next()];
    await Promise.all(five.map((s) => ing.process(alice.topic(), s.message)));
    await until('resync', () => a.events.slice(n1).some((e) => e.event === 'resync'));
    await new Promise((res) => setTimeout(res, 60));
    assert.deepEqual(
      a.events.slice(n1).map((e) => e.event),
      ['batch', 'resync'],
      'the first 3, then resync; the rest is not sent again',
    );
    assert.equal(a.events[n1].data.length, 3);
  } finally {
    for (const s of streams) s.close();
    await dash.close();
    await ing.stop();
    store.close();
  }
});

test('SSE: a page that stops reading is dropped at maxSseBufferBytes', async () => {
  // A source that always has 200 new batches with long names: ~100 KB per poll.
  let n = 0;
  const fat: DashboardSource = {
    kind: 'fake',
    changes(cursor: string | undefined): Changes {
      if (cursor === undefined) return { cursor: '0', batches: [], rejects: [], more: false };
      return { cursor: String(++n), batches: Array.from({ length: 200 }, (_, i) => ({ device: 'd'.repeat(480), seq: i + 1, atMs: 0, records: 1 })), rejects: [], more: false };
    },
    close() {},
  } as unknown as DashboardSource;
  const warnings: string[] = [];
  const dash = await startDashboard({ source: fat, pollMs: 5, maxSseBufferBytes: 512 * 1024, log: (_l, m) => warnings.push(m) });
  // A raw socket that sends the request and never reads: the kernel buffers fill, then Node's.
  const sock = net.connect(dash.port, '127.0.0.1');
  sock.pause();
  const gone = new Promise<void>((res) => sock.once('close', () => res()));
  sock.write('GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:' + dash.port + '\r\n\r\n');
  try {
    await until('the page to connect', () => dash.clients() === 1);
    await until('the slow page to be dropped', () => dash.clients() === 0, 15000);
    assert.match(warnings.join('\n'), /dropping a live page that fell \d+ bytes behind/);
    sock.resume();
    await gone;
  } finally {
    sock.destroy();
    await dash.close();
  }
});

// ---------------------------------------------------------------------------------------------
// meta feed

test('meta feed: a birth record only under its own address, fields cut, size and device bounds', async () => {
  const broker = await startAedes();
  const A = 'a'.repeat(40);
  const B = 'b'.repeat(40);
  const C = 'c'.repeat(40);
  const pub = await mqtt.connectAsync(broker.url, { clientId: 'meta-pub', reconnectPeriod: 0 });
  const meta = (address: string, board: string) => Buffer.from(JSON.stringify({ v: 1, address, board, firmware: 'fw', sources: ['m0', 7, 's1'], boot: 3 }));
  // Retained before the feed subscribes: they arrive on subscription.
  await pub.publishAsync('depin/' + A + '/meta', meta(A, 'x'.repeat(100)), { qos: 1, retain: true });
  await pub.publishAsync('depin/' + A + '/status', Buffer.from('online'), { qos: 1, retain: true });
  const feed = createMetaFeed({ brokerUrl: broker.url, prefix: 'depin', maxDevices: 2, maxFieldChars: 16, maxMetaBytes: 300 });
  try {
    await until('the retained record', () => feed.get(A)?.status === 'online' && feed.get(A)?.board !== undefined);
    assert.deepEqual({ ...feed.get(A), statusAtMs: 0, metaAtMs: 0 }, { board: 'x'.repeat(16), firmware: 'fw', sources: ['m0', 's1'], boot: 3, status: 'online', statusAtMs: 0, metaAtMs: 0 });
    await pub.publishAsync('depin/' + B + '/meta', meta(A, 'claims A'), { qos: 1 }); // another address than the topic's
    await pub.publishAsync('depin/' + B + '/meta', Buffer.concat([meta(B, 'big'), Buffer.alloc(300, 32)]), { qos: 1 }); // over maxMetaBytes
    await pub.publishAsync('depin/' + B + '/status', Buffer.from('sleeping'), { qos: 1 });
    await pub.publishAsync('depin/nothex/meta', meta('nothex', 'n'), { qos: 1 });
    await pub.publishAsync('depin/' + B + '/meta', meta(B, 'b-board'), { qos: 1 });
    await until('B', () => feed.get(B)?.board === 'b-board');
    assert.equal(feed.get(A)!.board, 'x'.repeat(16), "B's topic did not change A");
    assert.equal(feed.get(B)!.status, undefined);
    await pub.publishAsync('depin/' + C + '/meta', meta(C, 'c'), { qos: 1 }); // a third device, over maxDevices
    await until('the third counted', () => feed.stats().ignored === 5);
    assert.equal(feed.get(C), undefined);
    assert.deepEqual([feed.stats().devices, feed.stats().connected], [2, true]);
  } finally {
    await feed.close();
    await pub.endAsync();
    await broker.close();
  }
});

// ---------------------------------------------------------------------------------------------
// agent-sim run --dashboard: the URL is printed and serves the run's database

test('agent-sim run --dashboard 0 prints a URL that serves the devices while the fleet runs', { timeout: 30000 }, async () => {
  const dataDir = join(dir, 'sim-cli');
  const child = spawn(process.execPath, ['--import', 'tsx', 'agent-sim/cli.ts', 'run', '--devices', '2', '--duration', '3', '--drain-s', '5', '--data-dir', dataDir, '--dashboard', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  try {
    await until('the dashboard URL', () => /dashboard: http:\/\/127\.0\.0\.1:\d+\//.test(out), 15000);
    const url = /dashboard: (http:\/\/\S+)/.exec(out)![1];
    const r = await get(url + 'api/devices');
    assert.deepEqual(r.json.devices.map((d: any) => d.label), ['dev-000', 'dev-001']);
    assert.equal(await exited, 0, out);
    await assert.rejects(get(url + 'api/devices'), /ECONNREFUSED/, 'closed with the run');
  } finally {
    child.kill();
  }
});

// ---------------------------------------------------------------------------------------------
// the page, in a real browser

const skipBrowser = existsSync(CHROMIUM) ? false : 'chromium not found: install it (Debian: apt-get install chromium) to run the dashboard test';

test('page in headless Chromium: live fleet of 3, charts grow over SSE, a forged message shows under rejects, labels stay text', { skip: skipBrowser, timeout: 60000 }, async () => {
  const { chromium } = await import('playwright-core');
  const broker = await startAedes();
  const dataDir = join(dir, 'fleet');
  const fleet: FleetConfig = {
    dataDir,
    brokerHost: '127.0.0.1',
    brokerPort: broker.port,
    prefix: 'depin',
    // Readings carry whole seconds: one a second keeps their times apart.
    intervalMs: 1000,
    batchMaxReadings: 2,
    batchMaxAgeMs: 1000,
  };
  const devices = fleetSpecs(3, 7).map((s) => new SimDevice(fleet, s));
  const reg = provision(join(dataDir, 'registry.json'), devices);
  // A label from a hostile registry file: must show as text, never as markup.
  const EVIL = '<img src=x onerror="window.__xss=1">hotspot';
  reg.devices[2].label = EVIL;
  const dbPath = join(dir, 'page.sqlite');
  const store = openSqliteStore(dbPath);
  const ing = createIngest({ brokerUrl: broker.url, store, registry: reg, clientId: 'dash-test-verifier', log: () => {} });
  await ing.start();
  const dash = await startDashboard({ source: openSqliteSource(dbPath), broker: { url: broker.url, prefix: 'depin' }, ingestStats: () => ing.stats(), log: () => {} });
  for (const d of devices) d.start();
  const energy = devices[0].agent.addressHex;
  const victim = devices[1].agent.addressHex;
  const profile = mkdtempSync(join(tmpdir(), 'dash-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 1000 },
  });
  const pageErrors: string[] = [];
  try {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(dash.url);

    // The devices table: the 3 devices, each with verified batches, board from the meta topic.
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#devices tbody tr')];
        return rows.length === 3 && rows.every((r) => Number(r.querySelector('td.verified')!.textContent) > 0);
      },
      undefined,
      { timeout: 15000 },
    );
    const rows = await page.$$eval('#devices tbody tr', (trs) =>
      trs.map((tr) => ({
        address: tr.getAttribute('data-address'),
        label: tr.querySelector('td.label')!.textContent,
        board: tr.children[3].textContent,
        status: tr.getAttribute('data-status'),
      })),
    );
    assert.deepEqual(new Set(rows.map((r) => r.address)), new Set(devices.map((d) => d.agent.addressHex)));
    assert.ok(rows.some((r) => r.label === EVIL), 'the hostile label is shown as its text');
    assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0);
    assert.equal(await page.evaluate(() => (window as any).__xss), undefined);
    await page.waitForFunction(() => [...document.querySelectorAll('#devices tbody tr')].every((r) => /^sim-/.test(r.children[3].textContent!)), undefined, { timeout: 5000 });

    // The energy meter's charts: power has points and gains more while the page watches.
    await page.click('#devices tr[data-address="' + energy + '"]');
    const power = '.chart[data-name="m0/p"]';
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-points')) >= 2, power, { timeout: 10000 });
    const before = Number(await page.getAttribute(power, 'data-points'));
    await page.waitForFunction(([sel, n]) => Number(document.querySelector(sel as string)?.getAttribute('data-points')) > (n as number), [power, before] as const, {
      timeout: 10000,
    });
    const drawn = await page.$eval(power, (f) => ({ n: Number(f.getAttribute('data-points')), poly: f.querySelector('polyline')!.getAttribute('points')!.trim().split(/\s+/).length }));
    assert.ok(drawn.n > before, 'points arrived live');
    assert.equal(drawn.poly, drawn.n, 'every reading is a vertex');
    assert.equal(await page.getAttribute('.chart[data-name="m0/e"]', 'data-mode'), 'rate', 'running totals are charted as a rate');

    // A forged message on a device's topic: a valid envelope for its address, signed by another key.
    const mallory = testDevice(TEST_KEYS.mallory);
    const forged = mallory.sealPayload(mallory.next().payload, fromHex(victim));
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'forger', reconnectPeriod: 0 });
    await pub.publishAsync('depin/' + victim + '/tele', Buffer.from(forged), { qos: 1 });
    await pub.endAsync();
    await page.waitForFunction(() => Number(document.querySelector('#rejects tr[data-reason="bad-signature"] td.count')?.textContent) >= 1, undefined, { timeout: 10000 });
    await page.waitForFunction((a) => document.querySelector('#devices tr[data-address="' + a + '"]')?.getAttribute('data-status') === 'rejects', victim, { timeout: 5000 });
    assert.match((await page.textContent('#recent-rejects li[data-reason="bad-signature"]'))!, /bad-signature/);
    assert.equal(await page.getAttribute('#live', 'data-state'), 'live');

    mkdirSync(resolve('bench/out'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log('dashboard screenshot: ' + SCREENSHOT);
    assert.deepEqual(pageErrors, []);
  } finally {
    await ctx.close();
    rmSync(profile, { recursive: true, force: true });
    for (const d of devices) d.stop();
    await dash.close();
    await ing.stop();
    store.close();
    await broker.close();
  }
});
