// `warren vrrp`: wires the validated config to the running parts (keepalived's vrrp_daemon.c /
// vrrp_scheduler.c role). Start order matters, so that a bad setup stops before anything on the
// host changes:
//   1. secrets read, script users resolved, scripts checked (enable_script_security);
//   2. each instance's primary address found on its interface;
//   3. the advert socket bound, multicast groups joined, the liveness listener (liveness.ts) and
//      the status API listening;
//   4. trackers started, then instances: each removes a VIP left by a crash and leaves INIT.
// Stop (SIGTERM): every instance resigns (priority 0) and hands its VIP over, then the trackers,
// the socket and the status API close.
// Reload (SIGHUP, requestReload): the file is read and validated again; an invalid one is logged
// issue by issue and changes nothing. A valid one goes through the same checks as step 1 for
// what it adds (secrets, users, script security, addresses): if one fails, nothing changes
// either. Then the plan of reload.ts is applied: instances whose identity is unchanged keep
// running without a transition (only a new effective priority, preempt setting or notifier),
// the others are stopped/started, trackers are replaced only where their config changed (a new
// tracker has its first result before it counts, so a replaced one causes no FAULT blip), and
// status_listen / proxy_socket are swapped; vrrp_port needs a restart (logged as such).

import { readFileSync, statSync } from 'node:fs';
import { ConfigError, formatIssue } from '../config/load.js';
import { loadVrrpConfig } from '../config/vrrp-load.js';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ADVERT_MAGIC } from './advert.js';
import { Instance } from './instance.js';
import { Notifier } from './notify.js';
import { effectivePriority, type EffectivePriority, type TrackerInput } from './priority.js';
import { ProxyLink } from './proxy-link.js';
import { instanceStatus, startStatusServer, type DaemonStatus, type StatusServer, type TrackerStatusView } from './status.js';
import { createInterfaceTracker, createTracker, type Tracker } from './trackers.js';
import { checkScriptSecurity, resolveRunAs, type ResolvedRunAs } from './exec.js';
import { AdvertTransport } from './transport.js';
import { LivenessListener } from './liveness.js';
import { describePlan, instanceTracks, planChangesSomething, planVrrpReload, trackerSpecs, type TrackerSpec, type TrackUse } from './reload.js';
import { VipDriver, vipPrivileges } from './vip.js';
import type { CommandConfig, VrrpConfig, VrrpInstanceConfig } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';

const MAGIC = Buffer.from(ADVERT_MAGIC, 'latin1');

