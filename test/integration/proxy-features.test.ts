// The proxy-core features of issue 2 through the real in-process proxy and real TCP servers on
// 127.0.0.1 / ::1: routing, binds, server options (shutdown-sessions, observe/on-error,
// slowstart, maxqueue, backup, disabled), timeouts, the global maxconn, leastconn/source, tcpka.
//
// Every backend server greets each connection with its name and a newline, then echoes, so a
// client knows which server it reached. Waiting is done on events (log lines, socket events) or
// on proxy state with a short poll, never on a fixed sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import * as net from 'node:net';
import { deadPort, startProxy, tcpServer, TIMEOUTS, type RunningProxy } from '../harness/proxy.js';

// ---- helpers ---------------------------------------------------------------------------------

/** Each test takes well under 2 s; a hang fails its own test instead of the whole file. */
const T = { timeout: 10_000 };

/** A named backend: greets with `name\n`, then echoes. Its listener can be closed and reopened
 *  on the same port while its established connections live on. */
class NamedServer {
  readonly conns = new Set<net.Socket>();
  private server: net.Server | null = null;
  port = 0;

  constructor(readonly name: string) {}

  static async start(name: string, port = 0): Promise<NamedServer> {
    const s = new NamedServer(name);
    await s.listen(port);
    return s;
  }

  async listen(port = this.port): Promise<void> {
    const server = net.createServer((sock) => {
      this.conns.add(sock);
      sock.on('error', () => {}); // TCP checks reset their connections
      sock.on('close', () => this.conns.delete(sock));
      sock.write(`${this.name}\n`);
      sock.on('data', (d: Buffer) => sock.write(d));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Stop listening (new connects are refused from the moment this returns); established
   *  connections stay. (server.close()'s callback would wait for them all to end.) */
  stopListening(): void {
    this.server?.close();
    this.server = null;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.stopListening();
  }
}

async function closeAll(...servers: { close(): Promise<void> }[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close()));
}

function dial(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    // Half-open capable (the client-fin test half-closes), but closes once the other side has.
    const sock = net.connect({ port, host, allowHalfOpen: true });
    sock.on('end', () => sock.end());
    sock.once('connect', () => {
      sock.off('error', reject);
      sock.on('error', () => {});
      resolve(sock);
    });
    sock.once('error', reject);
  });
}

/** The first line the socket receives (rejects if it closes first). */
function firstLine(sock: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.pause();
      resolve(buf.slice(0, nl));
    };
    const onClose = (): void => reject(new Error(`closed before a line arrived (got '${buf}')`));
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.resume();
  });
}

/** Connect through the proxy and learn which server answered. */
async function hello(port: number, host = '127.0.0.1'): Promise<{ sock: net.Socket; name: string }> {
  const sock = await dial(port, host);
  return { sock, name: await firstLine(sock) };
}

/** Resolves when `sock` closes without having received a single byte. */
async function closedEmpty(sock: net.Socket): Promise<void> {
  let got = 0;
  sock.on('data', (d: Buffer) => (got += d.length));
  sock.resume();
  if (!sock.destroyed) await once(sock, 'close');
  assert.equal(got, 0, 'the client received nothing');
}

