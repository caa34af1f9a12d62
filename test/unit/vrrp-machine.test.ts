import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VrrpMachine,
  skewTimeMs,
  masterDownIntervalMs,
  compareAddresses,
  outranks,
  type Action,
  type AdvertInput,
  type MachineOptions,
  type NotifyState,
  type TransitionReason,
} from '../../src/vrrp/machine.js';

// ---- an in-memory network on a simulated time line ------------------------------------------
//
// Every node is a VrrpMachine. sendAdvert/sendStandby actions become datagrams delivered to every
// other running node `latency` ms later, unless the link is blocked. There are no timers: run()
// jumps from event to event (the next delivery or the earliest machine deadline).

interface Transition {
  t: number;
  node: string;
  state: NotifyState;
  reason: TransitionReason;
}

interface Node {
  name: string;
  m: VrrpMachine;
  running: boolean;
  actions: Array<{ t: number; action: Action }>;
}

interface Datagram {
  at: number;
  seq: number;
  from: string;
  to: string;
  advert: AdvertInput;
}

class Net {
  t = 0;
  latency: number;
  readonly nodes = new Map<string, Node>();
  readonly transitions: Transition[] = [];
  private queue: Datagram[] = [];
  private seq = 0;
  private readonly blocked = new Set<string>();

  constructor(latency = 1) {
    this.latency = latency;
  }

  add(name: string, opts: Partial<MachineOptions> & { address: string; priority: number }): Node {
    const node: Node = { name, m: new VrrpMachine({ advertIntervalMs: 1000, ...opts }), running: false, actions: [] };
    this.nodes.set(name, node);
    return node;
  }

  node(name: string): Node {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  start(...names: string[]): void {
    for (const name of names) {
      const n = this.node(name);
      n.running = true;
      this.apply(n, n.m.start(this.t));
    }
  }

  /** Graceful stop (SIGTERM): the machine's stop() runs, its priority-0 advert goes out. */
  stop(name: string): void {
    const n = this.node(name);
    this.apply(n, n.m.stop(this.t));
    n.running = false;
  }

  /** kill -9: the node vanishes, nothing more is sent or received. */
  crash(name: string): void {
    this.node(name).running = false;
  }

  /** kill -9 of the daemon on a live host: its kernel closes the liveness links at once. */
  processDied(name: string): void {
    this.crash(name);
    const address = this.node(name).m.address;
    for (const n of this.nodes.values()) if (n.running) this.apply(n, n.m.peerGone(this.t, address));
  }

  setPriority(name: string, p: number): void {
    const n = this.node(name);
    this.apply(n, n.m.setPriority(this.t, p));
  }

  setFault(name: string, on: boolean): void {
    const n = this.node(name);
    this.apply(n, n.m.setFault(this.t, on));
  }

  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }
  unblock(from: string, to: string): void {
    this.blocked.delete(`${from}>${to}`);
  }
  partition(a: string, b: string): void {
    this.block(a, b);
    this.block(b, a);
  }
  heal(a: string, b: string): void {
    this.unblock(a, b);
    this.unblock(b, a);
  }

  private apply(n: Node, actions: Action[]): void {
    for (const action of actions) {
      n.actions.push({ t: this.t, action });
      if (action.type === 'notify') this.transitions.push({ t: this.t, node: n.name, state: action.state, reason: action.reason });
      if (action.type !== 'sendAdvert' && action.type !== 'sendStandby') continue;
      const advert: AdvertInput = {
        type: action.type === 'sendAdvert' ? 'advert' : 'standby',
        address: n.m.address,
        priority: action.priority,
        intervalMs: n.m.advertIntervalMs,
      };
      for (const to of this.nodes.keys()) {
        if (to === n.name || this.blocked.has(`${n.name}>${to}`)) continue;
        this.queue.push({ at: this.t + this.latency, seq: this.seq++, from: n.name, to, advert });
      }
    }
  }

  /** Advance the time line to `until`, delivering datagrams and firing deadlines on the way. */
  run(until: number): void {
    for (;;) {
      let next = Infinity;
      for (const d of this.queue) next = Math.min(next, d.at);
      for (const n of this.nodes.values()) {
        const dl = n.running ? n.m.deadline : null;
        if (dl !== null) next = Math.min(next, dl);
      }
      if (next > until) break;
      this.t = Math.max(this.t, next);
      const due = this.queue.filter((d) => d.at <= this.t).sort((a, b) => a.seq - b.seq);
      this.queue = this.queue.filter((d) => d.at > this.t);
      for (const d of due) {
        const to = this.node(d.to);
        if (to.running) this.apply(to, to.m.receive(this.t, d.advert));
      }
      for (const n of this.nodes.values()) {
        const dl = n.running ? n.m.deadline : null;
        if (dl !== null && dl <= this.t) this.apply(n, n.m.tick(this.t));
      }
    }
    this.t = Math.max(this.t, until);
  }

