// nbthread > 1: what the primary and its worker processes say to each other (see workers.ts for
// the model), and the pure parts of it: the config a worker runs, counter snapshots and their sum.
//
// Messages go over node:cluster's IPC channel with `serialization: 'advanced'` (structured
// clone: a ProxyConfig with Infinity or nested arrays arrives as it left). Nothing is sent per
// session: server state goes primary → workers when it changes (coalesced), counters go
// workers → primary as one snapshot every SNAPSHOT_INTERVAL_MS.

import type { ProxyConfig } from '../config/types.js';
import type { Proxy } from './proxy.js';
import type { ReloadOutcome } from './reload.js';
import type { AdminState, Server } from './server.js';

/** How often a worker sends its counters: the stats page and runtime API lag by at most this. */
export const SNAPSHOT_INTERVAL_MS = 200;
export const FLUSH_TIMEOUT_MS = 1000;

/** What a Proxy (and its backends and servers) calls when it is one process of several. */
export interface ClusterLink {
  readonly role: 'primary' | 'worker';
  /** Primary: a server's health, admin state or weight changed; the workers must learn it. */
  serverChanged(server: Server): void;
  /** Primary: runtime API `shutdown sessions server` (the sessions are in the workers). */
  shutdownSessions(server: Server): void;
  /** Primary: runtime API `shutdown sessions to ADDR`. */
  shutdownSessionsTo(address: string): void;
  /** Worker: what a session learned about a server (observe layer4, errors → check now). */
  passive(server: Server, kind: 'ok' | 'connect' | 'data', hard: boolean): void;
  /** A reload was applied (primary: pass it on to the workers). */
  reloaded(next: ProxyConfig): void;
  /** Primary: the workers and their own counters (runtime API `show workers`). */
  workers?(): WorkerInfo[];
  /** Primary: resolves once every worker has handled every message sent so far (at most
   *  FLUSH_TIMEOUT_MS): the runtime API ends its answer after it, so that `disable address A;
   *  shutdown sessions to A` has taken effect in the workers when the caller (warren vrrp,
   *  about to remove the VIP) reads the end of the answer. */
  flush?(): Promise<void>;
}

export interface WorkerInfo {
  id: number;
  pid: number;
  /** Sessions now open, sessions so far, sessions per second (its last snapshot). */
  cur: number;
  total: number;
  rate: number;
  uptimeSec: number;
}

/** [backend, server, up, admin, effective weight] */
export type ServerState = [string, string, boolean, AdminState, number];

export type ToWorker =
  | { t: 'init'; config: ProxyConfig; servers: ServerState[]; gate: string[] }
  | { t: 'state'; servers: ServerState[] }
  | { t: 'reload'; config: ProxyConfig }
  | { t: 'gate'; addresses: string[] }
  | { t: 'shutdown-server'; backend: string; server: string }
  | { t: 'shutdown-to'; address: string }
  | { t: 'sync'; n: number }
  | { t: 'stop' };

export type ToPrimary =
  | { t: 'hello' }
  | { t: 'synced'; n: number }
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  | { t: 'stats'; snap: Snapshot }
  | { t: 'reloaded'; status: ReloadOutcome['status']; error?: string }
  | { t: 'passive'; backend: string; server: string; kind: 'ok' | 'connect' | 'data'; hard: boolean };

/**
 * The config a worker runs: no stats listeners and no runtime API (the primary serves them), and
 * the connection limits split between the workers, so that their sum stays within what the
 * config says (rounded up: N workers may exceed a limit by at most N-1). A worker whose share is
 * full queues (or, for maxconn, holds the connection accepted-paused) even if another worker
 * has room: the limits are per worker, not shared — HAProxy's threads share theirs.
 */
export function workerConfig(config: ProxyConfig, workers: number): ProxyConfig {
  const share = (n: number): number => (n <= 0 ? n : Math.max(1, Math.ceil(n / workers)));
  return {
    ...config,
    global: { ...config.global, maxconn: share(config.global.maxconn), statsSocket: null },
    stats: [],
    frontends: config.frontends.map((f) => ({ ...f, maxconn: share(f.maxconn) })),
    backends: config.backends.map((b) => ({ ...b, servers: b.servers.map((s) => ({ ...s, maxconn: share(s.maxconn) })) })),
  };
}

export function serverStates(proxy: Proxy): ServerState[] {
  const out: ServerState[] = [];
  for (const be of proxy.backends.values()) for (const s of be.servers) out.push([be.config.name, s.config.name, s.up, s.admin, s.weight]);
  return out;
}

// ---- counters ---------------------------------------------------------------------------------

/**
 * One worker's counters, flat: key → numbers in the layout below. Keys: `P` (the process),
 * `F name`, `B name`, `S backend/server`.
 */
export type Snapshot = Record<string, number[]>;

// Layout of each entry. Gauges (a dead worker's go away), maxima (max of the workers), the rest
// are sums (a dead worker's totals are kept).
const CUR = 0, MAX = 1, TOTAL = 2, BIN = 3, BOUT = 4, RATE = 5, DENIED_ECON = 6, ERESP = 7, RETR = 8, REDISP = 9, KILLED = 10, LAST = 11, Q = 12, QMAX = 13;
const WIDTH = 14;
const GAUGES = [CUR, RATE, Q];
const MAXIMA = [MAX, LAST, QMAX];

