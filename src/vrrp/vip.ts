// The VIP driver of `warren vrrp`: what keepalived's vrrp_ipaddress.c (netlink add/del of the
// virtual addresses) and vrrp_arp.c (gratuitous ARP) do, done with the standard tools:
//
//   ip addr add VIP/PREFIX dev IF [broadcast B] [scope S] [label L]      (iproute2)
//   arping -U -c 1 -I IF -s VIP VIP                                       (iputils arping)
//
// Everything runs with execFile (argv, no shell), a timeout and LC_ALL=C. "Already there" on add
// and "not there" on delete are success; whether an address is there is asked of the kernel with
// `ip -j addr show dev IF` (JSON) rather than guessed from an error message.
//
// Becoming MASTER also deletes this host's unresolved neighbour entries on the VIP devices
// (`ip neigh flush dev IF nud incomplete nud failed`, only when /proc/net/arp lists one): after
// the link was down, packets sent meanwhile (e.g. the FINs of the sessions closed on the way to
// FAULT) leave INCOMPLETE entries that the kernel re-probes only once per retrans_time (1 s).
// Until then every answer to a client — the SYN-ACK to its reconnect — waits behind it, while the
// GARP has already sent the client here: measured in the chaos run's "link down, then up", the
// clients' reconnects timed out for 1.2 s. A flushed entry is resolved at once by the next packet.
//
// Gratuitous ARP, as keepalived does after becoming MASTER (vrrp_garp_master_*):
//   - a burst of `masterRepeat` GARPs at once, back to back (keepalived's vrrp_garp_interval 0);
//   - a second burst after `masterDelay` (0: none);
//   - `masterRefreshRepeat` GARPs every `masterRefresh` while MASTER (0: none).
// A GARP is an ARP *request* for the VIP from the VIP (sender = target = VIP, to the broadcast
// MAC), which is what keepalived sends and what `arping -U` sends. A neighbour that already has
// an entry for the VIP replaces the MAC on it at once (the kernel lets a gratuitous ARP override
// even inside the 1 s locktime); `arp_accept` only matters for creating entries that did not
// exist.
//
// iputils arping (20221126, Debian 12) cannot send a burst by itself: `-i` takes whole seconds
// only (0.01 is "invalid argument") and `-i 0` hangs after the first packet (a zero timerfd never
// fires), so `-c 5` would spread the burst over 4 s. It also lingers one interval (1 s) after its
// last packet before exiting, even with -U. So each GARP of a burst is its own `arping -c 1`,
// all started together: the packets leave within a few ms of each other. To know that a packet
// left without waiting that idle second, the driver watches /proc/PID/status: arping sends its
// first packet right after blocking SIGINT/SIGQUIT/SIGTERM for its signalfd; once that mask is
// seen, a SIGTERM is only read after the send and makes it exit at once with status 0 and
// "Sent 1 probes". An arping that does not behave so (another version, a wrapper) is simply left
// to exit on its own, within the timeout.

import { execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { GarpConfig, VirtualIpConfig } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';

/** /proc/net/arp Flags: the entry has a hardware address (linux/if_arp.h). */
const ATF_COM = 0x02;

/** Linux capability numbers (linux/capability.h). */
const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;

export interface VipPrivileges {
  /** `ip addr add|del` (run by this process) will hold CAP_NET_ADMIN. */
  netAdmin: boolean;
  /** `arping` will hold CAP_NET_RAW (or has it of its own: not checked here). */
  netRaw: boolean;
  /** For messages: uid and the capability sets that decided it. */
  detail: string;
}

/**
 * Whether the programs the VIP driver runs (`ip`, `arping`: exec'd, not setuid) will hold
 * CAP_NET_ADMIN and CAP_NET_RAW, read from /proc/self/status. A root process (euid 0) hands every
 * capability of its bounding set to what it execs; any other uid only its ambient set (systemd's
 * AmbientCapabilities=, setpriv --ambient-caps). Without this check an unprivileged daemon would
 * become MASTER and advertise while every `ip addr add` fails: the peer stays BACKUP and nobody
 * holds the VIP.
 */
export function vipPrivileges(statusText?: string): VipPrivileges {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      // No procfs: nothing to decide from; let `ip` say what it thinks.
      return { netAdmin: true, netRaw: true, detail: 'no /proc/self/status' };
    }
  }
  const field = (name: string): bigint => {
    const m = new RegExp(`^${name}:\\s*([0-9a-fA-F]+)`, 'm').exec(text!);
    return m ? BigInt(`0x${m[1]}`) : 0n;
  };
  const euid = Number(/^Uid:\s*\d+\s+(\d+)/m.exec(text)?.[1] ?? -1);
  const passed = euid === 0 ? field('CapBnd') : field('CapAmb');
  const has = (cap: number): boolean => (passed & (1n << BigInt(cap))) !== 0n;
  return {
    netAdmin: has(CAP_NET_ADMIN),
    netRaw: has(CAP_NET_RAW),
    detail: `euid ${euid}, ${euid === 0 ? 'bounding' : 'ambient'} set 0x${passed.toString(16)}`,
  };
}

