// The chaos run of issue 7: the two-host lab (warren-lab.ts: warren proxy + warren vrrp on lbA and
// lbB, VIP 198.51.100.100) in front of a real 3-node RabbitMQ cluster, with amqplib publishers
// (publisher confirms, persistent messages with ids, unconfirmed ones resent after a reconnect)
// and consumers (manual acks) of one durable quorum queue, all in the client namespace and talking
// to the VIP only (lab-client.ts --quorum / --consume). A scheduler injects the faults one at a
// time (fault, hold, repair, settle), then overlapping ones, and the run ends with a drain.
//
// What is measured, from the clients' own records (lab-client.ts --record):
//   - client-visible outage of a window = the longest gap between two consecutive publisher
//     confirms, per publisher, taken over the publishers (max). The fault window runs from the
//     injection to the start of the repair and also owns the gap that straddles the injection (the
//     last confirm before it, the first after it); the repair window runs from the start of the
//     repair to the end of the settle after it and owns the gaps that START in it. A publisher
//     publishes every `intervalMs`, so the floor of the figure is one interval plus a confirm's
//     latency (~20-60 ms); a gap still open at the end of the run counts up to the run's end.
//   - confirmed = distinct message ids whose confirm reached a publisher; consumed = deliveries
//     (distinct ids also given); lost = confirmed ids never delivered after the final drain (must
//     be 0); duplicates = ids delivered more than once (allowed: a resent unconfirmed message, a
//     redelivery after an ack lost with its connection).
//
// Used by `npm run chaos` (test/bench/chaos.ts: several repetitions, a markdown table and a JSON
// file) and the CI version (test/e2e/chaos.test.ts: each fault once).

import fs from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';
import { markdownTable, median } from '../bench/bench-util.js';
import { amqpUrl, killNode, logOffset, logSince, nodePid, rabbitmqctl, startNode, stopNode, waitClusterRunning, type ClusterInfo } from './rabbit-cluster.js';
import { LAB_ADDR, labClientArgs, parseClientEvents, spawnLogged, type LabProcess } from './netns-lab.js';
import { ADVERT_PORT, WarrenLab } from './warren-lab.js';

// ---- configuration --------------------------------------------------------------------------------

export interface ChaosOptions {
  cluster: ClusterInfo;
  /** Repetitions of each single fault (default 1). */
  reps?: number;
  /** Repetitions of each overlapping combination (default 1). */
  overlapReps?: number;
  /** Only faults whose name contains one of these strings (default: all). */
  only?: string[];
  publishers?: number;
  /** No-proxy control publishers (default 3): the same client, run outside the lab and given every
   *  broker's address (each starts at a different one), so each broker fault is also measured as a
   *  client without any proxy sees it. */
  directPublishers?: number;
  consumers?: number;
  /** Each publisher publishes one message every intervalMs (default 20). */
  intervalMs?: number;
  /** Client AMQP heartbeat, s (default 1): the link-down target is 500 ms + this. */
  heartbeatS?: number;
  /** Client connect + setup timeout, ms (default 1000). */
  connectTimeoutMs?: number;
  /** Publisher confirm timeout, ms (default 1000): see lab-client.ts --confirm-timeout. */
  confirmTimeoutMs?: number;
  /** advert_int of both vrrp daemons, s (default 0.1, the lab's). */
  advertInt?: number;
  /** How long a fault is left in place before its repair, at least (default 3000). */
  holdMs?: number;
  /** Quiet time after a repair has settled, before the window closes (default 1500). */
  settleMs?: number;
  /** Namespace prefix of the lab (default 'wchaos'). */
  prefix?: string;
  /** Log every client event and every vrrp daemon log line of each fault's windows, relative to
   *  the injection (for diagnosis); 'slow': only for a fault whose outage missed its target (or,
   *  at the repair, 500 ms). */
  trace?: boolean | 'slow';
  /** Capture the client namespace's ARP and TCP SYN/FIN/RST packets (tcpdump) into this file, to
   *  see where the clients' packets went around a failover (which MAC, which answer). */
  captureFile?: string;
  log?: (msg: string) => void;
}

/**
 * The quorum queue stopped confirming for every publisher, the no-proxy control publishers too
 * (they reach the brokers without warren), for longer than a settle allows: a broker-side failure,
 * not a finding about warren. Seen once in CI (RabbitMQ 3.10.8): after a kill -9 of the queue's
 * leader a new leader was elected within 0.4 s, yet no publisher got a confirm for the next 97 s.
 * The message carries what is needed to look into it (the queue's members and leader, each
 * client's last events).
 */
export class BrokerStallError extends Error {}

/** The fault target: the worst outage allowed (issue 7). */
const TARGET_ALIVE_MS = 500;

export interface ChaosCtx {
  w: WarrenLab;
  cluster: ClusterInfo;
  /** The cluster node (index) that a fault picked (the queue leader, in prepare), for its repair. */
  node: number | null;
  /** When the fault killed or stopped that broker (Date.now() just before), for the election time. */
  brokerFaultAt: number | null;
  log(msg: string): void;
  /** The index of the quorum queue's current leader. */
  leader(): Promise<number>;
}

