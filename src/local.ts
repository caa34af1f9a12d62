// `warren local`: the one-machine profile behind the shipped config/haproxy.yaml, for a first look.
// On a fresh Debian machine, as root, it:
//   1. installs Debian's rabbitmq-server when it is missing (the Debian service is never started:
//      a policy-rc.d that denies service starts is in place during the install; the unit is then
//      disabled, so that a reboot does not start a broker on :5672 either);
//   2. starts the brokers the config names on 127.0.0.1 (config/haproxy.yaml: 5673, 5674, 5675) as
//      one RabbitMQ cluster, with its own epmd, node names, cookie, data and logs under a state
//      directory (src/lib/rabbit-cluster.ts), created anew at each start;
//   3. creates the AMQP check user the config names, when it is not RabbitMQ's own guest;
//   4. runs the proxy in this process with that config: :5672, the stats page on :8888;
//   5. on Ctrl-C / SIGTERM stops the proxy, then every RabbitMQ node and the epmd it started.
// A run that was killed (-9) leaves its nodes running: the next start stops them first (by the
// PIDs recorded in STATE/cluster.json, checked to be ours).
//
// Environment (for running next to another cluster, e.g. the test suite's):
//   WARREN_LOCAL_STATE_DIR   default /var/lib/warren/local (root), else ~/.local/state/warren/local
//   WARREN_LOCAL_EPMD_PORT   default 4370 (not Debian's 4369: its epmd may be running)
//   WARREN_LOCAL_NODE_PREFIX default 'warrenlocal' (nodes warrenlocal1@localhost, ...)
//   WARREN_LOCAL_MGMT_PORT   node 1's management port, default its AMQP port + 10000 (node i: + i)
//   WARREN_LOCAL_DIST_PORT   node 1's Erlang distribution port, default its AMQP port + 20000
// The AMQP ports come from the config itself (-f FILE): its servers on 127.0.0.1, which must be on
// consecutive ports.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BindAddress, ProxyConfig } from './config/types.js';
import type { Logger } from './lib/log.js';
import { killNode, RABBITMQ_BIN_DIR, rabbitmqctl, readCluster, saveCluster, startCluster, stopCluster, type ClusterInfo } from './lib/rabbit-cluster.js';
import { Proxy } from './proxy/proxy.js';
import { Primary } from './proxy/workers.js';

/** A problem the user must fix; printed without a stack trace. */
export class LocalSetupError extends Error {}

export interface LocalSettings {
  stateDir: string;
  epmdPort: number;
  namePrefix: string;
  /** AMQP ports of the nodes, consecutive (node 1 first). */
  amqpPorts: number[];
  mgmtBase: number;
  distBase: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);
/** Marks a directory this profile created (and may therefore wipe). */
const MARKER = '.warren-local';
/** How long Ctrl-C lets open client sessions finish before the proxy closes them. */
const STOP_GRACE_MS = 1000;

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new LocalSetupError(`${name}=${raw}: expected a port number`);
  return n;
}

function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (process.getuid?.() === 0) return '/var/lib/warren/local';
  const base = env['XDG_STATE_HOME'] || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'warren', 'local');
}

/** The brokers the config expects on this machine: its servers on 127.0.0.1, in port order. Pure. */
export function localBrokerPorts(config: ProxyConfig): number[] {
  const ports = [...new Set(config.backends.flatMap((b) => b.servers.filter((s) => LOOPBACK.has(s.host)).map((s) => s.port)))].sort((a, b) => a - b);
  if (ports.length === 0) {
    throw new LocalSetupError(`${config.file} has no server on 127.0.0.1: warren local runs the brokers the config names on 127.0.0.1 (config/haproxy.yaml: 5673-5675)`);
  }
  for (let i = 1; i < ports.length; i++) {
    if (ports[i] !== ports[0]! + i) throw new LocalSetupError(`${config.file}: the servers on 127.0.0.1 must use consecutive ports (have ${ports.join(', ')})`);
  }
  return ports;
}

