// Representative Semtech UDP datagrams for the benchmark, and one decode of one datagram.
import { readFileSync } from 'node:fs';
import { decodeDatagram, SEMTECH_MAX_DATAGRAM, SEMTECH_MAX_DEPTH, SEMTECH_MAX_RXPK, type Decoded } from '../../firmware/core/sources/semtech/decoder.js';

const V = JSON.parse(readFileSync(new URL('../vectors/sources/semtech.json', import.meta.url), 'utf8'));

function bytes(hex: string): Uint8Array {
  return new Uint8Array(hex.split(' ').map((x) => parseInt(x, 16)));
}

/** A full PUSH_DATA as lora_pkt_fwd.c sends it at most: 8 rxpk entries with 255-byte payloads. */
function fullPush(): Uint8Array {
  const data = Buffer.alloc(255, 0x5a).toString('base64');
  const p: string[] = [];
  for (let i = 0; i < 8; i++)
    p.push('{"tmst":' + (3512348611 + i) + ',"chan":' + i + ',"rfch":0,"freq":868.' + (i + 1) + '00000,"stat":1,"modu":"LORA","datr":"SF' + (7 + (i % 6)) + 'BW125","codr":"4/5","lsnr":7.5,"rssi":-' + (60 + i) + ',"size":255,"data":"' + data + '"}');
  const json = Buffer.from('{"rxpk":[' + p.join(',') + ']}', 'ascii');
  const d = new Uint8Array(12 + json.length);
  d.set([2, 0x12, 0x34, 0, 0xaa, 0x55, 0x5a, 0, 0, 0, 0, 0]);
  d.set(json, 12);
  return d;
}

export function benchFrames(): { label: string; bytes: Uint8Array }[] {
  return [
    { label: 'semtech PUSH_DATA rxpk x3 (PROTOCOL.TXT example)', bytes: bytes(V.valid[0].datagram) },
    { label: 'semtech PUSH_DATA stat (PROTOCOL.TXT example)', bytes: bytes(V.valid[1].datagram) },
    { label: 'semtech PULL_DATA', bytes: bytes(V.valid[4].datagram) },
    { label: 'semtech PUSH_DATA rxpk x8, 255-byte payloads (' + fullPush().length + ' B)', bytes: fullPush() },
  ];
}

export function decodeOnce(b: Uint8Array): Decoded {
  return decodeDatagram(b, { maxDatagram: SEMTECH_MAX_DATAGRAM, maxDepth: SEMTECH_MAX_DEPTH, maxRxpk: SEMTECH_MAX_RXPK });
}
