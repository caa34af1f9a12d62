// The VRRP daemon's trackers, notify hooks and program runner with REAL parts: real scripts in a
// temp dir (run as root and as `nobody`), a real HTTP server on 127.0.0.1, a real veth pair in a
// network namespace created (and deleted) here, and config/haproxy_chk.sh against a real server.
// Needs root (users, namespaces): fails loudly otherwise.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, chown, lchown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createLogger, type Logger } from '../../src/lib/log.js';
import type { CommandConfig, NotifyConfig, ProxyTrackerConfig, RunAs, ScriptTrackerConfig } from '../../src/config/vrrp-types.js';
import { checkScriptSecurity, OUTPUT_TAIL_BYTES, resolveRunAs, runCommand, ScriptSecurityError } from '../../src/vrrp/exec.js';
import { createTracker, type Tracker } from '../../src/vrrp/trackers.js';
import { Notifier } from '../../src/vrrp/notify.js';
import type { TrackerStatus } from '../../src/vrrp/priority.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NOBODY = 65534;
const CHK_SCRIPT = fileURLToPath(new URL('../../../config/haproxy_chk.sh', import.meta.url));

let dir = '';
/** Run after all tests, so that a failed assertion cannot leave a tracker or server running. */
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  assert.equal(process.getuid?.(), 0, 'these tests run scripts as other users and create network namespaces: run them as root');
  dir = await mkdtemp(join(tmpdir(), 'wtrk-'));
  await chmod(dir, 0o755); // mkdtemp makes it 0700: nobody could not reach its scripts
});

after(async () => {
  for (const c of cleanups) await c().catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function script(name: string, body: string, mode = 0o755, where = dir): Promise<string> {
  const path = join(where, name);
  await writeFile(path, `#!/bin/bash\n${body}\n`);
  await chmod(path, mode);
  return path;
}

/** A logger whose JSON lines land in `lines`. */
function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('vrrp', sink), lines };
}

async function waitFor(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function scriptCfg(name: string, argv: string[], o: Partial<ScriptTrackerConfig> = {}): ScriptTrackerConfig {
  return { kind: 'script', name, interval: 100, timeout: 1000, weight: 0, rise: 1, fall: 1, initFail: false, command: { text: argv.join(' '), argv, user: null }, ...o };
}

/** A tracker plus the statuses its listener saw, each with the check count at that moment. */
function watched(make: (onChange: (t: Tracker, s: TrackerStatus) => void) => Tracker): { tracker: Tracker; changes: Array<{ status: TrackerStatus; checks: number; detail: string | null }> } {
  const changes: Array<{ status: TrackerStatus; checks: number; detail: string | null }> = [];
  const tracker = make((t, status) => {
    const s = t.snapshot();
    changes.push({ status, checks: s.checks, detail: s.lastDetail });
  });
  cleanups.push(() => tracker.stop());
  return { tracker, changes };
}

/**
 * Waits until no live process is left in process group `pgid` (zombies do not count: orphans are
 * reaped by init, which may take its time), and fails if some are still running after 2 s.
 */
async function groupGone(pgid: string): Promise<void> {
  const live = async (): Promise<string[]> => {
    const { stdout } = await execFileP('ps', ['-eo', 'pgid=,pid=,stat=,args=']);
    return stdout.split('\n').filter((l) => {
      const [g, , stat] = l.trim().split(/\s+/);
      return g === pgid && !stat?.startsWith('Z');
    });
  };
  const deadline = Date.now() + 2000;
  let left = await live();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(20);
    left = await live();
  }
  assert.deepEqual(left, [], `processes of group ${pgid} still running`);
}

function timers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

// ---- exec.ts ---------------------------------------------------------------------------------

test('resolveRunAs: users and groups from getent, clear errors for missing ones', async () => {
  assert.equal(await resolveRunAs(null), null);
  assert.deepEqual(await resolveRunAs({ user: 'nobody', group: null }), { uid: NOBODY, gid: NOBODY, user: 'nobody' });
  assert.deepEqual(await resolveRunAs({ user: 'nobody', group: 'root' }), { uid: NOBODY, gid: 0, user: 'nobody' });
  await assert.rejects(resolveRunAs({ user: 'wtrk-no-such-user', group: null }), /user 'wtrk-no-such-user' does not exist/);
  await assert.rejects(resolveRunAs({ user: 'nobody', group: 'wtrk-no-such-group' }), /group 'wtrk-no-such-group' does not exist/);
});

test('runCommand: exit codes, arguments, no shell, spawn errors', async () => {
  const args = await script('args.sh', 'printf "%s|" "$@"; echo; echo oops >&2; exit 3');
  const r = await runCommand({ text: args, argv: [args, 'a b', '$HOME'], user: null }, ['c;d'], { timeoutMs: 2000, runAs: null });
  assert.equal(r.code, 3);
  assert.equal(r.signal, null);
  assert.equal(r.timedOut, false);
  assert.equal(r.error, null);
  assert.equal(r.stdout, 'a b|$HOME|c;d|\n', 'arguments reach the program verbatim, no shell expansion');
  assert.equal(r.stderr, 'oops\n');
  assert.ok(r.durationMs > 0 && r.durationMs < 2000);

  const missing = await runCommand([join(dir, 'no-such-program')], [], { timeoutMs: 1000, runAs: null });
  assert.equal(missing.code, null);
  assert.match(missing.error ?? '', /cannot run '.*no-such-program': ENOENT/);

  const killed = await runCommand(['/bin/sh', '-c', 'kill -SEGV $$'], [], { timeoutMs: 1000, runAs: null });
  assert.equal(killed.signal, 'SIGSEGV');
  assert.equal(killed.timedOut, false);
});

