// Built-in modules by name, without paying for a failed require(). A require() of a module the
// build lacks throws, and on Espruino constructing an Error captures a stack trace whose
// positions are found by scanning the Storage file from its start up to each frame
// (jslPrintPosition -> jsvGetLineAndCol): from deep inside a 150 KB .bootcde that costs ~60 ms
// per Error in the Linux build on x86 (measured), far more on an ESP32. process.env.MODULES
// lists the libraries compiled in (jswGetBuiltInLibraryNames), so absence is known for free.
import type { EspruinoProcess } from './espruino.js';

declare const process: EspruinoProcess;
declare function require(name: string): unknown;

/** require(name) when the build has it, else undefined (no exception on the common path). */
export function builtinModule(name: string): unknown {
  const list = process.env.MODULES;
  if (typeof list === 'string' && (',' + list + ',').indexOf(',' + name + ',') < 0) return undefined;
  try {
    return require(name);
  } catch (e) {
    return undefined;
  }
}
