// One virtual router (a keepalived `vrrp_instance`) at run time: the pure state machine
// (machine.ts) wired to its timer, the advert transport, the VIP driver, the local proxy and the
// notify hooks. The machine decides; this file only performs its Actions, in order.
//
// Moving the VIP is the delicate part, so it is serialised: every add/remove runs on one promise
// chain per instance, and each operation first checks that the state it was queued for is still
// the current one (a flap MASTER → BACKUP → MASTER must not end with the VIP removed).
//
// Leaving MASTER (to BACKUP, or STOP on SIGTERM) while the proxy runs, in this order:
//   1. the machine has already sent its advert (priority 0 when resigning);
//   2. wait until the new master says it holds the VIP: warren's adverts list the VIPs only once
//      the sender has added them and sent its first gratuitous ARP, so by then the clients' ARP
//      caches point at the new master (bounded wait: the advert interval + 100 ms, at most 2 s;
//      not at all when going to FAULT: with the link down nobody can be reached anyway);
//   3. tell the local proxy to refuse new connections to the VIP and close the sessions that
//      arrived on it, so clients reconnect at once instead of waiting for a heartbeat — and they
//      reconnect to the new master;
//   4. remove the VIP.

import { decodeAdvert, encodeAdvert, ReplayGuard, SequenceGenerator, type AdvertKey, type DecodeReason } from './advert.js';
import { VrrpMachine, type Action, type MachineSnapshot, type TransitionReason, type VrrpState } from './machine.js';
import type { EffectivePriority } from './priority.js';
import type { AdvertTransport } from './transport.js';
import { LivenessWatch } from './liveness.js';
import type { VipDriver } from './vip.js';
import type { Notifier } from './notify.js';
import type { ProxyLink } from './proxy-link.js';
import type { VrrpInstanceConfig } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';

export interface InstanceDeps {
  config: VrrpInstanceConfig;
  key: AdvertKey;
  /** Our primary address: the advert's sender, the tie-breaker. */
  address: string;
  transport: AdvertTransport;
  vip: VipDriver;
  notifier: Notifier;
  proxy: ProxyLink;
  log: Logger;
  /** Monotonic ms (performance.now). */
  now: () => number;
  /** TCP port of the peers' liveness listeners (liveness.ts); null: no liveness links. */
  livenessPort: number | null;
}

export interface InstanceCounters {
  advertsReceived: number;
  standbysReceived: number;
  advertsSent: number;
  standbysSent: number;
  becameMaster: number;
  dropped: Partial<Record<DecodeReason, number>>;
}

/** How long a leaving master waits at most for the new one to hold the VIP. */
const MAX_HANDOVER_WAIT_MS = 2000;
/** Repeated warnings of one kind are logged at most this often. */
const LOG_EVERY_MS = 10_000;

export class Instance {
  readonly name: string;
  readonly machine: VrrpMachine;
  readonly counters: InstanceCounters = { advertsReceived: 0, standbysReceived: 0, advertsSent: 0, standbysSent: 0, becameMaster: 0, dropped: {} };
  /** Wall-clock time of the last state change, and why. */
  since = Date.now();
  lastReason: TransitionReason | null = null;
  effective: EffectivePriority | null = null;

  private readonly deps: InstanceDeps;
  /** Replaced by a reload (updateConfig) with one of the same identity (reload.ts). */
  private _config: VrrpInstanceConfig;
  /** Notifiers replaced by a reload, drained at stop (a hook may still be running). */
  private readonly retiredNotifiers: Notifier[] = [];
  private readonly log: Logger;
  private readonly seq = new SequenceGenerator();
  private readonly replay = new ReplayGuard();
  private readonly vipAddresses: string[];
  private readonly destinations: string[];
  private readonly multicastIf: string | null;
  private timer: NodeJS.Timeout | null = null;
  private vipOps: Promise<void> = Promise.resolve();
  /** Bumped on every transition: a queued VIP operation for an older one is void. */
  private generation = 0;
  /** Someone else is master and holds the VIP (its advert listed them): when we heard it. */
  private handoverHeardAt = -Infinity;
  private handoverWaiters: (() => void)[] = [];
  private readonly lastLogged = new Map<string, number>();
  private readonly liveness: LivenessWatch | null;

  constructor(deps: InstanceDeps, initial: EffectivePriority) {
    this.deps = deps;
    this._config = deps.config;
    this.name = deps.config.name;
    this.log = deps.log.child({ instance: this.name });
    this.vipAddresses = deps.config.virtualIpaddresses.map((v) => v.address);
    this.destinations = deps.config.unicastPeers.length > 0 ? deps.config.unicastPeers : [deps.config.mcastGroup!];
    this.multicastIf = deps.config.unicastPeers.length > 0 ? null : deps.address;
    this.effective = initial;
    this.machine = new VrrpMachine({
      address: deps.address,
      priority: initial.priority,
      advertIntervalMs: deps.config.advertInterval,
      initialState: deps.config.initialState,
      preempt: !deps.config.nopreempt,
      preemptDelayMs: deps.config.preemptDelay,
    });
    if (initial.fault) this.machine.setFault(deps.now(), true);
    this.liveness =
      deps.livenessPort === null
        ? null
        : new LivenessWatch(deps.livenessPort, (address) => {
            this.log.warn({ master: address }, "the master's daemon is gone (its liveness link closed)");
            this.run(this.machine.peerGone(this.deps.now(), address));
          });
  }