/** A start-up problem the operator must fix (printed without a stack trace). */
export class DaemonSetupError extends Error {
  constructor(
    message: string,
    /** The exit status: 1, or EX_NOPERM (77) for missing privileges, which a restart cannot fix
     *  (warren-vrrp.service: RestartPreventExitStatus=77, so no restart loop). */
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** sysexits.h EX_NOPERM. */
export const EXIT_NO_PRIVILEGES = 77;

interface InstanceWiring {
  instance: Instance;
  address: string;
  /** The resolved shared secret (a reload compares it: a rewritten secret file is a new identity). */
  key: string;
  /** Tracker keys with the weight this instance gives them. */
  tracks: TrackUse[];
}

/** What step 1 (nothing touched yet) resolves from a config. */
interface Prepared {
  keys: Map<string, string>;
  users: Map<string, ResolvedRunAs | null>;
  addresses: Map<string, string>;
}

export class VrrpDaemon {
  private readonly log: Logger;
  private _config: VrrpConfig;
  private wirings: InstanceWiring[] = [];
  private readonly byVrid = new Map<number, Instance>();
  private readonly trackers = new Map<string, Tracker>();
  private transport: AdvertTransport | null = null;
  private statusServer: StatusServer | null = null;
  private liveness: LivenessListener | null = null;
  private unknownVrid = 0;
  private lastUnknownLog = 0;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;
  private proxyLink: ProxyLink | null = null;
  /** `group@address` memberships of the advert socket (never dropped: harmless if unused). */
  private readonly joined = new Set<string>();
  /** Resolves once start() is over (either way): a SIGHUP during start waits for it. */
  private started: Promise<void> | null = null;
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  /** start() succeeded: reloads apply from then on. */
  private running = false;

  constructor(config: VrrpConfig, log: Logger) {
    this._config = config;
    this.log = log;
  }

  /** The config running now (a reload replaces it). */
  get config(): VrrpConfig {
    return this._config;
  }

  start(): Promise<void> {
    const p = this.doStart();
    this.started = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  private async doStart(): Promise<void> {
    const { config, log } = this;
    for (const w of config.warnings) log.warn({ file: w.file, line: w.line, path: w.path }, w.message);

    // 1. Everything that can fail without touching the host.
    this.checkPrivileges(config);
    const prep = await this.prepare(config, config.instances);

    // 2. Sockets.
    this.transport = await AdvertTransport.open({ port: config.global.port, log, onMessage: (msg, from) => this.dispatch(msg, from) });
    for (const inst of config.instances) this.join(inst, prep.addresses.get(inst.name)!);
    this.liveness = await LivenessListener.listen(config.global.port, (address) => this.wirings.some((w) => w.instance.knowsPeer(address)), log);
    const sl = config.global.statusListen;
    if (sl) this.statusServer = await startStatusServer(sl.host, sl.port, () => this.status(), log);

    // 3. Trackers (one per vrrp_script, one per tracked interface, shared between instances).
    this.proxyLink = this.makeProxyLink(config);
    for (const spec of trackerSpecs(config).values()) this.trackers.set(spec.key, this.makeTracker(spec, config, prep.users));
    for (const inst of config.instances) this.addInstance(inst, prep, config);

    // 4. Go.
    for (const t of this.trackers.values()) t.start();
    await Promise.all(this.wirings.map((w) => w.instance.start()));
    this.running = true;
    log.info(
      { routerId: config.global.routerId, port: config.global.port, instances: this.wirings.map((w) => ({ name: w.instance.name, address: w.address, state: w.instance.state })) },
      'vrrp daemon started',
    );
  }

  /**
   * SIGHUP: read and validate the config file again and apply it (see the header). Never throws;
   * reloads are serialised, and several signals during one reload make one more reload.
   */
  requestReload(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      await this.started;
      do {
        this.reloadAgain = false;
        if (this.stopping || !this.running) break;
        await this.reloadOnce().catch((err: unknown) => this.log.error({ err }, 'reload failed'));
      } while (this.reloadAgain);
    })().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    const file = this._config.file;
    const log = this.log;
    log.info({ file }, 'reloading the configuration');
    let next: VrrpConfig;
    try {
      next = loadVrrpConfig(file);
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        log.error({ file, err: (err as Error).message }, `reload refused: cannot read ${file}; the running configuration is kept`);
        return;
      }
      for (const i of err.issues) log.error({ file: i.file, line: i.line, path: i.path }, formatIssue(i));
      log.error({ file, errors: err.issues.length }, `reload refused: ${err.issues.length} error(s) in ${file}; the running configuration is kept`);
      return;
    }
    await this.apply(next);
  }

