// The rise/fall filter of one VRRP tracker (vrrp_script's `rise`, `fall`, `init_fail`), pure: the
// tracker feeds it each check's outcome and publishes the status it returns.
//
// keepalived's algorithm (vrrp_scheduler.c: vrrp_init_script(), vrrp_script_child_thread()) is
// one counter `result` in [0, rise+fall-1]; rise..rise+fall-1 means OK, below means KO:
//   - start: without init_fail the script is in its INIT state with result = rise-1 ("one success
//     is enough") and its status unknown; with init_fail result = 0 and the status is KO.
//   - a success: result++ while below rise-1; at rise-1 (the last missing success) the status
//     becomes OK and result jumps to rise+fall-1 (fully OK).
//   - a failure: result-- while above rise; at rise (the last allowed failure) the status becomes
//     KO and result drops to 0 (fully KO).
//   - and in the INIT state the first failure reports KO at once, whatever `fall` says.
// So from 'unknown' the FIRST result decides (one success: ok, one failure: fail), from 'fail'
// it takes `rise` consecutive successes to be ok, from 'ok' `fall` consecutive failures to be
// fail; a success while going down restores full health, a failure while going up loses all the
// successes gathered so far. We follow that exactly.

import type { TrackerStatus } from './priority.js';

export interface RiseFallOptions {
  /** Consecutive successes to go from fail to ok (>= 1). */
  rise: number;
  /** Consecutive failures to go from ok to fail (>= 1). */
  fall: number;
  /** keepalived's `init_fail`: start in 'fail' (needs `rise` successes) instead of 'unknown'. */
  initFail?: boolean;
}

export class RiseFall {
  readonly rise: number;
  readonly fall: number;
  /** keepalived's `result` counter. */
  private health: number;
  private current: TrackerStatus;

  constructor(opts: RiseFallOptions) {
    for (const k of ['rise', 'fall'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1) throw new RangeError(`${k} must be an integer >= 1, got ${opts[k]}`);
    }
    this.rise = opts.rise;
    this.fall = opts.fall;
    this.current = opts.initFail ? 'fail' : 'unknown';
    this.health = opts.initFail ? 0 : this.rise - 1;
  }

  get status(): TrackerStatus {
    return this.current;
  }

  /** Feeds one check outcome; returns true when the status changed. */
  record(success: boolean): boolean {
    const before = this.current;
    const top = this.rise + this.fall - 1;
    if (success) {
      if (this.health < this.rise - 1) this.health++;
      else {
        this.health = top;
        this.current = 'ok';
      }
    } else if (this.health > this.rise) {
      this.health--;
    } else {
      // At `rise` (the last allowed failure), or below it: KO. Below it the status was already
      // fail, or still unknown (keepalived's INIT state: the first failure reports KO).
      this.health = 0;
      this.current = 'fail';
    }
    return this.current !== before;
  }
}
