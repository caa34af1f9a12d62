// The VIP driver (src/vrrp/vip.ts) against the real kernel, iproute2 and iputils arping, in two
// network namespaces joined by a veth pair (nothing touches the root namespace):
//
//   wvip<pid>a  "lb": eth0 198.51.100.11/24  <-- veth -->  wvip<pid>c  "client": eth0 198.51.100.50/24
//
// The driver runs in a child node process started with `ip netns exec wvip<pid>a`, so its `ip`
// and `arping` act on the lb namespace exactly as the daemon's would on a host; the test talks to
// it over stdin/stdout (one JSON line per call). tcpdump in the client namespace records every
// gratuitous ARP with its kernel timestamp, and the client's neighbour table shows their effect.
//
// Leftover namespaces of earlier runs (wvip<pid>a/c whose pid is gone) are deleted first.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { GarpConfig, VirtualIpConfig } from '../../src/config/vrrp-types.js';
import { unresolvedNeighbours, vipLabel } from '../../src/vrrp/vip.js';

const NS_A = `wvip${process.pid}a`;
const NS_C = `wvip${process.pid}c`;
const LB_IP = '198.51.100.11';
const CLIENT_IP = '198.51.100.50';
const VIP = '198.51.100.100';
const VIP2 = '198.51.100.101';
const FAKE_MAC = '02:00:00:00:00:99';
const LONG_DEV = 'vethlongname00'; // 14 characters: "vethlongname00:vip" does not fit in 15

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (network namespaces)';

// ---- small helpers ----------------------------------------------------------------------------

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function netnsList(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

/** Namespaces of earlier runs of this test whose process no longer exists. */
async function removeLeftovers(): Promise<void> {
  for (const ns of await netnsList()) {
    const m = /^wvip(\d+)[ac]$/.exec(ns);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  label?: string;
}

async function addrs(ns: string, dev: string): Promise<AddrInfo[]> {
  const links = JSON.parse(await sh('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', dev])) as { addr_info: AddrInfo[] }[];
  return links.flatMap((l) => l.addr_info).filter((a) => a.family === 'inet');
}

async function mac(ns: string, dev: string): Promise<string> {
  const links = JSON.parse(await sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev])) as { address: string }[];
  return links[0]!.address;
}

async function neighMac(ns: string, ip: string): Promise<string | null> {
  const entries = JSON.parse(await sh('ip', ['-n', ns, '-j', 'neigh', 'show', ip, 'dev', 'eth0'])) as { lladdr?: string }[];
  return entries[0]?.lladdr ?? null;
}

function vip(address: string, prefix: number, dev = 'eth0', label: string | null = null): VirtualIpConfig {
  return { text: `${address}/${prefix} dev ${dev}${label ? ` label ${label}` : ''}`, address, prefix, family: 4, dev, label, brd: null, scope: null };
}

function garpCfg(g: Partial<GarpConfig>): GarpConfig {
  return { masterDelay: 0, masterRepeat: 5, masterRefresh: 0, masterRefreshRepeat: 1, ...g };
}

// ---- the driver in the lb namespace -----------------------------------------------------------

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
  held?: boolean;
  /** Wall clock (ms, sub-ms precision) when the call started and when it settled, in the child. */
  t0: number;
  t1: number;
}

const CHILD = `
import { createInterface } from 'node:readline';
const { VipDriver } = await import(process.env.WVIP_VIP_MODULE);
const { createLogger } = await import(process.env.WVIP_LOG_MODULE);
const log = createLogger('vrrp', process.stderr);
const drivers = new Map();
const now = () => performance.timeOrigin + performance.now();
const reply = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, driver, op, opts } = JSON.parse(line);
  const t0 = now();
  try {
    let value;
    if (op === 'init') drivers.set(driver, new VipDriver({ ...opts, log: log.child({ driver }) }));
    else if (op === 'held') value = drivers.get(driver).held;
    else if (op === 'close') drivers.get(driver).close();
    else value = await drivers.get(driver)[op]();
    reply({ id, ok: true, value, t0, t1: now(), held: drivers.get(driver).held });
  } catch (err) {
    reply({ id, ok: false, error: String(err && err.message ? err.message : err), t0, t1: now(), held: drivers.get(driver)?.held });
  }
});
process.stdin.on('end', () => process.exit(0));
`;

