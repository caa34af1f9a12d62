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

import { readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { ADVERT_MAGIC, type AdvertKey } from './advert.js';
import { Instance } from './instance.js';
import { Notifier } from './notify.js';
import { effectivePriority, type EffectivePriority, type TrackerInput } from './priority.js';
import { ProxyLink } from './proxy-link.js';
import { instanceStatus, startStatusServer, type DaemonStatus, type StatusServer, type TrackerStatusView } from './status.js';
import { createInterfaceTracker, createTracker, type Tracker } from './trackers.js';
import { checkScriptSecurity, resolveRunAs, type ResolvedRunAs } from './exec.js';
import { AdvertTransport } from './transport.js';
import { LivenessListener } from './liveness.js';
import { VipDriver } from './vip.js';
import type { CommandConfig, VrrpConfig, VrrpInstanceConfig } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';

const MAGIC = Buffer.from(ADVERT_MAGIC, 'latin1');

/** A start-up problem the operator must fix (printed without a stack trace). */
export class DaemonSetupError extends Error {}

interface InstanceWiring {
  instance: Instance;
  address: string;
  /** Tracker keys with the weight this instance gives them. */
  tracks: { key: string; weight: number }[];
}

export class VrrpDaemon {
  private readonly log: Logger;
  private readonly wirings: InstanceWiring[] = [];
  private readonly byVrid = new Map<number, Instance>();
  private readonly trackers = new Map<string, Tracker>();
  private transport: AdvertTransport | null = null;
  private statusServer: StatusServer | null = null;
  private liveness: LivenessListener | null = null;
  private unknownVrid = 0;
  private lastUnknownLog = 0;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;

  constructor(
    readonly config: VrrpConfig,
    log: Logger,
  ) {
    this.log = log;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    for (const w of config.warnings) log.warn({ file: w.file, line: w.line, path: w.path }, w.message);

    // 1. Everything that can fail without touching the host.
    const keys = new Map<string, AdvertKey>();
    for (const inst of config.instances) keys.set(inst.name, readSecret(inst));
    const users = await this.resolveUsers();
    await this.checkScripts(users);
    const addresses = new Map<string, string>();
    for (const inst of config.instances) addresses.set(inst.name, primaryAddress(inst));

    // 2. Sockets.
    this.transport = await AdvertTransport.open({ port: config.global.port, log, onMessage: (msg, from) => this.dispatch(msg, from) });
    for (const inst of config.instances) {
      if (inst.mcastGroup !== null) {
        try {
          this.transport.joinGroup(inst.mcastGroup, addresses.get(inst.name)!);
        } catch (err) {
          throw new DaemonSetupError(`vrrp_instance ${inst.name}: cannot join ${inst.mcastGroup} on ${inst.interface}: ${(err as Error).message}`);
        }
      }
    }
    this.liveness = await LivenessListener.listen(config.global.port, (address) => this.wirings.some((w) => w.instance.knowsPeer(address)), log);
    const sl = config.global.statusListen;
    if (sl) this.statusServer = await startStatusServer(sl.host, sl.port, () => this.status(), log);

    // 3. Trackers (one per vrrp_script, one per tracked interface, shared between instances).
    const proxy = new ProxyLink(config.global.proxySocket, log.child({ part: 'proxy-link' }));
    if (!proxy.configured) log.warn("no global_defs.proxy_socket: clients on the VIP will only notice a move at their next heartbeat");
    const onChange = (): void => this.trackersChanged();
    for (const inst of config.instances) {
      const tracks: { key: string; weight: number }[] = [];
      for (const ref of inst.trackScripts) {
        const key = `script:${ref.name}`;
        if (!this.trackers.has(key)) {
          const cfg = config.scripts.find((s) => s.name === ref.name)!;
          const runAs = cfg.kind === 'script' ? (users.get(userKey(cfg.command)) ?? null) : null;
          this.trackers.set(key, createTracker(cfg, { log, onChange, runAs, scriptSecurity: config.global.enableScriptSecurity }));
        }
        tracks.push({ key, weight: ref.weight });
      }
      const ifaces = [...inst.trackInterfaces];
      if (inst.trackPrimaryInterface && !ifaces.some((t) => t.name === inst.interface)) ifaces.push({ name: inst.interface, weight: 0 });
      for (const ref of ifaces) {
        const key = `interface:${ref.name}`;
        if (!this.trackers.has(key)) this.trackers.set(key, createInterfaceTracker(ref.name, { log, onChange }));
        tracks.push({ key, weight: ref.weight });
      }
      const address = addresses.get(inst.name)!;
      const instance = new Instance(
        {
          config: inst,
          key: keys.get(inst.name)!,
          address,
          transport: this.transport,
          vip: new VipDriver({ instance: inst.name, vips: inst.virtualIpaddresses, garp: inst.garp, log }),
          notifier: new Notifier(inst.name, inst.notify, {
            log,
            resolveRunAs: (runAs) => Promise.resolve(users.get(runAs ? `${runAs.user}:${runAs.group ?? ''}` : '') ?? null),
            scriptSecurity: config.global.enableScriptSecurity,
          }),
          proxy,
          log,
          now: () => performance.now(),
          livenessPort: config.global.port,
        },
        this.effectiveFor(inst.priority, tracks),
      );
      this.wirings.push({ instance, address, tracks });
      this.byVrid.set(inst.vrid, instance);
    }

    // 4. Go.
    for (const t of this.trackers.values()) t.start();
    await Promise.all(this.wirings.map((w) => w.instance.start()));
    log.info(
      { routerId: config.global.routerId, port: config.global.port, instances: this.wirings.map((w) => ({ name: w.instance.name, address: w.address, state: w.instance.state })) },
      'vrrp daemon started',
    );
  }

  /** Resign every instance, hand the VIPs over, close everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
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
  private async resolveUsers(): Promise<Map<string, ResolvedRunAs | null>> {
    const users = new Map<string, ResolvedRunAs | null>();
    for (const cmd of this.commands()) {
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

  /** enable_script_security: refuse scripts and hooks that others could rewrite. */
  private async checkScripts(users: Map<string, ResolvedRunAs | null>): Promise<void> {
    if (!this.config.global.enableScriptSecurity) return;
    const problems: string[] = [];
    for (const cmd of this.commands()) {
      try {
        await checkScriptSecurity(cmd.argv[0]!, users.get(userKey(cmd)) ?? null);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (problems.length > 0) throw new DaemonSetupError(`enable_script_security refuses:\n  ${[...new Set(problems)].join('\n  ')}`);
  }

  /** The scripts that are tracked and the notify hooks: everything this daemon will execute. */
  private commands(): CommandConfig[] {
    const used = new Set(this.config.instances.flatMap((i) => i.trackScripts.map((t) => t.name)));
    const out: CommandConfig[] = [];
    for (const s of this.config.scripts) if (s.kind === 'script' && used.has(s.name)) out.push(s.command);
    for (const i of this.config.instances) {
      for (const c of [i.notify.master, i.notify.backup, i.notify.fault, i.notify.stop, i.notify.any]) if (c) out.push(c);
    }
    return out;
  }
}

function userKey(cmd: CommandConfig): string {
  return cmd.user ? `${cmd.user.user}:${cmd.user.group ?? ''}` : '';
}

function readSecret(inst: VrrpInstanceConfig): AdvertKey {
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
