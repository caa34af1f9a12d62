// Shared bits of the self-contained benchmarks (test/bench/*.ts): the shipped config pointed at
// a harness cluster, argument parsing, statistics and markdown tables.
import { mkdtempSync, readFileSync, statfsSync } from 'node:fs';
import { loadCluster, startCluster, STATE_ENV, stopCluster, type ClusterInfo, type StartOptions } from '../harness/rabbit-cluster.js';

/** config/haproxy.yaml with every bind on 127.0.0.1:0 and the servers on the cluster's ports. */
export function shippedConfig(cluster: ClusterInfo, file = 'config/haproxy.yaml'): string {
  let text = readFileSync(file, 'utf8')
    .replace(/^([ \t]*bind:[ \t]*)\S+:\d+[ \t]*$/gm, (_m, head: string) => `${head}127.0.0.1:0`)
    .replace(/^[ \t]*stats-socket:.*$/m, ''); // /run/warren/proxy.sock belongs to an installed proxy
  cluster.nodes.forEach((n, i) => {
    text = text.replace(`127.0.0.1:${5673 + i} `, `${n.host}:${n.amqpPort} `);
  });
  return text;
}

/** A numeric option: `--name N` on the command line, else env NAME, else the default. */
export function numberOption(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[name.toUpperCase().replace(/-/g, '_')];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got '${raw}'`);
  return n;
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** "min / median / max" of a series. */
export function spread(xs: number[], digits = 0): string {
  if (xs.length === 0) return 'n/a';
  const f = (n: number): string => n.toFixed(digits);
  return `${f(Math.min(...xs))} / ${f(median(xs))} / ${f(Math.max(...xs))}`;
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const width = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((v, c) => v.padEnd(width[c]!)).join(' | ')} |`;
  return [line(header), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export { freePort } from '../harness/ports.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

/**
 * The cluster to measure: a new one (3 nodes, no proxy_protocol node; `start` overrides ports,
 * names...), stopped by `stop()`; or, when WARREN_RABBIT_STATE names a running harness cluster
 * (cluster-cli.js start), that one, left running.
 */
/** tmpfs's f_type (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994;

/**
 * A new directory on /dev/shm for the brokers' data when that is a tmpfs, else undefined (data on
 * disk): why, in StartOptions.dataDir and test/harness/run-tests.sh.
 */
function tmpfsDataDir(): string | undefined {
  try {
    if (statfsSync('/dev/shm').type !== TMPFS_MAGIC) return undefined;
    return mkdtempSync('/dev/shm/warren-rabbit-');
  } catch {
    return undefined;
  }
}

export async function benchCluster(start: StartOptions = {}): Promise<{ cluster: ClusterInfo; stop(): Promise<void> }> {
  if (process.env[STATE_ENV]) {
    log(`using the running cluster of ${STATE_ENV}=${process.env[STATE_ENV]}`);
    return { cluster: loadCluster(), stop: async () => {} };
  }
  const dataDir = tmpfsDataDir();
  log(`starting the RabbitMQ cluster (3 nodes, no proxy_protocol node${dataDir ? `, data on tmpfs in ${dataDir}` : ''})`);
  const cluster = await startCluster({ proxyProtocolNode: false, log: (m) => log(`cluster: ${m}`), ...(dataDir ? { dataDir } : {}), ...start });
  let stopped = false;
  return {
    cluster,
    async stop() {
      if (stopped) return;
      stopped = true;
      log('stopping the cluster');
      await stopCluster(cluster);
    },
  };
}
