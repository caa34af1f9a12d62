// Property-based fuzzing of the advert decoder (src/vrrp/advert.ts), issue 7: forged, replayed,
// truncated, oversized, bit-flipped, wrong version/type/vrid adverts are dropped with their
// reason, decode never throws, and nothing but an exactly valid advert is accepted. The drop
// counters and "no state change" at the receiving daemon are fuzzed with real UDP in
// test/integration/fuzz-vrrp-receive.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  decodeAdvert,
  encodeAdvert,
  formatIPv4,
  ReplayGuard,
  HEADER_LEN,
  MAC_LEN,
  MAX_ADVERT_LEN,
  MAX_VIPS,
  MIN_ADVERT_LEN,
  type AdvertFields,
  type DecodeReason,
  type DecodeResult,
} from '../../src/vrrp/advert.js';
import { fuzz, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

const KEY = 'fuzz secret: correct horse battery staple';
const BUDGET: FuzzBudget = { runs: 5000, timeMs: 1500 };
const TIMEOUT = { timeout: testTimeout(BUDGET.timeMs) };

const REASONS: ReadonlySet<DecodeReason> = new Set([
  'truncated',
  'oversized',
  'bad-magic',
  'bad-version',
  'bad-length',
  'bad-auth',
  'bad-type',
  'bad-vrid',
  'bad-interval',
  'bad-address',
  'wrong-vrid',
  'replayed',
  'stale',
]);

/** decodeAdvert is documented as total: it must not throw, and a refusal names a known reason. */
function decode(data: Uint8Array, opts: Parameters<typeof decodeAdvert>[1]): DecodeResult {
  const r = decodeAdvert(data, opts);
  if (!r.ok) assert.ok(REASONS.has(r.reason), `unknown drop reason ${String(r.reason)}`);
  return r;
}

// ---- generators -------------------------------------------------------------------------------

const unicastSender = fc.integer({ min: 1, max: 0xdfffffff }).map(formatIPv4);
const anyIPv4 = fc.nat({ max: 0xffffffff }).map(formatIPv4);

/** Every field an encoder accepts (so every advert a real daemon can send). */
const validFields: fc.Arbitrary<AdvertFields> = fc.record({
  type: fc.constantFrom('advert' as const, 'standby' as const),
  vrid: fc.integer({ min: 1, max: 255 }),
  priority: fc.integer({ min: 0, max: 255 }),
  intervalCs: fc.integer({ min: 1, max: 0xffff }),
  address: unicastSender,
  seq: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  vips: fc.array(anyIPv4, { maxLength: MAX_VIPS }),
});

const validAdvert = validFields.map((f) => ({ fields: f, buf: encodeAdvert(f, KEY) }));

/** Secrets as operators write them (no NUL: HMAC zero-pads short keys, so "k" and "k\0" are one key). */
const secret = fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }).filter((s) => !s.includes('\u0000'));

/** Signs bytes [0, len - MAC_LEN) of `buf` in place with `key`: only the semantic checks remain. */
function resign(buf: Buffer, key = KEY): Buffer {
  const bodyLen = buf.length - MAC_LEN;
  createHmac('sha256', key).update(buf.subarray(0, bodyLen)).digest().copy(buf, bodyLen);
  return buf;
}

// ---- the oracle -------------------------------------------------------------------------------

/**
 * What the wire format (advert.ts header) says about an authentic datagram: the reason it must be
 * dropped for, or null when it is an exactly valid advert for `vrid`. Written from the layout
 * table, independently of decodeAdvert's code.
 */
function expectedVerdict(buf: Buffer, vrid: number | undefined): DecodeReason | null {
  if (buf.length > MAX_ADVERT_LEN) return 'oversized';
  if (buf.length < MIN_ADVERT_LEN) return 'truncated';
  if (buf.toString('latin1', 0, 4) !== 'WRRN') return 'bad-magic';
  if (buf[4] !== 1) return 'bad-version';
  const count = buf[22]!;
  if (count > MAX_VIPS) return 'bad-length';
  const len = HEADER_LEN + 4 * count + MAC_LEN;
  if (buf.length < len) return 'truncated';
  if (buf.length > len) return 'bad-length';
  if (buf[5] !== 1 && buf[5] !== 2) return 'bad-type';
  if (buf[6] === 0) return 'bad-vrid';
  if (buf.readUInt16BE(8) === 0) return 'bad-interval';
  const sender = buf.readUInt32BE(10);
  if (sender === 0 || sender >= 0xe0000000) return 'bad-address';
  if (vrid !== undefined && buf[6] !== vrid) return 'wrong-vrid';
  return null;
}

