// `nbthread N` (N > 1): one primary process and N worker processes (node:cluster).
//
// Why processes: a Node process runs its JavaScript on one core; the data path (accept, connect,
// pipe, close) is JavaScript, so a second core is only used by a second process. HAProxy's
// `nbthread` is the keyword its operators know for "use N cores"; warren keeps it and runs N
// worker processes.
//
// Who does what:
//   - The primary runs what must exist once: the health checks (a broker sees one checker, not
//     N), the authoritative server state (health, drain/maint, weight, slowstart), the stats
//     listeners, the runtime API, and reload (SIGHUP) and stop (SIGTERM/SIGINT), which it
//     coordinates. It runs a Proxy that never listens on a frontend and has no sessions.
//   - A worker runs a Proxy with the frontends, sessions, balancers and queues, and no checks
//     (Server.remote carries the primary's verdict). It gets its config from the primary (it
//     never reads the file: every worker runs what the primary validated).
//
// Listeners: node:cluster with SCHED_NONE. The primary binds each listening socket once and
// hands the handle to every worker; the workers accept on it themselves, the kernel waking one
// of them per connection. The primary is not on the data path. (Cluster's default on Linux,
// SCHED_RR, has the primary accept every connection and pass it on: one more process hop and
// an IPC message per connection, on the same 2 cores — see the measurements in the report /
// NODE_CLUSTER_SCHED_POLICY=rr to compare. SO_REUSEPORT (`reusePort`) needs Node ≥ 22.12.)
// The kernel's choice is not a strict round robin: a busy worker wakes later and takes fewer.
// Measured on the 2-core dev machine (shared with wrk and nginx; wrk -c 50, Connection: close,
// 3 s runs, so a direction, not a benchmark): one process ~5.2k conn/s at ~200 µs CPU/conn;
// nbthread 2 with SCHED_NONE ~6.9k (1.3×) at ~190 µs/conn, accepts split 48/52 between the
// workers; with SCHED_RR ~3.5-3.9k at ~370-420 µs/conn (the primary's accept and the handle
// passing double the CPU per connection): too costly, hence SCHED_NONE.
//
// State flows one way each: server state primary → workers, when it changes (coalesced to one
// message per event-loop turn); counters workers → primary, one snapshot per worker every
// SNAPSHOT_INTERVAL_MS, summed into the primary's counters, which the stats page, CSV, metrics
// and runtime API read as usual (they lag by at most that interval). Session-level facts a
// check needs (observe layer4, "the server reset us: check now") go worker → primary as they
// happen (errors only; successes at most one per server per snapshot interval).
//
// Per worker, documented approximations:
//   - Balancing: each worker has its own balancer. roundrobin and static-rr stay fair overall
//     (each worker cycles through the servers); leastconn counts the worker's own sessions
//     only; source hashing is identical in every worker; `first` fills per worker.
//   - Limits: global, frontend and server maxconn are split between the workers (ipc.ts,
//     workerConfig); queues are per worker.
//   - A worker that dies is restarted by the primary (its sessions are lost, the other workers'
//     are not; its counted totals are kept). If the primary dies, node:cluster ends the workers.

import cluster, { type Worker } from 'node:cluster';
import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import { holdYoungGeneration } from './memory.js';
import { CounterSum, FLUSH_TIMEOUT_MS, serverStates, SNAPSHOT_INTERVAL_MS, takeSnapshot, workerConfig, type ClusterLink, type ToPrimary, type ToWorker, type WorkerInfo } from './ipc.js';
import { Proxy } from './proxy.js';
import type { Server } from './server.js';

/** The primary: a Proxy (checks, stats, runtime API, no listening) and its workers. */
export class Primary implements ClusterLink {
  readonly role = 'primary';
  readonly proxy: Proxy;
  private readonly procs = new Map<number, { worker: Worker; startedAt: number; ready: boolean; synced: number; failed: (err: Error) => void }>();
  /** The first workers are starting: one that dies fails the start instead of being restarted. */
  private starting = true;
  private syncSeq = 0;
  private readonly syncWaiters: { n: number; resolve: () => void }[] = [];
  private readonly sum = new CounterSum();
  private stateQueued = false;
  private stopping = false;
  private readonly count: number;
  private onExitAll: (() => void) | null = null;
  private restarts = 0;

