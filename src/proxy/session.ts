// One client↔server pair: queue, connect (with retries and redispatch), then pump bytes both ways
// with backpressure and half-close, under HAProxy's timeouts, and one tcplog line at the end.
//
// The data path allocates nothing per chunk: the handlers are bound once per session (class
// fields), a chunk read from one side is written as-is to the other, and a full socket buffer
// pauses the reader until 'drain' — so memory per session stays bounded by the sockets' own
// high-water marks however slow either side reads.

import * as net from 'node:net';
import type { BackendConfig, FrontendConfig } from '../config/types.js';
import { normalizeAddress } from './address-gate.js';
import type { Backend } from './backend.js';
import type { Frontend } from './frontend.js';
import type { Queueable, WaitQueue } from './queue.js';
import type { Server } from './server.js';
import { proxyHeaderV1, proxyHeaderV2 } from './proxy-protocol.js';

// HAProxy's termination state, two characters (doc/configuration.txt §8.5):
// first: who ended it. '-' normal, C client abort, S server abort/refusal, c client timeout,
//        s server timeout, P proxy (local resources), K killed by the admin/shutdown-sessions.
// second: the phase. Q queue, C connect, D data (the server connection is or was established:
//        HAProxy's sess_set_term_flags() says D even after a half-close, e.g. a client-fin
//        timeout is `cD`), '-' normal. HAProxy's L (last data) needs a server connection that
//        never reached the established state, which cannot happen once warren pumps data.
type Phase = 'Q' | 'C' | 'D';

const noop = (): void => {};

/** Close a socket once what is queued for it has been written (a plain destroy() would drop
 *  it: the tail of a reply to a slow reader). Bounded by the socket's own timeout. */
function closeAfterFlush(sock: net.Socket): void {
  if (sock.destroyed) return;
  sock.end();
  if (sock.writableFinished) sock.destroy();
  else sock.once('finish', () => sock.destroy());
}

export class Session implements Queueable {
  queuePrev: Queueable | null = null;
  queueNext: Queueable | null = null;
  queuedIn: WaitQueue<Queueable> | null = null;

  readonly acceptedAt = Date.now();
  private readonly t0 = performance.now();
  private tQueued = -1; // Tw
  private tConnected = -1; // Tc
  private connectStart = 0;
  private phase: Phase = 'Q';
  private cause = '-';

  server: Server | null = null;
  private serverSocket: net.Socket | null = null;
  private retriesDone = 0;
  /** The connect attempt whose `timeout connect` fired, until the verdict (confirmConnectTimeout). */
  private timedOutSocket: net.Socket | null = null;
  private redispatched = false;
  private queueTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  bytesIn = 0; // client → server
  bytesOut = 0; // server → client
  private clientClosed = false;
  /** The client sent its FIN (passed on to the server). */
  private clientEnded = false;
  private serverClosed = true;
  private finished = false;
  private readonly clientAddr: string;
  private readonly clientPort: number;
  /** The local address the client connected to (normalised: no `::ffff:` prefix), for
   *  `shutdown sessions to <addr>`. Read once at accept, never on the data path. */
  readonly localAddress: string;
  /** The settings this session started with: a reload applies to new sessions only. */
  private readonly feConfig: FrontendConfig;
  private readonly beConfig: BackendConfig;

  constructor(
    readonly frontend: Frontend,
    readonly backend: Backend,
    readonly client: net.Socket,
  ) {
    this.feConfig = frontend.config;
    this.beConfig = backend.config;
    this.clientAddr = client.remoteAddress ?? '?';
    this.clientPort = client.remotePort ?? 0;
    this.localAddress = normalizeAddress(client.localAddress);
    client.on('error', this.onClientError);
    client.on('close', this.onClientClose);
    client.on('timeout', this.onClientTimeout);
    const t = this.feConfig.timeouts;
    if (t.client !== null) client.setTimeout(t.client);
  }

  /** The key `balance source` hashes. */
  get clientKey(): string {
    return this.clientAddr;
  }

  start(): void {
    this.backend.assign(this, null);
  }

  // ---- queueing (called by the backend) -----------------------------------------------------

  waitInQueue(queue: WaitQueue<Session>, timeoutMs: number | null): void {
    this.phase = 'Q';
    queue.push(this);
    // Moved from one queue to another (its server went away): the deadline stays the first one.
    if (timeoutMs !== null && this.queueTimer === null) this.queueTimer = setTimeout(this.onQueueTimeout, timeoutMs);
  }

  private onQueueTimeout = (): void => {
    this.queueTimer = null;
    this.backend.leaveQueue(this);
    this.abort('s');
  };

  /** No server can take this session at all (none usable): HAProxy logs <NOSRV> and closes. */
  noServer(): void {
    this.phase = 'C';
    this.abort('S');
  }

  // ---- connecting ---------------------------------------------------------------------------

