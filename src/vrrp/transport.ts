// The advert transport: one UDP socket per daemon, shared by every instance (keepalived opens a
// raw socket for IP protocol 112; Node has no raw sockets, and warren's adverts are its own
// authenticated format anyway, see advert.ts).
//
// - Bound to 0.0.0.0:port, so it receives unicast adverts and, after joinGroup(), the multicast
//   group on each instance's interface (chosen by that interface's address, as IP_ADD_MEMBERSHIP
//   needs).
// - Multicast goes out with TTL 1 (link-local group: never routed) and without loopback (our own
//   adverts are of no interest; the state machine ignores its own address anyway). The outgoing
//   interface is set per send, so instances on different interfaces can share the socket.
// - Received datagrams are handed over raw: the daemon demultiplexes by vrid and authenticates.
// - Send errors (ENETUNREACH while the link is down, ...) are counted and reported to a callback,
//   never thrown: a daemon that cannot send is still a daemon, and FAULT comes from the trackers.

import * as dgram from 'node:dgram';
import type { Logger } from '../lib/log.js';

export interface TransportOptions {
  port: number;
  log: Logger;
  onMessage: (msg: Buffer, from: string) => void;
  /** Defaults to 0.0.0.0 (every interface). */
  bindAddress?: string;
}

export interface TransportCounters {
  received: number;
  sent: number;
  sendErrors: number;
  lastSendError: string | null;
}

/** Send buffers as large as an advert can be; anything bigger is not ours. */
const RECV_BUFFER = 64 * 1024;

export class AdvertTransport {
  readonly counters: TransportCounters = { received: 0, sent: 0, sendErrors: 0, lastSendError: null };
  private readonly log: Logger;
  private readonly port: number;
  private multicastIf: string | null = null;
  private closed = false;

  private constructor(
    private readonly socket: dgram.Socket,
    opts: TransportOptions,
  ) {
    this.log = opts.log;
    this.port = opts.port;
  }

  /** Binds the socket; rejects (EADDRINUSE, EACCES) with the address in the message. */
  static open(opts: TransportOptions): Promise<AdvertTransport> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER });
    const t = new AdvertTransport(socket, opts);
    const address = opts.bindAddress ?? '0.0.0.0';
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot bind the advert socket to ${address}:${opts.port}/udp: ${err.message}`));
      socket.once('error', onError);
      socket.bind(opts.port, address, () => {
        socket.off('error', onError);
        socket.on('error', (err) => t.log.error({ err }, 'advert socket error'));
        socket.on('message', (msg, rinfo) => {
          t.counters.received++;
          opts.onMessage(msg, rinfo.address);
        });
        socket.setMulticastTTL(1);
        socket.setMulticastLoopback(false);
        resolve(t);
      });
    });
  }

  /** Receive `group` on the interface that has `interfaceAddress`. */
  joinGroup(group: string, interfaceAddress: string): void {
    this.socket.addMembership(group, interfaceAddress);
  }

  /**
   * Send one advert to each destination. For a multicast group, `interfaceAddress` picks the
   * outgoing interface. `onError` gets the first failure (the caller rate-limits its logging).
   */
  send(buf: Buffer, destinations: readonly string[], interfaceAddress: string | null, onError?: (err: Error) => void): void {
    if (this.closed) return;
    for (const dest of destinations) {
      if (interfaceAddress !== null && isMulticast(dest) && this.multicastIf !== interfaceAddress) {
        try {
          this.socket.setMulticastInterface(interfaceAddress);
          this.multicastIf = interfaceAddress;
        } catch (err) {
          this.sendFailed(err as Error, onError);
          continue;
        }
      }
      this.socket.send(buf, this.port, dest, (err) => {
        if (err) this.sendFailed(err, onError);
        else this.counters.sent++;
      });
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private sendFailed(err: Error, onError?: (err: Error) => void): void {
    this.counters.sendErrors++;
    this.counters.lastSendError = err.message;
    onError?.(err);
  }
}

function isMulticast(address: string): boolean {
  const first = Number(address.split('.', 1)[0]);
  return first >= 224 && first <= 239;
}