  constructor(config: ProxyConfig, private readonly log: Logger) {
    this.count = config.global.nbthread;
    this.proxy = new Proxy(config, log, this);
    this.proxy.addressGate.onChange = () => this.broadcast({ t: 'gate', addresses: this.proxy.addressGate.list().map((a) => a.address) });
  }

  /** Start the checks and stats, then the workers; resolves when every worker listens. */
  async start(): Promise<void> {
    await this.proxy.start();
    // Workers accept on the shared sockets themselves (see the file comment), unless the
    // operator asked node for another policy.
    if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ serialization: 'advanced' });
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.count; i++) ready.push(this.fork());
    try {
      await Promise.all(ready);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    this.starting = false;
    this.log.info({ workers: this.count, workerPids: [...this.procs.values()].map((w) => w.worker.process.pid) }, `started ${this.count} worker processes (nbthread ${this.count})`);
  }

  private fork(): Promise<void> {
    const worker = cluster.fork({ WARREN_WORKER: '1' });
    const rec = { worker, startedAt: Date.now(), ready: false, synced: this.syncSeq, failed: (_err: Error) => {} };
    this.procs.set(worker.id, rec);
    return new Promise<void>((resolve, reject) => {
      rec.failed = reject;
      worker.on('message', (m: ToPrimary) => {
        switch (m.t) {
          case 'hello':
            this.send(worker, {
              t: 'init',
              config: workerConfig(this.proxy.config, this.count),
              servers: serverStates(this.proxy),
              gate: this.proxy.addressGate.list().map((a) => a.address),
            });
            return;
          case 'ready':
            rec.ready = true;
            this.log.info({ worker: worker.id, workerPid: worker.process.pid }, `worker ${worker.id} (pid ${worker.process.pid}) is serving`);
            return resolve();
          case 'failed':
            this.log.error({ worker: worker.id, workerPid: worker.process.pid, error: m.error }, `worker ${worker.id} cannot start: ${m.error}`);
            return reject(new Error(m.error));
          case 'stats':
            this.sum.update(worker.id, m.snap);
            this.sum.applyTo(this.proxy);
            return;
          case 'passive':
            return this.onPassive(m.backend, m.server, m.kind, m.hard);
          case 'synced':
            rec.synced = m.n;
            return this.checkSynced();
          case 'reloaded':
            // The primary applied the reload before passing it on; a worker that cannot (a bind
            // that fails there) keeps its old config: say so loudly, a restart settles it.
            if (m.status === 'failed') {
              this.log.error({ worker: worker.id, workerPid: worker.process.pid, error: m.error }, `worker ${worker.id} could not apply the reload (${m.error}): it runs the previous config; restart warren to converge`);
            }
            return;
        }
      });
    });
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    const rec = this.procs.get(w.id);
    this.procs.delete(w.id);
    this.sum.exited(w.id);
    this.sum.applyTo(this.proxy);
    this.checkSynced();
    if (rec && !rec.ready) rec.failed(new Error(`worker ${w.id} exited while starting (${signal ? `signal ${signal}` : `code ${code}`})`));
    if (this.stopping || this.starting) {
      this.log.info({ worker: w.id, workerPid: w.process.pid, code }, `worker ${w.id} (pid ${w.process.pid}) stopped`);
      if (this.procs.size === 0) this.onExitAll?.();
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    // A worker that dies right after starting again and again: slow down rather than spin.
    const quick = rec !== undefined && Date.now() - rec.startedAt < 2000;
    const delay = quick ? Math.min(5000, 250 * 2 ** Math.min(this.restarts++, 4)) : ((this.restarts = 0), 0);
    this.log.error({ worker: w.id, workerPid: w.process.pid, code, signal, restartInMs: delay }, `worker ${w.id} (pid ${w.process.pid}) exited with ${how}: restarting it`);
    setTimeout(() => {
      if (this.stopping) return;
      this.fork().catch((err: unknown) => this.log.error({ err }, 'restarted worker cannot start'));
    }, delay);
  }

  private onPassive(backend: string, server: string, kind: 'ok' | 'connect' | 'data', hard: boolean): void {
    const sv = this.proxy.backends.get(backend)?.servers.find((s) => s.config.name === server);
    if (!sv) return;
    // The primary's Server runs the checks: feed it as a session in this process would.
    if (kind === 'ok') sv.connectSucceeded();
    else if (kind === 'connect') sv.connectFailed(hard);
    else sv.dataError(false);
  }

  private send(w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m);
  }

  private broadcast(m: ToWorker): void {
    for (const { worker } of this.procs.values()) this.send(worker, m);
  }

  // ---- ClusterLink --------------------------------------------------------------------------

  serverChanged(): void {
    this.queueState();
  }

  private queueState(): void {
    // Several changes in one turn (a reload, a backend going DOWN) make one message.
    if (this.stateQueued) return;
    this.stateQueued = true;
    setImmediate(() => {
      this.stateQueued = false;
      this.broadcast({ t: 'state', servers: serverStates(this.proxy) });
    });
  }

  shutdownSessions(server: Server): void {
    this.broadcast({ t: 'shutdown-server', backend: server.backend.config.name, server: server.config.name });
  }

  shutdownSessionsTo(address: string): void {
    this.broadcast({ t: 'shutdown-to', address });
  }

  passive(): void {}

  flush(): Promise<void> {
    if (this.procs.size === 0) return Promise.resolve();
    const n = ++this.syncSeq;
    this.broadcast({ t: 'sync', n });
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.log.warn({ waitedMs: FLUSH_TIMEOUT_MS }, 'a worker did not acknowledge a runtime API action in time');
        resolve();
      }, FLUSH_TIMEOUT_MS);
      this.syncWaiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      this.checkSynced();
    });
  }

  private checkSynced(): void {
    if (this.syncWaiters.length === 0) return;
    let low = Infinity;
    for (const p of this.procs.values()) low = Math.min(low, p.synced);
    for (let i = this.syncWaiters.length - 1; i >= 0; i--) if (this.syncWaiters[i]!.n <= low) this.syncWaiters.splice(i, 1)[0]!.resolve();
  }

  workers(): WorkerInfo[] {
    const now = Date.now();
    return [...this.procs.values()].map(({ worker, startedAt }) => ({
      id: worker.id,
      pid: worker.process.pid ?? 0,
      ...(this.sum.processOf(worker.id) ?? { cur: 0, total: 0, rate: 0 }),
      uptimeSec: Math.floor((now - startedAt) / 1000),
    }));
  }

  reloaded(next: ProxyConfig): void {
    if (next.global.nbthread !== this.count) {
      this.log.warn({ nbthread: next.global.nbthread, running: this.count }, `nbthread changed to ${next.global.nbthread}: the number of worker processes changes at the next restart (${this.count} keep running)`);
    }
    this.broadcast({ t: 'reload', config: workerConfig(next, this.count) });
    this.queueState();
  }

  // ---- stop ---------------------------------------------------------------------------------

  /** Graceful stop: every worker stops accepting and lets its sessions finish (up to
   *  hard-stop-after); then the primary's checks, stats and runtime API stop. */
  async stop(graceMs: number | null = this.proxy.config.global.hardStopAfter): Promise<void> {
    this.stopping = true;
    if (this.procs.size > 0) {
      const all = new Promise<void>((resolve) => (this.onExitAll = resolve));
      this.broadcast({ t: 'stop' });
      // A worker that does not answer (stuck) is killed after its grace period, plus a margin.
      const kill = graceMs === null ? null : setTimeout(() => {
        for (const { worker } of this.procs.values()) worker.process.kill('SIGKILL');
      }, graceMs + 5000);
      await all;
      if (kill) clearTimeout(kill);
    }
    await this.proxy.stop(0);
  }

  get pids(): number[] {
    return [...this.procs.values()].map((w) => w.worker.process.pid!);
  }
}

