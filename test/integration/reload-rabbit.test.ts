// The reload headline test (issue 5), against the harness RabbitMQ cluster (loadCluster()): warren
// runs as a real child process (`node dist/src/cli.js proxy -f FILE`) and gets real SIGHUPs,
// the file being edited between them. Meanwhile clients open new AMQP connections continuously
// (plus a raw TCP connect loop, which sees a closed listener at once), and long-lived amqplib
// connections publish with confirms. 10 reloads: one adds a server, one removes one (with
// publishers on it), one changes a weight, one is invalid, the others change timeouts, balance,
// maxconn, binds, rise/fall, and re-add the removed server. Expected: 0 refused connections,
// 0 failed connects, 0 dropped established sessions, 0 failed publishes; the operator's drain and
// runtime weight and the health states (a dead server stays DOWN) kept; the invalid file changes
// nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { deadPort } from '../harness/proxy.js';
import { loadCluster, type ClusterInfo } from '../harness/rabbit-cluster.js';
import { amqpLoop, publisher, tcpLoop, type Publisher } from '../harness/reload-load.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

let cluster: ClusterInfo;
let dir: string;
let file: string;
let socket: string;
let child: ChildProcess | null = null;
const lines: Record<string, unknown>[] = [];
let stderr = '';
/** What to stop if the test fails half way (loops and publishers would keep the process alive). */
const cleanups: (() => Promise<unknown>)[] = [];

before(() => {
  cluster = loadCluster();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-reload-rabbit-'));
  file = path.join(dir, 'haproxy.yaml');
  socket = path.join(dir, 'admin.sock');
});

after(async () => {
  for (const c of cleanups.splice(0)) await Promise.race([c().catch(() => {}), sleep(5000)]);
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Variant {
  servers: string[];
  binds?: number[];
  lines?: string[];
}

function config(v: Variant, ports: { stats: number }): string {
  const binds = (v.binds ?? []).map((p) => `127.0.0.1:${p}`);
  return `global:
  maxconn: 4096
  hard-stop-after: 5s
  stats-socket: ${socket} mode 600 level admin
defaults:
  mode: tcp
  balance: roundrobin
  retries: 3
  option: [redispatch, tcplog, dontlognull, tcpka]
  timeout: {connect: 2s, client: 3h, server: 3h, check: 2s, queue: 10s}
  default-server: inter 500ms fastinter 200ms downinter 500ms rise 2 fall 2
listen:
  rabbitmq_cluster:
    bind: [${binds.join(', ')}]
    option: [amqp-check]
    amqp-check: {user: ${cluster.user}, password: ${cluster.password}, vhost: /}
${(v.lines ?? []).map((l) => `    ${l}\n`).join('')}    server:
${v.servers.map((s) => `      - ${s}`).join('\n')}
  monitor:
    bind: 127.0.0.1:${ports.stats}
    mode: http
    stats: {enable: true, uri: /stats}
`;
}

function ask(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socket);
    let out = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('close', () => resolve(out));
    c.on('error', reject);
    c.on('connect', () => c.write(`${cmd}\n`));
  });
}

interface SrvState {
  op: number;
  admin: number;
  uweight: number;
  iweight: number;
}

async function serversState(): Promise<Record<string, SrvState>> {
  const out: Record<string, SrvState> = {};
  for (const l of (await ask('show servers state rabbitmq_cluster')).split('\n')) {
    const f = l.split(' ');
    if (f.length < 10 || l.startsWith('#')) continue;
    out[f[3]!] = { op: Number(f[5]), admin: Number(f[6]), uweight: Number(f[7]), iweight: Number(f[8]) };
  }
  return out;
}

async function waitLine(pred: (l: Record<string, unknown>) => boolean, from: number, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    for (let i = from; i < lines.length; i++) if (pred(lines[i]!)) return lines[i]!;
    if (Date.now() > end) throw new Error(`no matching proxy log line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`);
    await sleep(20);
  }
}


