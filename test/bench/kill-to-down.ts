// kill -9 of a broker under connection churn: how fast the proxy marks it DOWN, what the clients
// see, and how fast it is back UP after a restart.
//
// Self-contained: starts a 3-node RabbitMQ cluster (test/harness), runs warren in-process with
// the shipped config/haproxy.yaml (binds moved to 127.0.0.1:0), and 3 client loops of amqplib
// connect / createChannel / close through the proxy. Each round kills one broker (-9, a
// different victim each round), measures kill -> the proxy's DOWN log line, counts connect
// failures (the proxy's session lines with Tc -1: sessions that never reached a broker) and
// client-visible failures, restarts the node and measures restart -> UP. Then, unless
// --no-haproxy, the same against the real HAProxy (/usr/sbin/haproxy) with the classic config:
// `inter 2s fall 3 rise 2`, plain TCP check, `option redispatch`, `retries 3`; its DOWN/UP time is
// read from the stats socket (`show stat` polled every 50 ms).
//
//   npm run bench:kill
//   node dist/test/bench/kill-to-down.js [--rounds 5] [--no-haproxy] [--no-warren]
//
// Needs the test cluster's ports (5673-5675, 15673-15675, 25673-25675, epmd 4371) free; with
// WARREN_RABBIT_STATE=FILE it uses that running harness cluster instead (and leaves it running).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { startProxy, type RunningProxy } from '../harness/proxy.js';
import { killNode, startNode, type ClusterInfo } from '../harness/rabbit-cluster.js';
import { benchCluster, flag, freePort, log, markdownTable, numberOption, shippedConfig, sleep, spread } from './bench-util.js';

const HAPROXY = '/usr/sbin/haproxy';
const BACKEND = 'rabbitmq_cluster';
/** How long the loops keep running after DOWN before the victim is restarted. */
const AFTER_DOWN_MS = 2000;

interface SessionInfo {
  /** Wall-clock ms when the proxy logged it (session end). */
  at: number;
  server: string;
  Tc: number;
  termination: string;
  retries: string;
}

/** One proxy under test, as the benchmark sees it. */
interface Target {
  name: string;
  port: number;
  /** Resolves with performance.now() when `server` is reported in `state` after wall time `since`. */
  waitState(server: string, state: 'UP' | 'DOWN', since: number, timeoutMs: number): Promise<number>;
  /** Session log lines written in [from, to] (wall-clock ms). */
  sessions(from: number, to: number): SessionInfo[];
  stop(): Promise<void>;
}

// ---- warren ----------------------------------------------------------------------------------

async function warrenTarget(cluster: ClusterInfo): Promise<Target> {
  const p: RunningProxy = await startProxy(shippedConfig(cluster));
  const servers = p.proxy.backends.get(BACKEND)!.servers;
  const end = Date.now() + 15_000;
  while (servers.some((s) => s.lastCheck === null || !s.usable)) {
    if (Date.now() > end) throw new Error(`warren: servers not all checked and UP: ${servers.map((s) => s.status).join(', ')}`);
    await sleep(50);
  }
  return {
    name: 'warren',
    port: p.port(BACKEND),
    async waitState(server, state, since, timeoutMs) {
      await p.waitLog((l) => l.server === `${BACKEND}/${server}` && l.state === state && Date.parse(String(l.time)) >= since, timeoutMs);
      return performance.now();
    },
    sessions(from, to) {
      return p.logs
        .filter((l) => l.msg === 'session')
        .map((l) => ({ at: Date.parse(String(l.time)), server: String(l.server), Tc: Number(l.Tc), termination: String(l.termination_state), retries: String(l.retries) }))
        .filter((s) => s.at >= from && s.at <= to);
    },
    stop: () => p.stop(),
  };
}

// ---- HAProxy ---------------------------------------------------------------------------------

