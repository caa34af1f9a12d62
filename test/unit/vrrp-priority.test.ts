import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  effectivePriority,
  trackerContribution,
  clampPriority,
  PRIORITY_OWNER,
  type TrackerInput,
} from '../../src/vrrp/priority.js';

const tr = (name: string, weight: number, status: TrackerInput['status']): TrackerInput => ({ name, weight, status });

test('no trackers: the base priority', () => {
  const r = effectivePriority(100, []);
  assert.deepEqual(r, { priority: 100, unclamped: 100, fault: false, failed: [], pending: [] });
});

test('negative weight is added while the check fails, nothing while it passes', () => {
  assert.equal(effectivePriority(100, [tr('chk_haproxy', -20, 'ok')]).priority, 100);
  assert.equal(effectivePriority(100, [tr('chk_haproxy', -20, 'fail')]).priority, 80);
});

test('positive weight is added while the check passes, nothing while it fails', () => {
  assert.equal(effectivePriority(100, [tr('chk', 2, 'ok')]).priority, 102);
  assert.equal(effectivePriority(100, [tr('chk', 2, 'fail')]).priority, 100);
});

test('a tracker without a result yet contributes nothing (keepalived INIT state)', () => {
  assert.equal(effectivePriority(100, [tr('a', 30, 'unknown'), tr('b', -30, 'unknown')]).priority, 100);
  assert.equal(trackerContribution({ weight: 30, status: 'unknown' }), 0);
});

test('contributions of several trackers add up', () => {
  const r = effectivePriority(100, [tr('a', 10, 'ok'), tr('b', -25, 'fail'), tr('c', 5, 'fail'), tr('d', -7, 'ok')]);
  assert.equal(r.priority, 85);
  assert.equal(r.unclamped, 85);
});

test('clamped to 1..254: never 0 (resign) nor 255 (owner)', () => {
  const high = effectivePriority(250, [tr('a', 100, 'ok')]);
  assert.equal(high.priority, 254);
  assert.equal(high.unclamped, 350);
  const low = effectivePriority(10, [tr('a', -253, 'fail')]);
  assert.equal(low.priority, 1);
  assert.equal(low.unclamped, -243);
  assert.equal(effectivePriority(254, [tr('a', 1, 'ok')]).priority, 254);
  assert.equal(effectivePriority(2, [tr('a', -1, 'fail')]).priority, 1);
  assert.equal(clampPriority(0), 1);
  assert.equal(clampPriority(255), 254);
});

test('weight 0: a failing tracker faults the instance, a silent one holds it; priority untouched', () => {
  const failing = effectivePriority(100, [tr('eth0', 0, 'fail'), tr('chk', -20, 'fail')]);
  assert.equal(failing.fault, true);
  assert.deepEqual(failing.failed, ['eth0']);
  assert.equal(failing.priority, 80);
  const pending = effectivePriority(100, [tr('eth0', 0, 'unknown')]);
  assert.equal(pending.fault, true);
  assert.deepEqual(pending.pending, ['eth0']);
  assert.deepEqual(pending.failed, []);
  const ok = effectivePriority(100, [tr('eth0', 0, 'ok')]);
  assert.equal(ok.fault, false);
  assert.equal(ok.priority, 100);
});

test('address owner (255): weights ignored, weight-0 trackers still fault it', () => {
  const r = effectivePriority(PRIORITY_OWNER, [tr('a', -100, 'fail'), tr('b', 50, 'ok')]);
  assert.equal(r.priority, 255);
  assert.equal(r.fault, false);
  const f = effectivePriority(PRIORITY_OWNER, [tr('eth0', 0, 'fail')]);
  assert.equal(f.priority, 255);
  assert.equal(f.fault, true);
});

test('invalid base priorities and weights are refused', () => {
  for (const base of [0, 256, -1, 1.5, Number.NaN]) assert.throws(() => effectivePriority(base, []), RangeError, String(base));
  for (const w of [254, -254, 0.5]) assert.throws(() => effectivePriority(100, [tr('x', w, 'ok')]), RangeError, String(w));
  assert.doesNotThrow(() => effectivePriority(1, [tr('x', 253, 'ok'), tr('y', -253, 'fail')]));
});
