// Preloaded into the espruino CLI by scripts/espruino-tools.mjs (node --require): flashing and
// provisioning happen offline. EspruinoTools would otherwise fetch board files
// (www.espruino.com/json), modules (MODULE_URL) and compiled code over HTTP(S); here any such
// request throws, naming the URL, so a missing local piece is an error and never a download.
// Sockets (tcp:// consoles) and serial ports are untouched.
'use strict';
const http = require('node:http');
const https = require('node:https');

function refuse(mod) {
  return function (url) {
    const u = typeof url === 'string' ? url : url && (url.href || (url.hostname || url.host) + (url.path || ''));
    const e = new Error('offline: the espruino CLI tried to fetch ' + u + ' (flashing must not download anything; pass the board file with --board)');
    e.code = 'E_OFFLINE';
    process.stderr.write(e.message + '\n');
    throw e;
  };
}
for (const m of [http, https]) {
  m.request = refuse(m);
  m.get = refuse(m);
}
if (typeof globalThis.fetch === 'function') {
  globalThis.fetch = function (url) {
    try {
      refuse(null)(String(url));
    } catch (e) {
      return Promise.reject(e);
    }
  };
}
