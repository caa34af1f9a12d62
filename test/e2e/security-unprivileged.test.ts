// Both daemons unprivileged, for real (issue 7, "Chaos and security"):
//   - `warren vrrp` as uid nobody with only CAP_NET_ADMIN + CAP_NET_RAW (ambient, bounding set of
//     those two, no_new_privs: what warren-vrrp.service gives it) becomes MASTER and adds the VIP;
//     without them it refuses to start, says why, and exits 77 (the unit does not restart on 77);
//   - check scripts run as script_user (the script writes `id -u`), and with
//     enable_script_security a script others could rewrite is refused and never run;
//   - `warren proxy` as nobody with no capability at all serves clients, its stats page and its
//     runtime API socket.
// The vrrp daemons run in a network namespace (wsec-<pid>) that the test creates and deletes,
// with 198.51.100.0/24 addresses on a veth pair inside it; nothing touches the root namespace's
// addresses or routes. Needs root (namespaces, setpriv): without it the tests fail, they do not skip.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { spawnLogged, type LabProcess } from '../harness/netns-lab.js';
import { readAll, tcpServer } from '../harness/proxy.js';
import { EXIT_NO_PRIVILEGES } from '../../src/vrrp/daemon.js';
import { vipPrivileges } from '../../src/vrrp/vip.js';

const execFileP = promisify(execFile);
const CLI = path.resolve('dist/src/cli.js');
const NS = `wsec-${process.pid}`;
const NOBODY = 65534;
const VIP = '198.51.100.100/24';
const OWN = '198.51.100.12/24';
/** CAP_NET_ADMIN (12) and CAP_NET_RAW (13). */
const NET_CAPS = 0x3000n;

let dir: string;
let nsCreated = false;
const procs: LabProcess[] = [];

async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(cmd, args, { timeout: 20_000 });
  return stdout;
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'these tests need root (network namespaces, setpriv, chown)');
  for (const tool of ['ip', 'setpriv', 'arping']) await sh('sh', ['-c', `command -v ${tool}`]).catch(() => assert.fail(`${tool} is missing (test/harness/deps.sh installs it)`));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsec-unpriv-'));
  fs.chmodSync(dir, 0o755); // nobody reads the configs; the path stays root-owned and not writable
  await sh('ip', ['netns', 'add', NS]);
  nsCreated = true;
  for (const args of [['link', 'set', 'lo', 'up'], ['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb'], ['link', 'set', 'va', 'up'], ['link', 'set', 'vb', 'up'], ['addr', 'add', OWN, 'dev', 'va']]) {
    await sh('ip', ['-n', NS, ...args]);
  }
});