  /** Applies a validated config to the running daemon (reload). Exposed for tests. */
  async apply(next: VrrpConfig): Promise<void> {
    const log = this.log;
    const old = this._config;
    for (const w of next.warnings) log.warn({ file: w.file, line: w.line, path: w.path }, w.message);

    // Step 1 again, for everything the new config runs, before anything changes.
    let prep: Prepared;
    try {
      prep = await this.prepare(next, next.instances);
    } catch (err) {
      if (!(err instanceof DaemonSetupError)) throw err;
      log.error({ file: next.file }, `reload refused: ${err.message}; the running configuration is kept`);
      return;
    }
    const oldKeys = new Map<string, string>();
    for (const w of this.wirings) oldKeys.set(w.instance.name, w.key);
    const plan = planVrrpReload(old, next, { old: oldKeys, next: prep.keys });

    if (!planChangesSomething(plan)) {
      this._config = next;
      for (const k of plan.keep) this.wiring(k.name).instance.updateConfig(k.config);
      for (const line of describePlan(plan)) log.warn(line);
      log.info({ file: next.file }, 'configuration reloaded: nothing to change');
      return;
    }
    for (const line of describePlan(plan)) {
      if (line.includes('needs a restart') || line.includes('only read at start')) log.warn(line);
      else log.info(line);
    }

    // Global settings.
    if (plan.global.statusListen) await this.rebindStatus(old.global.statusListen, next.global.statusListen);
    if (plan.global.proxySocket) {
      this.proxyLink = this.makeProxyLink(next);
      for (const w of this.wirings) w.instance.setProxyLink(this.proxyLink);
    }

    // Instances that go away (removed, or a new identity): resign and hand the VIP over first.
    const leaving = new Set([...plan.remove, ...plan.replace.map((r) => r.name)]);
    const gone = this.wirings.filter((w) => leaving.has(w.instance.name));
    this.wirings = this.wirings.filter((w) => !leaving.has(w.instance.name));
    for (const w of gone) this.byVrid.delete(w.instance.config.vrid);
    await Promise.all(
      gone.map(async (w) => {
        await w.instance.stop();
        await w.instance.drainNotify();
      }),
    );

    // Trackers: new and changed ones start and report once before they count.
    const specs = trackerSpecs(next);
    const fresh = new Map<string, Tracker>();
    for (const key of [...plan.trackers.add, ...plan.trackers.replace]) fresh.set(key, this.makeTracker(specs.get(key)!, next, prep.users));
    await settle([...fresh.entries()].map(([key, t]) => ({ tracker: t, spec: specs.get(key)! })));
    const retired: Tracker[] = [];
    for (const [key, t] of fresh) {
      const before = this.trackers.get(key);
      if (before) retired.push(before);
      this.trackers.set(key, t);
    }
    for (const key of plan.trackers.remove) {
      retired.push(this.trackers.get(key)!);
      this.trackers.delete(key);
    }

    // Instances that keep running.
    this._config = next;
    for (const k of plan.keep) {
      const w = this.wiring(k.name);
      w.instance.updateConfig(k.config);
      w.tracks = instanceTracks(k.config);
      if (k.notifyChanged) w.instance.setNotifier(this.makeNotifier(k.config, next, prep.users));
      if (k.preempt) w.instance.setPreempt(k.preempt.nopreempt, k.preempt.preemptDelay);
    }
    this.trackersChanged(); // new base priorities and weights: setEffective (a no-op where unchanged)

    // New instances (added, or a new identity).
    const starting = next.instances.filter((i) => plan.add.includes(i.name) || plan.replace.some((r) => r.name === i.name));
    const newInstances: Instance[] = [];
    for (const inst of starting) {
      try {
        this.join(inst, prep.addresses.get(inst.name)!);
      } catch (err) {
        log.error(`${(err as Error).message}: vrrp_instance ${inst.name} not started`);
        continue;
      }
      newInstances.push(this.addInstance(inst, prep, next));
    }
    await Promise.all(newInstances.map((i) => i.start()));
    await Promise.all(retired.map((t) => t.stop()));
    log.info(
      { file: next.file, instances: this.wirings.map((w) => ({ name: w.instance.name, state: w.instance.state, priority: w.instance.machine.priority })) },
      'configuration reloaded',
    );
  }

