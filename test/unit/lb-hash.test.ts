// Address hashing for `balance source` (HAProxy's get_server_sh() input) and full_hash().

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressHash, fullHash, stringHash } from '../../src/proxy/lb/hash.js';

test('addressHash: IPv4 is the address as a 32-bit number', () => {
  assert.equal(addressHash('127.0.0.1'), 0x7f000001);
  assert.equal(addressHash('255.255.255.255'), 0xffffffff);
  assert.equal(addressHash('0.0.0.0'), 0);
});

test('addressHash: IPv6 is the XOR of its four 32-bit words', () => {
  assert.equal(addressHash('::1'), 1);
  assert.equal(addressHash('::'), 0);
  assert.equal(addressHash('2001:db8::1'), (0x20010db8 ^ 1) >>> 0);
  assert.equal(addressHash('2001:0db8:0000:0000:0000:0000:0000:0001'), (0x20010db8 ^ 1) >>> 0);
  assert.equal(addressHash('1:2:3:4:5:6:7:8'), (0x00010002 ^ 0x00030004 ^ 0x00050006 ^ 0x00070008) >>> 0);
  assert.equal(addressHash('::ffff:127.0.0.1'), (0xffff ^ 0x7f000001) >>> 0);
  assert.equal(addressHash('fe80::1%eth0'), (0xfe800000 ^ 1) >>> 0);
  assert.equal(addressHash('[::1]'), 1);
  assert.equal(addressHash('1::'), 0x00010000);
  assert.equal(addressHash('FE80::A'), (0xfe800000 ^ 0xa) >>> 0);
});

test('addressHash: anything else is -1', () => {
  for (const bad of ['', 'abc', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1::2::3', ':::', '1:2:3:4:5:6:7:8:9', '12345::', ':1::', '1:', '/tmp/s.sock']) {
    assert.equal(addressHash(bad), -1, bad);
  }
});

test('fullHash: unsigned 32-bit, deterministic, spreads neighbours apart', () => {
  const a = fullHash(4096);
  const b = fullHash(4097);
  assert.ok(Number.isInteger(a) && a >= 0 && a <= 0xffffffff);
  assert.equal(fullHash(4096), a);
  assert.notEqual(a, b);
  assert.ok(Math.abs(a - b) > 1 << 16);
  // Pinned: rings and client hashes built from these match HAProxy 2.6.12's choices (lb-source
  // tests, and the live comparison in test/integration/lb-haproxy-diff.test.ts).
  assert.equal(fullHash(0), 2874071335);
  assert.equal(fullHash(4096), 1237450891);
  assert.equal(fullHash(4097), 2761370759);
  assert.equal(fullHash(0x7f000001), 2317047883);
  assert.equal(fullHash(0x100000000), fullHash(0));
});

test('stringHash: deterministic 32-bit', () => {
  assert.equal(stringHash('/run/a.sock'), stringHash('/run/a.sock'));
  assert.notEqual(stringHash('/run/a.sock'), stringHash('/run/b.sock'));
  assert.ok(stringHash('x') >= 0);
});