after(async () => {
  for (const p of procs) {
    if (p.exitStatus() === null) {
      p.kill('SIGKILL'); // our own children, by pid
      await p.exited;
    }
  }
  if (nsCreated) await sh('ip', ['netns', 'del', NS]);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function vaAddrs(): Promise<string[]> {
  const links = JSON.parse(await sh('ip', ['-n', NS, '-j', '-4', 'addr', 'show', 'dev', 'va'])) as { addr_info: { local: string; prefixlen: number }[] }[];
  return links.flatMap((l) => l.addr_info).map((a) => `${a.local}/${a.prefixlen}`).sort();
}

/** setpriv arguments: uid/gid nobody, no groups, no_new_privs, and the capability sets given. */
function asNobody(caps: 'net' | 'bounding-only' | 'none'): string[] {
  const base = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--no-new-privs'];
  if (caps === 'net') return [...base, '--inh-caps', '-all,+net_admin,+net_raw', '--ambient-caps', '-all,+net_admin,+net_raw', '--bounding-set', '-all,+net_admin,+net_raw'];
  if (caps === 'bounding-only') return [...base, '--inh-caps', '-all', '--bounding-set', '-all,+net_admin,+net_raw'];
  return [...base, '--inh-caps', '-all', '--bounding-set', '-all'];
}

function vrrpConfig(name: string, extra: { global?: string; scripts?: string; track?: string } = {}): string {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `global_defs:
  router_id: ${name}
  vrrp_port: 5798
  status_listen: none
${extra.global ?? ''}${extra.scripts ?? ''}vrrp_instance:
  VI_1:
    state: MASTER
    interface: va
    virtual_router_id: 51
    priority: 100
    advert_int: 0.2
    authentication: {auth_type: HMAC-SHA256, auth_pass: "wsec-unprivileged-test-secret"}
    virtual_ipaddress: [${VIP} dev va]
${extra.track ?? ''}`,
    { mode: 0o644 },
  );
  return file;
}

function startVrrp(name: string, file: string, setpriv: string[] | null): LabProcess {
  const argv = ['netns', 'exec', NS, ...(setpriv ? ['setpriv', ...setpriv] : []), process.execPath, CLI, 'vrrp', '-f', file];
  // debug: the driver logs each GARP it sent at that level.
  const p = spawnLogged(name, 'ip', argv, path.join(dir, `${name}.log`), { env: { WARREN_LOG_LEVEL: 'debug' } });
  procs.push(p);
  return p;
}

/** Uid and effective capabilities of a running process. */
function creds(pid: number): { uid: number; capEff: bigint } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: Number(/^Uid:\s*(\d+)/m.exec(status)![1]), capEff: BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)![1]}`) };
}

async function stop(p: LabProcess): Promise<number | null> {
  p.kill('SIGTERM');
  return (await p.exited).code;
}

test('vipPrivileges: a root process passes its bounding set to ip/arping, any other uid its ambient set', () => {
  const status = (uid: number, bnd: string, amb: string): string => `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapInh:\t0\nCapEff:\t0\nCapBnd:\t${bnd}\nCapAmb:\t${amb}\n`;
  assert.deepEqual([vipPrivileges(status(0, '000001ffffffffff', '0')).netAdmin, vipPrivileges(status(0, '000001ffffffffff', '0')).netRaw], [true, true]);
  assert.equal(vipPrivileges(status(0, '000001ffffffefff', '0')).netAdmin, false, 'root without NET_ADMIN in its bounding set');
  assert.deepEqual(vipPrivileges(status(NOBODY, '3000', '3000')), { netAdmin: true, netRaw: true, detail: 'euid 65534, ambient set 0x3000' });
  assert.deepEqual([vipPrivileges(status(NOBODY, '3000', '0')).netAdmin, vipPrivileges(status(NOBODY, '3000', '1000')).netRaw], [false, false]);
});

test('warren vrrp as nobody with only NET_ADMIN + NET_RAW (ambient, no_new_privs): MASTER, VIP added and announced, removed on SIGTERM', async (t) => {
  const p = startVrrp('vrrp-caps', vrrpConfig('caps'), asNobody('net'));
  await p.waitForLine(/"msg":"BACKUP -> MASTER"/, 15_000);
  await p.waitForLine(/"msg":"gratuitous ARP sent"/, 10_000);
  assert.deepEqual(await vaAddrs(), [VIP, OWN].sort());
  const c = creds(p.pid);
  assert.equal(c.uid, NOBODY);
  assert.equal(c.capEff, NET_CAPS, `CapEff 0x${c.capEff.toString(16)}: exactly the two capabilities`);
  assert.deepEqual(p.lines().filter((l) => /"level":(50|60)/.test(l)), [], 'no error logged');
  t.diagnostic(`pid ${p.pid} uid ${c.uid} CapEff 0x${c.capEff.toString(16)}`);
  assert.equal(await stop(p), 0);
  assert.deepEqual(await vaAddrs(), [OWN]);
});

test('warren vrrp without the capabilities (none, or in the bounding set only): refuses to start with exit 77 and says why; no VIP, no MASTER', async () => {
  for (const caps of ['none', 'bounding-only'] as const) {
    const p = startVrrp(`vrrp-${caps}`, vrrpConfig(`nocaps-${caps}`), asNobody(caps));
    const exit = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    assert.ok(exit, `${caps}: still running after 15 s (a MASTER that cannot add its VIP?)\n${p.lines().join('\n')}`);
    assert.equal(exit.code, EXIT_NO_PRIVILEGES, `${caps}: exit status\n${p.lines().join('\n')}`);
    const fatal = p.lines().filter((l) => l.includes('"level":60'));
    assert.equal(fatal.length, 1, p.lines().join('\n'));
    assert.match(fatal[0]!, /cannot manage virtual addresses: 'ip addr' would run without CAP_NET_ADMIN \(euid 65534, ambient set 0x0\)/);
    assert.ok(!p.lines().some((l) => /-> MASTER/.test(l)), `${caps}: never MASTER`);
    assert.deepEqual(await vaAddrs(), [OWN]);
  }
  // The unit does not restart on that status (a restart cannot give it capabilities).
  assert.match(fs.readFileSync('systemd/warren-vrrp.service', 'utf8'), new RegExp(`^RestartPreventExitStatus=${EXIT_NO_PRIVILEGES}$`, 'm'));
});

test('check scripts run as script_user (nobody): the script writes `id -u` and `id -g`; the tracker is ok and the instance MASTER', async () => {
  const out = path.join(dir, 'out');
  fs.mkdirSync(out, { mode: 0o777 });
  fs.chmodSync(out, 0o777); // written by nobody; not on the script's own path
  const script = path.join(dir, 'chk_id.sh');
  fs.writeFileSync(script, `#!/bin/sh\nid -u > ${out}/ids.tmp; id -g >> ${out}/ids.tmp; mv ${out}/ids.tmp ${out}/ids\n`, { mode: 0o755 });
  const cfg = vrrpConfig('script-user', {
    global: '  script_user: nobody\n  enable_script_security: true\n',
    scripts: `vrrp_script:\n  chk_id:\n    script: ${script}\n    interval: 0.2\n    timeout: 2\n    weight: -20\n`,
    track: '    track_script: [chk_id]\n',
  });
  const p = startVrrp('vrrp-script-user', cfg, null); // as root, as keepalived runs
  await p.waitForLine(/"msg":"tracker chk_id is now ok \(exit 0\)"/, 15_000);
  await p.waitForLine(/"msg":"BACKUP -> MASTER"/, 15_000);
  assert.equal(fs.readFileSync(path.join(out, 'ids'), 'utf8'), `${NOBODY}\n${NOBODY}\n`);
  assert.equal(creds(p.pid).uid, 0, 'the daemon itself is root here');
  assert.equal(await stop(p), 0);
});