  advance(ms: number): void {
    this.run(this.t + ms);
  }

  masters(): string[] {
    return [...this.nodes.values()].filter((n) => n.running && n.m.state === 'MASTER').map((n) => n.name);
  }

  /** First transition of `node` into `state` at or after `after`. */
  when(node: string, state: NotifyState, after = 0): Transition | undefined {
    return this.transitions.find((x) => x.node === node && x.state === state && x.t >= after);
  }

  /** Last time `to` received an ADVERT from `from` (to compute expected timer expiries). */
  lastAdvertSent(from: string, before = Infinity): number {
    const sent = this.node(from).actions.filter((a) => a.action.type === 'sendAdvert' && a.t < before);
    const last = sent[sent.length - 1];
    if (!last) throw new Error(`${from} never advertised`);
    return last.t;
  }
}

const A = { address: '198.51.100.11' };
const B = { address: '198.51.100.12' };
const C = { address: '198.51.100.13' };
const I = 1000; // advert interval in the tests, ms

/** Exactly one MASTER, at every advert boundary for `ms`. */
function assertStableSingleMaster(net: Net, expected: string, ms: number): void {
  for (let i = 0; i < ms / I; i++) {
    net.advance(I);
    assert.deepEqual(net.masters(), [expected], `at t=${net.t}`);
  }
}

// ---- formulas ---------------------------------------------------------------------------------

test('RFC 5798 timers: Skew_Time and Master_Down_Interval, in ms', () => {
  assert.equal(skewTimeMs(100, 1000), 609.375);
  assert.equal(masterDownIntervalMs(100, 1000), 3609.375);
  assert.equal(skewTimeMs(255, 1000), 1000 / 256);
  assert.equal(skewTimeMs(1, 100), (255 * 100) / 256);
  assert.equal(masterDownIntervalMs(90, 100), 300 + (166 * 100) / 256);
  const m = new VrrpMachine({ ...A, priority: 200, advertIntervalMs: 500 });
  assert.equal(m.skewTimeMs, (56 * 500) / 256);
  assert.equal(m.masterDownIntervalMs, 1500 + (56 * 500) / 256);
});

test('addresses compare as numbers, not strings', () => {
  assert.ok(compareAddresses('10.0.0.9', '10.0.0.10') < 0);
  assert.ok(compareAddresses('9.255.255.255', '10.0.0.0') < 0);
  assert.equal(compareAddresses('10.0.0.1', '10.0.0.1'), 0);
  assert.ok(outranks(100, '10.0.0.1', 99, '10.0.0.200'));
  assert.ok(outranks(100, '10.0.0.10', 100, '10.0.0.9'));
  assert.ok(!outranks(100, '10.0.0.9', 100, '10.0.0.10'));
});

test('options are validated', () => {
  assert.throws(() => new VrrpMachine({ address: 'x', priority: 100, advertIntervalMs: 1000 }), RangeError);
  assert.throws(() => new VrrpMachine({ ...A, priority: 0, advertIntervalMs: 1000 }), RangeError);
  assert.throws(() => new VrrpMachine({ ...A, priority: 256, advertIntervalMs: 1000 }), RangeError);
  assert.throws(() => new VrrpMachine({ ...A, priority: 100, advertIntervalMs: 0 }), RangeError);
  assert.throws(() => new VrrpMachine({ ...A, priority: 100, advertIntervalMs: 1000, preemptDelayMs: -1 }), RangeError);
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: 1000 });
  assert.throws(() => m.setPriority(0, 0), RangeError);
});

// ---- single machine: INIT and timers ----------------------------------------------------------

test('INIT → BACKUP: becomeBackup (drops a stale VIP), notify, standby; deadline Master_Down_Interval', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  assert.equal(m.state, 'INIT');
  assert.equal(m.deadline, null);
  assert.deepEqual(m.tick(1e9), []);
  assert.deepEqual(m.start(5000), [
    { type: 'becomeBackup' },
    { type: 'notify', state: 'BACKUP', previous: 'INIT', reason: 'startup', priority: 100 },
    { type: 'sendStandby', priority: 100 },
  ]);
  assert.equal(m.state, 'BACKUP');
  assert.equal(m.deadline, 5000 + I); // the next standby comes first
  assert.deepEqual(m.start(5001), [], 'start twice is a no-op');
});

test('RFC mode (fastFailover false): no standby adverts, plain RFC backup', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I, fastFailover: false });
  assert.deepEqual(
    m.start(0).map((a) => a.type),
    ['becomeBackup', 'notify'],
  );
  assert.equal(m.deadline, 3609.375);
});