test('10 SIGHUP reloads under load: 0 refused, 0 dropped, 0 failed publishes; admin and health state kept; the invalid one changes nothing', async (t) => {
  const [n1, n2, n3] = cluster.nodes.map((n) => `${n.host}:${n.amqpPort}`);
  const ghost = `127.0.0.1:${await deadPort()}`;
  const [port, port2, stats] = [await deadPort(), await deadPort(), await deadPort()];
  const s = (name: string, addr: string, extra = ''): string => `${name} ${addr} check${extra}`;
  const base = [s('r1', n1!), s('r2', n2!), s('d1', n3!), s('ghost', ghost)];
  const p = { stats };
  const steps: { what: string; v: Variant | string; expect: 'applied' | 'invalid' }[] = [
    { what: 'add a server', v: { servers: [...base, s('r3', n3!)], binds: [port] }, expect: 'applied' },
    { what: 'timeouts', v: { servers: [...base, s('r3', n3!)], binds: [port], lines: ['timeout: {client: 1h, server: 1h}'] }, expect: 'applied' },
    { what: 'change a weight', v: { servers: [...base, s('r3', n3!, ' weight 2')], binds: [port], lines: ['timeout: {client: 1h, server: 1h}'] }, expect: 'applied' },
    { what: 'invalid', v: 'INVALID', expect: 'invalid' },
    { what: 'remove a server', v: { servers: [base[0]!, base[2]!, base[3]!, s('r3', n3!, ' weight 2')], binds: [port] }, expect: 'applied' },
    { what: 'balance', v: { servers: [base[0]!, base[2]!, base[3]!, s('r3', n3!, ' weight 2')], binds: [port], lines: ['balance: leastconn'] }, expect: 'applied' },
    { what: 'a new listener', v: { servers: [base[0]!, base[2]!, base[3]!, s('r3', n3!, ' weight 2')], binds: [port, port2], lines: ['balance: leastconn'] }, expect: 'applied' },
    { what: 'maxconn', v: { servers: [base[0]!, base[2]!, base[3]!, s('r3', n3!, ' weight 2')], binds: [port, port2], lines: ['balance: leastconn', 'maxconn: 2000'] }, expect: 'applied' },
    {
      what: 'rise/fall (checks rebuilt)',
      v: { servers: [base[0]!, base[2]!, base[3]!, s('r3', n3!, ' weight 2')].map((x) => `${x} rise 3 fall 3`), binds: [port, port2], lines: ['maxconn: 2000'] },
      expect: 'applied',
    },
    { what: 're-add the removed server', v: { servers: [...base, s('r3', n3!, ' weight 2')].map((x) => `${x} rise 3 fall 3`), binds: [port, port2] }, expect: 'applied' },
  ];

  fs.writeFileSync(file, config({ servers: base, binds: [port] }, p));
  child = spawn(process.execPath, [CLI, 'proxy', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitLine((l) => l.msg === 'Proxy rabbitmq_cluster started.', 0);

  // Every broker checked UP, the ghost DOWN.
  const end = Date.now() + 20_000;
  let st = await serversState();
  while (!(st.r1?.op === 2 && st.r2?.op === 2 && st.d1?.op === 2 && st.ghost?.op === 0 && lines.some((l) => l.server === 'rabbitmq_cluster/ghost' && l.state === 'DOWN'))) {
    if (Date.now() > end) throw new Error(`servers not ready: ${JSON.stringify(st)}`);
    await sleep(100);
    st = await serversState();
  }

  const url = (p2 = port): string => `amqp://${cluster.user}:${cluster.password}@127.0.0.1:${p2}`;
  // Long-lived publishers, spread over r1, r2 and d1 (round robin) before d1 is drained: some
  // sit on d1 (drained) and on r2 (removed by reload 5) all along.
  const pubs: Publisher[] = [];
  for (let i = 0; i < 6; i++) pubs.push(await publisher(url(), `warren-reload-${process.pid}-${i}`));
  cleanups.push(async () => {
    for (const x of pubs) {
      await x.stop();
      await x.close();
    }
  });
  assert.equal(await ask('set server rabbitmq_cluster/d1 state drain'), '\n');
  assert.equal(await ask('set server rabbitmq_cluster/r1 weight 3'), '\n');
  st = await serversState();
  assert.deepEqual([st.d1!.admin, st.r1!.uweight], [8, 3]);

  const loops = [tcpLoop(port), amqpLoop(url()), amqpLoop(url())];
  cleanups.unshift(() => Promise.all(loops.map((l) => l.stop())));
  await sleep(1000);

  const reloadMs: number[] = [];
  for (const [i, step] of steps.entries()) {
    const before = await serversState();
    const from = lines.length;
    fs.writeFileSync(file, typeof step.v === 'string' ? config({ servers: base, binds: [port] }, p).replace('option: [amqp-check]', 'option: [amqp-chek]') : config(step.v, p));
    const t0 = performance.now();
    child.kill('SIGHUP');
    const done = await waitLine((l) => l.reload === 'applied' || l.reload === 'unchanged' || l.reload === 'failed' || /is invalid/.test(String(l.msg)), from);
    reloadMs.push(performance.now() - t0);
    const status = /is invalid/.test(String(done.msg)) ? 'invalid' : String(done.reload);
    assert.equal(status, step.expect, `reload ${i + 1} (${step.what}): ${String(done.msg)}`);
    const after = await serversState();
    if (step.expect === 'invalid') {
      assert.deepEqual(after, before, 'the invalid file changed nothing');
      assert.ok(lines.slice(from).some((l) => /haproxy\.yaml:\d+: listen\.rabbitmq_cluster\.option/.test(String(l.msg))), 'the issue is logged with file:line: path');
    }
    // The operator's drain and runtime weight, and the health states, survive every reload.
    assert.equal(after.d1!.admin, 8, `d1 still drained after reload ${i + 1}`);
    assert.equal(after.r1!.uweight, 3, `r1 runtime weight kept after reload ${i + 1}`);
    assert.equal(after.ghost!.op, 0, `ghost still DOWN after reload ${i + 1}`);
    for (const name of ['r1', 'd1', 'r2', 'r3']) if (after[name]) assert.equal(after[name]!.op, 2, `${name} UP after reload ${i + 1}`);
    if (step.what === 'add a server') assert.ok(after.r3);
    if (step.what === 'remove a server') assert.equal(after.r2, undefined);
    if (step.what === 'change a weight') assert.equal(after.r3!.iweight, 2);
    await sleep(700);
  }
  // New connections through the listener opened by reload 7, too.
  const viaNew = await amqp.connect(url(port2));
  await viaNew.close();

  await sleep(500);
  const [tcp, a1, a2] = await Promise.all(loops.map((l) => l.stop()));
  for (const pub of pubs) await pub.stop();
  const counts = {
    tcpConnects: tcp!.ok,
    amqpConnects: a1!.ok + a2!.ok,
    refused: tcp!.refused + a1!.refused + a2!.refused,
    failedConnects: [...tcp!.failed, ...a1!.failed, ...a2!.failed],
    dropped: pubs.filter((x) => x.dropped !== null).map((x) => `${x.queue}: ${x.dropped}`),
    confirmed: pubs.reduce((n, x) => n + x.confirmed, 0),
    failedPublishes: pubs.reduce((n, x) => n + x.failed, 0),
    reloadMs: reloadMs.map((x) => Math.round(x)),
  };
  t.diagnostic(JSON.stringify(counts));
  // Every confirmed message is in its queue.
  for (const pub of pubs) {
    assert.equal(await pub.finish(), pub.confirmed, `${pub.queue}: every confirmed message is there`);
  }
  cleanups.length = 0;
  assert.equal(counts.refused, 0, 'no refused connection');
  assert.deepEqual(counts.failedConnects, [], 'no failed connection');
  assert.deepEqual(counts.dropped, [], 'no established session dropped');
  assert.equal(counts.failedPublishes, 0, 'no failed publish');
  assert.ok(counts.amqpConnects > 50 && counts.tcpConnects > 500, `the loops ran: ${counts.amqpConnects} AMQP, ${counts.tcpConnects} TCP connects`);
  assert.ok(counts.confirmed > 1000, `publishes confirmed: ${counts.confirmed}`);
  // The publishers on r2 kept going after r2 was removed: its log line counted them.
  const removedLine = lines.find((l) => l.reload === 'removed' && l.server === 'rabbitmq_cluster/r2');
  assert.ok(removedLine && Number(removedLine.sessions) >= 1, `r2 carried publishers when it was removed: ${JSON.stringify(removedLine)}`);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
  assert.equal(code, 0, stderr);
});