test('enable_script_security: a tracked script others could rewrite (world-writable file, or in a world-writable directory) is refused, never run, and the daemon does not start', async () => {
  const ran = path.join(dir, 'insecure-ran');
  const openDir = path.join(dir, 'open');
  fs.mkdirSync(openDir);
  fs.chmodSync(openDir, 0o777);
  const cases = [
    { file: path.join(dir, 'ww.sh'), mode: 0o777, why: (f: string) => `file '${f}' is writable by everyone (mode 0777)` },
    { file: path.join(openDir, 'in-open-dir.sh'), mode: 0o755, why: () => `directory '${openDir}' is writable by everyone (mode 0777)` },
  ];
  for (const c of cases) {
    fs.writeFileSync(c.file, `#!/bin/sh\ntouch ${ran}\n`);
    fs.chmodSync(c.file, c.mode);
    const cfg = vrrpConfig(`insecure-${path.basename(c.file, '.sh')}`, {
      global: '  script_user: nobody\n  enable_script_security: true\n',
      scripts: `vrrp_script:\n  chk_insecure:\n    script: ${c.file}\n    interval: 0.2\n`,
      track: '    track_script: [chk_insecure]\n',
    });
    const p = startVrrp(`vrrp-insecure-${path.basename(c.file, '.sh')}`, cfg, null);
    const exit = await p.exited;
    assert.equal(exit.code, 1, p.lines().join('\n'));
    const fatal = p.lines().find((l) => l.includes('"level":60')) ?? '';
    assert.ok(fatal.includes(`enable_script_security refuses:\\n  script '${c.file}' refused: ${c.why(c.file)}`), fatal);
    assert.ok(!p.lines().some((l) => /-> MASTER/.test(l)));
  }
  assert.equal(fs.existsSync(ran), false, 'a refused script must never run');
  assert.deepEqual(await vaAddrs(), [OWN]);
});

test('warren proxy as nobody with no capability at all: serves a client, its stats page and its runtime API socket', async (t) => {
  const backend = await tcpServer((s) => s.end('hello from the backend\n'));
  try {
    const sock = path.join(dir, 'run', 'proxy.sock');
    fs.mkdirSync(path.dirname(sock), { mode: 0o755 });
    fs.chownSync(path.dirname(sock), NOBODY, NOBODY); // as the unit's RuntimeDirectory=
    const cfg = path.join(dir, 'proxy.yaml');
    fs.writeFileSync(
      cfg,
      `global:
  stats-socket: ${sock} mode 600 level admin
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 10s, server: 10s}
listen:
  app:
    bind: 127.0.0.1:0
    server:
      - b1 127.0.0.1:${backend.port} check inter 200ms
  stats:
    mode: http
    bind: 127.0.0.1:0
    stats: {enable: true, uri: /stats}
    monitor-uri: /healthz
`,
      { mode: 0o644 },
    );
    // Root namespace, loopback and ephemeral ports only.
    const p = spawnLogged('proxy-nobody', 'setpriv', [...asNobody('none'), process.execPath, CLI, 'proxy', '-f', cfg], path.join(dir, 'proxy-nobody.log'));
    procs.push(p);
    const port = async (name: string): Promise<number> => {
      const line = await p.waitForLine(new RegExp(`"msg":"Proxy ${name} started\\."`), 15_000);
      return Number((JSON.parse(line) as { binds: string[] }).binds[0]!.split(':').at(-1));
    };
    const app = await port('app');
    const stats = await port('stats');
    const c = creds(p.pid);
    assert.equal(c.uid, NOBODY);
    assert.equal(c.capEff, 0n, 'no capability at all');
    const client = net.connect({ host: '127.0.0.1', port: app });
    assert.equal((await readAll(client)).toString(), 'hello from the backend\n');
    const page = await fetch(`http://127.0.0.1:${stats}/stats`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /data-server="b1"/);
    const st = fs.statSync(sock);
    assert.ok(st.isSocket());
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [NOBODY, NOBODY, 0o600], 'the socket belongs to the daemon user, mode 600');
    t.diagnostic(`proxy pid ${p.pid} uid ${c.uid} CapEff 0x${c.capEff.toString(16)}; socket ${st.uid}:${st.gid} ${(st.mode & 0o777).toString(8)}`);
    assert.equal(await stop(p), 0);
  } finally {
    await backend.close();
  }
});
