// `global.nbthread: 2`: `warren proxy` runs a primary (checks, stats, runtime API, reload, stop)
// and two worker processes sharing the listeners (src/proxy/workers.ts). Which process serves a
// connection is read from the kernel (`ss -tnp`: the owner of the proxy's end of the client
// connection), so the tests do not depend on how the kernel spreads accepts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { connect, deadPort, roundTrip, tcpServer } from '../harness/proxy.js';
import { spawnProxy, type LogLine, type ProxyProcess } from '../harness/proxy-process.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-workers-'));
const file = join(dir, 'proxy.yaml');
const sock = join(dir, 'api.sock');

type Echo = Awaited<ReturnType<typeof tcpServer>>;
let s1: Echo;
let s2: Echo;
let proxy: ProxyProcess;
let lines: LogLine[];
let port: number;
let port2: number;
let statsPort: number;

function waitLog(pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> {
  return proxy.waitLog(pred, timeoutMs, from);
}

function config(extra = ''): string {
  const check = 'check inter 100ms fastinter 100ms downinter 100ms rise 1 fall 2';
  return `global:
  maxconn: 1000
  nbthread: 2
  hard-stop-after: 10s
  stats-socket: ${sock} mode 600 level admin
defaults:
  mode: tcp
  option: [tcplog]
  timeout: {connect: 1s, client: 1m, server: 1m}
listen:
  app:
    bind: 127.0.0.1:${port}
    balance: roundrobin
    server:
      - s1 127.0.0.1:${s1.port} ${check}
      - s2 127.0.0.1:${s2.port} ${check}
  stats:
    mode: http
    bind: 127.0.0.1:${statsPort}
    stats: {enable: true, uri: /stats}
${extra}`;
}

before(async () => {
  s1 = await tcpServer((s) => s.pipe(s));
  s2 = await tcpServer((s) => s.pipe(s));
  port = await deadPort();
  port2 = await deadPort();
  statsPort = await deadPort();
  writeFileSync(file, config());
  proxy = spawnProxy(file);
  lines = proxy.lines;
  await waitLog((l) => /^started 2 worker processes/.test(l.msg));
});

after(async () => {
  if (proxy.child.exitCode === null && proxy.child.signalCode === null) {
    proxy.child.kill('SIGKILL'); // our own child, by PID (its workers exit with it: node:cluster)
    await proxy.exited;
  }
  await s1.close();
  await s2.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The pid of the process holding the proxy's end of `client` (a connection to the proxy). */
function servedBy(client: net.Socket): number {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${client.localPort} and sport = :${client.remotePort} )`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`no owner for the connection from port ${client.localPort}: ${out}`);
  return Number(m[1]);
}

function api(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    c.on('data', (d: Buffer) => (out += d.toString()));
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.end(`${cmd}\n`);
  });
}

async function csvRow(name: string, sv: string): Promise<Record<string, string>> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/stats;csv`)).text();
  const [head, ...rows] = text.split('\n').filter(Boolean);
  const keys = head!.replace(/^# /, '').split(',');
  for (const r of rows) {
    const v = r.split(',');
    if (v[0] === name && v[1] === sv) return Object.fromEntries(keys.map((k, i) => [k, v[i]!]));
  }
  throw new Error(`no CSV row ${name}/${sv}`);
}

/** Open connections until both workers hold at least one (each echoes once). */
async function sessionsOnBothWorkers(p = port): Promise<{ socks: net.Socket[]; owner: Map<net.Socket, number> }> {
  const socks: net.Socket[] = [];
  const owner = new Map<net.Socket, number>();
  for (let i = 0; i < 60 && new Set(owner.values()).size < 2; i++) {
    const batch = await Promise.all([connect(p), connect(p), connect(p), connect(p)]);
    for (const s of batch) {
      assert.equal(await roundTrip(s, `hello ${i}`), `hello ${i}`);
      socks.push(s);
      owner.set(s, servedBy(s));
    }
  }
  return { socks, owner };
}

const workerPids = (): number[] => [...new Set(lines.filter((l) => /is serving$/.test(l.msg)).map((l) => Number(l['workerPid'])))];

test('two workers serve the connections; the primary serves none; the CSV shows the sum', async () => {
  const { socks, owner } = await sessionsOnBothWorkers();
  const pids = new Set(owner.values());
  assert.equal(pids.size, 2, 'both workers hold sessions');
  assert.ok(!pids.has(proxy.child.pid!), 'the primary is not on the data path');
  for (const p of pids) assert.ok(workerPids().includes(p));
  // Counters reach the primary within a snapshot interval (200 ms).
  await new Promise((r) => setTimeout(r, 600));
  const fe = await csvRow('app', 'FRONTEND');
  assert.equal(Number(fe['scur']), socks.length, `scur is the sum over the workers (${fe['scur']})`);
  const s1row = await csvRow('app', 's1');
  const s2row = await csvRow('app', 's2');
  assert.equal(Number(s1row['scur']) + Number(s2row['scur']), socks.length);
  // `show workers`: each worker's own sessions, which add up.
  const rows = (await api('show workers')).split('\n').filter((l) => /^\d/.test(l)).map((l) => l.split(' ').map(Number));
  assert.deepEqual(rows.map((r) => r[1]).sort(), [...pids].sort());
  for (const r of rows) assert.equal(r[2], [...owner.values()].filter((p) => p === r[1]).length, `worker ${r[1]}: scur`);
  // roundrobin per worker stays fair overall.
  assert.ok(Math.abs(Number(s1row['scur']) - Number(s2row['scur'])) <= 2, `s1 ${s1row['scur']} vs s2 ${s2row['scur']}`);
  for (const s of socks) s.destroy();
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(Number((await csvRow('app', 'FRONTEND'))['scur']), 0);
  assert.ok(Number((await csvRow('app', 'FRONTEND'))['stot']) >= socks.length);
});

/** Which server each of the sessions got, from the session log lines of the workers. */
async function serversOf(socks: net.Socket[], from: number): Promise<{ servers: Set<string>; pids: Set<number> }> {
  const ports = new Set(socks.map((s) => `127.0.0.1:${s.localPort}`));
  for (const s of socks) s.end();
  const got: LogLine[] = [];
  await waitLog(() => {
    got.splice(0, got.length, ...lines.slice(from).filter((l) => l.msg === 'session' && ports.has(String(l['client']))));
    return got.length === ports.size;
  }, 5000, 0).catch(() => undefined);
  got.splice(0, got.length, ...lines.slice(from).filter((l) => l.msg === 'session' && ports.has(String(l['client']))));
  assert.equal(got.length, ports.size, 'a session log line for every connection');
  return { servers: new Set(got.map((l) => String(l['server']))), pids: new Set(got.map((l) => l.pid)) };
}

test('a drain set through the runtime API reaches every worker', async () => {
  assert.match(await api('set server app/s2 state drain'), /^\n?$/);
  await new Promise((r) => setTimeout(r, 200));
  const from = lines.length;
  const { socks } = await sessionsOnBothWorkers();
  const { servers, pids } = await serversOf(socks, from);
  assert.equal(pids.size, 2);
  assert.deepEqual([...servers], ['s1'], 'no worker gives a session to the drained server');
  assert.match((await csvRow('app', 's2'))['status']!, /DRAIN/);
  await api('set server app/s2 state ready');
  // A weight set at run time reaches them the same way.
  await api('set server app/s1 weight 0');
  await new Promise((r) => setTimeout(r, 200));
  const from2 = lines.length;
  const again = await sessionsOnBothWorkers();
  const got = await serversOf(again.socks, from2);
  assert.deepEqual([...got.servers], ['s2'], 'weight 0: no worker picks s1');
  await api('set server app/s1 weight 1');
});

test("a server the primary's checks mark DOWN gets no new session in any worker", async () => {
  const down = await s2.close().then(() => waitLog((l) => /^Server app\/s2 is DOWN/.test(l.msg)));
  assert.equal(down.pid, proxy.child.pid, 'the primary runs the checks');
  assert.equal(lines.filter((l) => /^Server app\/s2 is DOWN/.test(l.msg)).length, 1, 'checked once, not once per worker');
  await new Promise((r) => setTimeout(r, 200));
  const from = lines.length;
  const { socks } = await sessionsOnBothWorkers();
  const { servers, pids } = await serversOf(socks, from);
  assert.equal(pids.size, 2);
  assert.deepEqual([...servers], ['s1']);
  // s2 comes back on the same port.
  s2 = await new Promise<Echo>((resolve) => {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    server.listen(s2.port, '127.0.0.1', () => resolve({ server, port: s2.port, close: () => new Promise((r) => server.close(() => r())) }));
  });
  await waitLog((l) => /^Server app\/s2 is UP/.test(l.msg));
});

test('SIGHUP: the primary reloads and the workers follow (a new frontend is served by both)', async () => {
  // A bind that cannot succeed abandons the reload in the primary, before any worker sees it.
  const taken = await tcpServer(() => {});
  writeFileSync(
    file,
    config(`  app2:
    bind: 127.0.0.1:${taken.port}
    server:
      - t1 127.0.0.1:${s1.port}
`),
  );
  const before = lines.length;
  proxy.child.kill('SIGHUP');
  const abandoned = await waitLog((l) => l['reload'] === 'failed', 5000, before);
  assert.equal(abandoned.pid, proxy.child.pid);
  assert.match(abandoned.msg, /EADDRINUSE/);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lines.slice(before).filter((l) => l['reload'] !== undefined && l.pid !== proxy.child.pid).length, 0, 'no worker reloads');
  await taken.close();

  writeFileSync(
    file,
    config(`  app2:
    bind: 127.0.0.1:${port2}
    server:
      - t1 127.0.0.1:${s1.port}
`),
  );
  const from = lines.length;
  proxy.child.kill('SIGHUP');
  const applied = await waitLog((l) => l['reload'] === 'applied' && l.pid === proxy.child.pid, 5000, from);
  assert.ok(applied);
  // Each worker applies it too.
  await waitLog(() => lines.slice(from).filter((l) => l['reload'] === 'applied' && l.pid !== proxy.child.pid).length === 2, 5000, 0);
  const { socks, owner } = await sessionsOnBothWorkers(port2);
  assert.equal(new Set(owner.values()).size, 2);
  for (const s of socks) s.destroy();
});

