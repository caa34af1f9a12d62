// Workload 1: bulk throughput both directions, iperf3 (one TCP stream) through each subject:
// client→server (`iperf3 -c`) and server→client (`iperf3 -c -R`), receiver-side rate.
import { startIperf3Server } from './backends.js';
import { cpuWindow, run } from './proc.js';
import type { Workload } from './runner.js';

interface Iperf3Json {
  end?: { sum_received?: { bits_per_second?: number; bytes?: number } };
  error?: string;
}

async function iperf3(port: number, seconds: number, omit: number, reverse: boolean): Promise<{ gbps: number; bytes: number }> {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'];
  if (omit > 0) args.push('-O', String(omit));
  if (reverse) args.push('-R');
  let out: string;
  try {
    out = await run('/usr/bin/iperf3', args, (seconds + omit + 20) * 1000);
  } catch (err) {
    // iperf3 -J prints its error inside the JSON on stdout; the message has the tail of it.
    const m = /"error":\s*"([^"]*)"/.exec((err as Error).message);
    throw new Error(`iperf3${reverse ? ' -R' : ''}: ${m ? m[1] : (err as Error).message}`);
  }
  const j = JSON.parse(out) as Iperf3Json;
  if (j.error) throw new Error(`iperf3${reverse ? ' -R' : ''}: ${j.error}`);
  const sum = j.end?.sum_received;
  if (!sum?.bits_per_second) throw new Error(`iperf3${reverse ? ' -R' : ''}: no sum_received in its report`);
  return { gbps: sum.bits_per_second / 1e9, bytes: sum.bytes ?? 0 };
}

export const bulk: Workload = {
  id: 'bulk',
  title: '1. Bulk throughput (iperf3, one stream)',
  describe: (o) =>
    `iperf3 -t ${o.seconds}${o.warmup ? ` -O ${o.warmup}` : ''}, then the same with -R; Gbit/s at the receiver. ` +
    'Proxy CPU: user+system time of the proxy process over both runs, per GB moved and as % of one core.',
  metrics: [
    { key: 'fwd', label: 'client→server Gbit/s', better: 'higher', digits: 2, ratio: true, summary: 'bulk → Gbit/s' },
    { key: 'rev', label: 'server→client Gbit/s', better: 'higher', digits: 2, ratio: true, summary: 'bulk ← Gbit/s' },
    { key: 'cpuPerGB', label: 'proxy CPU ms/GB', better: 'lower', digits: 0 },
    { key: 'cpuPct', label: 'proxy CPU %', better: 'none', digits: 0 },
  ],
  timeoutMs: (o) => (2 * (o.seconds + o.warmup) + 60) * 1000,
  async prepare(env) {
    const server = await startIperf3Server(env.ctx.dir);
    return {
      backendPort: server.port,
      stop: () => server.stop(),
      async measure(s) {
        const cpu = cpuWindow(s.pid);
        const fwd = await iperf3(s.port, env.opts.seconds, env.opts.warmup, false);
        const rev = await iperf3(s.port, env.opts.seconds, env.opts.warmup, true);
        const { cpuMs, wallMs } = cpu.end();
        return {
          values: {
            fwd: fwd.gbps,
            rev: rev.gbps,
            cpuPerGB: cpuMs / ((fwd.bytes + rev.bytes) / 1e9),
            cpuPct: (cpuMs / wallMs) * 100,
          },
        };
      },
    };
  },
};