test('alone: BACKUP becomes MASTER exactly at Master_Down_Interval, then advertises every interval', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.start('a');
  net.run(3609.374);
  assert.equal(net.node('a').m.state, 'BACKUP');
  net.run(3609.375);
  assert.equal(net.node('a').m.state, 'MASTER');
  assert.deepEqual(net.when('a', 'MASTER'), { t: 3609.375, node: 'a', state: 'MASTER', reason: 'master-down' });
  const acts = net.node('a').actions.filter((x) => x.t === 3609.375).map((x) => x.action.type);
  assert.deepEqual(acts, ['sendAdvert', 'becomeMaster', 'notify'], 'RFC order: advert, then GARP/VIP');
  net.run(3609.375 + 3 * I);
  const adverts = net.node('a').actions.filter((x) => x.action.type === 'sendAdvert').map((x) => x.t);
  assert.deepEqual(adverts, [3609.375, 4609.375, 5609.375, 6609.375]);
});

test('priority 255 (address owner): MASTER at once; with nopreempt a normal BACKUP', () => {
  const owner = new VrrpMachine({ ...A, priority: 255, advertIntervalMs: I });
  assert.deepEqual(
    owner.start(0).map((a) => a.type),
    ['sendAdvert', 'becomeMaster', 'notify'],
  );
  assert.equal(owner.state, 'MASTER');
  assert.equal(owner.deadline, I);
  const shy = new VrrpMachine({ ...A, priority: 255, advertIntervalMs: I, preempt: false });
  shy.start(0);
  assert.equal(shy.state, 'BACKUP');
});

test('keepalived `state MASTER` hint: starts BACKUP, first timer = interval + Skew_Time(255)', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, initialState: 'MASTER' });
  net.start('a');
  assert.equal(net.node('a').m.state, 'BACKUP');
  net.run(2000);
  assert.equal(net.when('a', 'MASTER')?.t, I + I / 256);
});

test('`state MASTER` hint with a better master already running: stays BACKUP', () => {
  const net = new Net();
  net.add('b', { ...B, priority: 150 });
  net.add('a', { ...A, priority: 100, initialState: 'MASTER' });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.run(30_000);
  assert.deepEqual(net.masters(), ['b']);
  assert.equal(net.when('a', 'MASTER'), undefined);
});

// ---- elections ------------------------------------------------------------------------------

for (const fastFailover of [true, false]) {
  const mode = fastFailover ? 'fast' : 'RFC';

  test(`[${mode}] two nodes started together converge on the higher priority`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('a', 'b');
    net.run(3609.375);
    assert.deepEqual(net.masters(), ['a']);
    assertStableSingleMaster(net, 'a', 20_000);
    assert.equal(net.node('b').m.state, 'BACKUP');
    assert.equal(net.when('b', 'MASTER'), undefined, 'b never became master: its timer is longer');
  });

  test(`[${mode}] three nodes: exactly one MASTER, whatever the start order`, () => {
    for (const order of [
      ['a', 'b', 'c'],
      ['c', 'b', 'a'],
      ['b', 'c', 'a'],
    ]) {
      const net = new Net();
      net.add('a', { ...A, priority: 100, fastFailover });
      net.add('b', { ...B, priority: 150, fastFailover });
      net.add('c', { ...C, priority: 50, fastFailover });
      for (const name of order) {
        net.start(name);
        net.advance(5000); // each one has become master alone before the next arrives
      }
      net.advance(10_000);
      assert.deepEqual(net.masters(), ['b'], order.join());
      assertStableSingleMaster(net, 'b', 10_000);
    }
  });

  test(`[${mode}] equal priorities: the higher primary address wins`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 100, fastFailover });
    net.start('a', 'b');
    // Same priority, same timer: both become master at once, then the lower address steps down.
    net.run(3609.375);
    assert.deepEqual(net.masters().sort(), ['a', 'b']);
    net.advance(10);
    assert.deepEqual(net.masters(), ['b']);
    assert.equal(net.when('a', 'BACKUP', 3609.375)?.reason, 'higher-priority');
    assertStableSingleMaster(net, 'b', 10_000);
  });

  test(`[${mode}] failover: master crash → backup MASTER exactly Master_Down_Interval after the last advert`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('a', 'b');
    net.run(10_000);
    net.crash('a');
    const lastHeard = net.lastAdvertSent('a') + net.latency;
    net.run(20_000);
    assert.deepEqual(net.masters(), ['b']);
    const took = net.when('b', 'MASTER');
    assert.equal(took?.t, lastHeard + masterDownIntervalMs(90, I));
    assert.equal(took?.reason, 'master-down');
  });

  test(`[${mode}] split brain: adverts blocked both ways → both MASTER; healed → one MASTER within one interval`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('a', 'b');
    net.run(10_000);
    net.partition('a', 'b');
    net.advance(10_000);
    assert.deepEqual(net.masters().sort(), ['a', 'b'], 'VRRP must give both sides a master');
    const healedAt = net.t + 123; // somewhere between two adverts
    net.run(healedAt);
    net.heal('a', 'b');
    net.run(healedAt + I);
    assert.deepEqual(net.masters(), ['a']);
    const down = net.when('b', 'BACKUP', healedAt);
    assert.ok(down && down.t <= healedAt + I, `b stepped down at ${down?.t}`);
    assert.equal(down?.reason, 'higher-priority');
    // b's VIP went away; a re-claimed the clients' ARP caches: in RFC mode only if it heard b
    // before b heard it, with fastFailover always (b's last advert before stepping down).
    assert.ok(net.node('b').actions.some((x) => x.t === down!.t && x.action.type === 'becomeBackup'));
    if (fastFailover) {
      assert.ok(net.node('b').actions.some((x) => x.t === down!.t && x.action.type === 'sendAdvert' && x.action.priority === 90));
      assert.ok(net.node('a').actions.some((x) => x.t >= healedAt && x.action.type === 'refreshGarp'), 'a refreshed the ARP caches');
    }
    assertStableSingleMaster(net, 'a', 10_000);
  });

  test(`[${mode}] nopreempt: a higher-priority node joining stays BACKUP; takes over only when the master dies`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover, preempt: false });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('b');
    net.run(10_000);
    net.start('a');
    net.advance(30_000);
    assert.deepEqual(net.masters(), ['b']);
    assert.equal(net.when('a', 'MASTER'), undefined);
    net.crash('b');
    net.advance(5_000);
    assert.deepEqual(net.masters(), ['a']);
  });

  test(`[${mode}] graceful stop: priority 0 sent, the backup does not wait Master_Down_Interval`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('a', 'b');
    net.run(10_000);
    const stopAt = 10_400;
    net.run(stopAt);
    net.stop('a');
    const stopActs = net.node('a').actions.filter((x) => x.t === stopAt).map((x) => x.action);
    assert.deepEqual(stopActs, [
      { type: 'sendAdvert', priority: 0 },
      { type: 'becomeStopped' },
      { type: 'notify', state: 'STOP', previous: 'MASTER', reason: 'shutdown', priority: 100 },
    ]);
    net.advance(5000);
    const took = net.when('b', 'MASTER');
    assert.equal(took?.reason, 'master-resigned');
    // RFC: after Skew_Time. Fast: at once, b knows it is the only candidate left.
    const expected = stopAt + net.latency + (fastFailover ? 0 : skewTimeMs(90, I));
    assert.equal(took?.t, expected);
  });
}

