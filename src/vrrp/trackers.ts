// The VRRP daemon's trackers (keepalived's vrrp_track.c role): things whose health moves an
// instance's priority or puts it in FAULT. Three kinds behind one interface:
//   - script:    a vrrp_script program run every `interval` (exit 0 = OK), as its configured user;
//   - proxy:     warren's built-in tracker of the local proxy: HTTP GET of a URL (2xx = OK) over a
//                kept-alive connection, no shell script in between;
//   - interface: the link state of a network interface (track_interface, and the instance's own
//                interface unless dont_track_primary).
// Each one polls, never runs two checks at once, filters the raw results through rise/fall
// (rise-fall.ts: keepalived's semantics) and calls onChange only when the filtered status changes.
// The daemon turns the statuses into priorities (priority.ts).

import { closeSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Client } from 'undici';
import { validIfName } from '../config/vrrp-schema.js';
import type { ProxyTrackerConfig, ScriptTrackerConfig, VrrpScriptConfig } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';
import { checkScriptSecurity, describeRun, resolveRunAs, runCommand, type ResolvedRunAs } from './exec.js';
import type { TrackerStatus } from './priority.js';
import { RiseFall } from './rise-fall.js';

export type TrackerKind = 'script' | 'proxy' | 'interface';

export interface TrackerSnapshot {
  name: string;
  kind: TrackerKind;
  status: TrackerStatus;
  /** When the last check ended (epoch ms), null before the first one. */
  lastCheckAt: number | null;
  /** How the last check went: 'exit 0', 'exit 1', 'timeout after 400 ms', 'HTTP 503', 'ECONNREFUSED', 'link down', ... */
  lastDetail: string | null;
  /** Checks run, and how many of them failed (before rise/fall filtering). */
  checks: number;
  failures: number;
}

export interface Tracker {
  readonly name: string;
  snapshot(): TrackerSnapshot;
  /** Starts polling (the first check runs at once). Calling it twice does nothing. */
  start(): void;
  /** Stops polling, kills a running check, releases connections; no timer is left behind. */
  stop(): Promise<void>;
}

/** Called only when the filtered status changes (including the first result after 'unknown'). */
export type TrackerListener = (t: Tracker, status: TrackerStatus) => void;

export interface TrackerOptions {
  log: Logger;
  onChange: TrackerListener;
  /**
   * Script trackers: whom the script runs as, already resolved (null: the daemon's own user).
   * undefined: resolved here from cfg.command.user before the first run.
   */
  runAs?: ResolvedRunAs | null;
  /** global_defs.enable_script_security: refuse scripts that others could have rewritten (exec.ts). */
  scriptSecurity?: boolean;
}

interface Outcome {
  ok: boolean;
  detail: string;
}

/** One check; `signal` aborts it when the tracker stops. Must not throw (a throw counts as a failure). */
type Probe = (signal: AbortSignal) => Promise<Outcome> | Outcome;

/** The polling loop, counters, rise/fall filter and change reporting shared by every kind. */
class PollingTracker implements Tracker {
  private readonly filter: RiseFall;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private lastCheckAt: number | null = null;
  private lastDetail: string | null = null;
  private checks = 0;
  private failures = 0;
  /** When checkNow() last ran a check early (performance.now()). */
  private earlyAt = -Infinity;

  constructor(
    readonly name: string,
    readonly kind: TrackerKind,
    private readonly intervalMs: number,
    filter: { rise: number; fall: number; initFail: boolean },
    private readonly probe: Probe,
    private readonly onChange: TrackerListener,
    log: Logger,
    /** Releases what the probe holds (connections); runs once the loop has stopped. */
    private readonly release: () => Promise<void> = async () => {},
  ) {
    this.filter = new RiseFall(filter);
    this.log = log.child({ tracker: name, kind });
  }

