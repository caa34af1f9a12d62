// The advert warren's VRRP daemons exchange over UDP (multicast or unicast). It is not RFC 5798's
// packet: VRRPv3 dropped authentication, and the issue requires it, so warren has its own small
// format carrying the same fields plus a sequence number and an HMAC-SHA256.
//
// Layout (network byte order), 55..183 bytes:
//
//   off len field
//     0   4 magic "WRRN"            tells a warren advert from stray traffic on the port
//     4   1 version = 1
//     5   1 type                    1 = ADVERT (sender is MASTER, RFC semantics)
//                                   2 = STANDBY (sender is BACKUP, announcing its priority:
//                                       warren extension, lets a MASTER know the best peer)
//     6   1 vrid                    1..255
//     7   1 priority                0..255 (0 = the master resigns, 255 = address owner)
//     8   2 advert interval         centiseconds, 1..65535 (sub-second intervals allowed)
//    10   4 sender primary address  IPv4; the tie-breaker, and the replay-guard key
//    14   8 sequence                uint64, strictly increasing per sender (replay protection)
//    22   1 VIP count               0..32
//    23  4n VIPs                    IPv4 each
//  23+4n 32 HMAC-SHA256             over bytes [0, 23+4n) with the shared secret
//
// decode() is total: any byte string yields either an Advert or a reason, never an exception.
// Checks run cheapest and least trusting first: size, magic, version, declared length, then the
// MAC (constant-time compare), and only then the fields whose meaning needs an authentic packet
// (type, vrid, interval, address), the expected vrid and finally the replay guard — so a forged
// packet can never move the guard's state.

import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

export const ADVERT_MAGIC = 'WRRN';
const MAGIC = Buffer.from(ADVERT_MAGIC, 'latin1');
export const ADVERT_VERSION = 1;
export const MAX_VIPS = 32;
export const MAC_LEN = 32;
export const HEADER_LEN = 23;
export const MIN_ADVERT_LEN = HEADER_LEN + MAC_LEN;
export const MAX_ADVERT_LEN = HEADER_LEN + 4 * MAX_VIPS + MAC_LEN;

export type AdvertType = 'advert' | 'standby';
const TYPE_CODES: Record<AdvertType, number> = { advert: 1, standby: 2 };

/** The secret: anything node:crypto's createHmac accepts as a key. */
export type AdvertKey = string | Buffer | Uint8Array | KeyObject;

