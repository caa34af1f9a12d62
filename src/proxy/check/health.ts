// The rise/fall health machine of one checked server: HAProxy's `check->health` counter, pure (no
// timers, no I/O). The scheduler feeds it check results and passive (observe layer4) events; the
// server object reads its state, its stats label and the transitions it returns.
//
// HAProxy's model (src/check.c set_server_check_status(), __health_adjust(); src/server.c
// srv_getinter(), srv_settings_cpy(), srv_set/clr_admin_flag()):
//   - one counter `health` in [0, rise+fall-1]; 0..rise-1 is DOWN, rise..rise+fall-1 is UP.
//   - a failed check:  health-- (only while health > 0); if it drops below rise it goes straight
//     to 0 (fully DOWN).
//   - a passed check:  health++ (only while below the maximum); once it reaches rise it goes
//     straight to rise+fall-1 (fully UP).
//   - at start a checked server is UP with health = rise ("up, but will fall down at first
//     failure"): ONE failed check takes it DOWN, one passed check makes it fully UP. HAProxy 3.1+
//     spells this `init-state up` (the default) and also offers fully-up / down / fully-down.
//   - a server entering maintenance has its checks paused and health set to 0; leaving
//     maintenance unpauses them with health = rise again ("start OK but check immediately").
//   - the stats label: "UP" at full health, "UP n/fall" while going down where n is the number of
//     failed checks still needed to go DOWN (health-rise+1), "DOWN" at 0, "DOWN n/rise" while
//     going up where n is the number of successful checks so far (health).
//     So with rise 2 fall 3: UP -> (fail) UP 2/3 -> (fail) UP 1/3 -> (fail) DOWN
//                            DOWN -> (pass) DOWN 1/2 -> (pass) UP.

import type { CheckResult } from './result.js';
import type { ServerConfig } from '../../config/types.js';

export type HealthState = 'UP' | 'DOWN';
/** HAProxy's `init-state` server keyword (3.1+); HAProxy's default, and ours, is 'up'. */
export type InitState = 'fully-up' | 'up' | 'down' | 'fully-down';
export type OnErrorMode = ServerConfig['onError'];

export interface HealthOptions {
  rise: number;
  fall: number;
  /** Default 'up': UP, but one failed check takes it DOWN (HAProxy's behaviour since forever). */
  initState?: InitState;
  /** `disabled` on the server line: start in maintenance (health 0, checks paused). */
  maint?: boolean;
  /** `observe layer4`: count connection errors seen by live traffic. */
  observeLayer4?: boolean;
  /** `error-limit` (HAProxy's default 10). */
  errorLimit?: number;
  /** `on-error` (HAProxy's default fastinter). */
  onError?: OnErrorMode;
  /** Start at this health instead of initState's (a reload that rebuilds the checks of a server
   *  carries its health over: see carryHealth()). Ignored in maintenance. */
  health?: number;
}

/** What made the server change state. */
export type TransitionCause =
  | 'check' // a health check result
  | 'observe' // observe layer4 + error-limit reached (HAProxy's "Health analyze")
  | 'maint' // entering maintenance
  | 'ready'; // leaving maintenance

export interface Transition {
  from: HealthState;
  to: HealthState;
  cause: TransitionCause;
  /** HAProxy-style reason: the check status description, e.g. "Layer4 connection problem". */
  reason: string;
  /** The check result (or the synthesized HANA result for 'observe'); null for maint/ready. */
  result: CheckResult | null;
  /** Stats label after the transition. */
  label: string;
}

export interface CheckOutcome {
  /** The health counter moved (HAProxy logs "Health check for server ... succeeded/failed" only then). */
  changed: boolean;
  transition: Transition | null;
  health: number;
  label: string;
}

export interface ObserveOutcome {
  /** The consecutive error count reached error-limit and the on-error action ran. */
  triggered: boolean;
  action: OnErrorMode | null;
  consecutiveErrors: number;
  /** The synthesized failed check ('HANA' status) for fail-check / sudden-death / mark-down. */
  result: CheckResult | null;
  transition: Transition | null;
}

