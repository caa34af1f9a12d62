// `warren proxy`: wires a validated config into backends and frontends, starts the health
// checks and listeners, and stops gracefully (stop accepting, let sessions finish up to
// hard-stop-after, then close what is left).

import type { ProxyConfig } from '../config/types.js';
import type { Logger } from '../lib/log.js';
import { AddressGate } from './address-gate.js';
import { Backend } from './backend.js';
import { Frontend, ProcessLimit } from './frontend.js';
import { startStatsHttp, type StatsHttpHandle } from './stats/http-server.js';
import { startRuntimeApi, type RuntimeApi } from './stats/runtime-api.js';

export class Proxy {
  readonly backends = new Map<string, Backend>();
  readonly frontends: Frontend[] = [];
  readonly limit: ProcessLimit;
  /** Local addresses whose new connections are reset (runtime API `disable address`). */
  readonly addressGate = new AddressGate();
  readonly startedAt = Date.now();
  /** The stats listeners (`mode http` sections with `stats`/`monitor-uri`) and the runtime API. */
  readonly statsServers: StatsHttpHandle[] = [];
  runtimeApi: RuntimeApi | null = null;

  constructor(
    readonly config: ProxyConfig,
    private readonly log: Logger,
  ) {
    this.limit = new ProcessLimit(config.global.maxconn);
    for (const bc of config.backends) this.backends.set(bc.name, new Backend(bc, log));
    for (const fc of config.frontends) this.frontends.push(new Frontend(fc, this.backends, this.limit, log, this.addressGate));
  }

  async start(): Promise<void> {
    for (const be of this.backends.values()) be.start();
    try {
      for (const fe of this.frontends) await fe.listen();
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    try {
      for (const sc of this.config.stats) {
        const handle = await startStatsHttp(sc, this, this.log, { vrrpStatusUrl: this.config.global.vrrpStatus ?? undefined });
        this.statsServers.push(handle);
        this.log.info({ frontend: sc.name, binds: handle.addresses().map((a) => `${a.address}:${a.port}`), uri: sc.uri }, `Proxy ${sc.name} started.`);
      }
      if (this.config.global.statsSocket) this.runtimeApi = await startRuntimeApi(this.config.global.statsSocket, this, this.log);
    } catch (err) {
      await this.stop(0);
      throw err;
    }
    for (const fe of this.frontends) {
      this.log.info({ frontend: fe.config.name, binds: fe.addresses().map((a) => `${a.address}:${a.port}`) }, `Proxy ${fe.config.name} started.`);
    }
  }

  /** Close every session (all frontends) whose client connected to local address `address`
   *  (normal form, see address-gate.ts); returns how many. */
  shutdownSessionsTo(address: string): number {
    let n = 0;
    for (const fe of this.frontends) n += fe.shutdownSessionsTo(address);
    return n;
  }

  get sessionCount(): number {
    return this.limit.counters.cur;
  }

  /** Graceful stop: no new connections; sessions get `graceMs` (null: forever) to finish. */
  async stop(graceMs: number | null = this.config.global.hardStopAfter): Promise<void> {
    await Promise.all(this.frontends.map((fe) => fe.close()));
    if (this.sessionCount > 0) {
      this.log.info({ sessions: this.sessionCount, graceMs }, 'listeners closed; waiting for sessions to finish');
      await new Promise<void>((resolve) => {
        const deadline = graceMs === null ? Infinity : Date.now() + graceMs;
        const poll = setInterval(() => {
          if (this.sessionCount === 0 || Date.now() >= deadline) {
            clearInterval(poll);
            resolve();
          }
        }, 50);
      });
      if (this.sessionCount > 0) {
        this.log.warn({ sessions: this.sessionCount }, 'hard-stop-after reached: closing the remaining sessions');
        for (const fe of this.frontends) fe.killAll();
      }
    }
    for (const be of this.backends.values()) be.stop();
    // The stats page and runtime API stay up while sessions drain, so operators can watch.
    await Promise.all(this.statsServers.splice(0).map((h) => h.close()));
    await this.runtimeApi?.close();
    this.runtimeApi = null;
  }
}