  snapshot(): TrackerSnapshot {
    return {
      name: this.name,
      kind: this.kind,
      status: this.filter.status,
      lastCheckAt: this.lastCheckAt,
      lastDetail: this.lastDetail,
      checks: this.checks,
      failures: this.failures,
    };
  }

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    this.log.debug({ status: this.filter.status, intervalMs: this.intervalMs }, `tracker ${this.name} started`);
    this.schedule(0);
  }

  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    abort.abort();
    await this.inflight;
    this.inflight = null;
    await this.release().catch((err: Error) => this.log.warn({ err }, `tracker ${this.name}: releasing failed`));
  }

  /**
   * Check at once instead of at the next tick: the probe's kept-alive connection just closed, which
   * is the first sign of a proxy that died. At most once per interval, so a server that keeps
   * closing the connection cannot make the tracker spin; nothing while a check runs (it sees the
   * same thing) or once stopped.
   */
  checkNow(): void {
    if (!this.abort || !this.timer) return;
    const now = performance.now();
    if (now - this.earlyAt < this.intervalMs) return;
    this.earlyAt = now;
    clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inflight = this.tick();
    }, delayMs);
  }

  /** One check, then the next one `interval` after this one started (never two at once). */
  private async tick(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    const started = performance.now();
    let outcome: Outcome;
    try {
      outcome = await this.probe(abort.signal);
    } catch (err) {
      outcome = { ok: false, detail: (err as Error).message };
    }
    if (this.abort !== abort) return; // stopped meanwhile: a killed check means nothing
    this.record(outcome);
    this.schedule(Math.max(0, this.intervalMs - (performance.now() - started)));
  }

  private record(o: Outcome): void {
    this.checks++;
    if (!o.ok) this.failures++;
    this.lastCheckAt = Date.now();
    this.lastDetail = o.detail;
    const before = this.filter.status;
    if (!this.filter.record(o.ok)) return;
    const status = this.filter.status;
    const fields = { status, previous: before, detail: o.detail };
    if (status === 'ok') this.log.info(fields, `tracker ${this.name} is now ok (${o.detail})`);
    else this.log.warn(fields, `tracker ${this.name} is now failing (${o.detail})`);
    try {
      this.onChange(this, status);
    } catch (err) {
      this.log.error({ err }, `tracker ${this.name}: the change listener threw`);
    }
  }
}

// ---- script ------------------------------------------------------------------------------------

function scriptProbe(cfg: ScriptTrackerConfig, opts: TrackerOptions, log: Logger): Probe {
  // Resolved once (the user database and the security check are start-up work in keepalived too),
  // retried on the next check while it fails, so that fixing the file does not need a restart.
  let ready: { argv: string[]; runAs: ResolvedRunAs | null } | null = null;
  let lastRefusal: string | null = null;

  const prepare = async (): Promise<{ argv: string[]; runAs: ResolvedRunAs | null } | string> => {
    if (ready) return ready;
    try {
      const runAs = opts.runAs !== undefined ? opts.runAs : await resolveRunAs(cfg.command.user);
      const argv = [...cfg.command.argv];
      if (opts.scriptSecurity) argv[0] = await checkScriptSecurity(argv[0]!, runAs);
      ready = { argv, runAs };
      return ready;
    } catch (err) {
      // ScriptSecurityError says "script '...' refused: why"; resolveRunAs "user '...' does not exist".
      const reason = `not run: ${(err as Error).message}`;
      if (reason !== lastRefusal) log.error({ command: cfg.command.text }, `vrrp_script ${cfg.name}: ${reason}`);
      lastRefusal = reason;
      return reason;
    }
  };

  return async (signal) => {
    const p = await prepare();
    if (typeof p === 'string') return { ok: false, detail: p };
    const r = await runCommand(p.argv, [], { timeoutMs: cfg.timeout, runAs: p.runAs, log, signal });
    const ok = r.error === null && !r.timedOut && r.code === 0;
    if (!ok && (r.stderr || r.stdout)) log.debug({ stdout: r.stdout, stderr: r.stderr }, `vrrp_script ${cfg.name} output`);
    return { ok, detail: describeRun(r, cfg.timeout) };
  };
}

// ---- proxy -------------------------------------------------------------------------------------

/** A short, stable description of a failed request: the errno or undici code, and its message. */
function requestError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  if (code && /^E[A-Z]+$/.test(code)) return code; // ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ...
  return code ? `${code} (${e.message})` : (e.message ?? String(err));
}

function proxyTracker(cfg: ProxyTrackerConfig, opts: TrackerOptions): PollingTracker {
  const url = new URL(cfg.url);
  const path = `${url.pathname}${url.search}`;
  // One kept-alive connection: a check every 100 ms must not open a TCP connection each time.
  // Timeouts of each phase bound a check even if the abort below were lost.
  let client: Client | null = null;
  let tracker: PollingTracker | null = null;
  const connection = (): Client => {
    if (client) return client;
    client = new Client(url.origin, {
      connect: { timeout: cfg.timeout },
      headersTimeout: cfg.timeout,
      bodyTimeout: cfg.timeout,
      pipelining: 1,
    });
    // A proxy killed with -9 has its sockets closed by the kernel at once: the connection ending
    // between checks tells us up to an interval before the next check would (chaos run: kill -9 of
    // the master's proxy).
    client.on('disconnect', () => tracker?.checkNow());
    return client;
  };

  const probe: Probe = async (stopSignal) => {
    // One deadline for the whole check (connect + headers + body), and the tracker's stop.
    const ac = new AbortController();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, cfg.timeout);
    const onStop = (): void => ac.abort();
    stopSignal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await connection().request({ path, method: 'GET', signal: ac.signal, headers: { 'user-agent': 'warren-vrrp' } });
      // Read (and drop) the body so the connection can carry the next check; dump() gives up
      // and closes the connection past its limit, so a huge body costs nothing.
      await res.body.dump({ limit: 64 * 1024 });
      return { ok: res.statusCode >= 200 && res.statusCode < 300, detail: `HTTP ${res.statusCode}` };
    } catch (err) {
      return { ok: false, detail: timedOut ? `timeout after ${cfg.timeout} ms` : requestError(err) };
    } finally {
      clearTimeout(deadline);
      stopSignal.removeEventListener('abort', onStop);
    }
  };

  const release = async (): Promise<void> => {
    const c = client;
    client = null;
    if (c) await c.destroy();
  };
  tracker = new PollingTracker(cfg.name, 'proxy', cfg.interval, cfg, probe, opts.onChange, opts.log, release);
  return tracker;
}

