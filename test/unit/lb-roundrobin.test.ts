// balance roundrobin (HAProxy's fwrr). Expected sequences were recorded from the real
// HAProxy 2.6.12 (Debian 2.6.12-1+deb12u4) with test/harness/haproxy-sequence.ts, sequential
// short TCP connections; test/integration/lb-haproxy-diff.test.ts re-checks them live.

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

test('roundrobin 1/1/1 (HAProxy 2.6.12)', () => {
  assert.deepEqual(replay({ balance: 'roundrobin', servers: S('s1:1 s2:1 s3:1'), steps: 12 }), names('s1 s2 s3 s1 s2 s3 s1 s2 s3 s1 s2 s3'));
});

test('roundrobin 3/1/1 is s1 s1 s2 s1 s3 repeating (HAProxy 2.6.12)', () => {
  assert.deepEqual(
    replay({ balance: 'roundrobin', servers: S('s1:3 s2:1 s3:1'), steps: 20 }),
    names('s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3 s1 s1 s2 s1 s3'),
  );
});

test('roundrobin 5/3/2 (HAProxy 2.6.12)', () => {
  assert.deepEqual(
    replay({ balance: 'roundrobin', servers: S('s1:5 s2:3 s3:2'), steps: 30 }),
    names('s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2 s1 s3 s1 s2 s1 s2 s1 s3 s1 s2 s1 s3 s1 s2 s1 s2 s1 s3'),
  );
});

test('roundrobin 2/0/1: a weight-0 server takes nothing, and it is s1 s1 s3, not s1 s3 s1 (HAProxy 2.6.12)', () => {
  assert.deepEqual(replay({ balance: 'roundrobin', servers: S('s1:2 s2:0 s3:1'), steps: 12 }), names('s1 s1 s3 s1 s1 s3 s1 s1 s3 s1 s1 s3'));
});

test('roundrobin: runtime weight change, server down and back up, sequence continues like HAProxy 2.6.12', () => {
  const got = replay({
    balance: 'roundrobin',
    servers: S('s1:3 s2:1 s3:1'),
    steps: [
      { connections: 7 },
      { command: 'set weight lb/s2 4' },
      { connections: 12 },
      { command: 'disable server lb/s1' },
      { connections: 5 },
      { command: 'enable server lb/s1' },
      { connections: 12 },
    ],
  });
  assert.deepEqual(
    got,
    names(
      's1 s1 s2 s1 s3 s1 s1 ' + //
        's1 s2 s3 s2 s1 s2 s1 s2 s1 s2 s3 s2 ' +
        's2 s2 s2 s2 s3 ' +
        's2 s1 s2 s1 s2 s3 s1 s2 s2 s1 s2 s1',
    ),
  );
});

test('roundrobin: weight set to 0 then back to 1 at runtime (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'roundrobin',
    servers: S('s1:1 s2:1 s3:1'),
    steps: [{ connections: 6 }, { command: 'set weight lb/s2 0' }, { connections: 6 }, { command: 'set weight lb/s2 1' }, { connections: 9 }],
  });
  assert.deepEqual(got, names('s1 s2 s3 s1 s2 s3 s1 s3 s1 s3 s1 s3 s1 s3 s2 s1 s3 s2 s1 s3 s2'));
});

test('roundrobin: avoid (redispatch after a failed connect) skips that server (HAProxy 2.6.12)', () => {
  const got = replay({ balance: 'roundrobin', redispatch: true, servers: [{ name: 's1', weight: 3 }, { name: 's2', dead: true }, { name: 's3', weight: 2 }], steps: 15 });
  assert.deepEqual(got, names('s1 s3 s1 s1 s3 s1 s3 s1 s1 s3 s1 s3 s1 s1 s3'));
});

test('roundrobin: avoid is returned when it is the only server left', () => {
  const servers = simServers([{ name: 's1' }, { name: 's2', disabled: true }]);
  const b = createBalancer('roundrobin', 'map-based', servers, { allbackups: false });
  assert.equal(b.pick('127.0.0.1', servers[0]!), servers[0]);
});

test('roundrobin: a server at maxconn is skipped, and resumes when freed (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'roundrobin',
    servers: [{ name: 's1', weight: 3, maxconn: 2 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 6, hold: true }, { connections: 5 }, { release: true }, { connections: 5 }],
  });
  assert.deepEqual(got, names('s1 s1 s2 s3 s2 s3 s2 s3 s2 s3 s2 s1 s1 s1 s1 s1'));
});

