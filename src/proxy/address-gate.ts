// Local addresses on which the proxy refuses new connections (runtime API `disable address`),
// and the normal form in which sessions remember the address their client connected to.
//
// Why: when this host leaves VRRP MASTER, `warren vrrp` asks the proxy to close the sessions
// that arrived on the VIP (`shutdown sessions to VIP`) before it removes the VIP, so that clients
// get a FIN at once instead of waiting for an AMQP heartbeat. Between that and the removal a
// client that reconnects at once could land here again; `disable address VIP` (sent first)
// makes such a connection fail at once too (a reset, before any server is contacted).
//
// Pure bookkeeping: the frontends do the resetting and logging, the runtime API the commands.

import * as net from 'node:net';

/** `::ffff:1.2.3.4` (an IPv4 peer on a dual-stack `::` listener) → `1.2.3.4`; undefined → ''. */
export function normalizeAddress(a: string | undefined): string {
  if (!a) return '';
  return a.length > 7 && a.startsWith('::ffff:') && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/**
 * An address typed by an operator (or sent by the vrrp daemon) in the normal form that sockets
 * report, or an error text: IPv4 as is, IPv6 compressed and lower-case (`[...]` accepted),
 * IPv4-mapped IPv6 as the IPv4 address. A prefix length (`10.0.0.1/24`) is refused: the
 * commands name one address, not a network.
 */
export function parseAddressArg(text: string | undefined): { address: string } | { error: string } {
  if (!text) return { error: 'Require an IPv4 or IPv6 address.\n' };
  let a = text;
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1);
  if (a.includes('/') && net.isIP(a.slice(0, a.indexOf('/')))) {
    return { error: `'${text}' is not an IPv4 or IPv6 address (give the address without a prefix length).\n` };
  }
  if (net.isIPv4(a)) return { address: a };
  if (!net.isIPv6(a)) return { error: `'${text}' is not an IPv4 or IPv6 address.\n` };
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped && net.isIPv4(mapped[1]!)) return { address: mapped[1]! };
  try {
    // The WHATWG serializer compresses as inet_ntop does (longest run of zero groups, lower case).
    return { address: new URL(`http://[${a}]/`).hostname.slice(1, -1) };
  } catch {
    return { address: a.toLowerCase() }; // e.g. a zone index (fe80::1%eth0), which URL refuses
  }
}

export interface DisabledAddress {
  readonly address: string;
  /** When it was disabled (ms since epoch). */
  readonly since: number;
  /** Connections reset since it was disabled. */
  reset: number;
  /** Resets not yet reported in a log line, and when the last line was written. */
  unlogged: number;
  loggedAt: number;
}

/** At most one "connections reset" log line per address per this interval (one per burst). */
export const RESET_LOG_INTERVAL_MS = 10_000;

export class AddressGate {
  private readonly disabled = new Map<string, DisabledAddress>();
  /** Multi-process primary (workers.ts): tell the workers, which accept the connections. */
  onChange: (() => void) | null = null;

  /** Number of disabled addresses: 0 on the accept path costs one comparison. */
  get size(): number {
    return this.disabled.size;
  }

  get(address: string): DisabledAddress | undefined {
    return this.disabled.get(address);
  }

  /** Disable `address` (normal form); false if it already was. */
  disable(address: string, now = Date.now()): boolean {
    if (this.disabled.has(address)) return false;
    this.disabled.set(address, { address, since: now, reset: 0, unlogged: 0, loggedAt: -Infinity });
    this.onChange?.();
    return true;
  }

  /** Enable `address` again; what it was while disabled, or null if it was not. */
  enable(address: string): DisabledAddress | null {
    const entry = this.disabled.get(address);
    if (!entry) return null;
    this.disabled.delete(address);
    this.onChange?.();
    return entry;
  }

  list(): DisabledAddress[] {
    return [...this.disabled.values()];
  }

  /**
   * Count one reset connection; returns how many resets to report in a log line now (the first
   * of a burst, then at most one line per RESET_LOG_INTERVAL_MS carrying the count), or 0.
   */
  countReset(entry: DisabledAddress, now = Date.now()): number {
    entry.reset++;
    entry.unlogged++;
    if (now - entry.loggedAt < RESET_LOG_INTERVAL_MS) return 0;
    const n = entry.unlogged;
    entry.unlogged = 0;
    entry.loggedAt = now;
    return n;
  }
}
