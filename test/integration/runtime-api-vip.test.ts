// The runtime API's address commands (warren extensions for `warren vrrp` leaving MASTER), on
// REAL sockets: an in-process proxy whose frontend listens on 0.0.0.0 (a second one on
// 127.0.0.2 only), a real TCP echo backend, and clients connecting to 127.0.0.1 and 127.0.0.2 —
// two local addresses of the loopback (127.0.0.0/8 is on lo already; nothing is added).
//
//   shutdown sessions to <addr>   closes exactly the sessions whose client connected to <addr>
//   disable address <addr>        resets new connections to <addr> before any server connect
//   enable address <addr>         undoes it

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { readAll, startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import { ask } from '../harness/runtime-socket.js';
import { createLogger } from '../../src/lib/log.js';
import { parseCsv } from '../../src/proxy/stats/csv.js';
import { startRuntimeApi, type RuntimeApi } from '../../src/proxy/stats/runtime-api.js';
import { AddressGate, normalizeAddress, parseAddressArg, RESET_LOG_INTERVAL_MS } from '../../src/proxy/address-gate.js';

type TcpBackend = Awaited<ReturnType<typeof tcpServer>>;

let dir: string;
let proxy: RunningProxy;
let backend: TcpBackend;
let opApi: RuntimeApi;
let adminSock: string;
let opSock: string;
let appPort: number;
let app2Port: number;
/** Every connection the backend accepted, with the label its client sent first. */
const backendConns: { sock: net.Socket; label: string; closed: boolean }[] = [];
/** Bytes a `flood` client's backend connection is asked to send. */
const FLOOD = 32 * 1024 * 1024;

const quiet = createLogger('proxy', new Writable({ write: (_c, _e, cb) => cb() }));

/** A client of the proxy at host:port (harness `connect`, with a host). */
function connectTo(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host, allowHalfOpen: true });
    sock.on('end', () => sock.end());
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });
}