export interface ChaosFault {
  name: string;
  overlap: boolean;
  /** The worst acceptable outage of the fault window, ms. */
  targetMs: number;
  /** Why the target is what it is (for the report). */
  targetWhy: string;
  /** Before the window opens (not timed): e.g. find the queue leader that inject will kill. */
  prepare?(c: ChaosCtx): Promise<void>;
  inject(c: ChaosCtx): Promise<void>;
  repair(c: ChaosCtx): Promise<void>;
}

// ---- the faults -------------------------------------------------------------------------------

/** A real change for a proxy reload (so that it is applied, not "unchanged"): global maxconn
 *  flips between 2000 and 2001, the client timeout between 1m and 61s. */
function flipConfig(t: string): string {
  return t
    .replace(/maxconn: (\d+)/, (_m, n: string) => `maxconn: ${n === '2000' ? 2001 : 2000}`)
    .replace(/client: (1m|61s)/, (_m, v: string) => `client: ${v === '1m' ? '61s' : '1m'}`);
}

async function reloadOnce(c: ChaosCtx): Promise<void> {
  const line = await c.w.reloadProxy('lbA', flipConfig);
  if (!/"reload":"applied"/.test(line)) throw new Error(`proxy reload not applied: ${line}`);
}

/** Ten reloads of lbA's proxy (the one serving everybody), 300 ms apart. */
async function tenReloads(c: ChaosCtx): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await reloadOnce(c);
    await sleep(300);
  }
}

/** prepare: the queue leader is the broker the fault will kill (asking takes ~1 s of rabbitmqctl). */
async function pickLeader(c: ChaosCtx): Promise<void> {
  c.node = await c.leader();
}

async function killLeader(c: ChaosCtx): Promise<void> {
  const i = c.node!;
  c.log(`  kill -9 of ${c.cluster.nodes[i]!.name} (the queue leader)`);
  c.brokerFaultAt = Date.now();
  if ((await killNode(c.cluster, i)) === null) throw new Error(`${c.cluster.nodes[i]!.name} was not running`);
}

async function restartNode(c: ChaosCtx): Promise<void> {
  if (c.node === null) return;
  await startNode(c.cluster, c.node);
  c.node = null;
}

const HOST_DEAD = (heartbeatS: number): { targetMs: number; targetWhy: string } => ({
  targetMs: TARGET_ALIVE_MS + heartbeatS * 1000,
  targetWhy: `500 ms + heartbeat ${heartbeatS} s`,
});
const ALIVE = { targetMs: TARGET_ALIVE_MS, targetWhy: '500 ms (old host alive)' };

export function chaosFaults(heartbeatS: number): ChaosFault[] {
  return [
    {
      name: 'broker kill -9 (queue leader) + restart',
      overlap: false,
      ...ALIVE,
      prepare: pickLeader,
      inject: killLeader,
      repair: restartNode,
    },
    {
      name: "kill -9 of the master's proxy",
      overlap: false,
      ...ALIVE,
      inject: (c) => c.w.kill9(c.w.proxy.lbA),
      repair: async (c) => void (await c.w.startProxy('lbA')),
    },
    {
      name: "kill -9 of the master's vrrp daemon",
      overlap: false,
      ...ALIVE,
      inject: (c) => c.w.kill9(c.w.vrrp.lbA),
      repair: async (c) => void (await c.w.startVrrp('lbA')),
    },
    {
      name: "SIGTERM of the master's vrrp daemon",
      overlap: false,
      ...ALIVE,
      inject: (c) => c.w.stopGracefully(c.w.vrrp.lbA),
      repair: async (c) => void (await c.w.startVrrp('lbA')),
    },
    {
      name: "the master's link down, then up",
      overlap: false,
      ...HOST_DEAD(heartbeatS),
      inject: (c) => c.w.lab.linkDown('lbA'),
      repair: (c) => c.w.lab.linkUp('lbA'),
    },
    {
      name: "the master's adverts blocked, then healed",
      overlap: false,
      ...ALIVE,
      inject: (c) => c.w.lab.blockAdverts('lbA', ADVERT_PORT),
      repair: (c) => c.w.lab.unblockAdverts('lbA', ADVERT_PORT),
    },
    {
      name: "10 reloads of the master's proxy under load",
      overlap: false,
      ...ALIVE,
      inject: tenReloads,
      repair: async () => {},
    },
    {
      name: 'broker restart (queue leader) during proxy reloads',
      overlap: false,
      ...ALIVE,
      // rabbitmqctl stop of the leader while lbA's proxy reloads; its start during another reload.
      prepare: pickLeader,
      inject: async (c) => {
        c.log(`  stop of ${c.cluster.nodes[c.node!]!.name} (the queue leader) + proxy reload`);
        c.brokerFaultAt = Date.now();
        await Promise.all([stopNode(c.cluster, c.node!), reloadOnce(c)]);
      },
      repair: async (c) => {
        await Promise.all([restartNode(c), (async () => {
          await sleep(2000); // the node is booting: reload while it comes back
          await reloadOnce(c);
        })()]);
      },
    },
    {
      name: "overlap: broker kill -9 (leader) + kill -9 of the master's proxy",
      overlap: true,
      ...ALIVE,
      prepare: pickLeader,
      inject: async (c) => {
        await Promise.all([killLeader(c), c.w.kill9(c.w.proxy.lbA)]);
      },
      repair: async (c) => {
        await Promise.all([c.w.startProxy('lbA'), restartNode(c)]);
      },
    },
    {
      name: "overlap: the master's link down + broker kill -9 (leader)",
      overlap: true,
      ...HOST_DEAD(heartbeatS),
      prepare: pickLeader,
      inject: async (c) => {
        await Promise.all([c.w.lab.linkDown('lbA'), killLeader(c)]);
      },
      repair: async (c) => {
        await Promise.all([c.w.lab.linkUp('lbA'), restartNode(c)]);
      },
    },
  ];
}