  /** The backend gave this session a slot on `server`: connect to it. */
  connectTo(server: Server): void {
    if (this.queueTimer) clearTimeout(this.queueTimer), (this.queueTimer = null);
    if (this.tQueued < 0) this.tQueued = performance.now() - this.t0;
    this.server = server;
    this.phase = 'C';
    this.connectStart = performance.now();
    const be = this.beConfig;
    const sock = net.connect({
      host: server.config.host,
      port: server.config.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: be.tcpka,
    });
    this.serverSocket = sock;
    this.serverClosed = false;
    sock.setTimeout(be.timeouts.connect);
    sock.on('connect', this.onServerConnect);
    sock.on('error', this.onServerError);
    sock.on('close', this.onServerClose);
    sock.on('timeout', this.onServerTimeout);
  }

  private onServerConnect = (): void => {
    const sock = this.serverSocket!;
    const server = this.server!;
    this.tConnected = performance.now() - this.connectStart;
    this.phase = 'D';
    server.connectSucceeded();
    const be = this.beConfig;
    const fe = this.feConfig;
    // In TCP mode HAProxy applies `timeout tunnel`, when set, to both sides once connected.
    const tunnel = be.timeouts.tunnel ?? fe.timeouts.tunnel;
    sock.setTimeout(tunnel ?? be.timeouts.server ?? 0);
    if (tunnel !== null) this.client.setTimeout(tunnel);
    if (server.config.sendProxy) {
      const endpoints = {
        srcAddr: this.clientAddr,
        srcPort: this.clientPort,
        dstAddr: this.client.localAddress ?? '0.0.0.0',
        dstPort: this.client.localPort ?? 0,
      };
      sock.write(server.config.sendProxy === 2 ? proxyHeaderV2(endpoints) : proxyHeaderV1(endpoints));
    }
    this.client.on('data', this.onClientData);
    this.client.on('end', this.onClientEnd);
    this.client.on('drain', this.onClientDrain);
    sock.on('data', this.onServerData);
    sock.on('end', this.onServerEnd);
    sock.on('drain', this.onServerDrain);
    this.client.resume();
  };

  /** A connect attempt failed (refused, reset, unreachable, timed out): retry or give up. */
  private connectFailed(timedOut: boolean, err: NodeJS.ErrnoException | null): void {
    const server = this.server!;
    this.dropServerSocket();
    const hard = !timedOut && (err?.code === 'ECONNREFUSED' || err?.code === 'ECONNRESET');
    server.connectFailed(hard);
    const be = this.beConfig;
    if (this.retriesDone >= be.retries || this.clientClosed) {
      this.abort(timedOut ? 's' : 'S');
      return;
    }
    this.retriesDone++;
    server.counters.retries++;
    if (this.shouldRedispatch(hard)) {
      this.redispatched = true;
      server.counters.redispatches++;
      this.backend.release(server, this);
      this.server = null;
      this.backend.assign(this, server);
      return;
    }
    // HAProxy's turn-around: a server that refused at once is probably restarting; wait
    // min(timeout connect, 1s) before asking it again. A timed-out attempt already waited.
    const delay = timedOut ? 0 : Math.min(be.timeouts.connect, 1000);
    this.retryTimer = setTimeout(this.retrySameServer, delay);
  }

  private shouldRedispatch(hard: boolean): boolean {
    const interval = this.beConfig.redispatch;
    if (interval === null) return false;
    // The server was marked DOWN meanwhile, or it refused outright (nothing listens): asking it
    // again only delays the client. HAProxy would retry it after 1 s; warren moves on at once.
    if (!this.server!.usable || hard) return true;
    const retries = this.beConfig.retries;
    if (interval > 0) return this.retriesDone % interval === 0;
    return this.retriesDone === retries + 1 + interval; // -1: the last retry
  }

  private retrySameServer = (): void => {
    this.retryTimer = null;
    this.connectTo(this.server!);
  };

  private dropServerSocket(): void {
    const sock = this.serverSocket;
    if (!sock) return;
    sock.removeAllListeners();
    sock.on('error', noop);
    sock.destroy();
    this.serverSocket = null;
    this.serverClosed = true;
  }

  // ---- data ---------------------------------------------------------------------------------

  private onClientData = (chunk: Buffer): void => {
    const n = chunk.length;
    this.bytesIn += n;
    this.frontend.counters.bytesIn += n;
    this.backend.counters.bytesIn += n;
    this.server!.counters.bytesIn += n;
    if (!this.serverSocket!.write(chunk)) this.client.pause();
  };

  private onServerData = (chunk: Buffer): void => {
    const n = chunk.length;
    this.bytesOut += n;
    this.frontend.counters.bytesOut += n;
    this.backend.counters.bytesOut += n;
    this.server!.counters.bytesOut += n;
    if (!this.client.write(chunk)) this.serverSocket!.pause();
  };

  private onServerDrain = (): void => {
    this.client.resume();
  };

  private onClientDrain = (): void => {
    this.serverSocket?.resume();
  };

  // Half-close: a FIN from one side is passed on once everything before it has been written.
  private onClientEnd = (): void => {
    this.clientEnded = true;
    this.serverSocket?.end();
    const fin = this.feConfig.timeouts.clientFin;
    if (fin !== null) this.client.setTimeout(fin);
  };