/** The next `n` bytes the socket sends (it must stay open). */
function readBytes(sock: net.Socket, n: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error(`only ${JSON.stringify(got)} after ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer): void => {
      got += d.toString('utf8');
      if (got.length >= n) done(null);
    };
    const onEnd = (): void => done(new Error(`ended after ${JSON.stringify(got)}`));
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onEnd);
      if (err) reject(err);
      else resolve(got);
    };
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('error', onEnd);
  });
}

/** A client whose session is established (phase D): it says `label`, the backend echoes it. */
async function session(host: string, port: number, label: string): Promise<net.Socket> {
  const c = await connectTo(host, port);
  c.write(`${label}\n`);
  assert.equal(await readBytes(c, label.length + 1), `${label}\n`);
  return c;
}

/** How a socket ended: 'end' (FIN), an error code, or 'open' after `ms`; and when. */
function outcome(sock: net.Socket, ms = 3000): Promise<{ how: string; afterMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ how: 'open', afterMs: ms }), ms);
    const done = (how: string): void => {
      clearTimeout(timer);
      resolve({ how, afterMs: performance.now() - t0 });
    };
    sock.once('end', () => done('end'));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    sock.resume();
  });
}

/** Connect to host:port and report what happens: 'reset' (ECONNRESET), 'end', 'open' etc. */
function tryConnect(host: string, port: number, ms = 2000): Promise<{ how: string; afterMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const c = net.connect({ host, port });
    const timer = setTimeout(() => done('open'), ms);
    const done = (how: string): void => {
      clearTimeout(timer);
      c.destroy();
      resolve({ how, afterMs: performance.now() - t0 });
    };
    c.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    c.on('end', () => done('end'));
    c.on('data', () => done('data'));
    // A connection that is let through reaches the echo backend: the probe comes back.
    c.on('connect', () => c.write('probe\n'));
  });
}

function frontendRow(csv: string, name: string): Record<string, string> {
  const row = parseCsv(csv).rows.find((r) => r.pxname === name && r.svname === 'FRONTEND');
  assert.ok(row, `FRONTEND row of ${name}`);
  return row;
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const sessionsTo = (addr: string): number => proxy.proxy.frontends.reduce((n, fe) => n + [...fe.sessions].filter((s) => s.localAddress === addr).length, 0);

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-vip-'));
  adminSock = path.join(dir, 'admin.sock');
  opSock = path.join(dir, 'operator.sock');
  backend = await tcpServer((s) => {
    const entry = { sock: s, label: '', closed: false };
    backendConns.push(entry);
    s.on('close', () => (entry.closed = true));
    s.once('data', (d: Buffer) => {
      entry.label = d.toString('utf8').trim();
      if (entry.label.startsWith('flood')) {
        // Far more than the kernel and the proxy buffer: data stays queued for the client.
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const pump = (): void => {
          while (sent < FLOOD && !s.destroyed) {
            sent += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
        };
        pump();
        return;
      }
      s.write(d);
      s.on('data', (more: Buffer) => s.write(more));
    });
  });
  proxy = await startProxy(`
global:
  maxconn: 100
  stats-socket: ${adminSock} mode 600 level admin
defaults:
  mode: tcp
  option: [tcplog]
  timeout: {connect: 1s, client: 30s, server: 30s, queue: 2s}
listen:
  app:
    bind: 0.0.0.0:0
    server:
      - s1 127.0.0.1:${backend.port}
  app2:
    bind: 127.0.0.2:0
    server:
      - s1 127.0.0.1:${backend.port}
`);
  appPort = proxy.port('app');
  app2Port = proxy.port('app2');
  opApi = await startRuntimeApi(`${opSock} level operator`, proxy.proxy, quiet);
});

after(async () => {
  await opApi?.close();
  await proxy?.stop(0);
  await backend?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('addresses are kept in the normal form sockets report', () => {
  assert.equal(normalizeAddress('::ffff:127.0.0.2'), '127.0.0.2');
  assert.equal(normalizeAddress('::1'), '::1');
  assert.equal(normalizeAddress(undefined), '');
  assert.deepEqual(parseAddressArg('127.0.0.2'), { address: '127.0.0.2' });
  assert.deepEqual(parseAddressArg('::FFFF:127.0.0.2'), { address: '127.0.0.2' });
  assert.deepEqual(parseAddressArg('[2001:DB8:0:0::1]'), { address: '2001:db8::1' });
  assert.deepEqual(parseAddressArg('2001:db8:0:0:1:0:0:1'), { address: '2001:db8::1:0:0:1' });
  assert.deepEqual(parseAddressArg(undefined), { error: 'Require an IPv4 or IPv6 address.\n' });
  assert.deepEqual(parseAddressArg('vip'), { error: "'vip' is not an IPv4 or IPv6 address.\n" });
  assert.deepEqual(parseAddressArg('198.51.100.100/24'), { error: "'198.51.100.100/24' is not an IPv4 or IPv6 address (give the address without a prefix length).\n" });
});

test('the gate: idempotent disable/enable, one log line per burst carrying the count', () => {
  const g = new AddressGate();
  assert.equal(g.size, 0);
  assert.equal(g.disable('127.0.0.2', 1000), true);
  assert.equal(g.disable('127.0.0.2', 2000), false);
  const e = g.get('127.0.0.2')!;
  assert.equal(e.since, 1000);
  assert.equal(g.countReset(e, 5000), 1, 'the first of a burst is logged');
  assert.equal(g.countReset(e, 5001), 0);
  assert.equal(g.countReset(e, 5000 + RESET_LOG_INTERVAL_MS - 1), 0);
  assert.equal(g.countReset(e, 5000 + RESET_LOG_INTERVAL_MS), 3, 'then one line with the count since the last one');
  assert.deepEqual(g.list().map((a) => [a.address, a.reset]), [['127.0.0.2', 4]]);
  assert.equal(g.enable('127.0.0.2')?.reset, 4);
  assert.equal(g.enable('127.0.0.2'), null);
  assert.equal(g.size, 0);
});

test('sessions remember the local address their client connected to', async () => {
  const a = await session('127.0.0.1', appPort, 'remember-a');
  const b = await session('127.0.0.2', appPort, 'remember-b');
  const addrs = [...proxy.proxy.frontends[0]!.sessions].map((s) => s.localAddress).sort();
  assert.deepEqual(addrs, ['127.0.0.1', '127.0.0.2']);
  a.destroy();
  b.destroy();
  await waitFor('sessions end', () => proxy.proxy.sessionCount === 0);
});

test('shutdown sessions to <addr>: only the sessions that arrived on <addr>, on every frontend, closed at once with a FIN', async () => {
  const on1 = await Promise.all([1, 2, 3].map((i) => session('127.0.0.1', appPort, `one-${i}`)));
  const on2 = await Promise.all([1, 2].map((i) => session('127.0.0.2', appPort, `two-${i}`)));
  on2.push(await session('127.0.0.2', app2Port, 'two-app2'));
  assert.equal(sessionsTo('127.0.0.2'), 3);
  assert.equal(sessionsTo('127.0.0.1'), 3);

  const ends = on2.map((c) => outcome(c));
  const stillOpen = on1.map((c) => outcome(c, 300));
  const t0 = performance.now();
  const answer = await ask(adminSock, 'shutdown sessions to 127.0.0.2\n');
  assert.equal(answer, 'closed 3 sessions to 127.0.0.2\n\n');
  for (const r of await Promise.all(ends)) {
    assert.equal(r.how, 'end', 'a clean close (FIN), not a reset');
    assert.ok(performance.now() - t0 < 1000 && r.afterMs < 1000, `closed promptly (${Math.round(r.afterMs)} ms)`);
  }
  // The server sides of exactly those sessions are closed too.
  await waitFor('backend sides closed', () => backendConns.filter((b) => b.label.startsWith('two-')).every((b) => b.closed));
  assert.ok(backendConns.filter((b) => b.label.startsWith('one-')).every((b) => !b.closed));
  // The 127.0.0.1 clients keep working.
  for (const r of await Promise.all(stillOpen)) assert.equal(r.how, 'open');
  for (const [i, c] of on1.entries()) {
    c.write(`again-${i}\n`);
    assert.equal(await readBytes(c, 8), `again-${i}\n`);
  }
  // HAProxy's termination state for an admin kill during data: KD.
  await waitFor('session logs', () => proxy.logs.filter((l) => l.msg === 'session' && l.termination_state === 'KD').length === 3);
  assert.ok(proxy.logs.some((l) => l.msg === 'runtime API: shut down 3 sessions to 127.0.0.2'));
  // Nothing left to close: the count says so.
  await waitFor('sessions gone', () => sessionsTo('127.0.0.2') === 0);
  assert.equal(await ask(adminSock, 'shutdown sessions to 127.0.0.2\n'), 'closed 0 sessions to 127.0.0.2\n\n');
  for (const c of on1) c.destroy();
  await waitFor('sessions end', () => proxy.proxy.sessionCount === 0);
});

test('shutdown sessions to <addr> drops data still queued for a client that does not read', async () => {
  const c = await connectTo('127.0.0.2', appPort);
  c.pause(); // reads nothing: the backend's flood piles up in the proxy and the kernel
  c.write('flood-1\n');
  await waitFor('data queued for the client', () => [...proxy.proxy.frontends[0]!.sessions].some((s) => s.localAddress === '127.0.0.2' && s.bytesOut > 0));
  await sleep(100);
  const done = new Promise<Buffer>((resolve, reject) => {
    readAll(c).then(resolve, reject);
  });
  assert.equal(await ask(adminSock, 'shutdown sessions to 127.0.0.2\n'), 'closed 1 sessions to 127.0.0.2\n\n');
  // The proxy let go at once (both sides), without waiting for the client to read.
  await waitFor('session closed on the proxy', () => sessionsTo('127.0.0.2') === 0, 1000);
  await waitFor('backend side closed', () => backendConns.find((b) => b.label === 'flood-1')!.closed, 1000);
  c.resume();
  const got = await done;
  assert.ok(got.length < FLOOD, `the client got ${got.length} of ${FLOOD} bytes, then the end`);
});

test('disable address <addr>: new connections to it are reset before any server connect, counted in dcon, logged once per burst', async () => {
  const before = backendConns.length;
  const dconBefore = Number(frontendRow(await ask(adminSock, 'show stat\n'), 'app').dcon);
  const kept = await session('127.0.0.2', appPort, 'kept-2'); // an existing session is not touched by disable

  assert.equal(await ask(adminSock, 'disable address 127.0.0.2\n'), '\n');
  assert.equal(await ask(adminSock, 'disable address 127.0.0.2\n'), '\n', 'idempotent');
  const backendAfterKept = backendConns.length;
  assert.equal(backendAfterKept, before + 1);
  for (let i = 0; i < 5; i++) {
    const r = await tryConnect('127.0.0.2', appPort);
    assert.equal(r.how, 'ECONNRESET');
    assert.ok(r.afterMs < 500, `reset at once (${Math.round(r.afterMs)} ms)`);
  }
  // On every frontend (app2 listens on 127.0.0.2 only).
  assert.equal((await tryConnect('127.0.0.2', app2Port)).how, 'ECONNRESET');
  // 127.0.0.1 still works, through the same 0.0.0.0 listener.
  assert.equal((await tryConnect('127.0.0.1', appPort)).how, 'data');
  await sleep(50);
  // The backend saw only the 127.0.0.1 probe.
  assert.equal(backendConns.length, backendAfterKept + 1);
  assert.equal(backendConns[backendConns.length - 1]!.label, 'probe');
  // The existing session still works.
  kept.write('x\n');
  assert.equal(await readBytes(kept, 2), 'x\n');

  const app = frontendRow(await ask(adminSock, 'show stat\n'), 'app');
  assert.equal(Number(app.dcon), dconBefore + 5);
  assert.equal(Number(frontendRow(await ask(adminSock, 'show stat\n'), 'app2').dcon), 1);
  // One log line for the burst of six (on two frontends), not six.
  const resetLogs = proxy.logs.filter((l) => String(l.msg).startsWith('reset '));
  assert.equal(resetLogs.length, 1);
  assert.equal(resetLogs[0]!.msg, "reset 1 connection to disabled address 127.0.0.2 (runtime API 'disable address')");
  assert.equal(resetLogs[0]!.address, '127.0.0.2');
  assert.equal(resetLogs[0]!.frontend, 'app');

  assert.match(await ask(adminSock, 'show addresses\n'), /^# address state since_sec reset\n127\.0\.0\.2 disabled \d+ 6\n\n$/);
  // `shutdown sessions to` then closes the session that was already there (the vrrp sequence).
  const end = outcome(kept);
  assert.equal(await ask(adminSock, 'shutdown sessions to 127.0.0.2\n'), 'closed 1 sessions to 127.0.0.2\n\n');
  assert.equal((await end).how, 'end');

  assert.equal(await ask(adminSock, 'enable address 127.0.0.2\n'), '\n');
  assert.equal(await ask(adminSock, 'enable address 127.0.0.2\n'), '\n', 'idempotent');
  assert.equal(await ask(adminSock, 'show addresses\n'), '# address state since_sec reset\n\n');
  assert.ok(proxy.logs.some((l) => l.msg === 'runtime API: address 127.0.0.2 enabled again (6 connections reset while disabled)'));
  assert.equal((await tryConnect('127.0.0.2', appPort)).how, 'data');
  assert.equal((await tryConnect('127.0.0.2', app2Port)).how, 'data');
  await waitFor('sessions end', () => proxy.proxy.sessionCount === 0);
});

test('the vrrp daemon sequence on one line: disable, shutdown, then enable', async () => {
  const c = await session('127.0.0.2', appPort, 'seq-1');
  const end = outcome(c);
  assert.equal(await ask(adminSock, 'disable address 127.0.0.2; shutdown sessions to 127.0.0.2\n'), '\nclosed 1 sessions to 127.0.0.2\n\n');
  assert.equal((await end).how, 'end');
  assert.equal((await tryConnect('127.0.0.2', appPort)).how, 'ECONNRESET');
  // An IPv4-mapped spelling names the same address.
  assert.equal(await ask(adminSock, 'enable address ::ffff:127.0.0.2\n'), '\n');
  assert.equal((await tryConnect('127.0.0.2', appPort)).how, 'data');
});

test('bad input gets a clear error text; nothing changes', async () => {
  assert.equal(await ask(adminSock, 'shutdown sessions to\n'), 'Require an IPv4 or IPv6 address.\n\n');
  assert.equal(await ask(adminSock, 'shutdown sessions to vip\n'), "'vip' is not an IPv4 or IPv6 address.\n\n");
  assert.equal(await ask(adminSock, 'disable address\n'), 'Require an IPv4 or IPv6 address.\n\n');
  assert.equal(await ask(adminSock, 'disable address 127.0.0.256\n'), "'127.0.0.256' is not an IPv4 or IPv6 address.\n\n");
  assert.equal(await ask(adminSock, 'disable address 198.51.100.100/24\n'), "'198.51.100.100/24' is not an IPv4 or IPv6 address (give the address without a prefix length).\n\n");
  assert.equal(await ask(adminSock, 'enable address ::g\n'), "'::g' is not an IPv4 or IPv6 address.\n\n");
  assert.equal(await ask(adminSock, 'show addresses\n'), '# address state since_sec reset\n\n');
  assert.match(await ask(adminSock, 'disable adress 127.0.0.2\n'), /^Unknown command, but maybe one of the following ones is a better match:\n {2}disable address <addr> /);
});

test('levels: the address commands need admin; show addresses needs operator', async () => {
  for (const cmd of ['disable address 127.0.0.2', 'enable address 127.0.0.2', 'shutdown sessions to 127.0.0.2']) {
    assert.equal(await ask(opSock, `${cmd}\n`), 'Permission denied\n\n', `operator socket: ${cmd}`);
    // (`operator` and `user` answer first, with an empty answer)
    assert.equal(await ask(adminSock, `operator; ${cmd}\n`), '\nPermission denied\n\n', `lowered to operator: ${cmd}`);
    assert.equal(await ask(adminSock, `user; ${cmd}\n`), '\nPermission denied\n\n', `lowered to user: ${cmd}`);
  }
  assert.equal(await ask(adminSock, 'show addresses\n'), '# address state since_sec reset\n\n');
  assert.equal(await ask(opSock, 'show addresses\n'), '# address state since_sec reset\n\n');
  assert.equal(await ask(adminSock, 'user; show addresses\n'), '\nPermission denied\n\n');
  // The refused disable did nothing.
  assert.equal((await tryConnect('127.0.0.2', appPort)).how, 'data');
});

test('help lists the address commands in the usual layout', async () => {
  const help = await ask(adminSock, 'help\n');
  for (const line of [
    '  disable address <addr>                  : reset new connections to a local address (warren)\n',
    '  enable address <addr>                   : accept connections to a disabled local address again (warren)\n',
    "  show addresses                          : list the local addresses disabled by 'disable address' (warren)\n",
    '  shutdown sessions to <addr>             : kill sessions whose client connected to a local address (warren)\n',
  ]) {
    assert.ok(help.includes(line), line);
  }
});
