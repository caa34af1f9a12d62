// Reload under load, warren vs the real HAProxy 2.6, each reloaded its own way:
//   warren:  `node dist/src/cli.js proxy -f FILE`, the file edited, SIGHUP (in-process reload).
//   HAProxy: master-worker `haproxy -W -S master.sock -f FILE`, the file edited, SIGUSR2 (the
//            master re-executes, a new worker takes the listening sockets over through the
//            `stats socket ... expose-fd listeners` — HAProxy's seamless reload — and the old
//            worker finishes its sessions).
// Same workload against each: a raw TCP connect loop (sees a closed listener at once), two
// loops of new AMQP connections (connect, channel, close), six long-lived amqplib connections
// publishing with confirms; before the reloads an operator drains d1 and sets r1's weight to 3
// on the runtime API; a server `ghost` points at a dead port (DOWN). Then 10 reloads: add a
// server, timeouts, change a weight, an invalid file, remove a server (with publishers on it),
// balance, a new listener, maxconn, rise/fall, re-add the removed server. Both use plain TCP
// checks, inter 500ms rise 2 fall 2.
//
//   npm run bench:reload
//   node dist/test/bench/reload.js [--gap-ms 1000] [--no-haproxy] [--no-warren]
//
// Needs the test cluster's ports free (it starts a 3-node cluster), or WARREN_RABBIT_STATE=FILE
// naming a running harness cluster (cluster-cli.js start), which it uses and leaves running.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterInfo } from '../harness/rabbit-cluster.js';
import { amqpLoop, publisher, tcpLoop, type Publisher } from '../harness/reload-load.js';
import { benchCluster, flag, freePort, log, markdownTable, median, numberOption, sleep } from './bench-util.js';

const HAPROXY = '/usr/sbin/haproxy';
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const BACKEND = 'rabbitmq_cluster';

interface Srv {
  name: string;
  addr: string;
  weight?: number;
  rise?: number;
  fall?: number;
}

interface Variant {
  what: string;
  servers: Srv[];
  binds: number[];
  balance?: 'roundrobin' | 'leastconn';
  maxconn?: number;
  timeoutsH?: number;
  invalid?: boolean;
}

interface Ctx {
  dir: string;
  socket: string;
}

function serverWords(s: Srv): string {
  return `${s.name} ${s.addr} check${s.weight !== undefined ? ` weight ${s.weight}` : ''}${s.rise !== undefined ? ` rise ${s.rise}` : ''}${s.fall !== undefined ? ` fall ${s.fall}` : ''}`;
}

function warrenYaml(v: Variant, c: Ctx): string {
  return `global:
  maxconn: 4096
  stats-socket: ${c.socket} mode 600 level admin
defaults:
  mode: tcp
  balance: roundrobin
  retries: 3
  option: [redispatch]
  timeout: {connect: 2s, client: ${v.timeoutsH ?? 3}h, server: ${v.timeoutsH ?? 3}h}
  default-server: inter 500ms fastinter 200ms downinter 500ms rise 2 fall 2
listen:
  ${BACKEND}:
    bind: [${v.binds.map((p) => `127.0.0.1:${p}`).join(', ')}]
${v.invalid ? '    optoin: [redispatch]\n' : ''}${v.balance ? `    balance: ${v.balance}\n` : ''}${v.maxconn ? `    maxconn: ${v.maxconn}\n` : ''}    server:
${v.servers.map((s) => `      - ${serverWords(s)}`).join('\n')}
`;
}

function haproxyCfg(v: Variant, c: Ctx): string {
  return `global
  maxconn 4096
  stats socket ${c.socket} mode 600 level admin expose-fd listeners
defaults
  mode tcp
  balance roundrobin
  retries 3
  option redispatch
  timeout connect 2s
  timeout client ${v.timeoutsH ?? 3}h
  timeout server ${v.timeoutsH ?? 3}h
  default-server inter 500ms fastinter 200ms downinter 500ms rise 2 fall 2
listen ${BACKEND}
${v.binds.map((p) => `  bind 127.0.0.1:${p}`).join('\n')}
${v.invalid ? '  optoin redispatch\n' : ''}${v.balance ? `  balance ${v.balance}\n` : ''}${v.maxconn ? `  maxconn ${v.maxconn}\n` : ''}${v.servers.map((s) => `  server ${serverWords(s)}`).join('\n')}
`;
}

interface SrvState {
  op: number;
  admin: number;
  uweight: number;
}

