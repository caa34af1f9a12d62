// The RFC 5798 state machine of one virtual router (a keepalived `vrrp_instance`), pure.
//
// Timer design: the machine owns no timers and reads no clock. Every input takes `now`
// (monotonic milliseconds, e.g. performance.now()) and returns the Actions to perform, in order;
// afterwards `deadline` says when the machine next needs `tick(now)` (null = never). The daemon
// keeps ONE timer per instance:
//
//     run(m.start(clock.now())); rearm();
//     function rearm() {
//       clearTimeout(timer);
//       const d = m.deadline;
//       if (d !== null) timer = setTimeout(() => { run(m.tick(clock.now())); rearm(); }, Math.max(0, d - clock.now()));
//     }
//     // and after every other input: run(m.receive(clock.now(), advert)); rearm();
//
// tick() before the deadline does nothing, so a timer firing early or twice is harmless. Tests
// drive several machines from one simulated time line with no timers at all.
//
// RFC 5798 §6.4, in milliseconds instead of centiseconds (same formulas):
//   Skew_Time            = ((256 − Priority) × Master_Adver_Interval) / 256
//   Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time
//   Master_Adver_Interval is our own interval until a master's advert teaches us its own.
//   INIT   → MASTER at once for priority 255 (address owner), else → BACKUP.
//   BACKUP: Master_Down_Timer expiry → MASTER. Advert with priority 0 → timer = Skew_Time.
//           Advert with priority ≥ ours, or any advert while not preempting → learn the interval,
//           restart the timer. Lower priority while preempting → discard (the timer runs out).
//   MASTER: every Advertisement_Interval send an advert. Advert with priority 0 → advertise at
//           once. Higher priority, or equal with a higher primary address → BACKUP. Shutdown →
//           send priority 0.
//
// keepalived's additions, followed (vrrp.c vrrp_state_backup()/vrrp_state_master_rx(),
// vrrp_scheduler.c vrrp_init_state(), vrrp_track.c):
//   - `state MASTER` for a non-owner does NOT start as master: it starts BACKUP with a first
//     Master_Down_Timer of Master_Adver_Interval + Skew_Time(255) (= interval × 257/256) instead
//     of 3 × interval + skew, so it becomes MASTER after about one interval unless it hears a
//     master it must not preempt. Priority 255 with preemption acts as `state MASTER` and goes
//     straight to MASTER; an owner with nopreempt starts as a normal BACKUP.
//   - preempt_delay: the delay starts when a BACKUP first hears a master of lower priority (and
//     restarts after it has heard one of higher or equal priority); until it has elapsed such
//     adverts are accepted as if nopreempt were set. Since that is heard within one interval of
//     startup, it is in practice "delay after startup", as keepalived's man page puts it.
//   - a MASTER hearing a lower-priority master (a split brain healing) advertises at once
//     ("forcing new election") and refreshes ARP caches (garp_lower_prio_repeat), so the other
//     side steps down at once and clients' ARP entries point back here.
//   - FAULT (tracked interface down, weight-0 tracker failing): a MASTER sends priority 0 first;
//     leaving FAULT goes to BACKUP (MASTER for an owner).
//   - when a BACKUP's priority rises, its running Master_Down_Timer is pulled in by the change
//     in Skew_Time.
//
// Warren's additions (`fastFailover`, on by default; false gives RFC/keepalived timing):
//   - a BACKUP that hears its master advertise a priority lower than its own takes over at once
//     (when preemption is allowed: not nopreempt, preempt_delay elapsed), instead of waiting
//     Master_Down_Interval; likewise when its own priority rises above the master's last one, and
//     when the preempt_delay window ends.
//   - a BACKUP announces itself every interval with a STANDBY advert (`announceStandby`), so
//     every node knows the priorities of the live peers.
//   - a MASTER whose own priority drops below the best live peer's resigns at once: it sends
//     priority 0 and becomes BACKUP. Otherwise a priority change is advertised at once.
//   - a BACKUP that hears priority 0 and knows (from STANDBY adverts) that it is the best live
//     candidate takes over at once instead of after Skew_Time; the others still wait Skew_Time,
//     so a lost STANDBY only costs the RFC's timing, never two masters for long.
//   - a MASTER that hears a higher-priority master sends one advert of its own priority before
//     it steps down (keepalived's vrrp_higher_prio_send_advert), so that the other master hears
//     a lower master and refreshes the clients' ARP caches (see advertInMaster).
//   - peerGone(): the daemon learnt that the master's process died (its host closed the liveness
//     link, see liveness.ts). Handled exactly like priority 0 from that master.
//
// Transitions emit, in order: for MASTER `sendAdvert`, `becomeMaster`, `notify`; for leaving
// MASTER a `sendAdvert(0)` first when resigning (shutdown, fault, priority drop), then
// `becomeBackup` / `becomeFault` / `becomeStopped`, `notify`.

