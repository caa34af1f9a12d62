// One backend server at run time: its health (through the check scheduler), its admin state
// (READY / DRAIN / MAINT, as set from the stats page or runtime API), its effective weight
// (slowstart, `set weight`), its sessions and queue, and the counters the stats page shows.

import type { CheckConfig, ServerConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import type { Backend } from './backend.js';
import { amqpCheck } from './check/amqp.js';
import type { Transition } from './check/health.js';
import { httpCheck } from './check/http.js';
import type { CheckResult, CheckRunner } from './check/result.js';
import { schedulerForServer, type CheckScheduler } from './check/scheduler.js';
import { tcpCheck } from './check/tcp.js';
import { TrafficCounters } from './counters.js';
import { slowstartWeight, type LbServer } from './lb/types.js';
import { WaitQueue } from './queue.js';
import type { Session } from './session.js';

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
  readonly checks: CheckScheduler | null;
  admin: AdminState;
  /** Weight set at run time (`set weight`); null: the configured weight. */
  userWeight: number | null = null;
  lastChange = Date.now();
  downSince: number | null = null;
  downtimeMs = 0;
  /** When the last session was given to this server (stats `lastsess`), or null. */
  lastSessionAt: number | null = null;
  private slowstartUntil = 0;
  private slowstartTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly config: ServerConfig,
    readonly index: number,
    readonly backend: Backend,
    private readonly log: Logger,
  ) {
    this.admin = config.disabled ? 'MAINT' : 'READY';
    this.checks = config.check
      ? schedulerForServer(config, {
          runner: checkRunnerFor(backend.config.check),
          timeouts: backend.config.timeouts,
          initialDelayMs: backend.config.servers.length > 0 ? Math.floor((config.inter * index) / backend.config.servers.length) : 0,
          events: {
            onResult: (result) => this.onCheckResult(result),
            onTransition: (t) => this.onTransition(t),
            onError: (err) => this.log.error({ err, server: this.id }, 'health-check handler failed'),
          },
        })
      : null;
    if (this.checks && config.disabled) this.checks.pause();
  }

  get id(): string {
    return `${this.backend.config.name}/${this.config.name}`;
  }

  start(): void {
    this.checks?.start();
  }

  stop(): void {
    this.checks?.stop();
    if (this.slowstartTimer) clearTimeout(this.slowstartTimer);
  }

  // ---- what the balancer sees ---------------------------------------------------------------

  /** Operationally up: passing checks (or not checked). */
  get up(): boolean {
    return this.checks ? this.checks.machine.isUp : true;
  }

  get backup(): boolean {
    return this.config.backup;
  }

  get usable(): boolean {
    return this.admin === 'READY' && this.up;
  }

  get weight(): number {
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
    if (this.sessionSet.delete(session)) this.counters.sessionEnded();
  }

  // ---- passive health (observe layer4) ------------------------------------------------------

  connectSucceeded(): void {
    if (this.config.observeLayer4) this.checks?.observe(true);
  }

  /** A connect attempt failed; `hard` when the server refused or reset (nothing listens). */
  connectFailed(hard: boolean): void {
    this.counters.connectErrors++;
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

  /** Close every session on this server (runtime API `shutdown sessions server`). */
  shutdownSessions(): number {
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
      let killed = 0;
      if (this.config.shutdownSessionsOnDown) killed = this.shutdownSessions();
      this.log.error(
        { server: this.id, state: 'DOWN', reason: t.reason, check: r?.status, durationMs: r?.durationMs, active: left.active, backup: left.backup },
        `Server ${this.id} is DOWN, reason: ${t.reason}${info}${duration}. ` +
          `${left.active} active and ${left.backup} backup servers left. ${this.sessionSet.size} sessions active, ${killed} killed, ${queued} remaining in queue.`,
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

  private changed(): void {
    this.backend.serverChanged(this);
  }
}
