// Workload 4: memory with a slow reader. Behind the subject a fast writer (the pattern server's
// FLOOD: 1 MiB writes as fast as they are taken); in front a client that reads 64 KiB every
// 100 ms. A proxy with backpressure holds at most its socket buffers; one without reads the
// writer at full speed and queues it all in memory. Peak RSS of the proxy process: VmHWM (reset
// at the start through /proc/PID/clear_refs) and VmRSS sampled every 100 ms.
import * as net from 'node:net';
import { startPatternServer } from './backends.js';
import { anonKiB, cpuWindow, hwmKiB, resetPeakRss, rssKiB } from './proc.js';
import type { Workload } from './runner.js';

export interface SlowReadResult {
  baseKiB: number;
  peakKiB: number;
  /** Peak of the anonymous RSS (sampled): what the proxy allocated, without its mapped binary. */
  peakAnonKiB: number;
  /** What the client read, bytes. */
  readBytes: number;
  /** Stopped early: the proxy's RSS passed the cap. */
  capped: boolean;
  cpuMs: number;
  wallMs: number;
}

const STEP = 64 * 1024;
const TICK_MS = 100;

/** Reads FLOOD through `port` at 64 KiB per 100 ms for `ms`, watching the proxy `pid`. */
export async function slowRead(port: number, ms: number, pid: number | null, capMiB: number): Promise<SlowReadResult> {
  const baseKiB = pid === null ? NaN : rssKiB(pid);
  if (pid !== null) resetPeakRss(pid);
  const cpu = cpuWindow(pid);
  const sock = net.connect({ port, host: '127.0.0.1' });
  let failure: Error | null = null;
  sock.on('error', (err) => (failure ??= err));
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.write('FLOOD\n');
  let readBytes = 0;
  let budget = STEP;
  let peakKiB = baseKiB;
  let peakAnonKiB = pid === null ? NaN : anonKiB(pid);
  let capped = false;
  sock.on('data', (d: Buffer) => {
    readBytes += d.length;
    budget -= d.length;
    if (budget <= 0) sock.pause();
  });
  await new Promise<void>((resolve) => {
    const t0 = Date.now();
    const timer = setInterval(() => {
      budget += STEP;
      if (budget > 0 && !sock.destroyed) sock.resume();
      if (pid !== null) {
        try {
          const rss = rssKiB(pid);
          if (rss > peakKiB) peakKiB = rss;
          peakAnonKiB = Math.max(peakAnonKiB, anonKiB(pid));
          if (rss > capMiB * 1024) capped = true;
        } catch {
          /* exited: the runner reports it */
        }
      }
      if (capped || sock.destroyed || Date.now() - t0 >= ms) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const { cpuMs, wallMs } = cpu.end();
  if (pid !== null) {
    try {
      peakKiB = Math.max(peakKiB, hwmKiB(pid));
    } catch {
      /* exited */
    }
  }
  sock.destroy();
  if (failure && readBytes === 0) throw failure;
  return { baseKiB, peakKiB, peakAnonKiB, readBytes, capped, cpuMs, wallMs };
}

export const slowReader: Workload = {
  id: 'slowreader',
  title: '4. Slow reader: peak RSS of the proxy',
  describe: (o) =>
    `A client reads 64 KiB every 100 ms for ${o.slowSeconds} s from a writer that sends as fast as it can; ` +
    `peak RSS of the proxy (VmHWM after a reset, and VmRSS sampled every 100 ms), its growth over the RSS before the ` +
    `connection, the peak of its anonymous RSS (RssAnon: the same without the mapped executable and libraries), ` +
    `what the client read per second (expected ~640 KiB/s), proxy CPU %. A subject whose RSS passes ` +
    `${o.rssCapMiB} MiB is stopped there (the machine is shared): its peak then reads "≥ cap".`,
  metrics: [
    { key: 'peak', label: 'peak RSS MiB', better: 'lower', digits: 1, ratio: true, summary: 'slow-reader peak RSS MiB' },
    { key: 'growth', label: 'RSS growth MiB', better: 'lower', digits: 1 },
    { key: 'peakAnon', label: 'peak anon RSS MiB', better: 'lower', digits: 1, ratio: true },
    { key: 'readKiBps', label: 'client read KiB/s', better: 'none', digits: 0 },
    { key: 'cpuPct', label: 'proxy CPU %', better: 'none', digits: 0 },
  ],
  timeoutMs: (o) => (o.slowSeconds + 30) * 1000,
  async prepare(env) {
    const server = await startPatternServer();
    return {
      backendPort: server.port,
      stop: () => server.stop(),
      async measure(s) {
        const r = await slowRead(s.port, env.opts.slowSeconds * 1000, s.pid, env.opts.rssCapMiB);
        return {
          values: {
            peak: r.peakKiB / 1024,
            growth: (r.peakKiB - r.baseKiB) / 1024,
            peakAnon: r.peakAnonKiB / 1024,
            readKiBps: r.readBytes / 1024 / (r.wallMs / 1000),
            cpuPct: (r.cpuMs / r.wallMs) * 100,
          },
          notes: r.capped ? [`stopped after ${(r.wallMs / 1000).toFixed(1)} s at the RSS cap of ${env.opts.rssCapMiB} MiB (peak ≥ cap: unbounded)`] : [],
        };
      },
    };
  },
};
