// Behaviour checks, for every subject (so that speed is never bought with correctness). Each check
// runs on a fresh subject process in front of the pattern server:
//   half-close     the client sends a request and shuts its write side; the reply (a line about
//                  what the server got, then 1 MiB) must still arrive in full;
//   full stream    the server sends N MiB and closes at once; all N MiB must arrive, intact, at a
//                  reader that pauses 10 ms per MiB;
//   slow reader    64 KiB per 100 ms from a fast writer: the proxy's RSS may grow ≤ 64 MiB;
//   server first   a server that speaks first (greets before the client sends anything) must be
//                  heard (many protocols do: SMTP, MySQL, ...; AMQP does not).
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { log, markdownTable } from '../bench-util.js';
import { BLOCK, expectedSha1, MiB, startPatternServer } from './backends.js';
import type { Env } from './runner.js';
import { rssKiB } from './proc.js';
import { slowRead } from './slow-reader.js';
import type { RunningSubject, Subject } from './subjects.js';

export type CheckStatus = 'pass' | 'FAIL' | 'n/a';

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
}

interface Check {
  id: string;
  title: string;
  run(s: RunningSubject): Promise<CheckOutcome>;
}

const pass = (detail = ''): CheckOutcome => ({ status: 'pass', detail });
const fail = (detail: string): CheckOutcome => ({ status: 'FAIL', detail });

/** Connects, sends `request` (and a FIN when `halfClose`), collects everything until the
 *  connection ends, closes, `enough` bytes arrived or `timeoutMs` passes. */
function exchange(port: number, request: Buffer | null, halfClose: boolean, timeoutMs: number, enough = Infinity): Promise<{ data: Buffer[]; bytes: number; how: string }> {
  return new Promise((resolve) => {
    const data: Buffer[] = [];
    let bytes = 0;
    const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let settled = false;
    const done = (how: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, bytes, how });
    };
    const timer = setTimeout(() => done(`timed out after ${timeoutMs} ms`), timeoutMs);
    sock.on('connect', () => {
      if (request) sock.write(request);
      if (halfClose) sock.end();
    });
    sock.on('data', (d: Buffer) => {
      data.push(d);
      bytes += d.length;
      if (bytes >= enough) done('enough');
    });
    sock.on('end', () => done('end'));
    sock.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    sock.on('close', () => done('close'));
  });
}

const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

const halfClose: Check = {
  id: 'halfclose',
  title: 'reply after client half-close',
  async run(s) {
    const payload = randomBytes(256 * 1024);
    const request = Buffer.concat([Buffer.from('EOF-REPLY 1\n'), payload]);
    const r = await exchange(s.port, request, true, 10_000);
    const all = Buffer.concat(r.data);
    const nl = all.indexOf(10);
    if (nl < 0) return fail(`no reply (${r.bytes} bytes, then ${r.how})`);
    const line = all.subarray(0, nl).toString();
    const want = `got ${payload.length} ${createHash('sha1').update(payload).digest('hex')}`;
    if (line !== want) return fail(`reply '${line.slice(0, 60)}', expected '${want.slice(0, 30)}…'`);
    const body = all.subarray(nl + 1);
    if (body.length !== MiB) return fail(`reply truncated: ${body.length} of ${MiB} bytes (${r.how})`);
    if (!body.equals(BLOCK)) return fail('reply corrupted');
    return pass();
  },
};

const fullStream = (n: number): Check => ({
  id: 'fullstream',
  title: `all ${n} MiB after the server closes`,
  async run(s) {
    const h = createHash('sha1');
    const r = await new Promise<{ bytes: number; how: string }>((resolve) => {
      let bytes = 0;
      const sock = net.connect({ port: s.port, host: '127.0.0.1' });
      const timer = setTimeout(() => finish(`timed out after 30 s`), 30_000);
      const finish = (how: string): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve({ bytes, how });
      };
      sock.on('connect', () => sock.write(`SEND ${n}\n`));
      // A reader a little slower than loopback (a 10 ms pause per MiB), as real clients are:
      // when the server closes, a proxy that read ahead of the client still holds the tail.
      let sincePause = 0;
      sock.on('data', (d: Buffer) => {
        bytes += d.length;
        h.update(d);
        sincePause += d.length;
        if (sincePause >= MiB) {
          sincePause = 0;
          sock.pause();
          setTimeout(() => sock.resume(), 10);
        }
      });
      sock.on('end', () => finish('end'));
      sock.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
      sock.on('close', () => finish('close'));
    });
    const want = n * MiB;
    if (r.bytes !== want) return fail(`${mib(r.bytes)} of ${n} MiB arrived (${r.how})`);
    if (h.digest('hex') !== expectedSha1(n)) return fail('stream corrupted');
    return pass();
  },
});

