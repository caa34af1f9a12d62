// What the stats page costs the data path: proxied bulk throughput with and without 200 stats
// requests per second, measured through a real `warren proxy` process (the CLI, its own core),
// with the backend, the client and the stats poller in this process. Rounds are interleaved
// (quiet, loaded, quiet, loaded, ...) so drift on the machine hits both alike.
//
//   npm run bench:stats-cost [-- --rounds 5 --seconds 5 --rate 200]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, log, markdownTable, median, numberOption, spread } from './bench-util.js';

const rounds = numberOption('rounds', 5);
const seconds = numberOption('seconds', 5);
const rate = numberOption('rate', 200);
/** What the poller asks for: the stats page (default), or e.g. `/healthz` to separate the cost of
 *  HTTP handling from the cost of rendering. */
const pathArg = process.argv.indexOf('--path');
const statsPath = pathArg >= 0 ? process.argv[pathArg + 1]! : '/stats';

/** A backend that sends zeros as fast as the reader takes them. */
async function sourceServer(): Promise<{ port: number; close(): void }> {
  const chunk = Buffer.alloc(256 * 1024);
  const server = net.createServer((s) => {
    s.on('error', () => {});
    const pump = (): void => {
      while (!s.destroyed && s.write(chunk));
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

/** CPU time (user + system) a process has used, in ms (from /proc; clock ticks are 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (fields 14 and 15)
}

interface Sample {
  gbps: number;
  /** The proxy's CPU time per GB proxied, ms: its own cost, whatever the other processes do. */
  cpuPerGB: number;
}

/** Throughput read through `port` over `ms` milliseconds on one connection, and the proxy's CPU. */
function measure(port: number, ms: number, proxyPid: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const cpu0 = cpuMs(proxyPid);
    const c = net.connect(port, '127.0.0.1');
    c.on('error', reject);
    c.on('data', (d: Buffer) => (bytes += d.length));
    setTimeout(() => {
      c.destroy();
      resolve({ gbps: (bytes * 8) / (ms / 1000) / 1e9, cpuPerGB: (cpuMs(proxyPid) - cpu0) / (bytes / 1e9) });
    }, ms);
  });
}

// The stats poller runs in a process of its own, so that its work does not slow the client
// that measures throughput: what the measurement shows is the proxy's own cost of serving it.
const POLLER = `
const http = require('node:http');
const [url, perSecond, ms] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
let ok = 0, failed = 0;
const timer = setInterval(() => {
  http.get(url, { agent }, (res) => { res.resume(); res.on('end', () => (res.statusCode === 200 ? ok++ : failed++)); })
    .on('error', () => failed++);
}, 1000 / perSecond);
setTimeout(() => { clearInterval(timer); agent.destroy(); console.log(JSON.stringify({ ok, failed })); }, ms);
`;

/** GETs of the stats page at `perSecond` for `ms` from a child process; what it got back. */
function pollStats(url: string, perSecond: number, ms: number): Promise<{ ok: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', POLLER, url, String(perSecond), String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => {
      try {
        resolve(JSON.parse(out) as { ok: number; failed: number });
      } catch (err) {
        reject(err);
      }
    });
  });
}

async function main(): Promise<void> {
  const backend = await sourceServer();
  const statsPort = await freePort();
  const proxyPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  const cfg = join(dir, 'proxy.yaml');
  writeFileSync(
    cfg,
    `defaults:
  timeout: {connect: 2s, client: 1m, server: 1m}
listen:
  bulk:
    bind: 127.0.0.1:${proxyPort}
    server: [b 127.0.0.1:${backend.port}]
  monitor:
    bind: 127.0.0.1:${statsPort}
    mode: http
    stats: {enable: true, uri: /stats, refresh: 5s}
    monitor-uri: /healthz
`,
  );
  const child = spawn(process.execPath, ['dist/src/cli.js', 'proxy', '-f', cfg], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (l) => {
        if (l.includes('Proxy bulk started')) resolve();
      });
      child.once('exit', () => reject(new Error('the proxy exited')));
    });
    const statsUrl = `http://127.0.0.1:${statsPort}${statsPath}`;
    const pid = child.pid!;
    await measure(proxyPort, 1000, pid); // warm-up
    const quiet: Sample[] = [];
    const loaded: Sample[] = [];
    const answered: number[] = [];
    for (let r = 0; r < rounds; r++) {
      quiet.push(await measure(proxyPort, seconds * 1000, pid));
      const polled = pollStats(statsUrl, rate, seconds * 1000 + 300);
      await new Promise((r) => setTimeout(r, 150)); // let the poller start before measuring
      loaded.push(await measure(proxyPort, seconds * 1000, pid));
      const { ok, failed } = await polled;
      answered.push(ok / seconds);
      if (failed) log(`round ${r + 1}: ${failed} stats requests failed`);
      log(`round ${r + 1}: quiet ${quiet[r]!.gbps.toFixed(2)} Gbit/s, with ${rate} ${statsPath} req/s ${loaded[r]!.gbps.toFixed(2)} Gbit/s`);
    }
    const gbps = (xs: Sample[]): number[] => xs.map((x) => x.gbps);
    const cpu = (xs: Sample[]): number[] => xs.map((x) => x.cpuPerGB);
    const diff = ((median(gbps(quiet)) - median(gbps(loaded))) / median(gbps(quiet))) * 100;
    const cpuDiff = ((median(cpu(loaded)) - median(cpu(quiet))) / median(cpu(quiet))) * 100;
    console.log(
      markdownTable(
        ['subject', 'throughput Gbit/s (min / median / max)', 'proxy CPU ms per GB (median)', `${statsPath} answers/s (median)`],
        [
          ['warren, no stats requests', spread(gbps(quiet), 2), median(cpu(quiet)).toFixed(0), '-'],
          [`warren, ${rate} ${statsPath} requests/s`, spread(gbps(loaded), 2), median(cpu(loaded)).toFixed(0), median(answered).toFixed(0)],
        ],
      ),
    );
    console.log(`\nmedian throughput difference: ${diff.toFixed(1)}% (target: under 5%); proxy CPU per GB: ${cpuDiff >= 0 ? '+' : ''}${cpuDiff.toFixed(1)}%`);
  } finally {
    child.kill('SIGTERM');
    backend.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
