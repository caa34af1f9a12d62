// Workload 3: latency on persistent connections: wrk --latency (keep-alive) through each subject
// to nginx serving a 1 KiB file; requests/s, p50 and p99.
import type { Workload } from './runner.js';
import { prepareWrkWorkload } from './wrk.js';

export const latency: Workload = {
  id: 'latency',
  title: '3. Keep-alive latency (wrk --latency, nginx backend)',
  describe: (o) =>
    `wrk -t ${o.wrkThreads} -c ${o.wrkConns} -d ${o.seconds}s --latency (persistent connections, closed loop) to a 1 KiB file of nginx` +
    `${o.warmup ? `, after ${o.warmup} s of warm-up` : ''}. Proxy CPU per request, µs.`,
  metrics: [
    { key: 'rps', label: 'requests/s', better: 'higher', digits: 0, ratio: true, summary: 'keep-alive req/s' },
    { key: 'p50', label: 'p50 ms', better: 'lower', digits: 2, ratio: true, summary: 'p50 ms' },
    { key: 'p99', label: 'p99 ms', better: 'lower', digits: 2, ratio: true, summary: 'p99 ms' },
    { key: 'errors', label: 'errors', better: 'lower', digits: 0 },
    { key: 'cpuPerReq', label: 'proxy CPU µs/req', better: 'lower', digits: 1 },
  ],
  timeoutMs: (o) => (o.seconds + o.warmup + 60) * 1000,
  prepare: (env) =>
    prepareWrkWorkload(env, { close: false, latency: true }, (r, { cpuMs }) => ({
      rps: r.rps,
      p50: r.p50,
      p99: r.p99,
      errors: r.errors + r.non2xx,
      cpuPerReq: (cpuMs * 1000) / r.requests,
    })),
};
