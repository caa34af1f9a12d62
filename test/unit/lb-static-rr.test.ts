// balance static-rr (HAProxy's lb_map.c). Expected sequences were recorded from the real
// HAProxy 2.6.12 (Debian 2.6.12-1+deb12u4) with test/harness/haproxy-sequence.ts;
// test/integration/lb-haproxy-diff.test.ts re-checks them live.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBalancer } from '../../src/proxy/lb/index.js';
import { replay, sequence, simServers } from '../../src/proxy/lb/sim.js';

const names = (s: string): (string | null)[] => s.split(' ').map((x) => (x === '-' ? null : x));
const S = (spec: string) =>
  spec.split(' ').map((t) => {
    const [name, w] = t.split(':');
    return { name: name!, weight: Number(w ?? 1) };
  });

test('static-rr 3/1/1 (HAProxy 2.6.12)', () => {
  assert.deepEqual(
    replay({ balance: 'static-rr', servers: S('s1:3 s2:1 s3:1'), steps: 20 }),
    names('s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3'),
  );
});

test('static-rr 5/3/2 differs from roundrobin 5/3/2 (HAProxy 2.6.12)', () => {
  assert.deepEqual(
    replay({ balance: 'static-rr', servers: S('s1:5 s2:3 s3:2'), steps: 30 }),
    names('s1 s1 s2 s1 s3 s1 s2 s1 s2 s3 s1 s1 s2 s1 s3 s1 s2 s1 s2 s3 s1 s1 s2 s1 s3 s1 s2 s1 s2 s3'),
  );
});

test('static-rr: a server going down and coming back rebuilds the map, position kept (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'static-rr',
    servers: S('s1:3 s2:1 s3:1'),
    steps: [{ connections: 7 }, { command: 'disable server lb/s1' }, { connections: 5 }, { command: 'enable server lb/s1' }, { connections: 10 }],
  });
  assert.deepEqual(got, names('s1 s1 s2 s1 s3 s1 s1 s2 s3 s2 s3 s2 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1'));
});

test('static-rr: a server at maxconn is skipped (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'static-rr',
    servers: [{ name: 's1', weight: 3, maxconn: 1 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 5, hold: true }, { release: true }, { connections: 5 }],
  });
  assert.deepEqual(got, names('s1 s2 s3 s2 s3 s1 s1 s2 s1 s3'));
});

test('static-rr: avoid skips the server that failed (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'static-rr',
    redispatch: true,
    servers: [{ name: 's1', weight: 2 }, { name: 's2', weight: 2, dead: true }, { name: 's3' }],
    steps: 10,
  });
  assert.deepEqual(got, names('s1 s1 s3 s1 s1 s3 s1 s1 s3 s1'));
});

test('static-rr: weights are reduced by their GCD (2/2/2 behaves as 1/1/1)', () => {
  assert.deepEqual(replay({ balance: 'static-rr', servers: S('s1:2 s2:2 s3:2'), steps: 6 }), names('s1 s2 s3 s1 s2 s3'));
});

test('static-rr: first backup only, even with several weighted backups (documented rule)', () => {
  // HAProxy 2.6.12 itself answers b1 b2 b1 b2 here: its map is sized by the first backup's
  // weight but filled from every usable backup. warren keeps the documented rule.
  const got = replay({
    balance: 'static-rr',
    servers: [{ name: 's1', disabled: true }, { name: 'b1', backup: true, weight: 2 }, { name: 'b2', backup: true, weight: 2 }],
    steps: 4,
  });
  assert.deepEqual(got, names('b1 b1 b1 b1'));
});

test('static-rr: allbackups balances over the backups (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'static-rr',
    allbackups: true,
    servers: [{ name: 's1', disabled: true }, { name: 'b1', backup: true, weight: 2 }, { name: 'b2', backup: true }],
    steps: 8,
  });
  assert.deepEqual(got, names('b1 b1 b2 b1 b1 b2 b1 b1'));
});

test('static-rr: nothing usable gives null', () => {
  const servers = simServers([{ name: 's1' }]);
  const b = createBalancer('static-rr', 'map-based', servers, { allbackups: false });
  servers[0]!.usable = false;
  b.update();
  assert.equal(b.pick('127.0.0.1', null), null);
  assert.equal(b.hasUsable(), false);
  servers[0]!.usable = true;
  b.update();
  assert.deepEqual(sequence(b, 2), ['s1', 's1']);
});
