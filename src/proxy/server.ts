// One backend server at run time: its health (through the check scheduler), its admin state
// (READY / DRAIN / MAINT, as set from the stats page or runtime API), its effective weight
// (slowstart, `set weight`), its sessions and queue, and the counters the stats page shows.

import type { CheckConfig, ServerConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import type { Backend } from './backend.js';
import { amqpCheck } from './check/amqp.js';
import { carryHealth, type Transition } from './check/health.js';
import { httpCheck } from './check/http.js';
import type { CheckResult, CheckRunner } from './check/result.js';
import { schedulerForServer, type CheckScheduler } from './check/scheduler.js';
import { tcpCheck } from './check/tcp.js';
import { TrafficCounters } from './counters.js';
import { slowstartWeight, type LbServer } from './lb/types.js';
import { WaitQueue } from './queue.js';
import type { Session } from './session.js';

/** What a reload changed in a server that it keeps (see reload.ts). */
export interface ServerReconfig {
  /** Something the checks depend on changed: rebuild them, carrying the health over. */
  checks: boolean;
  /** The configured weight changed: it replaces a weight set at run time. */
  weight: boolean;
  /** `disabled` changed: it replaces an admin state set at run time. */
  disabled: boolean;
}

export type AdminState = 'READY' | 'DRAIN' | 'MAINT';

export function checkRunnerFor(check: CheckConfig): CheckRunner {
  switch (check.type) {
    case 'amqp':
      return amqpCheck(check.amqp!);
    case 'http':
      return httpCheck(check.http!);
    case 'tcp':
      return tcpCheck();
  }
}

export class ServerCounters extends TrafficCounters {
  /** HAProxy's econ (failed connects), eresp (errors after connect), wretr, wredis. */
  connectErrors = 0;
  responseErrors = 0;
  retries = 0;
  redispatches = 0;
  /** Sessions closed by the proxy because the server went DOWN (shutdown-sessions). */
  killed = 0;
}

export class Server implements LbServer {
  readonly counters = new ServerCounters();
  readonly queue = new WaitQueue<Session>();
  readonly sessionSet = new Set<Session>();
  /** Rebuilt by a reload that changes what the checks depend on (see reconfigure). */
  checks: CheckScheduler | null;
  admin: AdminState;
  /** Removed from the config by a reload: takes no new session; the open ones finish. */
  retired = false;
  private started = false;
  /** Weight set at run time (`set weight`); null: the configured weight. */
  userWeight: number | null = null;
  lastChange = Date.now();
  downSince: number | null = null;
  downtimeMs = 0;
  /** When the last session was given to this server (stats `lastsess`), or null. */
  lastSessionAt: number | null = null;
  /** nbthread > 1, in a worker (workers.ts): the primary's verdict — health from its checks,
   *  effective weight (slowstart included) — replaces the local checks, which never run here. */
  remote: { up: boolean; weight: number } | null = null;
  private slowstartUntil = 0;
  private slowstartTimer: NodeJS.Timeout | null = null;

  constructor(
    /** Replaced by a reload (reconfigure); the address never changes (a new address is a new server). */
    public config: ServerConfig,
    /** Position in the backend (stats `sid`); a reload may move it. */
    public index: number,
    readonly backend: Backend,
    private readonly log: Logger,
    /** Added by a reload: check at once instead of at the start-up spread, so that a server
     *  that does not answer leaves the rotation in `fall` checks, not after `inter`. */
    addedByReload = false,
  ) {
    this.admin = config.disabled ? 'MAINT' : 'READY';
    this.checks = config.check ? this.makeChecks(addedByReload ? 0 : this.spreadDelay(), undefined) : null;
  }

  /** HAProxy's start-up spread: the first check of server i of n at i/n of `inter`. */
  private spreadDelay(): number {
    const n = this.backend.config.servers.length;
    return n > 0 ? Math.floor((this.config.inter * this.index) / n) : 0;
  }

  private makeChecks(initialDelayMs: number, health: number | undefined): CheckScheduler {
    const maint = this.admin === 'MAINT';
    const checks = schedulerForServer(maint === this.config.disabled ? this.config : { ...this.config, disabled: maint }, {
      runner: checkRunnerFor(this.backend.config.check),
      timeouts: this.backend.config.timeouts,
      initialDelayMs,
      ...(health !== undefined ? { health } : {}),
      events: {
        onResult: (result) => this.onCheckResult(result),
        onTransition: (t) => this.onTransition(t),
        onError: (err) => this.log.error({ err, server: this.id }, 'health-check handler failed'),
      },
    });
    if (maint) checks.pause();
    return checks;
  }

  get id(): string {
    return `${this.backend.config.name}/${this.config.name}`;
  }

  start(): void {
    this.started = true;
    this.checks?.start();
  }

  stop(): void {
    this.checks?.stop();
    if (this.slowstartTimer) clearTimeout(this.slowstartTimer);
  }

  // ---- reload -------------------------------------------------------------------------------

  /**
   * A reload keeps this server (same backend, name and address) with `config`. What it has
   * learned and what operators did stay: health (the checks go on where they were, or are
   * rebuilt with the health carried over when their settings changed), admin state and runtime
   * weight (unless the config's own `disabled`/`weight` changed: the newest intent wins, as
   * HAProxy's server-state-file does), counters, sessions and queue. The backend re-balances
   * afterwards; `applyConfigAdmin()` then applies a changed `disabled`.
   */
  reconfigure(config: ServerConfig, index: number, change: ServerReconfig): void {
    const wasUp = this.up;
    this.config = config;
    this.index = index;
    if (change.weight && this.userWeight !== null) {
      this.log.warn(
        { server: this.id, weight: config.weight, runtimeWeight: this.userWeight },
        `Server ${this.id}: the config's weight changed to ${config.weight}; it replaces the weight ${this.userWeight} set at run time.`,
      );
      this.userWeight = null;
    }
    if (change.checks) this.rebuildChecks();
    if (this.up !== wasUp) {
      this.noteTransition({ to: this.up ? 'UP' : 'DOWN' } as Transition);
      this.log.warn({ server: this.id, state: this.up ? 'UP' : 'DOWN', reason: 'reload' }, `Server ${this.id} is ${this.up ? 'UP' : 'DOWN'}, reason: reload (${config.check ? 'checks changed' : 'checks removed'}).`);
    }
  }

  /** After reconfigure(): a `disabled` that changed in the config replaces the admin state. */
  applyConfigAdmin(change: ServerReconfig): void {
    if (!change.disabled) return;
    const want: AdminState = this.config.disabled ? 'MAINT' : 'READY';
    if (want !== this.admin) this.setAdmin(want);
  }

  private rebuildChecks(): void {
    const prev = this.checks;
    if (!this.config.check) {
      prev?.stop();
      this.checks = null;
      return;
    }
    let delay = this.spreadDelay();
    let health: number | undefined;
    if (prev) {
      const m = prev.machine;
      if (!m.maint) health = carryHealth(m, this.config.rise, this.config.fall);
      // No re-check storm: the next check comes when the previous scheduler had it due (at once
      // if one was in flight: its answer is dropped with the old scheduler).
      const due = prev.nextCheckAt;
      const longest = Math.max(this.config.inter, this.config.downinter);
      delay = due === null ? 0 : Math.max(0, Math.min(longest, Math.round(due - performance.now())));
      prev.stop();
    }
    this.checks = this.makeChecks(delay, health);
    if (prev) this.checks.inherit(prev);
    if (this.started) this.checks.start();
  }

  /** Removed by a reload: no new sessions, no more checks; the open sessions finish. */
  retire(): void {
    this.retired = true;
    this.stop();
  }

  // ---- what the balancer sees ---------------------------------------------------------------

  /** Operationally up: passing checks (or not checked). */
  get up(): boolean {
    if (this.remote) return this.remote.up;
    return this.checks ? this.checks.machine.isUp : true;
  }

  get backup(): boolean {
    return this.config.backup;
  }

  get usable(): boolean {
    return this.admin === 'READY' && this.up && !this.retired;
  }

  get weight(): number {
    if (this.remote) return this.remote.weight;
    const base = this.userWeight ?? this.config.weight;
    const left = this.slowstartUntil - Date.now();
    if (left <= 0) return base;
    // slowstart: HAProxy's ramp, 1/16 of the weight up to all of it in 16 steps.
    return slowstartWeight(base, this.config.slowstart - left, this.config.slowstart);
  }

  /** Slowstart throttle in percent (stats `throttle`) while ramping up, else null. */
  get throttle(): number | null {
    const left = this.slowstartUntil - Date.now();
    if (left <= 0 || this.config.slowstart <= 0) return null;
    return Math.max(0, Math.min(100, Math.floor((100 * (this.config.slowstart - left)) / this.config.slowstart)));
  }

  get sessions(): number {
    return this.counters.cur;
  }

  get queued(): number {
    return this.queue.length;
  }

  get maxconn(): number {
    return this.config.maxconn;
  }

  hasFreeSlot(): boolean {
    return this.config.maxconn === 0 || this.counters.cur < this.config.maxconn;
  }

  /** HAProxy's stats status: 'UP', 'UP 1/3', 'DOWN', 'DOWN 1/2', 'MAINT', 'DRAIN', 'no check'. */
  get status(): string {
    if (this.admin === 'MAINT') return 'MAINT';
    if (!this.checks) return this.admin === 'DRAIN' ? 'DRAIN' : 'no check';
    const label = this.checks.label;
    return this.admin === 'DRAIN' && this.up ? 'DRAIN' : label;
  }

  get lastCheck(): CheckResult | null {
    return this.checks?.lastResult ?? null;
  }

  // ---- sessions -----------------------------------------------------------------------------

  sessionStarted(session: Session, now: number): void {
    this.counters.sessionStarted(now);
    this.lastSessionAt = now;
    this.sessionSet.add(session);
  }

  sessionEnded(session: Session): void {
    if (!this.sessionSet.delete(session)) return;
    this.counters.sessionEnded();
    if (this.retired && this.counters.cur === 0) {
      this.log.info({ server: this.id }, `Server ${this.id} (removed by a reload): its last session ended.`);
    }
  }

  // ---- passive health (observe layer4) ------------------------------------------------------

  connectSucceeded(): void {
    if (!this.config.observeLayer4) return;
    if (this.remote) return this.backend.cluster?.passive(this, 'ok', false);
    this.checks?.observe(true);
  }

  /** A connect attempt failed; `hard` when the server refused or reset (nothing listens). */
  connectFailed(hard: boolean): void {
    this.counters.connectErrors++;
    if (this.remote) return this.backend.cluster?.passive(this, 'connect', hard);
    this.passiveError(hard, 'connect');
  }

  /**
   * An established connection to the server failed (reset, error). Counted (HAProxy's eresp), but
   * never fed to `observe layer4`: HAProxy's layer-4 analysis watches connection establishment
   * only. A reset that answers the client's own close (`afterClientClose`) is not even a hint:
   * RabbitMQ closes with linger 0, so every clean client close (Connection.Close, then FIN) ends
   * in a RST; counting those marked healthy brokers DOWN under ordinary connection churn.
   */
  dataError(afterClientClose: boolean): void {
    this.counters.responseErrors++;
    if (this.remote) return void (afterClientClose || this.backend.cluster?.passive(this, 'data', true));
    // Otherwise the broker may be dying: check now rather than wait out `inter`.
    if (!afterClientClose) this.checks?.triggerNow();
  }

  private passiveError(hard: boolean, what: string): void {
    if (!this.checks) return;
    if (this.config.observeLayer4) this.checks.observe(false, what);
    // Don't wait out `inter` to learn what this error already suggests: check now.
    if (hard) this.checks.triggerNow();
  }

  // ---- admin --------------------------------------------------------------------------------

  setAdmin(state: AdminState): void {
    if (state === this.admin) return;
    const wasMaint = this.admin === 'MAINT';
    this.admin = state;
    let t: Transition | null = null;
    if (state === 'MAINT') t = this.checks?.pause() ?? null;
    else if (wasMaint) t = this.checks?.resume() ?? null;
    this.log.warn({ server: this.id, admin: state }, `Server ${this.id} is ${state === 'READY' ? 'ready' : state === 'DRAIN' ? 'set to drain' : 'going into maintenance'}.`);
    if (t) this.noteTransition(t);
    this.changed();
  }

  setWeight(weight: number): void {
    this.userWeight = weight;
    this.changed();
  }

  /** Close every session on this server (runtime API `shutdown sessions server`). In a
   *  multi-process primary the sessions are in the workers: they are told (the count is theirs). */
  shutdownSessions(): number {
    if (this.backend.cluster?.role === 'primary') {
      this.backend.cluster.shutdownSessions(this);
      return 0;
    }
    const n = this.sessionSet.size;
    for (const s of [...this.sessionSet]) s.kill();
    this.counters.killed += n;
    return n;
  }

  // ---- check events -------------------------------------------------------------------------

  private onCheckResult(result: CheckResult): void {
    if (result.warning) this.log.warn({ server: this.id, check: result.status, desc: result.desc }, `Health check for server ${this.id} warns: ${result.warning}`);
  }

  private onTransition(t: Transition): void {
    this.noteTransition(t);
    const left = this.backend.serversLeft();
    const r = t.result;
    const info = r?.desc ? `, info: "${r.desc}"` : '';
    const duration = r && r.durationMs >= 0 ? `, check duration: ${Math.round(r.durationMs)}ms` : '';
    const queued = this.queue.length;
    if (t.to === 'DOWN') {
      // (A multi-process primary has no sessions: the workers' sum, and they do the killing.)
      const primary = this.backend.cluster?.role === 'primary';
      let killed = 0;
      if (this.config.shutdownSessionsOnDown) killed = this.shutdownSessions();
      this.log.error(
        { server: this.id, state: 'DOWN', reason: t.reason, check: r?.status, durationMs: r?.durationMs, active: left.active, backup: left.backup },
        `Server ${this.id} is DOWN, reason: ${t.reason}${info}${duration}. ` +
          `${left.active} active and ${left.backup} backup servers left. ${primary ? this.counters.cur : this.sessionSet.size} sessions active, ${primary && this.config.shutdownSessionsOnDown ? 'shutting them down in the workers' : `${killed} killed`}, ${queued} remaining in queue.`,
      );
    } else {
      if (this.config.slowstart > 0) this.beginSlowstart();
      this.log.warn(
        { server: this.id, state: 'UP', reason: t.reason, check: r?.status, durationMs: r?.durationMs, active: left.active, backup: left.backup },
        `Server ${this.id} is UP, reason: ${t.reason}${duration}. ${left.active} active and ${left.backup} backup servers online. ${queued} sessions requeued, ${this.backend.queue.length} total in queue.`,
      );
    }
    this.changed();
  }

  private noteTransition(t: Transition): void {
    const now = Date.now();
    this.lastChange = now;
    if (t.to === 'DOWN') this.downSince = now;
    else if (this.downSince !== null) {
      this.downtimeMs += now - this.downSince;
      this.downSince = null;
    }
  }

  private beginSlowstart(): void {
    this.slowstartUntil = Date.now() + this.config.slowstart;
    const tick = Math.max(100, this.config.slowstart / 20);
    const step = (): void => {
      this.backend.serverChanged(this);
      this.slowstartTimer = Date.now() < this.slowstartUntil ? setTimeout(step, tick) : null;
    };
    if (this.slowstartTimer) clearTimeout(this.slowstartTimer);
    this.slowstartTimer = setTimeout(step, tick);
  }

  /** In a worker: the primary's state of this server (see `remote`). */
  applyRemote(up: boolean, admin: AdminState, weight: number): void {
    const was = this.remote;
    if (was && was.up === up && was.weight === weight && this.admin === admin) return;
    const wasUp = this.up;
    this.remote = { up, weight };
    this.admin = admin;
    if (wasUp !== up) this.noteTransition({ to: up ? 'UP' : 'DOWN' } as Transition);
    // The primary logged the transition; only the sessions here are the worker's to close.
    if (wasUp && !up && this.config.shutdownSessionsOnDown) this.shutdownSessions();
    this.backend.serverChanged(this);
  }

  private changed(): void {
    this.backend.serverChanged(this);
  }
}