  /** Resign every instance, hand the VIPs over, close everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.reloading?.catch(() => undefined);
      await Promise.all(this.wirings.map((w) => w.instance.stop()));
      await Promise.all([...this.trackers.values()].map((t) => t.stop()));
      await Promise.all(this.wirings.map((w) => w.instance.drainNotify()));
      await this.transport?.close();
      await this.liveness?.close();
      await this.statusServer?.close();
    })();
    return this.stopping;
  }

  status(): DaemonStatus {
    const now = performance.now();
    const t = this.transport?.counters;
    return {
      router_id: this.config.global.routerId,
      pid: process.pid,
      started: new Date(this.startedAt).toISOString(),
      config: this.config.file,
      instances: this.wirings.map((w) => instanceStatus(w.instance, w.address, this.trackerViews(w), now)),
      transport: {
        port: this.config.global.port,
        received: t?.received ?? 0,
        sent: t?.sent ?? 0,
        send_errors: t?.sendErrors ?? 0,
        unknown_vrid: this.unknownVrid,
        last_send_error: t?.lastSendError ?? null,
      },
    };
  }

  // ---- internals ----------------------------------------------------------------------------

  private dispatch(msg: Buffer, from: string): void {
    // The vrrp id sits at offset 6 of a warren advert; the instance authenticates the rest.
    const instance = msg.length > 6 && msg.subarray(0, 4).equals(MAGIC) ? this.byVrid.get(msg[6]!) : undefined;
    if (instance) {
      instance.receive(msg, from);
      return;
    }
    this.unknownVrid++;
    const now = Date.now();
    if (now - this.lastUnknownLog > 10_000) {
      this.lastUnknownLog = now;
      this.log.warn({ from, bytes: msg.length, dropped: this.unknownVrid }, 'datagram dropped: not an advert for any of our virtual routers');
    }
  }

  private trackersChanged(): void {
    for (const w of this.wirings) w.instance.setEffective(this.effectiveFor(w.instance.config.priority, w.tracks));
  }

  private wiring(name: string): InstanceWiring {
    const w = this.wirings.find((x) => x.instance.name === name);
    if (!w) throw new Error(`no running instance ${name}`);
    return w;
  }

  /** Secrets, users, script security, addresses: all that can fail before anything changes. */
  private async prepare(config: VrrpConfig, instances: readonly VrrpInstanceConfig[]): Promise<Prepared> {
    const keys = new Map<string, string>();
    for (const inst of instances) keys.set(inst.name, readSecret(inst));
    const users = await this.resolveUsers(config);
    await this.checkScripts(config, users);
    const addresses = new Map<string, string>();
    for (const inst of instances) {
      // A running instance keeps the address it started with (its identity did not change).
      const running = this.wirings.find((w) => w.instance.name === inst.name);
      addresses.set(inst.name, running && running.instance.config.interface === inst.interface && running.instance.config.srcIp === inst.srcIp ? running.address : primaryAddress(inst));
    }
    return { keys, users, addresses };
  }

  private join(inst: VrrpInstanceConfig, address: string): void {
    if (inst.mcastGroup === null) return;
    const id = `${inst.mcastGroup}@${address}`;
    if (this.joined.has(id)) return;
    try {
      this.transport!.joinGroup(inst.mcastGroup, address);
    } catch (err) {
      throw new DaemonSetupError(`vrrp_instance ${inst.name}: cannot join ${inst.mcastGroup} on ${inst.interface}: ${(err as Error).message}`);
    }
    this.joined.add(id);
  }

  private makeProxyLink(config: VrrpConfig): ProxyLink {
    const proxy = new ProxyLink(config.global.proxySocket, this.log.child({ part: 'proxy-link' }));
    if (!proxy.configured) this.log.warn("no global_defs.proxy_socket: clients on the VIP will only notice a move at their next heartbeat");
    return proxy;
  }

  private makeTracker(spec: TrackerSpec, config: VrrpConfig, users: Map<string, ResolvedRunAs | null>): Tracker {
    const onChange = (): void => this.trackersChanged();
    if (spec.kind === 'interface') return createInterfaceTracker(spec.ifname, { log: this.log, onChange });
    const cfg = spec.script;
    const runAs = cfg.kind === 'script' ? (users.get(userKey(cfg.command)) ?? null) : null;
    return createTracker(cfg, { log: this.log, onChange, runAs, scriptSecurity: config.global.enableScriptSecurity });
  }

