// A real RabbitMQ cluster (Debian's rabbitmq-server) on 127.0.0.1, run as the current user and
// fully isolated from any Debian default node:
//   - its own epmd on a private port (ERL_EPMD_PORT), started and stopped by us (by PID);
//   - node names <prefix>1@localhost.. with their own AMQP, management and distribution ports;
//   - data, logs, config, pid files and the Erlang cookie ($HOME/.erlang.cookie) in one directory.
// Nodes boot in parallel, then nodes 2..n join node 1 (stop_app, join_cluster, start_app).
// Optionally a standalone node (not clustered) with `proxy_protocol = true`.
//
// Used by `warren local` (src/local.ts: the one-machine profile behind the shipped config) and by
// the test harness (test/harness/rabbit-cluster.ts re-exports this module and adds loadCluster()).
// The ClusterInfo returned is JSON-serialisable (saveCluster / readCluster), so that another
// process can stop the cluster later.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const RABBITMQ_BIN_DIR = '/usr/lib/rabbitmq/bin';

export interface NodeInfo {
  /** 0-based index in `nodes`; the proxy-protocol node has index 'pp'. */
  index: number | 'pp';
  /** Erlang node name, e.g. warren1@localhost. */
  name: string;
  host: string;
  amqpPort: number;
  mgmtPort: number;
  distPort: number;
  /** The node's own directory (config, logs, pid file; its data too unless `dataDir` is elsewhere). */
  dir: string;
  /** RABBITMQ_MNESIA_BASE: the node's data (schema, message store, quorum queue logs). */
  dataDir: string;
  configFile: string;
  /** The RabbitMQ log file (format: `2024-01-01 12:00:00.123456+00:00 [warning] <0.1.0> text`). */
  logFile: string;
  /** Where stdout/stderr of the rabbitmq-server script go (early boot output, crashes). */
  stdoutFile: string;
  /** Written by RabbitMQ itself; holds the beam.smp PID of the running node. */
  pidFile: string;
  /** beam.smp PID when the cluster was started (a restarted node gets a new one: see nodePid()). */
  pid: number | null;
  clustered: boolean;
  proxyProtocol: boolean;
}

export interface ClusterInfo {
  version: 1;
  /** Base directory of everything the harness created. */
  dir: string;
  /** True when startCluster created `dir` (stopCluster then removes it unless asked to keep it). */
  ownsDir: boolean;
  /** StartOptions.dataDir: scratch space that stopCluster always removes; null: data in `dir`. */
  dataDir: string | null;
  /** HOME for rabbitmq-server and rabbitmqctl: holds the shared .erlang.cookie. */
  cookieHome: string;
  epmdPort: number;
  /** PID of the epmd we started, or null when one was already listening on epmdPort. */
  epmdPid: number | null;
  /** Empty rabbitmq-env.conf, so /etc/rabbitmq/rabbitmq-env.conf is never read. */
  envConfFile: string;
  /** The cluster nodes; nodes[0] is the seed the others joined. */
  nodes: NodeInfo[];
  /** The standalone node with `proxy_protocol = true`, if requested. */
  ppNode: NodeInfo | null;
  /** How long startCluster took, ms. */
  startMs: number;
  user: string;
  password: string;
}

export interface StartOptions {
  /** Cluster size (default 3). */
  size?: number;
  /** AMQP port of node 1; node i uses basePort+i, the pp node basePort+size (default 5673). */
  basePort?: number;
  /** Management port of node 1 (default 15673), same layout. */
  baseMgmtPort?: number;
  /** Distribution port of node 1 (default 25673), same layout. */
  baseDistPort?: number;
  /** Private epmd port (default 4371). */
  epmdPort?: number;
  /** Also start the standalone proxy_protocol node (default true). */
  proxyProtocolNode?: boolean;
  /** Node name prefix (default 'warren' -> warren1@localhost ...; pp node: warrenpp@localhost). */
  namePrefix?: string;
  /** Base directory (default: a new mkdtemp under os.tmpdir()). */
  dir?: string;
  /** Where the nodes keep their data, a subdirectory each (default: in their directories under
   *  `dir`). The test runs put it on tmpfs: on this project's VM the disk's fsyncs stall every
   *  quorum queue confirm for 0.2-0.8 s every ~9 s, which is noise in failover measurements.
   *  stopCluster removes it (the logs stay in `dir`). */
  dataDir?: string;
  /** Extra lines appended to every node's rabbitmq.conf. */
  extraConfig?: string[];
  /** Overall timeout for startup, ms (default 120000). */
  timeoutMs?: number;
  /** Aborts the start: no node is spawned after it, running rabbitmqctl calls are killed, and
   *  startCluster rejects (after stopping what it started, as on any failure). */
  signal?: AbortSignal;
  /** Progress messages (default: none). */
  log?: (msg: string) => void;
  /** Called with the (not yet running) ClusterInfo before any process is started, e.g. to save it
   *  early so that an interrupted start can still be stopped. */
  onInfo?: (info: ClusterInfo) => void;
}

