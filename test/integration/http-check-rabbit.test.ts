// `option httpchk` against the real RabbitMQ management API of the harness cluster: the usual
// RabbitMQ setup checks /api/health/checks/local-alarms on the management port (`port` on the
// server line) while AMQP traffic goes to the broker port.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as net from 'node:net';
import amqp from 'amqplib';
import { startProxy, type RunningProxy } from '../harness/proxy.js';
import { loadCluster, rabbitmqctl, type ClusterInfo } from '../harness/rabbit-cluster.js';

let cluster: ClusterInfo;

before(() => {
  cluster = loadCluster();
});

function config(auth: string, serverExtra = ''): string {
  return `defaults:
  timeout: {connect: 2s, client: 30s, server: 30s, check: 2s}
  option: [tcplog]
listen:
  rabbit:
    bind: 127.0.0.1:0
    option: [redispatch, httpchk GET /api/health/checks/local-alarms]
    http-check: {expect: status 200, auth: ${auth}}
    server:
${cluster.nodes.map((n, i) => `      - rabbit${i + 1} ${n.host}:${n.amqpPort} check port ${n.mgmtPort} inter 200ms rise 1 fall 1${serverExtra}`).join('\n')}
`;
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function withProxy(text: string, fn: (p: RunningProxy) => Promise<void>): Promise<void> {
  const p = await startProxy(text);
  try {
    await fn(p);
  } finally {
    await p.stop();
  }
}

/** amqplib through the proxy: connect, open a channel, close. */
async function amqpRoundTrip(p: RunningProxy): Promise<void> {
  const conn = await amqp.connect(`amqp://${cluster.user}:${cluster.password}@127.0.0.1:${p.port('rabbit')}`);
  const ch = await conn.createChannel();
  await ch.close();
  await conn.close();
}

const servers = (p: RunningProxy) => p.proxy.backends.get('rabbit')!.servers;

test('every broker passes the management API check (L7OK 200); AMQP sessions flow and their clean closes cost nothing', { timeout: 30_000 }, async () => {
  // observe layer4 with the most sensitive settings: RabbitMQ answers every clean client close
  // with a RST (logged SD, as HAProxy does), which must not count against the broker.
  await withProxy(config('guest:guest', ' observe layer4 error-limit 1 on-error mark-down'), async (p) => {
    await until(() => servers(p).every((s) => s.lastCheck?.status === 'L7OK'), 'a passed HTTP check on every server');
    for (const s of servers(p)) {
      assert.equal(s.lastCheck!.code, 200);
      assert.equal(s.status, 'UP');
    }
    for (let i = 0; i < 3; i++) await amqpRoundTrip(p);
    await until(() => p.logs.filter((l) => l.msg === 'session').length === 3, 'three session lines');
    const sessions = p.logs.filter((l) => l.msg === 'session');
    assert.deepEqual(sessions.map((l) => l.server).sort(), ['rabbit1', 'rabbit2', 'rabbit3'], 'round robin over the three brokers');
    assert.deepEqual(
      sessions.map((l) => l.termination_state),
      ['SD', 'SD', 'SD'],
      'the broker resets after Close-Ok and the client FIN: HAProxy 2.6 logs the same exchange SD',
    );
    assert.ok(!p.logs.some((l) => l.state === 'DOWN'), 'no broker was marked DOWN');
    assert.ok(servers(p).every((s) => s.usable));
  });
});

test('wrong credentials: the API answers 401, every server goes DOWN (L7STS) and clients get no server', { timeout: 30_000 }, async () => {
  await withProxy(config('guest:not-the-password'), async (p) => {
    const lines = await Promise.all(cluster.nodes.map((_, i) => p.waitLog((l) => l.server === `rabbit/rabbit${i + 1}` && l.state === 'DOWN')));
    for (const l of lines) {
      assert.equal(l.reason, 'Layer7 wrong status');
      assert.equal(l.check, 'L7STS');
      assert.match(String(l.msg), /info: "Unauthorized"/);
    }
    assert.ok(servers(p).every((s) => s.lastCheck?.code === 401));
    const c = net.connect({ port: p.port('rabbit'), host: '127.0.0.1' });
    c.on('error', () => {});
    c.resume();
    await once(c, 'close');
    const session = await p.waitLog((l) => l.msg === 'session');
    assert.equal(session.server, '<NOSRV>');
  });
});

test('a broker in a memory alarm fails local-alarms (503) and is taken out; it comes back when cleared', { timeout: 60_000 }, async () => {
  const victim = 1;
  const name = `rabbit/rabbit${victim + 1}`;
  await withProxy(config('guest:guest'), async (p) => {
    await until(() => servers(p).every((s) => s.lastCheck?.status === 'L7OK'), 'every server checked');
    try {
      await rabbitmqctl(cluster, victim, ['set_vm_memory_high_watermark', '0.0000001']);
      const down = await p.waitLog((l) => l.server === name && l.state === 'DOWN', 20_000);
      assert.equal(down.check, 'L7STS');
      assert.equal(servers(p)[victim]!.lastCheck!.code, 503);
      assert.deepEqual(
        servers(p).map((s) => s.usable),
        cluster.nodes.map((_, i) => i !== victim),
        'only the node with the local alarm is out',
      );
    } finally {
      await rabbitmqctl(cluster, victim, ['set_vm_memory_high_watermark', '0.4']);
    }
    await p.waitLog((l) => l.server === name && l.state === 'UP', 20_000);
    await amqpRoundTrip(p);
  });
});