test('a worker that dies is restarted; the other worker keeps its sessions', async () => {
  const { socks, owner } = await sessionsOnBothWorkers();
  const victim = owner.get(socks[0]!)!;
  const survivors = socks.filter((s) => owner.get(s) !== victim);
  const from = lines.length;
  process.kill(victim, 'SIGKILL'); // a worker of our own child, by PID
  const died = await waitLog((l) => /exited with signal SIGKILL: restarting it$/.test(l.msg), 5000, from);
  assert.equal(died['pid'], proxy.child.pid);
  const serving = await waitLog((l) => /is serving$/.test(l.msg), 5000, from);
  assert.notEqual(serving['workerPid'], victim);
  for (const s of survivors) assert.equal(await roundTrip(s, 'still here'), 'still here');
  // The new worker serves too.
  const again = await sessionsOnBothWorkers();
  assert.ok([...again.owner.values()].includes(Number(serving['workerPid'])));
  for (const s of [...socks, ...again.socks]) s.destroy();
});

test("'disable address A; shutdown sessions to A' has taken effect in every worker when the answer ends", async () => {
  const { socks, owner } = await sessionsOnBothWorkers();
  assert.equal(new Set(owner.values()).size, 2);
  const closed = new Set<net.Socket>();
  for (const s of socks) {
    s.on('error', () => {});
    s.once('end', () => closed.add(s));
    s.once('close', () => closed.add(s));
  }
  const answer = await api('disable address 127.0.0.1; shutdown sessions to 127.0.0.1');
  assert.match(answer, /closing the sessions to 127\.0\.0\.1 in 2 workers/);
  await new Promise((r) => setTimeout(r, 20)); // (the FINs are already on the loopback: let their events run)
  assert.equal(closed.size, socks.length, 'every session (in both workers) was closed before the answer ended');
  // New connections are reset by whichever worker accepts them.
  for (let i = 0; i < 6; i++) {
    const outcome = await connect(port).then(
      (c) =>
        new Promise<string>((resolve) => {
          c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
          c.once('close', () => resolve('closed'));
          c.write('x');
        }),
      (err: NodeJS.ErrnoException) => err.code ?? 'error', // reset before the connect event
    );
    assert.match(outcome, /ECONNRESET|closed/);
  }
  await api('enable address 127.0.0.1');
  const c = await connect(port);
  assert.equal(await roundTrip(c, 'open again'), 'open again');
  c.destroy();
});

test('SIGTERM: listeners close, open sessions finish, then every process exits 0', async () => {
  const { socks } = await sessionsOnBothWorkers();
  const pids = workerPids();
  proxy.child.kill('SIGTERM');
  await waitLog((l) => /listeners closed; waiting for sessions/.test(l.msg));
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(connect(port), /ECONNREFUSED/);
  for (const s of socks) assert.equal(await roundTrip(s, 'bye'), 'bye');
  for (const s of socks) s.end();
  const { code } = await proxy.exited;
  if (process.env.DEBUG_WORKERS) for (const l of lines.slice(-30)) console.log(l['time'], l.pid, l.msg);
  assert.equal(code, 0);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} is gone`);
});
