// A frontend: its listening sockets, its maxconn, and the choice of backend for each connection.
//
// maxconn: past the limit HAProxy stops accepting, so new clients wait in the kernel's backlog
// instead of being refused. Node cannot stop a listening handle from accepting, so warren does
// the equivalent one step later: the connection is accepted paused (nothing read, no server
// contacted) and waits in order until a slot frees. The client sees exactly what a backlog gives
// it — an established TCP connection that answers late.
// Unlike the kernel's backlog, each waiting connection holds a descriptor of this process, so
// a flood could use them all (EMFILE): the stats page and the runtime API could no longer
// accept, health checks could no longer connect (every server DOWN), and libuv would accept and
// close connections blindly. So the waiting connections, over every frontend, are capped at what
// the descriptor limit (RLIMIT_NOFILE, the unit's LimitNOFILE) leaves once every session's two
// descriptors and a reserve for the rest are counted (ProcessLimit.waitingCap); a connection
// past that cap is reset at once (HAProxy's kernel backlog would drop its SYN instead: the
// client would retry later, where here it learns at once), and the resets are logged per burst.
//
// Disabled local addresses (runtime API `disable address`, see address-gate.ts): a connection
// accepted on one is reset at once, before any server is contacted, and counted as a denied
// connection (HAProxy's `dcon`, as a `tcp-request connection reject` would be).

import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import type { FrontendConfig, UseBackendRule } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import { normalizeAddress, type AddressGate } from './address-gate.js';
import type { Backend } from './backend.js';
import { TrafficCounters } from './counters.js';
import { Listener, tcpListenerSpecs, type ListenerOwner } from './listeners.js';
import { Session } from './session.js';

/** Descriptors kept for everything but sessions and waiting connections: listeners, the stats
 *  page (up to 512 clients), the runtime API (100), health checks, logs, node's own. */
const FD_RESERVE = 1024;

/** The soft RLIMIT_NOFILE of this process (from /proc/self/limits), null when unlimited or unknown. */
export function openFilesLimit(limits = '/proc/self/limits'): number | null {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync(limits, 'utf8'));
    const n = m ? Number(m[1]) : NaN;
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Connection limits shared by every frontend (global maxconn), and the descriptor budget. */
export class ProcessLimit {
  readonly counters = new TrafficCounters();
  readonly frontends: Frontend[] = [];
  /** Connections accepted past maxconn and waiting for a slot, over every frontend. */
  waiting = 0;
  /** Connections reset because `waitingCap` connections were already waiting. */
  overflowed = 0;
  /** Resets not logged yet, and when the current burst's line was logged. */
  private unlogged = 0;
  private loggedAt = 0;
  constructor(
    public maxconn: number,
    /** The descriptor limit (null: none known, no cap). */
    readonly nofile: number | null = openFilesLimit(),
  ) {}
  get full(): boolean {
    return this.counters.cur >= this.maxconn;
  }
  /** How many connections may wait past maxconn: the descriptors left once maxconn sessions (two
   *  each) and the reserve (a quarter of the limit at most, for small limits) are counted. */
  get waitingCap(): number {
    if (this.nofile === null) return Infinity;
    return Math.max(0, this.nofile - 2 * this.maxconn - Math.min(FD_RESERVE, Math.floor(this.nofile / 4)));
  }
  /** The limit cannot even hold maxconn sessions and the reserve: a warning for the start-up log. */
  fdWarning(): string | null {
    if (this.nofile === null) return null;
    const need = 2 * this.maxconn + Math.min(FD_RESERVE, Math.floor(this.nofile / 4));
    if (this.nofile >= need) return null;
    return `the descriptor limit (ulimit -n ${this.nofile}) is too low for maxconn ${this.maxconn}: raise it (LimitNOFILE=) to ${need} or more; connections past maxconn are reset rather than queued`;
  }
  /** One connection reset for want of descriptors; logs the count once per second at most. */
  overflow(log: Logger, frontend: string): void {
    this.overflowed++;
    this.unlogged++;
    const now = Date.now();
    if (now - this.loggedAt < 1000) return;
    this.loggedAt = now;
    log.warn(
      { frontend, reset: this.unlogged, resetTotal: this.overflowed, waiting: this.waiting, waitingCap: this.waitingCap, nofile: this.nofile },
      `maxconn ${this.maxconn} reached and ${this.waiting} connections already waiting (all the descriptor limit ${this.nofile} allows): reset ${this.unlogged} connection${this.unlogged > 1 ? 's' : ''}`,
    );
    this.unlogged = 0;
  }
  /** A process-wide slot freed: any frontend may have clients waiting for it. */
  released(): void {
    for (const fe of this.frontends) if (this.full) break; else fe.admitWaiting();
  }
}

interface CompiledRule {
  backend: Backend;
  test: (client: net.Socket) => boolean;
}

