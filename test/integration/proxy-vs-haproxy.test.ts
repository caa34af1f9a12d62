// The whole proxy (not just the balancer module) against the real HAProxy from Debian: the same
// servers and weights give the same server sequence through real connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, startProxy, tcpServer } from '../harness/proxy.js';
import { haproxyAvailable, recordHaproxySequence, type HaproxySequenceOptions } from '../harness/haproxy-sequence.js';

async function warrenLiveSequence(opts: HaproxySequenceOptions, count: number): Promise<string[]> {
  const backends = await Promise.all(opts.servers.map((s) => tcpServer((sock) => sock.end(s.name))));
  const p = await startProxy(`defaults:
  timeout: {connect: 2s, client: 5s, server: 5s}
listen:
  lb:
    bind: 127.0.0.1:0
    balance: ${opts.balance}
    server:
${opts.servers.map((s, i) => `      - ${s.name} 127.0.0.1:${backends[i]!.port} weight ${s.weight ?? 1}`).join('\n')}
`);
  try {
    const seq: string[] = [];
    for (let i = 0; i < count; i++) {
      const c = await connect(p.port('lb'));
      let name = '';
      c.on('data', (d: Buffer) => (name += d.toString()));
      await once(c, 'end');
      c.end();
      seq.push(name);
    }
    return seq;
  } finally {
    await p.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

const scenarios: { balance: 'roundrobin' | 'static-rr'; weights: number[] }[] = [
  { balance: 'roundrobin', weights: [3, 1, 1] },
  { balance: 'roundrobin', weights: [5, 3, 2] },
  { balance: 'static-rr', weights: [3, 1, 1] },
  { balance: 'static-rr', weights: [5, 3, 2] },
];

for (const sc of scenarios) {
  test(`${sc.balance} ${sc.weights.join('/')}: warren's sequence is HAProxy's`, async () => {
    assert.ok(haproxyAvailable(), '/usr/sbin/haproxy is installed by test/harness/deps.sh');
    const opts: HaproxySequenceOptions = {
      balance: sc.balance,
      servers: sc.weights.map((w, i) => ({ name: `s${i + 1}`, weight: w })),
      steps: 20,
    };
    const haproxy = await recordHaproxySequence(opts);
    const warren = await warrenLiveSequence(opts, 20);
    assert.deepEqual(warren, haproxy.sequence);
  });
}