// `option tcplog`: client [date] frontend backend/server Tw/Tc/Tt bytes state act/fe/be/srv/retries sq/bq
const HAPROXY_SESSION = /^\S+ \[[^\]]+\] \S+ (\S+)\/(\S+) (-?\d+)\/(-?\d+)\/(\+?-?\d+) \d+ (\S{2}) \d+\/\d+\/\d+\/\d+\/(\+?\d+) \d+\/\d+$/;

function haproxyConfig(cluster: ClusterInfo, port: number, socket: string): string {
  return `global
  maxconn 4096
  log stdout format raw local0 info
  stats socket ${socket} mode 600 level admin

defaults
  mode tcp
  log global
  option tcplog
  option redispatch
  retries 3
  timeout connect 5s
  timeout client 3h
  timeout server 3h
  timeout check 2s

listen ${BACKEND}
  bind 127.0.0.1:${port}
  balance roundrobin
${cluster.nodes.map((n, i) => `  server rabbit${i + 1} ${n.host}:${n.amqpPort} check inter 2s fall 3 rise 2`).join('\n')}
`;
}

function showStat(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socket });
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.end('show stat\n');
  });
}

async function haproxyTarget(cluster: ClusterInfo): Promise<Target> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'warren-bench-haproxy-'));
  const socket = path.join(dir, 'stats.sock');
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(cluster, port, socket));
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sessions: SessionInfo[] = [];
  const stderr: string[] = [];
  let exited = false;
  child.on('exit', () => (exited = true));
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = HAPROXY_SESSION.exec(line);
      if (m && m[1] === BACKEND) sessions.push({ at: Date.now(), server: m[2]!, Tc: Number(m[4]), termination: m[6]!, retries: m[7]! });
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => stderr.push(d));

  // The stats socket, polled every 50 ms: every status change, stamped with performance.now().
  const changes: { server: string; status: string; t: number; wall: number }[] = [];
  const last = new Map<string, string>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const csv = await showStat(socket);
        const [head, ...rows] = csv.trim().split('\n');
        const cols = head!.replace(/^# /, '').split(',');
        const ix = { px: cols.indexOf('pxname'), sv: cols.indexOf('svname'), st: cols.indexOf('status') };
        const t = performance.now();
        for (const row of rows) {
          const f = row.split(',');
          if (f[ix.px] !== BACKEND || f[ix.sv] === 'FRONTEND' || f[ix.sv] === 'BACKEND') continue;
          const status = f[ix.st]!;
          if (last.get(f[ix.sv]!) !== status) {
            last.set(f[ix.sv]!, status);
            changes.push({ server: f[ix.sv]!, status, t, wall: Date.now() });
          }
        }
      } catch {
        /* not listening yet */
      }
      await sleep(50);
    }
  })();

  const end = Date.now() + 15_000;
  while (!(cluster.nodes.every((_, i) => last.get(`rabbit${i + 1}`) === 'UP'))) {
    if (exited || Date.now() > end) throw new Error(`haproxy did not come up with every server UP: ${[...last.entries()].join(' ')} ${stderr.join('')}`);
    await sleep(50);
  }
  return {
    name: 'HAProxy 2.6',
    port,
    async waitState(server, state, since, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // 'DOWN' exactly (not 'DOWN 1/2'), 'UP' exactly (not 'UP 2/3').
        const hit = changes.find((c) => c.server === server && c.status === state && c.wall >= since);
        if (hit) return hit.t;
        if (Date.now() > deadline) throw new Error(`haproxy: ${server} not ${state} within ${timeoutMs} ms`);
        await sleep(10);
      }
    },
    sessions(from, to) {
      return sessions.filter((s) => s.at >= from && s.at <= to);
    },
    async stop() {
      polling = false;
      await poller;
      if (!exited) {
        child.kill('SIGTERM'); // our own child, by its handle
        await new Promise<void>((r) => (exited ? r() : child.once('exit', () => r())));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- clients ---------------------------------------------------------------------------------

interface Churn {
  /** Completed connect/createChannel/close cycles: when, and how long the cycle took. */
  ok: { t: number; ms: number }[];
  failed: { t: number; error: string }[];
  stop(): Promise<void>;
}

function startChurn(port: number, cluster: ClusterInfo, loops = 3): Churn {
  const url = `amqp://${cluster.user}:${cluster.password}@127.0.0.1:${port}`;
  const churn: Churn = { ok: [], failed: [], stop: async () => {} };
  let running = true;
  const once = async (): Promise<void> => {
    let conn: Awaited<ReturnType<typeof amqp.connect>> | null = null;
    const start = performance.now();
    try {
      conn = await amqp.connect(url, { timeout: 5000 });
      conn.on('error', () => {});
      const ch = await conn.createChannel();
      await ch.close();
      await conn.close();
      churn.ok.push({ t: performance.now(), ms: performance.now() - start });
    } catch (err) {
      churn.failed.push({ t: performance.now(), error: err instanceof Error ? err.message : String(err) });
      try {
        await conn?.close();
      } catch {
        /* already gone */
      }
    }
  };
  const loop = async (): Promise<void> => {
    while (running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        once(),
        new Promise<void>((r) => {
          timer = setTimeout(() => {
            churn.failed.push({ t: performance.now(), error: 'no answer within 15 s' });
            r();
          }, 15_000);
        }),
      ]);
      clearTimeout(timer);
    }
  };
  const all = Promise.all(Array.from({ length: loops }, loop));
  churn.stop = async () => {
    running = false;
    await all;
  };
  return churn;
}

