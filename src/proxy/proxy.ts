// `warren proxy`: wires a validated config into backends and frontends, starts the health
// checks and listeners, reloads in place (SIGHUP: see reload.ts), and stops gracefully (stop
// accepting, let sessions finish up to hard-stop-after, then close what is left).

import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import { AddressGate } from './address-gate.js';
import type { ClusterLink } from './ipc.js';
import { Backend } from './backend.js';
import { Frontend, ProcessLimit } from './frontend.js';
import { Listener } from './listeners.js';
import { planReload, type ReloadOutcome, type ReloadPlan } from './reload.js';
import type { ServerReconfig } from './server.js';
import { startStatsHttp, type PreparedStats, type StatsHttpHandle } from './stats/http-server.js';
import { startRuntimeApi, type RuntimeApi } from './stats/runtime-api.js';

export class Proxy {
  readonly backends = new Map<string, Backend>();
  readonly frontends: Frontend[] = [];
  /** Frontends a reload removed whose sessions are still open (not in the stats). */
  readonly retiredFrontends = new Set<Frontend>();
  readonly limit: ProcessLimit;
  /** Local addresses whose new connections are reset (runtime API `disable address`). */
  readonly addressGate = new AddressGate();
  readonly startedAt = Date.now();
  /** The stats listeners (`mode http` sections with `stats`/`monitor-uri`) and the runtime API. */
  readonly statsServers: StatsHttpHandle[] = [];
  runtimeApi: RuntimeApi | null = null;
  /** Reloads applied, and when the last one was. */
  reloads = 0;
  lastReloadAt: number | null = null;
  private stopping = false;
  /** nbthread > 1 (workers.ts): the primary runs the checks but does not listen; a worker
   *  listens but runs no checks. A single process (no `cluster`) does both. */
  readonly cluster: ClusterLink | null;
  private readonly listens: boolean;
  private readonly checks: boolean;

  constructor(
    /** The running config; a reload replaces it. */
    public config: ProxyConfig,
    private readonly log: Logger,
    cluster: ClusterLink | null = null,
  ) {
    this.cluster = cluster;
    this.listens = cluster?.role !== 'primary';
    this.checks = cluster?.role !== 'worker';
    this.limit = new ProcessLimit(config.global.maxconn);
    for (const bc of config.backends) this.backends.set(bc.name, this.newBackend(bc));
    for (const fc of config.frontends) this.frontends.push(new Frontend(fc, this.backends, this.limit, log, this.addressGate));
  }

  private newBackend(bc: ProxyConfig['backends'][number]): Backend {
    const be = new Backend(bc, this.log);
    be.cluster = this.cluster;
    return be;
  }

  get logger(): Logger {
    return this.log;
  }

