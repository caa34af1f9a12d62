// `warren install`: puts warren in place on a host (or under --root DIR, for an image or a test),
// and `warren wait-ready`: the readiness check of the systemd units (their ExecStartPost).
//
// What goes where (README: "Installing on two hosts"):
//   PREFIX (/opt/warren)                 the built app: dist/src, package.json, package-lock.json,
//                                        README.md, config/ and systemd/ (reference copies), and the
//                                        production node_modules (the lockfile's non-dev packages)
//   /usr/local/bin/warren                a wrapper: exec NODE FLAGS PREFIX/dist/src/cli.js "$@" (FLAGS: proxy/memory.ts)
//   /etc/systemd/system/warren-{proxy,vrrp}.service
//   /etc/warren/haproxy.yaml             from config/haproxy.yaml
//   /etc/warren/keepalived.yaml          from config/keepalived-a.yaml or -b.yaml (--host)
//   /etc/warren/haproxy_chk.sh           from config/haproxy_chk.sh (optional with warren)
//   /etc/warren/vrrp.key                 32 random bytes, base64, mode 600, owner warren
//   /etc/sysctl.d/60-warren.conf         net.ipv4.ip_nonlocal_bind = 1
//   /etc/sysusers.d/warren.conf          the warren user; /etc/tmpfiles.d/warren.conf its modes
//
// Rules: shipped files (app, wrapper, units, sysusers, tmpfiles) are replaced when they differ;
// configs, the key and the sysctl file are never overwritten once they exist ("kept"). With a
// --root other than /, nothing outside DIR is touched and no command is run (no useradd, sysctl,
// systemctl); ownership then comes from systemd-sysusers and systemd-tmpfiles at first boot.
// Running it twice changes nothing the second time.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import yaml from 'js-yaml';
import { parseDuration } from './config/duration.js';
import { loadProxyConfig, ConfigError } from './config/load.js';
import { isVrrpYaml, loadVrrpConfig } from './config/vrrp-load.js';
import { PROXY_NODE_FLAGS } from './proxy/memory.js';

/** The checkout or installed tree this code runs from (dist/src/install.js → ../..). */
export const SOURCE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export const INSTALL_USAGE = `usage: warren install [--root DIR] [--host a|b] [--prefix DIR]

  Installs warren on this host: the app under PREFIX, /usr/local/bin/warren, the systemd units
  warren-proxy.service and warren-vrrp.service, /etc/warren/{haproxy,keepalived}.yaml, the VRRP
  shared secret /etc/warren/vrrp.key, /etc/sysctl.d/60-warren.conf and the warren user.
  Existing configs and the key are kept, never overwritten. Run it again at will.

  --root DIR     install under DIR instead of / (an image, a test): writes only under DIR, runs
                 no useradd/sysctl/systemctl (DIR must exist)
  --host a|b     which keepalived config: a = MASTER priority 100, b = BACKUP priority 90 (default a)
  --prefix DIR   where the app goes (default /opt/warren)
`;

export const WAIT_READY_USAGE = `usage: warren wait-ready (-f FILE | --url URL) [--timeout 30s] [--pid PID] [--any-status]

  Waits until a warren daemon serves: polls an HTTP URL until it answers 2xx (the units'
  ExecStartPost, so that 'systemctl start' returns once the daemon is ready).

  -f FILE        derive the URL from a config: a proxy config → its monitor-uri (else stats uri) on
                 its first http listener, where any HTTP answer counts (200, or 503 while no broker
                 is UP: the proxy is serving either way); a vrrp config → its status API (2xx)
  --url URL      the http:// URL to poll (2xx = ready)
  --any-status   with --url: any HTTP answer means ready
  --timeout T    give up after T (default 30s; 500ms, 2m, ...): exit 1
  --pid PID      fail at once if process PID exits before it is ready (the units pass $MAINPID)
`;

// ---------------------------------------------------------------------------------------------
// install

export type HostRole = 'a' | 'b';

export interface InstallOptions {
  /** Target root ('/' for this host). */
  root: string;
  host: HostRole;
  /** The app directory, absolute, as seen on the target (default /opt/warren). */
  prefix: string;
  /** Where the built app and the shipped files come from (default: this tree). */
  source?: string;
  /** The node binary the wrapper runs (default: this process's). */
  nodePath?: string;
  /** Where each line of the report goes (default: stdout). */
  print?: (line: string) => void;
}

export type Action = 'created' | 'updated' | 'unchanged' | 'kept' | 'ran' | 'skipped' | 'warning';

