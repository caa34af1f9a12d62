// VRRP under a connection flood at maxconn, in the two-host network-namespace lab (issue 7,
// "Chaos and security": "A connection flood at maxconn (thousands of idle sockets held open): the
// stats page, health checks and VRRP adverts keep working; timeouts reclaim the idle sockets").
// test/integration/security-flood.test.ts covers the stats page, the checks and the reclaim
// against one proxy process; this is the VRRP part, with the real pair of hosts: lbA MASTER
// (priority 100), lbB BACKUP (90), advert_int 0.1 s, each vrrp daemon tracking its own proxy's
// /healthz (timeout 0.5 s, fall 1, weight -60). So one slow /healthz answer from lbA's flooded
// proxy, or one advert interval stalled past the master-down interval (~0.37 s) in lbA's vrrp
// daemon, hands the VIP to lbB: the flood must disturb neither.
//
// The flood: FLOOD idle connections from the client namespace to VIP:FLOOD_PORT, served on lbA by
// a `flood` section with maxconn MAXCONN whose server is a TCP sink in the client namespace
// (flood-client.ts), so no broker ever sees it. The `rabbit` section keeps its own room (global
// maxconn 2000), so an AMQP client through the VIP must still get in. While the flood is held
// (at least HOLD_MS, sampled every ~200 ms):
//   - no state transition in either vrrp daemon; every sample of lbA's status says MASTER with
//     effective priority 100 (its proxy tracker never failed), every sample of lbB's BACKUP
//     following lbA; the VIP is on lbA alone;
//   - lbB's received-advert counter advances at the advert rate (at least half of it);
//   - lbA's stats page answers, showing the flood frontend FULL at maxconn; the sink never holds
//     more than maxconn sessions, the proxy resets and closes none of the flood connections;
//   - the publisher that started with the lab keeps its connection and its confirms, and a new
//     AMQP client connects through the VIP, is served by lbA and gets a confirm.
// Released (the flood clients close): every session ends, those that waited past maxconn
// included (each became a session in its turn: stot = FLOOD; then scur 0, the sink empty), still
// without a transition, the adverts at their rate. (Reclaim by `timeout client` is
// security-flood's; here the clients close, so the hold lasts exactly as long as the test wants.)
// Figures (advert rates, the oldest advert lbB had, stats latency, flood and drain times) are
// diagnostics; the bounds on them are loose, there to catch a stall, not to grade speed.
// Needs root (namespaces) and the RabbitMQ cluster of run-tests.sh; fails, never skips, without.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseCsv } from '../../src/proxy/stats/csv.js';
import type { DaemonStatus, InstanceStatus } from '../../src/vrrp/status.js';
import { quantile } from '../harness/flood.js';
import { LAB_ADDR, labClientArgs, parseClientEvents, type LabProcess, type LbHost } from '../harness/netns-lab.js';
import { loadCluster } from '../harness/rabbit-cluster.js';
import { waitFor } from '../harness/wait.js';
import { WarrenLab } from '../harness/warren-lab.js';

const FLOOD_CLIENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../harness/flood-client.js');
const MAXCONN = 500;
/** Six times maxconn: 2500 of them wait, accepted and paused, for a slot. */
const FLOOD = 3000;
const HOLD_MS = 5000;
const BASELINE_MS = 2500;
const ADVERT_INT_S = 0.1;
/** Lab-private ports (the namespaces are the test's own). */
const FLOOD_PORT = 15680;
const SINK_PORT = 15690;
/** The flooder's descriptors: FLOOD client sockets, up to MAXCONN sink sockets, node's own. */
const NOFILE = 8192;

const brokerPorts = loadCluster().nodes.map((n) => n.amqpPort);

// The flood section, on both hosts (the config is shared): lbB's copy only ever sees its
// health checks, as only lbA holds the VIP.
const FLOOD_SECTION = `  flood:
    bind: 0.0.0.0:${FLOOD_PORT}
    maxconn: ${MAXCONN}
    server:
      - sink ${LAB_ADDR.client}:${SINK_PORT} check
`;

interface Sample {
  t: number;
  a: InstanceStatus;
  b: InstanceStatus;
  vip: LbHost[];
  /** lbA's stats page (;csv): status, curl's request time, rows by `pxname/svname`. */
  stats: { status: number; ms: number; rows: Map<string, Record<string, string>> };
}

interface Window {
  samples: Sample[];
  seconds: number;
  /** Adverts per second received by lbB, sent by lbA. */
  received: number;
  sent: number;
  /** The oldest lbA advert lbB had when sampled (its peer's last_seen_ms), ms. */
  maxAdvertAge: number;
  statsP50: number;
  statsMax: number;
}

