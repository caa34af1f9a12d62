// The serialised VIP operations of one instance (src/vrrp/instance.ts) through a flap
// MASTER → BACKUP → MASTER, with the VIP driver, the proxy link, the transport and the notifier
// replaced by recorders (the machine, the advert codec and the operation queue are the real ones).
// Seen in the chaos run: the release of the BACKUP step asked the (busy) proxy to let the VIP go,
// the instance became MASTER again meanwhile, and the release then removed the VIP anyway.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { createLogger } from '../../src/lib/log.js';
import { encodeAdvert, SequenceGenerator } from '../../src/vrrp/advert.js';
import { Instance, type InstanceDeps } from '../../src/vrrp/instance.js';

const KEY = 'flap-test-secret';
const US = '198.51.100.11';
const PEER = '198.51.100.12';
const VIP = '198.51.100.100';

const CONFIG = `
global_defs: {router_id: lbA}
vrrp_instance:
  VI_1:
    state: MASTER
    interface: eth0
    virtual_router_id: 51
    priority: 100
    advert_int: 1
    unicast_peer: [${PEER}]
    authentication: {auth_type: HMAC-SHA256, auth_pass: ${KEY}}
    virtual_ipaddress: [${VIP}/24 dev eth0]
`;

/** What the instance asked of the outside world, in order. */
const calls: string[] = [];

const vip = {
  held: false,
  async add(): Promise<void> {
    calls.push('vip.add');
    vip.held = true;
  },
  async remove(): Promise<void> {
    calls.push('vip.remove');
    vip.held = false;
  },
  async removeStale(): Promise<string[]> {
    return [];
  },
  async garp(): Promise<void> {},
  close(): void {},
};

/** The proxy's answer to the first `release` waits for the test (a busy proxy). */
let answerRelease: (() => void) | null = null;
let releases = 0;
const proxy = {
  configured: true,
  release(): Promise<string | null> {
    calls.push('proxy.release');
    if (++releases > 1) return Promise.resolve('closed 0 sessions');
    return new Promise((resolve) => (answerRelease = () => resolve('closed 0 sessions')));
  },
  async enable(): Promise<string | null> {
    calls.push('proxy.enable');
    return '';
  },
  async send(): Promise<string | null> {
    return '';
  },
};

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

test('a flap MASTER → BACKUP → MASTER while the proxy answers the release: the VIP stays, the proxy is enabled again', async () => {
  const config = loadVrrpConfigText(CONFIG, 'flap.yaml').instances[0]!;
  const peerSeq = new SequenceGenerator();
  const fromPeer = (type: 'advert' | 'standby', priority: number, vips: string[]): Buffer =>
    encodeAdvert({ type, vrid: 51, priority, intervalCs: 100, address: PEER, seq: peerSeq.next(), vips }, KEY);
  const instance = new Instance(
    {
      config,
      key: KEY,
      address: US,
      transport: { send: () => {} } as unknown as InstanceDeps['transport'],
      vip: vip as unknown as InstanceDeps['vip'],
      notifier: { notify: async () => {}, drain: async () => {} } as unknown as InstanceDeps['notifier'],
      proxy: proxy as unknown as InstanceDeps['proxy'],
      log: createLogger('vrrp', new Writable({ write: (_c, _e, cb) => cb() })),
      now: () => performance.now(),
      livenessPort: null,
    },
    { priority: 100, unclamped: 100, fault: false, failed: [], pending: [] },
  );
  try {
    await instance.start();
    // state MASTER: BACKUP first, MASTER after one advert interval (as keepalived).
    for (let i = 0; i < 150 && instance.state !== 'MASTER'; i++) await settle();
    await settle();
    assert.equal(instance.state, 'MASTER');
    assert.deepEqual(calls, ['proxy.enable', 'vip.add']);

    // The peer (90) is a live backup; our tracker fails (100 → 40): we resign to it.
    instance.receive(fromPeer('standby', 90, []), PEER);
    instance.setEffective({ priority: 40, unclamped: 40, fault: false, failed: [], pending: [] });
    assert.equal(instance.state, 'BACKUP');
    // The new master announces the VIP: the release goes on and asks the proxy, which is slow.
    instance.receive(fromPeer('advert', 90, [VIP]), PEER);
    await settle();
    assert.deepEqual(calls.slice(2), ['proxy.release']);

    // Our tracker recovers before the proxy has answered: we preempt the peer again.
    instance.setEffective({ priority: 100, unclamped: 100, fault: false, failed: [], pending: [] });
    instance.receive(fromPeer('advert', 90, [VIP]), PEER);
    assert.equal(instance.state, 'MASTER');
    answerRelease!();
    await settle();

    assert.ok(!calls.includes('vip.remove'), `the VIP was removed while MASTER again: ${calls.join(', ')}`);
    assert.deepEqual(calls.slice(2), ['proxy.release', 'proxy.enable', 'vip.add']);
    assert.equal(vip.held, true);
  } finally {
    answerRelease?.(); // a failed assertion must not leave the queue waiting on the proxy
    await instance.stop().catch(() => undefined);
  }
});
