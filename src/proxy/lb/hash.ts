// Hashing helpers for `balance source`, matching HAProxy's get_server_sh():
// - an IPv4 address hashes to its 32-bit value (network order read as a number);
// - an IPv6 address to the XOR of its four 32-bit words;
// - HAProxy's full_hash() (Bob Jenkins' 32-bit integer mix) places consistent-hash ring points.
// Everything works on unsigned 32-bit numbers and allocates nothing.

/** HAProxy's full_hash(): Bob Jenkins' full-avalanche 32-bit integer hash, then multiplied
 *  by 3221225473 (mod 2^32). */
export function fullHash(a: number): number {
  a = a >>> 0;
  a = (a + 0x7ed55d16 + (a << 12)) >>> 0;
  a = ((a ^ 0xc761c23c) ^ (a >>> 19)) >>> 0;
  a = (a + 0x165667b1 + (a << 5)) >>> 0;
  a = (((a + 0xd3a2646c) >>> 0) ^ (a << 9)) >>> 0;
  a = (a + 0xfd7046c5 + (a << 3)) >>> 0;
  a = ((a ^ 0xb55a4f09) ^ (a >>> 16)) >>> 0;
  // spread the values all around the 32-bit space (a large prime close to 3/4 of it)
  return Math.imul(a, 3221225473) >>> 0;
}

const groups = new Uint16Array(8);

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parse dotted IPv4 in s[from..to) into a 32-bit number, or -1. */
function parseV4(s: string, from: number, to: number): number {
  let value = 0;
  let octets = 0;
  let cur = -1;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (cur < 0 || octets === 3) return -1;
      value = value * 256 + cur;
      octets++;
      cur = -1;
    } else if (c >= 48 && c <= 57) {
      cur = cur < 0 ? c - 48 : cur * 10 + (c - 48);
      if (cur > 255) return -1;
    } else {
      return -1;
    }
  }
  if (cur < 0 || octets !== 3) return -1;
  return value * 256 + cur;
}

/** Parse IPv6 (with `::`, an optional dotted IPv4 tail and an optional %zone) into `groups`. */
function parseV6(s: string): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  let start = 0;
  if (s.charCodeAt(0) === 91 && s.charCodeAt(end - 1) === 93) {
    start = 1;
    end--;
  }
  let n = 0; // groups written
  let gap = -1; // index where `::` was
  let i = start;
  if (end - start >= 2 && s.charCodeAt(i) === 58 && s.charCodeAt(i + 1) === 58) {
    gap = 0;
    i += 2;
  } else if (s.charCodeAt(i) === 58) {
    return false;
  }
  while (i < end) {
    // one group: hex digits, or a dotted IPv4 tail
    let j = i;
    let v = 0;
    let digits = 0;
    while (j < end) {
      const h = hexVal(s.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      digits++;
      j++;
    }
    if (j < end && s.charCodeAt(j) === 46) {
      if (n > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4 || n >= 8) return false;
    groups[n++] = v;
    i = j;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap >= 0) {
    if (n > 7) return false;
    const move = n - gap;
    for (let k = 0; k < move; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - move; k++) groups[k] = 0;
  } else if (n !== 8) {
    return false;
  }
  return true;
}

/** HAProxy's source-address hash input: the IPv4 address, or the XOR of the IPv6 words.
 *  -1 when `addr` is not an IP address. */
export function addressHash(addr: string): number {
  const v4 = parseV4(addr, 0, addr.length);
  if (v4 >= 0) return v4;
  if (addr.indexOf(':') < 0 || !parseV6(addr)) return -1;
  let h = 0;
  for (let k = 0; k < 8; k += 2) h ^= ((groups[k]! << 16) | groups[k + 1]!) >>> 0;
  return h >>> 0;
}

/** A stable 32-bit hash for a key that is not an address (e.g. a unix socket peer): sdbm. */
export function stringHash(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (key.charCodeAt(i) + (h << 6) + (h << 16) - h) >>> 0;
  return h;
}