  async start(): Promise<void> {
    // (A multi-process primary accepts no client: only the processes that listen need the room.)
    const fdWarning = this.listens ? this.limit.fdWarning() : null;
    if (fdWarning) this.log.warn({ nofile: this.limit.nofile, maxconn: this.limit.maxconn }, fdWarning);
    if (this.checks) for (const be of this.backends.values()) be.start();
    try {
      if (this.listens) for (const fe of this.frontends) await fe.listen();
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    try {
      for (const sc of this.config.stats) {
        const handle = await startStatsHttp(sc, this, this.log, this.statsOptions(this.config));
        this.statsServers.push(handle);
        this.log.info({ frontend: sc.name, binds: handle.addresses().map((a) => `${a.address}:${a.port}`), uri: sc.uri }, `Proxy ${sc.name} started.`);
      }
      if (this.config.global.statsSocket) this.runtimeApi = await startRuntimeApi(this.config.global.statsSocket, this, this.log);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    for (const fe of this.frontends) {
      this.log.info({ frontend: fe.config.name, binds: fe.addresses().map((a) => `${a.address}:${a.port}`) }, `Proxy ${fe.config.name} started.`);
    }
  }

  private statsOptions(config: ProxyConfig): { vrrpStatusUrl?: string } {
    return { vrrpStatusUrl: config.global.vrrpStatus ?? undefined };
  }

  /** Close every session (all frontends) whose client connected to local address `address`
   *  (normal form, see address-gate.ts); returns how many. */
  shutdownSessionsTo(address: string): number {
    // (A multi-process primary has no sessions: the workers close theirs; the count is theirs.)
    if (this.cluster?.role === 'primary') return this.cluster.shutdownSessionsTo(address), 0;
    let n = 0;
    for (const fe of this.frontends) n += fe.shutdownSessionsTo(address);
    for (const fe of this.retiredFrontends) n += fe.shutdownSessionsTo(address);
    return n;
  }

  get sessionCount(): number {
    return this.limit.counters.cur;
  }

  // ---- reload -------------------------------------------------------------------------------

  /**
   * Apply `next` (already validated) in place; see reload.ts for what is kept and what is reset.
   * Prepare first: every new listening socket is bound (and a new runtime API socket); if one
   * cannot be, they are closed again and nothing has changed ('failed'). Then commit, which does
   * not fail: backends and servers, frontends and their listeners, stats sections, and last the
   * sockets that had to wait for an old one on the same port to close.
   */
  async reload(next: ProxyConfig): Promise<ReloadOutcome> {
    if (this.stopping) {
      this.log.warn('reload ignored: the proxy is stopping');
      return { status: 'failed', error: 'the proxy is stopping', plan: null };
    }
    const t0 = performance.now();
    const plan = planReload(this.config, next);
    if (plan.empty) {
      this.log.info({ reload: 'unchanged' }, plan.summary);
      return { status: 'unchanged', plan };
    }

    // ---- prepare: bind what is new (all or nothing) ------------------------------------------
    const deferred = new Set(plan.listeners.opened.filter((l) => l.after.length > 0).map((l) => l.key));
    const openedTcp: { listener: Listener; owner: string }[] = [];
    const preparedStats = new Map<string, PreparedStats>();
    const startedStats = new Map<string, StatsHttpHandle>();
    let newApi: RuntimeApi | null = null;
    const oldStats = new Map(this.statsServers.map((h) => [h.name, h]));
    const statsOpts = this.statsOptions(next);
    const statsFate = new Map(plan.stats.map((s) => [s.name, s.fate]));
    const frontendConfigs = new Map(next.frontends.map((f) => [f.name, f]));
    try {
      for (const l of plan.listeners.opened) {
        if (l.kind !== 'frontend' || deferred.has(l.key)) continue;
        if (!this.listens) {
          // A multi-process primary: the workers will bind it (through the primary's cluster
          // module) after this reload is applied here. Try it now, so that a bind that fails
          // abandons the reload everywhere instead of leaving the workers on the old config.
          (await Listener.open(l, frontendConfigs.get(l.owner)!.backlog, this.log)).close();
          continue;
        }
        openedTcp.push({ listener: await Listener.open(l, frontendConfigs.get(l.owner)!.backlog, this.log), owner: l.owner });
      }
      for (const sc of next.stats) {
        const handle = oldStats.get(sc.name);
        if (handle) preparedStats.set(sc.name, await handle.prepare(sc, statsOpts, deferred));
        else if (!statsListenerDeferred(plan, sc.name, deferred)) startedStats.set(sc.name, await startStatsHttp(sc, this, this.log, statsOpts));
      }
      const api = plan.runtimeApi;
      if (api.action === 'start' || (api.action === 'restart' && !api.samePath)) newApi = await startRuntimeApi(api.to!, this, this.log);
      if (this.stopping) throw new Error('the proxy is stopping');
    } catch (err) {
      for (const o of openedTcp) o.listener.close();
      await Promise.all([...preparedStats.values()].map((p) => p.rollback()));
      await Promise.all([...startedStats.values()].map((h) => h.close()));
      await newApi?.close();
      const error = (err as Error).message;
      this.log.error({ err, reload: 'failed' }, `reload abandoned: ${error}; the running config is unchanged`);
      return { status: 'failed', error, plan };
    }

    // ---- commit ------------------------------------------------------------------------------
    // One line per change first (so that what follows from it, e.g. a backend that has a usable
    // server again, reads after it), with the sessions that removed things still carry.
    this.logPlan(plan, this.openSessions(plan));
    this.limit.maxconn = next.global.maxconn;

    // Backends and their servers.
    const nextBackends = new Map<string, Backend>();
    for (const bp of plan.backends) {
      if (bp.fate !== 'removed') continue;
      this.backends.get(bp.name)!.retire();
    }
    const backendPlans = new Map(plan.backends.map((b) => [b.name, b]));
    for (const bc of next.backends) {
      const bp = backendPlans.get(bc.name)!;
      let be = this.backends.get(bc.name);
      if (be && bp.fate === 'kept') {
        const kept = new Map<string, ServerReconfig>(bp.servers.kept.map((k) => [k.name, k.reconfig]));
        be.reconfigure(bc, { kept, rebalance: bp.rebalance });
      } else {
        be = this.newBackend(bc);
        if (this.checks) be.start();
      }
      nextBackends.set(bc.name, be);
    }
    this.backends.clear();
    for (const [name, be] of nextBackends) this.backends.set(name, be);

    // Frontends and their listeners.
    const oldFrontends = new Map(this.frontends.map((f) => [f.config.name, f]));
    const nextFrontends = new Map<string, Frontend>();
    for (const fc of next.frontends) {
      let fe = oldFrontends.get(fc.name);
      if (fe) fe.reconfigure(fc, this.backends);
      else fe = new Frontend(fc, this.backends, this.limit, this.log, this.addressGate);
      nextFrontends.set(fc.name, fe);
    }
    for (const m of plan.listeners.moved) {
      const l = oldFrontends.get(m.from.owner)?.detachListener(m.from.key);
      if (l) nextFrontends.get(m.to.owner)!.attachListener(l);
    }
    for (const c of plan.listeners.closed) if (c.kind === 'frontend') oldFrontends.get(c.owner)?.closeListener(c.key);
    for (const o of openedTcp) nextFrontends.get(o.owner)!.attachListener(o.listener);
    for (const [name, fe] of oldFrontends) {
      if (nextFrontends.has(name)) continue;
      this.retiredFrontends.add(fe);
      fe.retire(() => {
        this.retiredFrontends.delete(fe);
        const i = this.limit.frontends.indexOf(fe);
        if (i >= 0) this.limit.frontends.splice(i, 1);
        this.log.info({ frontend: name }, `frontend ${name} (removed by a reload): its last session ended`);
      });
    }
    this.frontends.splice(0, this.frontends.length, ...nextFrontends.values());
    this.config = next;

    // Stats sections (settings, binds) and the runtime API.
    const nextStats: StatsHttpHandle[] = [];
    for (const [name, handle] of oldStats) if (statsFate.get(name) === 'removed') await handle.close();
    for (const sc of next.stats) {
      const prepared = preparedStats.get(sc.name);
      if (prepared) await prepared.commit();
      let handle = oldStats.get(sc.name) ?? startedStats.get(sc.name);
      if (!handle) {
        // Every bind of this new section waited for an old listener on its port.
        try {
          handle = await startStatsHttp(sc, this, this.log, statsOpts);
        } catch (err) {
          this.log.error({ err, section: sc.name }, `reload: stats section ${sc.name} cannot start: ${(err as Error).message}`);
          continue;
        }
      }
      nextStats.push(handle);
    }
    this.statsServers.splice(0, this.statsServers.length, ...nextStats);
    await this.commitRuntimeApi(plan, newApi);

    // The sockets that had to wait for an old listener on their port.
    for (const l of plan.listeners.opened) {
      if (l.kind !== 'frontend' || !deferred.has(l.key) || !this.listens) continue;
      try {
        const fc = frontendConfigs.get(l.owner)!;
        nextFrontends.get(l.owner)!.attachListener(await Listener.open(l, fc.backlog, this.log));
      } catch (err) {
        this.log.error({ err, frontend: l.owner, bind: l.key }, `reload: frontend ${l.owner}: cannot bind ${l.key}: ${(err as Error).message}`);
      }
    }

    // Room for clients that waited for a slot (a higher maxconn).
    for (const fe of this.frontends) fe.admitWaiting();
    this.limit.released();

    this.reloads++;
    this.lastReloadAt = Date.now();
    this.cluster?.reloaded(next);
    this.log.info({ reload: 'applied', durationMs: Math.round(performance.now() - t0), servers: plan.servers }, plan.summary);
    return { status: 'applied', plan };
  }

  private async commitRuntimeApi(plan: ReloadPlan, started: RuntimeApi | null): Promise<void> {
    const api = plan.runtimeApi;
    if (api.action === 'none' || api.action === 'keep') return;
    const old = this.runtimeApi;
    if (api.action === 'start' || (api.action === 'restart' && !api.samePath)) {
      await old?.close();
      this.runtimeApi = started;
      return;
    }
    await old?.close();
    this.runtimeApi = null;
    if (api.action === 'stop') return;
    // Same path: the old socket had to go first.
    try {
      this.runtimeApi = await startRuntimeApi(api.to!, this, this.log);
    } catch (err) {
      this.log.error({ err }, `reload: runtime API cannot start with '${api.to}': ${(err as Error).message}; restoring '${api.from}'`);
      this.runtimeApi = await startRuntimeApi(api.from!, this, this.log).catch((e: unknown) => {
        this.log.error({ err: e }, 'reload: runtime API is down');
        return null;
      });
    }
  }

  /** Open sessions of what the plan removes, by `what id` as in the plan's lines. */
  private openSessions(plan: ReloadPlan): Map<string, number> {
    const out = new Map<string, number>();
    for (const bp of plan.backends) {
      const be = this.backends.get(bp.name);
      if (!be) continue;
      if (bp.fate === 'removed') out.set(`backend ${bp.name}`, be.counters.cur);
      for (const r of bp.servers.removed) {
        const s = be.servers.find((x) => x.config.name === r.name);
        if (s) out.set(`server ${bp.name}/${r.name}`, s.sessions);
      }
    }
    for (const f of plan.frontends) {
      const fe = f.fate === 'removed' ? this.frontends.find((x) => x.config.name === f.name) : undefined;
      if (fe) out.set(`frontend ${f.name}`, fe.sessions.size);
    }
    return out;
  }

  private logPlan(plan: ReloadPlan, sessionsOf: ReadonlyMap<string, number>): void {
    for (const line of plan.lines) {
      const fields: Record<string, unknown> = { reload: line.action, [line.what]: line.id };
      let text = line.text;
      const n = sessionsOf.get(`${line.what} ${line.id}`);
      if (n !== undefined && (line.action === 'removed' || line.action === 'replaced')) {
        fields.sessions = n;
        text += ` (${n} open)`;
      }
      if (line.action === 'removed' || line.action === 'replaced' || line.action === 'closed') this.log.warn(fields, text);
      else this.log.info(fields, text);
    }
  }

  /** Graceful stop: no new connections; sessions get `graceMs` (null: forever) to finish. */
  async stop(graceMs: number | null = this.config.global.hardStopAfter): Promise<void> {
    this.stopping = true;
    const all = (): Frontend[] => [...this.frontends, ...this.retiredFrontends];
    await Promise.all(all().map((fe) => fe.close()));
    if (this.sessionCount > 0) {
      this.log.info({ sessions: this.sessionCount, graceMs }, 'listeners closed; waiting for sessions to finish');
      await new Promise<void>((resolve) => {
        const deadline = graceMs === null ? Infinity : Date.now() + graceMs;
        const poll = setInterval(() => {
          if (this.sessionCount === 0 || Date.now() >= deadline) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
      });
      if (this.sessionCount > 0) {
        this.log.warn({ sessions: this.sessionCount }, 'hard-stop-after reached: closing the remaining sessions');
        for (const fe of all()) fe.killAll();
      }
    }
    for (const be of this.backends.values()) be.stop();
    // The stats page and runtime API stay up while sessions drain, so operators can watch.
    await Promise.all(this.statsServers.splice(0).map((h) => h.close()));
    await this.runtimeApi?.close();
    this.runtimeApi = null;
  }
}

/** A new stats section with a bind that must wait for an old listener on its port. */
function statsListenerDeferred(plan: ReloadPlan, section: string, deferred: ReadonlySet<string>): boolean {
  return plan.listeners.opened.some((l) => l.kind === 'stats' && l.owner === section && deferred.has(l.key));
}