  private onServerEnd = (): void => {
    this.client.end();
    const fin = this.beConfig.timeouts.serverFin;
    if (fin !== null) this.serverSocket?.setTimeout(fin);
  };

  // ---- errors, timeouts, close --------------------------------------------------------------

  private onClientError = (): void => {
    if (this.cause === '-') this.cause = 'C';
  };

  private onClientTimeout = (): void => {
    if (this.cause === '-') this.cause = 'c';
    this.destroyBoth();
  };

  private onServerError = (err: NodeJS.ErrnoException): void => {
    if (this.phase === 'C') return this.connectFailed(false, err);
    if (this.cause === '-') this.cause = 'S';
    this.server?.dataError(this.clientEnded);
  };

  private onServerTimeout = (): void => {
    if (this.phase === 'C') {
      // Timers run before the poll phase of the loop: after the event loop was held up past
      // `timeout connect` (a burst of accepts), a connect the kernel completed meanwhile would be
      // abandoned and retried, so the server sees a connection nobody uses. The verdict waits
      // for this iteration's poll (setImmediate runs after it), where that 'connect' is seen.
      this.timedOutSocket = this.serverSocket;
      setImmediate(this.confirmConnectTimeout);
      return;
    }
    if (this.cause === '-') this.cause = 's';
    this.destroyBoth();
  };

  private confirmConnectTimeout = (): void => {
    const sock = this.timedOutSocket;
    this.timedOutSocket = null;
    // Still the same attempt, still not connected (nor failed, nor abandoned by the client).
    if (this.phase === 'C' && sock !== null && sock === this.serverSocket) this.connectFailed(true, null);
  };

  private onClientClose = (hadError: boolean): void => {
    this.clientClosed = true;
    if (this.phase === 'Q') {
      // Gave up while queued.
      this.backend.leaveQueue(this);
      if (this.cause === '-') this.cause = 'C';
      return this.finish();
    }
    if (this.phase === 'C') {
      if (this.cause === '-') this.cause = 'C';
      if (this.retryTimer) clearTimeout(this.retryTimer), (this.retryTimer = null);
      this.dropServerSocket();
    } else if (hadError) {
      this.serverSocket?.destroy(); // a reset client: nobody to talk to
    } else if (!this.serverClosed && this.serverSocket) {
      closeAfterFlush(this.serverSocket); // both directions are done: deliver what is queued
    }
    if (this.serverClosed) this.finish();
  };

  private onServerClose = (hadError: boolean): void => {
    this.serverClosed = true;
    if (hadError) {
      if (this.cause === '-') this.cause = 'S';
      this.client.destroy();
    } else if (!this.clientClosed) {
      // The server is done: the client gets what is queued for it, then the close. (It may be
      // paused by backpressure from the server and never read its own FIN: don't wait for it.)
      closeAfterFlush(this.client);
    }
    if (this.clientClosed) this.finish();
  };

  private destroyBoth(): void {
    this.serverSocket?.destroy();
    this.client.destroy();
  }

  /** Close the session on the proxy's initiative (shutdown-sessions, admin, hard stop). */
  kill(): void {
    if (this.cause === '-') this.cause = 'K';
    if (this.phase === 'Q') this.backend.leaveQueue(this);
    this.destroyBoth();
  }

  /** End before any server was reached (no server, queue timeout, retries exhausted). */
  private abort(cause: string): void {
    if (this.cause === '-') this.cause = cause;
    this.client.destroy();
    if (this.clientClosed) this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.queueTimer) clearTimeout(this.queueTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.server) this.backend.release(this.server, this);
    this.frontend.sessionEnded(this);
  }

  // ---- log ----------------------------------------------------------------------------------

  get terminationState(): string {
    const normal = this.cause === '-';
    return normal ? '--' : `${this.cause}${this.phase}`;
  }

  /** HAProxy's tcplog fields (doc/configuration.txt §8.2.2), as structured JSON. */
  logFields(): Record<string, unknown> {
    const now = performance.now();
    return {
      client: `${this.clientAddr}:${this.clientPort}`,
      accept_date: new Date(this.acceptedAt).toISOString(),
      frontend: this.frontend.config.name,
      backend: this.backend.config.name,
      server: this.server?.config.name ?? '<NOSRV>',
      Tw: this.tQueued < 0 ? -1 : Math.round(this.tQueued),
      Tc: this.tConnected < 0 ? -1 : Math.round(this.tConnected),
      Tt: Math.round(now - this.t0),
      bytes_read: this.bytesOut,
      bytes_uploaded: this.bytesIn,
      termination_state: this.terminationState,
      actconn: this.frontend.proxyCounters.cur,
      feconn: this.frontend.counters.cur,
      beconn: this.backend.counters.cur,
      srv_conn: this.server?.counters.cur ?? 0,
      retries: this.redispatched ? `+${this.retriesDone}` : this.retriesDone,
      srv_queue: this.server?.queue.length ?? 0,
      backend_queue: this.backend.queue.length,
    };
  }
}