describe(`VRRP under a flood of ${FLOOD} idle connections at maxconn ${MAXCONN} (advert_int ${ADVERT_INT_S} s)`, { timeout: 120_000 }, () => {
  let w: WarrenLab;
  let flooder: LabProcess;
  let baseline: Window;
  /** Log marks of both vrrp daemons and the time, when the flood started. */
  let floodMark: { a: number; b: number; t: number };

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the lab needs root (network namespaces)');
    w = await WarrenLab.create({ brokerPorts, prefix: 'wflood', advertInt: ADVERT_INT_S, extraListen: FLOOD_SECTION });
    try {
      // The sink first: the proxies check it from their start, and a DOWN `flood` backend would
      // fail both /healthz trackers.
      flooder = w.lab.spawn('client', 'flooder', 'prlimit', [`--nofile=${NOFILE}:${NOFILE}`, '--', process.execPath, FLOOD_CLIENT, '--sink', `${LAB_ADDR.client}:${SINK_PORT}`, '--target', `${w.lab.vip}:${FLOOD_PORT}`, '--count', String(FLOOD)]);
      await flooder.waitForLine(/"ev":"ready"/, 10_000);
    } catch (err) {
      await w.destroy();
      throw err;
    }
    await w.startAll(); // lbA MASTER with the VIP, the publisher served by lbA (destroys the lab if not)
  });
  after(async () => {
    await w?.destroy(); // stops every lab process, the flooder included
  });

  const inst = (d: DaemonStatus): InstanceStatus => d.instances[0]!;

  async function statsCsv(h: LbHost): Promise<Sample['stats']> {
    const r = await w.httpGet(h, 'http://127.0.0.1:8888/stats;csv');
    const rows = r.status === 200 ? new Map(parseCsv(r.body).rows.map((row) => [`${row.pxname}/${row.svname}`, row])) : new Map<string, Record<string, string>>();
    return { status: r.status, ms: r.ms, rows };
  }

  async function takeSample(): Promise<Sample> {
    const t = Date.now();
    const [a, b, vip, stats] = await Promise.all([w.statusApi('lbA'), w.statusApi('lbB'), w.lab.vipHolders(), statsCsv('lbA')]);
    return { t, a: inst(a), b: inst(b), vip, stats };
  }

  /** Samples every ~200 ms for at least `ms`, and until `also` has settled (its outcome is the caller's). */
  async function watch(ms: number, also: Promise<unknown> = Promise.resolve()): Promise<Window> {
    let settled = false;
    also.then(
      () => (settled = true),
      () => (settled = true),
    );
    const samples: Sample[] = [];
    const t0 = Date.now();
    while (samples.length < 2 || Date.now() - t0 < ms || !settled) {
      samples.push(await takeSample());
      await sleep(150);
    }
    const first = samples[0]!;
    const last = samples.at(-1)!;
    const seconds = (last.t - first.t) / 1000;
    const lat = samples.map((s) => s.stats.ms);
    return {
      samples,
      seconds,
      received: (last.b.counters.advertsReceived - first.b.counters.advertsReceived) / seconds,
      sent: (last.a.counters.advertsSent - first.a.counters.advertsSent) / seconds,
      maxAdvertAge: Math.max(...samples.map((s) => s.b.peers.find((p) => p.address === LAB_ADDR.lbA)?.last_seen_ms ?? Infinity)),
      statsP50: quantile(lat, 0.5),
      statsMax: Math.max(...lat),
    };
  }

  const views = (win: Window, f: (s: Sample) => string): string[] => [...new Set(win.samples.map(f))];

  /** What must hold in every sample of a window, before, during and after the flood. */
  function assertSteady(win: Window, when: string): void {
    assert.deepEqual(views(win, (s) => `${s.a.state} prio ${s.a.effective_priority}`), ['MASTER prio 100'], `lbA ${when}`);
    assert.deepEqual(views(win, (s) => `${s.b.state} following ${s.b.master}`), [`BACKUP following ${LAB_ADDR.lbA}`], `lbB ${when}`);
    assert.deepEqual(views(win, (s) => s.vip.join(',') || 'nobody'), ['lbA'], `VIP holders ${when}`);
    assert.deepEqual(views(win, (s) => String(s.stats.status)), ['200'], `lbA stats page ${when}`);
    const chk = (s: Sample): number => s.a.trackers.find((t) => t.name === 'chk_proxy')!.failures;
    assert.equal(chk(win.samples.at(-1)!) - chk(win.samples[0]!), 0, `lbA's proxy tracker failed ${when}`);
    // Nominal 1 / advert_int; half of it is far below a rate that would still keep lbB BACKUP
    // by luck, and far above a stalled sender.
    assert.ok(win.received >= 0.5 / ADVERT_INT_S, `lbB received ${win.received.toFixed(1)} adverts/s ${when} (nominal ${1 / ADVERT_INT_S})`);
  }

  const figures = (win: Window): string =>
    `adverts ${win.sent.toFixed(1)}/s sent by lbA, ${win.received.toFixed(1)}/s received by lbB, oldest advert seen by lbB ${win.maxAdvertAge} ms ` +
    `(master down interval ${win.samples[0]!.b.master_down_interval_ms} ms); lbA stats ;csv p50 ${win.statsP50.toFixed(1)} ms max ${win.statsMax.toFixed(1)} ms ` +
    `(${win.samples.length} samples over ${win.seconds.toFixed(1)} s)`;

  /** The last line of the flooder's periodic stats. */
  function floodStats(): { open: number; closedByPeer: number; reset: number; sinkOpen: number; sinkMax: number; sinkTotal: number } {
    const line = flooder.lines().filter((l) => l.includes('"ev":"stats"')).at(-1);
    assert.ok(line, 'no stats from the flooder yet');
    return JSON.parse(line);
  }

  /** Publisher (w.client) confirms counted by its last `stats` event at or before `t`. */
  const confirmedAt = (t: number): number => (w.clientEvents().filter((e) => e.ev === 'stats' && e.t <= t).at(-1)?.confirmed as number | undefined) ?? 0;
  /** Publisher events since `t` that mean its connection was disturbed. */
  const publisherTrouble = (t: number): string[] => w.clientEvents().filter((e) => e.t >= t && ['closed', 'error', 'connect-failed', 'connected'].includes(e.ev)).map((e) => `${e.ev} ${e.msg ?? ''}`);

  /** A new AMQP client through the VIP, while the flood is held: its first confirm, who served it. */
  async function freshClient(): Promise<{ connectMs: number; failures: number; servedBy: LbHost | null }> {
    const c = w.lab.spawn('client', 'fresh-client', process.execPath, labClientArgs({ intervalMs: 100, connectTimeoutMs: 5000 }));
    try {
      await c.waitForLine(/"ev":"first-confirm"/, 15_000);
      const events = parseClientEvents(c.lines());
      const conn = events.find((e) => e.ev === 'connected')!;
      return { connectMs: Number(conn.connectMs), failures: events.filter((e) => e.ev === 'connect-failed').length, servedBy: await w.lab.servingHost(Number(conn.localPort)) };
    } finally {
      c.kill('SIGTERM');
      await c.exited;
    }
  }

  test('before the flood: lbA MASTER with the VIP, lbB BACKUP; the advert rate and stats latency for reference', async (t) => {
    baseline = await watch(BASELINE_MS);
    assertSteady(baseline, 'before the flood');
    const rows = baseline.samples.at(-1)!.stats.rows;
    assert.equal(rows.get('flood/sink')?.status, 'UP', 'the sink is checked UP');
    assert.equal(rows.get('flood/FRONTEND')?.scur, '0');
    t.diagnostic(`before: ${figures(baseline)}`);
  });

  test(`the flood held ${HOLD_MS / 1000} s: no transition, adverts at their rate, VIP on lbA alone, stats page and a new AMQP client served`, async (t) => {
    floodMark = { a: w.vrrp.lbA!.mark(), b: w.vrrp.lbB!.mark(), t: Date.now() };
    const fm = flooder.mark();
    flooder.kill('SIGUSR2');
    const flooded = JSON.parse(await flooder.waitForLine(/"ev":"flooded"/, 30_000, fm)) as { connected: number; reset: number; ms: number };
    assert.equal(flooded.connected, FLOOD, `${flooded.connected} of ${FLOOD} connections established (${flooded.reset} reset)`);
    const fullMs = await waitFor(`lbA's flood frontend at maxconn ${MAXCONN}`, async () => (await statsCsv('lbA')).rows.get('flood/FRONTEND')?.scur === String(MAXCONN), 10_000);

    const holdStart = Date.now();
    const fresh = freshClient();
    const win = await watch(HOLD_MS, fresh);
    const f = await fresh;
    const holdEnd = Date.now();

    assertSteady(win, 'under the flood');
    assert.deepEqual(w.transitions('lbA', floodMark.a), [], 'lbA changed state under the flood');
    assert.deepEqual(w.transitions('lbB', floodMark.b), [], 'lbB changed state under the flood');
    // The flood is really there, all of it, the whole time: lbA's frontend full at maxconn...
    assert.deepEqual(views(win, (s) => `${s.stats.rows.get('flood/FRONTEND')?.status} scur ${s.stats.rows.get('flood/FRONTEND')?.scur}`), [`FULL scur ${MAXCONN}`]);
    // ...every connection still established (the rest wait, accepted and paused; the proxy has
    // the descriptors for them and `timeout client` is 1 min), at most maxconn reached the sink
    // (plus a few short-lived tcp health checks of lbA and lbB).
    const held = floodStats();
    assert.deepEqual([held.open, held.closedByPeer, held.reset], [FLOOD, 0, 0], 'flood connections [open, closed by the proxy, reset]');
    assert.ok(held.sinkMax <= MAXCONN + 4, `the sink held ${held.sinkMax} connections at once (maxconn ${MAXCONN})`);
    assert.ok(!w.proxy.lbA!.lines().some((l) => /connections already waiting|EMFILE/i.test(l)), "lbA's proxy reset connections or ran out of descriptors");
    // Clients of the other section: the long-lived publisher undisturbed, a new one admitted.
    assert.deepEqual(publisherTrouble(floodMark.t), [], 'the publisher was disturbed');
    const confirms = confirmedAt(holdEnd) - confirmedAt(holdStart);
    const confirmRate = confirms / ((holdEnd - holdStart) / 1000);
    assert.ok(confirmRate >= 10, `publisher: ${confirms} confirms in ${holdEnd - holdStart} ms (one publish per 20 ms)`);
    assert.equal(f.servedBy, 'lbA', 'the new AMQP client was not served by lbA');
    assert.equal(f.failures, 0, 'the new AMQP client needed more than one connect');

    t.diagnostic(`flood: ${FLOOD} connections established in ${flooded.ms} ms, lbA's flood frontend FULL ${fullMs} ms later; sink held ${held.sinkMax} at most`);
    t.diagnostic(`under the flood: ${figures(win)}`);
    t.diagnostic(`before the flood: adverts ${baseline.received.toFixed(1)}/s received, oldest ${baseline.maxAdvertAge} ms; stats p50 ${baseline.statsP50.toFixed(1)} ms max ${baseline.statsMax.toFixed(1)} ms`);
    t.diagnostic(`publisher: ${confirmRate.toFixed(0)} confirms/s during the hold; new AMQP client: connected in ${f.connectMs} ms (TCP + AMQP handshake) via lbA`);
  });

  test('released: every session ends, the waiting ones in turn; still no transition, adverts at their rate', async (t) => {
    const rm = flooder.mark();
    const r0 = Date.now();
    flooder.kill('SIGUSR2');
    await flooder.waitForLine(/"ev":"released"/, 5000, rm);
    // The 2500 that waited past maxconn get their slot as the first sessions end, see the
    // client's FIN and end too: a drain through maxconn-sized rounds, not a timeout.
    const drainMs = await waitFor("lbA's flood frontend back to 0 sessions", async () => (await statsCsv('lbA')).rows.get('flood/FRONTEND')?.scur === '0', 30_000, () => JSON.stringify(floodStats()));
    await waitFor('the sink empty', () => floodStats().sinkOpen === 0, 5000, () => JSON.stringify(floodStats()));
    const win = await watch(BASELINE_MS);
    assertSteady(win, 'after the flood');
    assert.deepEqual(w.transitions('lbA', floodMark.a), [], 'lbA changed state during the flood or its drain');
    assert.deepEqual(w.transitions('lbB', floodMark.b), [], 'lbB changed state during the flood or its drain');
    assert.deepEqual(publisherTrouble(floodMark.t), [], 'the publisher was disturbed');
    const fe = win.samples.at(-1)!.stats.rows.get('flood/FRONTEND')!;
    assert.equal(fe.status, 'OPEN');
    // Every flood connection became a session in its turn: none lost from the wait queue.
    assert.equal(Number(fe.stot), FLOOD, 'sessions of the flood frontend');
    t.diagnostic(`released: lbA's flood sessions 0 after ${drainMs} ms (released at +${r0 - floodMark.t} ms); frontend stot ${fe.stot}, sink saw ${floodStats().sinkTotal} connections (checks included)`);
    t.diagnostic(`after the flood: ${figures(win)}`);
  });
});