interface Tc {
  cur: number;
  max: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
  rate: { read(now: number): number };
}

function entry(c: Tc, now: number): number[] {
  const e = new Array<number>(WIDTH).fill(0);
  e[CUR] = c.cur;
  e[MAX] = c.max;
  e[TOTAL] = c.total;
  e[BIN] = c.bytesIn;
  e[BOUT] = c.bytesOut;
  e[RATE] = c.rate.read(now);
  return e;
}

/** A worker's counters now. */
export function takeSnapshot(proxy: Proxy, now = Date.now()): Snapshot {
  const snap: Snapshot = { P: entry(proxy.limit.counters, now) };
  for (const fe of proxy.frontends) {
    const e = entry(fe.counters, now);
    e[DENIED_ECON] = fe.denied;
    e[Q] = fe.waitingCount;
    snap[`F ${fe.config.name}`] = e;
  }
  for (const be of proxy.backends.values()) {
    const e = entry(be.counters, now);
    e[Q] = be.queue.length;
    e[QMAX] = be.queue.max;
    snap[`B ${be.config.name}`] = e;
    for (const s of be.servers) {
      const c = s.counters;
      const v = entry(c, now);
      v[DENIED_ECON] = c.connectErrors;
      v[ERESP] = c.responseErrors;
      v[RETR] = c.retries;
      v[REDISP] = c.redispatches;
      v[KILLED] = c.killed;
      v[LAST] = s.lastSessionAt ?? 0;
      v[Q] = s.queue.length;
      v[QMAX] = s.queue.max;
      snap[`S ${be.config.name}/${s.config.name}`] = v;
    }
  }
  return snap;
}

/** Sum of the live workers' snapshots plus what the exited ones had counted. */
export class CounterSum {
  private readonly live = new Map<number, Snapshot>();
  /** Totals of exited workers (gauges zero). */
  private readonly gone: Snapshot = {};

  /** The last snapshot of a live worker's whole process (the `P` entry), or null. */
  processOf(worker: number): { cur: number; total: number; rate: number } | null {
    const e = this.live.get(worker)?.P;
    return e ? { cur: e[CUR]!, total: e[TOTAL]!, rate: e[RATE]! } : null;
  }

  update(worker: number, snap: Snapshot): void {
    this.live.set(worker, snap);
  }

  /** A worker exited: its sessions are gone, what it counted stays. */
  exited(worker: number): void {
    const snap = this.live.get(worker);
    this.live.delete(worker);
    if (!snap) return;
    for (const [k, e] of Object.entries(snap)) {
      const g = (this.gone[k] ??= new Array<number>(WIDTH).fill(0));
      combine(g, e);
      for (const i of GAUGES) g[i] = 0;
    }
  }

  sum(): Snapshot {
    const out: Snapshot = {};
    for (const src of [this.gone, ...this.live.values()]) {
      for (const [k, e] of Object.entries(src)) combine((out[k] ??= new Array<number>(WIDTH).fill(0)), e);
    }
    return out;
  }

  /** Write the sum into the primary's counters (which count nothing themselves: no sessions). */
  applyTo(proxy: Proxy): void {
    const sum = this.sum();
    const zero = new Array<number>(WIDTH).fill(0);
    const put = (c: Tc & { rate: { ext: number | null; max: number } }, e: number[]): void => {
      c.cur = e[CUR]!;
      // The peak of the sum is not seen between snapshots: keep the best lower bound known.
      c.max = Math.max(c.max, e[MAX]!, e[CUR]!);
      c.total = e[TOTAL]!;
      c.bytesIn = e[BIN]!;
      c.bytesOut = e[BOUT]!;
      c.rate.ext = e[RATE]!;
      c.rate.max = Math.max(c.rate.max, e[RATE]!);
    };
    put(proxy.limit.counters, sum.P ?? zero);
    for (const fe of proxy.frontends) {
      const e = sum[`F ${fe.config.name}`] ?? zero;
      put(fe.counters, e);
      fe.denied = e[DENIED_ECON]!;
    }
    for (const be of proxy.backends.values()) {
      const e = sum[`B ${be.config.name}`] ?? zero;
      put(be.counters, e);
      be.queue.length = e[Q]!;
      be.queue.max = Math.max(be.queue.max, e[QMAX]!);
      for (const s of be.servers) {
        const v = sum[`S ${be.config.name}/${s.config.name}`] ?? zero;
        const c = s.counters;
        put(c, v);
        c.connectErrors = v[DENIED_ECON]!;
        c.responseErrors = v[ERESP]!;
        c.retries = v[RETR]!;
        c.redispatches = v[REDISP]!;
        c.killed = v[KILLED]!;
        if (v[LAST]! > 0) s.lastSessionAt = v[LAST]!;
        s.queue.length = v[Q]!;
        s.queue.max = Math.max(s.queue.max, v[QMAX]!);
      }
    }
  }
}

function combine(into: number[], e: number[]): void {
  for (let i = 0; i < WIDTH; i++) into[i] = MAXIMA.includes(i) ? Math.max(into[i]!, e[i]!) : into[i]! + e[i]!;
}
