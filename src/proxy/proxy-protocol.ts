// The PROXY protocol header (haproxy's doc/proxy-protocol.txt) that `send-proxy` and
// `send-proxy-v2` put in front of the stream, so the broker sees the client's own address.
import { isIPv4, isIPv6 } from 'node:net';

export interface Endpoints {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** An IPv4-mapped IPv6 address (::ffff:1.2.3.4) is an IPv4 client on a dual-stack listener. */
function unmap(addr: string): string {
  return addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

function family(src: string, dst: string): 4 | 6 | 0 {
  if (isIPv4(src) && isIPv4(dst)) return 4;
  if (isIPv6(src) && isIPv6(dst)) return 6;
  return 0;
}

export function proxyHeaderV1(e: Endpoints): Buffer {
  const src = unmap(e.srcAddr);
  const dst = unmap(e.dstAddr);
  const fam = family(src, dst);
  if (fam === 0) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${fam} ${src} ${dst} ${e.srcPort} ${e.dstPort}\r\n`, 'latin1');
}

function ipv4Bytes(addr: string, into: Buffer, at: number): void {
  const parts = addr.split('.');
  for (let i = 0; i < 4; i++) into[at + i] = Number(parts[i]);
}

function ipv6Bytes(addr: string, into: Buffer, at: number): void {
  // Expand '::' and an embedded IPv4 tail into eight 16-bit groups.
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  for (let i = 0; i < 8; i++) into.writeUInt16BE(parseInt(groups[i]!, 16), at + i * 2);
}

export function proxyHeaderV2(e: Endpoints): Buffer {
  const src = unmap(e.srcAddr);
  const dst = unmap(e.dstAddr);
  const fam = family(src, dst);
  const addrLen = fam === 4 ? 12 : fam === 6 ? 36 : 0;
  const buf = Buffer.alloc(16 + addrLen);
  V2_SIGNATURE.copy(buf, 0);
  buf[12] = 0x21; // version 2, command PROXY
  buf[13] = fam === 4 ? 0x11 : fam === 6 ? 0x21 : 0x00; // AF_INET/AF_INET6 over STREAM, or UNSPEC
  buf.writeUInt16BE(addrLen, 14);
  if (fam === 4) {
    ipv4Bytes(src, buf, 16);
    ipv4Bytes(dst, buf, 20);
    buf.writeUInt16BE(e.srcPort, 24);
    buf.writeUInt16BE(e.dstPort, 26);
  } else if (fam === 6) {
    ipv6Bytes(src, buf, 16);
    ipv6Bytes(dst, buf, 32);
    buf.writeUInt16BE(e.srcPort, 48);
    buf.writeUInt16BE(e.dstPort, 50);
  }
  return buf;
}
