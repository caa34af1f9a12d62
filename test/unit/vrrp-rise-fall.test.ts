// The rise/fall filter of VRRP trackers (src/vrrp/rise-fall.ts): keepalived's vrrp_script
// semantics, every transition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RiseFall } from '../../src/vrrp/rise-fall.js';
import type { TrackerStatus } from '../../src/vrrp/priority.js';

/** Feeds a string of outcomes ('+' success, '-' failure); returns the status after each. */
function run(rf: RiseFall, outcomes: string): TrackerStatus[] {
  return [...outcomes].map((c) => {
    rf.record(c === '+');
    return rf.status;
  });
}

test('starts unknown without init_fail, fail with it', () => {
  assert.equal(new RiseFall({ rise: 1, fall: 1 }).status, 'unknown');
  assert.equal(new RiseFall({ rise: 3, fall: 2 }).status, 'unknown');
  assert.equal(new RiseFall({ rise: 3, fall: 2, initFail: true }).status, 'fail');
});

test('from unknown the first result decides, whatever rise and fall say (keepalived INIT state)', () => {
  const up = new RiseFall({ rise: 5, fall: 5 });
  assert.equal(up.record(true), true);
  assert.equal(up.status, 'ok');
  const down = new RiseFall({ rise: 5, fall: 5 });
  assert.equal(down.record(false), true);
  assert.equal(down.status, 'fail');
});

test('init_fail needs rise consecutive successes', () => {
  const rf = new RiseFall({ rise: 3, fall: 2, initFail: true });
  assert.equal(rf.record(true), false);
  assert.equal(rf.record(true), false);
  assert.equal(rf.status, 'fail');
  assert.equal(rf.record(true), true);
  assert.equal(rf.status, 'ok');
});

test('init_fail: failures while already failing change nothing', () => {
  const rf = new RiseFall({ rise: 2, fall: 2, initFail: true });
  assert.equal(rf.record(false), false);
  assert.equal(rf.status, 'fail');
});

test('from ok it takes fall consecutive failures to fail', () => {
  const rf = new RiseFall({ rise: 2, fall: 3 });
  rf.record(true);
  assert.deepEqual(run(rf, '---'), ['ok', 'ok', 'fail']);
});

test('from fail it takes rise consecutive successes to be ok', () => {
  const rf = new RiseFall({ rise: 3, fall: 1 });
  rf.record(false);
  assert.deepEqual(run(rf, '+++'), ['fail', 'fail', 'ok']);
});

test('a success while going down restores full health (fall failures needed again)', () => {
  const rf = new RiseFall({ rise: 2, fall: 3 });
  rf.record(true);
  assert.deepEqual(run(rf, '--+---'), ['ok', 'ok', 'ok', 'ok', 'ok', 'fail']);
});

test('a failure while going up loses the successes gathered (rise successes needed again)', () => {
  const rf = new RiseFall({ rise: 3, fall: 2 });
  rf.record(false);
  assert.deepEqual(run(rf, '++-+++'), ['fail', 'fail', 'fail', 'fail', 'fail', 'ok']);
});

test('rise 1 fall 1 follows every result', () => {
  const rf = new RiseFall({ rise: 1, fall: 1 });
  assert.deepEqual(run(rf, '+-+--+'), ['ok', 'fail', 'ok', 'fail', 'fail', 'ok']);
});

test('record() reports a change exactly when the status changes', () => {
  const rf = new RiseFall({ rise: 2, fall: 2 });
  const changes = [...'++--++--'].map((c) => rf.record(c === '+'));
  // unknown -+-> ok, ok; -> ok (1 failure), -> fail; + -> fail (1 success), + -> ok; - -> ok, - -> fail
  assert.deepEqual(changes, [true, false, false, true, false, true, false, true]);
  assert.equal(rf.status, 'fail');
});

test('flapping never reaches the other side when rise/fall filter it out', () => {
  const rf = new RiseFall({ rise: 2, fall: 2 });
  rf.record(true);
  assert.deepEqual(run(rf, '-+-+-+'), ['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
  const down = new RiseFall({ rise: 2, fall: 2, initFail: true });
  assert.deepEqual(run(down, '+-+-+-'), ['fail', 'fail', 'fail', 'fail', 'fail', 'fail']);
});

test('rejects rise or fall below 1 or not integers', () => {
  assert.throws(() => new RiseFall({ rise: 0, fall: 1 }), /rise must be an integer >= 1/);
  assert.throws(() => new RiseFall({ rise: 1, fall: 0 }), /fall must be an integer >= 1/);
  assert.throws(() => new RiseFall({ rise: 1.5, fall: 1 }), /rise/);
});
