// End to end in the network-namespace lab: lbA and lbB each run `warren proxy` and `warren vrrp`
// in front of the shared RabbitMQ cluster, the VIP 198.51.100.100 moves between them, and an
// amqplib publisher in `client` (publisher confirms every 20 ms, reconnecting at once) only knows
// the VIP. Each fault is checked by where the client's next connection is served, which proves
// the VIP moved, the old holder let go, and gratuitous ARP re-pointed the client.
// Timing figures over several runs come from `npm run bench:failover` (test/bench/failover.ts).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCluster } from '../harness/rabbit-cluster.js';
import { ADVERT_PORT, FAULTS, runFault, settledOnA, WarrenLab } from '../harness/warren-lab.js';

const cluster = loadCluster();
const brokerPorts = cluster.nodes.map((n) => n.amqpPort);

describe('two warren hosts, one VIP (advert_int 0.1 s)', { timeout: 180_000 }, () => {
  let w: WarrenLab;

  before(async () => {
    w = await WarrenLab.create({ brokerPorts });
    await w.startAll();
  });
  after(async () => {
    await w?.destroy();
  });

  test('lbA is MASTER with the VIP, lbB BACKUP; warren status shows the peer and the tracker', async () => {
    assert.deepEqual(await w.lab.vipHolders(), ['lbA']);
    const a = (await w.status('lbA')).instances[0]!;
    const b = (await w.status('lbB')).instances[0]!;
    assert.equal(a.state, 'MASTER');
    assert.equal(b.state, 'BACKUP');
    assert.equal(a.effective_priority, 100);
    assert.deepEqual(
      a.peers.map((p) => [p.address, p.state]),
      [[w.lab.addr.lbB, 'BACKUP']],
    );
    assert.deepEqual(
      b.peers.map((p) => [p.address, p.state]),
      [[w.lab.addr.lbA, 'MASTER']],
    );
    // keepalived's `notify` arguments, in order
    assert.deepEqual(w.notifyLines('lbA').slice(0, 2), ['INSTANCE VI_1 BACKUP 100', 'INSTANCE VI_1 MASTER 100']);
    assert.deepEqual(w.notifyLines('lbB').slice(0, 1), ['INSTANCE VI_1 BACKUP 90']);
    assert.deepEqual(
      a.trackers.map((t) => [t.name, t.status]),
      [
        ['chk_proxy', 'ok'],
        ['eth0', 'ok'],
      ],
    );
  });

  for (const fault of FAULTS) {
    test(`${fault.name}: the client is served by lbB, then by lbA again once it is repaired (preempt)`, async (t) => {
      const run = await runFault(w, fault);
      t.diagnostic(`fault → client on lbB: ${run.faultMs} ms (${run.connects} connects); repair → client on lbA: ${run.repairMs} ms`);
      // Bounds far above the targets (the figures come from the benchmark), below any timer
      // that would mean the mechanism did not work (a heartbeat is 5 s, the RFC down timer 0.37 s).
      assert.ok(run.faultMs < 2500, `failover took ${run.faultMs} ms`);
    });
  }

  test('adverts blocked both ways: both become MASTER; healed: one MASTER within an advert interval, lbB lets go, the client is on lbA', async (t) => {
    await settledOnA(w);
    const markA = w.vrrp.lbA!.mark();
    const markB = w.vrrp.lbB!.mark();
    await w.lab.blockAdverts('lbA', ADVERT_PORT);
    await w.waitState('lbB', 'MASTER', 5000, markB);
    await w.waitVipOn(['lbA', 'lbB'], 5000); // split brain, as VRRP must: neither hears the other
    const clientOnB = await w.waitServedBy('lbB', 0, 5000); // lbB's GARP took the client
    assert.ok(clientOnB.event);
    const healedAt = Date.now();
    await w.lab.unblockAdverts('lbA', ADVERT_PORT);
    const line = await w.waitState('lbB', 'BACKUP', 5000, markB);
    const steppedDown = Date.parse((JSON.parse(line) as { time: string }).time) - healedAt;
    t.diagnostic(`healed → lbB BACKUP: ${steppedDown} ms`);
    assert.ok(steppedDown <= 100 + 20, `lbB stepped down ${steppedDown} ms after the heal (advert interval 100 ms)`);
    await w.waitVipOn(['lbA'], 2000);
    await w.waitServedBy('lbA', healedAt, 5000);
    assert.equal(await w.lab.clientNeigh(), 'lbA');
    // lbA never left MASTER.
    assert.equal(
      w.vrrp.lbA!.lines().slice(markA).some((l) => / -> (BACKUP|FAULT)"/.test(l)),
      false,
    );
  });

  test('forged, replayed, wrong-vrid and malformed adverts are counted and dropped, never a state change', async () => {
    await settledOnA(w);
    const before = (await w.status('lbB')).instances[0]!;
    const markB = w.vrrp.lbB!.mark();
    // From the client namespace: a priority-255 "master" with the wrong key, a replay of lbA's
    // address with an old sequence number and the right key, another vrid, garbage.
    const advert = new URL('../../src/vrrp/advert.js', import.meta.url).href;
    const script = `
      import dgram from 'node:dgram';
      import { encodeAdvert } from '${advert}';
      const SECRET = ${JSON.stringify(w.secretForTests)};
      const base = { type: 'advert', vrid: 51, priority: 255, intervalCs: 10, address: '${w.lab.addr.lbA}', seq: 1n, vips: [] };
      const msgs = [
        encodeAdvert(base, 'not the secret at all, not at all'),
        encodeAdvert(base, SECRET),
        encodeAdvert({ ...base, vrid: 52, seq: BigInt(Date.now()) << 16n }, SECRET),
        Buffer.from('WRRN garbage that is not an advert'),
        Buffer.alloc(2000, 7),
      ];
      const s = dgram.createSocket('udp4');
      for (const m of msgs) await new Promise((r) => s.send(m, ${ADVERT_PORT}, '${w.lab.addr.lbB}', r));
      s.close();`;
    const r = await w.lab.exec('client', process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    await new Promise((res) => setTimeout(res, 300));
    const after = (await w.status('lbB')).instances[0]!;
    const dropped = (k: 'bad-auth' | 'replayed'): number => (after.counters.dropped[k] ?? 0) - (before.counters.dropped[k] ?? 0);
    assert.equal(dropped('bad-auth'), 1);
    assert.equal(dropped('replayed'), 1);
    assert.equal(after.state, 'BACKUP');
    assert.equal(w.vrrp.lbB!.lines().slice(markB).some((l) => / -> /.test(l)), false);
    const t = await w.status('lbB');
    assert.ok(t.transport.unknown_vrid >= 3, `unknown_vrid ${t.transport.unknown_vrid}`); // vrid 52, garbage, oversized
    assert.deepEqual(await w.lab.vipHolders(), ['lbA']);
  });

  test('nopreempt: the returning old master stays BACKUP', async () => {
    await settledOnA(w);
    await Promise.all([w.stopGracefully(w.vrrp.lbA), w.stopGracefully(w.vrrp.lbB)]);
    w.setMode({ nopreempt: true });
    await w.startVrrp('lbA');
    await w.waitState('lbA', 'MASTER', 5000);
    await w.startVrrp('lbB');
    await w.waitState('lbB', 'BACKUP', 5000);
    await settledOnA(w);
    const t0 = Date.now();
    await w.kill9(w.vrrp.lbA);
    await w.waitServedBy('lbB', t0, 5000);
    await w.startVrrp('lbA');
    await w.waitState('lbA', 'BACKUP', 5000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(await w.lab.vipHolders(), ['lbB']);
    assert.equal((await w.status('lbA')).instances[0]!.state, 'BACKUP');
    await w.waitServedBy('lbB', t0, 1000);
  });

  test('unicast peers instead of multicast: election, SIGTERM hand-over, preempt back', async (t) => {
    await Promise.all([w.stopGracefully(w.vrrp.lbA), w.stopGracefully(w.vrrp.lbB)]);
    w.setMode({ nopreempt: false, unicast: true });
    await w.startVrrp('lbA');
    await w.waitState('lbA', 'MASTER', 5000);
    await w.startVrrp('lbB');
    await w.waitState('lbB', 'BACKUP', 5000);
    const b = (await w.status('lbB')).instances[0]!;
    assert.deepEqual(
      b.peers.map((p) => [p.address, p.state]),
      [[w.lab.addr.lbA, 'MASTER']],
    );
    const run = await runFault(w, FAULTS.find((f) => f.name.startsWith('SIGTERM'))!);
    t.diagnostic(`unicast, SIGTERM → client on lbB: ${run.faultMs} ms`);
    assert.ok(run.faultMs < 2500);
  });
});