/** Linux IFNAMSIZ: interface names and address labels hold at most 15 characters. */
export const IFNAMSIZ = 16;

export interface VipDriverOptions {
  /** The vrrp_instance name, for logs and messages. */
  instance: string;
  vips: VirtualIpConfig[];
  garp: GarpConfig;
  log: Logger;
  /** The iproute2 `ip` program (default 'ip', looked up in PATH). */
  ipCommand?: string;
  /** The iputils `arping` program (default 'arping'). */
  arpingCommand?: string;
  /** Timeout of one `ip` call, ms (default 5000). */
  ipTimeoutMs?: number;
  /** Timeout of one `arping` call, ms (default 3000; iputils arping exits by itself after 1 s). */
  arpingTimeoutMs?: number;
}

/** The label an address gets: the configured one, else `<dev>:vip` when it fits, else none. */
export function vipLabel(vip: Pick<VirtualIpConfig, 'dev' | 'label' | 'family'>): string | null {
  if (vip.family !== 4) return null; // labels are an IPv4 notion (ifa_label)
  if (vip.label) return vip.label;
  const label = `${vip.dev}:vip`;
  return label.length <= IFNAMSIZ - 1 ? label : null;
}

/** `ADDRESS/PREFIX`, the form `ip addr` takes. */
export function vipCidr(vip: Pick<VirtualIpConfig, 'address' | 'prefix'>): string {
  return `${vip.address}/${vip.prefix}`;
}

/** A failed external command: what ran, how it ended, what it said. */
export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly stderr: string,
    /** Exit status, or null when it did not exit normally (signal, timeout, not found). */
    readonly exitCode: number | null,
    readonly reason: string,
  ) {
    super(`${argv.join(' ')}: ${reason}`);
    this.name = 'CommandError';
  }
}

interface IpAddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
  label?: string;
}

interface IpLink {
  ifname?: string;
  addr_info?: IpAddrInfo[];
}

const ENV = { ...process.env, LC_ALL: 'C', LANG: 'C' };
const MAX_BUFFER = 4 * 1024 * 1024;
/** SIGINT | SIGQUIT | SIGTERM in a /proc SigBlk mask: iputils arping's signalfd is set up. */
const ARPING_ARMED_MASK = (1n << 1n) | (1n << 2n) | (1n << 14n);
/** How long to look for that mask before leaving arping to exit by itself. */
const ARPING_WATCH_MS = 500;

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (!a.includes(':') || !b.includes(':')) return false;
  try {
    return new URL(`http://[${a}]/`).hostname === new URL(`http://[${b}]/`).hostname;
  } catch {
    return false;
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).join(' | ');
}

/**
 * The unresolved entries of /proc/net/arp (`IP address  HW type  Flags  HW address  Mask  Device`)
 * on the devices `devs`, by device: those without ATF_COM (0x2) in Flags, i.e. INCOMPLETE or
 * FAILED; permanent entries always have it.
 */
export function unresolvedNeighbours(procNetArp: string, devs: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of procNetArp.split('\n').slice(1)) {
    const [ip, , flags, , , dev] = line.trim().split(/\s+/);
    if (ip === undefined || flags === undefined || dev === undefined || !devs.has(dev)) continue;
    if ((Number.parseInt(flags, 16) & ATF_COM) !== 0) continue;
    out.set(dev, [...(out.get(dev) ?? []), ip]);
  }
  return out;
}

export class VipDriver {
  private readonly instance: string;
  private readonly vips: VirtualIpConfig[];
  private readonly garpConfig: GarpConfig;
  private readonly log: Logger;
  private readonly ipCommand: string;
  private readonly arpingCommand: string;
  private readonly arpingComm: string;
  private readonly ipTimeoutMs: number;
  private readonly arpingTimeoutMs: number;

