// `warren install` into a temporary root, the installed systemd units (systemd-analyze verify and
// security, sysusers/tmpfiles as at first boot), `warren wait-ready` (the units' readiness check)
// against real HTTP servers and the real installed proxy, and the vrrp unit's capability set
// tried for real: an unprivileged uid with only ambient CAP_NET_ADMIN + CAP_NET_RAW and
// no_new_privs runs `ip addr`, arping and the installed `warren vrrp` inside a network namespace
// (wins-<pid>) that the test creates and deletes. Nothing is installed on this host; nothing
// touches the root network namespace.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProxyConfig } from '../../src/config/load.js';
import { loadVrrpConfig } from '../../src/config/vrrp-load.js';
import { parseDuration } from '../../src/config/duration.js';
import { PROXY_NODE_FLAGS } from '../../src/proxy/memory.js';

const CLI = 'dist/src/cli.js';
const isRoot = process.getuid?.() === 0;
const root = fs.mkdtempSync(join(tmpdir(), 'warren-install-'));
const work = fs.mkdtempSync(join(tmpdir(), 'warren-install-work-'));
const APP = join(root, 'opt/warren/dist/src/cli.js'); // the installed app
const NS = `wins-${process.pid}`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeout ?? 60_000, env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

const warren = (args: string[], opts?: { timeout?: number }): Promise<Result> => run(process.execPath, [CLI, ...args], opts);

function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(join(d, name)));
}

function mode(p: string): number {
  return fs.statSync(p).mode & 0o7777;
}

/** path → content hash, mode, owner, mtime of every file and directory under dir. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = join(rel, e.name);
      const st = fs.lstatSync(join(dir, r));
      const hash = e.isFile() ? createHash('sha256').update(fs.readFileSync(join(dir, r))).digest('hex') : e.isDirectory() ? 'dir' : 'other';
      out.set(r, `${hash} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${e.isFile() ? st.mtimeMs : ''}`);
      if (e.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** A unit file as key → values (every assignment, in order; comments and sections dropped). */
function unitKeys(file: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue;
    const eq = line.indexOf('=');
    const k = line.slice(0, eq);
    keys.set(k, [...(keys.get(k) ?? []), line.slice(eq + 1)]);
  }
  return keys;
}

const one = (keys: Map<string, string[]>, k: string): string | undefined => keys.get(k)?.at(-1);

async function freePort(): Promise<number> {
  const srv = createTcpServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return Promise.race([once(child, 'exit').then(([code]) => code as number | null), sleep(ms).then(() => Promise.reject(new Error(`pid ${child.pid} still running after ${ms} ms`)))]);
}

const children: ChildProcess[] = [];
let nsCreated = false;

