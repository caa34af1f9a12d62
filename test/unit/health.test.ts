import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthMachine, healthLabel, checkStatusDescription } from '../../src/proxy/check/health.js';
import type { CheckResult } from '../../src/proxy/check/result.js';

const pass: CheckResult = { ok: true, status: 'L4OK', code: null, desc: '', durationMs: 1, warning: null, hardFailure: false };
const fail: CheckResult = { ok: false, status: 'L4CON', code: null, desc: 'Connection refused', durationMs: 0, warning: null, hardFailure: true };
const intervals = { inter: 5000, fastinter: 1000, downinter: 10000 };

function fullyUp(rise = 2, fall = 3, extra: Partial<ConstructorParameters<typeof HealthMachine>[0]> = {}): HealthMachine {
  return new HealthMachine({ rise, fall, initState: 'fully-up', ...extra });
}

test('labels follow HAProxy: UP n/fall counts failures still needed, DOWN n/rise counts successes so far', () => {
  // rise 2 fall 3: health 0..4, UP from 2
  assert.equal(healthLabel(0, 2, 3), 'DOWN');
  assert.equal(healthLabel(1, 2, 3), 'DOWN 1/2');
  assert.equal(healthLabel(2, 2, 3), 'UP 1/3');
  assert.equal(healthLabel(3, 2, 3), 'UP 2/3');
  assert.equal(healthLabel(4, 2, 3), 'UP');
});

test('UP -> UP 2/3 -> UP 1/3 -> DOWN with rise 2 fall 3', () => {
  const m = fullyUp();
  assert.equal(m.label, 'UP');
  assert.equal(m.health, 4);
  let o = m.onCheck(fail);
  assert.equal(o.label, 'UP 2/3');
  assert.equal(o.changed, true);
  assert.equal(o.transition, null);
  assert.equal(m.state, 'UP');
  o = m.onCheck(fail);
  assert.equal(o.label, 'UP 1/3');
  assert.equal(o.transition, null);
  o = m.onCheck(fail);
  assert.equal(m.label, 'DOWN');
  assert.equal(m.state, 'DOWN');
  assert.deepEqual(
    { from: o.transition?.from, to: o.transition?.to, cause: o.transition?.cause, reason: o.transition?.reason, label: o.transition?.label },
    { from: 'UP', to: 'DOWN', cause: 'check', reason: 'Layer4 connection problem', label: 'DOWN' },
  );
  assert.equal(o.transition?.result, fail);
  assert.equal(m.counters.failedChecks, 3);
  assert.equal(m.counters.downTransitions, 1);
  // further failures change nothing (health stays 0, not reported)
  o = m.onCheck(fail);
  assert.equal(o.changed, false);
  assert.equal(o.transition, null);
  assert.equal(m.counters.failedChecks, 3);
});

test('recovery in the middle of going down goes straight back to full health', () => {
  const m = fullyUp();
  m.onCheck(fail);
  m.onCheck(fail);
  assert.equal(m.label, 'UP 1/3');
  const o = m.onCheck(pass);
  assert.equal(o.changed, true);
  assert.equal(o.transition, null);
  assert.equal(m.label, 'UP');
  assert.equal(m.health, 4);
  // a pass at full health is not a change
  assert.equal(m.onCheck(pass).changed, false);
});

test('DOWN -> DOWN 1/2 -> UP, and a failure while going up falls back to DOWN', () => {
  const m = new HealthMachine({ rise: 2, fall: 3, initState: 'fully-down' });
  assert.equal(m.label, 'DOWN');
  let o = m.onCheck(pass);
  assert.equal(o.label, 'DOWN 1/2');
  assert.equal(o.transition, null);
  o = m.onCheck(fail);
  assert.equal(m.label, 'DOWN');
  assert.equal(o.transition, null); // was already DOWN
  m.onCheck(pass);
  o = m.onCheck(pass);
  assert.equal(m.label, 'UP');
  assert.equal(m.health, 4);
  assert.equal(o.transition?.from, 'DOWN');
  assert.equal(o.transition?.to, 'UP');
  assert.equal(o.transition?.reason, 'Layer4 check passed');
});