/** One command on a CLI socket (runtime API, HAProxy's stats or master socket), as socat does:
 *  send, half-close, read until the server closes. */
function ask(socket: string, cmd: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`${socket}: no answer to '${cmd}' within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('connect', () => c.end(`${cmd}\n`));
  });
}

async function serversState(socket: string): Promise<Record<string, SrvState>> {
  const out: Record<string, SrvState> = {};
  for (const l of (await ask(socket, `show servers state ${BACKEND}`)).split('\n')) {
    const f = l.split(' ');
    if (f.length < 10 || l.startsWith('#')) continue;
    out[f[3]!] = { op: Number(f[5]), admin: Number(f[6]), uweight: Number(f[7]) };
  }
  return out;
}

interface Target {
  name: string;
  ctx: Ctx;
  /** Write the file, signal, wait until the reload is done (or refused). */
  reload(v: Variant): Promise<{ status: 'applied' | 'invalid'; ms: number }>;
  /** Processes running after the run (warren: 1; HAProxy: master + workers, old ones included). */
  processes(): Promise<string>;
  stop(): Promise<void>;
}

function lineReader(stream: NodeJS.ReadableStream, onLine: (l: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
}

async function waitFor<T>(what: string, get: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(timer);
}

async function warrenTarget(first: Variant): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-reload-'));
  const ctx: Ctx = { dir, socket: path.join(dir, 'admin.sock') };
  const file = path.join(dir, 'haproxy.yaml');
  fs.writeFileSync(file, warrenYaml(first, ctx));
  const lines: Record<string, unknown>[] = [];
  const child = spawn(process.execPath, [CLI, 'proxy', '-f', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  lineReader(child.stdout!, (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      /* not JSON */
    }
  });
  await waitFor('warren started', () => lines.find((l) => l.msg === `Proxy ${BACKEND} started.`));
  return {
    name: 'warren',
    ctx,
    async reload(v) {
      const from = lines.length;
      fs.writeFileSync(file, warrenYaml(v, ctx));
      const t0 = performance.now();
      child.kill('SIGHUP');
      const done = await waitFor('the reload', () => lines.slice(from).find((l) => l.reload === 'applied' || l.reload === 'unchanged' || l.reload === 'failed' || /is invalid/.test(String(l.msg))));
      return { status: /is invalid/.test(String(done.msg)) ? 'invalid' : 'applied', ms: performance.now() - t0 };
    },
    async processes() {
      return '1 (the same process)';
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child, 10_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function haproxyTarget(first: Variant): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-bench-reload-'));
  const ctx: Ctx = { dir, socket: path.join(dir, 'admin.sock') };
  const master = path.join(dir, 'master.sock');
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, haproxyCfg(first, ctx));
  const lines: string[] = [];
  const child = spawn(HAPROXY, ['-W', '-S', master, '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  lineReader(child.stdout!, (l) => lines.push(l));
  lineReader(child.stderr!, (l) => lines.push(l));
  const loads = (): number => lines.filter((l) => /Loading (success|failure)/.test(l)).length;
  await waitFor('HAProxy started', () => (loads() > 0 ? true : undefined));
  if (!lines.some((l) => /Loading success/.test(l))) throw new Error(`HAProxy did not start:\n${lines.join('\n')}`);
  await waitFor('the stats socket', () => (fs.existsSync(ctx.socket) ? true : undefined));
  return {
    name: 'HAProxy 2.6 (-W, SIGUSR2, expose-fd listeners)',
    ctx,
    async reload(v) {
      const before = loads();
      fs.writeFileSync(file, haproxyCfg(v, ctx));
      const t0 = performance.now();
      child.kill('SIGUSR2');
      await waitFor('the reload', () => (loads() > before ? true : undefined));
      const ms = performance.now() - t0;
      const last = lines.filter((l) => /Loading (success|failure)/.test(l)).pop()!;
      // The new worker binds its stats socket; wait until it answers.
      for (let i = 0; i < 100; i++) {
        try {
          if ((await ask(ctx.socket, 'show info')).includes('Pid:')) break;
        } catch {
          /* not yet */
        }
        await sleep(10);
      }
      return { status: /failure/.test(last) ? 'invalid' : 'applied', ms };
    },
    async processes() {
      const proc = await ask(master, 'show proc');
      const workers = proc
        .split('\n')
        .filter((l) => /^\d+\s+worker/.test(l))
        .map((l) => l.trim().split(/\s+/));
      const old = workers.length - 1;
      return `${1 + workers.length} (master + ${workers.length} workers: ${old} old one${old === 1 ? '' : 's'} still serving sessions opened before a reload)`;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child, 10_000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- the workload ------------------------------------------------------------------------------

interface Result {
  target: string;
  applied: number;
  invalidKeptOld: number;
  refused: number;
  failedConnects: number;
  failedSamples: string[];
  tcpConnects: number;
  amqpConnects: number;
  dropped: number;
  publishers: number;
  confirmed: number;
  failedPublishes: number;
  lost: number;
  drainKept: number;
  weightKept: number;
  ghostDown: number;
  reloadMs: number[];
  connectMs: number[];
  processes: string;
}

function plan(cluster: ClusterInfo, ports: { main: number; extra: number }, ghost: string): { base: Variant; steps: Variant[] } {
  const [n1, n2, n3] = cluster.nodes.map((n) => `${n.host}:${n.amqpPort}`);
  const r1 = { name: 'r1', addr: n1! };
  const r2 = { name: 'r2', addr: n2! };
  const d1 = { name: 'd1', addr: n3! };
  const gh = { name: 'ghost', addr: ghost };
  const r3 = { name: 'r3', addr: n3! };
  const r3w = { ...r3, weight: 2 };
  const one = [ports.main];
  const two = [ports.main, ports.extra];
  const rf = (s: Srv): Srv => ({ ...s, rise: 3, fall: 3 });
  const base: Variant = { what: 'start', servers: [r1, r2, d1, gh], binds: one };
  const steps: Variant[] = [
    { what: 'add a server', servers: [r1, r2, d1, gh, r3], binds: one },
    { what: 'timeouts', servers: [r1, r2, d1, gh, r3], binds: one, timeoutsH: 1 },
    { what: 'change a weight', servers: [r1, r2, d1, gh, r3w], binds: one, timeoutsH: 1 },
    { what: 'invalid', servers: [r1, r2, d1, gh, r3w], binds: one, timeoutsH: 1, invalid: true },
    { what: 'remove a server', servers: [r1, d1, gh, r3w], binds: one },
    { what: 'balance', servers: [r1, d1, gh, r3w], binds: one, balance: 'leastconn' },
    { what: 'a new listener', servers: [r1, d1, gh, r3w], binds: two, balance: 'leastconn' },
    { what: 'maxconn', servers: [r1, d1, gh, r3w], binds: two, balance: 'leastconn', maxconn: 2000 },
    { what: 'rise/fall', servers: [r1, d1, gh, r3w].map(rf), binds: two, maxconn: 2000 },
    { what: 're-add the removed server', servers: [r1, r2, d1, gh, r3w].map(rf), binds: two },
  ];
  return { base, steps };
}

async function run(kind: 'warren' | 'haproxy', cluster: ClusterInfo, gapMs: number): Promise<Result> {
  const ports = { main: await freePort(), extra: await freePort() };
  const ghost = `127.0.0.1:${await freePort()}`;
  const { base, steps } = plan(cluster, ports, ghost);
  const target = kind === 'warren' ? await warrenTarget(base) : await haproxyTarget(base);
  log(`${target.name}: started on 127.0.0.1:${ports.main}`);
  try {
    const sock = target.ctx.socket;
    const end = Date.now() + 20_000;
    for (;;) {
      const st = await serversState(sock);
      if (st.r1?.op === 2 && st.r2?.op === 2 && st.d1?.op === 2 && st.ghost?.op === 0) break;
      if (Date.now() > end) throw new Error(`${target.name}: servers not ready: ${JSON.stringify(st)}`);
      await sleep(100);
    }
    const url = `amqp://${cluster.user}:${cluster.password}@127.0.0.1:${ports.main}`;
    const pubs: Publisher[] = [];
    for (let i = 0; i < 6; i++) pubs.push(await publisher(url, `bench-reload-${kind}-${process.pid}-${i}`));
    await ask(sock, `set server ${BACKEND}/d1 state drain`);
    await ask(sock, `set server ${BACKEND}/r1 weight 3`);
    const loops = [tcpLoop(ports.main), amqpLoop(url), amqpLoop(url)];
    await sleep(gapMs);
    const r: Result = {
      target: target.name,
      applied: 0,
      invalidKeptOld: 0,
      refused: 0,
      failedConnects: 0,
      failedSamples: [],
      tcpConnects: 0,
      amqpConnects: 0,
      dropped: 0,
      publishers: pubs.length,
      confirmed: 0,
      failedPublishes: 0,
      lost: 0,
      drainKept: 0,
      weightKept: 0,
      ghostDown: 0,
      reloadMs: [],
      connectMs: [],
      processes: '',
    };
    for (const [i, step] of steps.entries()) {
      const res = await target.reload(step);
      r.reloadMs.push(res.ms);
      if (res.status === 'applied') r.applied++;
      const st = await serversState(sock);
      if (step.invalid && res.status === 'invalid') r.invalidKeptOld++;
      if (st.d1?.admin === 8) r.drainKept++;
      if (st.r1?.uweight === 3) r.weightKept++;
      if (st.ghost?.op === 0) r.ghostDown++;
      log(`${target.name}: reload ${i + 1} (${step.what}): ${res.status} in ${Math.round(res.ms)} ms; d1 admin ${st.d1?.admin}, r1 weight ${st.r1?.uweight}, ghost ${st.ghost?.op === 0 ? 'DOWN' : 'UP'}`);
      await sleep(gapMs);
    }
    const [tcp, a1, a2] = await Promise.all(loops.map((l) => l.stop()));
    for (const p of pubs) await p.stop();
    r.processes = await target.processes();
    for (const l of [tcp!, a1!, a2!]) {
      r.refused += l.refused;
      r.failedConnects += l.failed.length;
      r.failedSamples.push(...l.failed.slice(0, 3));
    }
    r.tcpConnects = tcp!.ok;
    r.amqpConnects = a1!.ok + a2!.ok;
    r.connectMs = [...a1!.times, ...a2!.times];
    for (const p of pubs) {
      r.confirmed += p.confirmed;
      r.failedPublishes += p.failed;
      if (p.dropped !== null) r.dropped++;
      const inQueue = await p.finish().catch(() => -1);
      if (inQueue >= 0) r.lost += Math.max(0, p.confirmed - inQueue);
    }
    return r;
  } finally {
    await target.stop();
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}
const ms = (x: number): string => (x < 10 ? x.toFixed(1) : String(Math.round(x)));

