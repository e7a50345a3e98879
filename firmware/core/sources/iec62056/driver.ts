// IEC 62056-21 mode C readout source: each read runs one exchange through an optical head
// (request at 300 baud, identification, acknowledgement, baud switch, data message) with a timer
// on every stage and a bounded number of retries, and answers with the values of one data
// message whose BCC matched and that decoded cleanly, or with an error.
import type { Host, Serial, TimerHandle } from '../../host.js';
import { err, type CodedError } from '../../util/errors.js';
import type { Source, SourceComponent, SourceValue } from '../source.js';
import { IEC, ackMessage, createIecParser, decodeReadout, parseIdentification, requestMessage, type Identification } from './decoder.js';
import { IEC62056_SCHEMA } from './schema.js';

export const iec62056Source: SourceComponent = {
  type: 'iec62056',
  doc: 'IEC 62056-21 mode C optical readout (electricity meters with a D0 / IEC 1107 port)',
  schema: IEC62056_SCHEMA,
  defaultIntervalMs: 60000,
  create(host: Host, id: string, intervalMs: number, cfg: { [k: string]: unknown }): Source {
    const io = host.io;
    const where = 'source "' + id + '" (iec62056)';
    if (!io || !io.serial) throw err('E_NO_IO', where + ': this host has no serial ports');
    const address = cfg.address as string;
    const request = requestMessage(address);
    const identTimeout = cfg.identTimeoutMs as number;
    const ackDelay = cfg.ackDelayMs as number;
    const switchDelay = cfg.switchDelayMs as number;
    const charTimeout = cfg.charTimeoutMs as number;
    const dataTimeout = cfg.dataTimeoutMs as number;
    const retries = cfg.retries as number;
    const retryDelay = cfg.retryDelayMs as number;
    const c = {
      reads: 0,
      readouts: 0,
      failures: 0,
      attempts: 0,
      retries: 0,
      identTimeouts: 0,
      identErrors: 0,
      modeErrors: 0,
      dataTimeouts: 0,
      bccErrors: 0,
      overflows: 0,
      decodeErrors: 0,
      busy: 0,
    };

    let stopped = false;
    let pending: ((e: Error | undefined, values?: SourceValue[]) => void) | undefined;
    let attempt = 0;
    // Timers: `stage` for the current step, `whole` for the data message as a whole.
    let stage: TimerHandle | undefined;
    let whole: TimerHandle | undefined;
    let inData = false;

    function clearTimers(): void {
      if (stage !== undefined) host.timers.clearTimeout(stage);
      if (whole !== undefined) host.timers.clearTimeout(whole);
      stage = undefined;
      whole = undefined;
    }

    function setStage(ms: number, fn: () => void): void {
      if (stage !== undefined) host.timers.clearTimeout(stage);
      stage = host.timers.setTimeout(function () {
        stage = undefined;
        fn();
      }, ms);
    }

    function answer(e: Error | undefined, values?: SourceValue[]): void {
      clearTimers();
      inData = false;
      parser.idle();
      serial.setBaud(IEC.INITIAL_BAUD);
      const cb = pending;
      pending = undefined;
      if (e) c.failures++;
      if (cb) cb(e, values);
    }

    /** A failed attempt: retry after a pause while retries remain, else answer with `e`. */
    function fail(e: CodedError): void {
      clearTimers();
      inData = false;
      parser.idle();
      serial.setBaud(IEC.INITIAL_BAUD);
      if (attempt < retries) {
        attempt++;
        c.retries++;
        setStage(retryDelay, start);
        return;
      }
      answer(e);
    }

    function start(): void {
      if (stopped) return;
      c.attempts++;
      serial.setBaud(IEC.INITIAL_BAUD);
      parser.expectIdentification();
      try {
        serial.write(request);
      } catch (e) {
        return fail(err('E_IEC_WRITE', where + ': could not send the request: ' + (e as Error).message));
      }
      setStage(identTimeout, function () {
        c.identTimeouts++;
        fail(err('E_IEC_TIMEOUT', where + ': no identification within ' + identTimeout + ' ms'));
      });
    }

    function onIdentification(line: string): void {
      let ident: Identification;
      try {
        ident = parseIdentification(line);
      } catch (e) {
        c.identErrors++;
        return fail(e as CodedError);
      }
      if (ident.baud < 0) {
        c.modeErrors++;
        return fail(err('E_IEC_MODE', where + ': the meter announced baud character ' + JSON.stringify(ident.z) + ', not a mode C rate (0..6)'));
      }
      setStage(ackDelay, function () {
        try {
          serial.write(ackMessage(ident.z));
        } catch (e) {
          return fail(err('E_IEC_WRITE', where + ': could not send the acknowledgement: ' + (e as Error).message));
        }
        // The meter switches after the acknowledgement: so must we, once it has left our UART.
        setStage(switchDelay, function () {
          serial.setBaud(ident.baud);
          parser.expectData();
          inData = true;
          whole = host.timers.setTimeout(function () {
            whole = undefined;
            c.dataTimeouts++;
            fail(err('E_IEC_TIMEOUT', where + ': data message not complete within ' + dataTimeout + ' ms'));
          }, dataTimeout);
          armCharTimer();
        });
      });
    }

    function armCharTimer(): void {
      setStage(charTimeout, function () {
        c.dataTimeouts++;
        fail(err('E_IEC_TIMEOUT', where + ': data message stalled for ' + charTimeout + ' ms'));
      });
    }

    const parser = createIecParser({
      maxLength: cfg.maxReadoutBytes as number,
      echo: '/?' + address + '!',
      onIdentification: function (line) {
        if (stage !== undefined) host.timers.clearTimeout(stage);
        stage = undefined;
        onIdentification(line);
      },
      onBlock: function (block, len) {
        let values: SourceValue[];
        try {
          values = decodeReadout(block, len).values;
        } catch (e) {
          c.decodeErrors++;
          return fail(e as CodedError);
        }
        c.readouts++;
        answer(undefined, values);
      },
      onBad: function (kind) {
        if (kind === 'bcc') {
          c.bccErrors++;
          fail(err('E_IEC_BCC', where + ': data message BCC mismatch'));
        } else if (kind === 'overflow') {
          c.overflows++;
          fail(err('E_IEC_OVERFLOW', where + ': data message longer than ' + (cfg.maxReadoutBytes as number) + ' bytes'));
        } else {
          c.identErrors++;
          fail(err('E_IEC_IDENT', where + ': identification line too long'));
        }
      },
    });

    const serial: Serial = io.serial({
      port: cfg.port as string,
      rx: cfg.rx as string | undefined,
      tx: cfg.tx as string | undefined,
      baud: IEC.INITIAL_BAUD,
      bits: 7,
      parity: 'even',
      stopBits: 1,
      onReadable() {
        const chunk = serial.read();
        if (!chunk || stopped || !pending) return;
        if (inData) armCharTimer();
        parser.push(chunk);
      },
    });

    return {
      id: id,
      intervalMs: intervalMs,
      read(done) {
        c.reads++;
        if (stopped) return done(err('E_STOPPED', where + ': stopped'));
        if (pending) {
          c.busy++;
          return done(err('E_BUSY', where + ': a readout is still running'));
        }
        pending = done;
        attempt = 0;
        start();
      },
      stats() {
        const s: { [k: string]: number } = {};
        for (const k in c) if (c.hasOwnProperty(k)) s[k] = (c as { [k: string]: number })[k];
        return s;
      },
      stop() {
        if (stopped) return;
        if (pending) answer(err('E_STOPPED', where + ': stopped'));
        stopped = true;
        clearTimers();
        serial.close();
      },
    };
  },
};