function compileRule(rule: UseBackendRule, backend: Backend): CompiledRule {
  const { kind, values, negate } = rule.condition;
  let match: (client: net.Socket) => boolean;
  if (kind === 'dst_port') {
    // A port or HAProxy's integer range `lo:hi` (validated by the config layer).
    const ranges = values.map((v) => {
      const [lo, hi = lo] = v.split(':').map(Number);
      return [lo!, hi!] as const;
    });
    match = (c) => {
      const port = c.localPort ?? 0;
      return ranges.some(([lo, hi]) => port >= lo && port <= hi);
    };
  } else {
    const list = new net.BlockList();
    for (const v of values) {
      const [addr, prefix] = v.split('/');
      const type = net.isIPv6(addr!) ? 'ipv6' : 'ipv4';
      if (prefix !== undefined) list.addSubnet(addr!, Number(prefix), type);
      else list.addAddress(addr!, type);
    }
    match = (c) => {
      const a = (kind === 'src' ? c.remoteAddress : c.localAddress) ?? '';
      const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
      return list.check(v4, net.isIPv6(v4) ? 'ipv6' : 'ipv4');
    };
  }
  return { backend, test: negate ? (c) => !match(c) : match };
}

export class Frontend implements ListenerOwner {
  readonly counters = new TrafficCounters();
  /** The listening sockets, by key (see listeners.ts); a reload keeps, adds, moves or closes them. */
  private readonly listeners = new Map<string, Listener>();
  private rules: CompiledRule[];
  private defaultBackend: Backend | null;
  /** Accepted while at maxconn: paused, waiting for a slot (see the file comment). */
  private readonly waiting: net.Socket[] = [];
  /** Of `waiting`, those not yet admitted nor dropped (each counted once in limit.waiting). */
  private readonly queued = new Set<net.Socket>();
  private waitingHead = 0;
  /** Connections refused for want of a backend or reset on a disabled address (HAProxy: denied_conn, `dcon`). */
  denied = 0;
  readonly sessions = new Set<Session>();
  private closing = false;
  /** Removed from the config by a reload: no listener, its sessions (and clients already
   *  accepted, waiting for a slot) finish; `onDrained` runs when the last one is gone. */
  retired = false;
  onDrained: (() => void) | null = null;

  constructor(
    /** Replaced by a reload (reconfigure); a session keeps the one it started with. */
    public config: FrontendConfig,
    backends: ReadonlyMap<string, Backend>,
    readonly limit: ProcessLimit,
    private readonly log: Logger,
    /** The process-wide disabled local addresses (runtime API `disable address`). */
    private readonly gate: AddressGate,
  ) {
    this.rules = config.useBackend.map((r) => compileRule(r, backends.get(r.backend)!));
    this.defaultBackend = config.defaultBackend === null ? null : backends.get(config.defaultBackend)!;
    limit.frontends.push(this);
  }

  get proxyCounters(): TrafficCounters {
    return this.limit.counters;
  }

  get name(): string {
    return this.config.name;
  }

  async listen(): Promise<void> {
    for (const spec of tcpListenerSpecs(this.config.binds, this.config.name)) {
      if (this.listeners.has(spec.key)) continue;
      this.attachListener(await Listener.open(spec, this.config.backlog, this.log));
    }
  }

  /** The addresses actually bound (port 0 in a config resolves here), in the config's order. */
  addresses(): net.AddressInfo[] {
    const out: net.AddressInfo[] = [];
    for (const spec of tcpListenerSpecs(this.config.binds, this.config.name)) {
      const l = this.listeners.get(spec.key);
      if (l) out.push(l.address());
    }
    return out;
  }

  // ---- reload -------------------------------------------------------------------------------

  listenerKeys(): string[] {
    return [...this.listeners.keys()];
  }

  /** One listening socket by key (the same object across reloads that keep it). */
  listener(key: string): Listener | undefined {
    return this.listeners.get(key);
  }

  /** Take a listening socket (kept from another frontend, or opened by a reload). */
  attachListener(l: Listener): void {
    this.listeners.set(l.key, l);
    l.setOwner(this);
  }

  /** Give up a listening socket without closing it (it moves to another frontend). */
  detachListener(key: string): Listener | null {
    const l = this.listeners.get(key) ?? null;
    this.listeners.delete(key);
    return l;
  }

  /** Stop listening on one socket; its sessions go on. */
  closeListener(key: string): void {
    this.listeners.get(key)?.close();
    this.listeners.delete(key);
  }

  /**
   * A reload changed this frontend's settings: new sessions get them (maxconn, timeouts, logging,
   * routing); running sessions keep the config they started with. The listeners are the caller's
   * business (attach/detach/closeListener).
   */
  reconfigure(config: FrontendConfig, backends: ReadonlyMap<string, Backend>): void {
    this.config = config;
    this.rules = config.useBackend.map((r) => compileRule(r, backends.get(r.backend)!));
    this.defaultBackend = config.defaultBackend === null ? null : backends.get(config.defaultBackend)!;
  }

  /** Removed by a reload: stop listening; sessions and clients already accepted finish. */
  retire(onDrained: () => void): void {
    this.retired = true;
    this.onDrained = onDrained;
    for (const key of [...this.listeners.keys()]) this.closeListener(key);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (this.retired && this.sessions.size === 0 && this.waitingCount === 0 && this.onDrained) {
      const done = this.onDrained;
      this.onDrained = null;
      done();
    }
  }