/** Settings from the config and the environment. Pure but for the default state dir. */
export function localSettings(config: ProxyConfig, env: NodeJS.ProcessEnv = process.env): LocalSettings {
  const amqpPorts = localBrokerPorts(config);
  const first = amqpPorts[0]!;
  return {
    stateDir: path.resolve(env['WARREN_LOCAL_STATE_DIR'] || defaultStateDir(env)),
    epmdPort: intEnv(env, 'WARREN_LOCAL_EPMD_PORT', 4370),
    namePrefix: env['WARREN_LOCAL_NODE_PREFIX'] || 'warrenlocal',
    amqpPorts,
    mgmtBase: intEnv(env, 'WARREN_LOCAL_MGMT_PORT', first + 10000),
    distBase: intEnv(env, 'WARREN_LOCAL_DIST_PORT', first + 20000),
  };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve) => {
    // Output to stderr: stdout carries the JSON log lines.
    const child = spawn(cmd, args, { stdio: ['ignore', process.stderr, process.stderr], env });
    child.on('error', () => resolve(127));
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

/** Installs Debian's rabbitmq-server when missing, without ever starting its service. */
export async function ensureRabbitmq(log: Logger): Promise<void> {
  const server = path.join(RABBITMQ_BIN_DIR, 'rabbitmq-server');
  if (fs.existsSync(server)) return;
  if (process.getuid?.() !== 0) throw new LocalSetupError(`${server} is missing: run as root (to apt-get install rabbitmq-server), or install it first`);
  log.info('rabbitmq-server is not installed: installing it with apt-get (its Debian service stays off)');
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\n# warren local: no service starts during the install\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if ((await run('apt-get', ['update', '-q'], env)) !== 0) throw new LocalSetupError('apt-get update failed');
    if ((await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'rabbitmq-server'], env)) !== 0) {
      throw new LocalSetupError('apt-get install rabbitmq-server failed');
    }
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  if (!fs.existsSync(server)) throw new LocalSetupError(`apt-get install rabbitmq-server did not provide ${server}`);
  // Enabled by the package for the next boot; its broker on :5672 would take the proxy's port.
  if (fs.existsSync('/run/systemd/system')) {
    const code = await run('systemctl', ['disable', 'rabbitmq-server.service']);
    log.info(code === 0 ? "disabled Debian's rabbitmq-server.service (warren local runs its own nodes)" : 'could not disable rabbitmq-server.service');
  }
}

/** Fails fast (before the cluster's half minute) when a port the proxy binds is taken. */
async function assertBindable(binds: BindAddress[]): Promise<void> {
  for (const b of binds) {
    if (b.port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', (err: NodeJS.ErrnoException) =>
        reject(new LocalSetupError(`cannot listen on ${b.host}:${b.port}: ${err.code ?? err.message}${err.code === 'EADDRINUSE' ? ' (is another warren, haproxy or rabbitmq-server running?)' : ''}`)),
      );
      srv.listen(b.port, b.host, () => srv.close(() => resolve()));
    });
  }
}