test('[RFC] graceful takeover after exactly Skew_Time; with three nodes the best backup wins', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 200, fastFailover: false });
  net.add('b', { ...B, priority: 150, fastFailover: false });
  net.add('c', { ...C, priority: 100, fastFailover: false });
  net.start('a', 'b', 'c');
  net.run(10_000);
  net.stop('a');
  net.advance(5000);
  assert.equal(net.when('b', 'MASTER')?.t, 10_000 + 1 + skewTimeMs(150, I));
  assert.equal(net.when('c', 'MASTER'), undefined, 'c heard b before its longer skew ran out');
  assert.deepEqual(net.masters(), ['b']);
});

test('[fast] graceful stop with three nodes: the best backup takes over at once, the other waits', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 200 });
  net.add('b', { ...B, priority: 150 });
  net.add('c', { ...C, priority: 100 });
  net.start('a', 'b', 'c');
  net.run(10_000);
  net.stop('a');
  net.advance(5000);
  assert.equal(net.when('b', 'MASTER')?.t, 10_001);
  assert.equal(net.when('c', 'MASTER'), undefined);
  assertStableSingleMaster(net, 'b', 5000);
});

test('[fast] graceful stop when a backup\'s view of the others is stale: brief double master, settled on the first exchange', () => {
  // The cost of taking over at once on priority 0: c missed b's STANDBY adverts, so both b and
  // c believe they are the best candidate. Both take over; the first advert each hears from the
  // other settles it (c steps down, b re-sends GARP). Never worse than two adverts' latency.
  const net = new Net();
  net.add('a', { ...A, priority: 200 });
  net.add('b', { ...B, priority: 150 });
  net.add('c', { ...C, priority: 100 });
  net.start('a', 'b', 'c');
  net.run(10_000);
  net.block('b', 'c');
  net.run(15_000.5); // c last heard b at 10 001: stale after Master_Down_Interval
  net.unblock('b', 'c');
  net.stop('a');
  net.advance(1);
  assert.deepEqual(net.masters().sort(), ['b', 'c']);
  assert.equal(net.when('c', 'MASTER')?.t, 15_001.5);
  net.advance(1);
  assert.deepEqual(net.masters(), ['b']);
  assert.equal(net.when('c', 'BACKUP', 15_001.5)?.t, 15_002.5);
  assert.ok(net.node('b').actions.some((x) => x.t === 15_002.5 && x.action.type === 'refreshGarp'));
  assertStableSingleMaster(net, 'b', 5000);
});

// ---- preemption -------------------------------------------------------------------------------

