// Property-based fuzzing of the VRRP receive path with REAL UDP on 127.0.0.1, issue 7: a real
// in-process `warren vrrp` daemon (VrrpDaemon: transport → dispatch by vrid → Instance.receive →
// decodeAdvert → counters → pure machine) gets bad datagrams — arbitrary bytes, truncated,
// extended or bit-flipped valid adverts, adverts signed with another secret, for another vrid,
// and replays. Each one increments exactly one drop counter (an instance's dropped[reason] or
// the daemon's unknown_vrid) and changes nothing else: no advert counted, same state, same
// master, same peers. A valid advert at the start shows that the same observation does see a
// change. The decoder's own properties: test/unit/fuzz-advert.test.ts.
//
// The instance is a BACKUP on `lo` whose master advertises every 60 s, so no timer fires during
// the test (a timeout would be a state change not caused by a datagram), and it never becomes
// MASTER (its VIP, in the lab range 198.51.100.0/24, is never added). Its own adverts go to the
// multicast group on `lo` (its address there is 127.0.0.1): nothing leaves this machine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { createLogger } from '../../src/lib/log.js';
import { VrrpDaemon } from '../../src/vrrp/daemon.js';
import { encodeAdvert, MAX_ADVERT_LEN, type AdvertFields } from '../../src/vrrp/advert.js';
import { deadPort } from '../harness/proxy.js';
import { fuzzAsync, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

const KEY = 'fuzz-shared-secret-0123456789abcdef';
const VRID = 51;
/** The master the instance follows (a loopback address: nothing leaves this machine). */
const MASTER = '127.0.0.3';
const BUDGET: FuzzBudget = { runs: 3000, timeMs: 4000 };

let daemon: VrrpDaemon;
let port: number;
let sender: dgram.Socket;

before(async () => {
  // A port free for TCP (the liveness listener) is very likely free for UDP too.
  port = await deadPort();
  const config = loadVrrpConfigText(
    `global_defs:
  router_id: fuzz
  vrrp_port: ${port}
  status_listen: none
vrrp_instance:
  VI_1:
    state: BACKUP
    interface: lo
    dont_track_primary: true
    virtual_router_id: ${VRID}
    priority: 50
    advert_int: 60
    virtual_ipaddress: [198.51.100.250/32]
    authentication: {auth_type: HMAC-SHA256, auth_pass: ${KEY}}
`,
    'fuzz-vrrp.yaml',
  );
  daemon = new VrrpDaemon(config, createLogger('vrrp', new Writable({ write: (_c, _e, cb) => cb() })));
  await daemon.start();
  sender = dgram.createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
});

after(async () => {
  sender?.close();
  await daemon?.stop();
});

const instance = () => daemon.status().instances[0]!;
const dropsTotal = (): number => Object.values(instance().counters.dropped).reduce((a, b) => a + (b ?? 0), 0) + daemon.status().transport.unknown_vrid;
/** Everything a datagram could change, without the clocks (last_seen, since). */
function observable(): unknown {
  const i = instance();
  return {
    state: i.state,
    master: i.master,
    effective: i.effective_priority,
    fault: i.fault,
    vipsHeld: i.vips_held,
    masterDown: i.master_down_interval_ms,
    peers: i.peers.map((p) => ({ address: p.address, state: p.state, priority: p.priority, advertInt: p.advert_int_ms })),
    received: [i.counters.advertsReceived, i.counters.standbysReceived, i.counters.becameMaster],
  };
}

/** Sends one datagram and waits until the daemon's socket has taken it. */
async function deliver(buf: Buffer): Promise<void> {
  const before = daemon.status().transport.received;
  await new Promise<void>((resolve, reject) => sender.send(buf, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  const deadline = Date.now() + 2000;
  while (daemon.status().transport.received === before) {
    if (Date.now() > deadline) assert.fail('the daemon did not receive the datagram within 2 s');
    await sleep(1);
  }
}

let seq = 1_000_000n;
const fields = (over: Partial<AdvertFields> = {}): AdvertFields => ({ type: 'advert', vrid: VRID, priority: 200, intervalCs: 6000, address: MASTER, seq: seq++, vips: ['198.51.100.250'], ...over });

test('bad datagrams: each counted as one drop, and no state change', { timeout: testTimeout(BUDGET.timeMs) }, async () => {
  // Control: an authentic advert from a better master is followed — the observation sees it.
  const genuine = encodeAdvert(fields(), KEY);
  const start = observable();
  await deliver(genuine);
  assert.notDeepEqual(observable(), start, 'a valid advert changed nothing: the observation is blind');
  assert.equal(instance().master, MASTER);
  assert.equal(instance().state, 'BACKUP');

  const valid = fc.constant(null).map(() => encodeAdvert(fields(), KEY)); // fresh sequence: valid until damaged
  const bad = fc.oneof(
    fc.uint8Array({ maxLength: MAX_ADVERT_LEN + 100 }).map((b) => Buffer.from(b)),
    // Arbitrary bytes behind our magic and vrid: they reach the instance, not only the dispatcher.
    fc.uint8Array({ maxLength: MAX_ADVERT_LEN }).map((b) => Buffer.concat([Buffer.from('WRRN\u0001\u0001', 'latin1'), Buffer.from([VRID]), b])),
    fc.tuple(valid, fc.nat()).map(([v, n]) => v.subarray(0, n % v.length)),
    fc.tuple(valid, fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([v, t]) => Buffer.concat([v, t])),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([v, at, mask]) => {
      const b = Buffer.from(v);
      b[at % b.length]! ^= mask;
      return b;
    }),
    fc.string({ minLength: 1, maxLength: 40 }).map((k) => encodeAdvert(fields({ priority: 255 }), `${k}-not-${KEY}`)),
    fc.integer({ min: 1, max: 255 }).filter((v) => v !== VRID).map((vrid) => encodeAdvert(fields({ vrid }), KEY)),
    fc.constant(genuine), // replayed
    fc.constant(null).map(() => encodeAdvert(fields({ seq: 5n }), KEY)), // an old sequence: replayed too
  );

  await fuzzAsync(
    'vrrp receive: bad datagrams are dropped, counted, inert',
    fc.asyncProperty(bad, async (datagram) => {
      const seen = observable();
      const drops = dropsTotal();
      await deliver(datagram);
      assert.equal(dropsTotal(), drops + 1, 'not counted as exactly one drop');
      assert.deepEqual(observable(), seen, 'a dropped datagram changed the instance');
    }),
    BUDGET,
  );
  // Every reason the fuzzing produced is a documented one, and the run reached the instance.
  const dropped = instance().counters.dropped;
  console.log(`vrrp receive fuzz: drops ${JSON.stringify(dropped)}, unknown vrid ${daemon.status().transport.unknown_vrid}`);
  assert.ok((dropped['replayed'] ?? 0) > 0 && (dropped['bad-auth'] ?? 0) > 0, 'replays and forgeries reached the instance');
  assert.equal(instance().state, 'BACKUP');
});
