// Runs console vectors (test/vectors/flash/console.json) against a console: the fake device over
// TCP, or the real Espruino interpreter (Linux build) over its stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface ConsoleStep {
  send: string;
  /** exact: output equals expect; prefix: output starts with expect; banner: the reset banner then expect. */
  match: 'exact' | 'prefix' | 'banner';
  expect: string;
  waitMs?: number;
  description: string;
}

export interface ConsoleTransport {
  write(s: string): void;
  /** Output received since the last take(). */
  take(): string;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until the output stops growing for `quietMs` (at most `maxMs`). */
async function settle(t: ConsoleTransport, quietMs: number, maxMs: number): Promise<string> {
  let out = '';
  const end = Date.now() + maxMs;
  let last = Date.now();
  while (Date.now() < end) {
    await sleep(20);
    const s = t.take();
    if (s) {
      out += s;
      last = Date.now();
    } else if (Date.now() - last >= quietMs) break;
  }
  return out;
}

/** Sends each step and returns the console's answers, in order. */
export async function runSteps(t: ConsoleTransport, steps: ConsoleStep[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of steps) {
    t.write(s.send);
    out.push(await settle(t, s.waitMs ?? 150, 3000));
  }
  return out;
}

/** The banner line by line, whatever the build: from "\r\n ____" to the donation URL and its blank line. */
export function stripBanner(s: string): string {
  const i = s.indexOf(' ____');
  const j = s.indexOf('http://espruino.com/Donate\r\n');
  if (i < 0 || j < 0) return s;
  // \x1b[?7l on embedded builds, then \r\n, then the banner.
  const head = s.slice(0, i).replace(/\x1b\[\?7l/, '');
  return head.replace(/\r\n$/, '') + s.slice(j + 'http://espruino.com/Donate\r\n'.length);
}

export function tcpTransport(port: number): Promise<ConsoleTransport> {
  return new Promise((ok, fail) => {
    let buf = '';
    const s = net.connect({ port, host: '127.0.0.1' }, () =>
      ok({
        write: (d) => void s.write(Buffer.from(d, 'latin1')),
        take: () => {
          const r = buf;
          buf = '';
          return r;
        },
        close: () => new Promise((r) => s.end(() => r())),
      }),
    );
    s.on('data', (d) => (buf += d.toString('latin1')));
    s.once('error', fail);
  });
}

/** The real interpreter's REPL over pipes (it behaves as a console when stdin is not a TTY). */
export async function interpreterTransport(bin: string, cwd: string): Promise<ConsoleTransport> {
  const c: ChildProcess = spawn(bin, [], { cwd, stdio: ['pipe', 'pipe', 'ignore'] });
  let buf = '';
  c.stdout!.on('data', (d: Buffer) => (buf += d.toString('latin1')));
  const end = Date.now() + 10000;
  while (!buf.endsWith('>') && Date.now() < end) await sleep(20);
  await sleep(100);
  buf = '';
  return {
    write: (d) => void c.stdin!.write(Buffer.from(d, 'latin1')),
    take: () => {
      const r = buf;
      buf = '';
      return r;
    },
    close: async () => {
      c.kill('SIGKILL');
    },
  };
}
