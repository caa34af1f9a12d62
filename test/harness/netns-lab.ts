// Test harness: a two-host lab for the VRRP end-to-end tests and benchmarks, built from network
// namespaces on this machine. Nothing is ever added to the ROOT namespace (its eth0 is a real
// network): every veth is created directly inside the lab namespaces, and the bridge lives in its
// own namespace.
//
//        ns lbA                      ns sw                       ns lbB
//   eth0 198.51.100.11/24 ── veth ── [lbA]                [lbB] ── veth ── eth0 198.51.100.12/24
//   02:00:c6:33:64:0b                  \──── br0 (up) ────/                02:00:c6:33:64:0c
//                                               |
//                                            [client] ── veth ── eth0 198.51.100.50/24   ns client
//                                                                02:00:c6:33:64:32
//   VIP 198.51.100.100 (added by the VRRP daemon under test on lbA's or lbB's eth0)
//
// - `lo` is up in every namespace (the proxies' health endpoints and the vrrp status API listen on
//   127.0.0.1 inside each lb).
// - br0: STP off, forward_delay 0 (ports forward as soon as they are up), multicast_snooping 0 (so
//   multicast is always flooded; 224.0.0.18 is link-local and flooded anyway, this is belt and
//   braces). createLab() checks that a UDP datagram to 224.0.0.18 sent in lbA arrives in lbB.
// - Every lab host has a route `224.0.0.0/4 dev eth0`: a real host sends multicast out of the
//   interface of its default route; the lab hosts have no default route, and without this a
//   sender that does not set IP_MULTICAST_IF would get ENETUNREACH.
// - Brokers: RabbitMQ nodes listen on 127.0.0.1:<port> in the ROOT namespace. Unix sockets are not
//   network-namespaced, so a relay needs no root-namespace address:
//     root ns:   socat UNIX-LISTEN:DIR/broker-<port>.sock,fork,unlink-early TCP:127.0.0.1:<port>
//     lbA, lbB:  socat TCP-LISTEN:<port>,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:DIR/broker-<port>.sock
//   so inside each lb, 127.0.0.1:<port> reaches the broker. LIMITATION: the lab-side socat
//   completes the TCP handshake before the broker is tried, so a stopped broker shows up inside the
//   lab as "connection accepted, then closed at once" (within a few ms), never as a refused
//   connect. A plain `tcp` health check therefore sees a stopped broker as UP; the lab configs
//   should use an `amqp` check (or an http check of a relayed management port).
//
// Sysctls (per namespace; a fresh namespace starts from the kernel defaults, not the root's):
// - all lab namespaces: net.ipv6.conf.{all,default}.disable_ipv6=1. The lab is IPv4 only
//   (198.51.100.0/24); this removes link-local addresses, DAD, MLD and router solicitations, so
//   captures and `ip addr` stay quiet and deterministic.
// - lbA, lbB: net.ipv4.ip_nonlocal_bind=1, as in the classic HAProxy+Keepalived setup: it lets a
//   proxy config bind the VIP itself (`bind: 198.51.100.100:5672`) on the host that does not hold
//   it yet. Configs binding 0.0.0.0 do not need it.
// - arp_ignore / arp_announce stay at their defaults (0): each lb has one interface, so
//   answering ARP for any local address on it (arp_ignore=0) is exactly right for the VIP, and
//   ARP requests sourced from the VIP while it is held (arp_announce=0) point the peer at the
//   holder, which is correct.
// - client: nothing. With the default arp_accept=0 the kernel does not CREATE a neighbour entry
//   from a gratuitous ARP, but it does UPDATE an existing one, and (since Linux 4.14, commit
//   "arp: always override existing neigh entries with gratuitous ARP") regardless of locktime.
//   The client talks to the VIP before any failover, so its entry exists; the integration test
//   checks that a GARP from the new holder re-points it at once.
//
// linkDown(host) "pulls the cable": it sets the switch-side veth of that host down in ns sw, so
// the host's eth0 loses carrier (NO-CARRIER, operstate DOWN) while staying administratively UP
// with its addresses; the bridge flushes the port's FDB entries. linkUp() plugs it back in.
//
// Crashes: every lab writes a registry file (os.tmpdir()/warren-netns-labs/<id>.json) with its
// owner pid, namespaces, temp dir and root-namespace relay pids. createLab() first removes the
// leftovers (processes, namespaces, owned dir) of earlier labs of the same prefix whose owner
// process is dead, also for namespaces named like a lab of the prefix that have no registry.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export type LbHost = 'lbA' | 'lbB';
export type LabHost = LbHost | 'client';
/** Hosts where exec() can run commands: the three lab hosts and the switch namespace. */
export type ExecHost = LabHost | 'sw';