test("initial state 'up' (HAProxy default): UP 1/fall, one failure takes it DOWN, one pass makes it fully UP", () => {
  const a = new HealthMachine({ rise: 2, fall: 3 });
  assert.equal(a.state, 'UP');
  assert.equal(a.health, 2);
  assert.equal(a.label, 'UP 1/3');
  assert.equal(a.onCheck(fail).transition?.to, 'DOWN');

  const b = new HealthMachine({ rise: 2, fall: 3 });
  b.onCheck(pass);
  assert.equal(b.label, 'UP');

  // fall 1: health = rise is already full health
  assert.equal(new HealthMachine({ rise: 2, fall: 1 }).label, 'UP');
});

test('init states down / fully-down / fully-up', () => {
  const d = new HealthMachine({ rise: 3, fall: 2, initState: 'down' });
  assert.equal(d.state, 'DOWN');
  assert.equal(d.label, 'DOWN 2/3');
  assert.equal(d.onCheck(pass).transition?.to, 'UP');
  assert.equal(d.label, 'UP');

  const fd = new HealthMachine({ rise: 3, fall: 2, initState: 'fully-down' });
  fd.onCheck(pass);
  fd.onCheck(pass);
  assert.equal(fd.label, 'DOWN 2/3');
  assert.equal(fd.onCheck(pass).transition?.to, 'UP');

  const fu = new HealthMachine({ rise: 3, fall: 2, initState: 'fully-up' });
  assert.equal(fu.onCheck(fail).transition, null);
  assert.equal(fu.label, 'UP 1/2');
  assert.equal(fu.onCheck(fail).transition?.to, 'DOWN');
});

test('rise 1 fall 1: every check decides', () => {
  const m = new HealthMachine({ rise: 1, fall: 1 });
  assert.equal(m.label, 'UP');
  assert.equal(m.onCheck(fail).transition?.to, 'DOWN');
  assert.equal(m.onCheck(pass).transition?.to, 'UP');
});

test('nextInterval is srv_getinter: inter at full health, fastinter in transition, downinter when DOWN', () => {
  const m = fullyUp();
  assert.equal(m.nextInterval(intervals), 5000);
  m.onCheck(fail);
  assert.equal(m.nextInterval(intervals), 1000); // UP 2/3
  m.onCheck(fail);
  m.onCheck(fail);
  assert.equal(m.nextInterval(intervals), 10000); // DOWN
  m.onCheck(pass);
  assert.equal(m.nextInterval(intervals), 1000); // DOWN 1/2
  m.onCheck(pass);
  assert.equal(m.nextInterval(intervals), 5000); // UP
  // initial 'up' state is not full health: fastinter until the first pass
  assert.equal(new HealthMachine({ rise: 2, fall: 3 }).nextInterval(intervals), 1000);
});

test('rejects nonsense rise/fall', () => {
  assert.throws(() => new HealthMachine({ rise: 0, fall: 3 }), RangeError);
  assert.throws(() => new HealthMachine({ rise: 2, fall: 1.5 }), RangeError);
});

test('observe is ignored unless observe layer4 is on', () => {
  const m = fullyUp(2, 3, { errorLimit: 1, onError: 'mark-down' });
  const o = m.observe(false);
  assert.equal(o.triggered, false);
  assert.equal(m.label, 'UP');
});

test('error-limit counts consecutive errors; a success (traffic or check) resets the streak', () => {
  const m = fullyUp(2, 3, { observeLayer4: true, errorLimit: 3, onError: 'fail-check' });
  assert.equal(m.observe(false).consecutiveErrors, 1);
  assert.equal(m.observe(false).consecutiveErrors, 2);
  assert.equal(m.observe(true).consecutiveErrors, 0);
  m.observe(false);
  m.observe(false);
  m.onCheck(pass); // a passed check clears it too
  assert.equal(m.consecutiveErrors, 0);
  m.observe(false);
  m.observe(false);
  const o = m.observe(false);
  assert.equal(o.triggered, true);
  assert.equal(o.consecutiveErrors, 3);
  assert.equal(m.consecutiveErrors, 0, 'the streak restarts after the action');
  assert.equal(m.counters.failedHana, 1);
});

test('on-error fastinter: only forces fastinter for the next check', () => {
  const m = fullyUp(2, 3, { observeLayer4: true, errorLimit: 2, onError: 'fastinter' });
  m.observe(false);
  const o = m.observe(false);
  assert.equal(o.triggered, true);
  assert.equal(o.action, 'fastinter');
  assert.equal(o.result, null);
  assert.equal(o.transition, null);
  assert.equal(m.label, 'UP');
  assert.equal(m.forceFastinter, true);
  assert.equal(m.nextInterval(intervals), 1000);
  m.clearForceFastinter();
  assert.equal(m.nextInterval(intervals), 5000);
});

