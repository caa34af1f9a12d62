// The contract between a backend's runtime servers and its balance algorithm.
//
// Every algorithm is a pure, deterministic module: it reads the servers' current fields, keeps
// its own bookkeeping (trees, maps, rings) and never touches sockets or clocks. Weights are
// handled at HAProxy's own granularity so that sequences match the real HAProxy exactly:
// dynamic algorithms (roundrobin, leastconn, first, consistent hash) work on
// eweight = weight * BE_WEIGHT_SCALE, map-based ones (static-rr, map-based source) on the weight
// divided by the GCD of the configured weights.

/** What a balancer sees of a server: the runtime server object implements this. */
export interface LbServer {
  /** Position in the backend's server list (stable id, declaration order). */
  readonly index: number;
  readonly backup: boolean;
  /** Current effective weight (after slowstart, `set weight`); 0 = takes no new sessions.
   *  May be fractional during slowstart (see slowstartWeight), in steps of 1/16 like HAProxy. */
  readonly weight: number;
  /** UP (including "UP, going down": checks failing but `fall` not reached) and admin READY
   *  (not DRAIN/MAINT); not usable => never picked. */
  readonly usable: boolean;
  /** Current sessions on it. */
  readonly sessions: number;
  /** Connections waiting in its own queue. */
  readonly queued: number;
  /** 0 = unlimited. */
  readonly maxconn: number;
}

export interface Balancer {
  /** Recompute from the servers' current usable/weight (called on every state or weight change,
   *  not per connection). Changes are applied server by server in index order, incrementally, as
   *  HAProxy does, so a running round robin keeps its position. O(n). */
  update(): void;
  /** A server for a new session, or null. `clientKey` is the client address (for `source`).
   *  `avoid`: a server to skip if any other can be picked (redispatch after a failed connect).
   *  A server whose maxconn is reached (sessions >= maxconn, or anything queued on it) is skipped
   *  by the non-hashing algorithms; hashing algorithms return it anyway (the session then queues
   *  on it), as HAProxy does. null with hasUsable() true means every candidate is full: queue
   *  the session in the backend. */
  pick(clientKey: string, avoid: LbServer | null): LbServer | null;
  /** A server's sessions or queued count changed (session assigned, ended, queue moved).
   *  Call it right after changing the counters; leastconn and first need it, others ignore it. */
  loadChanged(server: LbServer): void;
  /** True when at least one server (active, or backup when no active) can take traffic. */
  hasUsable(): boolean;
}

export interface BalancerOptions {
  /** `option allbackups`: when no active server is usable, balance over all usable backups
   *  instead of sending everything to the first one. */
  allbackups: boolean;
}

// HAProxy's weight scales (include/haproxy/backend-t.h, server-t.h).
/** eweight = uweight * BE_WEIGHT_SCALE for the dynamic algorithms. */
export const BE_WEIGHT_SCALE = 16;
/** User weights are 0..256. */
export const SRV_UWGHT_MAX = 256;
export const SRV_UWGHT_RANGE = 256;
export const SRV_EWGHT_MAX = SRV_UWGHT_MAX * BE_WEIGHT_SCALE;
export const SRV_EWGHT_RANGE = SRV_UWGHT_RANGE * BE_WEIGHT_SCALE;

/** The integer effective weight the dynamic algorithms use (HAProxy's eweight). */
export function dynamicEweight(weight: number): number {
  if (!(weight > 0)) return 0;
  const w = Math.round(weight * BE_WEIGHT_SCALE);
  return w < 1 ? 1 : w;
}

/** Can this server take new sessions at all (HAProxy's srv_willbe_usable)? */
export function isEligible(s: LbServer): boolean {
  return s.usable && s.weight > 0;
}

/** Does this server have a free connection slot (HAProxy: !maxconn || (!nbpend && served < maxconn))? */
export function hasFreeSlot(s: LbServer): boolean {
  return s.maxconn === 0 || (s.queued === 0 && s.sessions < s.maxconn);
}

/** The weight a server has `elapsedMs` into a `slowstartMs` slow start, as HAProxy computes it
 *  for the dynamic algorithms: uweight * step / 16, step = (16 * elapsed + slowstart) / slowstart,
 *  at most 16 (HAProxy counts whole seconds: pass times rounded down to seconds to match it).
 *  Static algorithms (static-rr, map-based source) ignore slowstart in HAProxy: give them the
 *  full weight. */
export function slowstartWeight(uweight: number, elapsedMs: number, slowstartMs: number): number {
  if (slowstartMs <= 0 || elapsedMs >= slowstartMs || elapsedMs < 0) return uweight;
  const step = Math.min(BE_WEIGHT_SCALE, Math.floor((BE_WEIGHT_SCALE * elapsedMs + slowstartMs) / slowstartMs));
  return (uweight * step) / BE_WEIGHT_SCALE;
}
