// Workload 2: new connections per second: wrk with `Connection: close` (one request per
// connection) through each subject to nginx serving a 1 KiB file.
import { startNginx } from './backends.js';
import { cpuWindow } from './proc.js';
import type { Workload } from './runner.js';
import { wrk } from './wrk.js';

export const connrate: Workload = {
  id: 'connrate',
  title: '2. New connections per second (wrk, Connection: close, nginx backend)',
  describe: (o) =>
    `wrk -t ${o.wrkThreads} -c ${o.wrkConns} -d ${o.seconds}s -H 'Connection: close' to a 1 KiB file of nginx (1 worker)` +
    `${o.warmup ? `, after ${o.warmup} s of warm-up` : ''}; one request per connection, so requests/s = connections/s. ` +
    'Errors: wrk socket errors + non-2xx responses. Proxy CPU per connection, µs.',
  metrics: [
    { key: 'rate', label: 'connections/s', better: 'higher', digits: 0, ratio: true, summary: 'conn/s' },
    { key: 'errors', label: 'errors', better: 'lower', digits: 0 },
    { key: 'cpuPerConn', label: 'proxy CPU µs/conn', better: 'lower', digits: 1 },
    { key: 'cpuPct', label: 'proxy CPU %', better: 'none', digits: 0 },
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
        const base = { conns: o.wrkConns, threads: o.wrkThreads, close: true, latency: false };
        if (o.warmup > 0) await wrk(url, { ...base, seconds: o.warmup });
        const cpu = cpuWindow(s.pid);
        const r = await wrk(url, { ...base, seconds: o.seconds });
        const { cpuMs, wallMs } = cpu.end();
        return {
          values: {
            rate: r.rps,
            errors: r.errors + r.non2xx,
            cpuPerConn: (cpuMs * 1000) / r.requests,
            cpuPct: (cpuMs / wallMs) * 100,
          },
        };
      },
    };
  },
};
