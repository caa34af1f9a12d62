// Effective priority of one VRRP instance: the configured base priority adjusted by its trackers
// (track_script, track_interface, the built-in proxy tracker), exactly as keepalived computes it
// (vrrp_track.c: process_script_update_priority(), vrrp_set_effective_priority()). Pure: the
// daemon feeds the trackers' current statuses and hands the result to the state machine
// (machine.setPriority / machine.setFault).
//
// keepalived's rules, followed here:
//   - a tracker with weight > 0 adds its weight while its check passes (nothing while failing);
//   - a tracker with weight < 0 adds its (negative) weight while its check fails;
//   - a tracker with weight 0 does not touch the priority: while it fails the instance is
//     FAULT; before its first result (keepalived's SCRIPT_INIT_STATE_INIT) the instance is held
//     out of the election too (keepalived keeps it in FAULT until the script has reported);
//   - a weighted tracker that has not reported yet contributes nothing (keepalived only adjusts
//     total_priority once the script's state is known);
//   - the sum is clamped to 1..254: a tracked instance can never reach 255 (that value means
//     "address owner") nor 0 (that value means "master is resigning");
//   - an address owner (base priority 255) ignores weights entirely, its priority is always
//     255, but weight-0 trackers still fault it.

/** Priority of the IP address owner (RFC 5798 §5.2.4). Never changed by weights. */
export const PRIORITY_OWNER = 255;
/** Highest priority a non-owner can reach. */
export const PRIORITY_MAX_NON_OWNER = 254;
/** keepalived's weight range: `weight <-253..253>`. */
export const WEIGHT_MIN = -253;
export const WEIGHT_MAX = 253;

/** 'unknown': the tracker has not produced a result yet (just started). */
export type TrackerStatus = 'ok' | 'fail' | 'unknown';

export interface TrackerInput {
  /** For the fault/pending lists (logs, status API). */
  name: string;
  /** -253..253; 0 means "failure faults the instance". */
  weight: number;
  status: TrackerStatus;
}

export interface EffectivePriority {
  /** The priority to advertise: 1..254, or 255 for an address owner. */
  priority: number;
  /** base + sum of contributions before clamping (what keepalived calls total_priority). */
  unclamped: number;
  /** The instance must be held in FAULT: a weight-0 tracker failed or has not reported yet. */
  fault: boolean;
  /** Weight-0 trackers currently failing. */
  failed: string[];
  /** Weight-0 trackers that have not reported yet. */
  pending: string[];
}

export function validateBasePriority(base: number): void {
  if (!Number.isInteger(base) || base < 1 || base > PRIORITY_OWNER) {
    throw new RangeError(`priority must be an integer in 1..255, got ${base}`);
  }
}

export function validateWeight(weight: number): void {
  if (!Number.isInteger(weight) || weight < WEIGHT_MIN || weight > WEIGHT_MAX) {
    throw new RangeError(`weight must be an integer in ${WEIGHT_MIN}..${WEIGHT_MAX}, got ${weight}`);
  }
}

/** What one tracker adds to the base priority right now (0 for weight-0 trackers). */
export function trackerContribution(t: Pick<TrackerInput, 'weight' | 'status'>): number {
  if (t.weight > 0 && t.status === 'ok') return t.weight;
  if (t.weight < 0 && t.status === 'fail') return t.weight;
  return 0;
}

export function clampPriority(total: number): number {
  if (total < 1) return 1;
  if (total > PRIORITY_MAX_NON_OWNER) return PRIORITY_MAX_NON_OWNER;
  return total;
}

/** The instance's effective priority and fault state for the given tracker statuses. */
export function effectivePriority(base: number, trackers: readonly TrackerInput[]): EffectivePriority {
  validateBasePriority(base);
  const failed: string[] = [];
  const pending: string[] = [];
  let total = base;
  for (const t of trackers) {
    validateWeight(t.weight);
    if (t.weight === 0) {
      if (t.status === 'fail') failed.push(t.name);
      else if (t.status === 'unknown') pending.push(t.name);
      continue;
    }
    total += trackerContribution(t);
  }
  const owner = base === PRIORITY_OWNER;
  return {
    priority: owner ? PRIORITY_OWNER : clampPriority(total),
    unclamped: owner ? PRIORITY_OWNER : total,
    fault: failed.length > 0 || pending.length > 0,
    failed,
    pending,
  };
}