import { parseIPv4 } from './advert.js';
import { PRIORITY_OWNER } from './priority.js';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';
/** keepalived's notify STATE argument: STOP when the instance shuts down. */
export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export type TransitionReason =
  | 'startup' // INIT → BACKUP or FAULT
  | 'address-owner' // INIT → MASTER at priority 255
  | 'master-down' // BACKUP: Master_Down_Timer expired (no advert for Master_Down_Interval)
  | 'master-resigned' // BACKUP: took over after the master sent priority 0
  | 'master-gone' // BACKUP: the master's daemon died (its liveness link closed; liveness.ts)
  | 'preempt' // BACKUP: took over from a lower-priority master (fastFailover)
  | 'higher-priority' // MASTER: heard a better master
  | 'priority-drop' // MASTER: own priority fell below the best live peer's (fastFailover)
  | 'fault'
  | 'fault-cleared'
  | 'shutdown';

export type Action =
  /** Send an ADVERT carrying this priority (0 = resigning). */
  | { type: 'sendAdvert'; priority: number }
  /** Send a STANDBY advert (a BACKUP announcing its priority; warren extension). */
  | { type: 'sendStandby'; priority: number }
  /** Add the VIPs, send gratuitous ARP. */
  | { type: 'becomeMaster' }
  /** Remove the VIPs if held (close the VIP's client sessions first). Also emitted at startup. */
  | { type: 'becomeBackup' }
  /** Remove the VIPs if held. */
  | { type: 'becomeFault' }
  /** Remove the VIPs if held: the instance is shutting down. */
  | { type: 'becomeStopped' }
  /** Send gratuitous ARP again: another node claimed the VIP while we hold it. */
  | { type: 'refreshGarp' }
  /** Run the notify hooks (notify_master/backup/fault/stop and `notify`). */
  | { type: 'notify'; state: NotifyState; previous: VrrpState; reason: TransitionReason; priority: number };

/** An authenticated advert as the machine needs it (see advert.ts for the wire format). */
export interface AdvertInput {
  type: 'advert' | 'standby';
  /** Sender's primary IPv4 address. */
  address: string;
  priority: number;
  intervalMs: number;
}

export interface MachineOptions {
  /** Our primary IPv4 address: ties between equal priorities go to the higher address. */
  address: string;
  /** Effective priority at start, 1..255 (255 = address owner). */
  priority: number;
  /** Advertisement_Interval in ms (keepalived advert_int × 1000; sub-second allowed). */
  advertIntervalMs: number;
  /** keepalived `state`: only a hint, see the header. Default BACKUP. */
  initialState?: 'MASTER' | 'BACKUP';
  /** false = keepalived `nopreempt`. Default true. */
  preempt?: boolean;
  /** keepalived `preempt_delay` in ms. Default 0. */
  preemptDelayMs?: number;
  /** Warren's faster transitions (see the header). Default true. */
  fastFailover?: boolean;
  /** BACKUP sends STANDBY adverts every interval. Default: same as fastFailover. */
  announceStandby?: boolean;
}

export interface PeerInfo {
  address: string;
  type: 'advert' | 'standby';
  priority: number;
  intervalMs: number;
  heardAt: number;
}

export interface MachineSnapshot {
  state: VrrpState;
  priority: number;
  fault: boolean;
  advertIntervalMs: number;
  masterAdverIntervalMs: number;
  skewTimeMs: number;
  masterDownIntervalMs: number;
  /** The master a BACKUP follows (last accepted advert); null otherwise. */
  master: PeerInfo | null;
  /** Every peer heard, most recent last. */
  peers: PeerInfo[];
  deadline: number | null;
  /** When preemption becomes allowed (preempt_delay running), else null. */
  preemptAllowedAt: number | null;
}