export interface HealthCounters {
  /** Failed checks that lowered the health (HAProxy's `chkfail`, includes HANA failures). */
  failedChecks: number;
  /** Times error-limit was reached under observe (HAProxy's `hanafail`). */
  failedHana: number;
  /** UP -> DOWN transitions (HAProxy's `chkdown`). */
  downTransitions: number;
}

/** HAProxy's check status descriptions (check_statuses[] in src/check.c). */
const STATUS_DESCRIPTIONS: Record<string, string> = {
  UNK: 'Unknown',
  INI: 'Initializing',
  CHECKED: 'No status change',
  HANA: 'Health analyze',
  SOCKERR: 'Socket error',
  L4OK: 'Layer4 check passed',
  L4TOUT: 'Layer4 timeout',
  L4CON: 'Layer4 connection problem',
  L6OK: 'Layer6 check passed',
  L6TOUT: 'Layer6 timeout',
  L6RSP: 'Layer6 invalid response',
  L7TOUT: 'Layer7 timeout',
  L7RSP: 'Layer7 invalid response',
  L7OK: 'Layer7 check passed',
  L7OKC: 'Layer7 check conditionally passed',
  L7STS: 'Layer7 wrong status',
};

export function checkStatusDescription(status: string): string {
  return STATUS_DESCRIPTIONS[status] ?? 'Unknown';
}

/** The stats-page label for a health counter, e.g. 'UP', 'UP 2/3', 'DOWN', 'DOWN 1/2'. */
export function healthLabel(health: number, rise: number, fall: number): string {
  if (health >= rise) {
    return health >= rise + fall - 1 ? 'UP' : `UP ${health - rise + 1}/${fall}`;
  }
  return health === 0 ? 'DOWN' : `DOWN ${health}/${rise}`;
}

function initialHealth(init: InitState, rise: number, fall: number): number {
  switch (init) {
    case 'fully-up':
      return rise + fall - 1;
    case 'up':
      return rise;
    case 'down':
      return rise - 1;
    case 'fully-down':
      return 0;
  }
}

export class HealthMachine {
  readonly rise: number;
  readonly fall: number;
  readonly initState: InitState;
  readonly observeLayer4: boolean;
  readonly errorLimit: number;
  readonly onError: OnErrorMode;
  readonly counters: HealthCounters = { failedChecks: 0, failedHana: 0, downTransitions: 0 };

  private _health: number;
  private _state: HealthState;
  private _maint: boolean;
  private _consecutiveErrors = 0;
  private _forceFastinter = false;

  constructor(opts: HealthOptions) {
    if (!Number.isInteger(opts.rise) || opts.rise < 1) throw new RangeError(`rise must be an integer >= 1, got ${opts.rise}`);
    if (!Number.isInteger(opts.fall) || opts.fall < 1) throw new RangeError(`fall must be an integer >= 1, got ${opts.fall}`);
    this.rise = opts.rise;
    this.fall = opts.fall;
    this.initState = opts.initState ?? 'up';
    this.observeLayer4 = opts.observeLayer4 ?? false;
    this.errorLimit = Math.max(1, opts.errorLimit ?? 10);
    this.onError = opts.onError ?? 'fastinter';
    this._maint = opts.maint ?? false;
    this._health = this._maint
      ? 0
      : opts.health !== undefined
        ? Math.max(0, Math.min(this.rise + this.fall - 1, Math.floor(opts.health)))
        : initialHealth(this.initState, this.rise, this.fall);
    this._state = this._health >= this.rise ? 'UP' : 'DOWN';
  }