test('[RFC] preemption: a higher-priority node joining takes over after Master_Down_Interval', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, fastFailover: false });
  net.add('b', { ...B, priority: 90, fastFailover: false });
  net.start('b');
  net.run(10_000);
  net.start('a');
  const joined = net.t;
  net.advance(10_000);
  assert.deepEqual(net.masters(), ['a']);
  // a discards b's lower adverts: its startup timer simply runs out.
  assert.equal(net.when('a', 'MASTER')?.t, joined + masterDownIntervalMs(100, I));
  assert.equal(net.when('b', 'BACKUP', joined)?.t, joined + masterDownIntervalMs(100, I) + 1);
});

test('[fast] preemption: a higher-priority node takes over on the first lower advert it hears', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('b');
  net.run(10_000);
  const bAdverts = net.lastAdvertSent('b');
  net.run(bAdverts + 300);
  net.start('a');
  net.advance(5000);
  const took = net.when('a', 'MASTER');
  assert.equal(took?.t, bAdverts + I + 1, 'at the first advert from b after joining');
  assert.equal(took?.reason, 'preempt');
  assert.ok(took!.t - bAdverts - 300 <= I);
  assert.deepEqual(net.masters(), ['a']);
});

test('[fast] preempt_delay: the lower master is followed until the delay has elapsed, then preempted', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, preemptDelayMs: 7000 });
  net.add('b', { ...B, priority: 90 });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(5000);
  const firstLower = net.node('a').m.snapshot().preemptAllowedAt! - 7000;
  assert.ok(firstLower > 10_000 && firstLower <= 11_001);
  assert.deepEqual(net.masters(), ['b']);
  net.advance(10_000);
  assert.equal(net.when('a', 'MASTER')?.t, firstLower + 7000);
  assert.equal(net.when('a', 'MASTER')?.reason, 'preempt');
  assert.deepEqual(net.masters(), ['a']);
});

test('[RFC] preempt_delay: preemption waits the delay, then the usual Master_Down_Interval', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, preemptDelayMs: 7000, fastFailover: false });
  net.add('b', { ...B, priority: 90, fastFailover: false });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(5000);
  const allowedAt = net.node('a').m.snapshot().preemptAllowedAt!;
  assert.ok(allowedAt > 17_000 && allowedAt <= 18_001, String(allowedAt));
  assert.deepEqual(net.masters(), ['b']);
  net.advance(30_000);
  // From allowedAt on, b's lower adverts are discarded: the timer restarted by the last one
  // accepted (the one just before allowedAt) runs out.
  const lastAccepted = net.lastAdvertSent('b', allowedAt - 1) + 1;
  assert.equal(lastAccepted, allowedAt - I);
  assert.equal(net.when('a', 'MASTER')?.t, lastAccepted + masterDownIntervalMs(100, I));
  assert.deepEqual(net.masters(), ['a']);
});

test('[fast] preempt_delay restarts after hearing a better master', () => {
  const net = new Net();
  // a does not announce itself: otherwise b, knowing a is better, would resign at its drop.
  net.add('a', { ...A, priority: 100, preemptDelayMs: 5000, announceStandby: false });
  net.add('b', { ...B, priority: 90 });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(3000); // window running
  assert.ok(net.node('a').m.snapshot().preemptAllowedAt !== null);
  net.setPriority('b', 120); // b is better now: a's window is reset
  net.advance(2);
  assert.equal(net.node('a').m.snapshot().preemptAllowedAt, null);
  net.setPriority('b', 90);
  const dropped = net.t;
  net.advance(20_000);
  const took = net.when('a', 'MASTER')!;
  assert.equal(took.t, dropped + 1 + 5000, 'a full new delay from the first lower advert');
});

test('[fast] a BACKUP whose own priority rises above the master takes over at once', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('a', 'b');
  net.run(10_000);
  net.advance(250);
  net.setPriority('b', 110);
  assert.equal(net.when('b', 'MASTER')?.t, net.t);
  net.advance(2);
  assert.deepEqual(net.masters(), ['b']);
});

test('[RFC] a BACKUP whose priority rises: timer pulled in by the Skew_Time difference only', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I, fastFailover: false });
  m.start(0);
  assert.equal(m.deadline, masterDownIntervalMs(100, I));
  m.setPriority(0, 200);
  assert.equal(m.deadline, masterDownIntervalMs(200, I));
  m.setPriority(0, 150); // lowering does not push it out (keepalived)
  assert.equal(m.deadline, masterDownIntervalMs(200, I));
});

// ---- priority drops (tracker failures) ----------------------------------------------------------

test('[fast] MASTER priority drops below the best peer: resigns at once, the peer takes over at once', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('a', 'b');
  net.run(10_000);
  net.advance(400);
  const failedAt = net.t;
  net.setPriority('a', 80); // chk_haproxy failed, weight -20
  const acts = net.node('a').actions.filter((x) => x.t === failedAt).map((x) => x.action);
  assert.deepEqual(acts.slice(0, 3), [
    { type: 'sendAdvert', priority: 0 },
    { type: 'becomeBackup' },
    { type: 'notify', state: 'BACKUP', previous: 'MASTER', reason: 'priority-drop', priority: 80 },
  ]);
  net.advance(5000);
  assert.equal(net.when('b', 'MASTER')?.t, failedAt + 1);
  assert.deepEqual(net.masters(), ['b']);
  assertStableSingleMaster(net, 'b', 5000);
});