  get config(): VrrpInstanceConfig {
    return this._config;
  }

  // ---- reload (daemon.ts, reload.ts): changes applied to a running instance, never a restart --

  /** The new config of a reload; its identity (reload.ts identityChanges) must be the same. */
  updateConfig(config: VrrpInstanceConfig): void {
    if (config.name !== this.name || config.vrid !== this._config.vrid) throw new Error(`instance ${this.name}: updateConfig with another identity`);
    this._config = config;
  }

  /** nopreempt / preempt_delay changed: through the machine's setters (no transition unless the
   *  change itself allows a preemption now). */
  setPreempt(nopreempt: boolean, preemptDelayMs: number): void {
    const now = this.deps.now();
    // The delay first, so that turning preemption on already uses the new delay.
    this.run(this.machine.setPreemptDelay(now, preemptDelayMs));
    this.run(this.machine.setPreempt(now, !nopreempt));
  }

  /** New notify hooks: later transitions run them; hooks already queued finish on the old one. */
  setNotifier(notifier: Notifier): void {
    if (notifier === this.deps.notifier) return;
    this.retiredNotifiers.push(this.deps.notifier);
    this.deps.notifier = notifier;
  }

  /** A new proxy_socket. */
  setProxyLink(proxy: ProxyLink): void {
    this.deps.proxy = proxy;
  }

  /** Has this instance heard authentic adverts from `address`? (The liveness listener asks.) */
  knowsPeer(address: string): boolean {
    return this.machine.knowsPeer(address);
  }

  get state(): VrrpState {
    return this.machine.state;
  }

  get vipsHeld(): boolean {
    return this.deps.vip.held;
  }

  /** Remove a VIP left by a crash (closing what the proxy still has on it), then leave INIT. */
  async start(): Promise<void> {
    const stale = await this.deps.vip.removeStale().catch((err: Error) => {
      this.log.error({ err: err.message }, 'cannot check for a stale virtual address');
      return [] as string[];
    });
    if (stale.length > 0) {
      this.log.warn({ vips: stale }, 'removed virtual addresses left by an earlier run');
      await this.deps.proxy.send(stale.map((a) => `shutdown sessions to ${a}`));
    }
    this.run(this.machine.start(this.deps.now()));
  }

  /** SIGTERM: resign (priority 0) and hand the VIP over; resolves once it is removed. */
  async stop(): Promise<void> {
    this.run(this.machine.stop(this.deps.now()));
    this.liveness?.close();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.vipOps;
    this.deps.vip.close();
  }

  /** Wait (bounded by the notifier's own timeouts) for queued notify hooks. */
  async drainNotify(): Promise<void> {
    await Promise.all([this.deps.notifier, ...this.retiredNotifiers.splice(0)].map((n) => n.drain()));
  }

  /** A datagram whose vrid is ours. */
  receive(msg: Buffer, from: string): void {
    const result = decodeAdvert(msg, { key: this.deps.key, vrid: this.config.vrid, replay: this.replay });
    if (!result.ok) {
      this.counters.dropped[result.reason] = (this.counters.dropped[result.reason] ?? 0) + 1;
      this.warnSometimes(`drop:${result.reason}`, { from, reason: result.reason, bytes: msg.length }, 'advert dropped');
      return;
    }
    const a = result.advert;
    const now = this.deps.now();
    if (a.type === 'advert') this.counters.advertsReceived++;
    else this.counters.standbysReceived++;
    if (a.type === 'advert' && a.priority > 0 && a.vips.length > 0 && a.address !== this.deps.address) {
      this.handoverHeardAt = now;
      for (const wake of this.handoverWaiters.splice(0)) wake();
    }
    this.run(this.machine.receive(now, { type: a.type, address: a.address, priority: a.priority, intervalMs: a.intervalMs }));
  }

  /** The trackers changed the effective priority or fault state. */
  setEffective(ep: EffectivePriority): void {
    const prev = this.effective;
    this.effective = ep;
    if (prev && prev.priority === ep.priority && prev.fault === ep.fault) return;
    this.log.info({ priority: ep.priority, fault: ep.fault, failed: ep.failed, pending: ep.pending }, 'effective priority');
    const now = this.deps.now();
    // Into FAULT first (a priority change there means nothing); out of it last, so that the
    // machine comes back with the new priority.
    if (ep.fault) this.run(this.machine.setFault(now, true));
    this.run(this.machine.setPriority(now, ep.priority));
    if (!ep.fault) this.run(this.machine.setFault(now, false));
  }

  snapshot(): MachineSnapshot {
    return this.machine.snapshot();
  }

  // ---- actions ------------------------------------------------------------------------------

