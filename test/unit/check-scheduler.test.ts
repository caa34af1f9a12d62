import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CheckScheduler,
  checkTimeout,
  checkTarget,
  schedulerForServer,
  spreadStartDelay,
  type Clock,
  type CheckSchedulerEvents,
  type CheckSchedulerOptions,
} from '../../src/proxy/check/scheduler.js';
import { HealthMachine, type Transition, type HealthOptions } from '../../src/proxy/check/health.js';
import type { CheckResult, CheckRunner } from '../../src/proxy/check/result.js';
import type { ServerConfig } from '../../src/config/types.js';

// ---- fake clock ------------------------------------------------------------------------------

class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers = new Map<number, { due: number; fn: () => void; seq: number }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): number {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + Math.max(0, ms), fn, seq: id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  /** Advance time by ms, firing timers in order and letting promise callbacks run after each. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await flush();
    for (;;) {
      let next: [number, { due: number; fn: () => void; seq: number }] | null = null;
      for (const e of this.timers) {
        if (e[1].due <= target && (next === null || e[1].due < next[1].due || (e[1].due === next[1].due && e[1].seq < next[1].seq))) next = e;
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.t = next[1].due;
      next[1].fn();
      await flush();
    }
    this.t = target;
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- scripted runner -------------------------------------------------------------------------

function res(ok: boolean, extra: Partial<CheckResult> = {}): CheckResult {
  return ok
    ? { ok, status: 'L4OK', code: null, desc: '', durationMs: 0, warning: null, hardFailure: false, ...extra }
    : { ok, status: 'L4CON', code: null, desc: 'Connection refused', durationMs: 0, warning: null, hardFailure: true, ...extra };
}
const PASS = res(true);
const REFUSED = res(false);
const TIMEOUT = res(false, { status: 'L4TOUT', desc: 'timeout', hardFailure: false });

type Step = CheckResult | (() => Promise<CheckResult> | CheckResult);

/** Answers from a switchable "server": `state` decides each answer; `calls` records check times. */
class FakeServer {
  calls: number[] = [];
  timeouts: number[] = [];
  script: Step[] = [];
  answer: Step = PASS;
  constructor(private clock: FakeClock) {}
  runner: CheckRunner = async (_target, timeoutMs) => {
    this.calls.push(this.clock.now());
    this.timeouts.push(timeoutMs);
    const step = this.script.length > 0 ? this.script.shift()! : this.answer;
    return typeof step === 'function' ? step() : step;
  };
}

interface Harness {
  clock: FakeClock;
  server: FakeServer;
  sched: CheckScheduler;
  transitions: Transition[];
  results: CheckResult[];
}

function harness(
  machine: Partial<HealthOptions> = {},
  opts: Partial<CheckSchedulerOptions> = {},
  events: CheckSchedulerEvents = {},
): Harness {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const transitions: Transition[] = [];
  const results: CheckResult[] = [];
  const sched = new CheckScheduler({
    target: { host: '127.0.0.1', port: 5672 },
    runner: server.runner,
    timeoutMs: 2000,
    intervals: { inter: 5000, fastinter: 500, downinter: 10000 },
    machine: new HealthMachine({ rise: 2, fall: 3, initState: 'fully-up', ...machine }),
    clock,
    random: () => 0,
    initialDelayMs: 0,
    events: {
      onTransition: (t) => transitions.push(t),
      onResult: (r) => results.push(r),
      ...events,
    },
    ...opts,
  });
  return { clock, server, sched, transitions, results };
}

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled promise rejections');
});

// ---- tests -----------------------------------------------------------------------------------

