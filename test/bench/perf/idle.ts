// Workload 5: idle connections. A burst of N connects through the subject; each client sends one
// byte (node-tcp-proxy only opens its server connection when the client first sends, so without
// it that subject would hold half the sockets of the others) and then stays idle. Once the backend
// holds all N (each with its byte) the proxy's RSS is read again: (RSS with N idle − RSS before) / N.
// The time the burst took to get through shows the listen backlog: Node's default is 511 (what
// node-tcp-proxy gets); HAProxy and warren here use maxconn (capped by net.core.somaxconn); a
// SYN dropped on a full queue is retried by the client's kernel after 1 s, then 3 s, ...
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { sleep } from '../bench-util.js';
import { startIdleServer } from './backends.js';
import { cpuWindow, rssKiB } from './proc.js';
import type { Workload } from './runner.js';

function somaxconn(): string {
  try {
    return readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
  } catch {
    return '?';
  }
}

function openClients(port: number, n: number): { clients: net.Socket[]; failed: () => number; lastError: () => string } {
  const clients: net.Socket[] = [];
  let failed = 0;
  let lastError = '';
  for (let i = 0; i < n; i++) {
    const c = net.connect({ port, host: '127.0.0.1' });
    c.once('connect', () => c.write('x'));
    c.on('error', (err: NodeJS.ErrnoException) => {
      failed++;
      lastError = err.code ?? err.message;
    });
    clients.push(c);
  }
  return { clients, failed: () => failed, lastError: () => lastError };
}

async function until(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** How long the connections stay idle before the settled reading: V8's memory reducer (the
 *  proxy's idle-time garbage collection) runs about 8 s after the last allocation burst. */
function settleSeconds(smoke: boolean): number {
  return smoke ? 1 : 15;
}

export const idle: Workload = {
  id: 'idle',
  title: '5. Idle connections: proxy RSS per connection',
  describe: (o) =>
    `${o.idleConns.toLocaleString('en-US')} connections opened in one burst, one byte each, then idle; KiB per connection = ` +
    `(RSS with them − RSS before) / ${o.idleConns}, read ${o.smoke ? 0.3 : 1} s after the last one reached the backend, and again ` +
    `after ${settleSeconds(o.smoke)} s of idleness ("settled": a garbage-collected subject may hold the setup's garbage until its ` +
    'collector has run; the connections themselves are what stays). ' +
    'Burst time: from the first connect to the last connection at the backend: the listen backlog shows here ' +
    "(HAProxy and warren: `backlog` = maxconn in their configs, see the header; node-tcp-proxy: Node's default, 511; " +
    `the kernel caps each at net.core.somaxconn = ${somaxconn()}). ` +
    'Proxy CPU per connection set up, µs.',
  metrics: [
    { key: 'perConn', label: 'KiB/conn after 1 s', better: 'lower', digits: 1, ratio: true },
    { key: 'perConnSettled', label: 'KiB/conn settled', better: 'lower', digits: 1, ratio: true, summary: 'idle KiB/conn' },
    { key: 'rss', label: 'RSS with all idle MiB', better: 'lower', digits: 1 },
    { key: 'burstMs', label: 'burst time ms', better: 'lower', digits: 0, ratio: true },
    { key: 'failed', label: 'failed connects', better: 'lower', digits: 0 },
    { key: 'cpuPerConn', label: 'proxy CPU µs/conn', better: 'lower', digits: 1 },
  ],
  timeoutMs: () => 120_000,
  async prepare(env) {
    const server = await startIdleServer();
    const o = env.opts;
    return {
      backendPort: server.port,
      stop: () => server.stop(),
      async measure(s) {
        // Warm-up: a few sessions through, so that the baseline includes what the first
        // connections allocate once (code paths compiled, pools created).
        const warm = openClients(s.port, 10);
        await until(() => server.ready >= 10, 5000);
        for (const c of warm.clients) c.destroy();
        await until(() => server.open === 0, 5000);
        await sleep(200);
        server.ready = 0;
        const before = s.pid === null ? NaN : rssKiB(s.pid);
        const cpu = cpuWindow(s.pid);
        const t0 = performance.now();
        const { clients, failed, lastError } = openClients(s.port, o.idleConns);
        try {
          const all = await until(() => server.ready + failed() >= o.idleConns, o.smoke ? 30_000 : 90_000);
          const burstMs = performance.now() - t0;
          const { cpuMs } = cpu.end();
          if (!all) throw new Error(`only ${server.ready} of ${o.idleConns} connections reached the backend (${failed()} failed${lastError() ? `, ${lastError()}` : ''})`);
          await sleep(o.smoke ? 300 : 1000);
          const rss = s.pid === null ? NaN : rssKiB(s.pid);
          await sleep(settleSeconds(o.smoke) * 1000);
          const settled = s.pid === null ? NaN : rssKiB(s.pid);
          const held = server.ready;
          return {
            values: {
              perConn: (rss - before) / held,
              perConnSettled: (settled - before) / held,
              rss: rss / 1024,
              burstMs,
              failed: failed(),
              cpuPerConn: (cpuMs * 1000) / held,
            },
            notes: failed() ? [`${failed()} connect(s) failed (${lastError()})`] : [],
          };
        } finally {
          for (const c of clients) c.destroy();
          await until(() => server.open === 0, 10_000);
        }
      },
    };
  },
};