// ---- rounds ----------------------------------------------------------------------------------

interface Round {
  victim: string;
  killToDownMs: number;
  /** Session lines with Tc -1 between the kill and the restart: never reached a broker. */
  connectFailures: number;
  clientFailures: number;
  /** Sessions that needed a retry or redispatch to reach a broker. */
  retried: number;
  connects: number;
  /** The slowest successful cycle that ended between the kill and the restart. */
  slowestMs: number;
  restartToUpMs: number;
  readyToUpMs: number;
  errors: string[];
}

async function runRounds(cluster: ClusterInfo, target: Target, rounds: number): Promise<Round[]> {
  const churn = startChurn(target.port, cluster);
  const out: Round[] = [];
  try {
    await sleep(2000);
    for (let r = 0; r < rounds; r++) {
      const victimIndex = r % cluster.nodes.length;
      const victim = `rabbit${victimIndex + 1}`;
      const wallKill = Date.now();
      const tKill = performance.now();
      const okBefore = churn.ok.length;
      const failedBefore = churn.failed.length;
      await killNode(cluster, victimIndex);
      const tDown = await target.waitState(victim, 'DOWN', wallKill - 5, 30_000);
      await sleep(AFTER_DOWN_MS);
      const wallRestart = Date.now();
      const sessions = target.sessions(wallKill, wallRestart);
      const failed = churn.failed.slice(failedBefore).filter((f) => f.t >= tKill);
      const round: Round = {
        victim,
        killToDownMs: tDown - tKill,
        connectFailures: sessions.filter((s) => s.Tc === -1).length,
        clientFailures: failed.length,
        retried: sessions.filter((s) => s.retries !== '0').length,
        connects: churn.ok.length - okBefore,
        slowestMs: Math.max(0, ...churn.ok.slice(okBefore).map((o) => o.ms)),
        restartToUpMs: 0,
        readyToUpMs: 0,
        errors: [...new Set(failed.map((f) => f.error))],
      };
      const tRestart = performance.now();
      await startNode(cluster, victimIndex);
      const tReady = performance.now();
      const tUp = await target.waitState(victim, 'UP', wallRestart, 60_000);
      round.restartToUpMs = tUp - tRestart;
      round.readyToUpMs = tUp - tReady;
      out.push(round);
      log(
        `${target.name} round ${r + 1}: ${victim} kill->DOWN ${round.killToDownMs.toFixed(0)} ms, Tc -1: ${round.connectFailures}, ` +
          `client failures: ${round.clientFailures}${round.errors.length ? ` (${round.errors.join('; ')})` : ''}, restart->UP ${(round.restartToUpMs / 1000).toFixed(1)} s`,
      );
      await sleep(2000);
    }
  } finally {
    await churn.stop();
  }
  return out;
}

