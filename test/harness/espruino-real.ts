// Runs scripts in a real Espruino interpreter (its Linux build) so tests and benchmarks can pin
// what the device will do, not what Node does. The binary lives outside this repository: point
// the ESPRUINO environment variable at it. Without it, interpreter tests skip with skipReason().
//
// Facts about the Linux build this helper relies on (Espruino 2v29, targets/linux/main.c):
// - `espruino file.js` runs the file and exits once no timers remain; there is no flag that
//   hides the start-up banner, so it is cut from stdout here.
// - Console output (print, console.log, "Uncaught ...") goes to stdout with CRLF line ends,
//   plus prompt redraws (">" then "\r\x1b[J") while timers run; both are normalised here.
// - Exit code 1 for an exception thrown (or a syntax error reached) in the top-level script;
//   0 when an exception is thrown inside a timer or a promise rejection is unhandled, so
//   tests should look at the output, not only the code.
// - Storage lives in a file `espruino.flash` in the working directory; `require("x")` loads
//   ./node_modules/x.js relative to it.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';

/** Bounds of one run; each can be overridden per call. */
export const RUN_DEFAULTS = {
  /** Wall-clock limit before the interpreter is killed (SIGKILL) and the run rejected. */
  timeoutMs: 30_000,
  /** stdout + stderr bytes kept before the interpreter is killed and the run rejected. */
  maxOutputBytes: 8 * 1024 * 1024,
};

export interface RunOptions {
  timeoutMs?: number;
  /** Working directory of the interpreter (where espruino.flash is created); default: the temp dir. */
  cwd?: string;
  /** Extra files written next to the script in the temp dir, by relative path. */
  files?: Record<string, string | Uint8Array>;
  maxOutputBytes?: number;
}

export interface RunResult {
  /** stdout without the banner and prompt redraws, with "\n" line ends. */
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process ended on a signal. */
  code: number | null;
  /** Wall-clock time of the run, start-up included. */
  ms: number;
}

/** The interpreter path from ESPRUINO, or undefined when it is unset or empty. */
export function espruinoPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = env.ESPRUINO;
  return p === undefined || p.trim() === '' ? undefined : p.trim();
}

/** Why interpreter tests cannot run, or undefined when ESPRUINO names an executable file. */
export function skipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const p = espruinoPath(env);
  if (p === undefined) return 'ESPRUINO is not set: set it to the path of an Espruino Linux build to run the interpreter tests';
  let isFile = false;
  try {
    isFile = statSync(p).isFile();
  } catch {
    return 'ESPRUINO=' + p + ' does not exist: set it to the path of an Espruino Linux build';
  }
  if (!isFile) return 'ESPRUINO=' + p + ' is not a file: set it to the path of an Espruino Linux build';
  try {
    accessSync(p, constants.X_OK);
  } catch {
    return 'ESPRUINO=' + p + ' is not executable (chmod +x it, or point ESPRUINO at the built binary)';
  }
  return undefined;
}

// The banner of jsinteractive.c jsiSemiInit: logo, version line, and (unofficial boards) the
// donation lines, then an empty line. A stored ERROR adds a notice after it.
const BANNER =
  /^\n? ____ [^\n]*\n[^\n]*\n[^\n]*\n[^\n]*\n[^\n]*espruino\.com\n [^\n]* G\.Williams\n(?:\nEspruino is Open Source[^\n]*\n[^\n]*\n[^\n]*Donate\n)?(?:\nAn Uncaught Error has been saved to Storage[^\n]*\n[^\n]*\n[^\n]*\n)?\n/;

/** Raw interpreter stdout to what the script printed: CRLF to LF, banner and prompt redraws removed. */
export function cleanOutput(raw: string): string {
  let s = raw.replace(/\r\n/g, '\n');
  s = s.replace(BANNER, '');
  // The console prompt ">" is drawn when the top-level script ends and erased ("\r" + clear to
  // end of screen) before each later line of output; at exit it is left drawn.
  s = s.replace(/(^|\n)>\r\x1b\[J/g, '$1');
  s = s.replace(/(^|\n)>$/, '$1');
  return s;
}

function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const name of Object.keys(files)) {
    const rel = normalize(name);
    if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith('..' + sep))
      throw new RangeError('runEspruino: "files" key expected a relative path inside the temp dir, got ' + JSON.stringify(name));
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, files[name]);
  }
}

/**
 * Runs `scriptText` as a file in the interpreter named by ESPRUINO, in a fresh temp dir that is
 * removed afterwards. Rejects when ESPRUINO is unusable, on timeout and on runaway output
 * (killing the process and saying so); otherwise resolves whatever the exit code.
 */
export function runEspruino(scriptText: string, opts: RunOptions = {}): Promise<RunResult> {
  const reason = skipReason();
  if (reason !== undefined) return Promise.reject(new Error('runEspruino: ' + reason));
  const bin = espruinoPath()!;
  const timeoutMs = opts.timeoutMs ?? RUN_DEFAULTS.timeoutMs;
  const maxOutputBytes = opts.maxOutputBytes ?? RUN_DEFAULTS.maxOutputBytes;
  const dir = mkdtempSync(join(tmpdir(), 'espruino-run-'));
  const script = join(dir, 'main.js');
  try {
    writeFileSync(script, scriptText);
    if (opts.files) writeFiles(dir, opts.files);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(bin, [script], { cwd: opts.cwd ?? dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    let bytes = 0;
    let failure: string | undefined;
    const kill = (why: string) => {
      if (failure === undefined) failure = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timed out after ' + timeoutMs + ' ms (killed)'), timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxOutputBytes) return kill('wrote more than ' + maxOutputBytes + ' bytes of output (killed)');
      into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(errs));
    let settled = false;
    const finish = (err: Error | undefined, code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      const stdout = cleanOutput(Buffer.concat(out).toString('utf8'));
      const stderr = Buffer.concat(errs).toString('utf8');
      if (err) return reject(err);
      if (failure !== undefined)
        return reject(new Error('runEspruino: ' + bin + ' ' + failure + '; output so far:\n' + stdout.slice(-2000) + stderr.slice(-500)));
      resolve({ stdout, stderr, code, ms: performance.now() - t0 });
    };
    child.on('error', (e) => finish(new Error('runEspruino: cannot start ' + bin + ': ' + e.message), null));
    child.on('close', (code) => finish(undefined, code));
  });
}