test('on-error fail-check: counts as one failed check (HANA)', () => {
  const m = fullyUp(2, 3, { observeLayer4: true, errorLimit: 1, onError: 'fail-check' });
  const o = m.observe(false);
  assert.equal(o.action, 'fail-check');
  assert.equal(o.result?.status, 'HANA');
  assert.equal(o.result?.desc, 'Detected 1 consecutive errors, last one was: L4 unsuccessful connection');
  assert.equal(m.label, 'UP 2/3');
  assert.equal(m.forceFastinter, true);
  m.observe(false);
  const last = m.observe(false);
  assert.equal(last.transition?.to, 'DOWN');
  assert.equal(last.transition?.cause, 'observe');
  assert.equal(last.transition?.reason, 'Health analyze');
  assert.equal(m.counters.failedChecks, 3);
});

test('on-error sudden-death: leaves exactly one failure before DOWN, or goes DOWN if already there', () => {
  const m = fullyUp(2, 5, { observeLayer4: true, errorLimit: 1, onError: 'sudden-death' });
  assert.equal(m.label, 'UP');
  let o = m.observe(false);
  assert.equal(o.transition, null);
  assert.equal(m.label, 'UP 1/5');
  o = m.observe(false);
  assert.equal(o.transition?.to, 'DOWN');
  assert.equal(m.label, 'DOWN');

  // from the middle (UP 2/3) it also ends at UP 1/3
  const n = fullyUp(2, 3, { observeLayer4: true, errorLimit: 1, onError: 'sudden-death' });
  n.onCheck(fail);
  assert.equal(n.label, 'UP 2/3');
  n.observe(false);
  assert.equal(n.label, 'UP 1/3');

  // a DOWN server stays DOWN and nothing is counted
  const d = new HealthMachine({ rise: 2, fall: 3, initState: 'fully-down', observeLayer4: true, errorLimit: 1, onError: 'sudden-death' });
  assert.equal(d.observe(false).transition, null);
  assert.equal(d.counters.failedChecks, 0);
});

test('on-error mark-down: DOWN at once from full health', () => {
  const m = fullyUp(2, 3, { observeLayer4: true, errorLimit: 2, onError: 'mark-down' });
  m.observe(false);
  assert.equal(m.label, 'UP');
  const o = m.observe(false);
  assert.equal(o.transition?.from, 'UP');
  assert.equal(o.transition?.to, 'DOWN');
  assert.equal(m.label, 'DOWN');
  assert.equal(m.counters.downTransitions, 1);
  // mark-down on a server going up (DOWN 1/2) sends it back to DOWN (health 0)
  m.onCheck(pass);
  assert.equal(m.label, 'DOWN 1/2');
  m.observe(false);
  m.observe(false);
  assert.equal(m.label, 'DOWN');
});

test('maintenance: health 0, check results ignored, leaving it restores the initial state', () => {
  const m = fullyUp();
  const t = m.enterMaint();
  assert.equal(t?.to, 'DOWN');
  assert.equal(t?.cause, 'maint');
  assert.equal(m.maint, true);
  assert.equal(m.health, 0);
  assert.equal(m.enterMaint(), null);
  assert.equal(m.onCheck(pass).changed, false);
  assert.equal(m.label, 'DOWN');
  assert.equal(m.counters.downTransitions, 0, 'maintenance is not a health-driven down');
  // leaving maintenance uses the init state: fully-up here
  const back = m.leaveMaint();
  assert.equal(back?.to, 'UP');
  assert.equal(back?.cause, 'ready');
  assert.equal(m.label, 'UP');

  const d = new HealthMachine({ rise: 2, fall: 3, maint: true });
  assert.equal(d.maint, true);
  assert.equal(d.state, 'DOWN');
  d.leaveMaint();
  assert.equal(d.label, 'UP 1/3', "HAProxy: health = rise, 'start OK but check immediately'");
});

test('logStatus matches the log-health-checks fragment', () => {
  const m = fullyUp();
  assert.equal(m.logStatus, '3/3 UP');
  m.onCheck(fail);
  assert.equal(m.logStatus, '2/3 UP');
  m.onCheck(fail);
  m.onCheck(fail);
  assert.equal(m.logStatus, '0/2 DOWN');
  assert.equal(checkStatusDescription('L7STS'), 'Layer7 wrong status');
  assert.equal(checkStatusDescription('nope'), 'Unknown');
});
