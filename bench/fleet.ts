// Section 8: the fleet simulator (issue 6), with small sizes: devices per core in virtual time
// and where the CPU goes, memory per simulated device, and verifier throughput with 1 and 2
// --share processes through a private Mosquitto. The 10,000-device run (~8 min) is
// `node --import tsx agent-sim/fleet-bench.ts 10k`; the scenario suite's time is test/scenarios.
import { type Section, type Table } from './table.js';
import { benchFleet, measureDeviceMemory } from '../agent-sim/fleet-bench.js';
import { measureScaleOut } from '../agent-sim/middleware/bench-scale.js';
import { startMosquitto } from '../test/harness/brokers.js';

export const fleetSection: Section = {
  name: 'fleet',
  title: '8. Fleet simulation (virtual time)',
  async run(opts) {
    const tables: Table[] = [];
    const devices = opts.quick ? 50 : 300;
    const f = await benchFleet({ devices, hours: opts.quick ? 2 : 4, broker: 'aedes', profile: true });
    const share = (k: string) => (f.shares as Record<string, number>)[k] ?? 0;
    tables.push({
      title: 'Simulated devices in virtual time, one process (aedes in process), batches signed and published per CPU second',
      columns: [
        { key: 'devices', header: 'devices' },
        { key: 'hours', header: 'virtual h', digits: 1 },
        { key: 'realS', header: 'real s', digits: 1 },
        { key: 'cpuS', header: 'CPU s', digits: 1 },
        { key: 'sealed', header: 'batches' },
        { key: 'perCpu', header: 'batches/CPU s', digits: 0 },
        { key: 'days', header: 'device-days/core-h', digits: 0 },
        { key: 'sign', header: 'sign %', digits: 0 },
        { key: 'encode', header: 'encode %', digits: 0 },
        { key: 'mqtt', header: 'MQTT %', digits: 0 },
        { key: 'other', header: 'other %', digits: 0 },
      ],
      rows: [
        {
          devices: f.devices,
          hours: f.simulatedHours,
          realS: f.realS,
          cpuS: f.cpuS,
          sealed: f.batchesSealed,
          perCpu: f.batchesPerCpuS,
          days: f.deviceDaysPerCoreHour,
          sign: share('sign') * 100,
          encode: share('encode') * 100,
          mqtt: share('mqtt') * 100,
          other: (1 - share('sign') - share('encode') - share('mqtt')) * 100,
        },
      ],
      notes: ['Shares of this process\'s CPU (agent-sim/fleet-bench.ts Profiler); "other" includes the scheduler, timers, sources, flash and GC.'],
    });
    const m = await measureDeviceMemory(opts.quick ? 100 : 1000);
    tables.push({
      title: 'Memory per simulated device (made and booted; in-memory flash)',
      columns: [
        { key: 'devices', header: 'devices' },
        { key: 'heap', header: 'heap KiB/device', digits: 1 },
        { key: 'ab', header: 'buffers KiB/device', digits: 1 },
        { key: 'rss', header: 'RSS KiB/device', digits: 1 },
      ],
      rows: [{ devices: m.devices, heap: m.heapKb, ab: m.arrayBuffersKb, rss: m.rssKb }],
    });
    const mq = await startMosquitto();
    if ('skip' in mq) {
      tables.push({ title: 'Verifier processes sharing a stream: skipped (' + mq.skip + ')', columns: [], rows: [] });
    } else {
      try {
        const rows: Table['rows'] = [];
        for (const processes of [1, 2]) {
          const r = await measureScaleOut({ brokerUrl: 'mqtt://127.0.0.1:' + mq.port, processes, db: 'sqlite', writeMode: 'batched', messages: opts.quick ? 400 : 3000 });
          rows.push({ processes, db: r.db, mode: r.writeMode, messages: r.messages, rate: r.msgsPerSec, shares: r.received.join(' / ') });
        }
        tables.push({
          title: 'Verifier throughput with 1 and 2 --share processes through Mosquitto (verify, chain in the database, store)',
          columns: [
            { key: 'processes', header: 'processes' },
            { key: 'db', header: 'database' },
            { key: 'mode', header: 'write mode' },
            { key: 'messages', header: 'messages' },
            { key: 'rate', header: 'msg/s', digits: 0 },
            { key: 'shares', header: 'received per process' },
          ],
          rows,
          notes: ['PostgreSQL figures and the 100k-device arithmetic: docs/scaling.md (measureScaleOut with db: "postgres").'],
        });
      } finally {
        await mq.stop();
      }
    }
    return { tables, targets: [] };
  },
};
