import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeAdvert,
  decodeAdvert,
  parseIPv4,
  formatIPv4,
  ReplayGuard,
  SequenceGenerator,
  sequenceTimeMs,
  replayKey,
  MIN_ADVERT_LEN,
  MAX_ADVERT_LEN,
  MAX_VIPS,
  HEADER_LEN,
  MAC_LEN,
  type AdvertFields,
  type DecodeReason,
} from '../../src/vrrp/advert.js';
import { createHmac } from 'node:crypto';

const KEY = 'correct horse battery staple';

function fields(over: Partial<AdvertFields> = {}): AdvertFields {
  return {
    type: 'advert',
    vrid: 51,
    priority: 100,
    intervalCs: 10,
    address: '198.51.100.11',
    seq: 0x0123_4567_89ab_cdefn,
    vips: ['198.51.100.100', '198.51.100.101'],
    ...over,
  };
}

/** Re-sign a (possibly tampered) body so that only the semantic checks can reject it. */
function resign(buf: Buffer, key = KEY): Buffer {
  const bodyLen = buf.length - MAC_LEN;
  const out = Buffer.from(buf);
  createHmac('sha256', key).update(out.subarray(0, bodyLen)).digest().copy(out, bodyLen);
  return out;
}

function reason(buf: Uint8Array, opts: Parameters<typeof decodeAdvert>[1] = { key: KEY }): DecodeReason | 'ok' {
  const r = decodeAdvert(buf, opts);
  return r.ok ? 'ok' : r.reason;
}

// ---- IPv4 -----------------------------------------------------------------------------------

test('IPv4 parse/format: strict dotted quad', () => {
  assert.equal(parseIPv4('198.51.100.11'), 0xc633640b);
  assert.equal(parseIPv4('0.0.0.0'), 0);
  assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
  assert.equal(formatIPv4(0xc633640b), '198.51.100.11');
  assert.equal(formatIPv4(0xffffffff), '255.255.255.255');
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1..3.4', '::1']) {
    assert.equal(parseIPv4(bad), null, bad);
  }
});

// ---- round trip -----------------------------------------------------------------------------

test('round trip: every field survives encode/decode', () => {
  for (const f of [
    fields(),
    fields({ type: 'standby', priority: 0, vips: [] }),
    fields({ priority: 255, intervalCs: 65535, vrid: 255, seq: 0xffff_ffff_ffff_ffffn }),
    fields({ vrid: 1, intervalCs: 1, seq: 0n, vips: Array.from({ length: MAX_VIPS }, (_, i) => `10.0.${i}.1`) }),
  ]) {
    const buf = encodeAdvert(f, KEY);
    assert.equal(buf.length, HEADER_LEN + 4 * f.vips.length + MAC_LEN);
    const r = decodeAdvert(buf, { key: KEY });
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.advert, { ...f, vips: [...f.vips], version: 1, intervalMs: f.intervalCs * 10 });
  }
});

test('sizes: 0 VIPs is the minimum, MAX_VIPS the maximum', () => {
  assert.equal(encodeAdvert(fields({ vips: [] }), KEY).length, MIN_ADVERT_LEN);
  const max = encodeAdvert(fields({ vips: Array.from({ length: MAX_VIPS }, () => '10.0.0.1') }), KEY);
  assert.equal(max.length, MAX_ADVERT_LEN);
});

test('decode accepts a Uint8Array view at an offset (a slice of a larger buffer)', () => {
  const buf = encodeAdvert(fields(), KEY);
  const big = new Uint8Array(buf.length + 10);
  big.set(buf, 7);
  assert.equal(reason(big.subarray(7, 7 + buf.length)), 'ok');
});

test('sub-second intervals: centiseconds carried, milliseconds decoded', () => {
  const r = decodeAdvert(encodeAdvert(fields({ intervalCs: 5 }), KEY), { key: KEY });
  assert.ok(r.ok);
  assert.equal(r.advert.intervalMs, 50);
});

