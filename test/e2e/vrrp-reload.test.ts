// `warren vrrp` reloads on SIGHUP, end to end in the network-namespace lab (two hosts, one VIP,
// an amqplib publisher on the VIP; see test/harness/warren-lab.ts):
//   - a reload that changes nothing relevant (same file, a comment, a new notify path, a tracker's
//     interval) causes no transition on either host, the VIP stays, the client keeps its
//     connection, no notify hook runs;
//   - a reload that lowers the master's priority below the backup's moves the VIP at once (the
//     master resigns with priority 0: the fast path, not a timer), and raising it again brings it
//     back (preempt);
//   - an invalid file is logged issue by issue (file:line: path: what) and changes nothing;
//   - SIGTERM: the master resigns (priority 0) before it exits, so the backup takes over on that
//     advert ('master-resigned'), not on a timer or the liveness link.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { loadCluster } from '../harness/rabbit-cluster.js';
import { settledOnA, WarrenLab } from '../harness/warren-lab.js';
import type { LbHost } from '../harness/netns-lab.js';

const cluster = loadCluster();
const brokerPorts = cluster.nodes.map((n) => n.amqpPort);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface LogLine {
  time: string;
  msg: string;
  reason?: string;
  [k: string]: unknown;
}
const parse = (line: string): LogLine => JSON.parse(line) as LogLine;