/** A datagram that looks like an advert: right magic, any header bytes, any VIP count and length. */
const advertShaped = fc
  .record({
    header: fc.uint8Array({ minLength: HEADER_LEN - 4, maxLength: HEADER_LEN - 4 }),
    // Near-valid values are the interesting ones: bias version, type, count and length towards them.
    version: fc.oneof(fc.constant(1), fc.nat({ max: 255 })),
    type: fc.oneof(fc.constantFrom(1, 2), fc.nat({ max: 255 })),
    count: fc.oneof(fc.nat({ max: MAX_VIPS + 1 }), fc.nat({ max: 255 })),
    extra: fc.oneof(fc.constant(0), fc.integer({ min: -8, max: 8 }), fc.integer({ min: -200, max: 200 })),
  })
  .map(({ header, version, type, count, extra }) => {
    const len = Math.max(HEADER_LEN, HEADER_LEN + 4 * Math.min(count, MAX_VIPS) + MAC_LEN + extra);
    const buf = Buffer.alloc(len);
    buf.write('WRRN', 0, 'latin1');
    Buffer.from(header).copy(buf, 4);
    buf[4] = version;
    buf[5] = type;
    buf[22] = count;
    return buf;
  });

// ---- properties -------------------------------------------------------------------------------

test('arbitrary bytes: never throws, never accepted', TIMEOUT, () => {
  fuzz(
    'advert: arbitrary bytes',
    fc.property(fc.oneof(fc.uint8Array({ maxLength: MAX_ADVERT_LEN + 64 }), fc.uint8Array({ maxLength: 70_000 })), fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }), (bytes, vrid) => {
      const r = decode(bytes, { key: KEY, vrid, replay: new ReplayGuard() });
      assert.equal(r.ok, false);
    }),
    BUDGET,
  );
});

test('advert-shaped datagrams signed with the right key: accepted exactly when the wire format says valid', TIMEOUT, () => {
  fuzz(
    'advert: signed advert-shaped bytes vs the layout oracle',
    fc.property(advertShaped, fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }), (raw, vrid) => {
      const buf = raw.length >= HEADER_LEN + MAC_LEN ? resign(raw) : raw;
      const want = expectedVerdict(buf, vrid);
      const r = decode(buf, { key: KEY, vrid });
      if (want === null) {
        assert.equal(r.ok, true, `a valid advert was dropped: ${r.ok ? '' : r.reason}`);
        if (r.ok) {
          // Accepted: every field is the one on the wire.
          assert.equal(r.advert.vrid, buf[6]);
          assert.equal(r.advert.priority, buf[7]);
          assert.equal(r.advert.intervalCs, buf.readUInt16BE(8));
          assert.equal(r.advert.intervalMs, buf.readUInt16BE(8) * 10);
          assert.equal(r.advert.address, formatIPv4(buf.readUInt32BE(10)));
          assert.equal(r.advert.seq, buf.readBigUInt64BE(14));
          assert.equal(r.advert.vips.length, buf[22]);
        }
      } else {
        assert.deepEqual(r, { ok: false, reason: want });
      }
    }),
    BUDGET,
  );
});

test('valid adverts round-trip; a second delivery is a replay', TIMEOUT, () => {
  fuzz(
    'advert: round trip and replay',
    fc.property(validAdvert, ({ fields, buf }) => {
      const replay = new ReplayGuard();
      const r = decode(buf, { key: KEY, vrid: fields.vrid, replay });
      assert.ok(r.ok, `dropped: ${r.ok ? '' : r.reason}`);
      assert.equal(r.advert.type, fields.type);
      assert.equal(r.advert.priority, fields.priority);
      assert.equal(r.advert.address, fields.address);
      assert.equal(r.advert.seq, fields.seq);
      assert.deepEqual(r.advert.vips, fields.vips);
      assert.deepEqual(decode(buf, { key: KEY, vrid: fields.vrid, replay }), { ok: false, reason: 'replayed' });
    }),
    BUDGET,
  );
});

test('truncated valid adverts are dropped as truncated', TIMEOUT, () => {
  fuzz(
    'advert: truncated',
    fc.property(
      validAdvert.chain(({ buf }) => fc.tuple(fc.constant(buf), fc.nat({ max: buf.length - 1 }))),
      ([buf, len]) => {
        assert.deepEqual(decode(buf.subarray(0, len), { key: KEY }), { ok: false, reason: 'truncated' });
      },
    ),
    BUDGET,
  );
});

test('valid adverts with bytes appended are dropped (bad-length, or oversized past the maximum)', TIMEOUT, () => {
  fuzz(
    'advert: oversized',
    fc.property(validAdvert, fc.uint8Array({ minLength: 1, maxLength: 300 }), ({ buf }, tail) => {
      const grown = Buffer.concat([buf, tail]);
      const want = grown.length > MAX_ADVERT_LEN ? 'oversized' : 'bad-length';
      assert.deepEqual(decode(grown, { key: KEY }), { ok: false, reason: want });
    }),
    BUDGET,
  );
});