test('[fast] MASTER priority drops but stays the best: advertised at once, stays MASTER', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('a', 'b');
  net.run(10_000);
  net.advance(400);
  net.setPriority('a', 95);
  assert.deepEqual(
    net.node('a').actions.filter((x) => x.t === net.t).map((x) => x.action),
    [{ type: 'sendAdvert', priority: 95 }],
  );
  assertStableSingleMaster(net, 'a', 5000);
});

test('[fast] priority drop with a nopreempt backup: the master still hands over at once', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90, preempt: false });
  net.start('a', 'b');
  net.run(10_000);
  net.setPriority('a', 80);
  net.advance(5);
  assert.deepEqual(net.masters(), ['b']);
});

test('[fast] priority drop without standby adverts: the advert at once lets a preempting backup take over', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, announceStandby: false });
  net.add('b', { ...B, priority: 90, announceStandby: false });
  net.start('a', 'b');
  net.run(10_000);
  net.advance(400);
  const failedAt = net.t;
  net.setPriority('a', 80);
  net.advance(10);
  assert.deepEqual(net.masters(), ['b']);
  assert.equal(net.when('b', 'MASTER')?.t, failedAt + 1);
  assert.equal(net.when('a', 'BACKUP', failedAt)?.t, failedAt + 2);
});

test('[RFC] MASTER priority drops: the backup takes over Master_Down_Interval after the last better advert (keepalived timing)', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, fastFailover: false });
  net.add('b', { ...B, priority: 90, fastFailover: false });
  net.start('a', 'b');
  net.run(10_000);
  net.advance(400);
  const failedAt = net.t;
  const lastGood = net.lastAdvertSent('a') + 1;
  net.setPriority('a', 80);
  net.advance(10_000);
  assert.equal(net.when('b', 'MASTER')?.t, lastGood + masterDownIntervalMs(90, I));
  assert.ok(net.when('b', 'MASTER')!.t - failedAt > 2 * I);
  assert.deepEqual(net.masters(), ['b']);
});

// ---- fault ----------------------------------------------------------------------------------

test('fault: MASTER resigns (priority 0) into FAULT, backup takes over; cleared → BACKUP, then preempts back', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('a', 'b');
  net.run(10_000);
  net.setFault('a', true);
  assert.deepEqual(
    net.node('a').actions.filter((x) => x.t === net.t).map((x) => x.action),
    [
      { type: 'sendAdvert', priority: 0 },
      { type: 'becomeFault' },
      { type: 'notify', state: 'FAULT', previous: 'MASTER', reason: 'fault', priority: 100 },
    ],
  );
  assert.equal(net.node('a').m.deadline, null, 'no timers in FAULT');
  net.advance(5000);
  assert.deepEqual(net.masters(), ['b']);
  assert.equal(net.node('a').m.state, 'FAULT', 'adverts do not move a FAULT instance');
  net.setFault('a', false);
  assert.equal(net.node('a').m.state, 'BACKUP');
  assert.equal(net.when('a', 'BACKUP', net.t)?.reason, 'fault-cleared');
  net.advance(I + 1);
  assert.deepEqual(net.masters(), ['a'], 'preempted back at the first advert from b');
});

test('fault: BACKUP → FAULT → BACKUP; fault before start → FAULT at start; setFault is idempotent', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  assert.deepEqual(
    m.setFault(10, true).map((a) => a.type),
    ['becomeFault', 'notify'],
  );
  assert.deepEqual(m.setFault(11, true), []);
  assert.deepEqual(m.receive(12, { type: 'advert', address: B.address, priority: 50, intervalMs: I }), []);
  assert.equal(m.state, 'FAULT');
  m.setFault(20, false);
  assert.equal(m.state, 'BACKUP');
  assert.equal(m.snapshot().peers.length, 1, 'peers heard in FAULT are still remembered');

  const f = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  f.setFault(0, true);
  assert.equal(f.state, 'INIT');
  assert.deepEqual(
    f.start(0).map((a) => a.type),
    ['becomeFault', 'notify'],
  );
  assert.equal(f.state, 'FAULT');
});

test('fault cleared on an address owner: straight back to MASTER', () => {
  const m = new VrrpMachine({ ...A, priority: 255, advertIntervalMs: I });
  m.start(0);
  m.setFault(1, true);
  assert.equal(m.state, 'FAULT');
  assert.deepEqual(
    m.setFault(2, false).map((a) => a.type),
    ['sendAdvert', 'becomeMaster', 'notify'],
  );
});

// ---- MASTER details --------------------------------------------------------------------------