// ---- interface ---------------------------------------------------------------------------------

// Why not systeminformation here: on Linux its networkInterfaces() runs one execSync shell script
// per interface (some 25 `cat`s plus `iw`, then nmcli): measured 55-60 ms per call on this class
// of machine, and because it is execSync the event loop is blocked all that time (54 ms measured),
// which would delay adverts; called with rescan=false it returns a cached, stale operstate; and it
// only lists interfaces that have an IP address (it walks os.networkInterfaces()), so a link
// without addresses reads as missing. networkStats() spawns a shell per call (2.3 ms). The kernel
// exposes the same facts in sysfs: reading /sys/class/net/IF/operstate costs about 10 us
// (open + read + close into a preallocated buffer; 20 us when carrier must be read too) and never
// blocks on disk, so it is read synchronously every 100 ms (0.01-0.02 % of a core). Keeping the
// files open would save the open/close, but an fd outlives a deleted-and-recreated interface. sysfs is per network namespace: the daemon sees
// the interfaces of the namespace it runs in, as keepalived does.

/** Default poll period of an interface tracker: keepalived reacts to netlink at once; 100 ms is close. */
export const INTERFACE_POLL_MS = 100;

const SYS_CLASS_NET = '/sys/class/net';
/** operstate and carrier are short words ("lowerlayerdown" is the longest). */
const attrBuf = Buffer.alloc(32);

/** A sysfs attribute's value, or the errno code reading it failed with. */
function readAttr(path: string): { value: string } | { code: string } {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const n = readSync(fd, attrBuf, 0, attrBuf.length, 0);
    return { value: attrBuf.toString('latin1', 0, n).trim() };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * The link is usable when the kernel would set IFF_RUNNING (what keepalived tests): admin up and
 * operstate 'up', or 'unknown' (drivers that do not report it, such as lo) with carrier.
 * Otherwise say why: 'link down' (admin down), 'no carrier', 'lower layer down' (e.g. a veth whose
 * peer is down), 'dormant', ...
 */
export function readLinkState(ifname: string): Outcome {
  if (!validIfName(ifname)) return { ok: false, detail: 'invalid interface name' };
  const oper = readAttr(`${SYS_CLASS_NET}/${ifname}/operstate`);
  if ('code' in oper) return { ok: false, detail: oper.code === 'ENOENT' ? 'no such interface' : `cannot read operstate: ${oper.code}` };
  if (oper.value === 'up') return { ok: true, detail: 'link up' };
  // carrier is only readable while the interface is admin up (EINVAL otherwise).
  const carrier = readAttr(`${SYS_CLASS_NET}/${ifname}/carrier`);
  const adminDown = 'code' in carrier && carrier.code === 'EINVAL';
  const hasCarrier = 'value' in carrier && carrier.value === '1';
  switch (oper.value) {
    case 'unknown':
      if (hasCarrier) return { ok: true, detail: 'link up (operstate unknown, carrier on)' };
      return { ok: false, detail: adminDown ? 'link down' : 'no carrier' };
    case 'down':
      return { ok: false, detail: adminDown ? 'link down' : 'no carrier' };
    case 'lowerlayerdown':
      return { ok: false, detail: 'no carrier (lower layer down)' };
    case 'notpresent':
      return { ok: false, detail: 'not present' };
    default: // dormant, testing
      return { ok: false, detail: oper.value };
  }
}

/** track_interface: 'fail' while the link is down, has no carrier or does not exist. */
export function createInterfaceTracker(ifname: string, opts: { log: Logger; onChange: TrackerListener; intervalMs?: number }): Tracker {
  // keepalived has no rise/fall for interfaces: the first down reading faults the instance.
  const filter = { rise: 1, fall: 1, initFail: false };
  return new PollingTracker(ifname, 'interface', opts.intervalMs ?? INTERFACE_POLL_MS, filter, () => readLinkState(ifname), opts.onChange, opts.log);
}

/** A vrrp_script: an external program, or warren's built-in tracker of the local proxy. */
export function createTracker(cfg: VrrpScriptConfig, opts: TrackerOptions): Tracker {
  if (cfg.kind === 'proxy') return proxyTracker(cfg, opts);
  const log = opts.log.child({ tracker: cfg.name, kind: 'script' });
  return new PollingTracker(cfg.name, 'script', cfg.interval, cfg, scriptProbe(cfg, opts, log), opts.onChange, opts.log);
}
