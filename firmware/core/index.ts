// Public surface of the core, and the entry of the device bundle (global `DepinCore`).
// Owned by the integrator: helpers add their exports here only through the lead.
export { err, abytes, aint } from './util/errors.js';
export { concatBytes, equalBytes, toHex, fromHex, utf8Encode, utf8Decode, bytesFromBinaryString } from './util/bytes.js';