describe('warren vrrp reload (SIGHUP) in the two-host lab (advert_int 0.1 s)', { timeout: 180_000 }, () => {
  let w: WarrenLab;

  before(async () => {
    w = await WarrenLab.create({ brokerPorts });
    await w.startAll();
  });
  after(async () => {
    await w?.destroy();
  });

  /** No transition on either host, the VIP on lbA, the client's connection untouched since t0. */
  async function assertUndisturbed(marks: Record<LbHost, number>, t0: number, notifyBefore: Record<LbHost, number>): Promise<void> {
    await sleep(1000); // ten advert intervals
    for (const h of ['lbA', 'lbB'] as const) {
      assert.deepEqual(w.transitions(h, marks[h]), [], `${h} changed state`);
      assert.equal(w.notifyLines(h).length, notifyBefore[h], `${h} ran a notify hook`);
    }
    assert.deepEqual(await w.lab.vipHolders(), ['lbA']);
    const events = w.clientEvents().filter((e) => e.t >= t0);
    assert.deepEqual(
      events.filter((e) => ['closed', 'error', 'connected', 'connect-failed'].includes(e.ev)),
      [],
      'the client was disconnected',
    );
    // ...and still publishing with confirms.
    const stats = events.filter((e) => e.ev === 'stats');
    assert.ok(stats.length >= 1 && stats.at(-1)!.connected === true);
    assert.ok((stats.at(-1)!.confirmed ?? 0) > (stats[0]!.confirmed ?? 0) || stats.length === 1, 'no confirms during the reloads');
  }

  test('an unchanged file, a comment, a new notify path, a tracker interval: no state change anywhere', async () => {
    await settledOnA(w);
    const marks = { lbA: w.vrrp.lbA!.mark(), lbB: w.vrrp.lbB!.mark() };
    const notifyBefore = { lbA: w.notifyLines('lbA').length, lbB: w.notifyLines('lbB').length };
    const checksBefore = (await w.status('lbA')).instances[0]!.trackers.find((t) => t.name === 'chk_proxy')!.checks;
    const t0 = Date.now();

    for (const h of ['lbA', 'lbB'] as const) {
      assert.match(await w.reloadVrrp(h), /configuration reloaded: nothing to change/);
    }
    // The tracker was kept, not restarted: its check count goes on.
    const checksAfter = (await w.status('lbA')).instances[0]!.trackers.find((t) => t.name === 'chk_proxy')!.checks;
    assert.ok(checksAfter >= checksBefore, `chk_proxy restarted (${checksBefore} checks before, ${checksAfter} after)`);

    for (const h of ['lbA', 'lbB'] as const) {
      assert.match(await w.reloadVrrp(h, (t) => `# reloaded at ${new Date().toISOString()}\n${t}`), /nothing to change/);
    }
    // Another notify script (same effect: appends to the same log): a new notifier, no hook run.
    for (const h of ['lbA', 'lbB'] as const) {
      const old = path.join(w.lab.dir, `${h}-notify.sh`);
      const renamed = path.join(w.lab.dir, `${h}-notify2.sh`);
      copyFileSync(old, renamed);
      assert.match(await w.reloadVrrp(h, (t) => t.replace(`notify: ${old}`, `notify: ${renamed}`)), /"msg":"configuration reloaded"/);
    }
    // A tracker's interval: that tracker is replaced; its first result comes before it counts.
    for (const h of ['lbA', 'lbB'] as const) {
      const line = await w.reloadVrrp(h, (t) => t.replace('    interval: 0.1\n', '    interval: 0.2\n'));
      assert.match(line, /"msg":"configuration reloaded"/);
      assert.ok(w.vrrp[h]!.lines().some((l) => l.includes('tracker script:chk_proxy changed: restarted')));
    }
    await assertUndisturbed(marks, t0, notifyBefore);
    const a = (await w.status('lbA')).instances[0]!;
    const b = (await w.status('lbB')).instances[0]!;
    assert.deepEqual([a.state, a.effective_priority, b.state, b.effective_priority], ['MASTER', 100, 'BACKUP', 90]);
  });

  test('an invalid file: every issue logged with its line, nothing changes', async () => {
    await settledOnA(w);
    const marks = { lbA: w.vrrp.lbA!.mark(), lbB: w.vrrp.lbB!.mark() };
    const notifyBefore = { lbA: w.notifyLines('lbA').length, lbB: w.notifyLines('lbB').length };
    const t0 = Date.now();
    let good = '';
    const line = await w.reloadVrrp('lbA', (t) => {
      good = t;
      return t.replace('    priority: 100\n', '    priority: 300\n    advert_intt: 1\n');
    });
    assert.match(line, /reload refused: 2 error\(s\)/);
    const errors = w.vrrp.lbA!.lines().slice(marks.lbA).filter((l) => parse(l).msg.includes('lbA-vrrp.yaml:'));
    assert.equal(errors.length, 2, errors.join('\n'));
    assert.ok(errors.some((l) => /lbA-vrrp\.yaml:\d+: vrrp_instance\.VI_1\.priority: /.test(parse(l).msg)));
    assert.ok(errors.some((l) => /lbA-vrrp\.yaml:\d+: vrrp_instance\.VI_1\.advert_intt: unknown keyword 'advert_intt' \(did you mean 'advert_int'\?\)/.test(parse(l).msg)));
    await assertUndisturbed(marks, t0, notifyBefore);
    assert.equal((await w.status('lbA')).instances[0]!.effective_priority, 100);
    // Put the good file back (and make sure it is still accepted).
    assert.match(await w.reloadVrrp('lbA', () => good), /nothing to change/);
  });

  test("lowering the master's priority below the backup's moves the VIP at once; raising it brings it back", async (t) => {
    await settledOnA(w);
    const markA = w.vrrp.lbA!.mark();
    const markB = w.vrrp.lbB!.mark();
    const t0 = Date.now();
    await w.reloadVrrp('lbA', (text) => text.replace('    priority: 100\n', '    priority: 80\n'));
    const aDown = parse(await w.waitState('lbA', 'BACKUP', 2000, markA));
    const bUp = parse(await w.waitState('lbB', 'MASTER', 2000, markB));
    assert.equal(aDown.reason, 'priority-drop');
    // lbB took over on lbA's priority-0 advert, not on its Master_Down_Timer.
    assert.equal(bUp.reason, 'master-resigned');
    const moveMs = Date.parse(bUp.time) - t0;
    t.diagnostic(`SIGHUP → lbB MASTER: ${moveMs} ms`);
    assert.ok(moveMs < 1000, `took ${moveMs} ms`);
    await w.waitVipOn(['lbB'], 3000);
    await w.waitServedBy('lbB', t0, 5000);
    assert.equal((await w.status('lbA')).instances[0]!.effective_priority, 80);

    const markA2 = w.vrrp.lbA!.mark();
    const t1 = Date.now();
    await w.reloadVrrp('lbA', (text) => text.replace('    priority: 80\n', '    priority: 100\n'));
    const aUp = parse(await w.waitState('lbA', 'MASTER', 2000, markA2));
    assert.equal(aUp.reason, 'preempt');
    t.diagnostic(`SIGHUP → lbA MASTER again: ${Date.parse(aUp.time) - t1} ms`);
    await settledOnA(w);
  });

  test('SIGTERM: the master resigns with priority 0 before it exits (the backup takes over on that advert)', async () => {
    await settledOnA(w);
    const markA = w.vrrp.lbA!.mark();
    const markB = w.vrrp.lbB!.mark();
    const old = w.vrrp.lbA!;
    old.kill('SIGTERM');
    const bUp = parse(await w.waitState('lbB', 'MASTER', 3000, markB));
    assert.equal(bUp.reason, 'master-resigned', 'lbB must take over on the priority-0 advert');
    const exit = await old.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    const stop = old.lines().slice(markA).map(parse).find((l) => l.msg === 'MASTER -> STOP');
    assert.equal(stop?.reason, 'shutdown');
    // Back to the starting point.
    await w.startVrrp('lbA');
    await settledOnA(w);
  });
});