test('encode refuses invalid fields (programming errors)', () => {
  const bad: Partial<AdvertFields>[] = [
    { vrid: 0 },
    { vrid: 256 },
    { priority: -1 },
    { priority: 256 },
    { intervalCs: 0 },
    { intervalCs: 65536 },
    { address: '0.0.0.0' },
    { address: '224.0.0.18' },
    { address: 'host' },
    { seq: -1n },
    { seq: 1n << 64n },
    { vips: Array.from({ length: MAX_VIPS + 1 }, () => '10.0.0.1') },
    { vips: ['10.0.0'] },
    { type: 'hello' as never },
  ];
  for (const over of bad) assert.throws(() => encodeAdvert(fields(over), KEY), RangeError, JSON.stringify(over, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
});

// ---- malformed classes ----------------------------------------------------------------------

test('truncated: every prefix of a valid advert', () => {
  const buf = encodeAdvert(fields(), KEY);
  for (let len = 0; len < buf.length; len++) assert.equal(reason(buf.subarray(0, len)), 'truncated', `length ${len}`);
  const empty = encodeAdvert(fields({ vips: [] }), KEY);
  for (let len = 0; len < empty.length; len++) assert.equal(reason(empty.subarray(0, len)), 'truncated', `length ${len}`);
});

test('oversized: longer than the largest valid advert', () => {
  assert.equal(reason(Buffer.alloc(MAX_ADVERT_LEN + 1)), 'oversized');
  assert.equal(reason(Buffer.alloc(65507)), 'oversized');
});

test('bad-magic, bad-version', () => {
  const buf = encodeAdvert(fields(), KEY);
  const m = Buffer.from(buf);
  m[0] = 0x58;
  assert.equal(reason(m), 'bad-magic');
  const v = Buffer.from(buf);
  v[4] = 2;
  assert.equal(reason(v), 'bad-version');
  assert.equal(reason(resign(v)), 'bad-version');
});

test('bad-length: VIP count over the maximum, or bytes after the MAC', () => {
  const buf = encodeAdvert(fields({ vips: [] }), KEY);
  const c = Buffer.alloc(MAX_ADVERT_LEN);
  buf.copy(c);
  c[22] = MAX_VIPS + 1;
  assert.equal(reason(c), 'bad-length');
  const trailing = Buffer.concat([encodeAdvert(fields(), KEY), Buffer.from([0])]);
  assert.equal(reason(trailing), 'bad-length');
});

test('bad-auth: a forged key, a flipped bit anywhere, a wrong MAC', () => {
  const buf = encodeAdvert(fields(), KEY);
  assert.equal(reason(encodeAdvert(fields(), 'not the secret')), 'bad-auth');
  assert.equal(reason(buf, { key: Buffer.from(KEY + 'x') }), 'bad-auth');
  // Every bit outside the structural fields (magic, version, VIP count) must be covered by the MAC.
  for (let i = 0; i < buf.length; i++) {
    if (i < 5 || i === 22) continue;
    for (let bit = 0; bit < 8; bit++) {
      const t = Buffer.from(buf);
      t[i] = (t[i] as number) ^ (1 << bit);
      assert.equal(reason(t), 'bad-auth', `byte ${i} bit ${bit}`);
    }
  }
});

test('bad-type, bad-vrid, bad-interval, bad-address: only after authentication', () => {
  const buf = encodeAdvert(fields(), KEY);
  const cases: Array<[number, (b: Buffer) => void, DecodeReason]> = [
    [5, (b) => (b[5] = 0), 'bad-type'],
    [5, (b) => (b[5] = 3), 'bad-type'],
    [6, (b) => (b[6] = 0), 'bad-vrid'],
    [8, (b) => b.writeUInt16BE(0, 8), 'bad-interval'],
    [10, (b) => b.writeUInt32BE(0, 10), 'bad-address'],
    [10, (b) => b.writeUInt32BE(0xe0000012, 10), 'bad-address'],
    [10, (b) => b.writeUInt32BE(0xffffffff, 10), 'bad-address'],
  ];
  for (const [, mutate, expected] of cases) {
    const t = Buffer.from(buf);
    mutate(t);
    assert.equal(reason(t), 'bad-auth', `unsigned ${expected}`);
    assert.equal(reason(resign(t)), expected);
  }
});

test('wrong-vrid: authentic, but for another virtual router', () => {
  const buf = encodeAdvert(fields({ vrid: 52 }), KEY);
  assert.equal(reason(buf, { key: KEY, vrid: 51 }), 'wrong-vrid');
  assert.equal(reason(buf, { key: KEY, vrid: 52 }), 'ok');
});

test('non-buffer input does not throw', () => {
  for (const junk of [null, undefined, 'WRRN', 42, {}, [1, 2, 3]]) {
    assert.equal(reason(junk as unknown as Uint8Array), 'truncated');
  }
});

// ---- replay protection ----------------------------------------------------------------------

test('replayed: the same packet twice, an older one, and a forged one never moves the guard', () => {
  const guard = new ReplayGuard();
  const opts = { key: KEY, vrid: 51, replay: guard };
  const p1 = encodeAdvert(fields({ seq: 100n }), KEY);
  const p2 = encodeAdvert(fields({ seq: 101n }), KEY);
  assert.equal(reason(p1, opts), 'ok');
  assert.equal(reason(p1, opts), 'replayed');
  assert.equal(reason(p2, opts), 'ok');
  assert.equal(reason(p1, opts), 'replayed');
  assert.equal(reason(p2, opts), 'replayed');
  // A forged packet with a huge sequence must not poison the guard.
  assert.equal(reason(encodeAdvert(fields({ seq: 1n << 60n }), 'forged'), opts), 'bad-auth');
  // Nor an authentic one for another vrid.
  assert.equal(reason(encodeAdvert(fields({ vrid: 9, seq: 1n << 60n }), KEY), opts), 'wrong-vrid');
  assert.equal(guard.lastSeq(replayKey(51, '198.51.100.11')), 101n);
  assert.equal(reason(encodeAdvert(fields({ seq: 102n }), KEY), opts), 'ok');
});

test('replay guard: one sequence space per sender and per vrid', () => {
  const guard = new ReplayGuard();
  const a = encodeAdvert(fields({ seq: 500n }), KEY);
  const b = encodeAdvert(fields({ seq: 10n, address: '198.51.100.12' }), KEY);
  const c = encodeAdvert(fields({ seq: 10n, vrid: 52 }), KEY);
  assert.equal(reason(a, { key: KEY, replay: guard }), 'ok');
  assert.equal(reason(b, { key: KEY, replay: guard }), 'ok');
  assert.equal(reason(c, { key: KEY, replay: guard }), 'ok');
  assert.equal(guard.size, 3);
});

test('replay guard: bounded memory, least recently accepted sender forgotten first', () => {
  const guard = new ReplayGuard({ maxSenders: 3 });
  guard.accept('a', 1n);
  guard.accept('b', 1n);
  guard.accept('c', 1n);
  guard.accept('a', 2n); // a is now the most recent
  guard.accept('d', 1n); // evicts b
  assert.equal(guard.size, 3);
  assert.equal(guard.lastSeq('b'), undefined);
  assert.equal(guard.lastSeq('a'), 2n);
  for (let i = 0; i < 1000; i++) guard.accept(`s${i}`, 1n);
  assert.equal(guard.size, 3);
  assert.throws(() => new ReplayGuard({ maxSenders: 0 }), RangeError);
});

test('replay guard: optional maximum age of a sequence (for restarts of the receiver)', () => {
  let wall = 1_700_000_000_000;
  const gen = new SequenceGenerator(() => wall);
  const guard = new ReplayGuard({ maxAgeMs: 5_000, wallClock: () => wall });
  const old = gen.next();
  wall += 10_000;
  assert.equal(guard.check('x', old), 'stale');
  assert.equal(guard.check('x', gen.next()), 'ok');
});

test('sequence generator: strictly increasing, above anything a previous run sent', () => {
  let wall = 1_700_000_000_000;
  const gen = new SequenceGenerator(() => wall);
  const seen: bigint[] = [];
  for (let i = 0; i < 70_000; i++) seen.push(gen.next()); // more than 2^16 within one millisecond
  for (let i = 1; i < seen.length; i++) assert.ok((seen[i] as bigint) > (seen[i - 1] as bigint));
  assert.equal(sequenceTimeMs(seen[0] as bigint), wall);
  const lastOfFirstRun = seen[seen.length - 1] as bigint;
  wall += 1; // a restart 1 ms later, after 70k packets in one millisecond (far more than real)
  const restarted = new SequenceGenerator(() => wall);
  const first = restarted.next();
  assert.ok(first <= lastOfFirstRun, 'the first run had overflowed into future milliseconds');
  wall += 1000; // a second later the new run is clear
  assert.ok(new SequenceGenerator(() => wall).next() > lastOfFirstRun);
  // A clock stepping backwards inside one run does not break monotonicity.
  const g2 = new SequenceGenerator(() => wall);
  const x = g2.next();
  wall -= 60_000;
  assert.ok(g2.next() > x);
});

// ---- property test: random bytes never throw --------------------------------------------------

/** mulberry32: small, seeded, good enough to explore the input space reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random bytes (10k buffers, seeded): decode never throws, never accepts a forgery', () => {
  const rnd = prng(0x5eed);
  const guard = new ReplayGuard({ maxSenders: 8 });
  const valid = encodeAdvert(fields(), KEY);
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    let buf: Buffer;
    const mode = i % 4;
    if (mode === 0) {
      // Pure noise of any plausible length.
      buf = Buffer.alloc(Math.floor(rnd() * (MAX_ADVERT_LEN + 40)));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
    } else {
      // A valid advert with a few random bytes changed, and sometimes cut or extended: gets
      // past the cheap checks far more often than noise does.
      buf = Buffer.from(valid);
      const edits = 1 + Math.floor(rnd() * 4);
      for (let e = 0; e < edits; e++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
      if (mode === 2) buf = buf.subarray(0, Math.floor(rnd() * buf.length));
      if (mode === 3) buf = Buffer.concat([buf, Buffer.alloc(Math.floor(rnd() * 8))]);
    }
    let r: ReturnType<typeof decodeAdvert> | undefined;
    assert.doesNotThrow(() => {
      r = decodeAdvert(buf, { key: KEY, vrid: 51, replay: guard });
    }, `input ${i}: ${buf.toString('hex')}`);
    const key = r!.ok ? 'ok' : r!.reason;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    // A change that left the advert valid must have been a no-op edit (same byte written back).
    if (r!.ok) assert.ok(buf.equals(valid), `accepted a modified advert: ${buf.toString('hex')}`);
  }
  // The first unmodified copy may pass; any later one is a replay.
  assert.ok((counts.get('ok') ?? 0) <= 1, JSON.stringify([...counts]));
  for (const r of ['truncated', 'bad-auth', 'bad-magic']) assert.ok((counts.get(r) ?? 0) > 0, `no ${r} in ${JSON.stringify([...counts])}`);
});