test('initial check is spread randomly within the first interval', async () => {
  const h = harness({}, { random: () => 0.5, initialDelayMs: undefined });
  h.sched.start();
  assert.equal(h.sched.nextCheckAt, 2500);
  await h.clock.advance(2499);
  assert.equal(h.server.calls.length, 0);
  await h.clock.advance(1);
  assert.deepEqual(h.server.calls, [2500]);
  h.sched.stop();

  // HAProxy's default init state (UP, health = rise) is not full health: the spread uses fastinter
  const d = harness({ initState: 'up' }, { random: () => 0.999, initialDelayMs: undefined });
  d.sched.start();
  assert.equal(d.sched.nextCheckAt, 499);
  d.sched.stop();

  const e = harness({}, { initialDelayMs: 1234 });
  e.sched.start();
  assert.equal(e.sched.nextCheckAt, 1234);
  e.sched.stop();

  assert.equal(spreadStartDelay(0, 4, 2000), 0);
  assert.equal(spreadStartDelay(3, 4, 2000), 1500);
});

test('inter while UP, fastinter in transition, downinter while DOWN, measured from the end of each check', async () => {
  const h = harness();
  // each check takes 100 ms of clock time
  const slow = (r: CheckResult) => () => new Promise<CheckResult>((resolve) => h.clock.setTimeout(() => resolve(r), 100));
  h.server.script = [slow(PASS), slow(REFUSED), TIMEOUT, TIMEOUT, TIMEOUT, PASS, PASS, PASS];
  h.sched.start();
  await h.clock.advance(0); // check 1 at 0 (takes 100)
  await h.clock.advance(100 + 5000); // UP: inter after the end -> 5100 (takes 100, fails hard)
  assert.deepEqual(h.server.calls, [0, 5100]);
  assert.equal(h.sched.label, 'UP', 'still in flight');
  // refused (hardFailure) from full health at 5200: immediate re-check at 5200
  await h.clock.advance(100);
  assert.deepEqual(h.server.calls, [0, 5100, 5200]);
  assert.equal(h.sched.label, 'UP 1/3');
  await h.clock.advance(500); // fastinter
  assert.deepEqual(h.server.calls, [0, 5100, 5200, 5700]);
  assert.equal(h.sched.label, 'DOWN');
  assert.equal(h.transitions.length, 1);
  await h.clock.advance(10000); // downinter
  assert.deepEqual(h.server.calls.slice(4), [15700]);
  assert.equal(h.sched.label, 'DOWN', 'still failing');
  await h.clock.advance(10000);
  assert.equal(h.sched.label, 'DOWN 1/2');
  await h.clock.advance(500); // fastinter while going up
  assert.equal(h.sched.label, 'UP');
  assert.deepEqual(h.server.calls.slice(4), [15700, 25700, 26200]);
  await h.clock.advance(5000);
  assert.deepEqual(h.server.calls.slice(7), [31200]);
  assert.deepEqual(
    h.transitions.map((t) => `${t.from}->${t.to}`),
    ['UP->DOWN', 'DOWN->UP'],
  );
  assert.equal(h.results.length, 8);
  h.sched.stop();
  assert.equal(h.clock.pending, 0);
});

test('triggerNow: immediate check, then fastinter; a killed broker is DOWN (fall-1) x fastinter after the first refusal', async () => {
  const h = harness();
  h.sched.start();
  await h.clock.advance(0); // t=0 pass
  await h.clock.advance(3000);
  // the broker dies at t=3000; a session sees the refusal right away
  h.server.answer = REFUSED;
  assert.equal(h.sched.triggerNow(), true);
  assert.equal(h.sched.triggerNow(), false, 'only one immediate check per departure from full health');
  await h.clock.advance(0);
  assert.deepEqual(h.server.calls, [0, 3000]);
  assert.equal(h.sched.label, 'UP 2/3');
  // hardFailure results do not chain more immediate checks: fastinter from now on
  assert.equal(h.sched.triggerNow(), false);
  await h.clock.advance(499);
  assert.equal(h.server.calls.length, 2);
  await h.clock.advance(1);
  await h.clock.advance(500);
  assert.deepEqual(h.server.calls, [0, 3000, 3500, 4000]);
  assert.equal(h.transitions.length, 1);
  assert.equal(h.transitions[0]!.to, 'DOWN');
  // DOWN at 4000 = 3000 + (fall - 1) * fastinter
  assert.equal(h.sched.lastCheckStart, 4000);
  // while DOWN nothing is learnt from more refusals: no immediate check, no hot loop
  assert.equal(h.sched.triggerNow(), false);
  await h.clock.advance(10000);
  assert.deepEqual(h.server.calls.slice(4), [14000]);
  h.sched.stop();
});