  private isHeld = false;
  private closed = false;
  /** add/remove/removeStale run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private secondBurst: NodeJS.Timeout | null = null;
  private refresh: NodeJS.Timeout | null = null;
  private readonly arpings = new Set<ChildProcess>();
  private warnedNoGarp = false;

  constructor(opts: VipDriverOptions) {
    this.instance = opts.instance;
    this.vips = opts.vips;
    this.garpConfig = opts.garp;
    this.log = opts.log;
    this.ipCommand = opts.ipCommand ?? 'ip';
    this.arpingCommand = opts.arpingCommand ?? 'arping';
    // /proc/PID/status "Name:" is the executable's basename cut to TASK_COMM_LEN - 1.
    this.arpingComm = basename(this.arpingCommand).slice(0, 15);
    this.ipTimeoutMs = opts.ipTimeoutMs ?? 5000;
    this.arpingTimeoutMs = opts.arpingTimeoutMs ?? 3000;
  }

  /** True from an add() that put at least one address in place until the next remove(). */
  get held(): boolean {
    return this.isHeld;
  }

  /**
   * At start, before any add(): deletes the VIPs of this instance that are already on their
   * device, left by a crashed or killed run. A match is the same address and prefix on the VIP's
   * device and, when the driver would label it, the same label: an address the host owns for
   * itself (labelled with the device name) is left alone. A missing device is not an error here
   * (nothing can be left on it; add() reports it). Returns the addresses removed.
   */
  removeStale(): Promise<string[]> {
    return this.serial(async () => {
      const removed: string[] = [];
      const errors: Error[] = [];
      const devs = [...new Set(this.vips.map((v) => v.dev))];
      for (const dev of devs) {
        let addrs: IpAddrInfo[] | null;
        try {
          addrs = await this.deviceAddresses(dev);
        } catch (err) {
          errors.push(this.fail('check for a stale', this.vips.filter((v) => v.dev === dev), err));
          continue;
        }
        if (addrs === null) {
          this.log.warn({ instance: this.instance, dev }, `device ${dev} does not exist: no stale virtual address to remove on it`);
          continue;
        }
        for (const vip of this.vips.filter((v) => v.dev === dev)) {
          const found = addrs.find((a) => this.matches(vip, a));
          if (!found) continue;
          const label = vipLabel(vip);
          if (label !== null && found.label !== undefined && found.label !== label) {
            this.log.warn(
              { instance: this.instance, vip: vip.text, dev, label: found.label },
              `${vipCidr(vip)} is on ${dev} with label ${found.label}, not ${label}: not ours, left in place`,
            );
            continue;
          }
          try {
            await this.delOne(vip);
            removed.push(vip.address);
            this.log.warn({ instance: this.instance, vip: vip.text, dev }, `removed stale virtual address ${vipCidr(vip)} from ${dev}`);
          } catch (err) {
            errors.push(err as Error);
          }
        }
      }
      if (errors.length > 0) throw combine(errors);
      return removed;
    });
  }

  /**
   * Becoming MASTER: adds every VIP (one already there counts as added), and right after each
   * address a GARP burst for it; resolves once the addresses are in place and that first burst
   * is on the wire (or has failed: a GARP failure is logged, it does not undo the takeover).
   * Then schedules the second burst (masterDelay) and the refresh (masterRefresh). Rejects when
   * an address could not be added, naming it, its device and ip's message; the others stay
   * (held is true when at least one is in place, so remove() cleans up).
   *
   * `stillMaster` is asked right before each first burst: when the instance has left MASTER
   * meanwhile (a takeover slowed down by a loaded host, superseded by a higher-priority advert
   * that arrived during `ip addr add`), the burst is skipped. It would re-point the clients'
   * ARP caches here AFTER the real master's refresh GARP, just before our release removes the
   * address: measured in the chaos run, the clients then sent to a host without the VIP until
   * their ARP entries were re-probed (8.5 s).
   */
  add(stillMaster: () => boolean = () => true): Promise<void> {
    return this.serial(async () => {
      if (this.closed) throw new Error(`instance ${this.instance}: VIP driver is closed`);
      const t0 = performance.now();
      this.stopTimers();
      const flushed = this.flushUnresolvedNeighbours();
      const results = await Promise.allSettled(
        this.vips.map(async (vip) => {
          const how = await this.addOne(vip);
          this.isHeld = true;
          await flushed; // before the GARP sends the clients here
          // The burst's failures are logged inside; they do not fail the takeover.
          if (stillMaster()) await this.burstFor(vip, this.garpConfig.masterRepeat, 'master').catch(() => undefined);
          else this.log.info({ instance: this.instance, vip: vip.address }, 'no longer MASTER: gratuitous ARP skipped');
          return { vip, how };
        }),
      );
      const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      if (ok.length > 0 && stillMaster()) this.startTimers(t0);
      this.log.info(
        {
          instance: this.instance,
          vips: ok.map((r) => `${vipCidr(r.vip)} dev ${r.vip.dev}${r.how === 'present' ? ' (already present)' : ''}`),
          failed: errors.length,
          ms: round(performance.now() - t0),
        },
        'virtual addresses added',
      );
      if (errors.length > 0) throw combine(errors);
    });
  }