  private run(actions: Action[]): void {
    for (const action of actions) this.perform(action);
    this.rearm();
    this.liveness?.watch(this.machine.followedMaster);
  }

  private perform(action: Action): void {
    switch (action.type) {
      case 'sendAdvert':
        this.send('advert', action.priority);
        break;
      case 'sendStandby':
        this.send('standby', action.priority);
        break;
      case 'becomeMaster':
        this.counters.becameMaster++;
        this.queueTakeover(++this.generation);
        // A release still waiting for a handover is void now: let it end at once.
        for (const wake of this.handoverWaiters.splice(0)) wake();
        break;
      case 'becomeBackup':
      case 'becomeStopped':
        this.queueRelease(++this.generation, true);
        break;
      case 'becomeFault':
        this.queueRelease(++this.generation, false);
        break;
      case 'refreshGarp':
        if (this.deps.vip.held) this.deps.vip.garp().catch((err: Error) => this.log.error({ err: err.message }, 'gratuitous ARP failed'));
        break;
      case 'notify':
        this.since = Date.now();
        this.lastReason = action.reason;
        this.log.info({ state: action.state, previous: action.previous, reason: action.reason, priority: action.priority }, `${action.previous} -> ${action.state}`);
        // As keepalived: the hooks run once the VIPs are in place (or gone), so that their
        // processes do not compete with `ip` and `arping` on a takeover's critical path.
        this.queue(async () => this.deps.notifier.notify(action.state, action.priority), 'cannot run the notify hooks');
        break;
    }
  }

  private send(type: 'advert' | 'standby', priority: number): void {
    const buf = encodeAdvert(
      {
        type,
        vrid: this.config.vrid,
        priority,
        intervalCs: Math.round(this.config.advertInterval / 10),
        address: this.deps.address,
        seq: this.seq.next(),
        // The VIPs travel only once we hold them: a leaving master waits for exactly that.
        vips: type === 'advert' && priority > 0 && this.deps.vip.held ? this.vipAddresses : [],
      },
      this.deps.key,
    );
    if (type === 'advert') this.counters.advertsSent++;
    else this.counters.standbysSent++;
    this.deps.transport.send(buf, this.destinations, this.multicastIf, (err) => this.warnSometimes(`send:${err.message}`, { err: err.message }, 'cannot send advert'));
  }

  private queueTakeover(gen: number): void {
    this.queue(async () => {
      if (gen !== this.generation) return;
      // Together: a client that reaches the proxy before `enable` lands is reset and retries.
      await Promise.all([this.deps.proxy.enable(this.vipAddresses), this.deps.vip.add(() => gen === this.generation)]);
      // Announce at once that we hold the VIP now (the transition's advert went out before).
      if (gen === this.generation && this.machine.state === 'MASTER') this.send('advert', this.machine.priority);
    }, 'cannot add the virtual addresses');
  }

  private queueRelease(gen: number, waitForNewMaster: boolean): void {
    const leftAt = this.deps.now();
    /** MASTER again since (a flap): the takeover queued behind this release needs the VIP. */
    const superseded = (): boolean => gen !== this.generation && this.machine.state === 'MASTER';
    this.queue(async () => {
      if (gen !== this.generation || !this.deps.vip.held) return;
      if (waitForNewMaster) await this.waitForHandover(leftAt);
      if (superseded()) return;
      await this.deps.proxy.release(this.vipAddresses);
      // Asked again after the proxy's answer, which a busy proxy may take its time over (seen in
      // the chaos run: 90 ms, during which the instance became MASTER again; removing the VIP
      // then left nobody holding it until the takeover re-added it, and the clients' SYNs of that
      // moment were lost). The takeover's `enable` undoes the release's `disable address`.
      if (superseded()) return;
      await this.deps.vip.remove();
    }, 'cannot remove the virtual addresses');
  }

  private queue(op: () => Promise<void>, what: string): void {
    this.vipOps = this.vipOps.then(op).catch((err: Error) => this.log.error({ err: err.message }, what));
  }

  /** Until another master's advert lists the VIPs (after `since`), or the bounded wait ends. */
  private waitForHandover(since: number): Promise<void> {
    if (this.handoverHeardAt >= since) return Promise.resolve();
    const limit = Math.min(this.config.advertInterval + 100, MAX_HANDOVER_WAIT_MS);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.handoverWaiters = this.handoverWaiters.filter((w) => w !== wake);
        this.log.info({ waitedMs: limit }, 'no new master announced the virtual addresses: releasing them anyway');
        resolve();
      }, limit);
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.handoverWaiters.push(wake);
    });
  }

  private rearm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const due = this.machine.deadline;
    if (due === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run(this.machine.tick(this.deps.now()));
    }, Math.max(0, due - this.deps.now()));
  }

  private warnSometimes(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const last = this.lastLogged.get(key) ?? 0;
    if (now - last < LOG_EVERY_MS) return;
    if (this.lastLogged.size > 64) this.lastLogged.clear();
    this.lastLogged.set(key, now);
    this.log.warn(fields, msg);
  }
}