  static fromServer(
    s: Pick<ServerConfig, 'rise' | 'fall' | 'disabled' | 'observeLayer4' | 'errorLimit' | 'onError'>,
    initState?: InitState,
    health?: number,
  ): HealthMachine {
    return new HealthMachine({
      rise: s.rise,
      fall: s.fall,
      maint: s.disabled,
      observeLayer4: s.observeLayer4,
      errorLimit: s.errorLimit,
      onError: s.onError,
      ...(initState ? { initState } : {}),
      ...(health !== undefined ? { health } : {}),
    });
  }

  get health(): number {
    return this._health;
  }
  get maxHealth(): number {
    return this.rise + this.fall - 1;
  }
  get state(): HealthState {
    return this._state;
  }
  get isUp(): boolean {
    return this._state === 'UP';
  }
  /** Checks are paused (maintenance). The server object shows MAINT; this machine says DOWN. */
  get maint(): boolean {
    return this._maint;
  }
  /** 'UP', 'UP 2/3', 'DOWN', 'DOWN 1/2' — exactly HAProxy's stats page status column. */
  get label(): string {
    return healthLabel(this._health, this.rise, this.fall);
  }
  /** HAProxy's log-health-checks "status: 2/3 UP" / "status: 1/2 DOWN" fragment. */
  get logStatus(): string {
    const h = this._health;
    return h >= this.rise ? `${h - this.rise + 1}/${this.fall} UP` : `${h}/${this.rise} DOWN`;
  }
  /** Fully UP or fully DOWN: not in a rise/fall transition. */
  get stable(): boolean {
    return this._health === 0 || this._health === this.maxHealth;
  }
  get consecutiveErrors(): number {
    return this._consecutiveErrors;
  }
  /** observe/on-error asked for fastinter on the next check even at full health. */
  get forceFastinter(): boolean {
    return this._forceFastinter;
  }

  /**
   * HAProxy's srv_getinter(): the delay before the next check.
   *   - full health and no forced fastinter: inter
   *   - DOWN with health 0: downinter
   *   - anything else (UP n/f, DOWN n/r, forced): fastinter
   * (the config layer has already resolved fastinter/downinter to inter when unset)
   */
  nextInterval(i: { inter: number; fastinter: number; downinter: number }): number {
    if (!this._forceFastinter && this._health === this.maxHealth) return i.inter;
    if (this._state === 'DOWN' && this._health === 0) return i.downinter;
    return i.fastinter;
  }

  /** The check that the forced fastinter was for has run (HAProxy clears CHK_ST_FASTINTER then). */
  clearForceFastinter(): void {
    this._forceFastinter = false;
  }

  /** Feed one check result. Ignored (no change) while in maintenance. */
  onCheck(result: CheckResult): CheckOutcome {
    if (this._maint) return { changed: false, transition: null, health: this._health, label: this.label };
    let changed = false;
    if (result.ok) {
      if (this._health < this.maxHealth) {
        changed = true;
        this._health++;
        if (this._health >= this.rise) this._health = this.maxHealth;
      }
      // a passed check clears the observe error streak (HAProxy does it when on-error is set)
      this._consecutiveErrors = 0;
    } else if (this._health > 0) {
      changed = true;
      this.counters.failedChecks++;
      this._health--;
      if (this._health < this.rise) this._health = 0;
    }
    return { changed, transition: this.settle('check', result), health: this._health, label: this.label };
  }

