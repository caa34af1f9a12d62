// A backend: its servers, its balance algorithm and its queue. It decides which server a session
// gets (or where it waits), and hands freed slots to the longest-waiting session.

import type { BackendConfig } from '../config/types.js';
import type { ClusterLink } from './ipc.js';
import type { Logger } from '../lib/log.js';
import { TrafficCounters } from './counters.js';
import { createBalancer } from './lb/index.js';
import type { Balancer } from './lb/types.js';
import { WaitQueue } from './queue.js';
import { Server, type ServerReconfig } from './server.js';
import type { Session } from './session.js';

/** What a reload does to the servers of a backend it keeps (computed by reload.ts' plan). */
export interface BackendReconfig {
  /** Servers kept (same name and address), with what changed in each. */
  kept: ReadonlyMap<string, ServerReconfig>;
  /** The balancer must be rebuilt (server set or order, balance, hash-type, allbackups, backup). */
  rebalance: boolean;
}

export class Backend {
  /** In the config's order; a reload replaces the list (see reconfigure). */
  servers: Server[];
  readonly counters = new TrafficCounters();
  /** Sessions waiting for any server (all usable servers are at their maxconn). */
  readonly queue = new WaitQueue<Session>();
  private balancer: Balancer;
  private started = false;
  /** Removed by a reload: no new sessions come; its sessions finish. */
  retired = false;
  /** Seconds without any usable server, and when that last began (for the stats page). */
  lastChange = Date.now();
  downSince: number | null = null;
  downtimeMs = 0;
  /** Times the backend as a whole went DOWN (no usable server). */
  downTransitions = 0;
  /** nbthread > 1 (workers.ts): the link to the other processes; null in a single process. */
  cluster: ClusterLink | null = null;

  constructor(
    /** Replaced by a reload (reconfigure); a session keeps the one it started with. */
    public config: BackendConfig,
    private readonly log: Logger,
  ) {
    this.servers = config.servers.map((sc, i) => new Server(sc, i, this, log));
    this.balancer = createBalancer(config.balance, config.hashType, this.servers, { allbackups: config.allbackups });
    this.noteAvailability();
  }

  /** Start health checks. */
  start(): void {
    this.started = true;
    for (const s of this.servers) s.start();
  }

  // ---- reload -------------------------------------------------------------------------------

  /**
   * A reload keeps this backend with `config`. Servers named in `change.kept` keep their object
   * (health, admin state, runtime weight, counters, sessions: see Server.reconfigure); the
   * others in `config` are new (checks start as at start-up); the ones no longer there (or whose
   * address changed) are retired: no new sessions, no checks, their open sessions finish, and
   * sessions queued on them go to another server. Returns the new and the retired servers.
   */
  reconfigure(config: BackendConfig, change: BackendReconfig): { added: Server[]; removed: Server[] } {
    const old = new Map(this.servers.map((s) => [s.config.name, s]));
    this.config = config;
    const next: Server[] = [];
    const added: Server[] = [];
    const kept: [Server, ServerReconfig][] = [];
    config.servers.forEach((sc, i) => {
      const k = change.kept.get(sc.name);
      const s = k ? old.get(sc.name) : undefined;
      if (s && k) {
        old.delete(sc.name);
        s.reconfigure(sc, i, k);
        kept.push([s, k]);
        next.push(s);
      } else {
        const n = new Server(sc, i, this, this.log, true);
        added.push(n);
        next.push(n);
      }
    });
    const removed = [...old.values()];
    for (const s of removed) s.retire();
    this.servers = next;
    if (change.rebalance) {
      this.balancer = createBalancer(config.balance, config.hashType, next, { allbackups: config.allbackups });
    } else {
      this.balancer.update();
    }
    if (this.started) for (const s of added) s.start();
    for (const [s, k] of kept) s.applyConfigAdmin(k);
    // Sessions waiting on a removed server go elsewhere (HAProxy: "requeued").
    for (const s of removed) {
      let q: Session | null;
      while ((q = s.queue.shift())) this.assign(q, s);
    }
    // Weights, maxconn and states may have changed: serve what waits, note availability.
    for (const s of next) this.serverChanged(s);
    this.noteAvailability();
    return { added, removed };
  }

  /** Removed by a reload: no more checks; sessions (and queued ones) finish on their servers. */
  retire(): void {
    this.retired = true;
    this.stop();
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
    this.cluster?.serverChanged(server);
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
