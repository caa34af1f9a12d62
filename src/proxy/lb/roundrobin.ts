// `balance roundrobin`: HAProxy's fast weighted round robin (lb_fwrr.c), re-expressed.
//
// Each group (active, backup) has three ordered sets of servers:
// - `curr`: servers with a position (npos) in the current window, ordered by npos (and, at equal
//   npos, by weight: heavier and with less accumulated remainder first);
// - `init`: servers not yet placed in this window, heaviest first;
// - `next`: servers pushed to the next window.
// A window is `currWeight` picks long (the group's total eweight). Picking the head of `curr`
// advances it by nextWeight/eweight positions (carrying the remainder in rweight); when the
// head is "in the future" (a hole), a server from `init` is placed instead; when both are
// exhausted, `init` and `next` swap and a new window starts. Weight and state changes reposition
// only the server concerned, so the sequence continues smoothly at runtime, exactly as HAProxy.

import { Eligibility } from './eligible.js';
import { SlotHeap } from './heap.js';
import {
  BE_WEIGHT_SCALE,
  SRV_EWGHT_MAX,
  SRV_UWGHT_RANGE,
  dynamicEweight,
  hasFreeSlot,
  type Balancer,
  type BalancerOptions,
  type LbServer,
} from './types.js';

const NONE = 0;
const CURR = 1;
const T0 = 2;
const T1 = 3;

class Group {
  readonly curr: SlotHeap;
  readonly t0: SlotHeap;
  readonly t1: SlotHeap;
  /** Which of T0/T1 is `init`, which is `next`. */
  init = T0;
  next = T1;
  currWeight = 0;
  nextWeight = 0;
  currPos = 0;

  constructor(n: number) {
    this.curr = new SlotHeap(n);
    this.t0 = new SlotHeap(n);
    this.t1 = new SlotHeap(n);
  }

  heap(tree: number): SlotHeap {
    return tree === CURR ? this.curr : tree === T0 ? this.t0 : this.t1;
  }
}

export class RoundRobinBalancer implements Balancer {
  private readonly n: number;
  private readonly slotOf = new Map<LbServer, number>();
  private readonly el: Eligibility;
  private readonly act: Group;
  private readonly bck: Group;
  private readonly isBackup: Uint8Array;
  /** Committed eweight / usability (HAProxy's cur_eweight / currently usable). */
  private readonly cew: Float64Array;
  private readonly cusable: Uint8Array;
  /** Pending eweight / usability while a change is applied (next_eweight / willbe usable). */
  private readonly ew: Float64Array;
  private readonly nusable: Uint8Array;
  private readonly where: Uint8Array;
  private readonly npos: Float64Array;
  private readonly lpos: Float64Array;
  private readonly rweight: Float64Array;
  private readonly full: Int32Array;

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    const n = (this.n = servers.length);
    servers.forEach((s, i) => this.slotOf.set(s, i));
    this.el = new Eligibility(servers, opts.allbackups);
    this.act = new Group(n);
    this.bck = new Group(n);
    this.isBackup = new Uint8Array(n);
    this.cew = new Float64Array(n);
    this.cusable = new Uint8Array(n);
    this.ew = new Float64Array(n);
    this.nusable = new Uint8Array(n);
    this.where = new Uint8Array(n);
    this.npos = new Float64Array(n);
    this.lpos = new Float64Array(n);
    this.rweight = new Float64Array(n);
    this.full = new Int32Array(Math.max(1, n));