  private makeNotifier(inst: VrrpInstanceConfig, config: VrrpConfig, users: Map<string, ResolvedRunAs | null>): Notifier {
    return new Notifier(inst.name, inst.notify, {
      log: this.log,
      resolveRunAs: (runAs) => Promise.resolve(users.get(runAs ? `${runAs.user}:${runAs.group ?? ''}` : '') ?? null),
      scriptSecurity: config.global.enableScriptSecurity,
    });
  }

  /** Creates and registers an instance (not started); its trackers must be in this.trackers. */
  private addInstance(inst: VrrpInstanceConfig, prep: Prepared, config: VrrpConfig): Instance {
    const tracks = instanceTracks(inst);
    const address = prep.addresses.get(inst.name)!;
    const key = prep.keys.get(inst.name)!;
    const instance = new Instance(
      {
        config: inst,
        key,
        address,
        transport: this.transport!,
        vip: new VipDriver({ instance: inst.name, vips: inst.virtualIpaddresses, garp: inst.garp, log: this.log }),
        notifier: this.makeNotifier(inst, config, prep.users),
        proxy: this.proxyLink!,
        log: this.log,
        now: () => performance.now(),
        livenessPort: config.global.port,
      },
      this.effectiveFor(inst.priority, tracks),
    );
    this.wirings.push({ instance, address, tracks, key });
    this.byVrid.set(inst.vrid, instance);
    return instance;
  }

  /** status_listen changed: close the old listener, open the new one (if that fails, the old
   *  one is opened again). */
  private async rebindStatus(old: { host: string; port: number } | null, sl: { host: string; port: number } | null): Promise<void> {
    await this.statusServer?.close();
    this.statusServer = null;
    if (!sl) return;
    try {
      this.statusServer = await startStatusServer(sl.host, sl.port, () => this.status(), this.log);
      return;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `cannot listen on ${sl.host}:${sl.port} for the status API`);
    }
    if (!old) return;
    try {
      this.statusServer = await startStatusServer(old.host, old.port, () => this.status(), this.log);
      this.log.warn(`the status API stays on ${old.host}:${old.port} until the next reload`);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'the status API is off until the next reload or restart');
    }
  }

  private effectiveFor(base: number, tracks: { key: string; weight: number }[]): EffectivePriority {
    const inputs: TrackerInput[] = tracks.map((t) => ({ name: t.key, weight: t.weight, status: this.trackers.get(t.key)?.snapshot().status ?? 'unknown' }));
    return effectivePriority(base, inputs);
  }

  private trackerViews(w: InstanceWiring): TrackerStatusView[] {
    return w.tracks.map(({ key, weight }) => {
      const s = this.trackers.get(key)!.snapshot();
      return {
        name: s.name,
        kind: s.kind,
        status: s.status,
        weight,
        last_detail: s.lastDetail,
        last_check: s.lastCheckAt === null ? null : new Date(s.lastCheckAt).toISOString(),
        checks: s.checks,
        failures: s.failures,
      };
    });
  }

  /** Every user a script or hook runs as, resolved once (a missing user stops the start). */
  private async resolveUsers(config: VrrpConfig): Promise<Map<string, ResolvedRunAs | null>> {
    const users = new Map<string, ResolvedRunAs | null>();
    for (const cmd of commands(config)) {
      const key = userKey(cmd);
      if (users.has(key)) continue;
      try {
        users.set(key, await resolveRunAs(cmd.user));
      } catch (err) {
        throw new DaemonSetupError(`${cmd.text}: ${(err as Error).message}`);
      }
    }
    return users;
  }

  /** Moving a VIP needs CAP_NET_ADMIN (`ip addr`): without it, refuse to start rather than be a
   *  MASTER that holds nothing (vip.ts vipPrivileges). CAP_NET_RAW only affects the GARPs: warned. */
  private checkPrivileges(config: VrrpConfig): void {
    if (!config.instances.some((i) => i.virtualIpaddresses.length > 0)) return;
    const p = vipPrivileges();
    const how = 'run it as root, or with ambient capabilities (the shipped unit: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW; by hand: setpriv --inh-caps +net_admin,+net_raw --ambient-caps +net_admin,+net_raw)';
    if (!p.netAdmin) {
      throw new DaemonSetupError(`cannot manage virtual addresses: 'ip addr' would run without CAP_NET_ADMIN (${p.detail}); ${how}`, EXIT_NO_PRIVILEGES);
    }
    if (!p.netRaw) this.log.warn({ detail: p.detail }, `arping would run without CAP_NET_RAW: gratuitous ARPs may fail after a takeover; ${how}`);
  }

  /** enable_script_security: refuse scripts and hooks that others could rewrite. */
  private async checkScripts(config: VrrpConfig, users: Map<string, ResolvedRunAs | null>): Promise<void> {
    if (!config.global.enableScriptSecurity) return;
    const problems: string[] = [];
    for (const cmd of commands(config)) {
      try {
        await checkScriptSecurity(cmd.argv[0]!, users.get(userKey(cmd)) ?? null);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (problems.length > 0) throw new DaemonSetupError(`enable_script_security refuses:\n  ${[...new Set(problems)].join('\n  ')}`);
  }

}

/** The scripts that are tracked and the notify hooks: everything the daemon will execute. */
function commands(config: VrrpConfig): CommandConfig[] {
  const used = new Set(config.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
  const out: CommandConfig[] = [];
  for (const s of config.scripts) if (s.kind === 'script' && used.has(s.name)) out.push(s.command);
  for (const i of config.instances) {
    for (const c of [i.notify.master, i.notify.backup, i.notify.fault, i.notify.stop, i.notify.any]) if (c) out.push(c);
  }
  return out;
}

/** Longest a new tracker may take for its first result before a reload goes on without it. */
const SETTLE_MARGIN_MS = 1000;

/** Starts the trackers and waits (bounded by their timeouts) until each has a first result. */
async function settle(items: { tracker: Tracker; spec: TrackerSpec }[]): Promise<void> {
  await Promise.all(
    items.map(async ({ tracker, spec }) => {
      tracker.start();
      const limit = (spec.kind === 'script' ? spec.script.timeout : 0) + SETTLE_MARGIN_MS;
      const end = performance.now() + limit;
      while (tracker.snapshot().checks === 0 && tracker.snapshot().status === 'unknown' && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 10));
      }
    }),
  );
}