class DriverHost {
  readonly logs: string[] = [];
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();

  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', CHILD], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        WARREN_LOG_LEVEL: 'debug',
        WVIP_VIP_MODULE: new URL('../../src/vrrp/vip.js', import.meta.url).href,
        WVIP_LOG_MODULE: new URL('../../src/lib/log.js', import.meta.url).href,
      },
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.logs.push(line));
  }

  call(driver: string, op: string, opts?: object): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`driver ${driver}.${op}() did not answer in 15 s; logs:\n${this.logs.join('\n')}`)), 15_000);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.stdin!.write(`${JSON.stringify({ id, driver, op, opts })}\n`);
    });
  }

  /** Resolves the call's reply, or throws with the driver's error and logs. */
  async ok(driver: string, op: string, opts?: object): Promise<Reply> {
    const r = await this.call(driver, op, opts);
    if (!r.ok) throw new Error(`${driver}.${op}() failed: ${r.error}\nlogs:\n${this.logs.slice(-20).join('\n')}`);
    return r;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.stdin!.end();
    const exited = once(this.child, 'exit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

// ---- gratuitous ARPs seen by the client -------------------------------------------------------

interface Garp {
  /** Kernel timestamp, wall-clock ms. */
  ts: number;
  srcMac: string;
  ip: string;
}

class ArpCapture {
  readonly garps: Garp[] = [];
  private readonly proc: ChildProcess;

  private constructor(ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', 'eth0', '-n', '-e', '-l', '-tt', '--immediate-mode', 'arp'], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      // 1795253232.064266 82:61:fa:8a:6b:f5 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 198.51.100.100 (ff:ff:ff:ff:ff:ff) tell 198.51.100.100, length 28
      const m = /^(\d+\.\d+) (\S+) > \S+, .*Request who-has (\S+) (?:\(\S+\) )?tell (\S+),/.exec(line);
      if (m && m[3] === m[4]) this.garps.push({ ts: Number(m[1]) * 1000, srcMac: m[2]!, ip: m[3]! });
    });
  }

  static async start(ns: string): Promise<ArpCapture> {
    const cap = new ArpCapture(ns);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('tcpdump did not start listening in 10 s')), 10_000);
      createInterface({ input: cap.proc.stderr! }).on('line', (line) => {
        if (/listening on/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      cap.proc.once('exit', (code) => reject(new Error(`tcpdump exited (${code})`)));
    });
    return cap;
  }

  between(from: number, to = Infinity, ip = VIP): Garp[] {
    return this.garps.filter((g) => g.ip === ip && g.ts >= from && g.ts < to);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.kill('SIGTERM');
    await exited;
  }
}

/** GARPs grouped into bursts: a new burst starts after a gap of more than `gap` ms. */
function bursts(garps: Garp[], gap = 120): Garp[][] {
  const out: Garp[][] = [];
  for (const g of [...garps].sort((a, b) => a.ts - b.ts)) {
    const last = out.at(-1);
    if (last && g.ts - last.at(-1)!.ts <= gap) last.push(g);
    else out.push([g]);
  }
  return out;
}

async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ---- the lab ----------------------------------------------------------------------------------

let host: DriverHost;
let cap: ArpCapture;
let lbMac: string;