export const LAB_ADDR = { lbA: '198.51.100.11', lbB: '198.51.100.12', client: '198.51.100.50' } as const;
export const LAB_VIP = '198.51.100.100' as const;
export const LAB_PREFIX_LEN = 24;
/** Fixed MAC addresses of the hosts' eth0 (02:00 + the IPv4 address in hex), so logs and
 *  captures are readable. */
export const LAB_MAC = { lbA: '02:00:c6:33:64:0b', lbB: '02:00:c6:33:64:0c', client: '02:00:c6:33:64:32' } as const;
/** The VRRP multicast group (RFC 5798). */
export const VRRP_GROUP = '224.0.0.18';

export interface LabOptions {
  /** Root-namespace 127.0.0.1 ports to relay into lbA and lbB (e.g. [5673, 5674, 5675]). */
  brokerPorts: number[];
  /** Namespace name prefix (default 'wlab'); names are `<prefix>-<pid>-<n>-{sw,lbA,lbB,client}`. */
  prefix?: string;
  /** Directory for configs, sockets and logs; default: a new temp dir, removed by destroy(). A
   *  given dir is created if needed and never removed. */
  dir?: string;
  /** Check at creation that multicast crosses the bridge (default true; ~20 ms). */
  verifyMulticast?: boolean;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LabProcess {
  /** Name given to spawn(); the output also goes to `<lab.dir>/<name>.log`. */
  readonly name: string;
  readonly host: LabHost | 'root';
  /** The real PID of the command (`ip netns exec` execs it). */
  readonly pid: number;
  /** Captured output lines, stdout and stderr interleaved in arrival order (the newest
   *  `maxLines`, default 100 000). */
  lines(): string[];
  /** How many lines have been seen so far (also those dropped from memory); pass it as `since`
   *  to waitForLine to wait only for later lines. */
  mark(): number;
  /** The first line matching `re` (among those already captured from line number `since` on, or a
   *  future one). Rejects on timeout or when the process exits first. */
  waitForLine(re: RegExp, timeoutMs: number, since?: number): Promise<string>;
  /** Signals the process itself (not its children); ignores a process that is already gone. */
  kill(sig?: NodeJS.Signals): void;
  /** Resolves when the process has exited and its output has been read. */
  readonly exited: Promise<ProcessExit>;
  /** Null while running. */
  exitStatus(): ProcessExit | null;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Lines kept in memory (default 100 000); the log file gets them all. */
  maxLines?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal or the timeout. */
  code: number;
}

export interface Lab {
  /** Namespace names. */
  ns: { sw: string; lbA: string; lbB: string; client: string };
  addr: typeof LAB_ADDR;
  vip: typeof LAB_VIP;
  mac: typeof LAB_MAC;
  /** Temp dir for configs, sockets and logs. */
  dir: string;
  brokerPorts: number[];
  /** How long createLab took, ms. */
  createMs: number;
  /** `ip netns exec NS cmd args...`, output captured line by line (memory + dir/<name>.log). */
  spawn(host: LabHost, name: string, cmd: string, args: string[], opts?: SpawnOptions): LabProcess;
  /** Runs a command in a namespace to completion; never throws for a non-zero exit. */
  exec(host: ExecHost, cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** Pulls the cable: the switch-side veth of `host` goes down, so its eth0 loses carrier. */
  linkDown(host: LabHost): Promise<void>;
  /** Plugs the cable back in (the switch-side veth goes up; carrier returns at once). */
  linkUp(host: LabHost): Promise<void>;
  /** nft in that host's namespace: drop UDP to or from `udpPort`, both in and out. Idempotent. */
  blockAdverts(host: LabHost, udpPort: number): Promise<void>;
  unblockAdverts(host: LabHost, udpPort: number): Promise<void>;
  /** Which lb namespaces have `vip` (default the lab VIP) on eth0. */
  vipHolders(vip?: string): Promise<LbHost[]>;
  /** Whose MAC the client's neighbour entry for `ip` (default the VIP) points to; null when there
   *  is no entry with a link-layer address (none, INCOMPLETE, FAILED) or it is another MAC. */
  clientNeigh(ip?: string): Promise<LbHost | null>;
  /** Which lb has an established TCP connection from client:clientPort. If both have one (an old
   *  half-dead session on the former master), the current VIP holder wins; null when neither. */
  servingHost(clientPort: number): Promise<LbHost | null>;
  /** Every lb with an established TCP connection from client:clientPort. */
  servingHosts(clientPort: number): Promise<LbHost[]>;
  /** Whether `from` reaches `ip` at the IP level (there is no `ping` on these machines): a TCP
   *  connect to `ip:port` (default 9, where nothing listens) that is refused or accepted within
   *  timeoutMs (default 1000) means reachable; a timeout or "no route" means not. */
  reachable(from: ExecHost, ip: string, opts?: { port?: number; timeoutMs?: number }): Promise<boolean>;
  /** Sends UDP datagrams to 224.0.0.18:port from `from` until one arrives in `to` (or timeout);
   *  resolves with the ms it took, rejects when nothing arrived. */
  checkMulticast(from: LbHost, to: LbHost, opts?: { port?: number; timeoutMs?: number }): Promise<number>;
  /** Every process the lab started and tracks (relays included). */
  processes(): LabProcess[];
  /** Stops every process (lab-started ones, their children, anything left in the namespaces),
   *  deletes the namespaces and, unless kept (`keepDir`, or env WARREN_KEEP_LOGS=1, or a dir given
   *  in the options), the temp dir. Idempotent. */
  destroy(opts?: { keepDir?: boolean }): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// small process helpers

function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      let code = 0;
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: unknown };
        code = typeof e.code === 'number' ? e.code : -1;
        if (typeof e.code === 'string') stderr = `${stderr}${stderr ? '\n' : ''}${e.message}`;
      }
      resolve({ stdout, stderr, code });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run(), but throws with the command line and stderr when it fails. */
async function must(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`netns-lab: \`${cmd} ${args.join(' ')}\` failed (code ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

/** /proc/<pid>/stat fields after the command name: [state, ppid, ..., starttime at index 19]. */
function procStat(pid: number): { state: string; ppid: number; start: string } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]), start: rest[19]! };
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  const st = procStat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X';
}

/** PIDs of all descendants of `roots` (children, grandchildren...), from /proc. */
function descendants(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = procStat(Number(entry));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(entry));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const queue = [...roots];
  const seen = new Set(roots);
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM, wait up to graceMs for them to go, SIGKILL what is left. */
async function terminate(pids: number[], graceMs = 1500): Promise<void> {
  const live = [...new Set(pids)].filter(alive);
  if (!live.length) return;
  for (const p of live) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && live.some(alive)) await sleep(10);
  for (const p of live) if (alive(p)) signal(p, 'SIGKILL');
  const hardDeadline = Date.now() + 2000;
  while (Date.now() < hardDeadline && live.some(alive)) await sleep(10);
}

async function netnsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 0 && n !== process.pid);
}

async function netnsList(): Promise<string[]> {
  const r = await run('ip', ['-j', 'netns', 'list']);
  if (r.code !== 0 || !r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

// ---------------------------------------------------------------------------------------------
// registry of labs, for the cleanup of crashed ones

const REGISTRY_DIR = path.join(os.tmpdir(), 'warren-netns-labs');

interface RegistryEntry {
  id: string;
  prefix: string;
  ownerPid: number;
  ownerStart: string | null;
  namespaces: string[];
  dir: string;
  ownsDir: boolean;
  /** Root-namespace processes (the broker relays), with their /proc start time against PID reuse. */
  rootPids: { pid: number; start: string | null }[];
}

function ownerAlive(pid: number, start: string | null): boolean {
  const st = procStat(pid);
  if (!st || st.state === 'Z') return false;
  return start === null || st.start === start;
}

async function removeNamespace(ns: string): Promise<void> {
  const pids = await netnsPids(ns);
  await terminate([...pids, ...descendants(pids)], 500);
  await run('ip', ['netns', 'del', ns]);
}

/** Removes leftovers of labs of `prefix` whose owner process is dead. Returns what it removed. */
export async function cleanupStaleLabs(prefix = 'wlab'): Promise<string[]> {
  const removed: string[] = [];
  const handledNs = new Set<string>();
  let files: string[] = [];
  try {
    files = await fsp.readdir(REGISTRY_DIR);
  } catch {
    /* no registry yet */
  }
  for (const f of files) {
    if (!f.endsWith('.json')) continue;
    const file = path.join(REGISTRY_DIR, f);
    let e: RegistryEntry;
    try {
      e = JSON.parse(await fsp.readFile(file, 'utf8')) as RegistryEntry;
    } catch {
      continue;
    }
    if (e.prefix !== prefix || ownerAlive(e.ownerPid, e.ownerStart)) continue;
    const roots = e.rootPids.filter((p) => p.start !== null && procStat(p.pid)?.start === p.start).map((p) => p.pid);
    await terminate([...roots, ...descendants(roots)], 500);
    const existing = new Set(await netnsList());
    for (const ns of e.namespaces) {
      handledNs.add(ns);
      if (existing.has(ns)) {
        await removeNamespace(ns);
        removed.push(ns);
      }
    }
    if (e.ownsDir) await fsp.rm(e.dir, { recursive: true, force: true });
    await fsp.rm(file, { force: true });
    removed.push(file);
  }
  // Namespaces of the prefix without a registry entry (e.g. the registry dir was wiped).
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-\\d+-(sw|lbA|lbB|client)$`);
  for (const ns of await netnsList()) {
    const m = re.exec(ns);
    if (!m || handledNs.has(ns) || ownerAlive(Number(m[1]), null)) continue;
    await removeNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// processes

interface Tracked extends LabProcess {
  child: ChildProcess;
  closeLog(): Promise<void>;
}

function startProcess(
  host: LabHost | 'root',
  name: string,
  file: string,
  argv: string[],
  logPath: string,
  opts: SpawnOptions,
): Tracked {
  const maxLines = opts.maxLines ?? 100_000;
  const child = spawn(file, argv, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    // spawn reports ENOENT etc. asynchronously; 'ip' exists on these machines, so this is rare.
    throw new Error(`netns-lab: could not start ${name} (${file})`);
  }
  const pid = child.pid;
  const log = fs.createWriteStream(logPath, { flags: 'a' });
  log.on('error', () => {});
  let kept: string[] = [];
  let total = 0;
  let status: ProcessExit | null = null;
  const waiters = new Set<{ re: RegExp; since: number; resolve: (l: string) => void; reject: (e: Error) => void }>();

  const onLine = (line: string): void => {
    total++;
    kept.push(line);
    if (kept.length > maxLines * 1.25) kept = kept.slice(kept.length - maxLines);
    log.write(line + '\n');
    for (const w of waiters) {
      if (total - 1 >= w.since && w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  };
  const rlOut = readline.createInterface({ input: child.stdout! });
  const rlErr = readline.createInterface({ input: child.stderr! });
  rlOut.on('line', onLine);
  rlErr.on('line', onLine);
  child.on('error', (err) => onLine(`[netns-lab] spawn error: ${err.message}`));

  const exited = new Promise<ProcessExit>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (timer) clearTimeout(timer);
      for (const w of waiters) {
        w.reject(new Error(`${name} (pid ${pid}) exited (code ${status!.code}, signal ${status!.signal}) before a line matched ${w.re}; last lines:\n${kept.slice(-20).join('\n')}`));
      }
      waiters.clear();
      resolve(status!);
    };
    child.once('exit', (code, sig) => {
      status = { code, signal: sig };
      // 'close' follows once stdout/stderr are drained; a grandchild still holding the pipes must
      // not delay the exit forever.
      timer = setTimeout(finish, 300);
    });
    child.once('close', (code, sig) => {
      status ??= { code, signal: sig };
      finish();
    });
  });

  const firstKept = (): number => total - kept.length;
  const proc: Tracked = {
    name,
    host,
    pid,
    child,
    lines: () => kept.slice(),
    mark: () => total,
    exitStatus: () => status,
    exited,
    kill(sig: NodeJS.Signals = 'SIGTERM') {
      if (status === null) signal(pid, sig);
    },
    waitForLine(re, timeoutMs, since = 0) {
      const start = Math.max(0, since - firstKept());
      for (let i = start; i < kept.length; i++) if (re.test(kept[i]!)) return Promise.resolve(kept[i]!);
      if (status !== null) {
        return Promise.reject(new Error(`${name} (pid ${pid}) has exited (code ${status.code}, signal ${status.signal}) without a line matching ${re}; last lines:\n${kept.slice(-20).join('\n')}`));
      }
      return new Promise<string>((resolve, reject) => {
        const w = {
          re,
          since,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`${name} (pid ${pid}): no line matching ${re} within ${timeoutMs} ms; last lines:\n${kept.slice(-20).join('\n')}`));
        }, timeoutMs);
        waiters.add(w);
      });
    },
    closeLog: () => new Promise<void>((r) => log.end(() => r())),
  };
  return proc;
}