  /**
   * Leaving MASTER (or FAULT, or stopping): stops the GARP timers and deletes every VIP (one
   * already gone counts as deleted, and so does one whose device has disappeared). Rejects with
   * every failure, after trying all of them.
   */
  remove(): Promise<void> {
    return this.serial(async () => {
      const t0 = performance.now();
      this.stopTimers();
      this.isHeld = false;
      const results = await Promise.allSettled(this.vips.map((vip) => this.delOne(vip)));
      const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
      this.log.info({ instance: this.instance, vips: this.vips.map((v) => vipCidr(v)), failed: errors.length, ms: round(performance.now() - t0) }, 'virtual addresses removed');
      if (errors.length > 0) throw combine(errors);
    });
  }

  /**
   * One burst now (masterRepeat GARPs per VIP), e.g. when a lower-priority master claims the VIP
   * while we hold it. Nothing to announce (resolves at once) when the VIPs are not held.
   */
  async garp(): Promise<void> {
    if (!this.isHeld || this.closed) return;
    await this.burst(this.garpConfig.masterRepeat, 'requested');
  }

  /** Shutdown: stops the timers and any arping still running. Addresses stay: remove() first. */
  close(): void {
    this.closed = true;
    this.stopTimers();
    for (const child of this.arpings) child.kill('SIGTERM');
  }

  // ---- addresses ------------------------------------------------------------------------------

  private ipAddArgs(vip: VirtualIpConfig): string[] {
    const args = ['addr', 'add', vipCidr(vip), 'dev', vip.dev];
    if (vip.brd) args.push('broadcast', vip.brd);
    if (vip.scope) args.push('scope', vip.scope);
    const label = vipLabel(vip);
    if (label !== null) args.push('label', label);
    return args;
  }

  private async addOne(vip: VirtualIpConfig): Promise<'added' | 'present'> {
    try {
      await this.run(this.ipCommand, this.ipAddArgs(vip), this.ipTimeoutMs);
      return 'added';
    } catch (err) {
      // "Address already assigned" (EEXIST) is success: ask the kernel rather than the message.
      if (err instanceof CommandError && err.exitCode !== null && (await this.isPresent(vip).catch(() => false))) return 'present';
      throw this.fail('add', [vip], err);
    }
  }

  private async delOne(vip: VirtualIpConfig): Promise<void> {
    try {
      await this.run(this.ipCommand, ['addr', 'del', vipCidr(vip), 'dev', vip.dev], this.ipTimeoutMs);
    } catch (err) {
      // Not there (EADDRNOTAVAIL), or no such device any more: nothing to delete.
      if (err instanceof CommandError && err.exitCode !== null && !(await this.isPresent(vip).catch(() => true))) return;
      throw this.fail('remove', [vip], err);
    }
  }

  private matches(vip: VirtualIpConfig, a: IpAddrInfo): boolean {
    const family = vip.family === 4 ? 'inet' : 'inet6';
    return a.family === family && a.prefixlen === vip.prefix && typeof a.local === 'string' && sameAddress(a.local, vip.address);
  }

  private async isPresent(vip: VirtualIpConfig): Promise<boolean> {
    const addrs = await this.deviceAddresses(vip.dev);
    return addrs !== null && addrs.some((a) => this.matches(vip, a));
  }

