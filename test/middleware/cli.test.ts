// The agent-verifier CLI: argument parsing, and a real run against aedes: stats lines, JSON
// lines on stdout, SQLite rows, summary and exit code 0 on SIGINT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parseCli } from '../../agent-sim/middleware/cli.js';
import { openSqliteStore } from '../../agent-sim/middleware/store-sqlite.js';
import { writeRegistry } from '../../agent-sim/middleware/registry.js';
import { startAedes } from '../harness/brokers.js';
import { testDevice, registryOf, TEST_KEYS } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('parseCli: defaults, options, and errors that name the option', () => {
  const d = parseCli([], {});
  assert.deepEqual(d, {
    broker: 'mqtt://127.0.0.1:1883',
    prefix: 'depin',
    db: 'depin-verifier.sqlite',
    jsonl: false,
    registry: undefined,
    backend: 'auto',
    clientId: 'depin-verifier',
    username: undefined,
    password: undefined,
    batch: undefined,
    gapGraceMs: 60000,
    statsMs: 10000,
  });
  const o = parseCli(['--broker', 'mqtt://h:1', '--prefix', 'a/b', '--no-db', '--jsonl', '--batch', '64', '--gap-grace', '0.5', '--stats', '0', '--backend', 'noble'], {
    MQTT_USERNAME: 'u',
    MQTT_PASSWORD: 'p',
  });
  assert.ok(o !== 'help');
  assert.deepEqual([o.broker, o.prefix, o.db, o.jsonl, o.batch, o.gapGraceMs, o.statsMs, o.backend, o.username, o.password], [
    'mqtt://h:1', 'a/b', undefined, true, 64, 500, 0, 'noble', 'u', 'p',
  ]);
  assert.equal(parseCli(['-h']), 'help');
  for (const [args, msg] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--backend', 'openssl'], /--backend expected auto, libsecp256k1 or noble/],
    [['--no-db'], /--no-db needs --jsonl/],
    [['--batch', '0'], /--batch expected a number > 0/],
    [['--batch', '2.5'], /--batch expected an integer/],
    [['--prefix', 'a/+'], /--prefix expected topic levels without wildcards/],
    [['--stats=-1'], /--stats expected a number >= 0/],
  ] as [string[], RegExp][])
    assert.throws(() => parseCli(args, {}), msg, args.join(' '));
});

test('a real run: stats lines, JSON lines, rows in SQLite, summary on SIGINT', async () => {
  const broker = await startAedes();
  const alice = testDevice(TEST_KEYS.alice);
  const db = join(dir, 'cli.sqlite');
  const reg = join(dir, 'registry.json');
  writeRegistry(reg, registryOf([alice]));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'agent-sim/middleware/cli.ts', '--broker', broker.url, '--db', db, '--jsonl', '--registry', reg, '--stats', '0.2', '--client-id', 'cli-test'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const until = async (what: string, cond: () => boolean) => {
    const end = Date.now() + 15000;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out waiting for ' + what + '\nstderr:\n' + err);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  try {
    await until('the subscription', () => err.includes('subscribed to depin/+/tele'));
    const a1 = alice.next();
    const a2 = alice.next();
    await pub.publishAsync(alice.topic(), Buffer.from(a1.message), { qos: 1 });
    await pub.publishAsync(alice.topic(), Buffer.from(a1.message), { qos: 1 });
    await pub.publishAsync(alice.topic(), Buffer.from(a2.message.subarray(3)), { qos: 1 });
    await pub.publishAsync(alice.topic(), Buffer.from(a2.message), { qos: 1 });
    await until('a stats line with 4 messages', () => /stats: received 4, accepted 2, duplicates 1, rejected 1 \(malformed 1\)/.test(err));
    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await pub.endAsync();
    await broker.close();
  }
  assert.match(err, /summary: received 4, accepted 2, duplicates 1, rejected 1 \(malformed 1\)/);
  assert.match(err, new RegExp('device ' + alice.address + ' last seq 2'));
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.type, l.seq ?? l.reason]), [
    ['batch', 1],
    ['reject', 'malformed'],
    ['batch', 2],
  ]);
  const s = openSqliteStore(db);
  assert.equal(s.db.prepare('SELECT COUNT(*) AS n FROM batches').get().n, 2);
  assert.equal(s.db.prepare('SELECT label FROM devices').get().label, 'dev0');
  s.close();
});