/** Peers remembered at most (the least recently heard is forgotten first). */
export const MAX_PEERS = 64;

export function skewTimeMs(priority: number, masterAdverIntervalMs: number): number {
  return ((256 - priority) * masterAdverIntervalMs) / 256;
}

export function masterDownIntervalMs(priority: number, masterAdverIntervalMs: number): number {
  return 3 * masterAdverIntervalMs + skewTimeMs(priority, masterAdverIntervalMs);
}

/** Compare primary addresses as numbers (IPv4); unparsable ones sort below and by text. */
export function compareAddresses(a: string, b: string): number {
  const na = parseIPv4(a);
  const nb = parseIPv4(b);
  if (na !== null && nb !== null) return na - nb;
  if (na !== null) return 1;
  if (nb !== null) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Does (pa, aa) win the election against (pb, ab)? Higher priority, then higher address. */
export function outranks(pa: number, aa: string, pb: number, ab: string): boolean {
  return pa > pb || (pa === pb && compareAddresses(aa, ab) > 0);
}

type TimerName = 'adver' | 'down' | 'standby' | 'preempt';

export class VrrpMachine {
  readonly address: string;
  readonly advertIntervalMs: number;
  readonly initialState: 'MASTER' | 'BACKUP';
  readonly fastFailover: boolean;
  readonly announceStandby: boolean;

  private _state: VrrpState = 'INIT';
  private _priority: number;
  /** keepalived's !nopreempt and preempt_delay: changed at run time by a reload (setPreempt*). */
  private _preempt: boolean;
  private _preemptDelayMs: number;
  private _fault = false;
  private masterAdverIntervalMs: number;
  private master: PeerInfo | null = null;
  private readonly peers = new Map<string, PeerInfo>();
  private readonly timers: Record<TimerName, number | null> = { adver: null, down: null, standby: null, preempt: null };
  /** Why the BACKUP's down timer is running: plain silence, or a master that resigned. */
  private downReason: TransitionReason = 'master-down';
  /** keepalived's preempt_time: when preemption of a lower master becomes allowed. */
  private preemptFrom: number | null = null;

  constructor(opts: MachineOptions) {
    if (parseIPv4(opts.address) === null) throw new RangeError(`address must be an IPv4 address, got ${opts.address}`);
    validatePriority(opts.priority);
    if (!(Number.isFinite(opts.advertIntervalMs) && opts.advertIntervalMs > 0)) {
      throw new RangeError(`advertIntervalMs must be > 0, got ${opts.advertIntervalMs}`);
    }
    const delay = opts.preemptDelayMs ?? 0;
    if (!(Number.isFinite(delay) && delay >= 0)) throw new RangeError(`preemptDelayMs must be >= 0, got ${delay}`);
    this.address = opts.address;
    this._priority = opts.priority;
    this.advertIntervalMs = opts.advertIntervalMs;
    this.masterAdverIntervalMs = opts.advertIntervalMs;
    this.initialState = opts.initialState ?? 'BACKUP';
    this._preempt = opts.preempt ?? true;
    this._preemptDelayMs = delay;
    this.fastFailover = opts.fastFailover ?? true;
    this.announceStandby = opts.announceStandby ?? this.fastFailover;
  }

  get state(): VrrpState {
    return this._state;
  }
  get priority(): number {
    return this._priority;
  }
  /** false = keepalived `nopreempt`. */
  get preempt(): boolean {
    return this._preempt;
  }
  /** keepalived `preempt_delay`, ms. */
  get preemptDelayMs(): number {
    return this._preemptDelayMs;
  }
  get fault(): boolean {
    return this._fault;
  }
  /** When tick() is next needed; null when nothing is scheduled (INIT, FAULT). */
  get deadline(): number | null {
    let min: number | null = null;
    for (const t of Object.values(this.timers)) if (t !== null && (min === null || t < min)) min = t;
    return min;
  }
  get skewTimeMs(): number {
    return skewTimeMs(this._priority, this.masterAdverIntervalMs);
  }
  get masterDownIntervalMs(): number {
    return masterDownIntervalMs(this._priority, this.masterAdverIntervalMs);
  }

  /** The master a BACKUP follows, while it has not resigned; else null. */
  get followedMaster(): string | null {
    return this._state === 'BACKUP' && this.master !== null && this.master.priority > 0 ? this.master.address : null;
  }

  /** Have we heard an authentic advert or standby from this address? */
  knowsPeer(address: string): boolean {
    return this.peers.has(address);
  }

  snapshot(): MachineSnapshot {
    return {
      state: this._state,
      priority: this._priority,
      fault: this._fault,
      advertIntervalMs: this.advertIntervalMs,
      masterAdverIntervalMs: this.masterAdverIntervalMs,
      skewTimeMs: this.skewTimeMs,
      masterDownIntervalMs: this.masterDownIntervalMs,
      master: this.master ? { ...this.master } : null,
      peers: [...this.peers.values()].map((p) => ({ ...p })),
      deadline: this.deadline,
      preemptAllowedAt: this.preemptFrom,
    };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** Leave INIT. Call setFault()/setPriority() before if the trackers already know better. */
  start(now: number): Action[] {
    if (this._state !== 'INIT') return [];
    this.masterAdverIntervalMs = this.advertIntervalMs;
    if (this._fault) return this.enterFault(now, 'startup');
    if (this.isOwner && this.preempt) return this.enterMaster(now, 'address-owner');
    const firstDown =
      this.initialState === 'MASTER'
        ? this.masterAdverIntervalMs + skewTimeMs(PRIORITY_OWNER, this.masterAdverIntervalMs)
        : this.masterDownIntervalMs;
    return this.enterBackup(now, 'startup', firstDown);
  }

  /** Shut down (SIGTERM): a MASTER resigns with priority 0 first. Back to INIT. */
  stop(now: number): Action[] {
    void now;
    if (this._state === 'INIT') return [];
    const previous = this._state;
    const actions: Action[] = [];
    if (previous === 'MASTER') actions.push({ type: 'sendAdvert', priority: 0 });
    this._state = 'INIT';
    this.clearTimers();
    this.master = null;
    this.preemptFrom = null;
    actions.push({ type: 'becomeStopped' }, this.notify('STOP', previous, 'shutdown'));
    return actions;
  }

  /** An authenticated advert (ADVERT or STANDBY) for this virtual router. */
  receive(now: number, advert: AdvertInput): Action[] {
    if (this._state === 'INIT') return [];
    const { priority, intervalMs } = advert;
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) return [];
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) return [];
    // Our own advert looped back by multicast; never a peer.
    if (compareAddresses(advert.address, this.address) === 0) return [];
    this.rememberPeer(now, advert);
    if (advert.type !== 'advert') return [];
    if (this._state === 'BACKUP') return this.advertInBackup(now, advert);
    if (this._state === 'MASTER') return this.advertInMaster(now, advert);
    return []; // FAULT: not taking part
  }

  /**
   * The process of the peer at `address` is gone (warren: its liveness link closed). If it is the
   * master we follow, act as if it had resigned (priority 0); otherwise just forget its priority.
   */
  peerGone(now: number, address: string): Action[] {
    if (this._state === 'INIT') return [];
    const p = this.peers.get(address);
    if (p) this.peers.set(address, { ...p, priority: 0, heardAt: now });
    if (this._state !== 'BACKUP' || !this.master || this.master.address !== address || this.master.priority === 0) return [];
    return this.masterResigned(now, address, 'master-gone');
  }

  /** The timer(s) due at `now`. Early or repeated calls do nothing. */
  tick(now: number): Action[] {
    const actions: Action[] = [];
    // Each handler clears or moves its own timer past `now`, so this terminates.
    for (let guard = 0; guard < 8; guard++) {
      const due = this.dueTimer(now);
      if (due === null) break;
      actions.push(...this.fire(due, now));
    }
    return actions;
  }

  /** The effective priority changed (trackers; see priority.ts). 1..255. */
  setPriority(now: number, priority: number): Action[] {
    validatePriority(priority);
    const old = this._priority;
    if (priority === old) return [];
    this._priority = priority;
    if (this._state === 'MASTER') return this.priorityChangedInMaster(now, old);
    if (this._state === 'BACKUP') return this.priorityChangedInBackup(now, old);
    return [];
  }

  /** Fault on (tracked interface down, weight-0 tracker failing) or off. */
  setFault(now: number, fault: boolean): Action[] {
    if (fault === this._fault) return [];
    this._fault = fault;
    if (this._state === 'INIT') return [];
    if (fault) return this._state === 'FAULT' ? [] : this.enterFault(now, 'fault');
    if (this._state !== 'FAULT') return [];
    if (this.isOwner && this.preempt) return this.enterMaster(now, 'fault-cleared');
    this.masterAdverIntervalMs = this.advertIntervalMs;
    return this.enterBackup(now, 'fault-cleared', this.masterDownIntervalMs);
  }

  /**
   * `nopreempt` turned off (preempt = true) or on at run time (a reload). Turning preemption on in
   * a BACKUP that follows a live lower-priority master acts as hearing that master now: with
   * fastFailover it takes over at once (or starts preempt_delay); RFC timing: the master's next
   * advert is discarded and the Master_Down_Timer runs out. Turning it off cancels a running
   * preempt_delay window. Never a transition otherwise.
   */
  setPreempt(now: number, preempt: boolean): Action[] {
    if (preempt === this._preempt) return [];
    this._preempt = preempt;
    if (!preempt) {
      this.resetPreemptDelay();
      return [];
    }
    return this.preemptLowerMaster(now);
  }

  /**
   * `preempt_delay` changed at run time (a reload), ms >= 0. A window already running keeps its
   * start and gets the new length (it may thereby be over at once); then, as in setPreempt(), a
   * BACKUP following a live lower-priority master preempts if it now may.
   */
  setPreemptDelay(now: number, delayMs: number): Action[] {
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`preemptDelayMs must be >= 0, got ${delayMs}`);
    const old = this._preemptDelayMs;
    if (delayMs === old) return [];
    this._preemptDelayMs = delayMs;
    if (this.preemptFrom !== null) {
      const startedAt = this.preemptFrom - old;
      if (delayMs === 0) this.resetPreemptDelay();
      else {
        this.preemptFrom = startedAt + delayMs;
        if (this.fastFailover) this.timers.preempt = this.preemptFrom;
      }
    }
    return this.preemptLowerMaster(now);
  }

  // ---- transitions --------------------------------------------------------------------------

  private enterMaster(now: number, reason: TransitionReason): Action[] {
    const previous = this._state;
    this._state = 'MASTER';
    this.clearTimers();
    this.master = null;
    this.preemptFrom = null;
    this.masterAdverIntervalMs = this.advertIntervalMs;
    this.timers.adver = now + this.advertIntervalMs;
    return [{ type: 'sendAdvert', priority: this._priority }, { type: 'becomeMaster' }, this.notify('MASTER', previous, reason)];
  }

  private enterBackup(now: number, reason: TransitionReason, downInMs: number): Action[] {
    const previous = this._state;
    this._state = 'BACKUP';
    this.clearTimers();
    this.timers.down = now + downInMs;
    this.downReason = 'master-down';
    const actions: Action[] = [{ type: 'becomeBackup' }, this.notify('BACKUP', previous, reason)];
    if (this.announceStandby) actions.push(...this.announce(now));
    return actions;
  }

  private enterFault(now: number, reason: TransitionReason): Action[] {
    void now;
    const previous = this._state;
    const actions: Action[] = [];
    if (previous === 'MASTER') actions.push({ type: 'sendAdvert', priority: 0 });
    this._state = 'FAULT';
    this.clearTimers();
    this.master = null;
    this.preemptFrom = null;
    actions.push({ type: 'becomeFault' }, this.notify('FAULT', previous, reason));
    return actions;
  }

  // ---- BACKUP -------------------------------------------------------------------------------

  private advertInBackup(now: number, advert: AdvertInput): Action[] {
    if (advert.priority === 0) return this.masterResigned(now, advert.address, 'master-resigned');
    const lower = advert.priority < this._priority;
    if (!lower) this.resetPreemptDelay();
    if (lower && this.preempt && this.preemptDelayMs > 0 && !this.preemptAllowed(now)) this.startPreemptDelay(now);
    if (!lower || !this.preempt || !this.preemptAllowed(now)) {
      // Follow this master: learn its interval and restart the Master_Down_Timer.
      this.masterAdverIntervalMs = advert.intervalMs;
      this.master = { address: advert.address, type: 'advert', priority: advert.priority, intervalMs: advert.intervalMs, heardAt: now };
      this.timers.down = now + this.masterDownIntervalMs;
      this.downReason = 'master-down';
      return [];
    }
    // A lower-priority master and we may preempt. RFC: discard, the timer runs out.
    return this.fastFailover ? this.enterMaster(now, 'preempt') : [];
  }

  /** The master resigned. RFC: wait Skew_Time, so the best backup (shortest skew) goes first. */
  private masterResigned(now: number, address: string, reason: 'master-resigned' | 'master-gone'): Action[] {
    if (this.fastFailover && this.announceStandby && this.isBestCandidate(now, address)) return this.enterMaster(now, reason);
    if (this.master && this.master.address === address) this.master = { ...this.master, priority: 0, heardAt: now };
    this.timers.down = now + this.skewTimeMs;
    this.downReason = reason;
    return [];
  }

  private priorityChangedInBackup(now: number, old: number): Action[] {
    const down = this.timers.down;
    if (down !== null && this._priority > old) {
      const pullIn = skewTimeMs(old, this.masterAdverIntervalMs) - skewTimeMs(this._priority, this.masterAdverIntervalMs);
      this.timers.down = Math.max(now, down - pullIn);
    }
    if (!this.fastFailover) return [];
    const actions = this.announceStandby ? this.announce(now) : [];
    const m = this.liveMaster(now);
    if (!m) return actions;
    if (m.priority >= this._priority) {
      this.resetPreemptDelay();
      return actions;
    }
    if (!this.preempt) return actions;
    if (this.preemptDelayMs > 0 && !this.preemptAllowed(now)) {
      this.startPreemptDelay(now);
      return actions;
    }
    return [...actions, ...this.enterMaster(now, 'preempt')];
  }

  /** fastFailover BACKUP: take over from (or start preempt_delay against) a live lower master. */
  private preemptLowerMaster(now: number): Action[] {
    if (this._state !== 'BACKUP' || !this.fastFailover || !this._preempt) return [];
    const m = this.liveMaster(now);
    if (!m || m.priority >= this._priority) return [];
    if (this._preemptDelayMs > 0 && !this.preemptAllowed(now)) {
      this.startPreemptDelay(now);
      return [];
    }
    return this.enterMaster(now, 'preempt');
  }

  private startPreemptDelay(now: number): void {
    if (this.preemptFrom !== null) return;
    this.preemptFrom = now + this.preemptDelayMs;
    // With fastFailover the end of the window is itself a moment to take over.
    if (this.fastFailover) this.timers.preempt = this.preemptFrom;
  }

  private resetPreemptDelay(): void {
    this.preemptFrom = null;
    this.timers.preempt = null;
  }

  private preemptAllowed(now: number): boolean {
    return this.preemptDelayMs === 0 || (this.preemptFrom !== null && now >= this.preemptFrom);
  }

  /** The master we follow, if we heard it within its Master_Down_Interval and it has not resigned. */
  private liveMaster(now: number): PeerInfo | null {
    const m = this.master;
    if (!m || m.priority === 0) return null;
    return now - m.heardAt < masterDownIntervalMs(this._priority, m.intervalMs) ? m : null;
  }

  // ---- MASTER -------------------------------------------------------------------------------

  private advertInMaster(now: number, advert: AdvertInput): Action[] {
    if (advert.priority === 0) {
      // Some other master resigned: make sure everyone knows there is one (RFC).
      return this.advertiseNow(now);
    }
    if (outranks(advert.priority, advert.address, this._priority, this.address)) {
      // fastFailover: one last advert of our own priority before stepping down (keepalived's
      // vrrp_higher_prio_send_advert). In a healing split brain the other master may hear us
      // only now, or never before we are gone: this advert is the "lower master" that makes it
      // refresh the clients' ARP caches, which still point here (we GARPed while we were
      // master). Without it the clients send to a host that no longer has the VIP until their
      // ARP entries expire (measured in the chaos run: ~50 s with the lab's kernel defaults).
      const last: Action[] = this.fastFailover ? [{ type: 'sendAdvert', priority: this._priority }] : [];
      const actions = [...last, ...this.enterBackup(now, 'higher-priority', masterDownIntervalMs(this._priority, advert.intervalMs))];
      this.masterAdverIntervalMs = advert.intervalMs;
      this.master = { address: advert.address, type: 'advert', priority: advert.priority, intervalMs: advert.intervalMs, heardAt: now };
      return actions;
    }
    // A lower master (split brain healing): answer at once so it steps down now, and win the
    // clients' ARP caches back.
    return [...this.advertiseNow(now), { type: 'refreshGarp' }];
  }

  private priorityChangedInMaster(now: number, old: number): Action[] {
    if (!this.fastFailover) return []; // RFC: the next advert carries it
    if (this._priority < old && this.bestLivePeerOutranksUs(now)) {
      return [{ type: 'sendAdvert', priority: 0 }, ...this.enterBackup(now, 'priority-drop', this.masterDownIntervalMs)];
    }
    return this.advertiseNow(now);
  }

  private advertiseNow(now: number): Action[] {
    this.timers.adver = now + this.advertIntervalMs;
    return [{ type: 'sendAdvert', priority: this._priority }];
  }

  // ---- timers -------------------------------------------------------------------------------

  private dueTimer(now: number): TimerName | null {
    let best: TimerName | null = null;
    for (const name of Object.keys(this.timers) as TimerName[]) {
      const at = this.timers[name];
      if (at !== null && at <= now && (best === null || at < (this.timers[best] as number))) best = name;
    }
    return best;
  }

  private fire(name: TimerName, now: number): Action[] {
    this.timers[name] = null;
    switch (name) {
      case 'adver':
        return this.advertiseNow(now);
      case 'standby':
        return this.announce(now);
      case 'down':
        return this.enterMaster(now, this.downReason);
      case 'preempt': {
        const m = this.liveMaster(now);
        return this.preempt && m && m.priority < this._priority ? this.enterMaster(now, 'preempt') : [];
      }
    }
  }

  private announce(now: number): Action[] {
    this.timers.standby = now + this.advertIntervalMs;
    return [{ type: 'sendStandby', priority: this._priority }];
  }

  private clearTimers(): void {
    this.timers.adver = this.timers.down = this.timers.standby = this.timers.preempt = null;
  }

  // ---- peers --------------------------------------------------------------------------------

  private rememberPeer(now: number, advert: AdvertInput): void {
    this.peers.delete(advert.address);
    while (this.peers.size >= MAX_PEERS) this.peers.delete(this.peers.keys().next().value as string);
    this.peers.set(advert.address, {
      address: advert.address,
      type: advert.type,
      priority: advert.priority,
      intervalMs: advert.intervalMs,
      heardAt: now,
    });
  }

  /** Peers heard within the Master_Down_Interval of their own interval, not resigning. */
  private livePeers(now: number, exclude?: string): PeerInfo[] {
    const live: PeerInfo[] = [];
    for (const p of this.peers.values()) {
      if (p.address === exclude || p.priority === 0) continue;
      if (now - p.heardAt < masterDownIntervalMs(this._priority, p.intervalMs)) live.push(p);
    }
    return live;
  }

  private bestLivePeerOutranksUs(now: number): boolean {
    return this.livePeers(now).some((p) => outranks(p.priority, p.address, this._priority, this.address));
  }

  private isBestCandidate(now: number, exclude: string): boolean {
    return !this.livePeers(now, exclude).some((p) => outranks(p.priority, p.address, this._priority, this.address));
  }

  private get isOwner(): boolean {
    return this._priority === PRIORITY_OWNER;
  }

  private notify(state: NotifyState, previous: VrrpState, reason: TransitionReason): Action {
    return { type: 'notify', state, previous, reason, priority: this._priority };
  }
}

function validatePriority(p: number): void {
  if (!Number.isInteger(p) || p < 1 || p > 255) throw new RangeError(`priority must be an integer in 1..255, got ${p}`);
}