export interface InstallStep {
  action: Action;
  /** Path on the target (without the root), or a command. */
  what: string;
  note: string;
}

export class InstallError extends Error {}

const UNITS = ['warren-proxy.service', 'warren-vrrp.service'] as const;

interface Ids {
  uid: number;
  gid: number;
}

export async function install(opts: InstallOptions): Promise<InstallStep[]> {
  const root = resolve(opts.root);
  const real = root === '/';
  const src = opts.source ?? SOURCE_DIR;
  const prefix = opts.prefix;
  const nodePath = opts.nodePath ?? process.execPath;
  const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const steps: InstallStep[] = [];
  const at = (p: string): string => join(root, p);
  const step = (action: Action, what: string, note = ''): void => {
    steps.push({ action, what, note });
    print(`  ${action.padEnd(9)} ${what}${note ? `  (${note})` : ''}`);
  };

  if (!prefix.startsWith('/')) throw new InstallError(`--prefix ${prefix}: expected an absolute path`);
  if (!real && !isDir(root)) throw new InstallError(`--root ${opts.root}: no such directory`);
  if (!fs.existsSync(join(src, 'dist/src/cli.js'))) throw new InstallError(`${src}: no dist/src/cli.js: build first (npm ci && npm run build)`);
  const vrrpSource = join(src, `config/keepalived-${opts.host}.yaml`);
  const vrrp = loadVrrpConfig(vrrpSource);
  const inst = vrrp.instances[0];
  const role = `${vrrp.global.routerId ?? '?'}: ${inst ? `${inst.initialState}, priority ${inst.priority}` : 'no instance'}`;

  print(`warren install: root ${root}, host ${opts.host.toUpperCase()} (${role}), prefix ${prefix}`);

  // 1. The user. On a live system it must exist before files are given to it.
  writeShipped(at('/etc/sysusers.d/warren.conf'), read(join(src, 'systemd/warren.sysusers')), 0o644, step, '/etc/sysusers.d/warren.conf');
  let ids = real ? lookupIds(null) : lookupIds(root);
  if (real) {
    if (ids) step('unchanged', 'user warren', `uid ${ids.uid}, gid ${ids.gid}`);
    else {
      const cmd = hasCommand('systemd-sysusers')
        ? ['systemd-sysusers', '/etc/sysusers.d/warren.conf']
        : ['useradd', '--system', '--user-group', '--home-dir', '/nonexistent', '--no-create-home', '--shell', '/usr/sbin/nologin', '--comment', 'warren proxy and vrrp daemons', 'warren'];
      run(cmd);
      ids = lookupIds(null);
      if (!ids) throw new InstallError(`${cmd.join(' ')} ran but there is no user warren`);
      step('ran', cmd.join(' '), `user warren: uid ${ids.uid}, gid ${ids.gid}`);
    }
  } else if (!ids) {
    step('skipped', 'user warren', `--root: created at first boot by systemd-sysusers from /etc/sysusers.d/warren.conf`);
  }

  // 2. The app and the wrapper.
  syncApp(src, at(prefix), prefix, step);
  const wrapper = `#!/bin/sh
# warren: written by 'warren install' (the app in ${prefix}, run by the node it was installed with).
exec ${nodePath} ${PROXY_NODE_FLAGS.join(' ')} ${prefix}/dist/src/cli.js "$@"
`;
  writeShipped(at('/usr/local/bin/warren'), wrapper, 0o755, step, '/usr/local/bin/warren', `runs ${nodePath} ${prefix}/dist/src/cli.js`);
  if (/^\/(root|home)(\/|$)/.test(nodePath)) {
    step('warning', nodePath, 'node lives under /root or /home, which the units hide (ProtectHome=yes): install node system-wide, e.g. /usr/bin/node');
  }

  // 3. The units, sysusers/tmpfiles, sysctl.
  for (const unit of UNITS) writeShipped(at(`/etc/systemd/system/${unit}`), read(join(src, 'systemd', unit)), 0o644, step, `/etc/systemd/system/${unit}`);
  const tmpfiles = read(join(src, 'systemd/warren.tmpfiles'));
  writeShipped(at('/etc/tmpfiles.d/warren.conf'), tmpfiles, 0o644, step, '/etc/tmpfiles.d/warren.conf');
  writeConfig(at('/etc/sysctl.d/60-warren.conf'), read(join(src, 'systemd/60-warren.conf')), 0o644, step, '/etc/sysctl.d/60-warren.conf', 'net.ipv4.ip_nonlocal_bind = 1');

  // 4. The configs and the key.
  mkdirp(at('/etc/warren'), 0o750);
  writeConfig(at('/etc/warren/haproxy.yaml'), read(join(src, 'config/haproxy.yaml')), 0o640, step, '/etc/warren/haproxy.yaml', 'from config/haproxy.yaml');
  const kept = !writeConfig(at('/etc/warren/keepalived.yaml'), read(vrrpSource), 0o640, step, '/etc/warren/keepalived.yaml', `from config/keepalived-${opts.host}.yaml: ${role}`);
  if (kept) {
    const existing = describeVrrp(at('/etc/warren/keepalived.yaml'));
    if (existing && existing !== role) step('warning', '/etc/warren/keepalived.yaml', `kept as it is (${existing}), not host ${opts.host.toUpperCase()}'s ${role}: edit it if this host changed role`);
  }
  writeConfig(at('/etc/warren/haproxy_chk.sh'), read(join(src, 'config/haproxy_chk.sh')), 0o755, step, '/etc/warren/haproxy_chk.sh', 'optional: the built-in proxy tracker does the same');
  const keyPath = at('/etc/warren/vrrp.key');
  if (fs.existsSync(keyPath)) {
    step('kept', '/etc/warren/vrrp.key', 'existing secret, never overwritten');
  } else {
    fs.writeFileSync(keyPath, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    fs.chmodSync(keyPath, 0o600);
    step('created', '/etc/warren/vrrp.key', '32 random bytes, base64, mode 600: copy this same file to the other host');
  }

  // 5. Owners and modes: the tmpfiles 'z' lines, applied now (at boot by systemd-tmpfiles too).
  applyTmpfiles(tmpfiles, root, ids, step);

  // 6. What this installer never does itself: sysctl on a live system is applied, the rest is said.
  if (real) {
    if (hasCommand('sysctl')) {
      try {
        run(['sysctl', '-q', '-p', '/etc/sysctl.d/60-warren.conf']);
        step('ran', 'sysctl -p /etc/sysctl.d/60-warren.conf');
      } catch (err) {
        step('warning', 'sysctl -p /etc/sysctl.d/60-warren.conf', (err as Error).message.split('\n')[0] ?? '');
      }
    } else step('skipped', 'sysctl -p /etc/sysctl.d/60-warren.conf', 'no sysctl: applied at next boot');
  } else {
    step('skipped', 'sysctl, systemctl', '--root: nothing is run; systemd-sysctl applies 60-warren.conf at boot');
  }

  const other = opts.host === 'a' ? 'b' : 'a';
  print(`
Next steps${real ? '' : ` (on the host that boots ${root})`}:
  1. Edit /etc/warren/haproxy.yaml (your brokers' addresses) and /etc/warren/keepalived.yaml
     (interface, virtual_ipaddress, unicast_peer if multicast is filtered); then
       warren check -f /etc/warren/haproxy.yaml && warren check -f /etc/warren/keepalived.yaml
  2. Use the same shared secret on both hosts: copy /etc/warren/vrrp.key from the first host to
     the other (mode 600, owner warren), e.g.
       scp -p /etc/warren/vrrp.key other-host:/etc/warren/vrrp.key && ssh other-host chown warren:warren /etc/warren/vrrp.key
  3. systemctl daemon-reload
     systemctl enable --now warren-proxy warren-vrrp
     systemctl status warren-proxy warren-vrrp; warren status
  4. On the other host: warren install --host ${other}${prefix === '/opt/warren' ? '' : ` --prefix ${prefix}`}, then steps 1-3 there.
`);
  return steps;
}

function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function mkdirp(dir: string, mode = 0o755): void {
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode });
}