const LIMIT_MiB = 64;

const slowBounded = (seconds: number): Check => ({
  id: 'slowreader',
  title: `slow reader: RSS growth ≤ ${LIMIT_MiB} MiB`,
  async run(s) {
    if (s.pid === null) return { status: 'n/a', detail: 'no proxy process' };
    // Stop well past the limit (enough to show it is not bounded), not at gigabytes.
    const capMiB = Math.ceil(rssKiB(s.pid) / 1024) + 4 * LIMIT_MiB;
    const r = await slowRead(s.port, seconds * 1000, s.pid, capMiB);
    const growth = (r.peakKiB - r.baseKiB) / 1024;
    if (r.readBytes === 0) return fail('the reader got nothing');
    if (growth > LIMIT_MiB) return fail(`RSS grew ${growth.toFixed(0)} MiB${r.capped ? ' (and was stopped there)' : ''} in ${(r.wallMs / 1000).toFixed(1)} s`);
    return pass(`+${growth.toFixed(1)} MiB`);
  },
});

const serverFirst: Check = {
  id: 'serverfirst',
  title: 'server speaks first',
  async run(s) {
    const r = await exchange(s.port, null, false, 2000, 'HELLO\n'.length);
    const got = Buffer.concat(r.data).toString();
    if (got.startsWith('HELLO\n')) return pass();
    return fail(r.bytes ? `got '${got.slice(0, 20)}'` : `no greeting within 2 s (${r.how})`);
  },
};

export interface ChecksResult {
  checks: { id: string; title: string }[];
  /** subject id → check id → outcome */
  outcomes: Map<string, Map<string, CheckOutcome>>;
}

export async function runChecks(subjects: Subject[], env: Env): Promise<ChecksResult> {
  const checks = [halfClose, fullStream(env.opts.checkMiB), slowBounded(env.opts.smoke ? 2 : 5), serverFirst];
  const server = await startPatternServer();
  const outcomes = new Map<string, Map<string, CheckOutcome>>();
  try {
    for (const s of subjects) {
      const row = new Map<string, CheckOutcome>();
      outcomes.set(s.id, row);
      for (const c of checks) {
        let running: RunningSubject | null = null;
        let outcome: CheckOutcome;
        try {
          running = await s.start(server.port, env.ctx);
          outcome = await c.run(running);
          if (!running.alive()) outcome = fail(`the proxy exited: ${running.describeExit()}`);
        } catch (err) {
          outcome = fail(`error: ${(err as Error).message}`);
        } finally {
          await running?.stop().catch(() => {});
        }
        row.set(c.id, outcome);
        log(`check ${c.id} ${s.id}: ${outcome.status}${outcome.detail ? ` (${outcome.detail})` : ''}`);
      }
    }
  } finally {
    await server.stop();
  }
  return { checks: checks.map((c) => ({ id: c.id, title: c.title })), outcomes };
}

export function checksTable(r: ChecksResult, subjects: Subject[]): string {
  const rows = subjects.map((s) => [
    s.label,
    ...r.checks.map((c) => {
      const o = r.outcomes.get(s.id)?.get(c.id);
      if (!o) return '—';
      if (o.status !== 'FAIL') return o.status;
      const detail = o.detail.length > 90 ? `${o.detail.slice(0, 89)}…` : o.detail;
      return `FAIL${s.knownBroken ? ' (known)' : ''}: ${detail}`;
    }),
  ]);
  return markdownTable(['subject', ...r.checks.map((c) => c.title)], rows);
}

/** Check failures of subjects not known to be broken. */
export function unexpectedFailures(r: ChecksResult, subjects: Subject[]): string[] {
  const out: string[] = [];
  for (const s of subjects) {
    if (s.knownBroken) continue;
    for (const [id, o] of r.outcomes.get(s.id) ?? []) if (o.status === 'FAIL') out.push(`${s.id} ${id}: ${o.detail}`);
  }
  return out;
}
