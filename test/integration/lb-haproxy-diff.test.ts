// Re-checks, against the real HAProxy on every run, that warren's balance algorithms pick the
// same servers in the same order: each scenario runs once through /usr/sbin/haproxy (tiny TCP
// servers behind it, sequential connections from 127.0.0.1, runtime API commands in between)
// and once through src/proxy/lb via the same replayer, and the two sequences must be equal.
// The unit tests (test/unit/lb-*.test.ts) hold the sequences recorded from HAProxy 2.6.12.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  HAPROXY_BIN,
  haproxyAvailable,
  recordHaproxySequence,
  warrenSequence,
  type HaproxySequenceOptions,
  type HaproxyServerSpec,
  type HaproxyStep,
} from '../harness/haproxy-sequence.js';

const S = (spec: string): HaproxyServerSpec[] =>
  spec.split(' ').map((t) => {
    const [name, w] = t.split(':');
    return { name: name!, weight: Number(w ?? 1) };
  });

const fixed: Record<string, HaproxySequenceOptions> = {
  'roundrobin 1/1/1': { balance: 'roundrobin', servers: S('s1:1 s2:1 s3:1'), steps: 12 },
  'roundrobin 3/1/1': { balance: 'roundrobin', servers: S('s1:3 s2:1 s3:1'), steps: 20 },
  'roundrobin 5/3/2': { balance: 'roundrobin', servers: S('s1:5 s2:3 s3:2'), steps: 30 },
  'roundrobin 2/0/1': { balance: 'roundrobin', servers: S('s1:2 s2:0 s3:1'), steps: 12 },
  'static-rr 3/1/1': { balance: 'static-rr', servers: S('s1:3 s2:1 s3:1'), steps: 20 },
  'static-rr 5/3/2': { balance: 'static-rr', servers: S('s1:5 s2:3 s3:2'), steps: 30 },
  'roundrobin runtime weight/down/up': {
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
  },
  'roundrobin weight 0 at runtime': {
    balance: 'roundrobin',
    servers: S('s1:1 s2:1 s3:1'),
    steps: [{ connections: 6 }, { command: 'set weight lb/s2 0' }, { connections: 6 }, { command: 'set weight lb/s2 1' }, { connections: 9 }],
  },
  'roundrobin redispatch (avoid)': { balance: 'roundrobin', redispatch: true, servers: [{ name: 's1', weight: 3 }, { name: 's2', dead: true }, { name: 's3', weight: 2 }], steps: 15 },
  'roundrobin maxconn': {
    balance: 'roundrobin',
    servers: [{ name: 's1', weight: 3, maxconn: 2 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 6, hold: true }, { connections: 5 }, { release: true }, { connections: 5 }],
  },
  'roundrobin backups': {
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
  },
  'roundrobin allbackups': {
    balance: 'roundrobin',
    allbackups: true,
    servers: [{ name: 's1' }, { name: 'b1', backup: true, weight: 2 }, { name: 'b2', backup: true }],
    steps: [{ connections: 3 }, { command: 'disable server lb/s1' }, { connections: 9 }],
  },
  'static-rr down/up': {
    balance: 'static-rr',
    servers: S('s1:3 s2:1 s3:1'),
    steps: [{ connections: 7 }, { command: 'disable server lb/s1' }, { connections: 5 }, { command: 'enable server lb/s1' }, { connections: 10 }],
  },
  'static-rr maxconn': {
    balance: 'static-rr',
    servers: [{ name: 's1', weight: 3, maxconn: 1 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 5, hold: true }, { release: true }, { connections: 5 }],
  },
  'static-rr redispatch (avoid)': { balance: 'static-rr', redispatch: true, servers: [{ name: 's1', weight: 2 }, { name: 's2', weight: 2, dead: true }, { name: 's3' }], steps: 10 },
  'leastconn rotation': { balance: 'leastconn', servers: S('s1:1 s2:1 s3:1'), steps: 9 },
  'leastconn held sessions': {
    balance: 'leastconn',
    servers: S('s1:3 s2:1 s3:2'),
    steps: [{ connections: 12, hold: true }, { connections: 6 }, { release: true }, { connections: 6 }],
  },
  'leastconn maxconn': {
    balance: 'leastconn',
    servers: [{ name: 's1', weight: 5, maxconn: 2 }, { name: 's2' }, { name: 's3' }],
    steps: [{ connections: 7, hold: true }, { release: true }, { connections: 4 }],
  },
  'first maxconn': {
    balance: 'first',
    servers: [{ name: 's1', maxconn: 2 }, { name: 's2', maxconn: 3 }, { name: 's3', maxconn: 2 }],
    steps: [{ connections: 6, hold: true }, { connections: 2 }, { release: true }, { connections: 3 }],
  },
  'source map-based': {
    balance: 'source',
    servers: S('s1:5 s2:3 s3:2 s4:7'),
    steps: [{ connections: 2 }, { command: 'disable server lb/s4' }, { connections: 2 }, { command: 'enable server lb/s4' }, { connections: 2 }],
  },
  'source consistent': {
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
  },
};