/** Write `content` atomically (temp file + rename) with `mode`. */
function writeAtomic(file: string, content: string | Buffer, mode: number): void {
  mkdirp(dirname(file));
  const tmp = `${file}.warren-install.${process.pid}`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/** A file warren ships: replaced when it differs. */
function writeShipped(file: string, content: string, mode: number, step: (a: Action, w: string, n?: string) => void, shown: string, note = ''): void {
  let old: string | null = null;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch {
    old = null;
  }
  if (old === content && (fs.statSync(file).mode & 0o7777) === mode) return step('unchanged', shown, note);
  writeAtomic(file, content, mode);
  step(old === null ? 'created' : 'updated', shown, note);
}

/** A file the operator owns once it exists: written only when missing. True if written. */
function writeConfig(file: string, content: string, mode: number, step: (a: Action, w: string, n?: string) => void, shown: string, note: string): boolean {
  if (fs.existsSync(file)) {
    step('kept', shown, 'exists: never overwritten');
    return false;
  }
  mkdirp(dirname(file));
  fs.writeFileSync(file, content, { mode, flag: 'wx' });
  fs.chmodSync(file, mode);
  step('created', shown, note);
  return true;
}

function describeVrrp(file: string): string | null {
  try {
    const c = loadVrrpConfig(file);
    const i = c.instances[0];
    return `${c.global.routerId ?? '?'}: ${i ? `${i.initialState}, priority ${i.priority}` : 'no instance'}`;
  } catch {
    return null; // an invalid config is the operator's to fix; `warren check` says what is wrong
  }
}

/** uid/gid of user and group warren: from DIR/etc/passwd and group (--root), else getent. */
function lookupIds(root: string | null): Ids | null {
  if (root === null) {
    try {
      const pw = execFileSync('getent', ['passwd', 'warren'], { encoding: 'utf8' }).split(':');
      const gr = execFileSync('getent', ['group', 'warren'], { encoding: 'utf8' }).split(':');
      return { uid: Number(pw[2]), gid: Number(gr[2]) };
    } catch {
      return null;
    }
  }
  const field = (file: string): number | null => {
    try {
      const line = read(join(root, file)).split('\n').find((l) => l.startsWith('warren:'));
      return line ? Number(line.split(':')[2]) : null;
    } catch {
      return null;
    }
  };
  const uid = field('/etc/passwd');
  const gid = field('/etc/group');
  return uid === null || gid === null ? null : { uid, gid };
}

function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(argv: string[]): void {
  try {
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new InstallError(`${argv.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The 'z PATH MODE USER GROUP' lines of the tmpfiles file, applied to the paths that exist. */
function applyTmpfiles(text: string, root: string, ids: Ids | null, step: (a: Action, w: string, n?: string) => void): void {
  const asRoot = process.getuid?.() === 0;
  let deferred = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'z' || f.length < 5) continue;
    const [, path, modeText, user, group] = f as [string, string, string, string, string];
    const file = join(root, path);
    if (!fs.existsSync(file)) continue;
    const id = (name: string, which: 'uid' | 'gid'): number | null => (name === 'root' ? 0 : name === 'warren' ? (ids?.[which] ?? null) : null);
    const uid = id(user, 'uid');
    const gid = id(group, 'gid');
    fs.chmodSync(file, parseInt(modeText, 8));
    if (uid === null || gid === null) deferred++;
    else if (asRoot) fs.chownSync(file, uid, gid);
    else deferred++;
  }
  if (deferred > 0) {
    step('skipped', 'owner warren on /etc/warren', ids ? 'not running as root' : 'no user warren yet: systemd-tmpfiles sets it at boot (/etc/tmpfiles.d/warren.conf), after systemd-sysusers');
  }
}

/**
 * The production part of node_modules: every package the lockfile does not mark `dev` (what
 * `npm ci --omit=dev` installs), each without its nested node_modules (listed on its own).
 */
function productionPackages(src: string): string[] {
  const lock = JSON.parse(read(join(src, 'package-lock.json'))) as { packages?: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean; link?: boolean }> };
  if (!lock.packages) throw new InstallError(`${src}/package-lock.json: no "packages" (lockfileVersion 2 or 3 needed)`);
  const out: string[] = [];
  for (const [path, meta] of Object.entries(lock.packages)) {
    if (path === '' || meta.dev || meta.link) continue;
    if (!isDir(join(src, path))) {
      if (meta.optional || meta.devOptional) continue; // an optional package for another platform
      throw new InstallError(`${join(src, path)} is missing: run npm ci first`);
    }
    out.push(path);
  }
  return out.sort();
}

/** Regular files under `dir` (relative to `base`), not descending into `skip` directory names. */
function walk(base: string, dir: string, skip: Set<string>, out: string[]): void {
  for (const e of fs.readdirSync(join(base, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip.has(e.name)) walk(base, rel, skip, out);
    } else if (e.isFile()) out.push(rel);
  }
}

/** Copy the app into `dest` (its PREFIX under the root); remove what a previous version left. */
function syncApp(src: string, dest: string, shown: string, step: (a: Action, w: string, n?: string) => void): void {
  const files: string[] = ['package.json', 'package-lock.json'];
  if (fs.existsSync(join(src, 'README.md'))) files.push('README.md');
  walk(src, 'dist/src', new Set(), files);
  walk(src, 'config', new Set(), files);
  walk(src, 'systemd', new Set(), files);
  const packages = productionPackages(src);
  for (const pkg of packages) walk(src, pkg, new Set(['node_modules']), files);
  const wanted = new Set(files);
  let written = 0;
  let existed = false;
  for (const rel of files) {
    const from = join(src, rel);
    const to = join(dest, rel);
    const mode = (fs.statSync(from).mode & 0o111) !== 0 ? 0o755 : 0o644;
    const data = fs.readFileSync(from);
    let same = false;
    try {
      const st = fs.statSync(to);
      existed = true;
      same = st.size === data.length && (st.mode & 0o777) === mode && fs.readFileSync(to).equals(data);
    } catch {
      same = false;
    }
    if (!same) {
      writeAtomic(to, data, mode);
      written++;
    }
  }
  // Stale files of an older version (only in the directories this installer owns).
  let removed = 0;
  for (const top of ['dist', 'node_modules', 'config', 'systemd']) {
    if (!isDir(join(dest, top))) continue;
    const present: string[] = [];
    walk(dest, top, new Set(), present);
    for (const rel of present) {
      if (!wanted.has(rel)) {
        fs.rmSync(join(dest, rel));
        removed++;
      }
    }
    removeEmptyDirs(join(dest, top));
  }
  const note = `app: ${files.length} files; node_modules: the lockfile's ${packages.length} production packages`;
  if (!existed) step('created', shown, note);
  else if (written === 0 && removed === 0) step('unchanged', shown, note);
  else step('updated', shown, `${note}; ${written} written, ${removed} removed`);
}

function removeEmptyDirs(dir: string): boolean {
  let empty = true;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory() && removeEmptyDirs(join(dir, e.name))) continue;
    empty = false;
  }
  if (empty) fs.rmdirSync(dir);
  return empty;
}

// ---------------------------------------------------------------------------------------------
// wait-ready

export interface WaitReadyOptions {
  url: string;
  /** Any HTTP status means ready (else 2xx only). */
  anyStatus: boolean;
  timeoutMs: number;
  /** Fail at once when this process is gone. */
  pid?: number | null;
  /** Between attempts (default 200 ms). */
  intervalMs?: number;
}

export interface WaitReadyResult {
  ok: boolean;
  /** ms from the first attempt. */
  elapsedMs: number;
  attempts: number;
  /** The last answer or error: 'HTTP 200', 'connect ECONNREFUSED 127.0.0.1:8888', ... */
  last: string;
  /** Why it gave up: 'timeout' or 'exited'. */
  reason?: 'timeout' | 'exited';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, belongs to someone else
  }
}