test('MASTER hearing priority 0 from another master advertises at once', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  m.tick(m.masterDownIntervalMs);
  assert.equal(m.state, 'MASTER');
  const now = 5000.5;
  assert.deepEqual(m.receive(now, { type: 'advert', address: B.address, priority: 0, intervalMs: I }), [{ type: 'sendAdvert', priority: 100 }]);
  assert.equal(m.deadline, now + I);
});

test('MASTER hearing a lower master: advertises at once and refreshes GARP', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  m.tick(m.masterDownIntervalMs);
  assert.deepEqual(m.receive(5000, { type: 'advert', address: B.address, priority: 90, intervalMs: I }), [
    { type: 'sendAdvert', priority: 100 },
    { type: 'refreshGarp' },
  ]);
  assert.equal(m.state, 'MASTER');
  // STANDBY adverts never move a master.
  assert.deepEqual(m.receive(5001, { type: 'standby', address: B.address, priority: 200, intervalMs: I }), []);
  assert.equal(m.state, 'MASTER');
});

test('BACKUP learns the master\'s advert interval (Master_Adver_Interval)', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: 1000 });
  m.start(0);
  m.receive(10, { type: 'advert', address: B.address, priority: 200, intervalMs: 100 });
  assert.equal(m.snapshot().masterAdverIntervalMs, 100);
  assert.equal(m.masterDownIntervalMs, masterDownIntervalMs(100, 100));
  assert.equal(m.snapshot().master?.address, B.address);
  // Standby adverts come every own interval; the next deadline is the down timer now.
  assert.equal(m.deadline, 10 + masterDownIntervalMs(100, 100));
});

test('BACKUP receiving priority 0 (RFC mode): timer set to Skew_Time', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I, fastFailover: false });
  m.start(0);
  m.receive(100, { type: 'advert', address: B.address, priority: 200, intervalMs: I });
  assert.deepEqual(m.receive(500, { type: 'advert', address: B.address, priority: 0, intervalMs: I }), []);
  assert.equal(m.deadline, 500 + skewTimeMs(100, I));
  const acts = m.tick(500 + skewTimeMs(100, I));
  assert.equal(m.state, 'MASTER');
  assert.deepEqual(acts[2], { type: 'notify', state: 'MASTER', previous: 'BACKUP', reason: 'master-resigned', priority: 100 });
});

test('our own adverts looped back are ignored; invalid adverts are ignored', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  assert.deepEqual(m.receive(1, { type: 'advert', address: A.address, priority: 200, intervalMs: I }), []);
  assert.deepEqual(m.receive(1, { type: 'advert', address: B.address, priority: 300, intervalMs: I }), []);
  assert.deepEqual(m.receive(1, { type: 'advert', address: B.address, priority: 200, intervalMs: 0 }), []);
  assert.equal(m.snapshot().peers.length, 0);
  assert.equal(m.snapshot().master, null);
});

test('stop from BACKUP: no advert; stop twice is a no-op; restart works', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  assert.deepEqual(m.stop(5), [
    { type: 'becomeStopped' },
    { type: 'notify', state: 'STOP', previous: 'BACKUP', reason: 'shutdown', priority: 100 },
  ]);
  assert.equal(m.state, 'INIT');
  assert.equal(m.deadline, null);
  assert.deepEqual(m.stop(6), []);
  assert.deepEqual(m.receive(7, { type: 'advert', address: B.address, priority: 50, intervalMs: I }), []);
  m.start(10);
  assert.equal(m.state, 'BACKUP');
});

test('tick before the deadline does nothing; a late tick fires once and reschedules from now', () => {
  const m = new VrrpMachine({ ...A, priority: 255, advertIntervalMs: I });
  m.start(0);
  assert.deepEqual(m.tick(999), []);
  assert.deepEqual(m.tick(3500), [{ type: 'sendAdvert', priority: 255 }], 'no burst after a stall');
  assert.equal(m.deadline, 4500);
});

test('peer table is bounded', () => {
  const m = new VrrpMachine({ ...A, priority: 100, advertIntervalMs: I });
  m.start(0);
  for (let i = 0; i < 200; i++) m.receive(i, { type: 'standby', address: `10.0.${i >> 8}.${i & 255}`, priority: 10, intervalMs: I });
  assert.equal(m.snapshot().peers.length, 64);
  assert.equal(m.snapshot().peers.at(-1)?.address, '10.0.0.199');
});

for (const fastFailover of [true, false]) {
  const mode = fastFailover ? 'fast' : 'rfc';
  test(`[${mode}] the master's daemon dies on a live host (liveness link closed): handled as priority 0`, () => {
    const net = new Net();
    net.add('a', { ...A, priority: 100, fastFailover });
    net.add('b', { ...B, priority: 90, fastFailover });
    net.start('a', 'b');
    net.run(10_400);
    net.processDied('a');
    net.advance(5000);
    const took = net.when('b', 'MASTER');
    assert.equal(took?.reason, 'master-gone');
    assert.equal(took?.t, 10_400 + (fastFailover ? 0 : skewTimeMs(90, I)));
  });
}

