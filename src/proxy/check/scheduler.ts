// Drives the health checks of one server: runs the CheckRunner, feeds the HealthMachine, picks
// the next delay, and reports results and UP/DOWN transitions. Time comes from an injectable Clock
// so the unit tests run on a fake one.
//
// HAProxy semantics followed (src/check.c process_chk_conn(), start_check_task(); src/server.c
// srv_getinter()):
//   - the next check is scheduled from the END of the previous one: now + srv_getinter()
//     (inter at full health, downinter when fully DOWN, fastinter in between), plus the optional
//     global `spread-checks` jitter (+/- N% of the interval).
//   - the first check of each server is spread over the first interval (HAProxy spreads by the
//     server's position; here a random point in [0, interval), or `initialDelayMs`).
//   - `observe layer4` + error-limit: the on-error action forces fastinter and the pending
//     check is moved earlier if now + fastinter comes sooner (HAProxy wakes the check task).
//   - maintenance (MAINT) PAUSES health checks in HAProxy (srv_set_admin_flag sets CHK_ST_PAUSED
//     and health = 0; no check is sent while paused). Leaving maintenance resumes them with
//     health = rise and checks immediately. pause()/resume() do exactly that.
//
// warren addition: triggerNow(). A session that saw the server refuse or reset a connection,
// or a check result with hardFailure, asks for the next check at once instead of waiting out
// `inter`. To keep `fall` meaningful it is granted at most once per departure from full health
// (re-armed when the server is back at full health), never while a check is in flight, and never
// for a server already fully DOWN (nothing left to learn). A killed broker therefore goes DOWN
// about (fall - 1) x fastinter after the first session saw it refuse: one immediate check, then
// fall - 1 more at fastinter. When the first evidence is a scheduled check itself, that check
// plus the immediate one count as the first two failures: DOWN (fall - 2) x fastinter later.

import type { CheckResult, CheckRunner } from './result.js';
import type { BackendTimeouts, ServerConfig } from '../../config/types.js';
import { HealthMachine, type CheckOutcome, type InitState, type ObserveOutcome, type Transition } from './health.js';

export type TimerHandle = unknown;

/** The time source. `now()` is monotonic milliseconds. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface CheckIntervals {
  inter: number;
  fastinter: number;
  downinter: number;
}

export interface CheckSchedulerEvents {
  /** Every completed check (before any transition it causes, as HAProxy logs them). */
  onResult?(result: CheckResult, outcome: CheckOutcome): void;
  /** UP <-> DOWN caused by a check or by observe/on-error (not by pause/resume, which return it). */
  onTransition?(transition: Transition, result: CheckResult | null): void;
  /** One of the callbacks above threw; without this handler the error becomes a process warning. */
  onError?(err: unknown): void;
}

export interface CheckSchedulerOptions {
  target: { host: string; port: number };
  runner: CheckRunner;
  /** Handed to the runner for each check (see checkTimeout()). */
  timeoutMs: number;
  intervals: CheckIntervals;
  machine: HealthMachine;
  events?: CheckSchedulerEvents;
  clock?: Clock;
  /** [0, 1), for the initial spread and spread-checks. */
  random?: () => number;
  /** Delay of the very first check; default: random point within the first interval. */
  initialDelayMs?: number;
  /** HAProxy's global `spread-checks` percentage (0-50): jitter on every interval. Default 0. */
  spreadChecks?: number;
  /**
   * A runner that has not settled timeoutMs + this long after it started is counted as a
   * failed (L4TOUT) check and its late answer is ignored. Default 1000 ms.
   */
  watchdogSlackMs?: number;
}

/**
 * The budget handed to a runner, HAProxy's way: without `timeout check` the whole check must fit
 * in `inter`; with it, the connection gets min(`timeout connect`, inter) and then the exchange
 * gets `timeout check` more.
 */
export function checkTimeout(timeouts: Pick<BackendTimeouts, 'connect' | 'check'>, inter: number): number {
  if (timeouts.check === null || timeouts.check <= 0) return inter;
  const connect = timeouts.connect > 0 ? Math.min(timeouts.connect, inter) : inter;
  return connect + timeouts.check;
}

/** Where checks go: the server line's `addr`/`port` when set, else the traffic address. */
export function checkTarget(s: Pick<ServerConfig, 'host' | 'port' | 'checkAddr' | 'checkPort'>): { host: string; port: number } {
  return { host: s.checkAddr ?? s.host, port: s.checkPort ?? s.port };
}

/** HAProxy's deterministic start-up spread: server `index` of `count` starts at index/count of the interval. */
export function spreadStartDelay(index: number, count: number, interval: number): number {
  return count > 0 ? Math.floor((interval * index) / count) : 0;
}