  /** A connection from one of the listeners (ListenerOwner). */
  accept(client: net.Socket): void {
    this.onConnection(client);
  }

  private onConnection = (client: net.Socket): void => {
    if (this.closing) {
      client.destroy();
      return;
    }
    if (this.gate.size > 0 && this.refuseDisabled(client)) return;
    if (this.counters.cur >= this.config.maxconn || this.limit.full) {
      client.on('error', noop); // a waiting client that resets is dropped when its turn comes
      if (this.limit.waiting >= this.limit.waitingCap) {
        client.resetAndDestroy(); // no descriptor to spare for it (see the file comment)
        this.limit.overflow(this.log, this.config.name);
        return;
      }
      this.waiting.push(client);
      this.queued.add(client);
      this.limit.waiting++;
      client.once('close', () => this.dequeue(client));
      return;
    }
    this.startSession(client);
  };

  /** Reset a connection accepted on a disabled local address (true), or let it through. */
  private refuseDisabled(client: net.Socket): boolean {
    const address = normalizeAddress(client.localAddress);
    const entry = this.gate.get(address);
    if (!entry) return false;
    this.denied++;
    client.on('error', noop);
    client.resetAndDestroy(); // RST: the client learns at once, no server is contacted
    const n = this.gate.countReset(entry);
    if (n > 0) {
      // (The count is per address, over every frontend; `frontend` names this one.)
      this.log.warn(
        { frontend: this.config.name, address, reset: n, resetTotal: entry.reset },
        `reset ${n} connection${n > 1 ? 's' : ''} to disabled address ${address} (runtime API 'disable address')`,
      );
    }
    return true;
  }

  private startSession(client: net.Socket): void {
    const backend = this.chooseBackend(client);
    if (backend === null) {
      this.denied++;
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    if (this.config.tcpka) client.setKeepAlive(true);
    const now = Date.now();
    this.counters.sessionStarted(now);
    this.limit.counters.sessionStarted(now);
    backend.counters.sessionStarted(now);
    const session = new Session(this, backend, client);
    this.sessions.add(session);
    session.start();
  }

  private chooseBackend(client: net.Socket): Backend | null {
    for (const rule of this.rules) if (rule.test(client)) return rule.backend;
    return this.defaultBackend;
  }

  /** Called once per session when both of its sockets are closed. */
  sessionEnded(session: Session): void {
    this.sessions.delete(session);
    this.counters.sessionEnded();
    this.limit.counters.sessionEnded();
    session.backend.counters.sessionEnded();
    if (this.config.tcplog && !(this.config.dontlognull && session.bytesIn === 0)) {
      this.log.info(session.logFields(), 'session');
    }
    this.admitWaiting();
    if (this.waitingCount === 0) this.limit.released();
    if (this.retired) this.checkDrained();
  }

  admitWaiting(): void {
    while (this.waitingHead < this.waiting.length && this.counters.cur < this.config.maxconn && !this.limit.full) {
      const client = this.waiting[this.waitingHead++]!;
      this.dequeue(client);
      client.off('error', noop);
      if (client.destroyed) continue;
      // (It waited for a slot while its address was disabled: no session to start there.)
      if (this.gate.size > 0 && this.refuseDisabled(client)) continue;
      this.startSession(client);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
    if (this.retired && this.sessions.size === 0) this.checkDrained();
  }

  get waitingCount(): number {
    return this.waiting.length - this.waitingHead;
  }

  /** A waiting connection leaves the queue (admitted or dropped): its descriptor is no longer ours to count. */
  private dequeue(client: net.Socket): void {
    if (this.queued.delete(client)) this.limit.waiting--;
  }

  /** Stop accepting: the listening sockets close (new connects are refused from here on). */
  async close(): Promise<void> {
    this.closing = true;
    // close() stops listening at once; its callback would wait for every session to end, which
    // is the caller's business (graceful stop), not ours.
    for (const l of this.listeners.values()) l.close();
    this.listeners.clear();
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      this.dequeue(this.waiting[i]!);
      this.waiting[i]!.destroy();
    }
    this.waiting.length = this.waitingHead = 0;
  }

  killAll(): void {
    for (const s of this.sessions) s.kill();
  }

  /**
   * Close every session whose client connected to local address `address` (normal form), and
   * every connection to it still waiting for a maxconn slot. Both sides are destroyed at once
   * (data still queued for the client is dropped): the kernel sends the client its FIN before
   * this returns (a reset instead if the client had sent bytes the proxy had not read yet).
   * Returns how many were closed.
   */
  shutdownSessionsTo(address: string): number {
    let n = 0;
    for (const s of this.sessions) {
      if (s.localAddress !== address) continue;
      s.kill();
      n++;
    }
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const c = this.waiting[i]!;
      if (c.destroyed || normalizeAddress(c.localAddress) !== address) continue;
      this.dequeue(c);
      c.destroy();
      n++;
    }
    return n;
  }
}

function noop(): void {}