export interface AdvertFields {
  type: AdvertType;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds (RFC 5798's unit): 100 ms = 10. */
  intervalCs: number;
  /** Sender's primary IPv4 address, dotted quad. */
  address: string;
  seq: bigint;
  vips: readonly string[];
}

export interface Advert extends AdvertFields {
  version: number;
  /** intervalCs × 10, what the state machine works in. */
  intervalMs: number;
  vips: string[];
}

export type DecodeReason =
  | 'truncated' // shorter than the minimum, or than its own VIP count says
  | 'oversized' // longer than the largest valid advert
  | 'bad-magic' // not a warren advert
  | 'bad-version'
  | 'bad-length' // VIP count over MAX_VIPS, or trailing bytes after the MAC
  | 'bad-auth' // MAC mismatch: wrong secret, forged or corrupted
  | 'bad-type'
  | 'bad-vrid' // vrid 0
  | 'bad-interval' // interval 0
  | 'bad-address' // sender 0.0.0.0, multicast or broadcast
  | 'wrong-vrid' // authentic, but for another virtual router
  | 'replayed' // sequence not above the last one accepted from this sender
  | 'stale'; // sequence older than the guard's maxAgeMs (only if configured)

export type DecodeResult = { ok: true; advert: Advert } | { ok: false; reason: DecodeReason };

export interface DecodeOptions {
  key: AdvertKey;
  /** If set, an authentic advert for another vrid is rejected as 'wrong-vrid'. */
  vrid?: number;
  /** If set, checked and (on success only) updated. */
  replay?: ReplayGuard;
}

// ---- IPv4 helpers ---------------------------------------------------------------------------

/** Strict dotted quad to uint32; null for anything else (no leading zeros: "010" is ambiguous). */
export function parseIPv4(s: string): number | null {
  if (typeof s !== 'string') return null;
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function isUsableSender(n: number): boolean {
  // 0.0.0.0 and 224.0.0.0/3 (multicast, reserved, broadcast) cannot be a host's primary address.
  return n !== 0 && n < 0xe0000000;
}

// ---- sequence numbers -----------------------------------------------------------------------

/**
 * Strictly increasing 64-bit sequence numbers: wall-clock milliseconds in the high bits (so a
 * restarted daemon starts above everything it sent before, without persisting anything), a
 * counter in the low 16 bits. next() = max(last + 1, now << 16).
 * Caveat: a daemon restarted after its wall clock stepped backwards is rejected as 'replayed' by
 * its peers until the clock has caught up with the last sequence they accepted (run NTP).
 */
export class SequenceGenerator {
  private last = 0n;
  constructor(private readonly wallClock: () => number = Date.now) {}
  next(): bigint {
    const fromClock = BigInt(Math.max(0, Math.floor(this.wallClock()))) << 16n;
    this.last = fromClock > this.last ? fromClock : this.last + 1n;
    return this.last;
  }
}

/** The wall-clock milliseconds a SequenceGenerator sequence number was made at. */
export function sequenceTimeMs(seq: bigint): number {
  return Number(seq >> 16n);
}

// ---- replay protection ----------------------------------------------------------------------

export interface ReplayGuardOptions {
  /** Senders remembered at most; the least recently accepted is forgotten first. Default 256. */
  maxSenders?: number;
  /**
   * Reject sequences made more than this long ago (per sequenceTimeMs and wallClock). Closes the
   * window left by a restart of the receiver (which forgets every sender), at the price of
   * needing synchronised clocks. Off by default.
   */
  maxAgeMs?: number;
  wallClock?: () => number;
}

/**
 * Per sender, the last sequence number accepted; anything not above it is a replay. Only
 * authenticated adverts reach it (decode checks the MAC first), so nobody without the secret can
 * fill it; the cap is there so that memory stays bounded whatever happens.
 */
export class ReplayGuard {
  readonly maxSenders: number;
  private readonly maxAgeMs: number | undefined;
  private readonly wallClock: () => number;
  // Map iteration order is insertion order: re-inserting on accept keeps the oldest first.
  private readonly last = new Map<string, bigint>();

  constructor(opts: ReplayGuardOptions = {}) {
    const max = opts.maxSenders ?? 256;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxSenders must be an integer >= 1, got ${max}`);
    this.maxSenders = max;
    this.maxAgeMs = opts.maxAgeMs;
    this.wallClock = opts.wallClock ?? Date.now;
  }

  get size(): number {
    return this.last.size;
  }

  lastSeq(sender: string): bigint | undefined {
    return this.last.get(sender);
  }

  /** Would this sequence be accepted? Does not change anything. */
  check(sender: string, seq: bigint): 'ok' | 'replayed' | 'stale' {
    const prev = this.last.get(sender);
    if (prev !== undefined && seq <= prev) return 'replayed';
    if (this.maxAgeMs !== undefined && this.wallClock() - sequenceTimeMs(seq) > this.maxAgeMs) return 'stale';
    return 'ok';
  }

  /** Record an accepted sequence (callers check() first). */
  accept(sender: string, seq: bigint): void {
    this.last.delete(sender);
    while (this.last.size >= this.maxSenders) {
      const oldest = this.last.keys().next().value as string;
      this.last.delete(oldest);
    }
    this.last.set(sender, seq);
  }

  checkAndAccept(sender: string, seq: bigint): 'ok' | 'replayed' | 'stale' {
    const verdict = this.check(sender, seq);
    if (verdict === 'ok') this.accept(sender, seq);
    return verdict;
  }

  forget(sender: string): void {
    this.last.delete(sender);
  }
}

/** The guard key: one sequence space per (virtual router, sender). */
export function replayKey(vrid: number, address: string): string {
  return `${vrid}/${address}`;
}

// ---- encode / decode ------------------------------------------------------------------------

function mac(key: AdvertKey, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/** Serialise and sign. Throws RangeError on invalid fields (a programming error, not input). */
export function encodeAdvert(fields: AdvertFields, key: AdvertKey): Buffer {
  const { type, vrid, priority, intervalCs, address, seq, vips } = fields;
  if (!(type in TYPE_CODES)) throw new RangeError(`advert type must be 'advert' or 'standby', got ${String(type)}`);
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw new RangeError(`vrid must be 1..255, got ${vrid}`);
  if (!Number.isInteger(priority) || priority < 0 || priority > 255) throw new RangeError(`priority must be 0..255, got ${priority}`);
  if (!Number.isInteger(intervalCs) || intervalCs < 1 || intervalCs > 0xffff) {
    throw new RangeError(`advert interval must be 1..65535 centiseconds, got ${intervalCs}`);
  }
  const addr = parseIPv4(address);
  if (addr === null || !isUsableSender(addr)) throw new RangeError(`sender address must be a unicast IPv4 address, got ${address}`);
  if (typeof seq !== 'bigint' || seq < 0n || seq > 0xffffffffffffffffn) throw new RangeError(`seq must be a uint64 bigint, got ${String(seq)}`);
  if (vips.length > MAX_VIPS) throw new RangeError(`at most ${MAX_VIPS} VIPs per advert, got ${vips.length}`);
  const vipNums = vips.map((v) => {
    const n = parseIPv4(v);
    if (n === null) throw new RangeError(`VIP must be an IPv4 address, got ${v}`);
    return n;
  });

  const bodyLen = HEADER_LEN + 4 * vipNums.length;
  const buf = Buffer.alloc(bodyLen + MAC_LEN);
  MAGIC.copy(buf, 0);
  buf.writeUInt8(ADVERT_VERSION, 4);
  buf.writeUInt8(TYPE_CODES[type], 5);
  buf.writeUInt8(vrid, 6);
  buf.writeUInt8(priority, 7);
  buf.writeUInt16BE(intervalCs, 8);
  buf.writeUInt32BE(addr, 10);
  buf.writeBigUInt64BE(seq, 14);
  buf.writeUInt8(vipNums.length, 22);
  vipNums.forEach((n, i) => buf.writeUInt32BE(n, HEADER_LEN + 4 * i));
  mac(key, buf.subarray(0, bodyLen)).copy(buf, bodyLen);
  return buf;
}

function fail(reason: DecodeReason): DecodeResult {
  return { ok: false, reason };
}

/** Parse, authenticate and (optionally) vrid- and replay-check one datagram. Never throws. */
export function decodeAdvert(data: Uint8Array, opts: DecodeOptions): DecodeResult {
  if (!(data instanceof Uint8Array)) return fail('truncated');
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length > MAX_ADVERT_LEN) return fail('oversized');
  if (buf.length < MIN_ADVERT_LEN) return fail('truncated');
  if (!buf.subarray(0, 4).equals(MAGIC)) return fail('bad-magic');
  const version = buf.readUInt8(4);
  if (version !== ADVERT_VERSION) return fail('bad-version');
  const count = buf.readUInt8(22);
  if (count > MAX_VIPS) return fail('bad-length');
  const bodyLen = HEADER_LEN + 4 * count;
  if (buf.length < bodyLen + MAC_LEN) return fail('truncated');
  if (buf.length > bodyLen + MAC_LEN) return fail('bad-length');

  const expected = mac(opts.key, buf.subarray(0, bodyLen));
  if (!timingSafeEqual(expected, buf.subarray(bodyLen, bodyLen + MAC_LEN))) return fail('bad-auth');

  const typeCode = buf.readUInt8(5);
  const type: AdvertType | null = typeCode === 1 ? 'advert' : typeCode === 2 ? 'standby' : null;
  if (type === null) return fail('bad-type');
  const vrid = buf.readUInt8(6);
  if (vrid === 0) return fail('bad-vrid');
  const intervalCs = buf.readUInt16BE(8);
  if (intervalCs === 0) return fail('bad-interval');
  const addrNum = buf.readUInt32BE(10);
  if (!isUsableSender(addrNum)) return fail('bad-address');
  if (opts.vrid !== undefined && vrid !== opts.vrid) return fail('wrong-vrid');

  const address = formatIPv4(addrNum);
  const seq = buf.readBigUInt64BE(14);
  if (opts.replay) {
    const verdict = opts.replay.checkAndAccept(replayKey(vrid, address), seq);
    if (verdict !== 'ok') return fail(verdict);
  }

  const vips: string[] = [];
  for (let i = 0; i < count; i++) vips.push(formatIPv4(buf.readUInt32BE(HEADER_LEN + 4 * i)));
  return {
    ok: true,
    advert: {
      version,
      type,
      vrid,
      priority: buf.readUInt8(7),
      intervalCs,
      intervalMs: intervalCs * 10,
      address,
      seq,
      vips,
    },
  };
}