type NodeRef = number | 'pp' | NodeInfo;

// ---------------------------------------------------------------------------------------------
// small utilities

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function nodeOf(info: ClusterInfo, ref: NodeRef): NodeInfo {
  if (typeof ref === 'object') return ref;
  if (ref === 'pp') {
    if (!info.ppNode) throw new Error('rabbit-cluster: this cluster has no proxy-protocol node');
    return info.ppNode;
  }
  const n = info.nodes[ref];
  if (!n) throw new Error(`rabbit-cluster: no cluster node with index ${ref} (have ${info.nodes.length})`);
  return n;
}

/** All nodes: the cluster nodes, then the proxy-protocol node if any. */
export function allNodes(info: ClusterInfo): NodeInfo[] {
  return info.ppNode ? [...info.nodes, info.ppNode] : [...info.nodes];
}

/** amqp:// URL for amqplib. */
export function amqpUrl(info: ClusterInfo, ref: NodeRef, vhost = '/'): string {
  const n = nodeOf(info, ref);
  return `amqp://${encodeURIComponent(info.user)}:${encodeURIComponent(info.password)}@${n.host}:${n.amqpPort}/${encodeURIComponent(vhost)}`;
}

function portListening(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is dead for our purposes.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when /proc/PID/cmdline mentions `marker` (we only ever signal processes that are ours). */
function pidIsOurs(pid: number, marker: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

function readPidFile(file: string): number | null {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** The running beam.smp PID of a node (from its pid file), or null when it is not running. */
export function nodePid(info: ClusterInfo, ref: NodeRef): number | null {
  const n = nodeOf(info, ref);
  const pid = readPidFile(n.pidFile);
  if (pid === null || !pidAlive(pid) || !pidIsOurs(pid, info.cookieHome)) return null;
  return pid;
}

async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!pidAlive(pid)) return true;
    await sleep(50);
  }
  return !pidAlive(pid);
}

// ---------------------------------------------------------------------------------------------
// environments

function baseEnv(info: ClusterInfo): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: info.cookieHome,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    ERL_EPMD_PORT: String(info.epmdPort),
    RABBITMQ_CONF_ENV_FILE: info.envConfFile,
  };
}