test('a scheduled check that is refused re-checks at once: DOWN (fall-2) x fastinter after it', async () => {
  const h = harness({ fall: 4 });
  h.server.answer = REFUSED;
  h.sched.start();
  await h.clock.advance(0);
  assert.deepEqual(h.server.calls, [0, 0], 'the refused check was repeated at once');
  await h.clock.advance(1000);
  assert.deepEqual(h.server.calls, [0, 0, 500, 1000]);
  assert.equal(h.sched.label, 'DOWN');
  assert.equal(h.transitions[0]!.to, 'DOWN');
  h.sched.stop();
});

test('triggerNow is re-armed once the server is back at full health, and ignored while a check is in flight', async () => {
  const h = harness();
  h.sched.start();
  await h.clock.advance(0);
  h.server.answer = REFUSED;
  assert.equal(h.sched.triggerNow(), true);
  await h.clock.advance(0);
  h.server.answer = PASS;
  await h.clock.advance(500);
  assert.equal(h.sched.label, 'UP');
  // in flight: a check that never answers by itself until we say so
  let release!: (r: CheckResult) => void;
  h.server.script = [() => new Promise<CheckResult>((r) => (release = r))];
  assert.equal(h.sched.triggerNow(), true, 're-armed at full health');
  await h.clock.advance(0);
  assert.equal(h.sched.inFlight, true);
  assert.equal(h.sched.triggerNow(), false, 'a check is already in flight');
  release(PASS);
  await h.clock.advance(0);
  assert.equal(h.sched.inFlight, false);
  assert.equal(h.sched.triggerNow(), true);
  h.sched.stop();
});

test('the runner gets the check timeout; a runner that never answers is failed by the watchdog', async () => {
  const h = harness({ rise: 1, fall: 1 }, { timeoutMs: 2000, watchdogSlackMs: 1000 });
  let late!: (r: CheckResult) => void;
  h.server.script = [() => new Promise<CheckResult>((r) => (late = r))];
  h.sched.start();
  await h.clock.advance(0);
  assert.deepEqual(h.server.timeouts, [2000]);
  await h.clock.advance(2999);
  assert.equal(h.results.length, 0);
  await h.clock.advance(1);
  assert.equal(h.results.length, 1);
  assert.equal(h.results[0]!.ok, false);
  assert.equal(h.results[0]!.status, 'L4TOUT');
  assert.equal(h.results[0]!.durationMs, 3000);
  assert.equal(h.sched.label, 'DOWN');
  // the late answer is ignored
  late(PASS);
  await h.clock.advance(0);
  assert.equal(h.results.length, 1);
  assert.equal(h.sched.label, 'DOWN');
  h.sched.stop();
});

test('a runner that throws or rejects counts as a failed check, never an unhandled rejection', async () => {
  const h = harness({ fall: 3 });
  h.server.script = [
    () => {
      throw new Error('boom sync');
    },
    () => Promise.reject(new Error('boom async')),
    () => null as unknown as CheckResult,
  ];
  h.sched.start();
  await h.clock.advance(0);
  await h.clock.advance(500);
  await h.clock.advance(500);
  assert.deepEqual(
    h.results.map((r) => [r.ok, r.status]),
    [
      [false, 'SOCKERR'],
      [false, 'SOCKERR'],
      [false, 'SOCKERR'],
    ],
  );
  assert.match(h.results[0]!.desc, /boom sync/);
  assert.match(h.results[1]!.desc, /boom async/);
  assert.equal(h.sched.label, 'DOWN');

  // a runner function that itself throws synchronously (not an async function)
  const clock = new FakeClock();
  const results: CheckResult[] = [];
  const s = new CheckScheduler({
    target: { host: '127.0.0.1', port: 1 },
    runner: () => {
      throw new Error('sync');
    },
    timeoutMs: 100,
    intervals: { inter: 1000, fastinter: 1000, downinter: 1000 },
    machine: new HealthMachine({ rise: 1, fall: 1 }),
    clock,
    initialDelayMs: 0,
    events: { onResult: (r) => results.push(r) },
  });
  s.start();
  await clock.advance(0);
  assert.equal(results[0]?.status, 'SOCKERR');
  s.stop();
  h.sched.stop();
});