async function main(): Promise<void> {
  const gapMs = numberOption('gap-ms', 1000);
  const { cluster, stop } = await benchCluster();
  const results: Result[] = [];
  try {
    if (!flag('no-warren')) results.push(await run('warren', cluster, gapMs));
    if (!flag('no-haproxy')) {
      if (fs.existsSync(HAPROXY)) results.push(await run('haproxy', cluster, gapMs));
      else log(`${HAPROXY} not found: HAProxy skipped (apt-get install -y haproxy)`);
    }
  } finally {
    await stop();
  }
  const yes = (n: number, of: number): string => `${n}/${of}`;
  const rows: (string | number)[][] = [
    ['reloads applied / invalid file kept the old config', ...results.map((r) => `${r.applied} / ${r.invalidKeptOld ? 'yes' : 'no'}`)],
    ['refused connects (raw TCP loop + AMQP loops)', ...results.map((r) => r.refused)],
    ['other failed connects', ...results.map((r) => r.failedConnects)],
    ['new connections made (TCP / AMQP)', ...results.map((r) => `${r.tcpConnects} / ${r.amqpConnects}`)],
    ['new AMQP connection, connect to open channel (median / p99 / max)', ...results.map((r) => `${ms(pct(r.connectMs, 50))} / ${ms(pct(r.connectMs, 99))} / ${ms(Math.max(...r.connectMs))} ms`)],
    ['dropped established sessions (publishers)', ...results.map((r) => `${r.dropped}/${r.publishers}`)],
    ['failed publishes (nack or error)', ...results.map((r) => r.failedPublishes)],
    ['confirmed publishes / lost', ...results.map((r) => `${r.confirmed} / ${r.lost}`)],
    ['operator drain of d1 still there after reload', ...results.map((r) => yes(r.drainKept, 10))],
    ['runtime weight of r1 still there after reload', ...results.map((r) => yes(r.weightKept, 10))],
    ['dead server still DOWN right after reload', ...results.map((r) => yes(r.ghostDown, 10))],
    ['reload time, signal to done (median / max)', ...results.map((r) => `${Math.round(median(r.reloadMs))} / ${Math.round(Math.max(...r.reloadMs))} ms`)],
    ['processes after the 10 reloads', ...results.map((r) => r.processes)],
  ];
  process.stdout.write(`\n${markdownTable(['10 reloads under load', ...results.map((r) => r.target)], rows)}\n`);
  for (const r of results) if (r.failedSamples.length) process.stdout.write(`\n${r.target}: failed connects, e.g.: ${r.failedSamples.join('; ')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