/** The cluster directory, emptied: only one this profile made (or none) is ever wiped. */
function freshClusterDir(stateDir: string): string {
  const dir = path.join(stateDir, 'rabbitmq');
  if (fs.existsSync(dir)) {
    if (fs.readdirSync(dir).length > 0 && !fs.existsSync(path.join(dir, MARKER))) {
      throw new LocalSetupError(`${dir} exists and was not made by warren local: remove it or set WARREN_LOCAL_STATE_DIR`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, MARKER), 'made by warren local; wiped at each start\n');
  return dir;
}

/** Stops the nodes (and epmd) of an earlier run that did not stop them (kill -9, a crash). */
async function stopLeftovers(infoFile: string, log: Logger): Promise<void> {
  if (!fs.existsSync(infoFile)) return;
  try {
    const info = readCluster(infoFile);
    await stopCluster(info, { keepDir: true });
    log.info({ dir: info.dir }, 'stopped what an earlier run of warren local left running (if anything)');
  } catch (err) {
    log.warn({ err: (err as Error).message }, `cannot read ${infoFile}; ignoring it`);
  }
  fs.rmSync(infoFile, { force: true });
}

/** The AMQP check users the config logs in with, when not RabbitMQ's default guest. */
async function createCheckUsers(config: ProxyConfig, info: ClusterInfo, log: Logger): Promise<void> {
  const seen = new Set<string>();
  for (const be of config.backends) {
    const amqp = be.check.amqp;
    if (be.check.type !== 'amqp' || !amqp?.user || amqp.user === 'guest' || seen.has(amqp.user)) continue;
    seen.add(amqp.user);
    try {
      await rabbitmqctl(info, 0, ['add_user', amqp.user, amqp.password ?? '']);
    } catch (err) {
      if (!/already exists/.test((err as Error).message)) throw err;
    }
    // What the check needs and no more: publish to the default exchange (see README).
    await rabbitmqctl(info, 0, ['set_permissions', '-p', amqp.vhost, amqp.user, '^$', '^amq\\.default$', '^$']);
    log.info({ user: amqp.user, vhost: amqp.vhost }, 'created the AMQP check user');
  }
}

function shown(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Runs the profile until SIGINT/SIGTERM; resolves with the exit code once everything is stopped.
 * `config` is the validated proxy config (the shipped one unless -f).
 */
export async function runLocal(config: ProxyConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let info: ClusterInfo | null = null;
  let proxy: Proxy | Primary | null = null;
  let stopSignal: string | null = null;
  let wake: (() => void) | null = null;
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: string): void => {
    if (stopSignal) {
      log.info('still stopping: the RabbitMQ nodes take a few seconds');
      return;
    }
    stopSignal = signal;
    log.info({ signal }, 'stopping: the proxy, then the RabbitMQ cluster');
    wake?.();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);

  let code = 0;
  let infoFile: string | null = null;
  try {
    const settings = localSettings(config, env);
    await assertBindable([...config.frontends.flatMap((f) => f.binds), ...config.stats.flatMap((s) => s.binds)]);
    await ensureRabbitmq(log);
    fs.mkdirSync(settings.stateDir, { recursive: true, mode: 0o700 });
    infoFile = path.join(settings.stateDir, 'cluster.json');
    await stopLeftovers(infoFile, log);
    const dir = freshClusterDir(settings.stateDir);
    const file = infoFile;

    log.info(
      { nodes: settings.amqpPorts.map((p, i) => `${settings.namePrefix}${i + 1}@localhost 127.0.0.1:${p}`), epmdPort: settings.epmdPort, dir },
      `starting a ${settings.amqpPorts.length}-node RabbitMQ cluster (about half a minute)`,
    );
    const abort = new AbortController();
    const starting = startCluster({
      signal: abort.signal,
      size: settings.amqpPorts.length,
      basePort: settings.amqpPorts[0]!,
      baseMgmtPort: settings.mgmtBase,
      baseDistPort: settings.distBase,
      epmdPort: settings.epmdPort,
      namePrefix: settings.namePrefix,
      proxyProtocolNode: false,
      dir,
      onInfo: (i) => {
        info = i;
        saveCluster(i, file);
      },
      log: (m) => log.info(`rabbitmq: ${m}`),
    });
    // Ctrl-C while the cluster starts: stop what has started, which ends the start too.
    const interrupted = stopped.then(() => 'interrupted' as const);
    const first = await Promise.race([starting.then((i) => i), interrupted]);
    if (first === 'interrupted') {
      await killBooting(info as ClusterInfo | null, abort);
      await starting.catch(() => undefined);
      return 0; // finally{} stops the rest (epmd)
    }
    info = first;
    saveCluster(info, file);
    await createCheckUsers(config, info, log);

    // nbthread > 1: a primary and its workers, as `warren proxy` (src/proxy/workers.ts).
    proxy = config.global.nbthread > 1 ? new Primary(config, log) : new Proxy(config, log);
    await proxy.start();
    banner(config, info, dir);
    await stopped;
  } catch (err) {
    if (stopSignal) return 0; // the start failed because we stopped it
    if (err instanceof LocalSetupError) log.fatal(err.message);
    else log.fatal({ err }, 'warren local failed');
    code = 1;
  } finally {
    if (proxy) await proxy.stop(Math.min(config.global.hardStopAfter ?? STOP_GRACE_MS, STOP_GRACE_MS)).catch((err: unknown) => log.error({ err }, 'error while stopping the proxy'));
    if (info) {
      await stopCluster(info, { keepDir: true }).catch((err: unknown) => log.error({ err }, 'error while stopping the RabbitMQ cluster'));
      if (infoFile) fs.rmSync(infoFile, { force: true });
      log.info('RabbitMQ cluster stopped');
    }
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
  log.info('stopped');
  return code;
}

/**
 * Ctrl-C while the cluster boots: its data is thrown away at the next start anyway, so kill -9
 * every node that was spawned (it has a stdout.log) by its pid file (checked to be ours), waiting
 * (at most 20 s) for a node that has not written its pid file yet; a graceful stop of a booting
 * node takes half a minute or more. Only then is the start aborted (its rabbitmqctl calls killed,
 * its epmd stopped): a node still booting without an epmd would start one of its own.
 * Before the nodes are spawned, the abort alone suffices (nothing is spawned after it).
 */
async function killBooting(info: ClusterInfo | null, abort: AbortController): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    const spawned = info ? info.nodes.filter((n) => fs.existsSync(n.stdoutFile)) : [];
    if (spawned.length === 0) {
      abort.abort(); // synchronous with the check above: the start cannot spawn in between
      return;
    }
    let booting = false;
    for (const n of spawned) {
      await killNode(info!, n).catch(() => null);
      if (!fs.existsSync(n.pidFile)) booting = true;
    }
    if (!booting || Date.now() > end) {
      abort.abort();
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function banner(config: ProxyConfig, info: ClusterInfo, dir: string): void {
  const lines = ['', 'warren local is running:'];
  for (const s of config.stats) {
    for (const b of s.binds) if (s.enabled) lines.push(`  stats page     http://${shown(b.host)}:${b.port}${s.uri}`);
  }
  for (const f of config.frontends) {
    for (const b of f.binds) lines.push(`  AMQP           amqp://guest:guest@${shown(b.host)}:${b.port}   (${f.name}: the proxy in front of the cluster)`);
  }
  for (const n of info.nodes) lines.push(`  broker         ${n.name} on 127.0.0.1:${n.amqpPort}, management http://127.0.0.1:${n.mgmtPort}/ (guest/guest)`);
  lines.push(`  data and logs  ${dir} (a fresh cluster at each start)`, 'Ctrl-C stops the proxy and the cluster.', '');
  process.stderr.write(lines.join('\n') + '\n');
}
