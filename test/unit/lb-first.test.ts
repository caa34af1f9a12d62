// balance first (HAProxy's lb_fas.c). The maxconn sequence was recorded from the real
// HAProxy 2.6.12 (Debian 2.6.12-1+deb12u4) with test/harness/haproxy-sequence.ts;
// test/integration/lb-haproxy-diff.test.ts re-checks it live.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBalancer } from '../../src/proxy/lb/index.js';
import { replay, simServers, type SimServer } from '../../src/proxy/lb/sim.js';

const names = (s: string): (string | null)[] => s.split(' ').map((x) => (x === '-' ? null : x));

test('first: fills servers in order up to maxconn (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'first',
    servers: [{ name: 's1', maxconn: 2 }, { name: 's2', maxconn: 3 }, { name: 's3', maxconn: 2 }],
    steps: [{ connections: 6, hold: true }, { connections: 2 }, { release: true }, { connections: 3 }],
  });
  assert.deepEqual(got, names('s1 s1 s2 s2 s2 s3 s3 s3 s1 s1 s1'));
});

test('first: maxconn 0 is unlimited', () => {
  assert.deepEqual(replay({ balance: 'first', servers: [{ name: 's1' }, { name: 's2' }], steps: [{ connections: 50, hold: true }] }), Array(50).fill('s1'));
});

test('first: skips unusable servers, avoid, and returns null when all are full', () => {
  const servers = simServers([{ name: 's1', maxconn: 1 }, { name: 's2', maxconn: 1 }, { name: 's3', maxconn: 1 }]);
  const b = createBalancer('first', 'map-based', servers, { allbackups: false });
  servers[0]!.usable = false;
  b.update();
  assert.equal(b.pick('x', null), servers[1]);
  assert.equal(b.pick('x', servers[1]!), servers[2]);
  const open = (s: SimServer) => {
    s.sessions++;
    b.loadChanged(s);
  };
  open(servers[2]!);
  assert.equal(b.pick('x', servers[1]!), servers[1], 'avoid is returned when nothing else is free');
  open(servers[1]!);
  assert.equal(b.pick('x', null), null);
  assert.equal(b.hasUsable(), true);
  servers[2]!.sessions = 0; // without loadChanged: found again at the next update or loadChanged
  b.loadChanged(servers[2]!);
  assert.equal(b.pick('x', null), servers[2]);
});

test('first: a server whose counters grew without loadChanged is still skipped', () => {
  const servers = simServers([{ name: 's1', maxconn: 1 }, { name: 's2', maxconn: 1 }]);
  const b = createBalancer('first', 'map-based', servers, { allbackups: false });
  servers[0]!.sessions = 1;
  assert.equal(b.pick('x', null), servers[1]);
});

test('first: pick is O(log n) with many full servers', () => {
  const specs = Array.from({ length: 4096 }, (_, i) => ({ name: `s${i}`, maxconn: 1 }));
  const servers = simServers(specs);
  const b = createBalancer('first', 'map-based', servers, { allbackups: false });
  for (let i = 0; i < 4095; i++) {
    servers[i]!.sessions = 1;
    b.loadChanged(servers[i]!);
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) assert.equal(b.pick('x', null), servers[4095]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 1500, `100k picks took ${ms} ms`);
});

test('first: backups follow the shared rule', () => {
  const specs = [{ name: 's1', disabled: true }, { name: 'b1', backup: true, maxconn: 1 }, { name: 'b2', backup: true }];
  assert.deepEqual(replay({ balance: 'first', servers: specs, steps: [{ connections: 3, hold: true }] }), names('b1 b1 b1'));
  assert.deepEqual(replay({ balance: 'first', allbackups: true, servers: specs, steps: [{ connections: 3, hold: true }] }), names('b1 b2 b2'));
});
