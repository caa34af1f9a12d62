// A backend: its servers, its balance algorithm and its queue. It decides which server a session
// gets (or where it waits), and hands freed slots to the longest-waiting session.

import type { BackendConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import { TrafficCounters } from './counters.js';
import { createBalancer } from './lb/index.js';
import type { Balancer } from './lb/types.js';
import { WaitQueue } from './queue.js';
import { Server } from './server.js';
import type { Session } from './session.js';

export class Backend {
  readonly servers: Server[];
  readonly counters = new TrafficCounters();
  /** Sessions waiting for any server (all usable servers are at their maxconn). */
  readonly queue = new WaitQueue<Session>();
  private readonly balancer: Balancer;
  /** Seconds without any usable server, and when that last began (for the stats page). */
  lastChange = Date.now();
  downSince: number | null = null;
  downtimeMs = 0;
  /** Times the backend as a whole went DOWN (no usable server). */
  downTransitions = 0;

  constructor(
    readonly config: BackendConfig,
    private readonly log: Logger,
  ) {
    this.servers = config.servers.map((sc, i) => new Server(sc, i, this, log));
    this.balancer = createBalancer(config.balance, config.hashType, this.servers, { allbackups: config.allbackups });
    this.noteAvailability();
  }

  /** Start health checks. */
  start(): void {
    for (const s of this.servers) s.start();
  }

  stop(): void {
    for (const s of this.servers) s.stop();
  }

  get usableServers(): number {
    let n = 0;
    for (const s of this.servers) if (s.usable) n++;
    return n;
  }

  /** Active (non-backup) and backup servers that can take traffic, for log lines. */
  serversLeft(): { active: number; backup: number } {
    let active = 0;
    let backup = 0;
    for (const s of this.servers) if (s.usable) s.config.backup ? backup++ : active++;
    return { active, backup };
  }

  get isUp(): boolean {
    return this.usableServers > 0;
  }

  /** Give `session` a server now, a place in a queue, or tell it there is none. */
  assign(session: Session, avoid: Server | null): void {
    const server = this.balancer.pick(session.clientKey, avoid) as Server | null;
    if (server === null) {
      // Usable servers exist but every one is full: wait for a slot in the backend queue.
      if (this.balancer.hasUsable()) return session.waitInQueue(this.queue, this.config.timeouts.queue);
      return session.noServer();
    }
    if (server.hasFreeSlot()) {
      this.take(server, session);
      return session.connectTo(server);
    }
    // A hashing algorithm chose a full server: the session waits for that server.
    if (server.config.maxqueue > 0 && server.queue.length >= server.config.maxqueue) {
      return session.noServer();
    }
    session.waitInQueue(server.queue, this.config.timeouts.queue);
    this.balancer.loadChanged(server);
  }

  private take(server: Server, session: Session): void {
    server.sessionStarted(session, Date.now());
    this.balancer.loadChanged(server);
  }

  /** A queued session gives up (client gone, queue timeout, killed). */
  leaveQueue(session: Session): void {
    const queue = session.queuedIn;
    if (!queue) return;
    queue.remove(session);
    if (queue !== this.queue) {
      const owner = this.servers.find((s) => s.queue === queue);
      if (owner) this.balancer.loadChanged(owner);
    }
  }

  /** A session is done with `server`: its slot goes to the oldest waiting session. */
  release(server: Server, session: Session): void {
    server.sessionEnded(session);
    this.balancer.loadChanged(server);
    if (!server.usable || !server.hasFreeSlot()) return;
    // HAProxy serves the server's own queue and the backend's in arrival order.
    const own = server.queue.peek();
    const shared = this.queue.peek();
    const next = own && (!shared || own.acceptedAt <= shared.acceptedAt) ? server.queue.shift() : this.queue.shift();
    if (next) {
      this.take(server, next);
      next.connectTo(server);
    }
  }

  /** A server's usability or weight changed: re-balance, and drain queues it can now serve. */
  serverChanged(server: Server): void {
    this.balancer.update();
    this.noteAvailability();
    if (!server.usable) {
      // Sessions queued on a server that went away are redispatched (HAProxy: "requeued").
      let s: Session | null;
      while ((s = server.queue.shift())) this.assign(s, server);
      return;
    }
    let s: Session | null;
    while (server.hasFreeSlot() && (s = server.queue.shift() ?? this.queue.shift())) {
      this.take(server, s);
      s.connectTo(server);
    }
  }

  private noteAvailability(): void {
    const now = Date.now();
    if (this.isUp && this.downSince !== null) {
      this.downtimeMs += now - this.downSince;
      this.downSince = null;
      this.lastChange = now;
      this.log.warn({ backend: this.config.name }, `backend '${this.config.name}' has a usable server again`);
    } else if (!this.isUp && this.downSince === null) {
      this.downSince = now;
      this.lastChange = now;
      this.downTransitions++;
      this.log.error({ backend: this.config.name }, `backend '${this.config.name}' has no server available!`);
    }
  }
}
