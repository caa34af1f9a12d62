// balance source, map-based and consistent. The 127.0.0.1 sequences were recorded from the real
// HAProxy 2.6.12 (Debian 2.6.12-1+deb12u4) with test/harness/haproxy-sequence.ts;
// test/integration/lb-haproxy-diff.test.ts re-checks them live. The movement properties use
// many synthetic client addresses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HashType } from '../../src/config/types.js';
import { createBalancer } from '../../src/proxy/lb/index.js';
import { replay, simServers } from '../../src/proxy/lb/sim.js';

const names = (s: string): (string | null)[] => s.split(' ').map((x) => (x === '-' ? null : x));
const S = (spec: string) =>
  spec.split(' ').map((t) => {
    const [name, w] = t.split(':');
    return { name: name!, weight: Number(w ?? 1) };
  });
const clients = Array.from({ length: 1000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

function mapping(hashType: HashType, weights: number[]) {
  const servers = simServers(weights.map((w, i) => ({ name: `s${i + 1}`, weight: w })));
  const b = createBalancer('source', hashType, servers, { allbackups: false });
  const assign = () => clients.map((c) => (b.pick(c, null) as { name: string } | null)?.name ?? null);
  return { servers, b, assign };
}

test('source map-based: 127.0.0.1 lands where HAProxy 2.6.12 puts it, and moves with the map', () => {
  assert.deepEqual(
    replay({
      balance: 'source',
      servers: S('s1:1 s2:1 s3:1'),
      steps: [{ connections: 2 }, { command: 'disable server lb/s3' }, { connections: 2 }, { command: 'disable server lb/s1' }, { connections: 2 }],
    }),
    names('s3 s3 s2 s2 s2 s2'),
  );
  assert.deepEqual(
    replay({
      balance: 'source',
      servers: S('s1:5 s2:3 s3:2 s4:7'),
      steps: [{ connections: 2 }, { command: 'disable server lb/s4' }, { connections: 2 }, { command: 'enable server lb/s4' }, { connections: 2 }],
    }),
    names('s4 s4 s1 s1 s4 s4'),
  );
});

test('source consistent: 127.0.0.1 lands where HAProxy 2.6.12 puts it; only a removed server moves it', () => {
  assert.deepEqual(
    replay({
      balance: 'source',
      hashType: 'consistent',
      servers: S('s1:1 s2:1 s3:1'),
      steps: [{ connections: 2 }, { command: 'disable server lb/s2' }, { connections: 2 }, { command: 'disable server lb/s1' }, { connections: 2 }],
    }),
    names('s2 s2 s3 s3 s3 s3'),
  );
  assert.deepEqual(
    replay({
      balance: 'source',
      hashType: 'consistent',
      servers: S('s1:10 s2:13 s3:1 s4:7'),
      steps: [
        { connections: 2 },
        { command: 'disable server lb/s3' },
        { connections: 2 },
        { command: 'disable server lb/s1' },
        { connections: 2 },
        { command: 'enable server lb/s1' },
        { connections: 2 },
      ],
    }),
    names('s1 s1 s1 s1 s2 s2 s1 s1'),
  );
});

test('source consistent: backups (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'source',
    hashType: 'consistent',
    servers: [{ name: 's1' }, { name: 'b1', backup: true }, { name: 'b2', backup: true }],
    steps: [{ connections: 2 }, { command: 'disable server lb/s1' }, { connections: 2 }],
  });
  assert.deepEqual(got, names('s1 s1 b1 b1'));
});

test('source map-based: every client keeps its server while nothing changes', () => {
  const { assign } = mapping('map-based', [1, 1, 1]);
  const first = assign();
  for (let i = 0; i < 3; i++) assert.deepEqual(assign(), first);
  const counts = new Map<string, number>();
  for (const n of first) counts.set(n!, (counts.get(n!) ?? 0) + 1);
  assert.equal(counts.size, 3);
});

test('source map-based: clients of a down server move, and everyone is back when it returns', () => {
  const { servers, b, assign } = mapping('map-based', [1, 1, 1]);
  const before = assign();
  servers[1]!.usable = false;
  b.update();
  const during = assign();
  assert.ok(during.every((n) => n !== 's2'));
  servers[1]!.usable = true;
  b.update();
  assert.deepEqual(assign(), before);
});

test('source consistent: removing one of 3 servers moves only its clients (1000 clients)', () => {
  const { servers, b, assign } = mapping('consistent', [1, 1, 1]);
  const before = assign();
  const owned = (n: string) => before.filter((x) => x === n).length;
  for (const n of ['s1', 's2', 's3']) assert.ok(owned(n) > 100, `${n} has ${owned(n)} clients`);
  servers[1]!.usable = false; // s2 goes down
  b.update();
  const after = assign();
  let moved = 0;
  for (let i = 0; i < clients.length; i++) {
    if (before[i] === 's2') {
      assert.notEqual(after[i], 's2');
      moved++;
    } else {
      assert.equal(after[i], before[i], `client ${clients[i]} of ${before[i]} moved to ${after[i]}`);
    }
  }
  assert.equal(moved, owned('s2'));
  servers[1]!.usable = true;
  b.update();
  assert.deepEqual(assign(), before);
});

test('source consistent: a weight change moves few clients; shares follow weights', () => {
  const { servers, b, assign } = mapping('consistent', [1, 1, 1]);
  const before = assign();
  servers[0]!.weight = 2;
  b.update();
  const after = assign();
  // every client that moved went to s1 (which only gained points)
  for (let i = 0; i < clients.length; i++) if (after[i] !== before[i]) assert.equal(after[i], 's1');
  const share = after.filter((n) => n === 's1').length / clients.length;
  assert.ok(share > 0.35 && share < 0.65, `s1 share ${share}`);
});

test('source: hashing returns the server even at maxconn; consistent honours avoid, map-based does not (as HAProxy)', () => {
  for (const hashType of ['map-based', 'consistent'] as const) {
    const servers = simServers([{ name: 's1', maxconn: 1 }, { name: 's2', maxconn: 1 }, { name: 's3', maxconn: 1 }]);
    const b = createBalancer('source', hashType, servers, { allbackups: false });
    const s = b.pick('192.0.2.7', null)!;
    (s as { sessions: number }).sessions = 1;
    b.loadChanged(s);
    assert.equal(b.pick('192.0.2.7', null), s);
    const other = b.pick('192.0.2.7', s);
    if (hashType === 'consistent') assert.notEqual(other, s);
    else assert.equal(other, s);
  }
});

test('source: IPv6 and non-IP keys hash deterministically; one server left means no hashing', () => {
  const servers = simServers([{ name: 's1' }, { name: 's2' }, { name: 's3' }]);
  for (const hashType of ['map-based', 'consistent'] as const) {
    const b = createBalancer('source', hashType, servers, { allbackups: false });
    for (const key of ['2001:db8::17', '::ffff:10.1.2.3', '/run/warren.sock']) {
      const a = b.pick(key, null);
      assert.ok(a);
      assert.equal(b.pick(key, null), a);
    }
  }
  servers[0]!.usable = false;
  servers[1]!.usable = false;
  const b = createBalancer('source', 'consistent', servers, { allbackups: false });
  assert.equal(b.pick('10.0.0.1', null), servers[2]);
  servers[2]!.usable = false;
  b.update();
  assert.equal(b.pick('10.0.0.1', null), null);
  assert.equal(b.hasUsable(), false);
});
