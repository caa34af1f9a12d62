// HAProxy's server map (lb_map.c), shared by `static-rr` and map-based `source` hashing.
//
// The map has one entry per unit of weight (weights divided by the GCD of the configured
// weights): tot_weight entries, filled so that every server is spread evenly and, at equal
// weights, in declaration order (the first declared server always comes first). static-rr walks
// it in a circle; hashing takes entry `hash % tot_weight`. Rebuilt (lazily, at the next pick)
// after a state or weight change, never per connection.
//
// Backups follow the shared rule (eligible.ts): when no active server is usable and
// `allbackups` is off, only the first usable backup is in the map. (HAProxy 2.6 itself sizes the
// map by that first backup's weight but fills it from all usable backups, so with several
// backups of weight > 1 it leaks traffic to the others: warren keeps the documented rule.)

import { Eligibility } from './eligible.js';
import { hasFreeSlot, isEligible, type LbServer } from './types.js';

function gcd(a: number, b: number): number {
  while (b) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

export class ServerMap {
  readonly el: Eligibility;
  /** Map-based eweight per slot, from the servers' current weight. */
  private readonly eweight: Float64Array;
  private readonly eligible: Uint8Array;
  private readonly wscore: Float64Array;
  private readonly wmult: number;
  private map: Int32Array = new Int32Array(1);
  private dirty = true;
  /** HAProxy's lbprm.tot_weight / tot_used for the group in service. */
  totWeight = 0;
  totUsed = 0;
  private rrIdx = 0;

  constructor(
    private readonly servers: readonly LbServer[],
    allbackups: boolean,
  ) {
    const n = servers.length;
    this.eweight = new Float64Array(n);
    this.eligible = new Uint8Array(n);
    this.wscore = new Float64Array(n);
    // init_server_map: factor the configured weights by their GCD to keep the map small.
    let g = 0;
    for (const s of servers) {
      const w = Math.round(s.weight);
      if (w > 0) g = g === 0 ? w : gcd(g, w);
    }
    this.wmult = g > 0 ? g : 1;
    this.el = new Eligibility(servers, allbackups);
    this.update();
  }

  private mapWeight(s: LbServer): number {
    if (!(s.weight > 0)) return 0;
    const w = Math.max(1, Math.round(s.weight));
    return Math.ceil(w / this.wmult);
  }

  /** Re-read the servers; the map is rebuilt at the next lookup if anything changed. */
  update(): void {
    let changed = false;
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i]!;
      const e = this.mapWeight(s);
      const u = isEligible(s) && e > 0 ? 1 : 0;
      if (e !== this.eweight[i] || u !== this.eligible[i]) changed = true;
      this.eweight[i] = e;
      this.eligible[i] = u;
    }
    this.el.refresh();
    let tot = 0;
    let used = 0;
    for (let i = 0; i < this.servers.length; i++) {
      if (this.eligible[i] && this.el.inService(this.servers[i]!)) {
        tot += this.eweight[i]!;
        used++;
      }
    }
    if (tot !== this.totWeight || used !== this.totUsed) changed = true;
    this.totWeight = tot;
    this.totUsed = used;
    if (changed) this.dirty = true;
  }

  /** recalc_server_map: spread each server's weight evenly, declaration order first. */
  private recalc(): void {
    this.dirty = false;
    const tot = this.totWeight;
    if (tot === 0) return;
    if (this.map.length < tot) this.map = new Int32Array(tot);
    const n = this.servers.length;
    this.wscore.fill(0);
    for (let o = 0; o < tot; o++) {
      let max = 0;
      let best = -1;
      for (let i = 0; i < n; i++) {
        if (!this.eligible[i] || !this.el.inService(this.servers[i]!)) continue;
        if (tot === 1) {
          best = i;
          break;
        }
        this.wscore[i] = this.wscore[i]! + this.eweight[i]!;
        const v = Math.floor((this.wscore[i]! + tot) / tot);
        if (best < 0 || v > max) {
          max = v;
          best = i;
        }
      }
      this.map[o] = best;
      if (best >= 0) this.wscore[best] = this.wscore[best]! - tot;
    }
  }

  /** map_get_server_rr: the next server in the map with a free slot, skipping `avoid` if possible. */
  nextRoundRobin(avoidSlot: number): number {
    const tot = this.totWeight;
    if (tot === 0) return -1;
    if (this.dirty) this.recalc();
    if (this.rrIdx < 0 || this.rrIdx >= tot) this.rrIdx = 0;
    let newidx = this.rrIdx;
    let avoided = -1;
    let avoididx = 0;
    do {
      const srv = this.map[newidx++]!;
      if (hasFreeSlot(this.servers[srv]!)) {
        if (srv !== avoidSlot) {
          this.rrIdx = newidx;
          return srv;
        }
        avoided = srv;
        avoididx = newidx;
      }
      if (newidx === tot) newidx = 0;
    } while (newidx !== this.rrIdx);
    if (avoided >= 0) this.rrIdx = avoididx;
    return avoided;
  }

  /** map_get_server_hash: the entry at hash % tot_weight (hash is an unsigned 32-bit value). */
  lookup(hash: number): number {
    const tot = this.totWeight;
    if (tot === 0) return -1;
    if (this.dirty) this.recalc();
    return this.map[hash % tot]!;
  }
}