test('peerGone of a peer that is not our master changes nothing; a MASTER ignores it', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.add('c', { address: '198.51.100.13', priority: 80 });
  net.start('a', 'b', 'c');
  net.run(10_400);
  assert.deepEqual(net.node('c').m.peerGone(net.t, B.address), []);
  assert.deepEqual(net.node('a').m.peerGone(net.t, B.address), []);
  net.advance(5000);
  assert.deepEqual(net.masters(), ['a']);
  assert.equal(net.node('c').m.state, 'BACKUP');
});

// ---- run-time changes of nopreempt / preempt_delay (a reload) --------------------------------

test('[fast] setPreempt(true) at run time: a nopreempt BACKUP following a lower master takes over at once', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, preempt: false });
  net.add('b', { ...B, priority: 90 });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(5000);
  assert.deepEqual(net.masters(), ['b']);
  const n = net.node('a');
  const acts = n.m.setPreempt(net.t, true);
  assert.equal(n.m.preempt, true);
  assert.deepEqual(
    acts.map((x) => x.type),
    ['sendAdvert', 'becomeMaster', 'notify'],
  );
  const notify = acts.find((x) => x.type === 'notify');
  assert.equal(notify?.type === 'notify' && notify.reason, 'preempt');
});

test('[RFC] setPreempt(true) at run time: the next lower advert is discarded, the down timer runs out', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, preempt: false, fastFailover: false });
  net.add('b', { ...B, priority: 90, fastFailover: false });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(5000);
  const at = net.t;
  assert.deepEqual(net.node('a').m.setPreempt(at, true), []);
  net.advance(10_000);
  const took = net.when('a', 'MASTER', at)!;
  assert.ok(took.t - at <= masterDownIntervalMs(100, I) + I, `took over after ${took.t - at} ms`);
  assert.deepEqual(net.masters(), ['a']);
});

test('setPreempt(false) at run time cancels a running preempt_delay: the lower master keeps the role', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100, preemptDelayMs: 5000 });
  net.add('b', { ...B, priority: 90 });
  net.start('b');
  net.run(10_000);
  net.start('a');
  net.advance(2000);
  assert.ok(net.node('a').m.snapshot().preemptAllowedAt !== null);
  assert.deepEqual(net.node('a').m.setPreempt(net.t, false), []);
  assert.equal(net.node('a').m.snapshot().preemptAllowedAt, null);
  net.advance(30_000);
  assert.deepEqual(net.masters(), ['b']);
  assert.equal(net.when('a', 'MASTER'), undefined);
});

test('setPreempt / setPreemptDelay with the current value, or on a MASTER, do nothing', () => {
  const net = new Net();
  net.add('a', { ...A, priority: 100 });
  net.add('b', { ...B, priority: 90 });
  net.start('a', 'b');
  net.run(10_000);
  const a = net.node('a').m;
  const b = net.node('b').m;
  assert.deepEqual(a.setPreempt(net.t, true), []);
  assert.deepEqual(a.setPreemptDelay(net.t, 0), []);
  assert.deepEqual(a.setPreempt(net.t, false), []);
  assert.deepEqual(a.setPreemptDelay(net.t, 3000), []);
  assert.equal(a.preempt, false);
  assert.equal(a.preemptDelayMs, 3000);
  // b follows a higher master: nothing to preempt.
  assert.deepEqual(b.setPreemptDelay(net.t, 1000), []);
  assert.deepEqual(b.setPreempt(net.t, false), []);
  assert.deepEqual(b.setPreempt(net.t, true), []);
  assertStableSingleMaster(net, 'a', 5000);
  assert.throws(() => a.setPreemptDelay(net.t, -1), RangeError);
});

test('[fast] setPreemptDelay at run time: a running window keeps its start and gets the new length', () => {
  for (const [newDelay, expectAt] of [
    [1000, 'now'], // already over: preempt at once
    [10_000, 'later'], // longer: preempt at start + 10 s
  ] as const) {
    const net = new Net();
    net.add('a', { ...A, priority: 100, preemptDelayMs: 5000 });
    net.add('b', { ...B, priority: 90 });
    net.start('b');
    net.run(10_000);
    net.start('a');
    net.advance(3000);
    const started = net.node('a').m.snapshot().preemptAllowedAt! - 5000;
    const at = net.t;
    const acts = net.node('a').m.setPreemptDelay(at, newDelay);
    if (expectAt === 'now') {
      assert.ok(acts.some((x) => x.type === 'becomeMaster'), 'took over at once');
    } else {
      assert.deepEqual(acts, []);
      assert.equal(net.node('a').m.snapshot().preemptAllowedAt, started + newDelay);
      net.advance(20_000);
      assert.equal(net.when('a', 'MASTER')?.t, started + newDelay);
      assert.deepEqual(net.masters(), ['a']);
    }
  }
});
