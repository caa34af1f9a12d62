// The data path with real sockets on 127.0.0.1: integrity, backpressure, half-close, retries,
// redispatch, maxconn, queues and timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, deadPort, readAll, startProxy, tcpServer, TIMEOUTS } from '../harness/proxy.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function listenYaml(servers: string[], extra = '', defaults = ''): string {
  return `defaults:
  ${TIMEOUTS}
  option: [tcplog]
${defaults}
listen:
  l:
    bind: 127.0.0.1:0
${extra}
    server:
${servers.map((s) => `      - ${s}`).join('\n')}
`;
}

test('bytes arrive intact both ways, and a client half-close still gets the whole reply', async () => {
  const upload = randomBytes(8 * 1024 * 1024);
  const reply = randomBytes(16 * 1024 * 1024);
  // The backend reads everything until the client's FIN, then answers: only a proxy that passes
  // the half-close on (and keeps the other direction open) gets the reply through.
  const backend = await tcpServer(
    (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        s.write(sha(Buffer.concat(chunks)));
        s.end(reply);
      });
    },
    { allowHalfOpen: true },
  );
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  try {
    const client = await connect(p.port('l'));
    const received = readAll(client);
    client.end(upload);
    const got = await received;
    assert.equal(got.subarray(0, 64).toString(), sha(upload), 'the backend received exactly the upload');
    assert.equal(sha(got.subarray(64)), sha(reply), 'the client received the whole reply after its half-close');
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.termination_state, '--');
    assert.equal(line.bytes_uploaded, upload.length);
    assert.equal(line.bytes_read, reply.length + 64);
    assert.equal(line.server, 'b');
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('a slow client that half-closed first still gets every byte the server sent before closing', async () => {
  const reply = randomBytes(8 * 1024 * 1024);
  const backend = await tcpServer(
    (s) => {
      s.resume();
      s.on('end', () => s.end(reply));
    },
    { allowHalfOpen: true },
  );
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  try {
    const client = await connect(p.port('l'));
    client.end('request');
    const chunks: Buffer[] = [];
    // Read nothing until every buffer on the way is full, then slowly: the proxy then holds
    // the tail of the reply when the server's FIN and close arrive.
    client.pause();
    await sleep(300);
    client.on('data', (c: Buffer) => {
      chunks.push(c);
      client.pause();
      setTimeout(() => client.resume(), 1);
    });
    client.resume();
    await once(client, 'close');
    const got = Buffer.concat(chunks);
    assert.equal(got.length, reply.length);
    assert.equal(sha(got), sha(reply));
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.termination_state, '--');
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('a backend that closes after a large write: nothing is truncated', async () => {
  const payload = randomBytes(64 * 1024 * 1024);
  const backend = await tcpServer((s) => s.end(payload));
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  try {
    const client = await connect(p.port('l'));
    const got = await readAll(client);
    assert.equal(got.length, payload.length);
    assert.equal(sha(got), sha(payload));
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('backpressure: a slow reader holds the fast writer back; proxy buffers stay bounded', async () => {
  let written = 0;
  let blocked = false;
  const backend = await tcpServer((s) => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const pump = (): void => {
      while (written < 512 * 1024 * 1024) {
        written += chunk.length;
        if (!s.write(chunk)) {
          blocked = true;
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    pump();
    s.on('error', () => {});
  });
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  try {
    const client = await connect(p.port('l'));
    client.pause(); // reads nothing for a while
    await sleep(1000);
    const session = [...p.proxy.frontends[0]!.sessions][0]!;
    assert.ok(session, 'the session exists');
    assert.ok(blocked, 'the backend writer was blocked by backpressure');
    assert.ok(written < 64 * 1024 * 1024, `only socket buffers' worth was produced while nobody read (${written} bytes)`);
    // What the proxy holds in user space is bounded by one chunk per direction plus the
    // client socket's high-water mark, whatever the backend has queued.
    assert.ok(session.bytesOut < 64 * 1024 * 1024, `proxy forwarded ${session.bytesOut}`);
    // Read 64 KiB every 10 ms for a bit: data keeps flowing, still bounded.
    let read = 0;
    client.on('data', (c: Buffer) => {
      read += c.length;
      client.pause();
      setTimeout(() => client.resume(), 10);
    });
    client.resume();
    await sleep(500);
    assert.ok(read > 0, 'the slow reader makes progress');
    assert.ok(written - read < 64 * 1024 * 1024, 'the gap between writer and reader stays bounded');
    client.destroy();
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('connect refused: retries with redispatch reach a live server, no client sees a failure', async () => {
  const dead = await deadPort();
  const live = await tcpServer((s) => s.end('hello'));
  const p = await startProxy(listenYaml([`dead 127.0.0.1:${dead}`, `live 127.0.0.1:${live.port}`], '    option: [redispatch]'));
  try {
    for (let i = 0; i < 6; i++) {
      const c = await connect(p.port('l'));
      assert.equal((await readAll(c)).toString(), 'hello', `connection ${i}`);
      c.end();
    }
    for (let i = 0; i < 50 && p.logs.filter((l) => l.msg === 'session').length < 6; i++) await sleep(20);
    const retried = p.logs.filter((l) => l.msg === 'session' && String(l.retries).startsWith('+'));
    assert.ok(retried.length >= 1, 'some sessions were redispatched');
    assert.ok(retried.every((l) => l.server === 'live'));
    const deadServer = p.proxy.backends.get('l')!.servers[0]!;
    assert.ok(deadServer.counters.connectErrors >= 1);
    assert.ok(deadServer.counters.redispatches >= 1);
  } finally {
    await p.stop();
    await live.close();
  }
});

test('without redispatch, retries exhausted on a dead server close the client with SC', async () => {
  const dead = await deadPort();
  const p = await startProxy(listenYaml([`dead 127.0.0.1:${dead}`], '    retries: 1\n    timeout: {connect: 100ms}'));
  try {
    const c = await connect(p.port('l'));
    const started = Date.now();
    c.resume();
    await once(c, 'close');
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.termination_state, 'SC');
    assert.equal(line.retries, 1);
    assert.ok(Date.now() - started >= 90, 'the turn-around delay before retrying the same server');
  } finally {
    await p.stop();
  }
});

test('an event loop held up past timeout connect does not abandon a connect the kernel completed meanwhile', async () => {
  let accepted = 0;
  const backend = await tcpServer((s) => {
    accepted++;
    s.write('hi');
  });
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`], '    timeout: {connect: 100ms}'));
  try {
    const server = p.proxy.backends.get('l')!.servers[0]!;
    const c = await connect(p.port('l'));
    const firstByte = once(c, 'data');
    // Wait (without blocking) until the proxy has accepted and started its connect to the
    // server, then hold the loop for 3 × timeout connect: the kernel completes the connect
    // meanwhile, and the connect timer is due before the poll that reports it.
    while (server.sessionSet.size === 0) await new Promise((r) => setImmediate(r));
    const until = performance.now() + 300;
    while (performance.now() < until) {
      /* busy: the loop is held up */
    }
    assert.equal((await firstByte)[0]!.toString(), 'hi');
    await sleep(200); // a retried connect (the defect) would reach the server by now
    assert.equal(accepted, 1, 'the server saw one connection');
    assert.equal(server.counters.retries, 0);
    assert.equal(server.counters.connectErrors, 0);
    c.destroy();
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('frontend maxconn: extra clients wait (never reset) and are served when a slot frees', async () => {
  const held: net.Socket[] = [];
  const backend = await tcpServer((s) => {
    held.push(s);
    s.write('hi');
  });
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`], '    maxconn: 2'));
  try {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(p.port('l'))));
    const firstBytes = clients.map((c) => new Promise<string>((r) => c.once('data', (d: Buffer) => r(d.toString()))));
    await sleep(300);
    assert.equal(held.length, 2, 'only maxconn sessions reached the backend');
    assert.equal(p.proxy.frontends[0]!.waitingCount, 2);
    clients[0]!.destroy();
    clients[1]!.destroy();
    assert.deepEqual(await Promise.all(firstBytes.slice(2)), ['hi', 'hi'], 'the waiting clients were served');
    assert.equal(held.length, 4);
    for (const c of clients) c.destroy();
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('server maxconn queues sessions; timeout queue ends the ones that wait too long (sQ)', async () => {
  const held: net.Socket[] = [];
  const backend = await tcpServer((s) => {
    held.push(s);
    s.write('x');
  });
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port} maxconn 1`], '    timeout: {queue: 300ms}'));
  try {
    const a = await connect(p.port('l'));
    await once(a, 'data');
    const b = await connect(p.port('l'));
    b.resume();
    await once(b, 'close');
    const line = await p.waitLog((l) => l.msg === 'session' && l.termination_state === 'sQ');
    assert.ok((line.Tt as number) >= 250, 'it waited out timeout queue');
    assert.equal(held.length, 1);
    // A queued session gets the slot as soon as the first one ends.
    const c = await connect(p.port('l'));
    const cData = once(c, 'data');
    await sleep(50);
    a.destroy();
    await cData;
    assert.equal(held.length, 2);
    c.destroy();
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('timeout client closes an idle session (cD)', async () => {
  const backend = await tcpServer(() => {});
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`], '    timeout: {client: 200ms}'));
  try {
    const c = await connect(p.port('l'));
    c.write('x');
    c.resume();
    await once(c, 'close');
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.termination_state, 'cD');
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('no usable server: the client is closed at once and the session logged as <NOSRV>', async () => {
  const backend = await tcpServer(() => {});
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port} disabled`]));
  try {
    const c = await connect(p.port('l'));
    c.write('x');
    c.resume();
    await once(c, 'close');
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.server, '<NOSRV>');
    assert.equal(line.termination_state, 'SC');
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('a server reset during data is logged SD and closes the client', async () => {
  const backend = await tcpServer((s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  try {
    const c = await connect(p.port('l'));
    c.on('error', () => {});
    c.write('x');
    c.resume();
    await once(c, 'close');
    const line = await p.waitLog((l) => l.msg === 'session');
    assert.equal(line.termination_state, 'SD');
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('graceful stop: the listener closes, open sessions finish', async () => {
  const backend = await tcpServer((s) => s.on('data', (d: Buffer) => s.write(d)));
  const p = await startProxy(listenYaml([`b 127.0.0.1:${backend.port}`]));
  const port = p.port('l');
  const c = await connect(port);
  c.write('ping');
  await once(c, 'data');
  const stopping = p.proxy.stop(5000);
  await sleep(100);
  await assert.rejects(connect(port), /ECONNREFUSED/, 'new connections are refused once the listener is closed');
  c.write('still here');
  const [echo] = (await once(c, 'data')) as [Buffer];
  assert.equal(echo.toString(), 'still here', 'the open session still works');
  c.end();
  await stopping;
  await backend.close();
});