export async function waitReady(opts: WaitReadyOptions): Promise<WaitReadyResult> {
  const start = performance.now();
  const deadline = start + opts.timeoutMs;
  const interval = opts.intervalMs ?? 200;
  let attempts = 0;
  let last = 'no attempt';
  for (;;) {
    if (opts.pid && !alive(opts.pid)) return { ok: false, elapsedMs: performance.now() - start, attempts, last, reason: 'exited' };
    attempts++;
    const left = deadline - performance.now();
    try {
      const res = await fetch(opts.url, { signal: AbortSignal.timeout(Math.max(100, Math.min(2000, left))), redirect: 'manual' });
      await res.arrayBuffer().catch(() => undefined);
      last = `HTTP ${res.status}`;
      if (opts.anyStatus || (res.status >= 200 && res.status < 300)) return { ok: true, elapsedMs: performance.now() - start, attempts, last };
    } catch (err) {
      const e = err as Error & { cause?: { message?: string } };
      last = e.name === 'TimeoutError' ? 'no answer (request timed out)' : (e.cause?.message ?? e.message);
    }
    const now = performance.now();
    if (now >= deadline) return { ok: false, elapsedMs: now - start, attempts, last, reason: 'timeout' };
    await new Promise((r) => setTimeout(r, Math.min(interval, deadline - now)));
  }
}

