// The conformance driver: one ES5 script that runs the case table against a core, unchanged on
// Node (the TypeScript modules), in the Espruino-shaped vm (the bundle) and in the real
// interpreter (the bundle). It defines one global function:
//
//   runConformance(core, cases, emit, now)
//     core   DepinCore or the module namespace of firmware/core/index.ts
//     cases  [{ id, op, ...args }] as built by table.ts (bytes as hex, values in the $-notation)
//     emit   function (id, result, ms): result is a string (hex, a dump, or "ERR <code> ...")
//     now    function () -> milliseconds
//
// It brings its own hex and value helpers so that what it reports does not lean on the code
// under test. Written for Espruino 2v29: no hoisting is assumed (helpers come first), no
// builtins it lacks, no Array.prototype.slice from the prototype, no long number literals.
var CONFORMANCE_DRIVER_VERSION = 1;

var cfHexDigits = '0123456789abcdef';
function cfHex(b) {
  var s = '';
  for (var i = 0; i < b.length; i++) s += cfHexDigits.charAt(b[i] >> 4) + cfHexDigits.charAt(b[i] & 15);
  return s;
}
function cfBytes(h) {
  var b = new Uint8Array(h.length >> 1);
  for (var i = 0; i < b.length; i++) b[i] = parseInt(h.substr(2 * i, 2), 16);
  return b;
}
var cfF64 = new DataView(new ArrayBuffer(8));
function cfHex32(v) {
  var s = (v >>> 0).toString(16);
  while (s.length < 8) s = '0' + s;
  return s;
}
function cfFloatBits(x) {
  cfF64.setFloat64(0, x);
  return cfHex32(cfF64.getUint32(0)) + cfHex32(cfF64.getUint32(4));
}
function cfFloatOf(h) {
  cfF64.setUint32(0, parseInt(h.substr(0, 8), 16));
  cfF64.setUint32(4, parseInt(h.substr(8, 8), 16));
  return cfF64.getFloat64(0);
}
function cfHas(o, k) {
  return o.hasOwnProperty(k);
}

// $-notation -> value: {$f: float64 bits}, {$h: bytes}, {$u: 1} undefined, {$m: [[k, v]]} CborMap,
// {$t: tag, $v: value} CborTag, {$o: [[k, v]]} plain object; JSON scalars and arrays as they are.
function cfValue(core, j) {
  if (j === null || typeof j !== 'object') return j;
  var i, out;
  if (Array.isArray(j)) {
    out = [];
    for (i = 0; i < j.length; i++) out.push(cfValue(core, j[i]));
    return out;
  }
  if (cfHas(j, '$f')) return cfFloatOf(j.$f);
  if (cfHas(j, '$h')) return cfBytes(j.$h);
  if (cfHas(j, '$u')) return undefined;
  if (cfHas(j, '$m')) {
    out = [];
    for (i = 0; i < j.$m.length; i++) out.push([cfValue(core, j.$m[i][0]), cfValue(core, j.$m[i][1])]);
    return new core.CborMap(out);
  }
  if (cfHas(j, '$t')) return new core.CborTag(cfValue(core, j.$t), cfValue(core, j.$v));
  if (cfHas(j, '$o')) {
    out = {};
    for (i = 0; i < j.$o.length; i++) out[j.$o[i][0]] = cfValue(core, j.$o[i][1]);
    return out;
  }
  throw new Error('driver: bad value notation, keys ' + Object.keys(j).join(','));
}

// A value -> a canonical string, the same on every platform: numbers by their float64 bits
// (NaN as one token: its bits differ between platforms and CBOR has one NaN), strings by
// their char codes, plain objects by sorted keys without undefined members.
function cfDump(core, v) {
  var i, s, k;
  if (v === undefined) return 'u';
  if (v === null) return 'n';
  if (v === true) return 'T';
  if (v === false) return 'F';
  if (typeof v === 'number') return v !== v ? 'NaN' : 'f' + cfFloatBits(v);
  if (typeof v === 'string') {
    s = 's';
    for (i = 0; i < v.length; i++) s += ('000' + v.charCodeAt(i).toString(16)).substr(-4);
    return s + ';';
  }
  if (v instanceof Uint8Array) return 'h' + cfHex(v) + ';';
  if (Array.isArray(v)) {
    s = '[';
    for (i = 0; i < v.length; i++) s += (i ? ',' : '') + cfDump(core, v[i]);
    return s + ']';
  }
  if (v instanceof core.CborMap) {
    s = 'm{';
    for (i = 0; i < v.entries.length; i++) s += (i ? ',' : '') + cfDump(core, v.entries[i][0]) + ':' + cfDump(core, v.entries[i][1]);
    return s + '}';
  }
  if (v instanceof core.CborTag) return 't' + cfDump(core, v.tag) + '(' + cfDump(core, v.value) + ')';
  if (typeof v === 'object') {
    var keys = Object.keys(v);
    keys.sort();
    s = 'o{';
    var first = true;
    for (i = 0; i < keys.length; i++) {
      k = keys[i];
      if (v[k] === undefined) continue;
      s += (first ? '' : ',') + k + '=' + cfDump(core, v[k]);
      first = false;
    }
    return s + '}';
  }
  return '?' + typeof v;
}

function cfStepAll(job, what) {
  var steps = 0;
  while (!job.step()) if (++steps > 1000000) throw new Error('driver: ' + what + ' job did not finish');
  return steps + 1;
}