test('valid adverts with any bits flipped are never accepted', TIMEOUT, () => {
  fuzz(
    'advert: bit flips',
    fc.property(
      validAdvert.chain(({ buf }) => fc.tuple(fc.constant(buf), fc.array(fc.record({ at: fc.nat({ max: buf.length - 1 }), mask: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }))),
      ([buf, flips]) => {
        const bad = Buffer.from(buf);
        for (const { at, mask } of flips) bad[at]! ^= mask;
        fc.pre(!bad.equals(buf)); // two flips of the same bits cancel out
        const r = decode(bad, { key: KEY, replay: new ReplayGuard() });
        assert.equal(r.ok, false);
      },
    ),
    BUDGET,
  );
});

test('adverts signed with another secret are dropped as bad-auth and never touch the replay guard', TIMEOUT, () => {
  fuzz(
    'advert: wrong key',
    fc.property(validFields, secret, secret, (fields, ours, theirs) => {
      fc.pre(ours !== theirs);
      const replay = new ReplayGuard();
      assert.deepEqual(decode(encodeAdvert(fields, theirs), { key: ours, vrid: fields.vrid, replay }), { ok: false, reason: 'bad-auth' });
      assert.equal(replay.size, 0);
      // And the genuine advert with the same fields still gets through afterwards.
      assert.equal(decode(encodeAdvert(fields, ours), { key: ours, vrid: fields.vrid, replay }).ok, true);
    }),
    BUDGET,
  );
});

test('wrong version, type, vrid, interval or sender, correctly signed: dropped with that reason', TIMEOUT, () => {
  const tamper = fc.oneof(
    fc.record({ at: fc.constant(4), value: fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1), reason: fc.constant<DecodeReason>('bad-version') }),
    fc.record({ at: fc.constant(5), value: fc.integer({ min: 0, max: 255 }).filter((v) => v !== 1 && v !== 2), reason: fc.constant<DecodeReason>('bad-type') }),
    fc.record({ at: fc.constant(6), value: fc.constant(0), reason: fc.constant<DecodeReason>('bad-vrid') }),
  );
  // 0.0.0.0, or 224.0.0.0/3 (multicast, reserved, broadcast): never a host's own address.
  const unusableSender = fc.record({ sender: fc.oneof(fc.constant(0), fc.integer({ min: 0xe0000000, max: 0xffffffff })) });
  fuzz(
    'advert: wrong fields',
    fc.property(validAdvert, fc.oneof(tamper, fc.constant('interval' as const), unusableSender, fc.integer({ min: 1, max: 255 })), ({ fields, buf }, how) => {
      const bad = Buffer.from(buf);
      let want: DecodeReason;
      if (how === 'interval') {
        bad.writeUInt16BE(0, 8);
        want = 'bad-interval';
      } else if (typeof how === 'object' && 'sender' in how) {
        bad.writeUInt32BE(how.sender, 10);
        want = 'bad-address';
      } else if (typeof how === 'number') {
        // Another virtual router's authentic advert.
        fc.pre(how !== fields.vrid);
        bad[6] = how;
        want = 'wrong-vrid';
      } else {
        bad[how.at] = how.value;
        want = how.reason;
      }
      const replay = new ReplayGuard();
      assert.deepEqual(decode(resign(bad), { key: KEY, vrid: fields.vrid, replay }), { ok: false, reason: want });
      assert.equal(replay.size, 0, 'a dropped advert moved the replay guard');
    }),
    BUDGET,
  );
});

test('replay guard: of any delivery order, exactly the adverts above the last accepted sequence per sender pass', TIMEOUT, () => {
  const senders = ['198.51.100.1', '198.51.100.2', '198.51.100.3'];
  const delivery = fc.array(
    fc.record({
      sender: fc.nat({ max: senders.length - 1 }),
      seq: fc.bigInt({ min: 0n, max: 20n }),
      forged: fc.boolean(),
    }),
    { minLength: 1, maxLength: 40 },
  );
  fuzz(
    'advert: replay order',
    fc.property(delivery, (msgs) => {
      const replay = new ReplayGuard();
      const last = new Map<number, bigint>();
      for (const m of msgs) {
        const f: AdvertFields = { type: 'advert', vrid: 7, priority: 100, intervalCs: 100, address: senders[m.sender]!, seq: m.seq, vips: [] };
        const r = decode(encodeAdvert(f, m.forged ? 'not the secret' : KEY), { key: KEY, vrid: 7, replay });
        const prev = last.get(m.sender);
        if (m.forged) assert.deepEqual(r, { ok: false, reason: 'bad-auth' });
        else if (prev !== undefined && m.seq <= prev) assert.deepEqual(r, { ok: false, reason: 'replayed' });
        else {
          assert.equal(r.ok, true);
          last.set(m.sender, m.seq);
        }
      }
    }),
    BUDGET,
  );
});