/**
 * A process outside the lab (root namespace, or `ip netns exec` given as the command), with the
 * same line capture as lab.spawn: waitForLine on its output, `exited`, kill(). For tests that run
 * a daemon of their own (prlimit, setpriv ...). The caller kills it and awaits `exited`.
 */
export function spawnLogged(name: string, file: string, argv: string[], logPath: string, opts: SpawnOptions = {}): LabProcess {
  return startProcess('root', name, file, argv, logPath, opts);
}

// ---------------------------------------------------------------------------------------------
// the lab

let labSeq = 0;
const HOSTS: LabHost[] = ['lbA', 'lbB', 'client'];
const LBS: LbHost[] = ['lbA', 'lbB'];

export async function createLab(opts: LabOptions): Promise<Lab> {
  const t0 = Date.now();
  const prefix = opts.prefix ?? 'wlab';
  if (!/^[A-Za-z0-9_.]{1,20}$/.test(prefix)) throw new Error(`netns-lab: prefix must be 1-20 characters of [A-Za-z0-9_.], got ${JSON.stringify(prefix)}`);
  for (const p of opts.brokerPorts) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`netns-lab: bad broker port ${p}`);
  }
  await cleanupStaleLabs(prefix);

  const id = `${prefix}-${process.pid}-${labSeq++}`;
  const ns = { sw: `${id}-sw`, lbA: `${id}-lbA`, lbB: `${id}-lbB`, client: `${id}-client` };
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), `${id}-`)));
  await fsp.mkdir(dir, { recursive: true });
  const sockPath = (port: number): string => path.join(dir, `broker-${port}.sock`);
  for (const p of opts.brokerPorts) {
    if (Buffer.byteLength(sockPath(p)) > 100) throw new Error(`netns-lab: dir too long for unix socket paths: ${sockPath(p)}`);
  }

  await fsp.mkdir(REGISTRY_DIR, { recursive: true });
  const registryFile = path.join(REGISTRY_DIR, `${id}.json`);
  const registry: RegistryEntry = {
    id,
    prefix,
    ownerPid: process.pid,
    ownerStart: procStat(process.pid)?.start ?? null,
    namespaces: [ns.client, ns.lbA, ns.lbB, ns.sw],
    dir,
    ownsDir,
    rootPids: [],
  };
  const saveRegistry = (): void => fs.writeFileSync(registryFile, JSON.stringify(registry, null, 2));
  saveRegistry();

  const procs: Tracked[] = [];
  let destroyed = false;
  let destroying: Promise<void> | null = null;

  // Last resort when the test process exits without destroy(): synchronous, best effort.
  const onExit = (): void => {
    if (destroyed) return;
    const roots = procs.map((p) => p.pid);
    for (const p of [...roots, ...descendants(roots)]) signal(p, 'SIGKILL');
    for (const n of registry.namespaces) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const p of pids.split(/\s+/).filter(Boolean)) signal(Number(p), 'SIGKILL');
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    try {
      fs.rmSync(registryFile, { force: true });
      if (ownsDir && process.env.WARREN_KEEP_LOGS !== '1') fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  };
  process.on('exit', onExit);

  const ipn = (n: string, args: string[]): Promise<string> => must('ip', ['-n', n, ...args]);
  const batch = (n: string, lines: string[]): Promise<string> => must('ip', ['-n', n, '-batch', '-'], { input: lines.join('\n') + '\n' });
  const nsOf = (h: ExecHost): string => ns[h];

  const spawnIn = (host: LabHost, name: string, cmd: string, args: string[], sopts: SpawnOptions = {}): LabProcess => {
    if (destroyed || destroying) throw new Error('netns-lab: lab destroyed');
    if (!/^[\w.@-]+$/.test(name)) throw new Error(`netns-lab: process name must be a plain file name, got ${JSON.stringify(name)}`);
    const p = startProcess(host, name, 'ip', ['netns', 'exec', ns[host], cmd, ...args], path.join(dir, `${name}.log`), sopts);
    procs.push(p);
    return p;
  };

  const exec = (host: ExecHost, cmd: string, args: string[], eopts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> =>
    run('ip', ['netns', 'exec', nsOf(host), cmd, ...args], eopts);

  const nft = async (host: LabHost, script: string): Promise<void> => {
    const r = await exec(host, 'nft', ['-f', '-'], { input: script });
    if (r.code !== 0) throw new Error(`netns-lab: nft in ${host} failed: ${r.stderr.trim()}\n${script}`);
  };

  const destroy = (dopts: { keepDir?: boolean } = {}): Promise<void> => {
    destroying ??= (async () => {
      process.off('exit', onExit);
      const roots = procs.filter((p) => p.exitStatus() === null).map((p) => p.pid);
      const nsPids = (await Promise.all(registry.namespaces.map(netnsPids))).flat();
      const all = [...roots, ...nsPids];
      await terminate([...all, ...descendants(all)]);
      // Anything that appeared meanwhile (a child forked during the shutdown).
      const late = (await Promise.all(registry.namespaces.map(netnsPids))).flat();
      await terminate([...late, ...descendants(late)], 200);
      await Promise.all(procs.map((p) => Promise.race([p.exited, sleep(2000)])));
      await Promise.all(procs.map((p) => p.closeLog()));
      for (const n of registry.namespaces) await run('ip', ['netns', 'del', n]);
      const keep = dopts.keepDir || process.env.WARREN_KEEP_LOGS === '1' || !ownsDir;
      if (!keep) await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(registryFile, { force: true });
      destroyed = true;
    })();
    return destroying;
  };

  try {
    // Namespaces, then IPv6 off before any interface exists.
    await Promise.all(Object.values(ns).map((n) => must('ip', ['netns', 'add', n])));
    const sysctl = (host: ExecHost, kv: string[]): Promise<string> => must('ip', ['netns', 'exec', ns[host], 'sysctl', '-q', '-w', ...kv]);
    const noV6 = ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'];
    await Promise.all([
      sysctl('sw', noV6),
      sysctl('client', noV6),
      ...LBS.map((h) => sysctl(h, [...noV6, 'net.ipv4.ip_nonlocal_bind=1'])),
    ]);

    // The switch.
    await batch(ns.sw, ['link set lo up', 'link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0', 'link set br0 up']);
    // Cables: the veth is created inside the host namespace, its peer directly in sw.
    await Promise.all(
      HOSTS.map(async (h) => {
        await ipn(ns[h], ['link', 'add', 'eth0', 'address', LAB_MAC[h], 'type', 'veth', 'peer', 'name', h, 'netns', ns.sw]);
        await batch(ns[h], [
          'link set lo up',
          `addr add ${LAB_ADDR[h]}/${LAB_PREFIX_LEN} dev eth0`,
          'link set eth0 up',
          'route add 224.0.0.0/4 dev eth0',
        ]);
      }),
    );
    await batch(ns.sw, HOSTS.flatMap((h) => [`link set ${h} master br0`, `link set ${h} up`]));
    const br = JSON.parse(await ipn(ns.sw, ['-d', '-j', 'link', 'show', 'br0'])) as { linkinfo: { info_data: { mcast_snooping: number } } }[];
    if (br[0]?.linkinfo.info_data.mcast_snooping !== 0) throw new Error('netns-lab: multicast snooping is still on on br0');

    // nft in every lab host: a set of blocked UDP ports, dropped in and out (empty at first).
    await Promise.all(
      HOSTS.map((h) =>
        nft(
          h,
          `table inet warren_lab {
  set blocked_udp { type inet_service; }
  chain input { type filter hook input priority -200; policy accept; udp dport @blocked_udp drop; udp sport @blocked_udp drop; }
  chain output { type filter hook output priority -200; policy accept; udp dport @blocked_udp drop; udp sport @blocked_udp drop; }
}
`,
        ),
      ),
    );

    // Broker relays: root side first (it creates the sockets), then the lab side in each lb.
    for (const port of opts.brokerPorts) {
      const p = startProcess('root', `relay-root-${port}`, 'socat', [`UNIX-LISTEN:${sockPath(port)},fork,unlink-early,mode=600`, `TCP:127.0.0.1:${port},connect-timeout=2`], path.join(dir, `relay-root-${port}.log`), {});
      procs.push(p);
      registry.rootPids.push({ pid: p.pid, start: procStat(p.pid)?.start ?? null });
    }
    saveRegistry();
    for (const port of opts.brokerPorts) {
      for (const h of LBS) {
        procs.push(
          startProcess(h, `relay-${h}-${port}`, 'ip', ['netns', 'exec', ns[h], 'socat', `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${sockPath(port)}`], path.join(dir, `relay-${h}-${port}.log`), {}),
        );
      }
    }

    // Wait for the bridge ports to forward, the unix sockets and the lab-side listeners.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ports = JSON.parse(await must('bridge', ['-n', ns.sw, '-j', 'link', 'show'])) as { ifname: string; state?: string }[];
      const forwarding = HOSTS.every((h) => ports.some((p) => p.ifname === h && p.state === 'forwarding'));
      const socks = opts.brokerPorts.every((p) => fs.existsSync(sockPath(p)));
      let listening = true;
      if (opts.brokerPorts.length) {
        for (const h of LBS) {
          const out = await must('ip', ['netns', 'exec', ns[h], 'ss', '-Htln']);
          if (!opts.brokerPorts.every((p) => out.includes(`127.0.0.1:${p} `))) listening = false;
        }
      }
      const dead = procs.find((p) => p.exitStatus() !== null);
      if (dead) throw new Error(`netns-lab: ${dead.name} exited at start: ${dead.lines().join('\n')}`);
      if (forwarding && socks && listening) break;
      if (Date.now() > deadline) throw new Error(`netns-lab: lab not ready within 10 s (bridge forwarding ${forwarding}, sockets ${socks}, relays listening ${listening})`);
      await sleep(10);
    }

    const lab: Lab = {
      ns,
      addr: LAB_ADDR,
      vip: LAB_VIP,
      mac: LAB_MAC,
      dir,
      brokerPorts: [...opts.brokerPorts],
      createMs: 0,
      spawn: spawnIn,
      exec,
      processes: () => procs.slice(),
      async linkDown(host) {
        await ipn(ns.sw, ['link', 'set', host, 'down']);
      },
      async linkUp(host) {
        await ipn(ns.sw, ['link', 'set', host, 'up']);
        // Back to forwarding (immediate with STP off) before returning.
        for (let i = 0; i < 200; i++) {
          const ports = JSON.parse(await must('bridge', ['-n', ns.sw, '-j', 'link', 'show', 'dev', host])) as { state?: string }[];
          if (ports[0]?.state === 'forwarding') return;
          await sleep(5);
        }
      },
      async blockAdverts(host, udpPort) {
        await nft(host, `add element inet warren_lab blocked_udp { ${Number(udpPort)} }\n`);
      },
      async unblockAdverts(host, udpPort) {
        const r = await exec(host, 'nft', ['-j', 'list', 'set', 'inet', 'warren_lab', 'blocked_udp']);
        const set = (JSON.parse(r.stdout) as { nftables: { set?: { elem?: number[] } }[] }).nftables.find((x) => x.set)?.set;
        if (!set?.elem?.includes(Number(udpPort))) return;
        await nft(host, `delete element inet warren_lab blocked_udp { ${Number(udpPort)} }\n`);
      },
      async vipHolders(vip = LAB_VIP) {
        const held = await Promise.all(
          LBS.map(async (h) => {
            const j = JSON.parse(await ipn(ns[h], ['-j', '-4', 'addr', 'show', 'dev', 'eth0'])) as { addr_info?: { local: string }[] }[];
            return (j[0]?.addr_info ?? []).some((a) => a.local === vip);
          }),
        );
        return LBS.filter((_, i) => held[i]);
      },
      async clientNeigh(ip = LAB_VIP) {
        const j = JSON.parse(await ipn(ns.client, ['-j', 'neigh', 'show', 'to', ip, 'dev', 'eth0'])) as { dst: string; lladdr?: string }[];
        const mac = j.find((e) => e.dst === ip)?.lladdr?.toLowerCase();
        return LBS.find((h) => LAB_MAC[h] === mac) ?? null;
      },
      async servingHosts(clientPort) {
        const has = await Promise.all(
          LBS.map(async (h) => {
            const out = await must('ip', ['netns', 'exec', ns[h], 'ss', '-Htn', 'state', 'established', 'dst', `${LAB_ADDR.client}:${clientPort}`]);
            return out.trim().length > 0;
          }),
        );
        return LBS.filter((_, i) => has[i]);
      },
      async servingHost(clientPort) {
        const hosts = await lab.servingHosts(clientPort);
        if (hosts.length <= 1) return hosts[0] ?? null;
        const holders = await lab.vipHolders();
        return holders.length === 1 ? holders[0]! : hosts[0]!;
      },
      async reachable(from, ip, ropts = {}) {
        const secs = ((ropts.timeoutMs ?? 1000) / 1000).toFixed(3);
        const r = await exec(from, 'socat', ['-u', 'OPEN:/dev/null', `TCP4:${ip}:${ropts.port ?? 9},connect-timeout=${secs}`]);
        return r.code === 0 || /Connection refused/i.test(r.stderr);
      },
      async checkMulticast(from, to, copts = {}) {
        const port = copts.port ?? 51999;
        const timeoutMs = copts.timeoutMs ?? 3000;
        const t = Date.now();
        const recv = startProcess(
          to,
          `mcast-recv-${port}`,
          'ip',
          ['netns', 'exec', ns[to], 'socat', '-u', `UDP4-RECV:${port},ip-add-membership=${VRRP_GROUP}:${LAB_ADDR[to]},reuseaddr`, 'STDOUT'],
          path.join(dir, `mcast-check.log`),
          {},
        );
        try {
          // The receiver joins the group a few ms after it starts: send until a datagram arrives.
          const token = `mcast-${from}-${process.pid}-${t}`;
          const got = recv.waitForLine(new RegExp(token), timeoutMs);
          got.catch(() => {});
          let done = false;
          void got.then(() => (done = true), () => (done = true));
          while (!done && Date.now() - t < timeoutMs) {
            await run('ip', ['netns', 'exec', ns[from], 'socat', '-u', 'STDIN', `UDP4-DATAGRAM:${VRRP_GROUP}:${port},ip-multicast-ttl=255,ip-multicast-if=${LAB_ADDR[from]}`], { input: token + '\n' });
            await Promise.race([got.catch(() => {}), sleep(25)]);
          }
          await got;
          return Date.now() - t;
        } finally {
          recv.kill('SIGKILL');
          await recv.exited;
          await recv.closeLog();
        }
      },
      destroy,
    };

    if (opts.verifyMulticast !== false) await lab.checkMulticast('lbA', 'lbB');
    lab.createMs = Date.now() - t0;
    return lab;
  } catch (err) {
    await destroy().catch(() => {});
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// lab-client output

/** One line of lab-client.ts output. */
export interface ClientEvent {
  t: number;
  ev: 'start' | 'connected' | 'first-confirm' | 'closed' | 'error' | 'connect-failed' | 'stats' | 'exit' | (string & {});
  conn?: number;
  localPort?: number;
  msg?: string;
  /** stats: cumulative counters. */
  published?: number;
  confirmed?: number;
  nacked?: number;
  /** stats: messages published on a connection that closed before their confirm. */
  unconfirmed?: number;
  pending?: number;
  connected?: boolean;
  [k: string]: unknown;
}

/** The JSON event lines among `lines` (other lines are skipped), in order. */
export function parseClientEvents(lines: string[]): ClientEvent[] {
  const out: ClientEvent[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as ClientEvent;
      if (v && typeof v.t === 'number' && typeof v.ev === 'string') out.push(v);
    } catch {
      /* not an event */
    }
  }
  return out;
}