function userKey(cmd: CommandConfig): string {
  return cmd.user ? `${cmd.user.user}:${cmd.user.group ?? ''}` : '';
}

function readSecret(inst: VrrpInstanceConfig): string {
  if (inst.auth.secret !== null) return inst.auth.secret;
  const file = inst.auth.secretFile!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DaemonSetupError(`vrrp_instance ${inst.name}: cannot read the shared secret from ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.trim();
  if (secret === '') throw new DaemonSetupError(`vrrp_instance ${inst.name}: the shared secret file ${file} is empty`);
  if ((statSync(file).mode & 0o077) !== 0) {
    throw new DaemonSetupError(`vrrp_instance ${inst.name}: the shared secret file ${file} is readable by others: chmod 600 it`);
  }
  return secret;
}

/** unicast_src_ip / mcast_src_ip, else the interface's first IPv4 address that is not a VIP. */
function primaryAddress(inst: VrrpInstanceConfig): string {
  if (inst.srcIp !== null) return inst.srcIp;
  const vips = new Set(inst.virtualIpaddresses.map((v) => v.address));
  const addrs = os.networkInterfaces()[inst.interface];
  if (!addrs) throw new DaemonSetupError(`vrrp_instance ${inst.name}: no interface ${inst.interface} on this host`);
  const found = addrs.find((a) => a.family === 'IPv4' && !a.internal && !vips.has(a.address)) ?? addrs.find((a) => a.family === 'IPv4' && !vips.has(a.address));
  if (!found) throw new DaemonSetupError(`vrrp_instance ${inst.name}: interface ${inst.interface} has no IPv4 address of its own to send adverts from`);
  return found.address;
}
