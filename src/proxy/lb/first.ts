// `balance first`: HAProxy's first available server (lb_fas.c).
//
// The first server in declaration order, among those in service, that still has a free slot
// (sessions < maxconn and nothing queued on it; maxconn 0 = unlimited) takes the session, so
// servers fill up one after the other. A bitmap segment tree over the servers ("in service and
// free") makes a pick O(log n) however many servers are already full; loadChanged() keeps it
// current as sessions start and end.

import { Eligibility } from './eligible.js';
import { hasFreeSlot, type Balancer, type BalancerOptions, type LbServer } from './types.js';

export class FirstBalancer implements Balancer {
  private readonly slotOf = new Map<LbServer, number>();
  private readonly el: Eligibility;
  private readonly size: number;
  /** tree[1] is the root, leaves at size..size+n-1: 1 when that server can be picked. */
  private readonly tree: Uint8Array;

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    servers.forEach((s, i) => this.slotOf.set(s, i));
    this.el = new Eligibility(servers, opts.allbackups);
    let size = 1;
    while (size < servers.length) size *= 2;
    this.size = size;
    this.tree = new Uint8Array(2 * size);
    this.rebuild();
  }

  private rebuild(): void {
    this.tree.fill(0);
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i]!;
      this.tree[this.size + i] = this.el.inService(s) && hasFreeSlot(s) ? 1 : 0;
    }
    for (let p = this.size - 1; p >= 1; p--) this.tree[p] = this.tree[2 * p]! | this.tree[2 * p + 1]!;
  }

  private set(i: number, v: number): void {
    let p = this.size + i;
    if (this.tree[p] === v) return;
    this.tree[p] = v;
    for (p >>= 1; p >= 1; p >>= 1) {
      const nv = this.tree[2 * p]! | this.tree[2 * p + 1]!;
      if (this.tree[p] === nv) break;
      this.tree[p] = nv;
    }
  }

  /** The first leaf set to 1 at position >= from, or -1. */
  private firstFrom(from: number): number {
    if (from >= this.size) return -1;
    let p = this.size + from;
    if (this.tree[p]) return from;
    // climb until a right sibling subtree has a set leaf
    for (;;) {
      if (p === 1) return -1;
      if ((p & 1) === 0 && this.tree[p + 1]) {
        p = p + 1;
        break;
      }
      p >>= 1;
    }
    while (p < this.size) p = this.tree[2 * p] ? 2 * p : 2 * p + 1;
    return p - this.size;
  }

  update(): void {
    this.el.refresh();
    this.rebuild();
  }

  hasUsable(): boolean {
    return this.el.mode !== 'none';
  }

  loadChanged(server: LbServer): void {
    const i = this.slotOf.get(server);
    if (i === undefined) return;
    this.set(i, this.el.inService(server) && hasFreeSlot(server) ? 1 : 0);
  }

  pick(_clientKey: string, avoid: LbServer | null): LbServer | null {
    const el = this.el;
    if (el.mode === 'none') return null;
    if (el.mode === 'first-backup') return el.firstBackup;
    const avoidSlot = avoid ? (this.slotOf.get(avoid) ?? -1) : -1;
    let avoided = -1;
    let i = this.firstFrom(0);
    while (i >= 0) {
      const s = this.servers[i]!;
      if (!hasFreeSlot(s)) {
        // counters moved without loadChanged(): correct the tree and go on
        this.set(i, 0);
      } else if (i !== avoidSlot) {
        return s;
      } else {
        avoided = i;
      }
      i = this.firstFrom(i + 1);
    }
    return avoided >= 0 ? this.servers[avoided]! : null;
  }
}