export class CheckScheduler {
  readonly machine: HealthMachine;
  private readonly target: { host: string; port: number };
  private readonly runner: CheckRunner;
  private readonly timeoutMs: number;
  private readonly intervals: CheckIntervals;
  private readonly events: CheckSchedulerEvents;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly initialDelayMs: number | undefined;
  private readonly spreadChecks: number;
  private readonly watchdogSlackMs: number;

  private started = false;
  private stopped = false;
  private paused = false;
  private timer: TimerHandle | null = null;
  private timerDue: number | null = null;
  private inFlightGen: number | null = null;
  /** Bumped by stop/pause/resume: answers from older checks are ignored. */
  private gen = 0;
  private immediateUsed = false;
  private _lastResult: CheckResult | null = null;
  private _lastCheckStart: number | null = null;
  private _checksRun = 0;

  constructor(opts: CheckSchedulerOptions) {
    this.machine = opts.machine;
    this.target = { ...opts.target };
    this.runner = opts.runner;
    this.timeoutMs = opts.timeoutMs;
    this.intervals = { ...opts.intervals };
    this.events = opts.events ?? {};
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.initialDelayMs = opts.initialDelayMs;
    this.spreadChecks = Math.min(50, Math.max(0, opts.spreadChecks ?? 0));
    this.watchdogSlackMs = opts.watchdogSlackMs ?? 1000;
  }

  get running(): boolean {
    return this.started && !this.stopped;
  }
  get isPaused(): boolean {
    return this.paused;
  }
  get inFlight(): boolean {
    return this.inFlightGen !== null;
  }
  get lastResult(): CheckResult | null {
    return this._lastResult;
  }
  /** Clock time the last check started, or null. */
  get lastCheckStart(): number | null {
    return this._lastCheckStart;
  }
  /** Clock time of the next scheduled check, or null (none scheduled: in flight, paused, stopped). */
  get nextCheckAt(): number | null {
    return this.timerDue;
  }
  get checksRun(): number {
    return this._checksRun;
  }
  get label(): string {
    return this.machine.label;
  }

  /**
   * A reload rebuilt this server's checks (new rise/fall, intervals, check type...): take over
   * what the stats show of the previous scheduler — its last result, check count, and the health
   * counters (chkfail, chkdown, hanafail). The health itself is passed to the new machine.
   */
  inherit(prev: CheckScheduler): void {
    this._lastResult = prev._lastResult;
    this._lastCheckStart = prev._lastCheckStart;
    this._checksRun = prev._checksRun;
    Object.assign(this.machine.counters, prev.machine.counters);
  }

  /** Schedule the first check (spread within the first interval). Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.machine.maint) {
      this.paused = true;
      return;
    }
    const interval = this.machine.nextInterval(this.intervals);
    const delay = this.initialDelayMs ?? Math.floor(this.random() * interval);
    this.schedule(Math.max(0, delay));
  }

  /** Stop for good: clear the timer; an in-flight check's answer is ignored. */
  stop(): void {
    this.stopped = true;
    this.gen++;
    this.inFlightGen = null;
    this.clearTimer();
  }

  /** Maintenance: no more checks, health 0. Returns the UP -> DOWN transition, if any. */
  pause(): Transition | null {
    if (this.stopped) return null;
    this.paused = true;
    this.gen++;
    this.inFlightGen = null;
    this.clearTimer();
    return this.machine.enterMaint();
  }

  /** Out of maintenance: health back to the initial state and a check at once. */
  resume(): Transition | null {
    if (this.stopped || !this.paused) return null;
    this.paused = false;
    this.gen++;
    this.inFlightGen = null;
    this.immediateUsed = false;
    const t = this.machine.leaveMaint();
    if (this.started) this.schedule(0);
    return t;
  }

  /**
   * Evidence of failure from live traffic (refused/reset): run the next check at once. Returns
   * whether a check was brought forward (see the header for when it is not).
   */
  triggerNow(): boolean {
    if (!this.canRunImmediately()) return false;
    this.immediateUsed = true;
    this.schedule(0);
    return true;
  }

  /**
   * `observe layer4` input from a session: ok = connected to the server, !ok = connect failed.
   * Runs the on-error action when error-limit is reached and brings the next check forward to
   * fastinter. A transition it causes is reported through onTransition too.
   */
  observe(ok: boolean, what?: string): ObserveOutcome {
    if (this.stopped || this.paused) {
      return { triggered: false, action: null, consecutiveErrors: this.machine.consecutiveErrors, result: null, transition: null };
    }
    const outcome = this.machine.observe(ok, what);
    if (outcome.transition) this.emit(() => this.events.onTransition?.(outcome.transition!, outcome.result));
    if (outcome.triggered && this.started && !this.inFlight) {
      // HAProxy wakes the check task: if now + getinter() is sooner, reschedule (and the forced
      // fastinter is consumed by that reschedule).
      const delay = this.withSpread(this.machine.nextInterval(this.intervals));
      this.machine.clearForceFastinter();
      const due = this.clock.now() + delay;
      if (this.timerDue === null || due < this.timerDue) this.schedule(delay);
    }
    return outcome;
  }