/** The first `connected` event at or after time `t` (ms since the epoch), or null. */
export function firstConnectAfter(events: ClientEvent[], t: number): ClientEvent | null {
  return events.find((e) => e.ev === 'connected' && e.t >= t) ?? null;
}

/** The first `first-confirm` event (first confirmed publish of a connection) at or after `t`. */
export function firstConfirmAfter(events: ClientEvent[], t: number): ClientEvent | null {
  return events.find((e) => e.ev === 'first-confirm' && e.t >= t) ?? null;
}

/** The first `closed` or `error` event at or after `t`. */
export function firstDisconnectAfter(events: ClientEvent[], t: number): ClientEvent | null {
  return events.find((e) => (e.ev === 'closed' || e.ev === 'error') && e.t >= t) ?? null;
}

export interface LabClientArgs {
  /** Several: one per connect attempt, round robin (default the VIP). */
  url?: string | string[];
  /** Publish interval, ms (default 20). */
  intervalMs?: number;
  /** AMQP heartbeat, s (default 5). */
  heartbeatS?: number;
  /** Queue name (default: a server-named exclusive queue). */
  queue?: string;
  /** Connect timeout (TCP + AMQP handshake), ms (default 2000). */
  connectTimeoutMs?: number;
  /** `queue` is a durable quorum queue, messages persistent with ids, unconfirmed ones resent. */
  quorum?: boolean;
  /** Consume `queue` with manual acks instead of publishing (implies quorum). */
  consume?: boolean;
  /** Consumer prefetch (default 50). */
  prefetch?: number;
  /** Publisher id: the messageId prefix (default the client's pid). */
  id?: string;
  /** File for the confirm / delivery records (see lab-client.ts). */
  record?: string;
  /** Publisher: reconnect when a message stays unconfirmed this long, ms (default 0: never). */
  confirmTimeoutMs?: number;
}

/** The path of the compiled lab client and its argv, for lab.spawn('client', name, process.execPath, ...). */
export function labClientArgs(a: LabClientArgs = {}): string[] {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'lab-client.js');
  const args = [script];
  for (const u of [a.url ?? `amqp://guest:guest@${LAB_VIP}:5672`].flat()) args.push('--url', u);
  if (a.intervalMs !== undefined) args.push('--interval', String(a.intervalMs));
  if (a.heartbeatS !== undefined) args.push('--heartbeat', String(a.heartbeatS));
  if (a.queue !== undefined) args.push('--queue', a.queue);
  if (a.connectTimeoutMs !== undefined) args.push('--connect-timeout', String(a.connectTimeoutMs));
  if (a.quorum) args.push('--quorum');
  if (a.consume) args.push('--consume');
  if (a.prefetch !== undefined) args.push('--prefetch', String(a.prefetch));
  if (a.id !== undefined) args.push('--id', a.id);
  if (a.record !== undefined) args.push('--record', a.record);
  if (a.confirmTimeoutMs !== undefined) args.push('--confirm-timeout', String(a.confirmTimeoutMs));
  return args;
}