  /** The device's addresses (`ip -j addr show dev IF`), or null when there is no such device. */
  private async deviceAddresses(dev: string): Promise<IpAddrInfo[] | null> {
    let stdout: string;
    try {
      ({ stdout } = await this.run(this.ipCommand, ['-j', 'addr', 'show', 'dev', dev], this.ipTimeoutMs));
    } catch (err) {
      // Tell "no such device" from a real failure without reading the (localised) message.
      if (err instanceof CommandError && err.exitCode !== null) {
        const { stdout: links } = await this.run(this.ipCommand, ['-j', 'link', 'show'], this.ipTimeoutMs);
        if (!(parseJson(links, 'ip -j link show') as IpLink[]).some((l) => l.ifname === dev)) return null;
      }
      throw err;
    }
    const links = parseJson(stdout, `ip -j addr show dev ${dev}`) as IpLink[];
    return links.flatMap((l) => l.addr_info ?? []);
  }

  // ---- neighbours ------------------------------------------------------------------------------

  /**
   * Deletes the unresolved (INCOMPLETE or FAILED) IPv4 neighbour entries of the VIP devices, when
   * /proc/net/arp lists any (see the top of the file). Never rejects: a failure is logged, the
   * takeover goes on (the entries then resolve on their own within a second or two).
   */
  private async flushUnresolvedNeighbours(): Promise<void> {
    const devs = new Set(this.vips.filter((v) => v.family === 4).map((v) => v.dev));
    let pending: Map<string, string[]>;
    try {
      pending = unresolvedNeighbours(readFileSync('/proc/net/arp', 'utf8'), devs);
    } catch {
      return; // no /proc: nothing to learn, nothing to do
    }
    await Promise.all(
      [...pending].map(async ([dev, addresses]) => {
        try {
          await this.run(this.ipCommand, ['neigh', 'flush', 'dev', dev, 'nud', 'incomplete', 'nud', 'failed'], this.ipTimeoutMs);
          this.log.info({ instance: this.instance, dev, neighbours: addresses }, `deleted ${addresses.length} unresolved neighbour entr${addresses.length === 1 ? 'y' : 'ies'} on ${dev}: answers to them go out at once`);
        } catch (err) {
          const detail = err instanceof CommandError ? `${err.argv.join(' ')}: ${err.reason}` : String(err);
          this.log.warn({ instance: this.instance, dev, neighbours: addresses }, `cannot delete the unresolved neighbour entries on ${dev}: ${detail}`);
        }
      }),
    );
  }

  // ---- gratuitous ARP -------------------------------------------------------------------------

  /** The second burst is due masterDelay after the takeover began (`since`, performance.now()). */
  private startTimers(since: number): void {
    const { masterDelay, masterRepeat, masterRefresh, masterRefreshRepeat } = this.garpConfig;
    if (masterDelay > 0 && masterRepeat > 0) {
      this.secondBurst = setTimeout(() => {
        this.secondBurst = null;
        if (this.isHeld) this.burst(masterRepeat, 'master delay').catch(() => undefined);
      }, Math.max(0, masterDelay - (performance.now() - since)));
      this.secondBurst.unref();
    }
    if (masterRefresh > 0 && masterRefreshRepeat > 0) {
      this.refresh = setInterval(() => {
        if (this.isHeld) this.burst(masterRefreshRepeat, 'refresh').catch(() => undefined);
      }, masterRefresh);
      this.refresh.unref();
    }
  }

  private stopTimers(): void {
    if (this.secondBurst) clearTimeout(this.secondBurst);
    if (this.refresh) clearInterval(this.refresh);
    this.secondBurst = null;
    this.refresh = null;
  }

  private async burst(count: number, why: string): Promise<void> {
    const results = await Promise.allSettled(this.vips.map((vip) => this.burstFor(vip, count, why)));
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
    if (errors.length > 0) throw combine(errors);
  }