/** Polls proxy state (no event exists for it) every 5 ms. */
async function until(pred: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function count(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

const stateLine = (server: string, state: 'UP' | 'DOWN') => (l: Record<string, unknown>) => l.server === server && l.state === state;
const sessionLine = (pred: (l: Record<string, unknown>) => boolean = () => true) => (l: Record<string, unknown>) => l.msg === 'session' && pred(l);

function listenYaml(name: string, servers: string[], extra = ''): string {
  return `  ${name}:
    bind: 127.0.0.1:0
${extra}
    server:
${servers.map((s) => `      - ${s}`).join('\n')}
`;
}

function yaml(listens: string, defaults = '', global = ''): string {
  return `${global}defaults:
  ${TIMEOUTS}
  option: [tcplog]
${defaults}
listen:
${listens}`;
}

async function withProxy(text: string, fn: (p: RunningProxy) => Promise<void>): Promise<void> {
  const p = await startProxy(text);
  try {
    await fn(p);
  } finally {
    await p.stop();
  }
}

// ---- routing and binds -----------------------------------------------------------------------

test('use_backend routes by dst_port, src (if/unless), dst and !, falling back to default_backend', T, async () => {
  const a = await NamedServer.start('a');
  const b = await NamedServer.start('b');
  const p2 = await deadPort();
  const text = `defaults:
  ${TIMEOUTS}
  option: [tcplog]
frontend:
  by_port:
    bind: [127.0.0.1:0, "127.0.0.1:${p2}"]
    use_backend: ["two if dst_port ${p2}"]
    default_backend: one
  by_src:
    bind: [127.0.0.1:0, "[::1]:0"]
    use_backend: ["two unless src 127.0.0.1/8"]
    default_backend: one
  negated:
    bind: [127.0.0.1:0, "[::1]:0"]
    use_backend: ["one if !{ src ::1 }", "two if ! dst 127.0.0.1"]
  no_default:
    bind: [127.0.0.1:0, "[::1]:0"]
    use_backend: ["two unless ! { src ::1/128 }"]
backend:
  one:
    server: [a 127.0.0.1:${a.port}]
  two:
    server: [b 127.0.0.1:${b.port}]
`;
  await withProxy(text, async (p) => {
    const fe = (name: string) => p.proxy.frontends.find((f) => f.config.name === name)!;
    const v4 = (name: string) => fe(name).addresses().find((x) => x.family === 'IPv4')!.port;
    const v6 = (name: string) => fe(name).addresses().find((x) => x.family === 'IPv6')!.port;
    const reached = async (port: number, host = '127.0.0.1'): Promise<string> => {
      const { sock, name } = await hello(port, host);
      sock.destroy();
      return name;
    };
    assert.deepEqual(
      fe('by_port').addresses().map((x) => x.port),
      [fe('by_port').addresses()[0]!.port, p2],
    );
    assert.equal(await reached(fe('by_port').addresses()[0]!.port), 'a', 'by_port: the other port goes to the default');
    assert.equal(await reached(p2), 'b', 'by_port: dst_port matches');
    assert.equal(await reached(v4('by_src')), 'a', 'by_src: 127.0.0.1 is in 127.0.0.1/8');
    assert.equal(await reached(v6('by_src'), '::1'), 'b', 'by_src: ::1 is not');
    assert.equal(await reached(v4('negated')), 'a', 'negated: !{ src ::1 } holds for 127.0.0.1');
    assert.equal(await reached(v6('negated'), '::1'), 'b', 'negated: ! dst 127.0.0.1 holds for ::1');
    assert.equal(await reached(v6('no_default'), '::1'), 'b', 'no_default: unless ! is if');
    // No rule matches and there is no default backend: the connection is closed, nothing served.
    await closedEmpty(await dial(v4('no_default')));
    assert.equal(fe('no_default').denied, 1);
  });
  await closeAll(a, b);
});

test('several binds in one listen section (IPv4 twice and [::1]) all serve the same backend', T, async () => {
  const a = await NamedServer.start('a');
  await withProxy(yaml(`  multi:
    bind: [127.0.0.1:0, 127.0.0.1:0, "[::1]:0"]
    server: [a 127.0.0.1:${a.port}]
`), async (p) => {
    const addrs = p.proxy.frontends[0]!.addresses();
    assert.deepEqual(
      addrs.map((x) => [x.address, x.family]),
      [
        ['127.0.0.1', 'IPv4'],
        ['127.0.0.1', 'IPv4'],
        ['::1', 'IPv6'],
      ],
    );
    assert.equal(new Set(addrs.map((x) => x.port)).size, 3, 'three distinct ports');
    for (const x of addrs) {
      const { sock, name } = await hello(x.port, x.address);
      assert.equal(name, 'a');
      sock.write('ping\n');
      assert.equal(await firstLine(sock), 'ping', `echo through ${x.address}:${x.port}`);
      sock.end();
    }
    const lines = await Promise.all(
      addrs.map((x) => p.waitLog(sessionLine((l) => String(l.client).startsWith(x.family === 'IPv6' ? '::1:' : '127.0.0.1:') && l.server === 'a'))),
    );
    assert.equal(lines.length, 3);
  });
  await a.close();
});

// ---- server options --------------------------------------------------------------------------

test('on-marked-down shutdown-sessions closes the DOWN server\'s sessions (K); others keep theirs', T, async () => {
  const a = await NamedServer.start('a');
  const b = await NamedServer.start('b');
  await withProxy(
    yaml(
      listenYaml('l', [
        `a 127.0.0.1:${a.port} check inter 100ms fall 1 on-marked-down shutdown-sessions`,
        `b 127.0.0.1:${b.port} check inter 100ms fall 1`,
      ]),
    ),
    async (p) => {
      const first = await hello(p.port('l'));
      const second = await hello(p.port('l'));
      const byName = new Map([first, second].map((h) => [h.name, h.sock]));
      assert.deepEqual([...byName.keys()].sort(), ['a', 'b'], 'round robin used both servers');
      const sa = byName.get('a')!;
      const sb = byName.get('b')!;
      const saClosed = once(sa, 'close');
      // Both listeners go away; the established connections stay open on the servers' side.
      a.stopListening();
      b.stopListening();
      const downA = await p.waitLog(stateLine('l/a', 'DOWN'));
      await p.waitLog(stateLine('l/b', 'DOWN'));
      await saClosed;
      assert.match(String(downA.msg), /1 killed/);
      const killed = await p.waitLog(sessionLine((l) => l.server === 'a'));
      assert.equal(killed.termination_state, 'KD', 'killed by the proxy during data');
      assert.equal(p.proxy.backends.get('l')!.servers[0]!.counters.killed, 1);
      // b has no on-marked-down: its session still carries data although b is DOWN.
      sb.write('still\n');
      assert.equal(await firstLine(sb), 'still');
      sb.destroy();
    },
  );
  await closeAll(a, b);
});

test('observe layer4 + on-error mark-down: one refused connect marks the server DOWN at once', T, async () => {
  const checkTarget = await NamedServer.start('check-only'); // the check passes here...
  const dead = await deadPort(); // ...but traffic goes where nothing listens
  const spare = await NamedServer.start('spare');
  await withProxy(
    yaml(
      listenYaml(
        'l',
        [`bad 127.0.0.1:${dead} check port ${checkTarget.port} inter 10s observe layer4 error-limit 1 on-error mark-down`, `spare 127.0.0.1:${spare.port} backup`],
        '    option: [redispatch]',
      ),
    ),
    async (p) => {
      const bad = p.proxy.backends.get('l')!.servers[0]!;
      assert.ok(bad.usable, bad.status);
      const { sock, name } = await hello(p.port('l'));
      assert.equal(name, 'spare', 'the client never saw the failure: redispatched to the backup');
      const down = await p.waitLog(stateLine('l/bad', 'DOWN'));
      assert.equal(down.reason, 'Health analyze');
      assert.match(String(down.msg), /Detected 1 consecutive errors/);
      assert.equal(bad.counters.connectErrors, 1, 'a single failed connect was enough');
      // (Its first scheduled check, to the live check port, may pass meanwhile: 'DOWN 1/2'.)
      assert.ok(!bad.usable);
      assert.match(bad.status, /^DOWN/);
      sock.destroy();
      const line = await p.waitLog(sessionLine());
      assert.equal(line.server, 'spare');
      assert.equal(line.retries, '+1');
    },
  );
  await closeAll(checkTarget, spare);
});

test('observe layer4 counts connects only: a server resetting after the client\'s close stays UP', T, async () => {
  // RabbitMQ answers a client's FIN after Connection.Close-Ok with a RST (it closes with linger
  // 0): every clean amqplib close does this. HAProxy logs it SD, and its `observe layer4` only
  // watches connection establishment, so it never counts against the server.
  const rst = await tcpServer((s) => {
    s.write('hi\n');
    s.on('end', () => s.resetAndDestroy());
  });
  await withProxy(
    yaml(listenYaml('l', [`s 127.0.0.1:${rst.port} check inter 10s observe layer4 error-limit 2 on-error mark-down`])),
    async (p) => {
      const server = p.proxy.backends.get('l')!.servers[0]!;
      await until(() => server.checks!.checksRun === 1 && !server.checks!.inFlight, 'the first check done');
      const clients = await Promise.all([1, 2, 3, 4].map(() => hello(p.port('l'))));
      for (const { sock } of clients) sock.end();
      await until(() => p.logs.filter((l) => l.msg === 'session').length === 4, 'four sessions ended');
      const states = p.logs.filter((l) => l.msg === 'session').map((l) => l.termination_state);
      assert.deepEqual(states, ['SD', 'SD', 'SD', 'SD'], 'logged as HAProxy logs it');
      assert.equal(server.status, 'UP', 'four resets after clean client closes did not take the server down');
      assert.equal(server.counters.responseErrors, 4, 'still counted as response errors (eresp), as HAProxy does');
      assert.equal(server.checks!.checksRun, 1, 'and no extra health check was triggered by them');
      assert.ok(!p.logs.some((l) => l.state === 'DOWN'));
    },
  );
  await rst.close();
});

test('slowstart: a server back UP ramps its weight and gets fewer sessions than its peer', T, async () => {
  const a = await NamedServer.start('a');
  const b = await NamedServer.start('b');
  const checkPort = await deadPort(); // b's check target: closed at first, so b starts DOWN
  await withProxy(
    yaml(listenYaml('l', [`a 127.0.0.1:${a.port}`, `b 127.0.0.1:${b.port} check port ${checkPort} inter 100ms rise 1 fall 1 slowstart 20s`])),
    async (p) => {
      await p.waitLog(stateLine('l/b', 'DOWN'));
      const checks = await NamedServer.start('b-check', checkPort);
      try {
        await p.waitLog(stateLine('l/b', 'UP'));
        const sb = p.proxy.backends.get('l')!.servers[1]!;
        // 20 s ramp in 16 steps: for the first 1.25 s b weighs 1/16 of a.
        assert.equal(sb.weight, 1 / 16);
        const got: string[] = [];
        const socks: net.Socket[] = [];
        for (let i = 0; i < 34; i++) {
          const h = await hello(p.port('l'));
          got.push(h.name);
          socks.push(h.sock);
        }
        const c = count(got);
        assert.ok(sb.weight < 1, 'still ramping when the last session was placed');
        assert.ok((c.b ?? 0) >= 1 && (c.b ?? 0) <= 3, `b got ${c.b ?? 0} of 34 during its slow start (a: ${c.a})`);
        for (const s of socks) s.destroy();
      } finally {
        await checks.close();
      }
    },
  );
  await closeAll(a, b);
});

test('maxqueue: once a server\'s queue is full the next session is refused, not queued', T, async () => {
  const a = await NamedServer.start('a');
  // balance source: every client here hashes to the one server, which has 1 slot and 1 queue place.
  await withProxy(yaml(listenYaml('l', [`a 127.0.0.1:${a.port} maxconn 1 maxqueue 1`], '    balance: source')), async (p) => {
    const server = p.proxy.backends.get('l')!.servers[0]!;
    const first = await hello(p.port('l'));
    assert.equal(first.name, 'a');
    const queued = await dial(p.port('l'));
    const queuedLine = firstLine(queued);
    await until(() => server.queue.length === 1, 'the second client queued on the server');
    const refused = await dial(p.port('l'));
    await closedEmpty(refused);
    const line = await p.waitLog(sessionLine());
    assert.equal(line.termination_state, 'SC');
    assert.equal(server.queue.length, 1, 'the queue did not grow past maxqueue');
    assert.equal(a.conns.size, 1, 'the server only ever saw one session at a time');
    first.sock.destroy();
    assert.equal(await queuedLine, 'a', 'the queued client got the freed slot');
    queued.destroy();
  });
  await a.close();
});

test('backup servers serve only when every active is down; one backup, or all with allbackups', T, async () => {
  const act = await NamedServer.start('act');
  const b1 = await NamedServer.start('b1');
  const b2 = await NamedServer.start('b2');
  const backups = [`b1 127.0.0.1:${b1.port} backup`, `b2 127.0.0.1:${b2.port} backup`];
  await withProxy(
    yaml(
      listenYaml('plain', [`act 127.0.0.1:${act.port} check inter 100ms fall 1`, ...backups]) +
        listenYaml('all', [`act 127.0.0.1:${act.port} disabled`, ...backups], '    option: [allbackups]'),
    ),
    async (p) => {
      const names = async (port: number, n: number): Promise<Record<string, number>> => {
        const got: string[] = [];
        for (let i = 0; i < n; i++) {
          const h = await hello(port);
          got.push(h.name);
          h.sock.destroy();
        }
        return count(got);
      };
      assert.deepEqual(await names(p.port('plain'), 4), { act: 4 }, 'an active server is up: backups get nothing');
      assert.deepEqual(await names(p.port('all'), 4), { b1: 2, b2: 2 }, 'allbackups: every backup serves');
      act.stopListening();
      await p.waitLog(stateLine('plain/act', 'DOWN'));
      assert.deepEqual(await names(p.port('plain'), 4), { b1: 4 }, 'without allbackups only the first backup serves');
      await act.listen();
      await p.waitLog(stateLine('plain/act', 'UP'));
      assert.deepEqual(await names(p.port('plain'), 2), { act: 2 }, 'the active is back: backups stop getting sessions');
    },
  );
  await closeAll(act, b1, b2);
});

test('a disabled server (MAINT) gets no session and no health check', T, async () => {
  const a = await NamedServer.start('a');
  let checkedMaint = 0;
  const maint = await tcpServer((s) => {
    checkedMaint++;
    s.destroy();
  });
  await withProxy(
    yaml(listenYaml('l', [`a 127.0.0.1:${a.port} check inter 20ms`, `m 127.0.0.1:${maint.port} check inter 20ms disabled`])),
    async (p) => {
      const [sa, sm] = p.proxy.backends.get('l')!.servers;
      assert.equal(sm!.status, 'MAINT');
      const got: string[] = [];
      for (let i = 0; i < 6; i++) {
        const h = await hello(p.port('l'));
        got.push(h.name);
        h.sock.destroy();
      }
      assert.deepEqual(count(got), { a: 6 });
      // a has been checked a few times meanwhile; m never.
      await until(() => sa!.checks!.checksRun >= 3, 'three checks of a');
      assert.equal(sm!.checks!.checksRun, 0);
      assert.equal(checkedMaint, 0);
      assert.equal(sm!.counters.total, 0);
    },
  );
  await closeAll(a, maint);
});

// ---- timeouts --------------------------------------------------------------------------------

test('timeout tunnel replaces client and server timeouts once connected', T, async () => {
  const silent = await tcpServer(() => {});
  await withProxy(yaml(listenYaml('l', [`s 127.0.0.1:${silent.port}`], '    timeout: {client: 50ms, server: 50ms, tunnel: 300ms}')), async (p) => {
    const c = await dial(p.port('l'));
    c.write('x');
    await closedEmpty(c);
    const line = await p.waitLog(sessionLine());
    assert.ok((line.Tt as number) >= 300, `idle until the tunnel timeout, not the 50 ms ones (Tt ${line.Tt})`);
    assert.match(String(line.termination_state), /^[cs]D$/);
  });
  await silent.close();
});

test('timeout client-fin: a half-closed client whose server never answers is closed (cD)', T, async () => {
  // The server keeps its side open after the client's FIN and never writes.
  const mute = await tcpServer((s) => s.resume(), { allowHalfOpen: true });
  await withProxy(yaml(listenYaml('l', [`s 127.0.0.1:${mute.port}`], '    timeout: {client: 10s, server: 10s, client-fin: 200ms}')), async (p) => {
    const c = await dial(p.port('l'));
    c.end('bye');
    await closedEmpty(c);
    const line = await p.waitLog(sessionLine());
    assert.ok((line.Tt as number) >= 200 && (line.Tt as number) < 10_000, `closed by client-fin (Tt ${line.Tt})`);
    // HAProxy: client-side timeout while the server connection is still established.
    assert.equal(line.termination_state, 'cD');
    assert.equal(line.bytes_uploaded, 3);
  });
  await mute.close();
});

test('timeout server closes a session whose server stays silent (sD)', T, async () => {
  const silent = await tcpServer((s) => s.resume());
  await withProxy(yaml(listenYaml('l', [`s 127.0.0.1:${silent.port}`], '    timeout: {client: 10s, server: 150ms}')), async (p) => {
    const c = await dial(p.port('l'));
    c.write('x');
    await closedEmpty(c);
    const line = await p.waitLog(sessionLine());
    assert.equal(line.termination_state, 'sD');
    assert.ok((line.Tt as number) >= 150);
  });
  await silent.close();
});

// ---- limits and balancing --------------------------------------------------------------------

test('global maxconn is shared: a client waiting on one frontend is admitted when the OTHER frees a slot', T, async () => {
  const a = await NamedServer.start('a');
  await withProxy(
    yaml(listenYaml('one', [`a 127.0.0.1:${a.port}`]) + listenYaml('two', [`a 127.0.0.1:${a.port}`]), '', 'global:\n  maxconn: 2\n'),
    async (p) => {
      const [feOne, feTwo] = p.proxy.frontends;
      assert.equal(feOne!.config.maxconn, 2, 'frontend maxconn defaults to the global one');
      const x = await hello(p.port('one'));
      const y = await hello(p.port('one'));
      const waiting = await dial(p.port('two'));
      const line = firstLine(waiting);
      await until(() => feTwo!.waitingCount === 1, 'the client of "two" waits for a process-wide slot');
      assert.equal(a.conns.size, 2, 'nothing reached the server for it');
      x.sock.destroy();
      assert.equal(await line, 'a', 'admitted once "one" released a slot');
      assert.equal(p.proxy.sessionCount, 2);
      y.sock.destroy();
      waiting.destroy();
    },
  );
  await a.close();
});

test('balance leastconn through the proxy: a new session goes to the server with fewest sessions', T, async () => {
  const servers = await Promise.all(['s1', 's2', 's3'].map((n) => NamedServer.start(n)));
  await withProxy(yaml(listenYaml('l', servers.map((s) => `${s.name} 127.0.0.1:${s.port}`), '    balance: leastconn')), async (p) => {
    const held = new Map<string, net.Socket[]>();
    const open = async (): Promise<string> => {
      const h = await hello(p.port('l'));
      held.set(h.name, [...(held.get(h.name) ?? []), h.sock]);
      return h.name;
    };
    const firstThree = [await open(), await open(), await open()];
    assert.deepEqual([...firstThree].sort(), ['s1', 's2', 's3'], 'one session each');
    assert.deepEqual([await open(), await open(), await open()].sort(), ['s1', 's2', 's3'], 'then a second each');
    // Two sessions end on s2: it now has the fewest, and takes the next two.
    const backend = p.proxy.backends.get('l')!;
    for (const s of held.get('s2')!) s.destroy();
    held.set('s2', []);
    await until(() => backend.servers[1]!.sessions === 0, 's2 has no session left');
    assert.equal(await open(), 's2');
    assert.equal(await open(), 's2');
    assert.deepEqual(
      backend.servers.map((s) => s.sessions),
      [2, 2, 2],
    );
    for (const list of held.values()) for (const s of list) s.destroy();
  });
  await closeAll(...servers);
});

test('balance source through the proxy: one client address always reaches the same server', T, async () => {
  const servers = await Promise.all(['s1', 's2', 's3'].map((n) => NamedServer.start(n)));
  const text = yaml(`  l:
    bind: [127.0.0.1:0, "[::1]:0"]
    balance: source
    server:
${servers.map((s) => `      - ${s.name} 127.0.0.1:${s.port}`).join('\n')}
`);
  await withProxy(text, async (p) => {
    const [v4, v6] = p.proxy.frontends[0]!.addresses();
    const held: net.Socket[] = [];
    const seen = async (port: number, host: string): Promise<Record<string, number>> => {
      const got: string[] = [];
      for (let i = 0; i < 8; i++) {
        const h = await hello(port, host);
        got.push(h.name);
        held.push(h.sock); // held open: load does not move a hashed client
      }
      return count(got);
    };
    const from4 = await seen(v4!.port, '127.0.0.1');
    const from6 = await seen(v6!.port, '::1');
    assert.equal(Object.keys(from4).length, 1, `127.0.0.1 went to one server: ${JSON.stringify(from4)}`);
    assert.equal(Object.keys(from6).length, 1, `::1 went to one server: ${JSON.stringify(from6)}`);
    for (const s of held) s.destroy();
  });
  await closeAll(...servers);
});

// ---- socket options --------------------------------------------------------------------------

/** The `tr` (timer) column of an idle 127.0.0.1 connection in /proc/net/tcp: 2 = keepalive timer, 0 = none. */
function tcpTimer(local: { address: string; port: number }, remote: { address: string; port: number }): number | null {
  const hexPort = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  const want = (a: { address: string; port: number }) => `${a.address === '127.0.0.1' ? '0100007F' : a.address}:${hexPort(a.port)}`;
  for (const file of ['/proc/net/tcp']) {
    for (const row of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = row.trim().split(/\s+/);
      if (f[1] === want(local) && f[2] === want(remote)) return Number.parseInt(f[5]!.split(':')[0]!, 16);
    }
  }
  return null;
}

test('option tcpka sets SO_KEEPALIVE on both sides of a session (and only with the option)', T, async () => {
  const a = await NamedServer.start('a');
  await withProxy(
    yaml(listenYaml('ka', [`a 127.0.0.1:${a.port}`], '    option: [tcpka]') + listenYaml('noka', [`a 127.0.0.1:${a.port}`])),
    async (p) => {
      for (const [fe, expected] of [
        ['ka', 2],
        ['noka', 0],
      ] as const) {
        const { sock } = await hello(p.port(fe));
        sock.write('ping\n');
        assert.equal(await firstLine(sock), 'ping', 'traffic flows');
        const proxyClientSide = { address: '127.0.0.1', port: p.port(fe) };
        const clientSide = { address: '127.0.0.1', port: sock.localPort! };
        // No checks here: the server's only connection is the session's. The proxy's end of it
        // is local 127.0.0.1:<that connection's remote port>.
        assert.equal(a.conns.size, 1);
        const [toServer] = [...a.conns];
        const proxyServerSide = { address: '127.0.0.1', port: toServer!.remotePort! };
        const serverSide = { address: '127.0.0.1', port: a.port };
        // Right after traffic a socket may still run its retransmit timer (1) until the peer's
        // (delayed) ACK arrives; once idle it shows the keepalive timer (2) or none (0).
        await until(() => tcpTimer(proxyClientSide, clientSide) !== 1 && tcpTimer(proxyServerSide, serverSide) !== 1, 'both sockets idle');
        assert.equal(tcpTimer(proxyClientSide, clientSide), expected, `${fe}: the accepted client socket`);
        assert.equal(tcpTimer(proxyServerSide, serverSide), expected, `${fe}: the proxy's server socket`);
        sock.destroy();
        await until(() => a.conns.size === 0, 'the server connection closed');
      }
    },
  );
  await a.close();
});
