// Config of the Semtech UDP listener (docs/sources/semtech.md): the device plays the network
// server a LoRa gateway's packet forwarder sends to (its global_conf.json "server_address" and
// "serv_port_up"/"serv_port_down" point here).
import type { Schema } from '../../config/schema.js';
import { SEMTECH_MAX_DATAGRAM, SEMTECH_MAX_DEPTH, SEMTECH_MAX_RXPK } from './decoder.js';

export const SEMTECH_SCHEMA: Schema = {
  port: { type: 'int', min: 1, max: 65535, default: 1700, doc: 'UDP port to listen on (the forwarder\'s serv_port_up; 1700 by convention)' },
  address: { type: 'string', maxLength: 45, doc: 'local address to bind (default: the platform\'s, all interfaces on the device)' },
  eui: { type: 'string', maxLength: 16, pattern: /^[0-9A-Fa-f]*$/, patternDoc: '16 hex digits', doc: 'only accept this gateway EUI (16 hex digits); others are not acknowledged and are counted' },
  maxDatagram: { type: 'int', min: 12, max: 65507, default: SEMTECH_MAX_DATAGRAM, doc: 'longer datagrams are rejected unread (the reference forwarder sends at most 4550 bytes)' },
  maxRxpk: { type: 'int', min: 1, max: 255, default: SEMTECH_MAX_RXPK, doc: 'most rxpk entries accepted in one datagram' },
  maxDepth: { type: 'int', min: 3, max: 16, default: SEMTECH_MAX_DEPTH, doc: 'JSON nesting bound' },
  maxChannels: { type: 'int', min: 1, max: 64, default: 16, doc: 'channel frequencies tracked per read interval (more are counted as chanOverflow)' },
  dedupe: { type: 'int', min: 0, max: 64, default: 8, doc: 'recent datagrams remembered to drop UDP duplicates (0: off)' },
  saveMinIntervalMs: { type: 'int', min: 1000, max: 86400000, default: 300000, doc: 'totals are written to flash at most this often' },
  saveMaxIntervalMs: { type: 'int', min: 1000, max: 86400000, default: 900000, doc: 'changed totals are written at least this often' },
  fileBytes: { type: 'int', min: 512, max: 16384, default: 1024, doc: 'size of each of the two flash files holding the totals' },
};
