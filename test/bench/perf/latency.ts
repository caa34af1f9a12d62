// Workload 3: latency on persistent connections: wrk --latency (keep-alive) through each subject
// to nginx serving a 1 KiB file; requests/s, p50 and p99.
import { startNginx } from './backends.js';
import { cpuWindow } from './proc.js';
import type { Workload } from './runner.js';
import { wrk } from './wrk.js';

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
  async prepare(env) {
    const nginx = await startNginx(env.ctx.dir, env.ctx.nofile);
    const o = env.opts;
    return {
      backendPort: nginx.port,
      stop: () => nginx.stop(),
      async measure(s) {
        const url = `http://127.0.0.1:${s.port}${nginx.path}`;
        const base = { conns: o.wrkConns, threads: o.wrkThreads, close: false, latency: true };
        if (o.warmup > 0) await wrk(url, { ...base, seconds: o.warmup });
        const cpu = cpuWindow(s.pid);
        const r = await wrk(url, { ...base, seconds: o.seconds });
        const { cpuMs } = cpu.end();
        return {
          values: { rps: r.rps, p50: r.p50, p99: r.p99, errors: r.errors + r.non2xx, cpuPerReq: (cpuMs * 1000) / r.requests },
        };
      },
    };
  },
};
