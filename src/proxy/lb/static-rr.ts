// `balance static-rr`: HAProxy's map-based static round robin (lb_map.c map_get_server_rr).
//
// A circular walk over the server map (see map.ts): O(1) per pick, skipping servers whose
// maxconn is reached and the server to avoid. Weight changes rebuild the map (HAProxy only
// accepts 0%/100% weight changes at runtime for static algorithms; warren rebuilds for any).

import { ServerMap } from './map.js';
import type { Balancer, BalancerOptions, LbServer } from './types.js';

export class StaticRoundRobinBalancer implements Balancer {
  private readonly map: ServerMap;
  private readonly slotOf = new Map<LbServer, number>();

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    servers.forEach((s, i) => this.slotOf.set(s, i));
    this.map = new ServerMap(servers, opts.allbackups);
  }

  update(): void {
    this.map.update();
  }

  hasUsable(): boolean {
    return this.map.el.mode !== 'none';
  }

  loadChanged(_server: LbServer): void {}

  pick(_clientKey: string, avoid: LbServer | null): LbServer | null {
    const slot = this.map.nextRoundRobin(avoid ? (this.slotOf.get(avoid) ?? -1) : -1);
    return slot >= 0 ? this.servers[slot]! : null;
  }
}