test('pause (MAINT) stops checks and drops the in-flight answer; resume checks at once from health = rise', async () => {
  const h = harness();
  h.sched.start();
  await h.clock.advance(0);
  let release!: (r: CheckResult) => void;
  h.server.script = [() => new Promise<CheckResult>((r) => (release = r))];
  await h.clock.advance(5000);
  assert.equal(h.sched.inFlight, true);
  const t = h.sched.pause();
  assert.equal(t?.to, 'DOWN');
  assert.equal(t?.cause, 'maint');
  assert.equal(h.sched.isPaused, true);
  assert.equal(h.sched.inFlight, false);
  release(REFUSED);
  await h.clock.advance(60000);
  assert.deepEqual(h.server.calls, [0, 5000], 'no check while in maintenance');
  assert.equal(h.results.length, 1, 'the in-flight answer was dropped');
  assert.equal(h.sched.triggerNow(), false);
  const back = h.sched.resume();
  assert.equal(back?.to, 'UP');
  assert.equal(h.sched.label, 'UP'); // fully-up init state in this harness
  await h.clock.advance(0);
  assert.deepEqual(h.server.calls, [0, 5000, 65000]);
  h.sched.stop();

  // a `disabled` server starts paused and is checked at once when enabled
  const d = harness({ initState: 'up', maint: true });
  d.sched.start();
  await d.clock.advance(60000);
  assert.equal(d.server.calls.length, 0);
  assert.equal(d.sched.label, 'DOWN');
  d.sched.resume();
  assert.equal(d.sched.label, 'UP 1/3');
  await d.clock.advance(0);
  assert.deepEqual(d.server.calls, [60000]);
  assert.equal(d.sched.label, 'UP');
  d.sched.stop();
});

test('stop clears every timer and ignores a late answer', async () => {
  const h = harness();
  let release!: (r: CheckResult) => void;
  h.server.script = [() => new Promise<CheckResult>((r) => (release = r))];
  h.sched.start();
  await h.clock.advance(0);
  assert.equal(h.clock.pending, 1, 'the watchdog');
  h.sched.stop();
  release(PASS);
  await h.clock.advance(100000);
  assert.equal(h.clock.pending, 0);
  assert.equal(h.results.length, 0);
  assert.equal(h.sched.running, false);
  h.sched.start(); // no restart after stop
  assert.equal(h.clock.pending, 0);
});

test('observe layer4 + on-error fastinter pulls the next check from inter to fastinter', async () => {
  const h = harness({ observeLayer4: true, errorLimit: 2, onError: 'fastinter' });
  h.sched.start();
  await h.clock.advance(0);
  assert.equal(h.sched.nextCheckAt, 5000);
  await h.clock.advance(1000);
  h.sched.observe(false);
  assert.equal(h.sched.nextCheckAt, 5000);
  const o = h.sched.observe(false);
  assert.equal(o.triggered, true);
  assert.equal(h.sched.nextCheckAt, 1500);
  await h.clock.advance(500);
  assert.deepEqual(h.server.calls, [0, 1500]);
  assert.equal(h.sched.nextCheckAt, 6500, 'back to inter once that check passed');
  h.sched.stop();
});

