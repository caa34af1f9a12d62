// `balance leastconn`: HAProxy's fast weighted least connections (lb_fwlc.c), re-expressed.
//
// Usable servers sit in an ordered set (one per group: active, backup) keyed by their load
// relative to their weight: key = inflight ? (inflight + 1) * SRV_EWGHT_MAX / eweight : 0, with
// inflight = sessions + queued. An idle server always comes first; "+1" makes a heavier server
// win among equally loaded ones. At equal keys the server repositioned longest ago comes first,
// so servers with equal load rotate (round robin among equals). A server is repositioned only
// when its key changes (loadChanged), as HAProxy does.

import { Eligibility } from './eligible.js';
import { SlotHeap } from './heap.js';
import {
  SRV_EWGHT_MAX,
  dynamicEweight,
  hasFreeSlot,
  type Balancer,
  type BalancerOptions,
  type LbServer,
} from './types.js';

export class LeastConnBalancer implements Balancer {
  private readonly slotOf = new Map<LbServer, number>();
  private readonly el: Eligibility;
  private readonly act: SlotHeap;
  private readonly bck: SlotHeap;
  private readonly cew: Float64Array;
  private readonly cusable: Uint8Array;
  // per-pick scratch for the ordered scan (no closure allocated per call)
  private avoidSlot = -1;
  private avoided = -1;
  private readonly accept = (slot: number): boolean => {
    if (!hasFreeSlot(this.servers[slot]!)) return false;
    if (slot !== this.avoidSlot) return true;
    this.avoided = slot;
    return false;
  };

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    const n = servers.length;
    servers.forEach((s, i) => this.slotOf.set(s, i));
    this.el = new Eligibility(servers, opts.allbackups);
    this.act = new SlotHeap(n);
    this.bck = new SlotHeap(n);
    this.cew = new Float64Array(n);
    this.cusable = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const s = servers[i]!;
      const e = dynamicEweight(s.weight);
      this.cew[i] = e;
      this.cusable[i] = s.usable && e > 0 ? 1 : 0;
      if (this.cusable[i]) this.queue(i);
    }
  }

  private tree(i: number): SlotHeap {
    return this.servers[i]!.backup ? this.bck : this.act;
  }

  private keyOf(i: number): number {
    const s = this.servers[i]!;
    const inflight = s.sessions + s.queued;
    return inflight > 0 ? Math.floor(((inflight + 1) * SRV_EWGHT_MAX) / this.cew[i]!) : 0;
  }

  private queue(i: number): void {
    this.tree(i).insert(i, this.keyOf(i));
  }

  update(): void {
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i]!;
      const e = dynamicEweight(s.weight);
      const u = s.usable && e > 0 ? 1 : 0;
      if (e === this.cew[i] && u === this.cusable[i]) continue;
      this.tree(i).remove(i);
      this.cew[i] = e;
      this.cusable[i] = u;
      if (u) this.queue(i);
    }
    this.el.refresh();
  }

  hasUsable(): boolean {
    return this.el.mode !== 'none';
  }

  /** fwlc_srv_reposition: move the server only if its key changed. O(log n). */
  loadChanged(server: LbServer): void {
    const i = this.slotOf.get(server);
    if (i === undefined) return;
    const t = this.tree(i);
    if (!t.has(i)) return;
    const key = this.keyOf(i);
    if (key !== t.key(i)) t.insert(i, key);
  }

  pick(_clientKey: string, avoid: LbServer | null): LbServer | null {
    const el = this.el;
    let t: SlotHeap;
    if (el.activeCount > 0) t = this.act;
    else if (el.firstBackup) return el.firstBackup;
    else if (el.backupCount > 0) t = this.bck;
    else return null;
    this.avoidSlot = avoid ? (this.slotOf.get(avoid) ?? -1) : -1;
    this.avoided = -1;
    // Fast path: the least loaded server is free and not avoided.
    const first = t.first();
    let slot: number;
    if (first >= 0 && first !== this.avoidSlot && hasFreeSlot(this.servers[first]!)) slot = first;
    else slot = t.findFirst(this.accept);
    if (slot < 0) slot = this.avoided;
    return slot >= 0 ? this.servers[slot]! : null;
  }
}