function cfSig(s) {
  return s.recovery + ' ' + cfHex(s.r) + ' ' + cfHex(s.s) + ' ' + cfHex(s.compact);
}

// One function per operation; each returns the result string.
var CF_OPS = {
  pub: function (core, c) { return cfHex(core.getPublicKey(cfBytes(c.k), c.c)); },
  valid: function (core, c) { return String(core.isValidPrivateKey(cfBytes(c.k))); },
  sign: function (core, c) {
    return cfSig(c.e === undefined ? core.sign(cfBytes(c.h), cfBytes(c.k)) : core.sign(cfBytes(c.h), cfBytes(c.k), { extraEntropy: cfBytes(c.e) }));
  },
  job: function (core, c) {
    var job = core.createSignJob(cfBytes(c.h), cfBytes(c.k), c.b === undefined ? undefined : { budget: c.b });
    var steps = cfStepAll(job, 'sign');
    // More than one step shows the work was really split; progress must end at 1.
    return cfSig(job.result()) + (steps > 1 ? '' : ' ONE-STEP') + (job.progress === 1 ? '' : ' PROGRESS ' + job.progress);
  },
  verify: function (core, c) { return String(core.verify(cfBytes(c.s), cfBytes(c.h), cfBytes(c.p))); },
  recover: function (core, c) { return cfHex(core.recoverPublicKey(cfBytes(c.s), c.r, cfBytes(c.h), c.c)); },
  sha256: function (core, c) { return cfHex(core.sha256(cfBytes(c.m))); },
  sha256p: function (core, c) { return cfHex(core.sha256Portable(cfBytes(c.m))); },
  hmac: function (core, c) { return cfHex(core.hmacSha256(cfBytes(c.k), cfBytes(c.m))); },
  keccak: function (core, c) { return cfHex(core.keccak256(cfBytes(c.m))); },
  cborenc: function (core, c) { return cfHex(core.cborEncode(cfValue(core, c.v))); },
  cbordec: function (core, c) { return cfDump(core, core.cborDecode(cfBytes(c.x), c.o === undefined ? undefined : cfValue(core, c.o))); },
  // What the case's value notation reads as: the expected side of cbordec, built without the decoder.
  cborval: function (core, c) { return cfDump(core, cfValue(core, c.v)); },
  payload: function (core, c) { return cfHex(core.encodePayload(cfValue(core, c.b))); },
  unpayload: function (core, c) {
    var b = core.decodePayload(cfBytes(c.x));
    return cfDump(core, b) + ' ' + cfHex(core.encodePayload(b));
  },
  dumpval: function (core, c) { return cfDump(core, cfValue(core, c.v)); },
  sighash: function (core, c) { return cfHex(core.signingHash(cfBytes(c.x))); },
  phash: function (core, c) { return cfHex(core.payloadHash(cfBytes(c.x))); },
  addr: function (core, c) { return cfHex(core.deviceAddress(cfBytes(c.k))); },
  seal: function (core, c) { return cfHex(core.seal(cfBytes(c.x), cfBytes(c.k))); },
  sealjob: function (core, c) {
    var job = core.createSealJob(cfBytes(c.x), cfBytes(c.k), core.deviceAddress(cfBytes(c.k)), c.b);
    var steps = cfStepAll(job, 'seal');
    return cfHex(job.result()) + (steps > 1 ? '' : ' ONE-STEP');
  },
  open: function (core, c) {
    var o = core.openEnvelope(cfBytes(c.m));
    return cfHex(o.publicKey) + ' ' + cfHex(o.kid) + ' ' + cfHex(o.payload) + ' ' + cfHex(o.signature);
  },
  mqttenc: function (core, c) { return cfHex(core.mqttEncode(cfValue(core, c.p))); },
  mqttdec: function (core, c) { return cfDump(core, core.mqttDecode(cfBytes(c.x))); },
  // The resumable parser fed one byte at a time.
  mqttparse: function (core, c) {
    var got = [];
    var p = core.createMqttParser({ maxPacketSize: 4096, onPacket: function (q) { got.push(q); } });
    var b = cfBytes(c.x);
    for (var i = 0; i < b.length; i++) p.push(b.subarray(i, i + 1));
    return cfDump(core, got);
  }
};

function cfError(c, e) {
  var code = e && e.code !== undefined ? e.code : e && e.name ? e.name : 'Error';
  var msg = e && e.message !== undefined ? String(e.message) : String(e);
  // MQTT errors open with the clause they break: "[MQTT 2.2.1] ...".
  if (c.op.indexOf('mqtt') === 0 && msg.charAt(0) === '[') return 'ERR ' + code + ' ' + msg.substr(0, msg.indexOf(']') + 1);
  // An error without a code is never what core means to throw: say what it was.
  return e && e.code !== undefined ? 'ERR ' + code : 'ERR ' + code + ': ' + msg;
}

function runConformance(core, cases, emit, now) {
  for (var i = 0; i < cases.length; i++) {
    var c = cases[i];
    var op = CF_OPS[c.op];
    var t0 = now();
    var r;
    if (op === undefined) r = 'ERR driver: unknown op ' + c.op;
    else {
      try {
        r = op(core, c);
      } catch (e) {
        r = cfError(c, e);
      }
    }
    emit(c.id, r, now() - t0);
  }
  return cases.length;
}