  private canRunImmediately(): boolean {
    return this.started && !this.stopped && !this.paused && !this.inFlight && this.machine.health > 0 && !this.immediateUsed;
  }

  private schedule(delay: number): void {
    this.clearTimer();
    this.timerDue = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.timerDue = null;
      this.runCheck();
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerDue = null;
  }

  private withSpread(interval: number): number {
    if (this.spreadChecks <= 0) return interval;
    let rv = Math.floor((interval * this.spreadChecks) / 100);
    rv -= Math.floor(2 * rv * this.random());
    return Math.max(0, interval + rv);
  }

  private runCheck(): void {
    if (this.stopped || this.paused || this.inFlight) return;
    const gen = this.gen;
    this.inFlightGen = gen;
    const start = this.clock.now();
    this._lastCheckStart = start;
    this._checksRun++;

    let settled = false;
    let watchdog: TimerHandle | null = null;
    const finish = (r: CheckResult): void => {
      if (settled) return;
      settled = true;
      if (watchdog !== null) this.clock.clearTimeout(watchdog);
      if (gen !== this.gen || this.inFlightGen !== gen) return; // stopped/paused/resumed meanwhile
      this.inFlightGen = null;
      this.complete(r);
    };
    const failed = (status: string, desc: string): CheckResult => ({
      ok: false,
      status,
      code: null,
      desc,
      durationMs: Math.max(0, Math.round(this.clock.now() - start)),
      warning: null,
      hardFailure: false,
    });

    watchdog = this.clock.setTimeout(() => {
      watchdog = null;
      finish(failed('L4TOUT', `check did not complete within ${this.timeoutMs}ms`));
    }, this.timeoutMs + this.watchdogSlackMs);

    let p: Promise<CheckResult>;
    try {
      p = Promise.resolve(this.runner(this.target, this.timeoutMs));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (r) => {
        if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean') {
          finish(failed('SOCKERR', 'check runner returned no result'));
        } else {
          finish(r);
        }
      },
      (err: unknown) => finish(failed('SOCKERR', `check runner failed: ${errorMessage(err)}`)),
    );
  }

  private complete(r: CheckResult): void {
    this._lastResult = r;
    const outcome = this.machine.onCheck(r);
    if (this.machine.health === this.machine.maxHealth) this.immediateUsed = false;
    this.emit(() => this.events.onResult?.(r, outcome));
    if (outcome.transition) this.emit(() => this.events.onTransition?.(outcome.transition!, r));
    if (this.stopped || this.paused) return; // a callback may have stopped or paused us
    if (this.timer !== null) return; // a callback asked for a check (triggerNow)

    if (!r.ok && r.hardFailure && this.canRunImmediately()) {
      this.immediateUsed = true;
      this.schedule(0);
      return;
    }
    const delay = this.withSpread(this.machine.nextInterval(this.intervals));
    this.machine.clearForceFastinter();
    this.schedule(delay);
  }

  private emit(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.events.onError) {
        try {
          this.events.onError(err);
        } catch {
          /* nothing more we can do */
        }
      } else {
        process.emitWarning(`health-check event handler threw: ${errorMessage(err)}`);
      }
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export interface ServerCheckOptions {
  runner: CheckRunner;
  timeouts: Pick<BackendTimeouts, 'connect' | 'check'>;
  events?: CheckSchedulerEvents;
  clock?: Clock;
  random?: () => number;
  initialDelayMs?: number;
  spreadChecks?: number;
  initState?: InitState;
  /** Start at this health (a reload carrying a server's health over to rebuilt checks). */
  health?: number;
  /** Override the target (e.g. the http check's management port resolved by the caller). */
  target?: { host: string; port: number };
}

/** A scheduler for a configured server: intervals, rise/fall, observe, `disabled`, check target. */
export function schedulerForServer(server: ServerConfig, opts: ServerCheckOptions): CheckScheduler {
  return new CheckScheduler({
    target: opts.target ?? checkTarget(server),
    runner: opts.runner,
    timeoutMs: checkTimeout(opts.timeouts, server.inter),
    intervals: { inter: server.inter, fastinter: server.fastinter, downinter: server.downinter },
    machine: HealthMachine.fromServer(server, opts.initState, opts.health),
    ...(opts.events ? { events: opts.events } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.initialDelayMs !== undefined ? { initialDelayMs: opts.initialDelayMs } : {}),
    ...(opts.spreadChecks !== undefined ? { spreadChecks: opts.spreadChecks } : {}),
  });
}