test('runCommand: a timeout kills the whole process group (SIGTERM, then SIGKILL)', async () => {
  const pidFile = join(dir, 'slow.pid');
  const slow = await script('slow.sh', `echo $$ > ${pidFile}\nsleep 30\necho never`);
  const t0 = Date.now();
  const r = await runCommand([slow], [], { timeoutMs: 300, runAs: null });
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGTERM');
  assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  // The script's `sleep` died with it.
  await groupGone((await readFile(pidFile, 'utf8')).trim());

  const stubborn = await script('stubborn.sh', "trap '' TERM\nsleep 30 & wait; sleep 30");
  const t1 = Date.now();
  const r2 = await runCommand([stubborn], [], { timeoutMs: 200, runAs: null });
  assert.equal(r2.timedOut, true);
  assert.equal(r2.signal, 'SIGKILL', 'a program ignoring SIGTERM is killed after the grace period');
  assert.ok(Date.now() - t1 < 2500, `took ${Date.now() - t1} ms`);
});

test('runCommand: output is bounded to its tail (a chatty script cannot eat memory)', async () => {
  const chatty = await script('chatty.sh', 'head -c 1000000 /dev/zero | tr "\\0" x; echo END');
  const r = await runCommand([chatty], [], { timeoutMs: 5000, runAs: null });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.length, OUTPUT_TAIL_BYTES);
  assert.ok(r.stdout.endsWith('xxxxEND\n'));
});