function roundsTable(rounds: Round[]): string {
  return markdownTable(
    ['round', 'victim', 'kill→DOWN ms', 'connect failures (Tc -1)', 'client-visible failures', 'retried/redispatched', 'cycles kill→restart', 'slowest cycle ms', 'restart→UP s', 'node ready→UP s'],
    rounds.map((r, i) => [
      i + 1,
      r.victim,
      r.killToDownMs.toFixed(0),
      r.connectFailures,
      r.clientFailures,
      r.retried,
      r.connects,
      r.slowestMs.toFixed(0),
      (r.restartToUpMs / 1000).toFixed(1),
      (r.readyToUpMs / 1000).toFixed(1),
    ]),
  );
}

async function main(): Promise<void> {
  const rounds = numberOption('rounds', 5);
  const runWarren = !flag('no-warren');
  const runHaproxy = !flag('no-haproxy') && existsSync(HAPROXY);
  if (!flag('no-haproxy') && !runHaproxy) log(`${HAPROXY} not found: HAProxy comparison skipped`);
  const t0 = Date.now();
  const { cluster, stop } = await benchCluster();
  const onSignal = (): void => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: { target: string; rounds: Round[] }[] = [];
  try {
    await sleep(3000);
    const makers: [boolean, () => Promise<Target>][] = [
      [runWarren, () => warrenTarget(cluster)],
      [runHaproxy, () => haproxyTarget(cluster)],
    ];
    for (const [enabled, make] of makers) {
      if (!enabled) continue;
      const target = await make();
      log(`${target.name}: ${rounds} rounds on port ${target.port}`);
      try {
        results.push({ target: target.name, rounds: await runRounds(cluster, target, rounds) });
      } finally {
        await target.stop();
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }

  const out: string[] = [];
  for (const r of results) {
    out.push(`## ${r.target}: kill -9 of a broker under 3 amqplib connect/createChannel/close loops`);
    out.push('');
    out.push(roundsTable(r.rounds));
    out.push('');
  }
  const metrics: [string, (x: Round) => number, number][] = [
    ['kill -9 → DOWN (ms)', (x) => x.killToDownMs, 0],
    ['connect failures (sessions with Tc -1)', (x) => x.connectFailures, 0],
    ['client-visible failures', (x) => x.clientFailures, 0],
    ['sessions retried/redispatched', (x) => x.retried, 0],
    ['slowest client cycle kill→restart (ms)', (x) => x.slowestMs, 0],
    ['restart → UP (s)', (x) => x.restartToUpMs / 1000, 1],
    ['node ready → UP (s)', (x) => x.readyToUpMs / 1000, 1],
  ];
  out.push('## Summary (min / median / max over the rounds)');
  out.push('');
  out.push(markdownTable(['metric', ...results.map((r) => r.target)], metrics.map(([name, f, digits]) => [name, ...results.map((r) => spread(r.rounds.map(f), digits))])));
  out.push('');
  out.push(
    'warren: config/haproxy.yaml (amqp-check with login, inter 2s fastinter 200ms rise 2 fall 3, observe layer4, redispatch, retries 3), DOWN/UP from its log lines. ' +
      'HAProxy: inter 2s fall 3 rise 2, TCP check, redispatch, retries 3, DOWN/UP from `show stat` polled every 50 ms. ' +
      '"node ready": `rabbitmqctl wait` passed and the node rejoined the cluster (UP can come before that: negative).',
  );
  out.push('');
  out.push(`(total run ${Math.round((Date.now() - t0) / 1000)} s)`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`kill-to-down: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