test('observe layer4 + on-error mark-down reports the transition', async () => {
  const h = harness({ observeLayer4: true, errorLimit: 1, onError: 'mark-down' });
  h.sched.start();
  await h.clock.advance(0);
  h.sched.observe(false, 'L4 unsuccessful connection');
  assert.equal(h.transitions.length, 1);
  assert.equal(h.transitions[0]!.cause, 'observe');
  assert.equal(h.transitions[0]!.result?.status, 'HANA');
  assert.equal(h.sched.label, 'DOWN');
  // HAProxy only ever brings the pending check forward: downinter (10000) is later than it
  assert.equal(h.sched.nextCheckAt, 5000);
  h.server.answer = REFUSED;
  await h.clock.advance(5000);
  assert.equal(h.sched.nextCheckAt, 15000, 'DOWN: downinter, and no immediate re-check while DOWN');
  h.sched.stop();
});

test('spread-checks jitters every interval within +/- N%', async () => {
  const seq = [0, 0.999, 0.5];
  const h = harness({}, { spreadChecks: 10, random: () => seq.shift() ?? 0.5 });
  h.sched.start();
  await h.clock.advance(0);
  assert.equal(h.sched.nextCheckAt, 5500); // random 0 -> +10%
  await h.clock.advance(5500);
  assert.equal(h.sched.nextCheckAt, 5500 + 4500 + 1); // random ~1 -> -10% (floor)
  h.sched.stop();
});

test('a throwing event handler is reported to onError and checks go on', async () => {
  const errors: unknown[] = [];
  const h = harness(
    {},
    {},
    {
      onResult: () => {
        throw new Error('handler bug');
      },
      onError: (e) => errors.push(e),
    },
  );
  h.sched.start();
  await h.clock.advance(0);
  await h.clock.advance(5000);
  assert.equal(errors.length, 2);
  assert.deepEqual(h.server.calls, [0, 5000]);
  h.sched.stop();
});

test('a handler may stop the scheduler from inside an event', async () => {
  const clock = new FakeClock();
  const s: CheckScheduler = new CheckScheduler({
    target: { host: '127.0.0.1', port: 1 },
    runner: async () => PASS,
    timeoutMs: 100,
    intervals: { inter: 1000, fastinter: 1000, downinter: 1000 },
    machine: new HealthMachine({ rise: 1, fall: 1 }),
    clock,
    initialDelayMs: 0,
    events: { onResult: () => s.stop() },
  });
  s.start();
  await clock.advance(0);
  assert.equal(clock.pending, 0);
});

test('checkTimeout follows HAProxy: inter, or min(connect, inter) + timeout check', () => {
  assert.equal(checkTimeout({ connect: 5000, check: null }, 2000), 2000);
  assert.equal(checkTimeout({ connect: 5000, check: 1000 }, 2000), 3000);
  assert.equal(checkTimeout({ connect: 500, check: 1000 }, 2000), 1500);
});

test('schedulerForServer wires a ServerConfig: check port/addr, intervals, rise/fall, disabled', async () => {
  const server: ServerConfig = {
    name: 'node1',
    host: '127.0.0.1',
    port: 5672,
    check: true,
    checkPort: 15672,
    checkAddr: null,
    inter: 2000,
    fastinter: 1000,
    downinter: 3000,
    rise: 2,
    fall: 3,
    weight: 1,
    backup: false,
    maxconn: 0,
    maxqueue: 0,
    disabled: false,
    slowstart: 0,
    shutdownSessionsOnDown: false,
    observeLayer4: false,
    errorLimit: 10,
    onError: 'fastinter',
    sendProxy: 0,
  };
  assert.deepEqual(checkTarget(server), { host: '127.0.0.1', port: 15672 });
  const clock = new FakeClock();
  const targets: Array<{ host: string; port: number; timeout: number }> = [];
  const s = schedulerForServer(server, {
    runner: async (t, timeout) => {
      targets.push({ ...t, timeout });
      return REFUSED;
    },
    timeouts: { connect: 5000, check: null },
    clock,
    initialDelayMs: 0,
  });
  assert.equal(s.label, 'UP 1/3');
  s.start();
  await clock.advance(0);
  assert.deepEqual(targets, [{ host: '127.0.0.1', port: 15672, timeout: 2000 }]);
  assert.equal(s.label, 'DOWN', 'HAProxy: the first failed check after start takes it DOWN');
  assert.equal(s.nextCheckAt, 3000, 'downinter');
  s.stop();
});
