// `balance source`: the client address picks the server (backend.c get_server_sh()).
//
// - hash-type map-based (default): entry `hash % tot_weight` of the server map (map.ts), where
//   hash is the IPv4 address itself (or the XOR of the IPv6 words). Any change to the set of
//   usable servers or their weights reshuffles most clients.
// - hash-type consistent: a ring (lb_chash.c) where each server owns eweight points
//   (weight * 16) at full_hash(id * 4096 + n), id = index + 1 (HAProxy's default server ids).
//   The client goes to the point closest to full_hash(address) (HAProxy: "consistent hash uses
//   sdbm and avalanche if no hash function is specified"); when a server leaves, only its
//   clients move.
// Hashing returns the chosen server even when its maxconn is reached (the session queues there),
// as HAProxy does. `avoid` is honoured by the consistent ring (next point clockwise that belongs
// to another server) but, as in HAProxy, not by the map. With a single server in service the
// address is not hashed at all (hash 0). A key that is not an IP address falls back to a
// string hash (HAProxy would fall back to round robin for non-IP sources).

import { Eligibility } from './eligible.js';
import { addressHash, fullHash, stringHash } from './hash.js';
import { ServerMap } from './map.js';
import type { HashType } from '../../config/types.js';
import { SRV_EWGHT_RANGE, dynamicEweight, isEligible, type Balancer, type BalancerOptions, type LbServer } from './types.js';

function clientHash(key: string): number {
  const h = addressHash(key);
  return h >= 0 ? h : stringHash(key);
}

export class SourceMapBalancer implements Balancer {
  private readonly map: ServerMap;

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    this.map = new ServerMap(servers, opts.allbackups);
  }

  update(): void {
    this.map.update();
  }

  hasUsable(): boolean {
    return this.map.el.mode !== 'none';
  }

  loadChanged(_server: LbServer): void {}

  pick(clientKey: string, _avoid: LbServer | null): LbServer | null {
    if (this.map.totWeight === 0) return null;
    const h = this.map.totUsed === 1 ? 0 : clientHash(clientKey);
    const slot = this.map.lookup(h);
    return slot >= 0 ? this.servers[slot]! : null;
  }
}

/** One group's ring: sorted point keys and the slot owning each point. */
class Ring {
  keys = new Uint32Array(0);
  owner = new Int32Array(0);
  dirty = true;

  build(servers: readonly LbServer[], eweights: Float64Array, member: (s: LbServer) => boolean): void {
    this.dirty = false;
    let total = 0;
    for (let i = 0; i < servers.length; i++) if (member(servers[i]!)) total += eweights[i]!;
    // Points in insertion order (servers in declaration order, nodes 0..eweight-1) ...
    const rawKeys = new Uint32Array(total);
    const rawOwner = new Int32Array(total);
    let seq = 0;
    for (let i = 0; i < servers.length; i++) {
      if (!member(servers[i]!)) continue;
      const puid = i + 1;
      for (let node = 0; node < eweights[i]!; node++) {
        rawKeys[seq] = fullHash(puid * SRV_EWGHT_RANGE + node);
        rawOwner[seq] = i;
        seq++;
      }
    }
    // ... sorted by (key, insertion order), as an eb32 tree keeps duplicates.
    const order = new Int32Array(total);
    for (let k = 0; k < total; k++) order[k] = k;
    order.sort((a, b) => rawKeys[a]! - rawKeys[b]! || a - b);
    this.keys = new Uint32Array(total);
    this.owner = new Int32Array(total);
    for (let k = 0; k < total; k++) {
      this.keys[k] = rawKeys[order[k]!]!;
      this.owner[k] = rawOwner[order[k]!]!;
    }
  }

  /** chash_get_server_hash: the point closest to `hash` (ties go to the one before), then
   *  clockwise past any point of `avoidSlot`. -1 when empty. */
  lookup(hash: number, avoidSlot: number): number {
    const keys = this.keys;
    const n = keys.length;
    if (n === 0) return -1;
    // first point with key >= hash (eb32_lookup_ge), wrapping to the first one
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    let next = lo === n ? 0 : lo;
    const prev = next === 0 ? n - 1 : next - 1;
    const dp = (hash - keys[prev]!) >>> 0;
    const dn = (keys[next]! - hash) >>> 0;
    if (dp <= dn) next = prev;
    let slot = this.owner[next]!;
    if (slot === avoidSlot) {
      for (let k = 1; k < n; k++) {
        const p = (next + k) % n;
        if (this.owner[p] !== avoidSlot) {
          slot = this.owner[p]!;
          break;
        }
      }
    }
    return slot;
  }
}

export class SourceConsistentBalancer implements Balancer {
  private readonly slotOf = new Map<LbServer, number>();
  private readonly el: Eligibility;
  private readonly act = new Ring();
  private readonly bck = new Ring();
  private readonly eweight: Float64Array;
  private readonly eligible: Uint8Array;
  private readonly isActiveMember = (s: LbServer): boolean => !s.backup && this.eligible[this.slotOf.get(s)!] === 1;
  private readonly isBackupMember = (s: LbServer): boolean => s.backup && this.eligible[this.slotOf.get(s)!] === 1;

  constructor(
    private readonly servers: readonly LbServer[],
    opts: BalancerOptions,
  ) {
    servers.forEach((s, i) => this.slotOf.set(s, i));
    this.el = new Eligibility(servers, opts.allbackups);
    this.eweight = new Float64Array(servers.length);
    this.eligible = new Uint8Array(servers.length);
    this.update();
  }

  update(): void {
    for (let i = 0; i < this.servers.length; i++) {
      const s = this.servers[i]!;
      const e = Math.min(dynamicEweight(s.weight), SRV_EWGHT_RANGE);
      const u = isEligible(s) ? 1 : 0;
      if (e === this.eweight[i] && u === this.eligible[i]) continue;
      if (s.backup) this.bck.dirty = true;
      else this.act.dirty = true;
      this.eweight[i] = e;
      this.eligible[i] = u;
    }
    this.el.refresh();
    if (this.act.dirty) this.act.build(this.servers, this.eweight, this.isActiveMember);
    if (this.bck.dirty) this.bck.build(this.servers, this.eweight, this.isBackupMember);
  }

  hasUsable(): boolean {
    return this.el.mode !== 'none';
  }

  loadChanged(_server: LbServer): void {}

  pick(clientKey: string, avoid: LbServer | null): LbServer | null {
    const el = this.el;
    let ring: Ring;
    let used: number;
    if (el.activeCount > 0) {
      ring = this.act;
      used = el.activeCount;
    } else if (el.firstBackup) {
      return el.firstBackup;
    } else if (el.backupCount > 0) {
      ring = this.bck;
      used = el.backupCount;
    } else {
      return null;
    }
    // `hash-type consistent` without a function means sdbm + avalanche: the address goes
    // through full_hash() before the ring lookup (not when a single server is left).
    const h = used === 1 ? 0 : fullHash(clientHash(clientKey));
    const slot = ring.lookup(h, avoid ? (this.slotOf.get(avoid) ?? -1) : -1);
    return slot >= 0 ? this.servers[slot]! : null;
  }
}

export function createSourceBalancer(servers: readonly LbServer[], hashType: HashType, opts: BalancerOptions): Balancer {
  return hashType === 'consistent' ? new SourceConsistentBalancer(servers, opts) : new SourceMapBalancer(servers, opts);
}