/** Seeded scenarios: random weights, backups, runtime changes, for every algorithm. */
function generated(count: number, seed: number): Record<string, HaproxySequenceOptions> {
  let x = seed;
  const rnd = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return Math.floor(x / 65536) % n;
  };
  const algos = ['roundrobin', 'roundrobin', 'static-rr', 'leastconn', 'first', 'source', 'source'] as const;
  const out: Record<string, HaproxySequenceOptions> = {};
  for (let r = 0; r < count; r++) {
    const balance = algos[rnd(algos.length)]!;
    const n = 2 + rnd(4);
    const servers: HaproxyServerSpec[] = [];
    for (let i = 0; i < n; i++) servers.push({ name: `s${i + 1}`, weight: [0, 1, 1, 2, 3, 5, 7, 10, 13, 32, 100, 256][rnd(12)]! });
    if (rnd(3) === 0) servers.push({ name: 'b1', weight: 1 + rnd(4), backup: true });
    const steps: HaproxyStep[] = [{ connections: 5 + rnd(30) }];
    const dynamic = balance !== 'static-rr' && balance !== 'source';
    for (let k = rnd(5); k > 0; k--) {
      const s = servers[rnd(servers.length)]!.name;
      const c = rnd(3);
      if (c === 0 && dynamic) steps.push({ command: `set weight lb/${s} ${[0, 1, 2, 3, 5, 8, 20, 100][rnd(8)]}` });
      else if (c === 1) steps.push({ command: `disable server lb/${s}` });
      else steps.push({ command: `enable server lb/${s}` });
      steps.push({ connections: 1 + rnd(20) });
    }
    const hashType = rnd(2) ? 'consistent' : 'map-based';
    const name = `${balance}${balance === 'source' ? ` ${hashType}` : ''} #${r} ${servers.map((s) => (s.backup ? 'b' : '') + s.weight).join('/')}`;
    out[name] = { balance, servers, steps, hashType, allbackups: rnd(2) === 1 };
  }
  return out;
}

const available = haproxyAvailable();

test('haproxy is installed for the comparison', () => {
  assert.ok(available, `no haproxy at ${HAPROXY_BIN}: install it (apt-get install -y haproxy) or set HAPROXY_BIN`);
});

for (const [name, scenario] of Object.entries({ ...fixed, ...generated(24, 2026) })) {
  test(`same sequence as HAProxy: ${name}`, { skip: !available }, async () => {
    const opts: HaproxySequenceOptions = { ...scenario, gapMs: scenario.gapMs ?? (scenario.balance === 'leastconn' ? 30 : 0) };
    const hap = await recordHaproxySequence(opts);
    for (const out of hap.commandOutputs) assert.equal(out.trim(), '', `runtime API said: ${out}`);
    assert.deepEqual(warrenSequence(opts), hap.sequence, `HAProxy ${hap.version}`);
  });
}

test('HAProxy itself gives s1 s1 s2 s1 s3 for roundrobin 3/1/1', { skip: !available }, async () => {
  const hap = await recordHaproxySequence(fixed['roundrobin 3/1/1']!);
  assert.deepEqual(hap.sequence.slice(0, 10), ['s1', 's1', 's2', 's1', 's3', 's1', 's1', 's2', 's1', 's3']);
});