/** Environment for running rabbitmq-server for one node (exported for tests that need it). */
export function serverEnv(info: ClusterInfo, ref: NodeRef): NodeJS.ProcessEnv {
  const n = nodeOf(info, ref);
  return {
    ...baseEnv(info),
    RABBITMQ_NODENAME: n.name,
    RABBITMQ_NODE_IP_ADDRESS: n.host,
    RABBITMQ_NODE_PORT: String(n.amqpPort),
    RABBITMQ_DIST_PORT: String(n.distPort),
    RABBITMQ_MNESIA_BASE: n.dataDir,
    RABBITMQ_LOG_BASE: path.join(n.dir, 'log'),
    RABBITMQ_CONFIG_FILE: n.configFile,
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(n.dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(n.dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: n.pidFile,
    // Several VMs share two cores: do not bind schedulers to CPUs.
    RABBITMQ_SCHEDULER_BIND_TYPE: 'u',
    // Keep Erlang distribution on loopback.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
}

/** Environment for rabbitmqctl / rabbitmq-diagnostics against our nodes (cookie, epmd port). */
export function cliEnv(info: ClusterInfo): NodeJS.ProcessEnv {
  return baseEnv(info);
}

export interface CtlOptions {
  timeoutMs?: number;
  /** Which CLI tool (default rabbitmqctl). */
  tool?: 'rabbitmqctl' | 'rabbitmq-diagnostics' | 'rabbitmq-plugins' | 'rabbitmq-queues';
  /** Kills the tool when aborted (the call then rejects). */
  signal?: AbortSignal;
}

/** Runs `rabbitmqctl -n NODE ...args` and returns stdout; rejects with stderr/stdout on failure. */
export function rabbitmqctl(info: ClusterInfo, ref: NodeRef, args: string[], opts: CtlOptions = {}): Promise<string> {
  const n = nodeOf(info, ref);
  const tool = opts.tool ?? 'rabbitmqctl';
  const argv = ['-n', n.name, ...args];
  return new Promise((resolve, reject) => {
    execFile(
      path.join(RABBITMQ_BIN_DIR, tool),
      argv,
      { env: cliEnv(info), cwd: info.dir, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) },
      (err, stdout, stderr) => {
        if (err) {
          const e = new Error(
            `${tool} ${argv.join(' ')} failed: ${err.message.split('\n')[0]}\n${String(stderr).trim()}\n${String(stdout).trim()}`.trim(),
          );
          reject(e);
        } else resolve(String(stdout));
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// start / stop of single nodes

function writeNodeFiles(n: NodeInfo, extra: string[]): void {
  fs.mkdirSync(n.dataDir, { recursive: true });
  fs.mkdirSync(path.join(n.dir, 'log'), { recursive: true });
  const conf = [
    `# generated by warren for ${n.name}`,
    'log.file.level = info',
    'log.console = false',
    `management.tcp.port = ${n.mgmtPort}`,
    `management.tcp.ip = ${n.host}`,
    ...(n.proxyProtocol ? ['proxy_protocol = true'] : []),
    ...extra,
    '',
  ];
  fs.writeFileSync(n.configFile, conf.join('\n'));
  fs.writeFileSync(path.join(n.dir, 'enabled_plugins'), '[rabbitmq_management].\n');
}

function spawnServer(info: ClusterInfo, n: NodeInfo): void {
  fs.rmSync(n.pidFile, { force: true });
  const fd = fs.openSync(n.stdoutFile, 'a');
  try {
    const child = spawn(path.join(RABBITMQ_BIN_DIR, 'rabbitmq-server'), [], {
      cwd: n.dir,
      env: serverEnv(info, n),
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    child.on('error', () => {
      /* reported by waitNodeUp (pid file never appears) */
    });
    child.unref();
  } finally {
    fs.closeSync(fd);
  }
}

function tail(file: string, lines = 30): string {
  try {
    const text = fs.readFileSync(file, 'utf8').split('\n');
    return text.slice(-lines).join('\n');
  } catch {
    return '(no file)';
  }
}

/**
 * Waits until the node's RabbitMQ application and plugins are running (`rabbitmqctl wait PIDFILE`,
 * which also fails fast when the OS process dies), then until its AMQP port accepts connections.
 */
export async function waitNodeUp(info: ClusterInfo, ref: NodeRef, timeoutMs = 90_000, signal?: AbortSignal): Promise<void> {
  const n = nodeOf(info, ref);
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  try {
    await rabbitmqctl(info, n, ['wait', n.pidFile, '--timeout', String(secs)], { timeoutMs: timeoutMs + 10_000, ...(signal ? { signal } : {}) });
  } catch (e) {
    throw new Error(
      `rabbit-cluster: node ${n.name} did not start: ${(e as Error).message}\n--- ${n.stdoutFile}:\n${tail(n.stdoutFile)}\n--- ${n.logFile}:\n${tail(n.logFile)}`,
    );
  }
  const end = Date.now() + 10_000;
  while (!(await portListening(n.amqpPort, n.host))) {
    signal?.throwIfAborted();
    if (Date.now() > end) throw new Error(`rabbit-cluster: node ${n.name} is running but port ${n.amqpPort} does not accept`);
    await sleep(100);
  }
}

interface ClusterStatus {
  running_nodes?: string[];
  disk_nodes?: string[];
  alarms?: unknown[];
}

export async function clusterStatus(info: ClusterInfo, ref: NodeRef, opts: CtlOptions = {}): Promise<ClusterStatus> {
  const out = await rabbitmqctl(info, ref, ['cluster_status', '--formatter', 'json'], opts);
  return JSON.parse(out) as ClusterStatus;
}

/** Waits until `ref` sees every cluster node that currently has a live process as running. */
export async function waitClusterRunning(info: ClusterInfo, ref: NodeRef, expected: string[], timeoutMs = 60_000, signal?: AbortSignal): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const st = await clusterStatus(info, ref, signal ? { signal } : {});
      last = st.running_nodes;
      if (expected.every((name) => st.running_nodes?.includes(name))) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > end) {
      throw new Error(`rabbit-cluster: expected running nodes ${expected.join(', ')}; last seen: ${JSON.stringify(last)}`);
    }
    await sleep(300);
  }
}

/**
 * kill -9 of one node's beam.smp, by the PID in its pid file (checked to be one of ours).
 * Resolves once the process is gone. Returns the PID killed, or null when it was not running.
 */
export async function killNode(info: ClusterInfo, ref: NodeRef): Promise<number | null> {
  const n = nodeOf(info, ref);
  const pid = nodePid(info, n);
  if (pid === null) return null;
  process.kill(pid, 'SIGKILL');
  if (!(await waitPidGone(pid, 10_000))) throw new Error(`rabbit-cluster: ${n.name} (pid ${pid}) survived SIGKILL`);
  return pid;
}

/**
 * (Re)starts a node that is not running and waits until it is up; a cluster node also until the
 * other live cluster members and itself see each other as running (i.e. it has rejoined).
 */
export async function startNode(info: ClusterInfo, ref: NodeRef, timeoutMs = 90_000): Promise<void> {
  const n = nodeOf(info, ref);
  if (nodePid(info, n) !== null) throw new Error(`rabbit-cluster: ${n.name} is already running`);
  spawnServer(info, n);
  await waitNodeUp(info, n, timeoutMs);
  n.pid = readPidFile(n.pidFile);
  if (n.clustered) {
    const live = info.nodes.filter((m) => m === n || nodePid(info, m) !== null).map((m) => m.name);
    await waitClusterRunning(info, n, live, timeoutMs);
  }
}

/** Graceful stop (`rabbitmqctl stop`), then SIGKILL by PID if that fails or takes too long. */
export async function stopNode(info: ClusterInfo, ref: NodeRef, timeoutMs = 30_000): Promise<void> {
  const n = nodeOf(info, ref);
  const pid = nodePid(info, n);
  if (pid === null) return;
  try {
    await rabbitmqctl(info, n, ['stop', n.pidFile], { timeoutMs });
  } catch {
    /* fall through to the kill */
  }
  if (!(await waitPidGone(pid, 2_000)) && pidIsOurs(pid, info.cookieHome)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await waitPidGone(pid, 5_000);
  }
}

// ---------------------------------------------------------------------------------------------
// the cluster

async function startEpmd(info: ClusterInfo): Promise<void> {
  if (await portListening(info.epmdPort)) {
    info.epmdPid = null; // someone's epmd (e.g. a previous run's) is there: share it, never kill it
    return;
  }
  const child = spawn('epmd', ['-port', String(info.epmdPort), '-address', '127.0.0.1'], {
    detached: true,
    stdio: 'ignore',
    cwd: info.dir,
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.on('error', () => {
    exited = true;
  });
  child.unref();
  info.epmdPid = child.pid ?? null;
  const end = Date.now() + 10_000;
  while (!(await portListening(info.epmdPort))) {
    if (exited || Date.now() > end) throw new Error(`rabbit-cluster: could not start epmd on port ${info.epmdPort}`);
    await sleep(50);
  }
}

function makeNode(dir: string, dataDir: string | null, index: number | 'pp', name: string, amqp: number, mgmt: number, dist: number, pp: boolean): NodeInfo {
  const short = name.split('@')[0]!;
  const ndir = path.join(dir, short);
  return {
    index,
    name,
    host: '127.0.0.1',
    amqpPort: amqp,
    mgmtPort: mgmt,
    distPort: dist,
    dir: ndir,
    dataDir: dataDir === null ? path.join(ndir, 'mnesia') : path.join(dataDir, short),
    configFile: path.join(ndir, 'rabbitmq.conf'),
    logFile: path.join(ndir, 'log', `${name}.log`),
    stdoutFile: path.join(ndir, 'stdout.log'),
    pidFile: path.join(ndir, 'rabbitmq.pid'),
    pid: null,
    clustered: index !== 'pp',
    proxyProtocol: pp,
  };
}

/** Starts the cluster (and the proxy-protocol node) and returns its description. */
export async function startCluster(opts: StartOptions = {}): Promise<ClusterInfo> {
  const t0 = Date.now();
  const log = opts.log ?? (() => {});
  const size = opts.size ?? 3;
  const basePort = opts.basePort ?? 5673;
  const baseMgmt = opts.baseMgmtPort ?? 15673;
  const baseDist = opts.baseDistPort ?? 25673;
  const prefix = opts.namePrefix ?? 'warren';
  const withPp = opts.proxyProtocolNode ?? true;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const signal = opts.signal;
  const ctl = signal ? { signal } : {};
  if (size < 1) throw new Error('rabbit-cluster: size must be >= 1');
  if (!fs.existsSync(path.join(RABBITMQ_BIN_DIR, 'rabbitmq-server'))) {
    throw new Error(`rabbit-cluster: ${RABBITMQ_BIN_DIR}/rabbitmq-server not found (apt-get install rabbitmq-server)`);
  }

  const ownsDir = !opts.dir;
  const dir = opts.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'warren-rabbit-')));
  await fsp.mkdir(dir, { recursive: true });
  const cookieHome = path.join(dir, 'home');
  await fsp.mkdir(cookieHome, { recursive: true });
  const cookieFile = path.join(cookieHome, '.erlang.cookie');
  if (!fs.existsSync(cookieFile)) {
    fs.writeFileSync(cookieFile, randomBytes(24).toString('hex').toUpperCase(), { mode: 0o400 });
  }
  const dataDir = opts.dataDir ?? null;
  if (dataDir !== null) await fsp.mkdir(dataDir, { recursive: true });
  const envConfFile = path.join(dir, 'rabbitmq-env.conf');
  fs.writeFileSync(envConfFile, '# intentionally empty: do not read /etc/rabbitmq/rabbitmq-env.conf\n');

  const nodes: NodeInfo[] = [];
  for (let i = 0; i < size; i++) {
    nodes.push(makeNode(dir, dataDir, i, `${prefix}${i + 1}@localhost`, basePort + i, baseMgmt + i, baseDist + i, false));
  }
  const ppNode = withPp ? makeNode(dir, dataDir, 'pp', `${prefix}pp@localhost`, basePort + size, baseMgmt + size, baseDist + size, true) : null;

  const info: ClusterInfo = {
    version: 1,
    dir,
    ownsDir,
    dataDir,
    cookieHome,
    epmdPort: opts.epmdPort ?? 4371,
    epmdPid: null,
    envConfFile,
    nodes,
    ppNode,
    startMs: 0,
    user: 'guest',
    password: 'guest',
  };

  const everyone = allNodes(info);
  const busy: string[] = [];
  await Promise.all(
    everyone.flatMap((n) =>
      [n.amqpPort, n.mgmtPort, n.distPort].map(async (p) => {
        if (await portListening(p)) busy.push(`${p} (${n.name})`);
      }),
    ),
  );
  if (busy.length) throw new Error(`rabbit-cluster: ports already in use: ${busy.join(', ')} (a previous run still alive?)`);

  opts.onInfo?.(info);
  try {
    signal?.throwIfAborted();
    await startEpmd(info);
    for (const n of everyone) writeNodeFiles(n, opts.extraConfig ?? []);
    signal?.throwIfAborted();
    log(`starting ${everyone.map((n) => n.name).join(', ')} in ${dir}`);
    for (const n of everyone) spawnServer(info, n);
    // The standalone node needs no clustering: wait for it alongside the rest.
    const ppUp = ppNode ? waitNodeUp(info, ppNode, timeoutMs, signal) : Promise.resolve();
    ppUp.catch(() => {}); // awaited below; avoid an unhandled rejection meanwhile
    await Promise.all(nodes.map((n) => waitNodeUp(info, n, timeoutMs, signal)));
    log(`cluster nodes up after ${Date.now() - t0} ms; clustering`);

    // join_cluster needs the joining node's app stopped. Stop and start the apps in parallel,
    // but join one node at a time (each join is a schema transaction on the seed).
    const seed = nodes[0]!;
    const joiners = nodes.slice(1);
    await Promise.all(joiners.map((n) => rabbitmqctl(info, n, ['stop_app'], ctl)));
    for (const n of joiners) await rabbitmqctl(info, n, ['join_cluster', seed.name], ctl);
    await Promise.all(joiners.map((n) => rabbitmqctl(info, n, ['start_app'], ctl)));
    await Promise.all([
      waitClusterRunning(info, seed, nodes.map((n) => n.name), timeoutMs, signal),
      ...joiners.map((n) => waitNodeUp(info, n, timeoutMs, signal)),
      ppUp,
    ]);
    for (const n of everyone) n.pid = readPidFile(n.pidFile);
  } catch (e) {
    await stopCluster(info, { keepDir: true }).catch(() => {});
    throw new Error(`${(e as Error).message}\n(rabbit-cluster: files kept in ${dir})`);
  }
  info.startMs = Date.now() - t0;
  log(`cluster of ${size} running after ${info.startMs} ms`);
  return info;
}

export interface StopOptions {
  /** Keep the directory (logs) even if startCluster created it. */
  keepDir?: boolean;
}

/** Stops every node (gracefully, then by PID), the epmd we started, and removes our directory. */
export async function stopCluster(info: ClusterInfo, opts: StopOptions = {}): Promise<void> {
  await Promise.all(allNodes(info).map((n) => stopNode(info, n)));
  // Anything whose pid we recorded at start and is somehow still ours and alive: kill it.
  for (const n of allNodes(info)) {
    if (n.pid !== null && pidAlive(n.pid) && pidIsOurs(n.pid, info.cookieHome)) {
      try {
        process.kill(n.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  if (info.epmdPid !== null && pidAlive(info.epmdPid) && pidIsOurs(info.epmdPid, 'epmd')) {
    try {
      process.kill(info.epmdPid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await waitPidGone(info.epmdPid, 3_000);
  }
  // An Erlang VM (node or rabbitmqctl) that found no epmd on our port started `epmd -daemon`
  // itself; it carries our HOME (the cookie directory) in its environment, which marks it ours.
  for (const pid of strayEpmds(info)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  if (info.ownsDir && !opts.keepDir) await fsp.rm(info.dir, { recursive: true, force: true });
  // Scratch data (on tmpfs in the test runs: memory): removed even when the logs are kept.
  if (info.dataDir) await fsp.rm(info.dataDir, { recursive: true, force: true });
}

/** epmd processes started by one of this cluster's VMs (their environment has our HOME). */
function strayEpmds(info: ClusterInfo): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  const marker = `\0HOME=${info.cookieHome}\0`;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!fs.readFileSync(`/proc/${e}/comm`, 'utf8').startsWith('epmd')) continue;
      if (`\0${fs.readFileSync(`/proc/${e}/environ`, 'utf8')}`.includes(marker)) out.push(Number(e));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// state file

export function saveCluster(info: ClusterInfo, file: string): void {
  fs.writeFileSync(file, JSON.stringify(info, null, 2) + '\n');
}

export function readCluster(file: string): ClusterInfo {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`rabbit-cluster: cannot read cluster state file ${file}: ${(e as Error).message}`);
  }
  const info = JSON.parse(text) as ClusterInfo;
  if (info.version !== 1 || !Array.isArray(info.nodes)) throw new Error(`rabbit-cluster: ${file} is not a cluster state file`);
  return info;
}

// ---------------------------------------------------------------------------------------------
// logs

/** Current size of a node's log file, to read only what is appended after this point. */
export function logOffset(info: ClusterInfo, ref: NodeRef): number {
  try {
    return fs.statSync(nodeOf(info, ref).logFile).size;
  } catch {
    return 0;
  }
}

/** The node's log text appended since `offset`. */
export function logSince(info: ClusterInfo, ref: NodeRef, offset: number): string {
  const file = nodeOf(info, ref).logFile;
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Log lines at warning level or above (`[warning]`, `[error]`, `[critical]`, `[alert]`, `[emergency]`),
 *  without QUORUM_HOUSEKEEPING. */
export function warningLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => /^\S+ \S+ \[(warning|error|critical|alert|emergency)\] /.test(l))
    .filter((l) => !QUORUM_HOUSEKEEPING.test(l));
}

/** The quorum-queue log writer flushing, seconds later, a queue that was deleted meanwhile
 *  ("failed to open segment file ... enoent", "skipping segment as directory ... does not
 *  exist"): RabbitMQ's own asynchronous housekeeping after a delete, not about any client. */
const QUORUM_HOUSEKEEPING = /\] <[^>]*> segment_writer: (failed to open segment file .* error: enoent|skipping segment as directory .* does not exist)$/;