function hostForUrl(host: string): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}

/** The URL `warren wait-ready -f FILE` polls, and whether any status counts; null: nothing to poll. */
export function readinessTarget(file: string): { url: string; anyStatus: boolean; what: string } | null {
  let data: unknown = null;
  try {
    data = yaml.load(fs.readFileSync(file, 'utf8'));
  } catch {
    data = null; // the loader below reports it properly
  }
  if (isVrrpYaml(data)) {
    const listen = loadVrrpConfig(file).global.statusListen;
    if (!listen) return null;
    return { url: `http://${hostForUrl(listen.host)}:${listen.port}/status`, anyStatus: false, what: 'the vrrp status API' };
  }
  const config = loadProxyConfig(file);
  for (const sc of config.stats) {
    const bind = sc.binds[0];
    if (!bind) continue;
    const path = sc.monitorUri ?? (sc.enabled ? sc.uri : null);
    if (!path) continue;
    return { url: `http://${hostForUrl(bind.host)}:${bind.port}${path}`, anyStatus: true, what: `the proxy's ${sc.monitorUri ? 'monitor-uri' : 'stats page'} (${sc.name})` };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// the two commands

function usageError(message: string, usage: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}

async function runInstall(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { root: { type: 'string' }, host: { type: 'string' }, prefix: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    usageError(`warren install: ${(err as Error).message}`, INSTALL_USAGE);
  }
  if (values.help) return void process.stdout.write(INSTALL_USAGE);
  const host = (values.host ?? 'a').toLowerCase();
  if (host !== 'a' && host !== 'b') usageError(`warren install: --host ${values.host}: expected a or b`, INSTALL_USAGE);
  const root = values.root ?? '/';
  if (resolve(root) === '/' && process.getuid?.() !== 0) usageError('warren install: installing on this host needs root (or --root DIR)', INSTALL_USAGE);
  try {
    await install({ root, host, prefix: values.prefix ?? '/opt/warren' });
  } catch (err) {
    if (err instanceof InstallError) {
      process.stderr.write(`warren install: ${err.message}\n`);
      process.exit(1);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`warren install: a shipped config does not validate:\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function runWaitReady(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        file: { type: 'string', short: 'f' },
        url: { type: 'string' },
        timeout: { type: 'string' },
        pid: { type: 'string' },
        'any-status': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    usageError(`warren wait-ready: ${(err as Error).message}`, WAIT_READY_USAGE);
  }
  if (values.help) return void process.stdout.write(WAIT_READY_USAGE);
  if (!values.file === !values.url) usageError('warren wait-ready: expected -f FILE or --url URL (one of them)', WAIT_READY_USAGE);
  const timeoutMs = parseDuration(values.timeout ?? '30s');
  if (timeoutMs === null) usageError(`warren wait-ready: --timeout ${values.timeout}: expected a duration such as 30s`, WAIT_READY_USAGE);
  let pid: number | null = null;
  if (values.pid !== undefined && values.pid !== '') {
    pid = Number(values.pid);
    if (!Number.isInteger(pid) || pid <= 0) usageError(`warren wait-ready: --pid ${values.pid}: expected a process id`, WAIT_READY_USAGE);
  }
  let target: { url: string; anyStatus: boolean; what: string } | null;
  if (values.url) {
    if (!/^http:\/\//.test(values.url)) usageError(`warren wait-ready: --url ${values.url}: expected an http:// URL`, WAIT_READY_USAGE);
    target = { url: values.url, anyStatus: values['any-status'] ?? false, what: values.url };
  } else {
    try {
      target = readinessTarget(values.file!);
    } catch (err) {
      if (err instanceof ConfigError) usageError(`warren wait-ready: ${err.message}`, WAIT_READY_USAGE);
      throw err;
    }
    if (!target) {
      process.stdout.write(`warren wait-ready: ${values.file} has no HTTP listener (stats/monitor-uri, status_listen): nothing to wait for\n`);
      return;
    }
  }
  const result = await waitReady({ url: target.url, anyStatus: target.anyStatus, timeoutMs, pid });
  const secs = (result.elapsedMs / 1000).toFixed(1);
  if (result.ok) {
    process.stdout.write(`warren wait-ready: ready: ${target.url} answered ${result.last} after ${secs}s\n`);
    return;
  }
  const why = result.reason === 'exited' ? `process ${pid} exited before ${target.url} answered` : `${target.url} not ready after ${secs}s`;
  process.stderr.write(`warren wait-ready: ${why} (${result.attempts} attempts, last: ${result.last})\n`);
  process.exit(1);
}

/** `warren install ...` and `warren wait-ready ...` (they parse their own options). */
export function runInstallCommand(command: 'install' | 'wait-ready', argv: string[]): Promise<void> {
  return command === 'install' ? runInstall(argv) : runWaitReady(argv);
}
