// The AMQP health check against the real RabbitMQ cluster of the harness, and against fake servers
// that do not speak AMQP. Also checks what the broker writes to its log because of the checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { amqpCheck } from '../../src/proxy/check/amqp.js';
import type { AmqpCheckConfig } from '../../src/config/types.js';
import type { CheckResult } from '../../src/proxy/check/result.js';
import { loadCluster, logOffset, logSince, rabbitmqctl, warningLines, type ClusterInfo } from '../harness/rabbit-cluster.js';

let cluster: ClusterInfo;
const servers: net.Server[] = [];

const NO_LOGIN: AmqpCheckConfig = { user: null, password: null, vhost: '/', onBlocked: 'fail' };
const LOGIN: AmqpCheckConfig = { user: 'guest', password: 'guest', vhost: '/', onBlocked: 'fail' };

function node(i: number): { host: string; port: number } {
  const n = cluster.nodes[i]!;
  return { host: n.host, port: n.amqpPort };
}

/** A local TCP server whose connections are handed to `onConn`. */
async function fakeServer(onConn: (s: net.Socket) => void): Promise<{ host: string; port: number }> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    onConn(s);
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port };
}

async function closedPort(): Promise<{ host: string; port: number }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return { host: '127.0.0.1', port };
}

function assertFailed(r: CheckResult, status: string | RegExp): void {
  assert.equal(r.ok, false, JSON.stringify(r));
  if (typeof status === 'string') assert.equal(r.status, status, JSON.stringify(r));
  else assert.match(r.status, status, JSON.stringify(r));
  assert.ok(r.desc.length > 0);
}

/** Runs `fn`, waits for the broker to flush its log, returns the new [warning]+ lines of node i. */
async function newWarnings(i: number, fn: () => Promise<void>): Promise<string[]> {
  const off = logOffset(cluster, i);
  await fn();
  await sleep(1500); // connection-closing lines are written asynchronously
  return warningLines(logSince(cluster, i, off));
}

before(() => {
  cluster = loadCluster();
});

after(async () => {
  for (const s of servers) s.close();
});

test('a live node without credentials: Connection.Start received', async () => {
  const r = await amqpCheck(NO_LOGIN)(node(0), 3000);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.status, 'L6OK');
  assert.match(r.desc, /RabbitMQ 3\./);
  assert.equal(r.hardFailure, false);
  assert.equal(r.warning, null);
  assert.ok(r.durationMs >= 0 && r.durationMs < 3000);
});

test('a live node with credentials: full login, publish probe, polite close', async () => {
  for (const i of [0, 1, 2]) {
    const r = await amqpCheck(LOGIN)(node(i), 3000);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.status, 'L7OK');
    assert.equal(r.warning, null);
    assert.match(r.desc, /logged in as guest to vhost '\/'/);
  }
});

test('a closed port: L4CON, hard failure', async () => {
  const target = await closedPort();
  for (const cfg of [NO_LOGIN, LOGIN]) {
    const r = await amqpCheck(cfg)(target, 2000);
    assertFailed(r, 'L4CON');
    assert.equal(r.hardFailure, true);
    assert.match(r.desc, /refused/);
  }
});

test('an HTTP server is not an AMQP server', async () => {
  const target = await fakeServer((s) => {
    s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
  });
  const r = await amqpCheck(LOGIN)(target, 2000);
  assertFailed(r, 'L6RSP');
  assert.match(r.desc, /not an AMQP 0-9-1 frame.*HTTP\/1\.1 400/);
  assert.equal(r.hardFailure, false);
});

test('garbage that looks like a frame but has a bad frame-end', async () => {
  const target = await fakeServer((s) => {
    const b = Buffer.alloc(20, 0x41);
    b.writeUInt8(1, 0);
    b.writeUInt16BE(0, 1);
    b.writeUInt32BE(12, 3); // frame-end expected at 19
    s.write(b);
  });
  const r = await amqpCheck(NO_LOGIN)(target, 2000);
  assertFailed(r, 'L6RSP');
  assert.match(r.desc, /frame-end/);
});

test('a method frame that is not Connection.Start', async () => {
  const target = await fakeServer((s) => {
    const payload = Buffer.from([0, 10, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0]); // Connection.Tune
    const f = Buffer.concat([Buffer.from([1, 0, 0]), Buffer.alloc(4), payload, Buffer.from([0xce])]);
    f.writeUInt32BE(payload.length, 3);
    s.write(f);
  });
  const r = await amqpCheck(NO_LOGIN)(target, 2000);
  assertFailed(r, 'L6RSP');
  assert.match(r.desc, /unexpected method 10\.30.*Connection\.Start/);
});

test('an endless stream is cut at 64 KiB', async () => {
  const target = await fakeServer((s) => {
    // A heartbeat frame is valid framing: only the byte cap can stop this.
    const hb = Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]);
    const chunk = Buffer.concat(Array.from({ length: 1024 }, () => hb));
    const pump = (): void => {
      while (!s.destroyed && s.write(chunk));
      if (!s.destroyed) s.once('drain', pump);
    };
    pump();
  });
  const r = await amqpCheck(NO_LOGIN)(target, 3000);
  assertFailed(r, 'L6RSP');
  assert.match(r.desc, /more than 65536 bytes/);
});

