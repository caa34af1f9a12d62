// Listening sockets as reload sees them: each has a key, and a TCP listener can change owner.
//
// The key is what decides, on reload, whether a listening socket is kept: the address as written
// (`127.0.0.1:5672`, `[::]:5672`), plus ` v6only` for a `::` bind that shares its port with a
// separate 0.0.0.0 bind. A port-0 bind (an ephemeral port, tests) is never the same socket as
// another section's, so its key also names its section. Two listeners with the same key in the
// old and the new config are the same socket: it is never closed, so a reload refuses nothing.
//
// A TCP listener hands every connection to its owner, a frontend. The owner can change (a
// `listen` section renamed, a bind moved to another frontend: the socket stays open), and a
// listener opened by a reload before its new frontend exists holds the connections it accepts
// until the frontend takes it (nothing is accepted and dropped, nothing is refused).

import * as net from 'node:net';
import type { BindAddress } from '../config/types.js';
import type { Logger } from '../lib/log.js';

export interface ListenerSpec {
  key: string;
  bind: BindAddress;
  ipv6Only: boolean;
}

/** `127.0.0.1:5672`, `[::]:5672`. */
export function bindText(b: BindAddress): string {
  return `${net.isIPv6(b.host) ? `[${b.host}]` : b.host}:${b.port}`;
}

function withKeys(binds: readonly BindAddress[], owner: string, v6only: (b: BindAddress) => boolean): ListenerSpec[] {
  const seen = new Map<string, number>();
  return binds.map((bind) => {
    const ipv6Only = v6only(bind);
    let key = `${bindText(bind)}${ipv6Only ? ' v6only' : ''}`;
    if (bind.port === 0) key = `${key} (${owner})`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    return { key: n > 1 ? `${key} #${n}` : key, bind, ipv6Only };
  });
}

/** The listening sockets of a TCP frontend: '::' also takes IPv4 unless a separate 0.0.0.0 bind
 *  exists on the same port. */
export function tcpListenerSpecs(binds: readonly BindAddress[], owner: string): ListenerSpec[] {
  const wildcardV4Ports = new Set(binds.filter((b) => b.host === '0.0.0.0').map((b) => b.port));
  return withKeys(binds, owner, (b) => net.isIPv6(b.host) && wildcardV4Ports.has(b.port));
}

/** The listening sockets of a stats section (HTTP; never v6only). */
export function statsListenerSpecs(binds: readonly BindAddress[], owner: string): ListenerSpec[] {
  return withKeys(binds, owner, () => false);
}

/** Whoever takes a listener's connections. */
export interface ListenerOwner {
  readonly name: string;
  accept(client: net.Socket): void;
}

const noop = (): void => {};

/** One TCP listening socket and the frontend that takes its connections. */
export class Listener {
  private owner: ListenerOwner | null = null;
  /** Accepted while nobody owns the listener (between a reload's bind and its commit). */
  private held: net.Socket[] = [];

  private constructor(
    readonly key: string,
    readonly server: net.Server,
  ) {}

  static async open(spec: ListenerSpec, backlog: number, log: Logger): Promise<Listener> {
    let self: Listener | null = null;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (c) => self!.onConnection(c));
    const listener = (self = new Listener(spec.key, server));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: spec.bind.host, port: spec.bind.port, backlog, ipv6Only: spec.ipv6Only }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => log.error({ err, frontend: listener.owner?.name, bind: spec.key }, 'listener error'));
    return listener;
  }

  get ownerName(): string | null {
    return this.owner?.name ?? null;
  }

  /** Give the listener (and what it accepted meanwhile) to `owner`. */
  setOwner(owner: ListenerOwner): void {
    this.owner = owner;
    const held = this.held;
    this.held = [];
    for (const c of held) {
      c.off('error', noop);
      if (!c.destroyed) owner.accept(c);
    }
  }

  address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  /** Stop listening (new connects are refused from here on); sessions are not touched. */
  close(): void {
    this.server.close();
    for (const c of this.held) c.destroy();
    this.held = [];
  }

  private onConnection(client: net.Socket): void {
    if (this.owner) return this.owner.accept(client);
    client.on('error', noop);
    this.held.push(client);
  }
}