test('runCommand: runs as another user (uid and gid)', async () => {
  const outDir = join(dir, 'out-nobody');
  await mkdir(outDir);
  await chmod(outDir, 0o777);
  const ids = await script('ids.sh', `id -u > ${outDir}/ids; id -g >> ${outDir}/ids; id -G >> ${outDir}/ids`);
  const r = await runCommand([ids], [], { timeoutMs: 2000, runAs: { uid: NOBODY, gid: NOBODY, user: 'nobody' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(join(outDir, 'ids'), 'utf8'), `${NOBODY}\n${NOBODY}\n${NOBODY}\n`, "no supplementary group of root's is kept");
});

// ---- enable_script_security --------------------------------------------------------------------

test('checkScriptSecurity: safe scripts pass, PATH lookup for bare names', async () => {
  const ok = await script('safe.sh', 'exit 0');
  assert.equal(await checkScriptSecurity(ok, null), ok);
  const sh = await checkScriptSecurity('sh', null);
  assert.match(sh, /^\/.*\/sh$/);
  // The run-as user may own its own script.
  const own = await script('own.sh', 'exit 0');
  await chown(own, NOBODY, NOBODY);
  assert.equal(await checkScriptSecurity(own, { uid: NOBODY, gid: NOBODY, user: 'nobody' }), own);
  // Group-writable with group root is fine (keepalived's rule), so is a sticky world-writable dir.
  const rootGroup = await script('rootgroup.sh', 'exit 0', 0o775);
  assert.equal(await checkScriptSecurity(rootGroup, null), rootGroup);
  const sticky = join(dir, 'sticky');
  await mkdir(sticky);
  await chmod(sticky, 0o1777);
  const inSticky = await script('s.sh', 'exit 0', 0o755, sticky);
  assert.equal(await checkScriptSecurity(inSticky, null), inSticky);
});

test('checkScriptSecurity: refuses what others could rewrite, missing and non-executable files', async () => {
  const refused = async (p: string, runAs: Parameters<typeof checkScriptSecurity>[1], re: RegExp) => {
    await assert.rejects(checkScriptSecurity(p, runAs), (e: unknown) => {
      assert.ok(e instanceof ScriptSecurityError, String(e));
      assert.match(e.message, re);
      return true;
    });
  };
  const worldWritable = await script('ww.sh', 'exit 0', 0o777);
  await refused(worldWritable, null, new RegExp(`script '${worldWritable}' refused: file '${worldWritable}' is writable by everyone \\(mode 0777\\)`));

  const rw = await script('rw.sh', 'exit 0', 0o666);
  await refused(rw, null, /rw\.sh' refused: is not executable by uid 0 \(mode 0666/);

  const d777 = join(dir, 'd777');
  await mkdir(d777);
  await chmod(d777, 0o777);
  const inOpenDir = await script('x.sh', 'exit 0', 0o755, d777);
  await refused(inOpenDir, null, new RegExp(`directory '${d777}' is writable by everyone \\(mode 0777\\)`));

  const groupW = await script('gw.sh', 'exit 0', 0o775);
  await chown(groupW, 0, NOBODY);
  await refused(groupW, null, /gw\.sh' is writable by its group \(gid 65534, mode 0775\)/);

  const foreign = await script('foreign.sh', 'exit 0');
  await chown(foreign, NOBODY, NOBODY);
  await refused(foreign, null, /foreign\.sh' is owned by uid 65534, neither root nor the run-as uid 0/);

  const link = join(dir, 'link.sh');
  await symlink(await script('target.sh', 'exit 0'), link);
  await lchown(link, NOBODY, NOBODY);
  await refused(link, null, /symbolic link '.*link\.sh' is owned by uid 65534/);

  const closed = join(dir, 'closed');
  await mkdir(closed);
  await chmod(closed, 0o700);
  const hidden = await script('h.sh', 'exit 0', 0o755, closed);
  await refused(hidden, { uid: NOBODY, gid: NOBODY, user: 'nobody' }, /directory '.*closed' cannot be searched by user 'nobody'/);

  await refused(join(dir, 'missing.sh'), null, /missing\.sh' refused: cannot be accessed: ENOENT/);
  await refused('wtrk-no-such-program', null, /'wtrk-no-such-program' refused: not found in PATH/);
});

// ---- script tracker --------------------------------------------------------------------------------

test('script tracker: exit 0 is ok, exit 1 is fail, one change reported each, logged', async () => {
  const { log, lines } = capture();
  const good = watched((onChange) => createTracker(scriptCfg('chk_good', [`${dir}/safe.sh`]), { log, onChange }));
  const bad = watched((onChange) => createTracker(scriptCfg('chk_bad', ['/bin/false']), { log, onChange }));
  assert.equal(good.tracker.snapshot().status, 'unknown');
  good.tracker.start();
  bad.tracker.start();
  await waitFor('three checks each', () => good.tracker.snapshot().checks >= 3 && bad.tracker.snapshot().checks >= 3);
  await good.tracker.stop();
  await bad.tracker.stop();
  assert.deepEqual(good.changes, [{ status: 'ok', checks: 1, detail: 'exit 0' }]);
  assert.deepEqual(bad.changes, [{ status: 'fail', checks: 1, detail: 'exit 1' }]);
  const s = bad.tracker.snapshot();
  assert.equal(s.kind, 'script');
  assert.equal(s.failures, s.checks);
  assert.ok(s.lastCheckAt !== null && Math.abs(Date.now() - s.lastCheckAt) < 5000);
  // The two trackers run side by side: their lines may come in either order.
  const changeLogs = lines.filter((l) => l['tracker'] && l['status']).sort((a, b) => String(a['tracker']).localeCompare(String(b['tracker'])));
  assert.deepEqual(
    changeLogs.map((l) => [l['tracker'], l['status'], l['detail'], l['msg']]),
    [
      ['chk_bad', 'fail', 'exit 1', 'tracker chk_bad is now failing (exit 1)'],
      ['chk_good', 'ok', 'exit 0', 'tracker chk_good is now ok (exit 0)'],
    ],
  );
});

test('script tracker: a script sleeping past its timeout fails with "timeout after N ms"', async () => {
  const { log } = capture();
  const slow = await script('sleepy.sh', 'sleep 5');
  const w = watched((onChange) => createTracker(scriptCfg('chk_slow', [slow], { interval: 200, timeout: 250 }), { log, onChange }));
  const t0 = Date.now();
  w.tracker.start();
  await waitFor('the timeout', () => w.changes.length > 0);
  assert.ok(Date.now() - t0 < 2000, `detected after ${Date.now() - t0} ms`);
  await w.tracker.stop();
  assert.deepEqual(w.changes[0], { status: 'fail', checks: 1, detail: 'timeout after 250 ms' });
});

test('script tracker: never two runs at once, interval paced from the start of a run', async () => {
  const { log } = capture();
  const lock = join(dir, 'lock');
  const runs = join(dir, 'runs.log');
  const s = await script('locked.sh', `if [ -e ${lock} ]; then echo overlap >> ${runs}; fi\ntouch ${lock}\nsleep 0.15\nrm -f ${lock}\necho run >> ${runs}`);
  const w = watched((onChange) => createTracker(scriptCfg('chk_lock', [s], { interval: 50, timeout: 1000 }), { log, onChange }));
  w.tracker.start();
  await sleep(1000);
  await w.tracker.stop();
  const log2 = (await readFile(runs, 'utf8')).trim().split('\n');
  assert.ok(!log2.includes('overlap'), `runs overlapped: ${log2.join(',')}`);
  assert.ok(log2.length >= 3 && log2.length <= 7, `${log2.length} runs in 1 s of 150 ms runs`);
});

test('script tracker: rise/fall on a flapping script (rise 2, fall 3)', async () => {
  const { log } = capture();
  const counter = join(dir, 'flap.count');
  // exit codes of the successive runs, then 0 for ever
  const pattern = [0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0];
  const flap = await script(
    'flap.sh',
    `codes=(${pattern.join(' ')})\nn=$(cat ${counter} 2>/dev/null || echo 0)\necho $((n + 1)) > ${counter}\nexit \${codes[$n]:-0}`,
  );
  const w = watched((onChange) => createTracker(scriptCfg('chk_flap', [flap], { interval: 20, timeout: 1000, rise: 2, fall: 3 }), { log, onChange }));
  w.tracker.start();
  await waitFor('all the pattern', () => w.tracker.snapshot().checks >= pattern.length + 2);
  await w.tracker.stop();
  // 1st run: first result decides (ok); runs 2-3 fail but fall is 3; run 4 restores; runs 5-7
  // fail: fail at the 3rd; run 8 ok (1/2), run 9 fail resets, runs 10-11 ok: ok at the 2nd.
  assert.deepEqual(
    w.changes.map((c) => [c.status, c.checks, c.detail]),
    [
      ['ok', 1, 'exit 0'],
      ['fail', 7, 'exit 1'],
      ['ok', 11, 'exit 0'],
    ],
  );
});

test('script tracker: init_fail starts failed and needs rise successes', async () => {
  const { log } = capture();
  const w = watched((onChange) => createTracker(scriptCfg('chk_init', ['/bin/true'], { interval: 20, rise: 3, initFail: true }), { log, onChange }));
  assert.equal(w.tracker.snapshot().status, 'fail');
  w.tracker.start();
  await waitFor('ok', () => w.changes.length > 0);
  await w.tracker.stop();
  assert.deepEqual(w.changes, [{ status: 'ok', checks: 3, detail: 'exit 0' }]);
});

test("script tracker: runs as the command's user (nobody), resolved by the tracker", async () => {
  const { log } = capture();
  const outDir = join(dir, 'out-tracker');
  await mkdir(outDir);
  await chmod(outDir, 0o777);
  const ids = await script('tracker-ids.sh', `id -u > ${outDir}/ids; id -g >> ${outDir}/ids`);
  const cfg = scriptCfg('chk_nobody', [ids]);
  cfg.command.user = { user: 'nobody', group: null };
  const w = watched((onChange) => createTracker(cfg, { log, onChange, scriptSecurity: true }));
  w.tracker.start();
  await waitFor('a result', () => w.changes.length > 0);
  await w.tracker.stop();
  assert.deepEqual(w.changes[0], { status: 'ok', checks: 1, detail: 'exit 0' });
  assert.equal(await readFile(join(outDir, 'ids'), 'utf8'), `${NOBODY}\n${NOBODY}\n`);

  const ghost = scriptCfg('chk_ghost', ['/bin/true']);
  ghost.command.user = { user: 'wtrk-no-such-user', group: null };
  const g = watched((onChange) => createTracker(ghost, { log, onChange }));
  g.tracker.start();
  await waitFor('a result', () => g.changes.length > 0);
  await g.tracker.stop();
  assert.equal(g.changes[0]!.status, 'fail');
  assert.match(g.changes[0]!.detail ?? '', /^not run: user 'wtrk-no-such-user' does not exist/);
});

test('script tracker: with enable_script_security an unsafe script is refused and never run', async () => {
  const { log, lines } = capture();
  const ran = join(dir, 'unsafe-ran');
  const unsafe = await script('unsafe.sh', `touch ${ran}`, 0o777);
  const w = watched((onChange) => createTracker(scriptCfg('chk_unsafe', [unsafe], { interval: 30 }), { log, onChange, scriptSecurity: true }));
  w.tracker.start();
  await waitFor('three checks', () => w.tracker.snapshot().checks >= 3);
  await w.tracker.stop();
  assert.equal(existsSync(ran), false, 'the refused script must not run');
  assert.equal(w.changes.length, 1);
  assert.equal(w.changes[0]!.status, 'fail');
  assert.equal(w.changes[0]!.detail, `not run: script '${unsafe}' refused: file '${unsafe}' is writable by everyone (mode 0777)`);
  // The reason is logged once at error level, not at every check.
  assert.equal(lines.filter((l) => l['level'] === 50 && String(l['msg']).includes('chk_unsafe')).length, 1);

  // Without enable_script_security the same script runs (keepalived only warns then).
  const w2 = watched((onChange) => createTracker(scriptCfg('chk_unsafe2', [unsafe]), { log, onChange }));
  w2.tracker.start();
  await waitFor('a result', () => w2.changes.length > 0);
  await w2.tracker.stop();
  assert.equal(w2.changes[0]!.status, 'ok');
  assert.equal(existsSync(ran), true);
});

test('script tracker: stop() kills a running check and leaves no timer behind', async () => {
  const { log } = capture();
  const pidFile = join(dir, 'stop.pid');
  const s = await script('long.sh', `echo $$ > ${pidFile}\nsleep 30`);
  const base = timers();
  const w = watched((onChange) => createTracker(scriptCfg('chk_long', [s], { timeout: 60_000, interval: 60_000 }), { log, onChange }));
  w.tracker.start();
  await waitFor('the script to start', () => existsSync(pidFile));
  const t0 = Date.now();
  await w.tracker.stop();
  assert.ok(Date.now() - t0 < 1500, `stop took ${Date.now() - t0} ms`);
  await groupGone((await readFile(pidFile, 'utf8')).trim());
  assert.deepEqual(w.changes, [], 'a check killed by stop() is not a result');
  assert.equal(timers(), base, 'timers left behind by stop()');
});

// ---- proxy tracker ---------------------------------------------------------------------------------

interface TestServer {
  port: number;
  status: number;
  delayMs: number;
  connections: number;
  open: Set<net.Socket>;
  requests: number;
  close(): Promise<void>;
}

async function httpServer(port = 0): Promise<TestServer> {
  const srv: TestServer = {
    port: 0,
    status: 200,
    delayMs: 0,
    connections: 0,
    open: new Set(),
    requests: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of srv.open) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    srv.requests++;
    const reply = () => {
      if (res.destroyed) return;
      res.writeHead(srv.status, { 'content-type': 'text/plain' });
      res.end(srv.status === 200 ? 'OK\n' : 'Service Unavailable\n');
    };
    // unref: the test counts the timers the tracker leaves behind, not the server's.
    if (srv.delayMs > 0) setTimeout(reply, srv.delayMs).unref();
    else reply();
    req.resume();
  });
  server.on('connection', (s: net.Socket) => {
    srv.connections++;
    srv.open.add(s);
    s.on('close', () => srv.open.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  srv.port = (server.address() as net.AddressInfo).port;
  cleanups.push(() => (server.listening ? srv.close() : Promise.resolve()));
  return srv;
}

function proxyCfg(port: number, o: Partial<ProxyTrackerConfig> = {}): ProxyTrackerConfig {
  return { kind: 'proxy', name: 'chk_proxy', url: `http://127.0.0.1:${port}/healthz`, interval: 50, timeout: 400, weight: -60, rise: 1, fall: 1, initFail: false, ...o };
}

test('proxy tracker: 200 ok, 503 fail, back to ok, over ONE kept-alive connection', async () => {
  const { log } = capture();
  const srv = await httpServer();
  const w = watched((onChange) => createTracker(proxyCfg(srv.port), { log, onChange }));
  w.tracker.start();
  await waitFor('ok', () => w.changes.length === 1);
  srv.status = 503;
  await waitFor('fail', () => w.changes.length === 2);
  srv.status = 200;
  await waitFor('ok again', () => w.changes.length === 3);
  await waitFor('10 checks', () => w.tracker.snapshot().checks >= 10);
  await w.tracker.stop();
  assert.deepEqual(
    w.changes.map((c) => [c.status, c.detail]),
    [
      ['ok', 'HTTP 200'],
      ['fail', 'HTTP 503'],
      ['ok', 'HTTP 200'],
    ],
  );
  assert.equal(w.tracker.snapshot().kind, 'proxy');
  assert.ok(srv.requests >= 10);
  assert.equal(srv.connections, 1, `${srv.requests} checks opened ${srv.connections} connections`);
  await waitFor('stop() to close the connection', () => srv.open.size === 0, 2000);
  await srv.close();
});

test('proxy tracker: server gone is ECONNREFUSED, a slow server is a timeout; rise/fall apply', async () => {
  const { log } = capture();
  const srv = await httpServer();
  const port = srv.port;
  const w = watched((onChange) => createTracker(proxyCfg(port, { fall: 2, rise: 2, timeout: 200 }), { log, onChange }));
  w.tracker.start();
  await waitFor('ok', () => w.changes.length === 1);
  await srv.close();
  await waitFor('fail', () => w.changes.length === 2);
  assert.deepEqual(w.changes[1], { status: 'fail', checks: w.changes[1]!.checks, detail: 'ECONNREFUSED' });
  // fall 2: the first refused check only started the way down.
  const firstFail = w.tracker.snapshot();
  assert.ok(w.changes[1]!.checks >= 3);

  const slow = await httpServer(port);
  slow.delayMs = 1000;
  await waitFor('a timeout', () => w.tracker.snapshot().lastDetail === 'timeout after 200 ms', 3000);
  assert.equal(w.tracker.snapshot().status, 'fail');
  slow.delayMs = 0;
  await waitFor('ok again', () => w.changes.length === 3);
  await w.tracker.stop();
  assert.deepEqual([w.changes[2]!.status, w.changes[2]!.detail], ['ok', 'HTTP 200']);
  assert.ok(w.tracker.snapshot().failures > firstFail.failures);
  await slow.close();
});

test('proxy tracker: a check hanging past its timeout is bounded, stop() during a check is clean', async () => {
  const { log } = capture();
  const srv = await httpServer();
  srv.delayMs = 5000;
  const base = timers();
  const w = watched((onChange) => createTracker(proxyCfg(srv.port, { timeout: 3000, interval: 3000 }), { log, onChange }));
  w.tracker.start();
  await waitFor('the request', () => srv.requests === 1);
  const t0 = Date.now();
  await w.tracker.stop();
  assert.ok(Date.now() - t0 < 500, `stop took ${Date.now() - t0} ms`);
  assert.deepEqual(w.changes, []);
  await waitFor('the connection to close', () => srv.open.size === 0, 2000);
  assert.equal(timers(), base, 'timers left behind by stop()');
  await srv.close();
});

test('proxy tracker: the kept-alive connection closing brings the next check forward (a killed proxy is seen at once)', async () => {
  const { log } = capture();
  const srv = await httpServer();
  // An interval far longer than the test waits: only the early check can explain what follows.
  const w = watched((onChange) => createTracker(proxyCfg(srv.port, { interval: 20_000 }), { log, onChange }));
  w.tracker.start();
  await waitFor('ok', () => w.changes.length === 1);
  assert.equal(w.tracker.snapshot().checks, 1);
  // The server closes the connection but still listens (an idle timeout, say): one early check,
  // which passes, over a new connection.
  for (const sock of srv.open) sock.destroy();
  await waitFor('the early check', () => w.tracker.snapshot().checks === 2, 3000);
  assert.equal(srv.connections, 2);
  assert.equal(w.changes.length, 1);
  // At most one early check per interval: closing it again does not make the tracker check again.
  for (const sock of srv.open) sock.destroy();
  await sleep(500);
  assert.equal(w.tracker.snapshot().checks, 2, 'a second early check within the interval');
  await w.tracker.stop();

  // A fresh tracker, and the proxy dies (its listener and connections gone, as after kill -9):
  // failing within a few seconds, not after the 20 s interval.
  const w2 = watched((onChange) => createTracker(proxyCfg(srv.port, { interval: 20_000 }), { log, onChange }));
  w2.tracker.start();
  await waitFor('ok', () => w2.changes.length === 1);
  const t0 = Date.now();
  await srv.close();
  await waitFor('fail', () => w2.changes.length === 2, 5000);
  assert.deepEqual([w2.changes[1]!.status, w2.changes[1]!.detail], ['fail', 'ECONNREFUSED']);
  assert.ok(Date.now() - t0 < 5000);
  await w2.tracker.stop();
});

// ---- interface tracker (in a network namespace) --------------------------------------------------

const NS = `wtrk-${process.pid}`;

async function ip(...args: string[]): Promise<void> {
  await execFileP('ip', ['-n', NS, ...args]);
}

/** A child process in the namespace running interface trackers; events come back as JSON lines. */
class NsChild {
  readonly events: Array<Record<string, unknown>> = [];
  readonly proc: ChildProcessWithoutNullStreams;
  exited: number | null = null;
  constructor(path: string) {
    this.proc = spawn('ip', ['netns', 'exec', NS, process.execPath, path]);
    createInterface({ input: this.proc.stdout }).on('line', (l) => this.events.push(JSON.parse(l) as Record<string, unknown>));
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(`[ns child] ${d.toString()}`));
    this.proc.on('exit', (code) => (this.exited = code ?? -1));
  }
  send(cmd: string): void {
    this.proc.stdin.write(`${cmd}\n`);
  }
  of(tracker: string, type = 'change'): Array<Record<string, unknown>> {
    return this.events.filter((e) => e['tracker'] === tracker && e['type'] === type);
  }
  async snapshot(tracker: string): Promise<Record<string, unknown>> {
    const n = this.of(tracker, 'snapshot').length;
    this.send(`snapshot ${tracker}`);
    await waitFor(`snapshot of ${tracker}`, () => this.of(tracker, 'snapshot').length > n);
    return this.of(tracker, 'snapshot')[n]!;
  }
}

const CHILD = `
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
const { createInterfaceTracker, readLinkState } = await import(process.env.WTRK_TRACKERS);
const { createLogger } = await import(process.env.WTRK_LOG);
const log = createLogger('vrrp', new Writable({ write(c, _e, cb) { process.stderr.write(c); cb(); } }));
log.level = 'warn';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const trackers = new Map();
for (const name of ['wtrk0', 'lo', 'wtrk-none']) {
  const t = createInterfaceTracker(name, { log, intervalMs: 50, onChange: (tr, status) => out({ type: 'change', tracker: tr.name, status, detail: tr.snapshot().lastDetail, at: Date.now() }) });
  trackers.set(name, t);
  t.start();
}
// The cost of one poll of lo: operstate reads 'unknown', so carrier is read too (the dearer case).
const N = 20000;
let t0 = performance.now();
for (let i = 0; i < N; i++) readLinkState('lo');
const upUs = ((performance.now() - t0) * 1000) / N;
out({ type: 'cost', usPerPollUp: upUs });
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'snapshot') out({ type: 'snapshot', tracker: arg, ...trackers.get(arg).snapshot() });
  if (cmd === 'stop') {
    rl.close();
    process.stdin.destroy();
    await Promise.all([...trackers.values()].map((t) => t.stop()));
    out({ type: 'stopped' });
    // No process.exit(): the process must end by itself, proving stop() left nothing running.
  }
});
`;

test('interface tracker: link state of a real veth pair in a network namespace', async (t) => {
  await execFileP('ip', ['netns', 'add', NS]);
  t.after(async () => {
    await execFileP('ip', ['netns', 'del', NS]).catch(() => {});
  });
  await ip('link', 'add', 'wtrk0', 'type', 'veth', 'peer', 'name', 'wtrk1');
  const childPath = join(dir, 'iface-child.mjs');
  await writeFile(childPath, CHILD);
  process.env['WTRK_TRACKERS'] = new URL('../../src/vrrp/trackers.js', import.meta.url).href;
  process.env['WTRK_LOG'] = new URL('../../src/lib/log.js', import.meta.url).href;
  const child = new NsChild(childPath);
  t.after(() => {
    if (child.exited === null) child.proc.kill('SIGKILL');
  });

  // Both ends down, lo down (a fresh namespace), no such interface.
  await waitFor('first results', () => child.of('wtrk0').length === 1 && child.of('lo').length === 1 && child.of('wtrk-none').length === 1);
  assert.deepEqual([child.of('wtrk0')[0]!['status'], child.of('wtrk0')[0]!['detail']], ['fail', 'link down']);
  assert.deepEqual([child.of('lo')[0]!['status'], child.of('lo')[0]!['detail']], ['fail', 'link down']);
  assert.deepEqual([child.of('wtrk-none')[0]!['status'], child.of('wtrk-none')[0]!['detail']], ['fail', 'no such interface']);

  // Our end up, the peer still down: no carrier, still failing (no change reported).
  await ip('link', 'set', 'wtrk0', 'up');
  await sleep(150);
  const snap = await child.snapshot('wtrk0');
  assert.equal(snap['status'], 'fail');
  assert.equal(snap['lastDetail'], 'no carrier (lower layer down)');
  assert.equal(child.of('wtrk0').length, 1);

  // Peer up: the link is up. Measure how fast the change is seen (poll every 50 ms).
  let t0 = Date.now();
  await ip('link', 'set', 'wtrk1', 'up');
  await waitFor('link up', () => child.of('wtrk0').length === 2);
  const upAfter = (child.of('wtrk0')[1]!['at'] as number) - t0;
  assert.deepEqual([child.of('wtrk0')[1]!['status'], child.of('wtrk0')[1]!['detail']], ['ok', 'link up']);
  assert.ok(upAfter < 500, `link up seen after ${upAfter} ms`);

  // Peer down: no carrier on ours.
  t0 = Date.now();
  await ip('link', 'set', 'wtrk1', 'down');
  await waitFor('no carrier', () => child.of('wtrk0').length === 3);
  assert.deepEqual([child.of('wtrk0')[2]!['status'], child.of('wtrk0')[2]!['detail']], ['fail', 'no carrier (lower layer down)']);
  assert.ok((child.of('wtrk0')[2]!['at'] as number) - t0 < 500);

  await ip('link', 'set', 'wtrk1', 'up');
  await waitFor('up again', () => child.of('wtrk0').length === 4);
  assert.equal(child.of('wtrk0')[3]!['status'], 'ok');

  // Admin down on our end.
  await ip('link', 'set', 'wtrk0', 'down');
  await waitFor('link down', () => child.of('wtrk0').length === 5);
  assert.deepEqual([child.of('wtrk0')[4]!['status'], child.of('wtrk0')[4]!['detail']], ['fail', 'link down']);

  // lo reports operstate "unknown": up with carrier counts as up (the kernel's IFF_RUNNING).
  await ip('link', 'set', 'lo', 'up');
  await waitFor('lo up', () => child.of('lo').length === 2);
  assert.deepEqual([child.of('lo')[1]!['status'], child.of('lo')[1]!['detail']], ['ok', 'link up (operstate unknown, carrier on)']);

  // The interface disappears: no such interface.
  await ip('link', 'set', 'wtrk0', 'up');
  await waitFor('up before delete', () => child.of('wtrk0').length === 6);
  await ip('link', 'del', 'wtrk0');
  await waitFor('gone', () => child.of('wtrk0').length === 7);
  assert.deepEqual([child.of('wtrk0')[6]!['status'], child.of('wtrk0')[6]!['detail']], ['fail', 'no such interface']);

  const cost = child.events.find((e) => e['type'] === 'cost')!;
  t.diagnostic(`interface poll cost: ${(cost['usPerPollUp'] as number).toFixed(1)} us per poll of lo (operstate + carrier)`);
  assert.ok((cost['usPerPollUp'] as number) < 1000, 'a poll must cost well under a millisecond');

  const snapNone = await child.snapshot('wtrk-none');
  assert.equal(snapNone['kind'], 'interface');
  assert.ok((snapNone['checks'] as number) >= 5, `only ${snapNone['checks']} checks`);
  assert.equal(snapNone['failures'], snapNone['checks']);
  assert.equal(snapNone['lastDetail'], 'no such interface');

  child.send('stop');
  await waitFor('the child to exit by itself after stop()', () => child.exited !== null, 3000);
  assert.equal(child.exited, 0);
  assert.ok(child.events.some((e) => e['type'] === 'stopped'));
});

// ---- notify hooks ------------------------------------------------------------------------------

function cmd(argv: string[], user: RunAs | null = null): CommandConfig {
  return { text: argv.join(' '), argv, user };
}

test('Notifier: keepalived order and arguments, one hook at a time', async () => {
  const { log, lines } = capture();
  const out = join(dir, 'notify.log');
  // The master hook is slow: if hooks ran concurrently the generic one would overtake it.
  const specific = await script('specific.sh', `sleep "\${SLEEP:-0}"; echo "$1 $#" >> ${out}`);
  const slowMaster = await script('slow-master.sh', `sleep 0.3; echo "master $#" >> ${out}`);
  const generic = await script('generic.sh', `echo "notify $*" >> ${out}`);
  const cfg: NotifyConfig = {
    master: cmd([slowMaster]),
    backup: cmd([specific, 'backup']),
    fault: cmd([specific, 'fault']),
    stop: cmd([specific, 'stop']),
    any: cmd([generic]),
  };
  const n = new Notifier('VI_1', cfg, { log });
  n.notify('MASTER', 100);
  n.notify('BACKUP', 90);
  n.notify('FAULT', 0);
  n.notify('STOP', 90);
  await n.drain();
  assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), [
    'master 0',
    'notify INSTANCE VI_1 MASTER 100',
    'backup 1',
    'notify INSTANCE VI_1 BACKUP 90',
    'fault 1',
    'notify INSTANCE VI_1 FAULT 0',
    'stop 1',
    'notify INSTANCE VI_1 STOP 90',
  ]);
  const ran = lines.filter((l) => l['hook'] && l['level'] === 30);
  assert.equal(ran.length, 8);
  assert.deepEqual(ran[1]!['args'], ['INSTANCE', 'VI_1', 'MASTER', '100']);
  assert.equal(ran[0]!['msg'], 'notify hook notify_master of VI_1 for MASTER: exit 0');
});

test('Notifier: only the configured hooks run; failing, missing and hanging hooks are logged, never thrown', async () => {
  const { log, lines } = capture();
  const out = join(dir, 'notify2.log');
  const generic = await script('generic2.sh', `echo "notify $*" >> ${out}`);
  const hang = await script('hang.sh', 'sleep 30');
  const cfg: NotifyConfig = {
    master: cmd([hang]),
    backup: cmd(['/bin/sh', '-c', 'echo broken >&2; exit 3']),
    fault: cmd([join(dir, 'no-such-hook.sh')]),
    stop: null,
    any: cmd([generic]),
  };
  const n = new Notifier('VI_2', cfg, { log, timeoutMs: 300 });
  const t0 = Date.now();
  n.notify('MASTER', 101);
  n.notify('BACKUP', 50);
  n.notify('FAULT', 50);
  n.notify('STOP', 50);
  await n.drain();
  assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
  assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), [
    'notify INSTANCE VI_2 MASTER 101',
    'notify INSTANCE VI_2 BACKUP 50',
    'notify INSTANCE VI_2 FAULT 50',
    'notify INSTANCE VI_2 STOP 50',
  ]);
  const warns = lines.filter((l) => l['level'] === 40).map((l) => [l['hook'], l['detail']]);
  assert.deepEqual(warns, [
    ['notify_master', 'timeout after 300 ms'],
    ['notify_backup', 'exit 3'],
    ['notify_fault', `cannot run '${join(dir, 'no-such-hook.sh')}': ENOENT`],
  ]);
  assert.equal(lines.find((l) => l['hook'] === 'notify_backup' && l['level'] === 40)!['stderr'], 'broken\n');
});

test('Notifier: hooks run as their user; unsafe hooks are refused with enable_script_security', async () => {
  const { log, lines } = capture();
  const outDir = join(dir, 'out-notify');
  await mkdir(outDir);
  await chmod(outDir, 0o777);
  const ids = await script('notify-ids.sh', `echo "$(id -u) $*" >> ${outDir}/ids`);
  const ranUnsafe = join(dir, 'unsafe-hook-ran');
  const unsafe = await script('unsafe-hook.sh', `touch ${ranUnsafe}`, 0o777);
  const cfg: NotifyConfig = {
    master: cmd([unsafe]),
    backup: null,
    fault: null,
    stop: null,
    any: cmd([ids], { user: 'nobody', group: null }),
  };
  const n = new Notifier('VI_3', cfg, { log, scriptSecurity: true });
  n.notify('MASTER', 100);
  await n.drain();
  assert.equal(await readFile(join(outDir, 'ids'), 'utf8'), `${NOBODY} INSTANCE VI_3 MASTER 100\n`);
  assert.equal(existsSync(ranUnsafe), false);
  const refused = lines.find((l) => l['hook'] === 'notify_master' && l['level'] === 50);
  assert.ok(refused, 'the refusal is logged');
  assert.match(String(refused['msg']), /notify_master of VI_3 not run: script '.*unsafe-hook\.sh' refused: file .* is writable by everyone \(mode 0777\)/);
});

test('Notifier: drain() is bounded: the running hook is killed, the waiting ones dropped', async () => {
  const { log, lines } = capture();
  const out = join(dir, 'notify3.log');
  const pidFile = join(dir, 'drain.pid');
  const hang = await script('hang2.sh', `echo $$ > ${pidFile}\nsleep 30`);
  const generic = await script('generic3.sh', `echo "notify $*" >> ${out}`);
  const n = new Notifier('VI_4', { master: cmd([hang]), backup: null, fault: null, stop: null, any: cmd([generic]) }, { log, timeoutMs: 60_000 });
  n.notify('MASTER', 100);
  n.notify('STOP', 100);
  await waitFor('the hook to start', () => existsSync(pidFile));
  const t0 = Date.now();
  await n.drain(300);
  assert.ok(Date.now() - t0 < 2000, `drain took ${Date.now() - t0} ms`);
  assert.equal(existsSync(out), false, 'the waiting hooks were dropped');
  await groupGone((await readFile(pidFile, 'utf8')).trim());
  const warn = lines.find((l) => l['level'] === 40 && Array.isArray(l['dropped']));
  assert.deepEqual(warn?.['dropped'], ['notify MASTER', 'notify STOP']);
  // The notifier still works afterwards.
  n.notify('BACKUP', 90);
  await n.drain();
  assert.equal((await readFile(out, 'utf8')).trim(), 'notify INSTANCE VI_4 BACKUP 90');
});

// ---- config/haproxy_chk.sh -------------------------------------------------------------------

test('config/haproxy_chk.sh: exit 0 only with a proxy process AND a 2xx health endpoint (curl and /dev/tcp)', async () => {
  const srv = await httpServer();
  const url = `http://127.0.0.1:${srv.port}/healthz`;
  const marker = `wtrk-proxy-${process.pid}`;
  // A process whose command line looks like warren's: `node /opt/warren/bin/warren proxy ...`.
  const fake = spawn('bash', ['-c', `exec -a "node /opt/${marker}/warren proxy -f /etc/warren/haproxy.yaml" sleep 30`], { stdio: 'ignore' });
  // A PATH without curl, for the /dev/tcp fallback.
  const noCurl = join(dir, 'nocurl-bin');
  await mkdir(noCurl);
  for (const tool of ['pgrep']) await symlink(`/usr/bin/${tool}`, join(noCurl, tool));
  const chk = async (env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> => {
    const r = await runCommand(['/bin/bash', CHK_SCRIPT, url], [], { timeoutMs: 5000, runAs: null, env: { ...process.env, ...env } });
    assert.equal(r.error, null);
    return { code: r.code ?? -1, stderr: r.stderr };
  };
  try {
    await sleep(100);
    const own = { CHK_PROCESS: `/opt/${marker}/warren proxy` };
    assert.deepEqual(await chk(own), { code: 0, stderr: '' });
    assert.equal((await chk({})).code, 0, "the default pattern matches warren's command line");
    assert.equal((await chk({ ...own, PATH: noCurl })).code, 0, '/dev/tcp fallback, 200');
    srv.status = 503;
    const r503 = await chk(own);
    assert.equal(r503.code, 1);
    assert.match(r503.stderr, /does not answer 2xx/);
    assert.equal((await chk({ ...own, PATH: noCurl })).code, 1, '/dev/tcp fallback, 503');
    srv.status = 200;
    const noProc = await chk({ CHK_PROCESS: `wtrk-nothing-${process.pid}-runs-this` });
    assert.equal(noProc.code, 1);
    assert.match(noProc.stderr, /no warren proxy \(or haproxy\) process is running/);
    await srv.close();
    const down = await chk(own);
    assert.equal(down.code, 1);
    assert.equal((await chk({ ...own, PATH: noCurl })).code, 1, '/dev/tcp fallback, refused');
  } finally {
    fake.kill('SIGKILL');
    await srv.close().catch(() => {});
  }
  const { stdout } = await execFileP('stat', ['-c', '%a', CHK_SCRIPT]);
  assert.equal(stdout.trim(), '755');
  await execFileP('bash', ['-n', CHK_SCRIPT]);
});