test('roundrobin: null when every server is full, but hasUsable() says to queue', () => {
  const servers = simServers([{ name: 's1', maxconn: 1 }, { name: 's2', maxconn: 1 }]);
  const b = createBalancer('roundrobin', 'map-based', servers, { allbackups: false });
  for (const s of servers) {
    s.sessions = 1;
    b.loadChanged(s);
  }
  assert.equal(b.pick('127.0.0.1', null), null);
  assert.equal(b.hasUsable(), true);
  servers[1]!.sessions = 0;
  assert.equal(b.pick('127.0.0.1', null), servers[1]);
});

test('roundrobin: no usable server gives null and hasUsable() false', () => {
  const servers = simServers([{ name: 's1' }, { name: 's2' }]);
  const b = createBalancer('roundrobin', 'map-based', servers, { allbackups: false });
  for (const s of servers) s.usable = false;
  b.update();
  assert.equal(b.pick('127.0.0.1', null), null);
  assert.equal(b.hasUsable(), false);
  servers[1]!.usable = true;
  b.update();
  assert.deepEqual(sequence(b, 3), ['s2', 's2', 's2']);
});

test('roundrobin: backups only when no active is usable, first backup only (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'roundrobin',
    servers: [{ name: 's1' }, { name: 's2' }, { name: 'b1', backup: true }, { name: 'b2', backup: true }],
    steps: [
      { connections: 4 },
      { command: 'disable server lb/s1' },
      { connections: 3 },
      { command: 'disable server lb/s2' },
      { connections: 3 },
      { command: 'disable server lb/b1' },
      { connections: 3 },
      { command: 'enable server lb/b1' },
      { connections: 2 },
      { command: 'enable server lb/s2' },
      { connections: 2 },
    ],
  });
  assert.deepEqual(got, names('s1 s2 s1 s2 s2 s2 s2 b1 b1 b1 b2 b2 b2 b1 b1 s2 s2'));
});

test('roundrobin: allbackups balances over all backups by weight (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'roundrobin',
    allbackups: true,
    servers: [{ name: 's1' }, { name: 'b1', backup: true, weight: 2 }, { name: 'b2', backup: true }],
    steps: [{ connections: 3 }, { command: 'disable server lb/s1' }, { connections: 9 }],
  });
  assert.deepEqual(got, names('s1 s1 s1 b1 b1 b2 b1 b1 b2 b1 b1 b2'));
});

test('roundrobin: active servers all at weight 0 hand over to the backup (HAProxy 2.6.12)', () => {
  const got = replay({
    balance: 'roundrobin',
    servers: [{ name: 's1', weight: 0 }, { name: 'b1', backup: true }],
    steps: [{ connections: 2 }, { command: 'set weight lb/s1 1' }, { connections: 2 }],
  });
  assert.deepEqual(got, names('b1 b1 s1 s1'));
});

test('roundrobin: long-run shares follow the weights, including slowstart fractions', () => {
  const servers = simServers([{ name: 's1', weight: 5 }, { name: 's2', weight: 3 }, { name: 's3', weight: 2 }]);
  const b = createBalancer('roundrobin', 'map-based', servers, { allbackups: false });
  const count = (seq: (string | null)[]) => seq.reduce<Record<string, number>>((acc, n) => ((acc[n!] = (acc[n!] ?? 0) + 1), acc), {});
  assert.deepEqual(count(sequence(b, 1000)), { s1: 500, s2: 300, s3: 200 });
  // s3 in slow start at 1/4 of its weight (eweight 8 of 32)
  servers[2]!.weight = 0.5;
  b.update();
  sequence(b, 95); // let the change settle in a window
  const c = count(sequence(b, 850));
  assert.deepEqual(c, { s1: 500, s2: 300, s3: 50 });
});

test('roundrobin: pick is fast with many servers (no per-pick table rebuild)', () => {
  const specs = Array.from({ length: 1000 }, (_, i) => ({ name: `s${i}`, weight: 1 + (i % 7) }));
  const servers = simServers(specs);
  const b = createBalancer('roundrobin', 'map-based', servers, { allbackups: false });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200_000; i++) b.pick('127.0.0.1', null);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 2000, `200k picks over 1000 servers took ${ms} ms`);
});
