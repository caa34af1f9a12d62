// balance leastconn (HAProxy's fwlc). Expected sequences were recorded from the real
// HAProxy 2.6.12 (Debian 2.6.12-1+deb12u4) with test/harness/haproxy-sequence.ts;
// test/integration/lb-haproxy-diff.test.ts re-checks them live.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBalancer } from '../../src/proxy/lb/index.js';
import { replay, simServers, type SimServer } from '../../src/proxy/lb/sim.js';

const names = (s: string): (string | null)[] => s.split(' ').map((x) => (x === '-' ? null : x));

function setup(specs: Parameters<typeof simServers>[0]) {
  const servers = simServers(specs);
  const b = createBalancer('leastconn', 'map-based', servers, { allbackups: false });
  const open = (s: SimServer) => {
    s.sessions++;
    b.loadChanged(s);
  };
  const close = (s: SimServer) => {
    s.sessions--;
    b.loadChanged(s);
  };
  return { servers, b, open, close };
}

test('leastconn: equally idle servers rotate (HAProxy 2.6.12)', () => {
  const got = replay({ balance: 'leastconn', servers: [{ name: 's1' }, { name: 's2' }, { name: 's3' }], steps: 9 });
  assert.deepEqual(got, names('s1 s2 s3 s1 s2 s3 s1 s2 s3'));
});

test('leastconn: held sessions spread by load relative to weight (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'leastconn',
    servers: [{ name: 's1', weight: 3 }, { name: 's2', weight: 1 }, { name: 's3', weight: 2 }],
    steps: [{ connections: 12, hold: true }, { connections: 6 }, { release: true }, { connections: 6 }],
  });
  assert.deepEqual(got, names('s1 s2 s3 s1 s3 s1 s1 s3 s1 s2 s3 s1 s1 s1 s1 s1 s1 s1 s2 s3 s1 s2 s3 s1'));
});

test('leastconn: a server at maxconn is skipped (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'leastconn',
    servers: [{ name: 's1', weight: 5, maxconn: 2 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 7, hold: true }, { release: true }, { connections: 4 }],
  });
  assert.deepEqual(got, names('s1 s2 s3 s1 s2 s3 s2 s1 s3 s2 s1'));
});

test('leastconn: prefers the least loaded server', () => {
  const { servers, b, open } = setup([{ name: 's1' }, { name: 's2' }, { name: 's3' }]);
  open(servers[0]!);
  open(servers[0]!);
  open(servers[1]!);
  assert.equal(b.pick('x', null), servers[2]);
  open(servers[2]!);
  // s2 and s3 now have 1 each, s1 has 2: s2 (repositioned first) then s3
  assert.equal(b.pick('x', null), servers[1]);
});

test('leastconn: load is relative to weight; queued connections count as load', () => {
  const { servers, b, open } = setup([{ name: 's1', weight: 2 }, { name: 's2', weight: 1 }]);
  open(servers[0]!);
  open(servers[0]!); // 2 sessions on weight 2: (2+1)*4096/32 = 384
  open(servers[1]!); // 1 session on weight 1: (1+1)*4096/16 = 512
  assert.equal(b.pick('x', null), servers[0]);
  servers[0]!.queued = 2; // 4 in flight on weight 2: 640
  b.loadChanged(servers[0]!);
  assert.equal(b.pick('x', null), servers[1]);
});

test('leastconn: rotates among equally loaded servers with held sessions', () => {
  const { b, open } = setup([{ name: 's1' }, { name: 's2' }, { name: 's3' }]);
  const picks: string[] = [];
  for (let i = 0; i < 9; i++) {
    const s = b.pick('x', null) as SimServer;
    picks.push(s.name);
    open(s);
  }
  assert.deepEqual(picks, ['s1', 's2', 's3', 's1', 's2', 's3', 's1', 's2', 's3']);
});

test('leastconn: avoid picks the next least loaded, or avoid itself when alone', () => {
  const { servers, b, open } = setup([{ name: 's1' }, { name: 's2' }]);
  open(servers[1]!);
  assert.equal(b.pick('x', servers[0]!), servers[1]);
  servers[1]!.usable = false;
  b.update();
  assert.equal(b.pick('x', servers[0]!), servers[0]);
});

test('leastconn: all full gives null with hasUsable(); down servers are never picked', () => {
  const { servers, b, open, close } = setup([{ name: 's1', maxconn: 1 }, { name: 's2', maxconn: 1 }]);
  open(servers[0]!);
  open(servers[1]!);
  assert.equal(b.pick('x', null), null);
  assert.equal(b.hasUsable(), true);
  close(servers[1]!);
  assert.equal(b.pick('x', null), servers[1]);
  servers[1]!.usable = false;
  b.update();
  assert.equal(b.pick('x', null), null);
  servers[0]!.usable = false;
  b.update();
  assert.equal(b.hasUsable(), false);
});

test('leastconn: first backup only, allbackups spreads', () => {
  const specs = [{ name: 's1', disabled: true }, { name: 'b1', backup: true }, { name: 'b2', backup: true }];
  assert.deepEqual(replay({ balance: 'leastconn', servers: specs, steps: 4 }), names('b1 b1 b1 b1'));
  assert.deepEqual(replay({ balance: 'leastconn', allbackups: true, servers: specs, steps: 4 }), names('b1 b2 b1 b2'));
});