  /**
   * Passive layer-4 observation from live traffic (`observe layer4`): ok = a connection to the
   * server was established, !ok = it failed (refused, reset, timeout). When `errorLimit`
   * consecutive errors are seen the `onError` action runs (HAProxy's __health_adjust()):
   *   fastinter:    only force fastinter for the next check
   *   fail-check:   + count one failed check
   *   sudden-death: + simulate failed checks until only one remains before DOWN: a server
   *                 above "UP 1/fall" ends exactly at "UP 1/fall"; one already at "UP 1/fall"
   *                 (or with fall 1) goes DOWN
   *   mark-down:    + go DOWN at once
   * Every action forces fastinter for the next check. Ignored when observe is off or in maint.
   */
  observe(ok: boolean, what = 'L4 unsuccessful connection'): ObserveOutcome {
    const none: ObserveOutcome = { triggered: false, action: null, consecutiveErrors: this._consecutiveErrors, result: null, transition: null };
    if (!this.observeLayer4 || this._maint) return none;
    if (ok) {
      this._consecutiveErrors = 0;
      return { ...none, consecutiveErrors: 0 };
    }
    this._consecutiveErrors++;
    if (this._consecutiveErrors < this.errorLimit) return { ...none, consecutiveErrors: this._consecutiveErrors };

    const errors = this._consecutiveErrors;
    const action = this.onError;
    this._forceFastinter = true;
    let result: CheckResult | null = null;
    let transition: Transition | null = null;
    if (action !== 'fastinter') {
      if (action === 'sudden-death' && this._health > this.rise) {
        // sudden-death simulates a pre-fatal failed check: HAProxy sets rise+1, then fails once
        this._health = this.rise + 1;
      } else if (action === 'mark-down') {
        this._health = this.rise;
      }
      result = {
        ok: false,
        status: 'HANA',
        code: null,
        desc: `Detected ${errors} consecutive errors, last one was: ${what}`,
        // HAProxy reports no duration for HANA (check->duration = -1, omitted from logs)
        durationMs: -1,
        warning: null,
        hardFailure: false,
      };
      if (this._health > 0) {
        this.counters.failedChecks++;
        this._health--;
        if (this._health < this.rise) this._health = 0;
      }
      transition = this.settle('observe', result);
    }
    this._consecutiveErrors = 0;
    this.counters.failedHana++;
    return { triggered: true, action, consecutiveErrors: errors, result, transition };
  }

  /** Enter maintenance: checks pause, health 0 (HAProxy srv_set_admin_flag(MAINT)). */
  enterMaint(): Transition | null {
    if (this._maint) return null;
    this._maint = true;
    this._health = 0;
    this._forceFastinter = false;
    this._consecutiveErrors = 0;
    return this.settle('maint', null);
  }

  /**
   * Leave maintenance: checks resume with the initial health (HAProxy: health = rise, "start OK
   * but check immediately"; with init-state, that state). The caller runs a check at once.
   */
  leaveMaint(): Transition | null {
    if (!this._maint) return null;
    this._maint = false;
    this._health = initialHealth(this.initState, this.rise, this.fall);
    return this.settle('ready', null);
  }

  private settle(cause: TransitionCause, result: CheckResult | null): Transition | null {
    const next: HealthState = this._maint ? 'DOWN' : this._health >= this.rise ? 'UP' : 'DOWN';
    if (next === this._state) return null;
    const from = this._state;
    this._state = next;
    // chkdown counts health-driven downs only; maintenance is the server object's business
    if (next === 'DOWN' && (cause === 'check' || cause === 'observe')) this.counters.downTransitions++;
    const reason =
      result !== null
        ? checkStatusDescription(result.status)
        : cause === 'maint'
          ? 'entering maintenance'
          : 'leaving maintenance';
    return { from, to: next, cause, reason, result, label: this.label };
  }
}

/**
 * The health a server keeps when a reload changes its rise/fall (or anything that rebuilds its
 * checks): the same state (UP stays UP, DOWN stays DOWN), and the same progress through it —
 * failed checks counted so far while going down, passed checks so far while going up — clamped
 * to the new thresholds. Fully UP stays fully UP, fully DOWN stays fully DOWN.
 */
export function carryHealth(old: { health: number; rise: number; fall: number }, rise: number, fall: number): number {
  const oldMax = old.rise + old.fall - 1;
  const max = rise + fall - 1;
  if (old.health >= old.rise) {
    if (old.health >= oldMax) return max;
    // Going down: `oldMax - health` failures seen; keep them, but stay UP.
    return Math.max(rise, Math.min(max, max - (oldMax - old.health)));
  }
  // DOWN: `health` passes seen; keep them, but stay DOWN.
  return Math.max(0, Math.min(rise - 1, old.health));
}