before(async () => {
  if (!isRoot) return;
  await removeLeftovers();
  await sh('ip', ['netns', 'add', NS_A]);
  await sh('ip', ['netns', 'add', NS_C]);
  // Both ends are created inside the namespaces: the root namespace never sees them.
  await sh('ip', ['-n', NS_A, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS_C]);
  await sh('ip', ['-n', NS_A, 'link', 'add', LONG_DEV, 'type', 'veth', 'peer', 'name', 'wvippeer0']);
  await sh('ip', ['-n', NS_A, 'link', 'set', 'wvippeer0', 'up']);
  await sh('ip', ['-n', NS_A, 'addr', 'add', `${LB_IP}/24`, 'dev', 'eth0']);
  await sh('ip', ['-n', NS_C, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
  for (const [ns, dev] of [[NS_A, 'lo'], [NS_A, 'eth0'], [NS_A, LONG_DEV], [NS_C, 'lo'], [NS_C, 'eth0']] as const) {
    await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  lbMac = await mac(NS_A, 'eth0');
  cap = await ArpCapture.start(NS_C);
  host = new DriverHost(NS_A);
});

after(async () => {
  if (!isRoot) return;
  await host?.stop().catch(() => undefined);
  await cap?.stop().catch(() => undefined);
  for (const ns of [NS_A, NS_C]) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
});

// ---- tests ------------------------------------------------------------------------------------

test('label: configured, else <dev>:vip when it fits in 15 characters, else none', () => {
  assert.equal(vipLabel(vip(VIP, 24, 'eth0')), 'eth0:vip');
  assert.equal(vipLabel(vip(VIP, 24, 'eth0', 'eth0:lb')), 'eth0:lb');
  assert.equal(vipLabel(vip(VIP, 24, 'enp0s31f6x1')), 'enp0s31f6x1:vip'); // 15: fits
  assert.equal(vipLabel(vip(VIP, 24, 'enp0s31f6x12')), null); // 16: does not
  assert.equal(vipLabel({ ...vip('2001:db8::1', 64), family: 6 }), null);
});

test('add: VIP on eth0 labelled eth0:vip, first GARP within ms, client neighbour updated, second burst after masterDelay, refresh; remove stops it', { skip }, async (t) => {
  // A stale entry the client must forget: arp_accept (0 here) only governs *creating* entries
  // from gratuitous ARP; an existing one is overridden by a GARP even inside locktime.
  await sh('ip', ['-n', NS_C, 'neigh', 'replace', VIP, 'lladdr', FAKE_MAC, 'dev', 'eth0', 'nud', 'stale']);
  assert.equal(await neighMac(NS_C, VIP), FAKE_MAC);

  const garp = garpCfg({ masterDelay: 300, masterRepeat: 3, masterRefresh: 800, masterRefreshRepeat: 2 });
  await host.ok('main', 'init', { instance: 'VI_1', vips: [vip(VIP, 24)], garp });
  const added = await host.ok('main', 'add');
  assert.equal(added.held, true);

  const updatedAt = await waitFor('the client to learn the VIP from the GARP', async () => ((await neighMac(NS_C, VIP)) === lbMac ? Date.now() : null));
  const onA = (await addrs(NS_A, 'eth0')).filter((a) => a.local === VIP);
  assert.deepEqual(onA.map((a) => [a.prefixlen, a.label]), [[24, 'eth0:vip']]);
  assert.ok((await addrs(NS_A, 'eth0')).some((a) => a.local === LB_IP), "the host's own address is still there");

  // Bursts expected at 0 (3), 300 (3), 800 (2), 1600 (2) ms.
  await sleep(added.t0 + 1900 - Date.now());
  const seen = cap.between(added.t0 - 50);
  assert.ok(seen.every((g) => g.srcMac === lbMac), 'every GARP comes from the lb MAC');
  const b = bursts(seen);
  const offsets = b.map((x) => Math.round(x[0]!.ts - added.t0));
  t.diagnostic(`bursts at ${offsets.join(', ')} ms after add() with ${b.map((x) => x.length).join(', ')} GARPs`);
  assert.deepEqual(b.map((x) => x.length), [3, 3, 2, 2], `bursts at ${offsets.join(', ')} ms`);
  const firstGarp = seen[0]!.ts - added.t0;
  const burstSpread = b[0]!.at(-1)!.ts - b[0]![0]!.ts;
  assert.ok(firstGarp >= 0 && firstGarp < 100, `first GARP ${firstGarp.toFixed(1)} ms after add()`);
  assert.ok(burstSpread < 50, `first burst spread over ${burstSpread.toFixed(1)} ms`);
  for (const [i, expected] of [[1, 300], [2, 800], [3, 1600]] as const) {
    assert.ok(offsets[i]! >= expected - 5 && offsets[i]! < expected + 250, `burst ${i} at ${offsets[i]} ms, expected ~${expected}`);
  }

  const removed = await host.ok('main', 'remove');
  assert.equal(removed.held, false);
  assert.ok(!(await addrs(NS_A, 'eth0')).some((a) => a.local === VIP), 'VIP deleted');
  assert.ok((await addrs(NS_A, 'eth0')).some((a) => a.local === LB_IP), "the host's own address stays");
  await sleep(1000); // longer than the refresh period: nothing more may be sent
  assert.equal(cap.between(removed.t0).length, 0, 'no GARP after remove()');
  const again = await host.ok('main', 'remove');
  assert.equal(again.held, false, 'removing an absent VIP is fine');

  t.diagnostic(
    `add(): first GARP on the wire ${firstGarp.toFixed(1)} ms after the call, burst of 3 within ${burstSpread.toFixed(1)} ms, ` +
      `add() resolved after ${(added.t1 - added.t0).toFixed(1)} ms, client neighbour updated ${(updatedAt - added.t0).toFixed(0)} ms after the call (polling); ` +
      `remove() ${(removed.t1 - removed.t0).toFixed(1)} ms, remove() of an absent VIP ${(again.t1 - again.t0).toFixed(1)} ms`,
  );
  await host.ok('main', 'close');
});

test('add twice is idempotent; garp() sends one burst; masterDelay 0 means no second burst', { skip }, async (t) => {
  await host.ok('idem', 'init', { instance: 'VI_2', vips: [vip(VIP, 24)], garp: garpCfg({ masterRepeat: 4 }) });
  const first = await host.ok('idem', 'add');
  const second = await host.ok('idem', 'add');
  assert.equal(second.held, true);
  assert.equal((await addrs(NS_A, 'eth0')).filter((a) => a.local === VIP).length, 1, 'one address');
  await sleep(400);
  assert.equal(cap.between(first.t0, second.t0).length, 4, 'first add(): one burst');
  assert.equal(cap.between(second.t0).length, 4, 'second add(): one burst, nothing after (masterDelay 0)');

  const g = await host.ok('idem', 'garp');
  await sleep(150);
  const burst = cap.between(g.t0);
  assert.equal(burst.length, 4, 'garp(): one burst of masterRepeat');
  t.diagnostic(`second add() took ${(second.t1 - second.t0).toFixed(1)} ms; garp(): first GARP ${(burst[0]!.ts - g.t0).toFixed(1)} ms after the call, resolved after ${(g.t1 - g.t0).toFixed(1)} ms`);

  await host.ok('idem', 'remove');
  const g2 = await host.ok('idem', 'garp');
  await sleep(150);
  assert.equal(cap.between(g2.t0).length, 0, 'garp() when not held sends nothing');
  await host.ok('idem', 'close');
});

test('add deletes the unresolved neighbour entries on the VIP device first, and keeps the resolved ones', { skip }, async (t) => {
  const SILENT = '198.51.100.60'; // nobody: an ARP for it goes unanswered
  /** A TCP connect from the lb namespace, given up after 300 ms (bash's /dev/tcp). */
  const connectFromLb = (ip: string): Promise<unknown> =>
    sh('ip', ['netns', 'exec', NS_A, 'timeout', '0.3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/9`]).catch(() => undefined);
  const neigh = async (ip: string): Promise<string[] | null> => {
    const e = JSON.parse(await sh('ip', ['-n', NS_A, '-j', 'neigh', 'show', ip, 'dev', 'eth0'])) as { state?: string[] }[];
    return e[0]?.state ?? null;
  };
  // The client answers (its entry resolves: a refused connect); the silent one leaves an
  // INCOMPLETE entry that the kernel re-probes once a second for 3 s: as after a link outage.
  await connectFromLb(CLIENT_IP);
  await connectFromLb(SILENT);
  assert.deepEqual(await neigh(SILENT), ['INCOMPLETE']);
  const clientState = await neigh(CLIENT_IP);
  assert.ok(clientState !== null && !clientState.includes('INCOMPLETE') && !clientState.includes('FAILED'), `client entry ${clientState}`);

  await host.ok('neigh', 'init', { instance: 'VI_6', vips: [vip(VIP, 24)], garp: garpCfg({ masterRepeat: 1 }) });
  const r = await host.ok('neigh', 'add');
  assert.equal(await neigh(SILENT), null, 'the unresolved entry is gone when add() resolves');
  assert.notEqual(await neigh(CLIENT_IP), null, 'the resolved client entry is kept');
  assert.ok(
    host.logs.some((l) => /deleted 1 unresolved neighbour entry on eth0/.test(l) && l.includes(SILENT)),
    `log line; logs:\n${host.logs.slice(-5).join('\n')}`,
  );
  t.diagnostic(`add() with one unresolved neighbour: ${(r.t1 - r.t0).toFixed(1)} ms`);
  await host.ok('neigh', 'remove');
  await host.ok('neigh', 'close');
});

test('unresolvedNeighbours: the entries of /proc/net/arp without a hardware address, on the given devices', () => {
  const procNetArp = [
    'IP address       HW type     Flags       HW address            Mask     Device',
    '198.51.100.60    0x1         0x0         00:00:00:00:00:00     *        eth0',
    '198.51.100.50    0x1         0x2         02:00:c6:33:64:32     *        eth0',
    '198.51.100.61    0x1         0x0         00:00:00:00:00:00     *        eth1',
    '198.51.100.62    0x1         0x6         02:00:00:00:00:01     *        eth0',
    '198.51.100.63    0x1         0x0         00:00:00:00:00:00     *        eth0',
    '',
  ].join('\n');
  assert.deepEqual([...unresolvedNeighbours(procNetArp, new Set(['eth0']))], [['eth0', ['198.51.100.60', '198.51.100.63']]]);
  assert.deepEqual([...unresolvedNeighbours(procNetArp, new Set(['eth2']))], []);
});

test('removeStale removes a VIP left by a crash, leaves foreign addresses, returns what it removed', { skip }, async (t) => {
  // The "crashed" previous run: our VIP with our label is still on eth0.
  await sh('ip', ['-n', NS_A, 'addr', 'add', `${VIP}/24`, 'dev', 'eth0', 'label', 'eth0:vip']);
  // The same address as VIP2's, but without our label: the host's own, not ours.
  await sh('ip', ['-n', NS_A, 'addr', 'add', `${VIP2}/24`, 'dev', 'eth0']);
  await host.ok('stale', 'init', { instance: 'VI_3', vips: [vip(VIP, 24), vip(VIP2, 24)], garp: garpCfg({}) });
  const r = await host.ok('stale', 'removeStale');
  assert.deepEqual(r.value, [VIP]);
  const left = (await addrs(NS_A, 'eth0')).map((a) => a.local);
  assert.ok(!left.includes(VIP), 'stale VIP removed');
  assert.ok(left.includes(VIP2), 'unlabelled address left in place');
  assert.ok(left.includes(LB_IP), "host's own address untouched");
  assert.equal(r.held, false);
  const none = await host.ok('stale', 'removeStale');
  assert.deepEqual(none.value, []);
  t.diagnostic(`removeStale() with one stale VIP: ${(r.t1 - r.t0).toFixed(1)} ms; with none: ${(none.t1 - none.t0).toFixed(1)} ms`);
  await sh('ip', ['-n', NS_A, 'addr', 'del', `${VIP2}/24`, 'dev', 'eth0']);
  await host.ok('stale', 'close');
});

test('a device too long for <dev>:vip gets no label; a /32 works', { skip }, async () => {
  await host.ok('long', 'init', { instance: 'VI_4', vips: [vip(VIP2, 32, LONG_DEV)], garp: garpCfg({ masterRepeat: 1 }) });
  await host.ok('long', 'add');
  const a = (await addrs(NS_A, LONG_DEV)).filter((x) => x.local === VIP2);
  assert.deepEqual(a.map((x) => [x.prefixlen, x.label]), [[32, LONG_DEV]], 'no label of ours (ip shows the device name)');
  await host.ok('long', 'remove');
  assert.equal((await addrs(NS_A, LONG_DEV)).filter((x) => x.local === VIP2).length, 0);
  await host.ok('long', 'close');
});

test('a bad device gives a clear error and no crash; a good VIP next to it is still added and removed', { skip }, async () => {
  await host.ok('bad', 'init', { instance: 'VI_5', vips: [vip(VIP, 24, 'nosuch0')], garp: garpCfg({}) });
  const r = await host.call('bad', 'add');
  assert.equal(r.ok, false);
  assert.match(r.error!, /VI_5/);
  assert.match(r.error!, /198\.51\.100\.100\/24 on nosuch0/);
  assert.match(r.error!, /ip addr add 198\.51\.100\.100\/24 dev nosuch0 label nosuch0:vip: Cannot find device "nosuch0"/);
  assert.equal(r.held, false);
  assert.ok(host.logs.some((l) => /"level":50/.test(l) && /"stderr":"Cannot find device \\"nosuch0\\""/.test(l) && /"cmd":"ip addr add/.test(l)), 'error logged with command and stderr');
  assert.deepEqual((await host.ok('bad', 'removeStale')).value, [], 'a missing device has nothing stale');
  await host.ok('bad', 'remove'); // absent, device missing: nothing to delete
  await host.ok('bad', 'garp'); // not held: nothing to send

  await host.ok('mixed', 'init', { instance: 'VI_6', vips: [vip(VIP, 24), vip(VIP2, 24, 'nosuch0')], garp: garpCfg({ masterRepeat: 1 }) });
  const m = await host.call('mixed', 'add');
  assert.equal(m.ok, false);
  assert.match(m.error!, /198\.51\.100\.101\/24 on nosuch0/);
  assert.equal(m.held, true, 'the good VIP is held, so that remove() cleans it');
  assert.ok((await addrs(NS_A, 'eth0')).some((a) => a.local === VIP));
  await host.ok('mixed', 'remove');
  assert.ok(!(await addrs(NS_A, 'eth0')).some((a) => a.local === VIP));
  assert.ok(host.alive, 'the driver process is still running');
  await host.ok('mixed', 'close');
  await host.ok('bad', 'close');
});

test('a missing ip or arping program is reported, not thrown', { skip }, async () => {
  await host.ok('noip', 'init', { instance: 'VI_7', vips: [vip(VIP, 24)], garp: garpCfg({}), ipCommand: '/nonexistent/ip' });
  const r = await host.call('noip', 'add');
  assert.equal(r.ok, false);
  assert.match(r.error!, /\/nonexistent\/ip not found/);

  // Without arping the VIP is still taken (GARP failure is logged); garp() itself rejects.
  await host.ok('noarp', 'init', { instance: 'VI_8', vips: [vip(VIP, 24)], garp: garpCfg({ masterRepeat: 1 }), arpingCommand: '/nonexistent/arping' });
  const a = await host.ok('noarp', 'add');
  assert.equal(a.held, true);
  assert.ok(host.logs.some((l) => /cannot send gratuitous ARP \(master\) for VIP 198\.51\.100\.100\/24 on eth0.*\/nonexistent\/arping not found/.test(l)));
  const g = await host.call('noarp', 'garp');
  assert.equal(g.ok, false);
  assert.match(g.error!, /\/nonexistent\/arping not found/);
  await host.ok('noarp', 'remove');
  await host.ok('noarp', 'close');
  await host.ok('noip', 'close');
});