// ---- records ----------------------------------------------------------------------------------

/** Follows the clients' record files (lab-client.ts --record) as they grow. */
class Records {
  /** Confirm times per publisher id, in order. */
  readonly confirms = new Map<string, number[]>();
  readonly confirmedIds = new Set<string>();
  /** Deliveries per message id. */
  readonly delivered = new Map<string, number>();
  deliveries = 0;
  redelivered = 0;
  lastDelivery = new Map<string, number>();
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();

  constructor(readonly files: { file: string; who: string }[]) {}

  poll(): void {
    for (const { file, who } of this.files) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch {
        continue; // not created yet
      }
      try {
        const off = this.offsets.get(file) ?? 0;
        const size = fs.fstatSync(fd).size;
        if (size <= off) continue;
        const buf = Buffer.alloc(size - off);
        fs.readSync(fd, buf, 0, buf.length, off);
        this.offsets.set(file, size);
        const text = (this.partial.get(file) ?? '') + buf.toString('utf8');
        const lines = text.split('\n');
        this.partial.set(file, lines.pop() ?? '');
        for (const line of lines) this.add(line, who);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  private add(line: string, who: string): void {
    const [kind, t, id, redelivered] = line.split(' ');
    if (!kind || !t || !id) return;
    if (kind === 'c') {
      const pub = id.slice(0, id.lastIndexOf('-'));
      let list = this.confirms.get(pub);
      if (!list) this.confirms.set(pub, (list = []));
      list.push(Number(t));
      this.confirmedIds.add(id);
    } else if (kind === 'm') {
      this.deliveries++;
      if (redelivered === '1') this.redelivered++;
      this.delivered.set(id, (this.delivered.get(id) ?? 0) + 1);
      this.lastDelivery.set(who, Number(t));
    }
  }

  lastConfirm(pub: string): number {
    return this.confirms.get(pub)?.at(-1) ?? 0;
  }

  missing(): string[] {
    return [...this.confirmedIds].filter((id) => !this.delivered.has(id));
  }
}

export interface Gap {
  /** Longest gap, ms. */
  ms: number;
  /** Its start, ms after the window's start (negative: the last confirm before the window). */
  atMs: number;
  publisher: string;
}

/**
 * The longest gap between consecutive confirms (`times`, sorted) owned by window [s, e): the gaps
 * that start in it and, with `straddle`, the one that runs across s. A last confirm with none after
 * it is a gap up to `end` (the run's end).
 */
export function longestGap(times: number[], s: number, e: number, end: number, straddle: boolean): { ms: number; start: number } {
  let i = times.findIndex((t) => t >= s);
  if (i < 0) i = times.length;
  let best = { ms: 0, start: s };
  const consider = (a: number, b: number): void => {
    if (b - a > best.ms) best = { ms: b - a, start: a };
  };
  if (straddle) consider(i > 0 ? times[i - 1]! : s, i < times.length ? times[i]! : end);
  for (; i < times.length && times[i]! < e; i++) consider(times[i]!, i + 1 < times.length ? times[i + 1]! : end);
  return best;
}

function worstGap(rec: Records, pubs: string[], s: number, e: number, end: number, straddle: boolean): Gap {
  let worst: Gap = { ms: 0, atMs: 0, publisher: '' };
  for (const p of pubs) {
    const g = longestGap(rec.confirms.get(p) ?? [], s, e, end, straddle);
    if (g.ms > worst.ms) worst = { ms: g.ms, atMs: g.start - s, publisher: p };
  }
  return worst;
}

// ---- the run ----------------------------------------------------------------------------------

export interface FaultRunResult {
  fault: string;
  rep: number;
  t0: number;
  tRepair: number;
  tEnd: number;
  /** Outage of the fault window / of the repair window. */
  fault_outage: Gap;
  repair_outage: Gap;
  /** The fault window's outage for the no-proxy control publishers (null: none ran). */
  direct_outage: Gap | null;
  /** A broker fault: how long the quorum queue itself had no leader (electionMs()). */
  electionMs: number | null;
  /** Client connections made in each window (all clients). */
  reconnects: number;
  repairReconnects: number;
}

export interface FaultSummary {
  fault: string;
  overlap: boolean;
  runs: number;
  targetMs: number;
  targetWhy: string;
  outageMs: number[];
  repairOutageMs: number[];
  /** min / median / max. */
  outage: [number, number, number];
  repairOutage: [number, number, number];
  /** The no-proxy control publishers' outage, and the queue's leader election (broker faults). */
  directOutage: [number, number, number] | null;
  election: [number, number, number] | null;
  /** The worst fault-window outage within the target. */
  pass: boolean;
  /** The worst repair-window outage within 500 ms (at the repair every host is alive). */
  repairPass: boolean;
}

export interface ChaosReport {
  config: {
    publishers: number;
    directPublishers: number;
    consumers: number;
    intervalMs: number;
    heartbeatS: number;
    connectTimeoutMs: number;
    confirmTimeoutMs: number;
    advertInt: number;
    proxyChecks: string;
    vrrpTracker: string;
    reps: number;
    overlapReps: number;
    holdMs: number;
    settleMs: number;
    queue: string;
  };
  runs: FaultRunResult[];
  faults: FaultSummary[];
  totals: {
    published: number;
    publishAttempts: number;
    republished: number;
    confirmed: number;
    consumed: number;
    consumedDistinct: number;
    redelivered: number;
    lost: number;
    lostIds: string[];
    duplicates: number;
    /** Deliveries beyond the first of each id. */
    duplicateDeliveries: number;
  };
  durationMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const signed = (n: number): string => (n < 0 ? String(n) : `+${n}`);

function triple(xs: number[]): [number, number, number] {
  return xs.length ? [Math.min(...xs), median(xs), Math.max(...xs)] : [NaN, NaN, NaN];
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const cfg = {
    publishers: o.publishers ?? 3,
    directPublishers: o.directPublishers ?? 3,
    consumers: o.consumers ?? 2,
    intervalMs: o.intervalMs ?? 20,
    heartbeatS: o.heartbeatS ?? 1,
    connectTimeoutMs: o.connectTimeoutMs ?? 1000,
    confirmTimeoutMs: o.confirmTimeoutMs ?? 1000,
    advertInt: o.advertInt ?? 0.1,
    reps: o.reps ?? 1,
    overlapReps: o.overlapReps ?? 1,
    holdMs: o.holdMs ?? 3000,
    settleMs: o.settleMs ?? 1500,
  };
  const cluster = o.cluster;
  const names = cluster.nodes.map((n) => n.name);
  const queue = `chaos-${process.pid}-${Date.now()}`;
  const faults = chaosFaults(cfg.heartbeatS).filter((f) => !o.only?.length || o.only.some((s) => f.name.includes(s)));

  // The quorum queue, declared once from the root namespace (straight to node 1) so that every
  // client's assertQueue finds it with the same arguments.
  await withAmqp(cluster, async (ch) => {
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  });
  log(`quorum queue ${queue} declared`);

  const w = await WarrenLab.create({ brokerPorts: cluster.nodes.map((n) => n.amqpPort), advertInt: cfg.advertInt, prefix: o.prefix ?? 'wchaos' });
  const pubs: { id: string; p: LabProcess | null; file: string }[] = [];
  const cons: { id: string; p: LabProcess | null; file: string }[] = [];
  const direct: { id: string; p: LabProcess | null; file: string }[] = [];
  const runs: FaultRunResult[] = [];
  let rec: Records | null = null;
  try {
    await w.startAll({ client: false });
    if (o.captureFile) {
      const dump = w.lab.spawn('client', 'tcpdump', 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', o.captureFile, 'arp or (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0)']);
      await dump.waitForLine(/listening on/, 10_000);
      log(`capturing the client's ARP and SYN/FIN/RST packets into ${o.captureFile} (tcpdump -r FILE -e -tt -n)`);
    }
    const url = `amqp://guest:guest@${w.lab.vip}:5672`;
    const common = { url, heartbeatS: cfg.heartbeatS, connectTimeoutMs: cfg.connectTimeoutMs, queue, quorum: true };
    for (let i = 1; i <= cfg.consumers; i++) {
      const id = `c${i}`;
      const file = path.join(w.lab.dir, `${id}.rec`);
      cons.push({ id, file, p: w.lab.spawn('client', `consumer-${i}`, process.execPath, labClientArgs({ ...common, consume: true, id, record: file })) });
    }
    for (let i = 1; i <= cfg.publishers; i++) {
      const id = `p${i}`;
      const file = path.join(w.lab.dir, `${id}.rec`);
      pubs.push({ id, file, p: w.lab.spawn('client', `publisher-${i}`, process.execPath, labClientArgs({ ...common, intervalMs: cfg.intervalMs, confirmTimeoutMs: cfg.confirmTimeoutMs, id, record: file })) });
    }
    for (let i = 1; i <= cfg.directPublishers; i++) {
      const id = `d${i}`;
      const file = path.join(w.lab.dir, `${id}.rec`);
      const urls = cluster.nodes.map((_, k) => amqpUrl(cluster, (i - 1 + k) % cluster.nodes.length));
      const args = labClientArgs({ ...common, url: urls, intervalMs: cfg.intervalMs, confirmTimeoutMs: cfg.confirmTimeoutMs, id, record: file });
      direct.push({ id, file, p: spawnLogged(`direct-publisher-${i}`, process.execPath, args, path.join(w.lab.dir, `direct-publisher-${i}.log`)) });
    }
    const allPubs = [...pubs, ...direct];
    const records = (rec = new Records([...allPubs, ...cons].map((c) => ({ file: c.file, who: c.id }))));
    const ctx: ChaosCtx = {
      w,
      cluster,
      node: null,
      brokerFaultAt: null,
      log,
      leader: () => queueLeader(cluster, queue),
    };

    const connects = (from: number, to: number): number =>
      [...pubs, ...cons].reduce((n, c) => n + parseClientEvents(c.p!.lines()).filter((e) => e.ev === 'connected' && e.t >= from && e.t < to).length, 0);

    /** No publisher, through warren or not, has had a confirm for `forMs`: a BrokerStallError. */
    const throwIfBrokerStall = async (now: number, forMs: number, why: string): Promise<void> => {
      const stalled = (ps: { id: string }[]): boolean => ps.length > 0 && ps.every((p) => now - records.lastConfirm(p.id) > forMs);
      if (!stalled(pubs) || !stalled(direct)) return;
      throw new BrokerStallError(`chaos: the brokers stopped confirming for every publisher, with and without warren (${why})\n${await stallReport(cluster, queue, [...allPubs, ...cons])}`);
    };

    /** Everything back to normal: the VIP on lbA alone with both daemons of both hosts running,
     *  every broker running and clustered, no client connection left on lbB, every publisher
     *  confirming and every consumer receiving. */
    const settle = async (timeoutMs = 90_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      let why = '';
      let lastSaid = Date.now();
      for (;;) {
        records.poll();
        const now = Date.now();
        why = '';
        const holders = await w.lab.vipHolders();
        if (holders.join() !== 'lbA') why = `VIP on [${holders.join()}]`;
        else if ((['lbA', 'lbB'] as const).some((h) => !w.proxy[h] || w.proxy[h]!.exitStatus() || !w.vrrp[h] || w.vrrp[h]!.exitStatus())) why = 'a daemon is not running';
        else if (names.some((_, i) => nodePid(cluster, i) === null)) why = 'a broker is not running';
        else if (allPubs.some((p) => now - records.lastConfirm(p.id) > 300)) why = `publishers not all confirming (${allPubs.map((p) => `${p.id} ${now - records.lastConfirm(p.id)} ms`).join(', ')})`;
        else if (cons.some((c) => now - (records.lastDelivery.get(c.id) ?? 0) > 1000)) why = 'consumers not all receiving';
        else {
          const onB = await w.lab.exec('lbB', 'ss', ['-Htn', 'state', 'established', 'dst', LAB_ADDR.client]);
          if (onB.stdout.trim()) why = 'client connections still on lbB';
        }
        if (!why) return;
        if (now - lastSaid > 5000) {
          // A slow settle is a finding in itself: say what it waits for.
          log(`  settling: ${why}`);
          lastSaid = now;
        }
        if (now > deadline) {
          await throwIfBrokerStall(now, timeoutMs / 2, why);
          throw new Error(`chaos: not settled within ${timeoutMs} ms: ${why}`);
        }
        await sleep(50);
      }
    };

    /** The fault is over for the clients: every publisher confirms again (after the hold). */
    const waitRecovered = async (t0: number, timeoutMs = 60_000): Promise<void> => {
      await sleep(Math.max(0, t0 + cfg.holdMs - Date.now()));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        records.poll();
        const now = Date.now();
        if (allPubs.every((p) => now - records.lastConfirm(p.id) < 300)) return;
        if (now > deadline) {
          await throwIfBrokerStall(now, timeoutMs / 2, 'publishers not confirming after the hold');
          throw new Error(`chaos: publishers not confirming ${timeoutMs} ms after the hold`);
        }
        await sleep(50);
      }
    };

    log(`clients started (${cfg.publishers} publishers through the VIP and ${cfg.directPublishers} without a proxy, every ${cfg.intervalMs} ms; ${cfg.consumers} consumers; heartbeat ${cfg.heartbeatS} s)`);
    await settle();
    const plan: { f: ChaosFault; rep: number }[] = [];
    for (const overlap of [false, true]) {
      const reps = overlap ? cfg.overlapReps : cfg.reps;
      for (let rep = 1; rep <= reps; rep++) for (const f of faults.filter((x) => x.overlap === overlap)) plan.push({ f, rep });
    }
    for (const { f, rep } of plan) {
      await settle();
      await sleep(cfg.settleMs);
      log(`${f.name} (rep ${rep})`);
      ctx.brokerFaultAt = null;
      await f.prepare?.(ctx);
      const logOffsets = cluster.nodes.map((_, i) => logOffset(cluster, i));
      const t0 = Date.now();
      await f.inject(ctx);
      await waitRecovered(t0);
      const tRepair = Date.now();
      await f.repair(ctx);
      await settle();
      await sleep(cfg.settleMs);
      const tEnd = Date.now();
      records.poll();
      const ids = pubs.map((p) => p.id);
      const r: FaultRunResult = {
        fault: f.name,
        rep,
        t0,
        tRepair,
        tEnd,
        fault_outage: worstGap(records, ids, t0, tRepair, tEnd, true),
        repair_outage: worstGap(records, ids, tRepair, tEnd, tEnd, false),
        direct_outage: direct.length ? worstGap(records, direct.map((d) => d.id), t0, tRepair, tEnd, true) : null,
        electionMs: ctx.brokerFaultAt === null ? null : electionMs(cluster, queue, logOffsets, ctx.brokerFaultAt, tRepair),
        reconnects: connects(t0, tRepair),
        repairReconnects: connects(tRepair, tEnd),
      };
      runs.push(r);
      const slow = r.fault_outage.ms > f.targetMs || r.repair_outage.ms > TARGET_ALIVE_MS;
      if (o.trace === true || (o.trace === 'slow' && slow)) traceWindow(log, [...allPubs, ...cons], records, w.lab.dir, t0, tRepair, tEnd);
      log(
        `  outage ${r.fault_outage.ms} ms (${r.fault_outage.publisher}, from ${signed(r.fault_outage.atMs)} ms; ${r.reconnects} reconnects), ` +
          `${r.direct_outage ? `no proxy ${r.direct_outage.ms} ms (${r.direct_outage.publisher}), ` : ''}${r.electionMs !== null ? `queue without a leader for ${r.electionMs} ms, ` : ''}` +
          `at repair ${r.repair_outage.ms} ms (from ${signed(r.repair_outage.atMs)} ms; ${r.repairReconnects} reconnects), repair + settle took ${tEnd - tRepair - cfg.settleMs} ms`,
      );
    }

    // Drain: the publishers stop (waiting for their last confirms), then the consumers get until
    // every confirmed message is delivered (or 60 s without progress).
    log('draining');
    await Promise.all(allPubs.map(async (p) => (p.p!.kill('SIGTERM'), await p.p!.exited)));
    let lastProgress = Date.now();
    let seen = -1;
    for (;;) {
      records.poll();
      if (records.missing().length === 0) break;
      if (records.deliveries !== seen) {
        seen = records.deliveries;
        lastProgress = Date.now();
      }
      if (Date.now() - lastProgress > 60_000) break;
      await sleep(200);
    }
    await sleep(500); // a last redelivery or two
    await Promise.all(cons.map(async (c) => (c.p!.kill('SIGTERM'), await c.p!.exited)));
    records.poll();
  } finally {
    // The control publishers run outside the lab: the lab's teardown does not end them.
    await Promise.all(direct.map(async (d) => (d.p!.kill('SIGKILL'), await d.p!.exited)));
    await w.destroy();
    // Whatever happened, leave the cluster as it was: every node running and clustered.
    for (let i = 0; i < cluster.nodes.length; i++) if (nodePid(cluster, i) === null) await startNode(cluster, i).catch((e: Error) => log(`restarting ${names[i]}: ${e.message}`));
    await waitClusterRunning(cluster, 0, names, 120_000);
    await withAmqp(cluster, (ch) => ch.deleteQueue(queue).then(() => {})).catch((e: Error) => log(`deleting ${queue}: ${e.message}`));
  }

  const records = rec!;
  const stats = [...pubs, ...direct].map((p) => parseClientEvents(p.p!.lines()).filter((e) => e.ev === 'stats').at(-1));
  const lostIds = records.missing();
  const dupIds = [...records.delivered.values()].filter((n) => n > 1);
  const summaries: FaultSummary[] = faults.filter((f) => runs.some((r) => r.fault === f.name)).map((f) => {
    const rs = runs.filter((r) => r.fault === f.name);
    const outageMs = rs.map((r) => r.fault_outage.ms);
    const repairOutageMs = rs.map((r) => r.repair_outage.ms);
    const directMs = rs.flatMap((r) => (r.direct_outage ? [r.direct_outage.ms] : []));
    const electionsMs = rs.flatMap((r) => (r.electionMs !== null ? [r.electionMs] : []));
    return {
      fault: f.name,
      overlap: f.overlap,
      runs: rs.length,
      targetMs: f.targetMs,
      targetWhy: f.targetWhy,
      outageMs,
      repairOutageMs,
      outage: triple(outageMs),
      repairOutage: triple(repairOutageMs),
      directOutage: directMs.length ? triple(directMs) : null,
      election: electionsMs.length ? triple(electionsMs) : null,
      pass: rs.length > 0 && Math.max(...outageMs) <= f.targetMs,
      repairPass: rs.length > 0 && Math.max(...repairOutageMs) <= TARGET_ALIVE_MS,
    };
  });
  return {
    config: {
      publishers: cfg.publishers,
      directPublishers: cfg.directPublishers,
      consumers: cfg.consumers,
      intervalMs: cfg.intervalMs,
      heartbeatS: cfg.heartbeatS,
      connectTimeoutMs: cfg.connectTimeoutMs,
      confirmTimeoutMs: cfg.confirmTimeoutMs,
      advertInt: cfg.advertInt,
      proxyChecks: 'amqp-check (guest login), inter 500ms fastinter 100ms rise 2 fall 2',
      vrrpTracker: 'chk_proxy: the local proxy /healthz every 0.1 s, timeout 0.5 s, fall 1 rise 2, weight -60',
      reps: cfg.reps,
      overlapReps: cfg.overlapReps,
      holdMs: cfg.holdMs,
      settleMs: cfg.settleMs,
      queue,
    },
    runs,
    faults: summaries,
    totals: {
      published: [...pubs, ...direct].reduce((n, p) => n + maxSeq(records, p.id), 0),
      publishAttempts: stats.reduce((n, s) => n + (s?.published ?? 0), 0),
      republished: stats.reduce((n, s) => n + Number(s?.['republished'] ?? 0), 0),
      confirmed: records.confirmedIds.size,
      consumed: records.deliveries,
      consumedDistinct: records.delivered.size,
      redelivered: records.redelivered,
      lost: lostIds.length,
      lostIds: lostIds.slice(0, 100),
      duplicates: dupIds.length,
      duplicateDeliveries: dupIds.reduce((n, k) => n + k - 1, 0),
    },
    durationMs: Date.now() - started,
  };
}

/** Every client event from t0 - 200 ms to tEnd, and each publisher's longest gap in the fault
 *  window and in the repair window, relative to t0. */
function traceWindow(log: (msg: string) => void, clients: { id: string; p: LabProcess | null }[], rec: Records, dir: string, t0: number, tRepair: number, tEnd: number): void {
  const rows: { t: number; line: string }[] = [{ t: tRepair, line: 'repair starts' }];
  // The vrrp daemons' own story (every incarnation appends to the same file).
  for (const h of ['lbA', 'lbB']) {
    let text = '';
    try {
      text = fs.readFileSync(path.join(dir, `${h}-vrrp.log`), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const { time, msg, level: _l, pid: _p, name: _n, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const t = Date.parse(String(time));
        if (t >= t0 - 200 && t < tEnd) rows.push({ t, line: `${h} vrrp: ${String(msg)} ${JSON.stringify(rest)}` });
      } catch {
        /* not a log record */
      }
    }
  }
  for (const c of clients) {
    for (const e of parseClientEvents(c.p!.lines())) {
      if (e.t < t0 - 200 || e.t >= tEnd || e.ev === 'stats' || e.ev === 'first-confirm') continue;
      const { t, ev, ...rest } = e;
      rows.push({ t, line: `${c.id} ${ev} ${JSON.stringify(rest)}` });
    }
    const times = rec.confirms.get(c.id);
    if (!times) continue;
    for (const [s, e, straddle, what] of [[t0, tRepair, true, 'fault'], [tRepair, tEnd, false, 'repair']] as const) {
      const g = longestGap(times, s, e, tEnd, straddle);
      rows.push({ t: g.start, line: `${c.id} longest ${what}-window gap: ${g.ms} ms from here` });
    }
  }
  rows.sort((a, b) => a.t - b.t);
  for (const r of rows) log(`    ${signed(r.t - t0)} ms ${r.line}`);
}

/** Distinct messages a publisher created: its highest sequence number seen (confirmed or delivered). */
function maxSeq(rec: Records, pub: string): number {
  let max = 0;
  const scan = (id: string): void => {
    if (id.slice(0, id.lastIndexOf('-')) === pub) max = Math.max(max, Number(id.slice(id.lastIndexOf('-') + 1)));
  };
  for (const id of rec.confirmedIds) scan(id);
  for (const id of rec.delivered.keys()) scan(id);
  return max;
}

/** A channel on the first running node, straight from the root namespace (not through the lab). */
async function withAmqp<T>(cluster: ClusterInfo, fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
  const i = cluster.nodes.findIndex((_, k) => nodePid(cluster, k) !== null);
  const c = await amqp.connect(amqpUrl(cluster, Math.max(0, i)));
  try {
    return await fn(await c.createChannel());
  } finally {
    await c.close().catch(() => {});
  }
}

/**
 * How long `queue` had no leader after a fault took its leader's broker away, from the brokers'
 * logs (read from `offsets`): from the first "Leader monitor down" line of the queue at or after
 * `faultAt` (a follower saw the leader go: ~15 ms after a kill -9; after a graceful stop, only
 * once the broker stops its queues, seconds later) to the first "candidate -> leader" after that,
 * before `until`. Null when the logs have no such pair.
 */
function electionMs(cluster: ClusterInfo, queue: string, offsets: number[], faultAt: number, until: number): number | null {
  const down: number[] = [];
  const elected: number[] = [];
  cluster.nodes.forEach((_, i) => {
    for (const line of logSince(cluster, i, offsets[i]!).split('\n')) {
      if (!line.includes(`queue '${queue}'`)) continue;
      const list = line.includes('Leader monitor down') ? down : line.includes('candidate -> leader') ? elected : null;
      if (!list) continue;
      // 2026-11-21 14:40:23.484130+00:00 [notice] <0.1699.0> queue 'q' in vhost '/': candidate -> leader in term: 2 ...
      const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\d*([+-]\d\d:\d\d)/.exec(line);
      const t = m ? Date.parse(`${m[1]}T${m[2]}${m[3]}`) : NaN;
      if (t >= faultAt && t < until) list.push(t);
    }
  });
  const from = Math.min(...down);
  const to = Math.min(...elected.filter((t) => t >= from));
  return Number.isFinite(from) && Number.isFinite(to) ? to - from : null;
}

/** The queue as the brokers see it and each client's last events, for a BrokerStallError. */
async function stallReport(cluster: ClusterInfo, queue: string, clients: { id: string; p: LabProcess | null }[]): Promise<string> {
  const lines: string[] = [];
  const i = cluster.nodes.findIndex((_, k) => nodePid(cluster, k) !== null);
  for (const args of [
    ['list_queues', 'name', 'type', 'leader', 'members', 'online', 'messages', '--formatter', 'json'],
    ['eval', `rabbit_quorum_queue:status(<<"/">>, <<"${queue}">>).`],
  ]) {
    const out = await rabbitmqctl(cluster, Math.max(0, i), args, { timeoutMs: 30_000 }).catch((e: Error) => `(${e.message})`);
    lines.push(`rabbitmqctl ${args[0]}: ${out.trim().slice(0, 4000)}`);
  }
  for (const c of clients) {
    const events = parseClientEvents(c.p!.lines()).filter((e) => e.ev !== 'stats' && e.ev !== 'first-confirm').slice(-8);
    lines.push(`${c.id}: ${events.map((e) => `${e.t} ${e.ev} ${JSON.stringify({ ...e, t: undefined, ev: undefined })}`).join(' | ')}`);
  }
  return lines.join('\n');
}

/** The index of the node whose member of `queue` is the Raft leader (asked of a running node). */
async function queueLeader(cluster: ClusterInfo, queue: string): Promise<number> {
  const i = cluster.nodes.findIndex((_, k) => nodePid(cluster, k) !== null);
  const out = await rabbitmqctl(cluster, Math.max(0, i), ['list_queues', 'name', 'leader', '--formatter', 'json'], { timeoutMs: 30_000 });
  const rows = JSON.parse(out) as { name: string; leader: string }[];
  const leader = rows.find((r) => r.name === queue)?.leader;
  const idx = cluster.nodes.findIndex((n) => n.name === leader);
  if (idx < 0) throw new Error(`chaos: no leader for ${queue} in ${out.trim()}`);
  return idx;
}

// ---- the report ---------------------------------------------------------------------------------

export function chaosMarkdown(r: ChaosReport): string {
  const c = r.config;
  const f3 = (t: [number, number, number]): string => t.map((x) => (Number.isFinite(x) ? String(Math.round(x)) : 'n/a')).join(' / ');
  const header = ['fault', 'runs', 'outage ms (min / median / max)', 'target ms', 'pass', 'no proxy, ms', 'queue without a leader, ms', 'at repair, ms (min / median / max)', 'repair ≤ 500'];
  const rows = r.faults.map((f) => [
    f.fault,
    String(f.runs),
    f3(f.outage),
    `${f.targetMs} (${f.targetWhy})`,
    f.pass ? 'pass' : 'FAIL',
    f.directOutage ? f3(f.directOutage) : '—',
    f.election ? f3(f.election) : '—',
    f3(f.repairOutage),
    f.repairPass ? 'pass' : 'FAIL',
  ]);
  const t = r.totals;
  return [
    `chaos run: ${c.publishers} publishers through the VIP and ${c.directPublishers} without a proxy (confirms, one message per ${c.intervalMs} ms each), ${c.consumers} consumers (manual acks), quorum queue; ` +
      `client heartbeat ${c.heartbeatS} s, connect timeout ${c.connectTimeoutMs} ms, confirm timeout ${c.confirmTimeoutMs} ms; advert_int ${c.advertInt} s; proxy checks: ${c.proxyChecks}; vrrp tracker: ${c.vrrpTracker}; ` +
      `${c.reps} rep(s) per fault, ${c.overlapReps} per overlap; hold ${c.holdMs} ms; ${Math.round(r.durationMs / 1000)} s in all`,
    '',
    'outage = the longest gap between two consecutive confirms of one publisher (max over the publishers through the VIP) in the fault window (injection → repair); ' +
      '"no proxy" = the same for the control publishers that connect straight to the brokers (every broker\'s address, round robin); ' +
      '"queue without a leader" = how long the queue had no leader, from the broker logs: from a follower\'s "Leader monitor down" to the first "candidate -> leader"; ' +
      '"at repair" = the outage from the repair to the settled end',
    '',
    markdownTable(header, rows),
    '',
    `totals: published ${t.published} (publish attempts ${t.publishAttempts}, republished ${t.republished}), confirmed ${t.confirmed}, consumed ${t.consumed} (distinct ${t.consumedDistinct}, redelivered ${t.redelivered}), ` +
      `confirmed-but-lost ${t.lost}, duplicates ${t.duplicates} ids (${t.duplicateDeliveries} extra deliveries)`,
  ].join('\n');
}