  /** `count` GARPs for one VIP, all at once; rejects (and logs) if any of them failed. */
  private async burstFor(vip: VirtualIpConfig, count: number, why: string): Promise<void> {
    if (count <= 0) return;
    if (vip.family !== 4) {
      if (!this.warnedNoGarp) this.log.warn({ instance: this.instance, vip: vip.text }, 'no gratuitous ARP for IPv6 addresses (unsolicited NA is not implemented)');
      this.warnedNoGarp = true;
      return;
    }
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: count }, () => this.sendGarp(vip)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0 && !this.isHeld) {
      // remove() ran meanwhile (arping cannot bind a deleted address): nothing to announce.
      this.log.debug({ instance: this.instance, vip: vip.text, why }, 'gratuitous ARP abandoned: the VIP was removed meanwhile');
      return;
    }
    if (failed.length > 0) {
      const err = this.fail(`send gratuitous ARP (${why}) for`, [vip], failed[0]!.reason);
      throw new Error(`${err.message}${failed.length > 1 ? ` (${failed.length} of ${count} failed)` : ''}`);
    }
    this.log.debug({ instance: this.instance, vip: vip.text, dev: vip.dev, count, why, ms: round(performance.now() - t0) }, 'gratuitous ARP sent');
  }

  /** One `arping -U -c 1`: resolves once the packet has left (see the top of the file). */
  private sendGarp(vip: VirtualIpConfig): Promise<void> {
    const args = ['-U', '-c', '1', '-I', vip.dev, '-s', vip.address, vip.address];
    return new Promise((resolve, reject) => {
      let watching = true;
      const child = execFile(this.arpingCommand, args, { timeout: this.arpingTimeoutMs, killSignal: 'SIGKILL', env: ENV, maxBuffer: MAX_BUFFER }, (err, stdout, stderr) => {
        watching = false;
        this.arpings.delete(child);
        const sent = /Sent (\d+) probe/.exec(stdout);
        if (!err && (sent === null || Number(sent[1]) >= 1)) return resolve();
        reject(err ? commandError([this.arpingCommand, ...args], err, stderr) : new CommandError([this.arpingCommand, ...args], stderr, 0, `sent nothing (${firstLine(stdout)})`));
      });
      this.arpings.add(child);
      const pid = child.pid;
      if (pid === undefined) return; // spawn failed: the callback reports it
      const deadline = performance.now() + ARPING_WATCH_MS;
      const watch = async (): Promise<void> => {
        if (!watching) return;
        let status: string;
        try {
          status = await readFile(`/proc/${pid}/status`, 'utf8');
        } catch {
          return; // gone already, or no /proc: the callback settles it
        }
        if (!watching) return;
        const name = /^Name:\s*(.*)$/m.exec(status)?.[1];
        const blocked = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1];
        if (name === this.arpingComm && blocked && (BigInt(`0x${blocked}`) & ARPING_ARMED_MASK) === ARPING_ARMED_MASK) {
          child.kill('SIGTERM'); // read through its signalfd only after the packet was sent
          return;
        }
        if (performance.now() < deadline) setTimeout(() => void watch(), 1);
      };
      void watch();
    });
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const p = this.chain.then(op, op);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private run(cmd: string, args: string[], timeout: number): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { timeout, killSignal: 'SIGKILL', env: ENV, maxBuffer: MAX_BUFFER }, (err, stdout, stderr) => {
        if (err) reject(commandError([cmd, ...args], err, stderr));
        else resolve({ stdout, stderr });
      });
    });
  }

  /** The error of an operation on some VIPs, logged with the command and its stderr. */
  private fail(what: string, vips: VirtualIpConfig[], err: unknown): Error {
    const names = vips.map((v) => `${vipCidr(v)} on ${v.dev}`).join(', ');
    const detail = err instanceof CommandError ? `${err.argv.join(' ')}: ${err.reason}` : err instanceof Error ? err.message : String(err);
    const message = `instance ${this.instance}: cannot ${what} VIP ${names}: ${detail}`;
    this.log.error(
      {
        instance: this.instance,
        vips: vips.map((v) => v.text),
        cmd: err instanceof CommandError ? err.argv.join(' ') : undefined,
        stderr: err instanceof CommandError ? err.stderr.trim() : undefined,
        exitCode: err instanceof CommandError ? err.exitCode : undefined,
      },
      message,
    );
    return new Error(message, { cause: err });
  }
}

function commandError(argv: string[], err: Error & { code?: unknown; killed?: boolean; signal?: unknown }, stderr: string): CommandError {
  const said = firstLine(stderr);
  if (typeof err.code === 'number') return new CommandError(argv, stderr, err.code, said ? `${said} (exit ${err.code})` : `exit ${err.code}`);
  if (err.killed && err.signal) return new CommandError(argv, stderr, null, `timed out, killed (${String(err.signal)})${said ? `: ${said}` : ''}`);
  if (err.code === 'ENOENT') return new CommandError(argv, stderr, null, `${argv[0]} not found (is it installed and in PATH?)`);
  if (err.signal) return new CommandError(argv, stderr, null, `killed by ${String(err.signal)}${said ? `: ${said}` : ''}`);
  return new CommandError(argv, stderr, null, err.message);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what}: unexpected output (not JSON): ${text.slice(0, 200)}`);
  }
}

function combine(errors: Error[]): Error {
  if (errors.length === 1) return errors[0]!;
  return new Error(errors.map((e) => e.message).join('; '), { cause: errors });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