    // fwrr_init_server_groups
    let wact = 0;
    let wbck = 0;
    for (let i = 0; i < n; i++) {
      const s = servers[i]!;
      this.isBackup[i] = s.backup ? 1 : 0;
      const e = dynamicEweight(s.weight);
      this.ew[i] = this.cew[i] = e;
      const u = s.usable && e > 0 ? 1 : 0;
      this.nusable[i] = this.cusable[i] = u;
      if (u) {
        if (s.backup) wbck += e;
        else wact += e;
      }
    }
    this.act.currPos = this.act.currWeight = this.act.nextWeight = wact;
    this.bck.currPos = this.bck.currWeight = this.bck.nextWeight = wbck;
    for (let i = 0; i < n; i++) {
      if (this.cusable[i]) this.queueByWeight(this.group(i), this.group(i).init, i);
    }
  }

  update(): void {
    for (let i = 0; i < this.n; i++) {
      const s = this.servers[i]!;
      const e = dynamicEweight(s.weight);
      const u = s.usable && e > 0 ? 1 : 0;
      if (e === this.cew[i] && u === this.cusable[i]) continue;
      this.ew[i] = e;
      this.nusable[i] = u;
      const was = this.cusable[i] === 1;
      if (was && u) this.weightChanged(i);
      else if (was) this.statusDown(i);
      else if (u) this.statusUp(i);
      this.cew[i] = e;
      this.cusable[i] = u;
    }
    this.el.refresh();
  }

  hasUsable(): boolean {
    return this.el.mode !== 'none';
  }

  loadChanged(_server: LbServer): void {}

  pick(_clientKey: string, avoid: LbServer | null): LbServer | null {
    const el = this.el;
    let g: Group;
    if (el.activeCount > 0) g = this.act;
    else if (el.firstBackup) return el.firstBackup;
    else if (el.backupCount > 0) g = this.bck;
    else return null;

    const avoidSlot = avoid ? (this.slotOf.get(avoid) ?? -1) : -1;
    const full = this.full;
    let nfull = 0;
    let switched = false;
    let avoided = -1;
    let srv = -1;
    let take = false;

    outer: for (;;) {
      // an empty group: collect weights which might have changed
      if (!g.currWeight) g.currPos = g.currWeight = g.nextWeight;
      for (;;) {
        srv = this.fromGroup(g);
        if (srv >= 0) break;
        if (switched) {
          if (avoided >= 0) {
            srv = avoided;
            take = true;
          }
          break outer;
        }
        switched = true;
        this.switchTrees(g);
      }
      // Update its position and dequeue it even if saturated, to move it to a better place.
      this.updatePosition(g, srv);
      this.dequeue(srv);
      g.currPos++;
      if (hasFreeSlot(this.servers[srv]!)) {
        if (srv !== avoidSlot || avoided >= 0) {
          take = true;
          break;
        }
        avoided = srv;
      }
      full[nfull++] = srv;
    }
    if (!take) srv = -1;
    if (srv >= 0) this.queueSrv(srv);
    // Requeue the skipped servers, most recently extracted first (HAProxy's LIFO chain).
    for (let k = nfull - 1; k >= 0; k--) {
      const f = full[k]!;
      if (f === srv) continue;
      if (switched) this.queueByWeight(g, g.init, f);
      else this.queueSrv(f);
    }
    return srv >= 0 ? this.servers[srv]! : null;
  }

  // --- HAProxy's fwrr primitives ---

  private group(i: number): Group {
    return this.isBackup[i] ? this.bck : this.act;
  }

  private dequeue(i: number): void {
    const w = this.where[i]!;
    if (w !== NONE) this.group(i).heap(w).remove(i);
  }

  private queueByWeight(g: Group, tree: number, i: number): void {
    g.heap(tree).insert(i, SRV_EWGHT_MAX - this.ew[i]!);
    this.where[i] = tree;
  }

  private queueSrv(i: number): void {
    const g = this.group(i);
    const e = this.ew[i]!;
    if (!this.nusable[i]) {
      this.where[i] = NONE;
    } else if (e <= 0 || this.npos[i]! >= 2 * g.currWeight || this.npos[i]! >= g.currWeight + g.nextWeight) {
      // does not fit in this window: next tree, position relative to the next window
      this.npos[i] = this.npos[i]! - g.currWeight;
      this.queueByWeight(g, g.next, i);
    } else {
      const key = SRV_UWGHT_RANGE * this.npos[i]! + Math.floor((SRV_EWGHT_MAX + this.rweight[i]! - e) / BE_WEIGHT_SCALE);
      g.curr.insert(i, key);
      this.where[i] = CURR;
    }
  }

  private getSrv(i: number): void {
    const g = this.group(i);
    const w = this.where[i]!;
    if (w === g.init) {
      this.npos[i] = 0;
      this.rweight[i] = 0;
    } else if (w === g.next) {
      this.npos[i] = this.npos[i]! + g.currWeight;
    } else if (w === NONE) {
      this.npos[i] = g.currPos;
    }
  }

  private switchTrees(g: Group): void {
    const t = g.init;
    g.init = g.next;
    g.next = t;
    g.currWeight = g.nextWeight;
    g.currPos = g.currWeight;
  }

  private fromGroup(g: Group): number {
    const s1 = g.curr.first();
    if (s1 >= 0 && this.cew[s1]! > 0 && this.npos[s1]! <= g.currPos) return s1;
    // no server left, or a hole: take one from init if there is one
    const s2 = g.heap(g.init).first();
    if (s2 >= 0 && this.cew[s2]! > 0) {
      this.npos[s2] = 0;
      this.rweight[s2] = 0;
      return s2;
    }
    return s1;
  }

  private updatePosition(g: Group, i: number): void {
    const e = this.cew[i]!;
    if (!e) return;
    if (!this.npos[i]) this.npos[i] = g.currPos; // first time in this window
    this.lpos[i] = this.npos[i]!;
    let npos = this.npos[i]! + Math.floor(g.nextWeight / e);
    let rw = this.rweight[i]! + (g.nextWeight % e);
    if (rw >= e) {
      rw -= e;
      npos++;
    }
    this.npos[i] = npos;
    this.rweight[i] = rw;
  }

  private statusDown(i: number): void {
    const g = this.group(i);
    g.nextWeight -= this.cew[i]!;
    this.dequeue(i);
    this.where[i] = NONE;
  }

  private statusUp(i: number): void {
    const g = this.group(i);
    const e = this.ew[i]!;
    g.nextWeight += e;
    this.getSrv(i);
    this.npos[i] = g.currPos + Math.floor((g.nextWeight + g.currWeight - g.currPos) / e);
    this.queueSrv(i);
  }

  private weightChanged(i: number): void {
    const g = this.group(i);
    const e = this.ew[i]!;
    g.nextWeight = g.nextWeight - this.cew[i]! + e;
    const w = this.where[i]!;
    if (w === g.init) {
      this.dequeue(i);
      this.queueByWeight(g, g.init, i);
    } else if (w === NONE) {
      this.getSrv(i);
      this.npos[i] = g.currPos + Math.floor((g.nextWeight + g.currWeight - g.currPos) / e);
      this.queueSrv(i);
    } else {
      // in the current window or the next one: if it has places left, adjust its next position
      this.getSrv(i);
      if (e > 0) {
        const prevNext = this.npos[i]!;
        const step = Math.floor(g.nextWeight / e);
        let npos = this.lpos[i]! + step;
        this.rweight[i] = 0;
        if (npos > prevNext) npos = prevNext;
        if (npos < g.currPos + 2) npos = g.currPos + step;
        this.npos[i] = npos;
      } else {
        this.npos[i] = g.currPos + g.currWeight;
      }
      this.dequeue(i);
      this.queueSrv(i);
    }
  }
}
