// nbthread's pure parts: the `nbthread` keyword, the config a worker runs (limits split), and the
// sum of the workers' counters (what a dead worker counted stays, its open sessions go).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { ConfigError, loadProxyConfigText } from '../../src/config/load.js';
import { CounterSum, workerConfig, type Snapshot } from '../../src/proxy/ipc.js';

const yaml = (global: string): string => `global:
  maxconn: 1001
${global}
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 1m, server: 1m}
listen:
  app:
    bind: 127.0.0.1:0
    maxconn: 99
    server:
      - a 127.0.0.1:1 maxconn 1
      - b 127.0.0.1:2 maxconn 10
      - c 127.0.0.1:3
  stats:
    mode: http
    bind: 127.0.0.1:0
    stats: {enable: true}
`;

test('nbthread: default 1, a number, auto = the CPUs; anything else is an error at its line', () => {
  assert.equal(loadProxyConfigText(yaml(''), 't.yaml').global.nbthread, 1);
  assert.equal(loadProxyConfigText(yaml('  nbthread: 2'), 't.yaml').global.nbthread, 2);
  assert.equal(loadProxyConfigText(yaml('  nbthread: auto'), 't.yaml').global.nbthread, Math.min(64, os.availableParallelism()));
  for (const bad of ['0', '65', '1.5', 'many', '[2]']) {
    assert.throws(
      () => loadProxyConfigText(yaml(`  nbthread: ${bad}`), 't.yaml'),
      (err: unknown) => err instanceof ConfigError && /t\.yaml:3: global\.nbthread: expected a number of worker processes \(1 to 64\) or 'auto'/.test(err.message),
      bad,
    );
  }
});

test('workerConfig: no stats listener or runtime API; every maxconn split, rounded up, never 0', () => {
  const c = loadProxyConfigText(yaml('  nbthread: 2\n  stats-socket: /tmp/x.sock'), 't.yaml');
  const w = workerConfig(c, 2);
  assert.deepEqual(w.stats, []);
  assert.equal(w.global.statsSocket, null);
  assert.equal(w.global.maxconn, 501);
  assert.equal(w.frontends[0]!.maxconn, 50);
  assert.deepEqual(w.backends[0]!.servers.map((s) => s.maxconn), [1, 5, 0]); // 0 = no limit stays
  // The primary's config is untouched.
  assert.equal(c.global.maxconn, 1001);
  assert.equal(c.stats.length, 1);
});

// Entry layout (ipc.ts): cur, max, total, bin, bout, rate, denied/econ, eresp, retr, redisp, killed, last, q, qmax
const e = (cur: number, total: number, rate: number, last = 0): number[] => [cur, cur, total, 10 * total, 20 * total, rate, 1, 0, 0, 0, 0, last, cur > 0 ? 1 : 0, 1];

test('CounterSum: live workers add up; an exited one keeps its totals but not its sessions', () => {
  const sum = new CounterSum();
  const w1: Snapshot = { P: e(3, 100, 10, 1000), 'F app': e(3, 100, 10) };
  const w2: Snapshot = { P: e(2, 50, 5, 2000), 'F app': e(2, 50, 5) };
  sum.update(1, w1);
  sum.update(2, w2);
  let s = sum.sum();
  assert.deepEqual(s.P!.slice(0, 7), [5, 3, 150, 1500, 3000, 15, 2]);
  assert.equal(s.P![11], 2000, 'last session: the latest of the workers');
  assert.equal(s.P![12], 2, 'queued: a sum');
  assert.deepEqual(sum.processOf(2), { cur: 2, total: 50, rate: 5 });
  sum.exited(1);
  s = sum.sum();
  assert.equal(s.P![0], 2, 'the dead worker\'s sessions are gone');
  assert.equal(s.P![2], 150, 'what it counted stays');
  assert.equal(s.P![5], 5, 'its rate is gone');
  assert.equal(s.P![12], 1, 'its queue is gone');
  assert.equal(sum.processOf(1), null);
  // A restarted worker counts from zero again: totals keep growing.
  sum.update(3, { P: e(1, 4, 1) });
  assert.equal(sum.sum().P![2], 154);
});
