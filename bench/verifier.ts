// Section 6: the verifying middleware. verifyMessage() (COSE parse, topic and registry checks,
// two SHA-256, signature check, payload decode, records) against the raw signature verify of the
// same backend on the same messages, in interleaved rounds (agent-sim/middleware/bench.ts);
// then the whole ingest into a SQLite file, per write mode.
import { measureVerifier, measureIngest } from '../agent-sim/middleware/bench.js';
import { okCell, target, type Section, type Table, type TargetResult, type RunOptions } from './table.js';

export const VERIFIER_TARGETS = {
  /** verifier msgs/s / raw verify/s of the chosen backend. */
  vsRawVerify: 0.7,
};

const SAMPLES = [1, 16];

export const verifierSection: Section = {
  name: 'verifier',
  title: '6. Verifier and ingest',
  async run(opts: RunOptions) {
    const n = opts.quick ? 64 : 800;
    const minMs = opts.quick ? 100 : 1200;
    const rows: Table['rows'] = [];
    const targets: TargetResult[] = [];
    const verifierRate: Record<number, number> = {};
    for (const s of SAMPLES) {
      const r = measureVerifier(n, { samples: s, minMs });
      verifierRate[s] = r.verifierPerSec;
      rows.push({
        backend: r.backend,
        samples: r.samplesPerBatch,
        bytes: r.messageBytes,
        raw: r.rawVerifyPerSec,
        full: r.verifierPerSec,
        ratio: r.ratio,
        target: '>= ' + VERIFIER_TARGETS.vsRawVerify,
        ok: okCell(r.ratio >= VERIFIER_TARGETS.vsRawVerify),
      });
      targets.push(target('verifier', 'verifier / raw verify (' + s + ' sample' + (s > 1 ? 's' : '') + ', ' + r.backend + ')', r.ratio, '>=', VERIFIER_TARGETS.vsRawVerify));
    }
    const ingestRows: Table['rows'] = [];
    for (const s of SAMPLES) {
      const r = await measureIngest(opts.quick ? 64 : 1000, { samples: s });
      const ref = verifierRate[s];
      ingestRows.push({ backend: r.backend, samples: r.samplesPerBatch, mode: 'commit each message', rate: r.commitPerSec, ratio: r.commitPerSec / ref });
      ingestRows.push({ backend: r.backend, samples: r.samplesPerBatch, mode: 'batched (256 per transaction)', rate: r.batchedPerSec, ratio: r.batchedPerSec / ref });
    }
    return {
      tables: [
        {
          title: 'Verifier throughput vs raw signature verify of the same backend (ratio: verifier / raw, same run)',
          columns: [
            { key: 'backend', header: 'backend' },
            { key: 'samples', header: 'samples/batch' },
            { key: 'bytes', header: 'message B' },
            { key: 'raw', header: 'raw verify/s' },
            { key: 'full', header: 'verifier msg/s' },
            { key: 'ratio', header: 'ratio', digits: 2 },
            { key: 'target', header: 'target' },
            { key: 'ok', header: 'ok' },
          ],
          rows,
          notes: [n + ' distinct messages from 8 chained devices; best of interleaved rounds of at least ' + minMs + ' ms in total (measureVerifier).'],
        },
        {
          title: 'Ingest into SQLite (verify, chain, store; no broker) (ratio: against verifier msg/s above)',
          columns: [
            { key: 'backend', header: 'backend' },
            { key: 'samples', header: 'samples/batch' },
            { key: 'mode', header: 'write mode' },
            { key: 'rate', header: 'msg/s' },
            { key: 'ratio', header: 'ratio vs verifier', digits: 2 },
          ],
          rows: ingestRows,
          notes: ['measureIngest: best of 2 full ingests into a fresh WAL SQLite file in the temp dir.'],
        },
      ],
      targets,
    };
  },
};