/**
 * A worker: wait for the primary's config and server state, listen, serve; send counters; apply
 * state changes, reloads and runtime API actions; stop when told.
 */
export function runWorker(log: Logger): void {
  holdYoungGeneration();
  let proxy: Proxy | null = null;
  let stopping = false;
  const oks = new Set<Server>();
  const link: ClusterLink = {
    role: 'worker',
    serverChanged: () => {},
    shutdownSessions: () => {},
    shutdownSessionsTo: () => {},
    reloaded: () => {},
    passive(server, kind, hard) {
      if (kind === 'ok') return void oks.add(server); // sent with the next snapshot
      toPrimary({ t: 'passive', backend: server.backend.config.name, server: server.config.name, kind, hard });
    },
  };
  const toPrimary = (m: ToPrimary): void => {
    if (process.connected) process.send!(m);
  };
  const applyState = (servers: [string, string, boolean, Server['admin'], number][]): void => {
    for (const [b, s, up, admin, weight] of servers) proxy?.backends.get(b)?.servers.find((x) => x.config.name === s)?.applyRemote(up, admin, weight);
  };
  const applyGate = (addresses: string[]): void => {
    if (!proxy) return;
    const want = new Set(addresses);
    for (const a of proxy.addressGate.list()) if (!want.has(a.address)) proxy.addressGate.enable(a.address);
    for (const a of want) proxy.addressGate.disable(a);
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (!proxy) process.exit(0); // told to stop before it got its config: nothing to wait for
    proxy.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.fatal({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };

  process.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'init': {
        if (stopping) return;
        proxy = new Proxy(m.config, log, link);
        applyState(m.servers);
        applyGate(m.gate);
        proxy.start().then(
          () => {
            toPrimary({ t: 'ready' });
            setInterval(() => {
              if (!proxy) return;
              toPrimary({ t: 'stats', snap: takeSnapshot(proxy) });
              for (const s of oks) toPrimary({ t: 'passive', backend: s.backend.config.name, server: s.config.name, kind: 'ok', hard: false });
              oks.clear();
            }, SNAPSHOT_INTERVAL_MS).unref();
          },
          (err: unknown) => {
            toPrimary({ t: 'failed', error: (err as Error).message });
            process.exit(1);
          },
        );
        return;
      }
      case 'state':
        return applyState(m.servers);
      case 'reload':
        if (proxy && !stopping) {
          void proxy.reload(m.config).then((o) => toPrimary({ t: 'reloaded', status: o.status, ...(o.status === 'failed' ? { error: o.error } : {}) }));
        }
        return;
      case 'gate':
        return applyGate(m.addresses);
      case 'shutdown-server': {
        const sv = proxy?.backends.get(m.backend)?.servers.find((x) => x.config.name === m.server);
        if (sv) log.info({ server: sv.id, sessions: sv.shutdownSessions() }, `Server ${sv.id}: sessions shut down (runtime API)`);
        return;
      }
      case 'shutdown-to':
        if (proxy) log.info({ address: m.address, sessions: proxy.shutdownSessionsTo(m.address) }, `sessions to ${m.address} shut down (runtime API)`);
        return;
      case 'sync':
        // Everything sent before it has been handled (messages are handled in order).
        return toPrimary({ t: 'synced', n: m.n });
      case 'stop':
        return stop();
    }
  });
  // The primary receives the operator's signals (and Ctrl-C reaches the whole process group):
  // a worker waits for the primary's 'stop' instead of stopping on its own, and ignores SIGHUP.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => {});
  process.on('unhandledRejection', (err) => log.fatal({ err }, 'unhandled promise rejection'));
  toPrimary({ t: 'hello' });
}

export function isWorkerProcess(): boolean {
  return cluster.isWorker && process.env.WARREN_WORKER === '1';
}
