// Workload 2: new connections per second: wrk with `Connection: close` (one request per
// connection) through each subject to nginx serving a 1 KiB file.
import type { Workload } from './runner.js';
import { prepareWrkWorkload } from './wrk.js';

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
  prepare: (env) =>
    prepareWrkWorkload(env, { close: true, latency: false }, (r, { cpuMs, wallMs }) => ({
      rate: r.rps,
      errors: r.errors + r.non2xx,
      cpuPerConn: (cpuMs * 1000) / r.requests,
      cpuPct: (cpuMs / wallMs) * 100,
    })),
};