before(() => {
  assert.ok(fs.existsSync(CLI), 'build first: npx tsc -p tsconfig.json');
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (nsCreated) await run('ip', ['netns', 'del', NS]);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

// ---- the installer ----------------------------------------------------------------------------

let firstRun: Result;

test('warren install --root DIR --host b: units, host B configs, key, sysctl, app, wrapper', async () => {
  firstRun = await warren(['install', '--root', root, '--host', 'b']);
  assert.equal(firstRun.code, 0, firstRun.stderr);
  const out = firstRun.stdout;
  assert.match(out, /^warren install: root .*, host B \(lbB: BACKUP, priority 90\), prefix \/opt\/warren$/m);
  for (const p of ['/etc/systemd/system/warren-proxy.service', '/etc/systemd/system/warren-vrrp.service', '/etc/warren/haproxy.yaml', '/etc/warren/keepalived.yaml', '/etc/warren/vrrp.key', '/etc/sysctl.d/60-warren.conf', '/usr/local/bin/warren', '/opt/warren']) {
    assert.match(out, new RegExp(`^  created +${p.replace(/[.]/g, '\\.')}( |$)`, 'm'), `created ${p}`);
  }
  assert.match(out, /^  skipped +user warren +\(--root: created at first boot by systemd-sysusers/m);
  assert.match(out, /systemctl daemon-reload\n +systemctl enable --now warren-proxy warren-vrrp/);
  assert.match(out, /copy \/etc\/warren\/vrrp\.key from the first host/);
  assert.match(out, /warren install --host a/);

  // Only under the root: etc, opt, usr.
  assert.deepEqual(fs.readdirSync(root).sort(), ['etc', 'opt', 'usr']);

  // The units are the shipped ones, byte for byte.
  for (const unit of ['warren-proxy.service', 'warren-vrrp.service']) {
    assert.equal(fs.readFileSync(join(root, 'etc/systemd/system', unit), 'utf8'), fs.readFileSync(join('systemd', unit), 'utf8'));
    assert.equal(mode(join(root, 'etc/systemd/system', unit)), 0o644);
  }

  // Host B's keepalived config: router_id, state and priority of the second host.
  const vrrpFile = join(root, 'etc/warren/keepalived.yaml');
  assert.equal(fs.readFileSync(vrrpFile, 'utf8'), fs.readFileSync('config/keepalived-b.yaml', 'utf8'));
  const vrrp = loadVrrpConfig(vrrpFile);
  assert.equal(vrrp.global.routerId, 'lbB');
  assert.equal(vrrp.instances[0]!.initialState, 'BACKUP');
  assert.equal(vrrp.instances[0]!.priority, 90);
  assert.equal(vrrp.global.authSecretFile, '/etc/warren/vrrp.key');
  assert.equal(vrrp.global.proxySocket, '/run/warren/proxy.sock');
  assert.equal(fs.readFileSync(join(root, 'etc/warren/haproxy.yaml'), 'utf8'), fs.readFileSync('config/haproxy.yaml', 'utf8'));
  assert.equal(mode(join(root, 'etc/warren')), 0o750);
  assert.equal(mode(join(root, 'etc/warren/haproxy.yaml')), 0o640);
  assert.equal(mode(vrrpFile), 0o640);
  assert.equal(mode(join(root, 'etc/warren/haproxy_chk.sh')), 0o755);

  // The shared secret: 32 random bytes, base64, mode 600.
  const keyFile = join(root, 'etc/warren/vrrp.key');
  assert.equal(mode(keyFile), 0o600);
  const key = fs.readFileSync(keyFile, 'utf8');
  assert.match(key, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(Buffer.from(key.trim(), 'base64').length, 32);

  // sysctl: active, and explained.
  const sysctl = fs.readFileSync(join(root, 'etc/sysctl.d/60-warren.conf'), 'utf8');
  assert.match(sysctl, /^net\.ipv4\.ip_nonlocal_bind = 1$/m);
  assert.match(sysctl, /only when a proxy binds\s+# the VIP itself/);

  // sysusers and tmpfiles.
  assert.match(fs.readFileSync(join(root, 'etc/sysusers.d/warren.conf'), 'utf8'), /^u\s+warren\s+-\s+"[^"]+"\s+\/nonexistent\s+\/usr\/sbin\/nologin$/m);
  assert.match(fs.readFileSync(join(root, 'etc/tmpfiles.d/warren.conf'), 'utf8'), /^z\s+\/etc\/warren\/vrrp\.key\s+0600\s+warren\s+warren/m);

  // The wrapper runs the installed app with this node and the proxy's heap flags (memory.ts).
  const wrapper = join(root, 'usr/local/bin/warren');
  assert.equal(mode(wrapper), 0o755);
  assert.match(fs.readFileSync(wrapper, 'utf8'), new RegExp(`^#!/bin/sh\n(#.*\n)*exec ${process.execPath} ${PROXY_NODE_FLAGS.join(' ')} /opt/warren/dist/src/cli\\.js "\\$@"\n$`));

  // The app: dist/src and the production dependencies only.
  const app = join(root, 'opt/warren');
  for (const p of ['dist/src/cli.js', 'dist/src/install.js', 'package.json', 'package-lock.json', 'node_modules/pino/package.json', 'node_modules/js-yaml/package.json', 'node_modules/undici/package.json', 'config/keepalived-a.yaml', 'systemd/warren-vrrp.service']) {
    assert.ok(fs.existsSync(join(app, p)), p);
  }
  for (const p of ['dist/test', 'node_modules/typescript', 'node_modules/amqplib', 'node_modules/playwright-core', 'node_modules/.bin']) assert.ok(!fs.existsSync(join(app, p)), `${p} must not be installed`);
});

test('the units: user, capabilities, validation before start and reload, stop timeout, hardening', () => {
  const proxy = unitKeys(join(root, 'etc/systemd/system/warren-proxy.service'));
  const vrrp = unitKeys(join(root, 'etc/systemd/system/warren-vrrp.service'));
  const haproxy = loadProxyConfig(join(root, 'etc/warren/haproxy.yaml'));
  for (const [name, u, file, daemon] of [
    ['proxy', proxy, '/etc/warren/haproxy.yaml', 'proxy'],
    ['vrrp', vrrp, '/etc/warren/keepalived.yaml', 'vrrp'],
  ] as const) {
    assert.equal(one(u, 'User'), 'warren', name);
    assert.equal(one(u, 'Type'), 'exec', name);
    assert.deepEqual(u.get('ExecStartPre'), [`/usr/local/bin/warren check -f ${file}`], name);
    assert.deepEqual(u.get('ExecStart'), [`/usr/local/bin/warren ${daemon} -f ${file}`], name);
    assert.deepEqual(u.get('ExecStartPost'), [`/usr/local/bin/warren wait-ready -f ${file} --pid \${MAINPID} --timeout 30s`], name);
    assert.deepEqual(u.get('ExecReload'), [`/usr/local/bin/warren check -f ${file}`, '/bin/kill -HUP $MAINPID'], name);
    assert.equal(one(u, 'Restart'), 'on-failure', name);
    assert.equal(one(u, 'NoNewPrivileges'), 'yes', name);
    assert.equal(one(u, 'ProtectSystem'), 'strict', name);
    assert.equal(one(u, 'ProtectHome'), 'yes', name);
    assert.equal(one(u, 'PrivateTmp'), 'yes', name);
    assert.equal(one(u, 'ReadOnlyPaths'), '/etc/warren', name);
    assert.equal(one(u, 'SystemCallArchitectures'), 'native', name);
    assert.equal(u.get('MemoryDenyWriteExecute'), undefined, `${name}: V8 needs W+X`);
    // wait-ready's 30 s fit in the start timeout
    assert.ok(parseDuration(one(u, 'TimeoutStartSec')!)! > 30_000, name);
  }
  // Graceful stop: sessions may run for hard-stop-after; systemd must not SIGKILL them earlier.
  assert.equal(haproxy.global.hardStopAfter, 30_000);
  assert.ok(parseDuration(one(proxy, 'TimeoutStopSec')!)! > haproxy.global.hardStopAfter!);
  // Capabilities: none for the proxy, exactly NET_ADMIN + NET_RAW (ambient) for vrrp.
  assert.equal(one(proxy, 'CapabilityBoundingSet'), '');
  assert.equal(one(proxy, 'AmbientCapabilities'), '');
  assert.equal(one(vrrp, 'CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW');
  assert.equal(one(vrrp, 'AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_RAW');
  assert.equal(one(vrrp, 'PrivateUsers'), undefined, 'caps in a private user namespace do not count for the host netns');
  assert.deepEqual(one(vrrp, 'RestrictAddressFamilies')!.split(' ').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_PACKET', 'AF_UNIX']);
  assert.deepEqual(one(proxy, 'RestrictAddressFamilies')!.split(' ').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  // The runtime API socket lives in the proxy's RuntimeDirectory; vrrp connects to it, owns none.
  const socketPath = haproxy.global.statsSocket!.split(/\s+/)[0]!;
  assert.equal(socketPath, `/run/${one(proxy, 'RuntimeDirectory')}/proxy.sock`);
  assert.equal(vrrp.get('RuntimeDirectory'), undefined);
  assert.equal(loadVrrpConfig(join(root, 'etc/warren/keepalived.yaml')).global.proxySocket, socketPath);
  // vrrp starts after the proxy serves, but does not stop with it.
  assert.match(one(vrrp, 'After')!, /warren-proxy\.service/);
  assert.equal(vrrp.get('Requires'), undefined);
  assert.equal(vrrp.get('BindsTo'), undefined);
});

test('a second run changes nothing: the key and configs are kept, shipped files unchanged', async () => {
  const before = snapshot(root);
  const again = await warren(['install', '--root', root, '--host', 'b']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(snapshot(root), before);
  assert.match(again.stdout, /^  kept +\/etc\/warren\/vrrp\.key +\(existing secret, never overwritten\)$/m);
  for (const p of ['/etc/warren/haproxy.yaml', '/etc/warren/keepalived.yaml', '/etc/sysctl.d/60-warren.conf']) assert.match(again.stdout, new RegExp(`^  kept +${p.replace(/[.]/g, '\\.')} `, 'm'));
  for (const p of ['/opt/warren', '/usr/local/bin/warren', '/etc/systemd/system/warren-proxy.service', '/etc/systemd/system/warren-vrrp.service']) assert.match(again.stdout, new RegExp(`^  unchanged +${p.replace(/[.]/g, '\\.')}( |$)`, 'm'));
  assert.doesNotMatch(again.stdout, /^  (created|updated) /m);
});

test('an operator edit is kept, a deleted unit comes back, a stale app file goes; --host a keeps B\'s config and says so', async () => {
  const haproxy = join(root, 'etc/warren/haproxy.yaml');
  const edited = `${fs.readFileSync(haproxy, 'utf8')}# edited by the operator\n`;
  fs.writeFileSync(haproxy, edited);
  const key = fs.readFileSync(join(root, 'etc/warren/vrrp.key'), 'utf8');
  fs.rmSync(join(root, 'etc/systemd/system/warren-vrrp.service'));
  fs.writeFileSync(join(root, 'opt/warren/dist/src/removed-module.js'), 'old version\n');
  const res = await warren(['install', '--root', root, '--host', 'a']);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(fs.readFileSync(haproxy, 'utf8'), edited);
  assert.equal(fs.readFileSync(join(root, 'etc/warren/vrrp.key'), 'utf8'), key);
  assert.match(res.stdout, /^  created +\/etc\/systemd\/system\/warren-vrrp\.service$/m);
  assert.match(res.stdout, /^  updated +\/opt\/warren +\(.*0 written, 1 removed\)$/m);
  assert.ok(!fs.existsSync(join(root, 'opt/warren/dist/src/removed-module.js')));
  assert.match(res.stdout, /^  warning +\/etc\/warren\/keepalived\.yaml +\(kept as it is \(lbB: BACKUP, priority 90\), not host A's lbA: MASTER, priority 100/m);
  assert.equal(loadVrrpConfig(join(root, 'etc/warren/keepalived.yaml')).global.routerId, 'lbB');
});

test('usage errors: --host c, a missing --root, a relative --prefix', async () => {
  const bad = await warren(['install', '--root', root, '--host', 'c']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--host c: expected a or b/);
  const missing = await warren(['install', '--root', join(work, 'nope')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--root .*nope: no such directory/);
  const rel = await warren(['install', '--root', root, '--prefix', 'opt/x']);
  assert.equal(rel.code, 1);
  assert.match(rel.stderr, /--prefix opt\/x: expected an absolute path/);
});

test('the installed app (production node_modules only) validates the installed configs', async () => {
  for (const f of ['haproxy.yaml', 'keepalived.yaml']) {
    const res = await run(process.execPath, [APP, 'check', '-f', join(root, 'etc/warren', f)]);
    assert.equal(res.code, 0, `${f}: ${res.stderr}`);
    assert.equal(res.stdout, 'Configuration file is valid\n');
  }
});

// ---- systemd, offline ---------------------------------------------------------------------------

const noAnalyze = hasCommand('systemd-analyze') ? false : 'systemd-analyze is not installed';

test('systemd-analyze verify --root passes on both installed units, with no warning at all', { skip: noAnalyze }, async (t) => {
  // verify resolves the units' dependencies (sysinit.target, ...) and ExecStart= inside the root:
  // give the root this system's unit directory. (The wrapper the units run is already there.)
  fs.cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  const units = ['/etc/systemd/system/warren-proxy.service', '/etc/systemd/system/warren-vrrp.service'];
  const res = await run('systemd-analyze', ['verify', `--root=${root}`, ...units]);
  assert.equal(res.code, 0, res.stderr);
  // verify exits 0 on an unknown key or a bad value (it only warns): require silence.
  assert.equal(`${res.stdout}${res.stderr}`, '');

  // The check is not blind: a typo and a missing binary are reported.
  const bad = join(root, 'etc/systemd/system/warren-bad.service');
  fs.writeFileSync(bad, fs.readFileSync(join(root, 'etc/systemd/system/warren-proxy.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSytem=strict').replaceAll('/usr/local/bin/warren', '/usr/local/bin/warren-nope'));
  const badRes = await run('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/warren-bad.service']);
  fs.rmSync(bad);
  assert.match(badRes.stderr, /Unknown key 'ProtectSytem'/);
  assert.match(badRes.stderr, /Command \/usr\/local\/bin\/warren-nope is not executable/);
  t.diagnostic('systemd-analyze verify: both units clean');
});

test('systemd-analyze security --offline: exposure of both units', { skip: noAnalyze }, async (t) => {
  const limits = { 'warren-proxy.service': 1.5, 'warren-vrrp.service': 2.5 };
  for (const [unit, limit] of Object.entries(limits)) {
    const res = await run('systemd-analyze', ['security', '--offline=true', `--root=${root}`, `/etc/systemd/system/${unit}`]);
    const m = /Overall exposure level for \S+: ([\d.]+) (\S+)/.exec(res.stdout);
    assert.ok(m, `${unit}: ${res.stdout.slice(-300)} ${res.stderr}`);
    t.diagnostic(`${unit}: exposure ${m[1]} ${m[2]}`);
    assert.ok(Number(m[1]) <= limit, `${unit}: exposure ${m[1]} > ${limit}`);
  }
});

test('first boot of the image: systemd-sysusers creates warren, systemd-tmpfiles sets the owners; then install applies them too', { skip: !isRoot ? 'needs root (chown)' : hasCommand('systemd-sysusers') && hasCommand('systemd-tmpfiles') ? false : 'no systemd-sysusers/tmpfiles' }, async () => {
  const users = await run('systemd-sysusers', [`--root=${root}`]);
  assert.equal(users.code, 0, users.stderr);
  const pw = fs.readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('warren:'));
  assert.ok(pw, 'warren in the root\'s /etc/passwd');
  const [, , uidText, gidText, , home, shell] = pw.split(':');
  assert.equal(home, '/nonexistent');
  assert.equal(shell, '/usr/sbin/nologin');
  const uid = Number(uidText);
  const gid = Number(gidText);
  assert.ok(uid > 0 && uid < 1000, `a system uid: ${uid}`);
  const tmpfiles = await run('systemd-tmpfiles', [`--root=${root}`, '--create']);
  assert.equal(tmpfiles.code, 0, tmpfiles.stderr);
  const expect = (): void => {
    const key = fs.statSync(join(root, 'etc/warren/vrrp.key'));
    assert.deepEqual([key.uid, key.gid, key.mode & 0o777], [uid, gid, 0o600]);
    for (const [p, m] of [['etc/warren', 0o750], ['etc/warren/haproxy.yaml', 0o640], ['etc/warren/keepalived.yaml', 0o640]] as const) {
      const st = fs.statSync(join(root, p));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, gid, m], p);
    }
  };
  expect();
  // Drift, then the installer (which now finds warren in the root's passwd) puts it back.
  fs.chownSync(join(root, 'etc/warren/vrrp.key'), 0, 0);
  fs.chmodSync(join(root, 'etc/warren/vrrp.key'), 0o644);
  const res = await warren(['install', '--root', root, '--host', 'b']);
  assert.equal(res.code, 0, res.stderr);
  assert.doesNotMatch(res.stdout, /skipped +(user warren|owner warren)/);
  expect();
});

// ---- readiness: warren wait-ready ---------------------------------------------------------------

async function httpServer(handler: (n: number) => number): Promise<{ server: Server; url: string; hits: () => number }> {
  let n = 0;
  const server = createServer((_req, res) => {
    n++;
    res.statusCode = handler(n);
    res.end(`${res.statusCode}\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/ready`, hits: () => n };
}

test('wait-ready --url: 503, 503, 503 then 200 → ready, exit 0', async () => {
  const srv = await httpServer((n) => (n <= 3 ? 503 : 200));
  try {
    const res = await warren(['wait-ready', '--url', srv.url, '--timeout', '10s']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^warren wait-ready: ready: ${srv.url} answered HTTP 200 after \\d+\\.\\ds\\n$`));
    assert.equal(srv.hits(), 4);
  } finally {
    srv.server.close();
  }
});

test('wait-ready --url: a server that keeps answering 503 → exit 1 after the timeout, with the last answer', async () => {
  const srv = await httpServer(() => 503);
  try {
    const res = await warren(['wait-ready', '--url', srv.url, '--timeout', '1s']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`^warren wait-ready: ${srv.url} not ready after 1\\.\\ds \\(\\d+ attempts, last: HTTP 503\\)\\n$`));
    assert.ok(res.ms >= 1000 && res.ms < 5000, `${res.ms} ms`);
    // --any-status: any answer means the daemon serves
    const any = await warren(['wait-ready', '--url', srv.url, '--any-status', '--timeout', '1s']);
    assert.equal(any.code, 0, any.stderr);
    assert.match(any.stdout, /answered HTTP 503/);
  } finally {
    srv.server.close();
  }
});

test('wait-ready --url: nothing listening → exit 1, ECONNREFUSED; --pid of a dead process → fails at once', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/healthz`;
  const res = await warren(['wait-ready', '--url', url, '--timeout', '700ms']);
  assert.equal(res.code, 1);
  assert.match(res.stderr, new RegExp(`${url} not ready after 0\\.\\ds .*last: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)`));

  const gone = spawn(process.execPath, ['-e', '']);
  await once(gone, 'exit');
  const dead = await warren(['wait-ready', '--url', url, '--pid', String(gone.pid), '--timeout', '20s']);
  assert.equal(dead.code, 1);
  assert.match(dead.stderr, new RegExp(`process ${gone.pid} exited before ${url} answered`));
  assert.ok(dead.ms < 5000, `${dead.ms} ms: did not wait for the timeout`);

  const usage = await warren(['wait-ready']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected -f FILE or --url URL/);
  const badTimeout = await warren(['wait-ready', '--url', url, '--timeout', 'soon']);
  assert.equal(badTimeout.code, 2);
  assert.match(badTimeout.stderr, /--timeout soon: expected a duration/);
});

test('wait-ready -f on the installed proxy config: the real installed proxy is ready once it serves (503 with every broker down counts)', async () => {
  const [amqp, http, b1, b2, b3] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = join(work, 'haproxy.yaml');
  fs.writeFileSync(
    cfg,
    fs
      .readFileSync(join(root, 'etc/warren/haproxy.yaml'), 'utf8')
      .replace('0.0.0.0:5672', `127.0.0.1:${amqp}`)
      .replace('0.0.0.0:8888', `127.0.0.1:${http}`)
      .replace('/run/warren/proxy.sock', join(work, 'proxy.sock'))
      .replace('127.0.0.1:5673', `127.0.0.1:${b1}`)
      .replace('127.0.0.1:5674', `127.0.0.1:${b2}`)
      .replace('127.0.0.1:5675', `127.0.0.1:${b3}`),
  );
  // Not started yet: it waits; started: ready. (The unit runs it as ExecStartPost with $MAINPID.)
  const waiting = run(process.execPath, [APP, 'wait-ready', '-f', cfg, '--timeout', '20s']);
  await sleep(500);
  const proxy = spawn(process.execPath, [APP, 'proxy', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proxy);
  const res = await waiting;
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`ready: http://127\\.0\\.0\\.1:${http}/healthz answered HTTP (200|503) after`));
  const withPid = await run(process.execPath, [APP, 'wait-ready', '-f', cfg, '--pid', String(proxy.pid), '--timeout', '5s']);
  assert.equal(withPid.code, 0, withPid.stderr);
  // SIGTERM: a graceful stop, exit 0; then the same check fails at once.
  proxy.kill('SIGTERM');
  assert.equal(await exited(proxy, 10_000), 0);
  const after = await run(process.execPath, [APP, 'wait-ready', '-f', cfg, '--pid', String(proxy.pid), '--timeout', '20s']);
  assert.equal(after.code, 1);
  assert.match(after.stderr, /exited before/);
});

// ---- the vrrp unit's capabilities, for real, in a network namespace ----------------------------

const capsSkip = !isRoot ? 'needs root (network namespace, setpriv)' : ['ip', 'arping', 'setpriv'].every(hasCommand) ? false : 'needs ip, arping and setpriv';

async function freeUid(): Promise<number> {
  for (let uid = 64100; uid < 65000; uid++) {
    const res = await run('getent', ['passwd', String(uid)]);
    if (res.code !== 0) return uid;
  }
  throw new Error('no free uid');
}

/** Exactly what the vrrp unit gives its processes: an unprivileged uid, no_new_privs, this
 *  bounding set, and (unless `ambient` is false) the ambient pair. */
function setprivArgs(uid: number, caps: 'unit' | 'bounding-only' | 'none'): string[] {
  const base = ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--no-new-privs'];
  if (caps === 'unit') return [...base, '--inh-caps', '-all,+net_admin,+net_raw', '--ambient-caps', '-all,+net_admin,+net_raw', '--bounding-set', '-all,+net_admin,+net_raw'];
  if (caps === 'bounding-only') return [...base, '--inh-caps', '-all', '--bounding-set', '-all,+net_admin,+net_raw'];
  return [...base, '--inh-caps', '-all', '--bounding-set', '-all'];
}

async function nsAddrs(dev: string): Promise<string[]> {
  const res = await run('ip', ['-n', NS, '-j', 'addr', 'show', 'dev', dev]);
  const links = JSON.parse(res.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => l.addr_info).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

test('vrrp unit capabilities: ip addr and arping work as an unprivileged uid with ambient NET_ADMIN+NET_RAW under no_new_privs, and only so', { skip: capsSkip }, async (t) => {
  // Leftovers of earlier runs (wins-<pid> whose process is gone).
  const list = await run('ip', ['netns', 'list']);
  for (const line of list.stdout.split('\n')) {
    const m = /^wins-(\d+)\b/.exec(line);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) await run('ip', ['netns', 'del', `wins-${m[1]}`]);
  }
  const sh = async (...args: string[]): Promise<void> => {
    const res = await run('ip', ['netns', 'exec', NS, ...args]);
    assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
  };
  assert.equal((await run('ip', ['netns', 'add', NS])).code, 0);
  nsCreated = true;
  await sh('ip', 'link', 'set', 'lo', 'up');
  await sh('ip', 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb');
  await sh('ip', 'link', 'set', 'va', 'up');
  await sh('ip', 'link', 'set', 'vb', 'up');
  await sh('ip', 'addr', 'add', '198.51.100.12/24', 'dev', 'va');
  const uid = await freeUid();
  t.diagnostic(`uid ${uid}, namespace ${NS}`);

  // Through `sh -c`, as node runs them: the exec'ing process holds only what the unit gives it
  // (setpriv itself still holds root's permitted set, which would leak into a direct exec).
  const script = 'ip addr add 198.51.100.100/24 dev va label va:vip; echo "ip=$?"; arping -U -c 1 -I va -s 198.51.100.100 198.51.100.100 >/dev/null; echo "arping=$?"; ip addr del 198.51.100.100/24 dev va; echo "del=$?"';
  const results: Record<string, Result> = {};
  for (const caps of ['unit', 'bounding-only', 'none'] as const) {
    results[caps] = await run('ip', ['netns', 'exec', NS, 'setpriv', ...setprivArgs(uid, caps), 'sh', '-c', script]);
    t.diagnostic(`${caps}: ${results[caps]!.stdout.trim().replace(/\n/g, ' ')} ${results[caps]!.stderr.trim().replace(/\n/g, ' | ')}`);
  }
  assert.equal(results.unit!.stdout, 'ip=0\narping=0\ndel=0\n', results.unit!.stderr);
  assert.equal(results.unit!.stderr, '');
  assert.match(results['bounding-only']!.stdout, /^ip=2\narping=2\ndel=2\n$/);
  assert.match(results['bounding-only']!.stderr, /RTNETLINK answers: Operation not permitted/);
  assert.match(results['bounding-only']!.stderr, /arping: socket: Operation not permitted/);
  assert.match(results.none!.stdout, /^ip=2\narping=(2|126)\ndel=2\n$/);
  assert.deepEqual(await nsAddrs('va'), ['198.51.100.12/24']);
});

test('vrrp unit capabilities: the installed `warren vrrp` (host B config) runs as that uid: ready, VIP added with GARPs, removed on SIGTERM', { skip: capsSkip }, async (t) => {
  assert.ok(nsCreated, 'the namespace of the previous test');
  const uid = await freeUid();
  // The installed tree must be readable by the uid (mkdtemp made the root 0700).
  fs.chmodSync(root, 0o755);
  fs.chmodSync(work, 0o755);
  const key = join(work, 'vrrp.key');
  fs.copyFileSync(join(root, 'etc/warren/vrrp.key'), key);
  fs.chownSync(key, uid, uid);
  fs.chmodSync(key, 0o600);
  // host B's installed config; only the host-specific parts change: interface, VIP, key path; no
  // warren user on this machine (script_user), no proxy socket; faster adverts.
  const cfg = join(work, 'keepalived.yaml');
  const text = fs
    .readFileSync(join(root, 'etc/warren/keepalived.yaml'), 'utf8')
    .replaceAll('eth0', 'va')
    .replace('192.168.1.100/24', '198.51.100.100/24')
    .replace(/^( *auth_secret_file:) \/etc\/warren\/vrrp\.key$/m, `$1 ${key}`)
    .replace(/^ *script_user: .*\n/m, '')
    .replace(/^ *proxy_socket: .*\n/m, '')
    .replace(/advert_int: 1$/m, 'advert_int: 0.2');
  fs.writeFileSync(cfg, text, { mode: 0o644 });
  const check = await run(process.execPath, [APP, 'check', '-f', cfg]);
  assert.equal(check.code, 0, check.stderr);

  const asUnit = ['netns', 'exec', NS, 'setpriv', ...setprivArgs(uid, 'unit')];
  const daemon = spawn('ip', [...asUnit, process.execPath, APP, 'vrrp', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WARREN_LOG_LEVEL: 'debug' } });
  children.push(daemon);
  let log = '';
  daemon.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()));

  // ExecStartPost, as the unit runs it (same uid and capabilities, same namespace).
  const ready = await run('ip', [...asUnit, process.execPath, APP, 'wait-ready', '-f', cfg, '--pid', String(daemon.pid), '--timeout', '20s']);
  assert.equal(ready.code, 0, `${ready.stderr}\n${log}`);
  assert.match(ready.stdout, /ready: http:\/\/127\.0\.0\.1:8889\/status answered HTTP 200/);

  // Alone on the link, it becomes MASTER: the VIP is added, and GARPs go out.
  const deadline = Date.now() + 10_000;
  while (!(await nsAddrs('va')).includes('198.51.100.100/24') && Date.now() < deadline) await sleep(100);
  assert.deepEqual((await nsAddrs('va')).sort(), ['198.51.100.100/24', '198.51.100.12/24'], log);
  while (!log.includes('"gratuitous ARP sent"') && Date.now() < deadline) await sleep(100);
  assert.match(log, /"msg":"gratuitous ARP sent"/);
  const errors = log.split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":60'));
  assert.deepEqual(errors, []);
  t.diagnostic(`as uid ${uid}: VIP added and announced`);

  // SIGTERM: resign, remove the VIP, exit 0.
  daemon.kill('SIGTERM');
  assert.equal(await exited(daemon, 15_000), 0, log);
  assert.deepEqual(await nsAddrs('va'), ['198.51.100.12/24']);
  assert.match(log, /"msg":"virtual addresses removed"/);
});