test('a server that never answers: L6TOUT; one that closes at once: L6RSP; one that resets: L4CON hard', async () => {
  const silent = await fakeServer(() => {});
  const r1 = await amqpCheck(NO_LOGIN)(silent, 300);
  assertFailed(r1, 'L6TOUT');
  assert.ok(r1.durationMs >= 250 && r1.durationMs < 2000, String(r1.durationMs));

  const closer = await fakeServer((s) => s.end());
  const r2 = await amqpCheck(NO_LOGIN)(closer, 2000);
  assertFailed(r2, 'L6RSP');
  assert.match(r2.desc, /closed by server/);

  const resetter = await fakeServer((s) => s.once('data', () => s.resetAndDestroy()));
  const r3 = await amqpCheck(NO_LOGIN)(resetter, 2000);
  assertFailed(r3, 'L4CON');
  assert.equal(r3.hardFailure, true);
});

test('a connect timeout is L4TOUT', async (t) => {
  // A listener that never accepts, with its accept queue filled: further SYNs are dropped, so
  // connects hang. Node always accepts, so the listener is a small python3 process.
  const py = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(30)',
  ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    if (py.exitCode === null) py.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number.parseInt(d.toString(), 10)));
    py.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  for (let k = 0; k < 4; k++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await sleep(300);
  try {
    const r = await amqpCheck(NO_LOGIN)({ host: '127.0.0.1', port }, 500);
    assertFailed(r, 'L4TOUT');
    assert.equal(r.hardFailure, false);
  } finally {
    for (const s of fillers) s.destroy();
  }
});

test('wrong password: L7STS with the broker reply text', async () => {
  const r = await amqpCheck({ ...LOGIN, password: 'definitely-wrong' })(node(1), 3000);
  assertFailed(r, 'L7STS');
  assert.equal(r.code, 403);
  assert.match(r.desc, /ACCESS_REFUSED/);
  assert.equal(r.hardFailure, false);
});

test('unknown vhost: L7STS 530', async () => {
  const r = await amqpCheck({ ...LOGIN, vhost: 'no-such-vhost' })(node(1), 3000);
  assertFailed(r, 'L7STS');
  assert.equal(r.code, 530);
  assert.match(r.desc, /NOT_ALLOWED/);
});

test('20 checks with credentials leave nothing above [info] in the broker log', async () => {
  const check = amqpCheck(LOGIN);
  const lines = await newWarnings(0, async () => {
    for (let k = 0; k < 20; k++) {
      const r = await check(node(0), 3000);
      assert.equal(r.ok, true, JSON.stringify(r));
    }
  });
  assert.deepEqual(lines, []);
});

test('20 checks without credentials: RabbitMQ 3.10 logs one [warning] "client unexpectedly closed TCP connection" each, no [error]', async () => {
  // Documented limitation (see amqp.ts): no way to end an AMQP handshake before login silently.
  const check = amqpCheck(NO_LOGIN);
  const lines = await newWarnings(0, async () => {
    for (let k = 0; k < 20; k++) {
      const r = await check(node(0), 3000);
      assert.equal(r.ok, true, JSON.stringify(r));
    }
  });
  assert.deepEqual(lines.filter((l) => /\[(error|critical|alert|emergency)\]/.test(l)), []);
  const unexpected = lines.filter((l) => !/closing AMQP connection|client unexpectedly closed TCP connection/.test(l));
  assert.deepEqual(unexpected, []);
  assert.equal(lines.filter((l) => /client unexpectedly closed TCP connection/.test(l)).length, 20);
});

test('a resource alarm: blocked connection fails (or warns), one sentinel, silent close after the alarm', async () => {
  const i = 2;
  const fail = amqpCheck(LOGIN, { heartbeatSec: 2 });
  const warn = amqpCheck({ ...LOGIN, onBlocked: 'warn' }, { heartbeatSec: 2 });
  let lines: string[] = [];
  try {
    lines = await newWarnings(i, async () => {
      await rabbitmqctl(cluster, i, ['set_vm_memory_high_watermark', '0.0000001']);
      try {
        await sleep(300);
        for (let k = 0; k < 3; k++) {
          const r = await fail(node(i), 3000);
          assertFailed(r, 'L7STS');
          assert.match(r.desc, /blocked: low on memory/);
        }
        assert.deepEqual(fail.blockedTargets(), [`${node(i).host}:${node(i).port}`]);
        const w = await warn(node(i), 3000);
        assert.equal(w.ok, true, JSON.stringify(w));
        assert.equal(w.status, 'L7OKC');
        assert.match(w.warning ?? '', /low on memory/);
        // Only the two sentinels remain open on the broker, not one per check.
        await sleep(500);
        const conns = (await rabbitmqctl(cluster, i, ['list_connections', 'name', '--silent'])).trim().split('\n').filter(Boolean);
        assert.equal(conns.length, 2, conns.join('\n'));
        await sleep(5000); // > 2 heartbeat intervals: the sentinels stay (the broker keeps sending heartbeats)
        assert.equal(fail.blockedTargets().length, 1);
      } finally {
        await rabbitmqctl(cluster, i, ['set_vm_memory_high_watermark', '0.4']);
      }
      for (let k = 0; k < 50 && (fail.blockedTargets().length || warn.blockedTargets().length); k++) await sleep(100);
      assert.deepEqual(fail.blockedTargets(), []);
      assert.deepEqual(warn.blockedTargets(), []);
      const r = await fail(node(i), 3000);
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.status, 'L7OK');
    });
  } finally {
    fail.dispose();
    warn.dispose();
  }
  // The alarm itself is logged at [warning] by the broker; nothing else may be.
  const others = lines.filter((l) => !/memory resource limit alarm|Publishers will be blocked|\*{10}|\[warning\] <[^>]+> $/.test(l));
  assert.deepEqual(others, []);
  const conns = (await rabbitmqctl(cluster, i, ['list_connections', 'name', '--silent'])).trim();
  assert.equal(conns, '');
});
