// The pure part of a reload: what changes between two configs (src/proxy/reload.ts planReload).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadProxyConfigText } from '../../src/config/load.js';
import type { ProxyConfig } from '../../src/config/types.js';
import { carryHealth, HealthMachine } from '../../src/proxy/check/health.js';
import { durationText, listenersConflict, planReload, type ListenerRef } from '../../src/proxy/reload.js';

interface Opts {
  global?: string;
  defaults?: string;
  listen?: string;
  extra?: string;
}

const SERVERS = ['s1 10.0.0.1:5672 check', 's2 10.0.0.2:5672 check', 's3 10.0.0.3:5672 check'];

function cfg(o: Opts = {}): ProxyConfig {
  const yaml = [
    'global:',
    `  ${o.global ?? 'maxconn: 1000'}`,
    'defaults:',
    '  mode: tcp',
    '  timeout: {connect: 1s, client: 30s, server: 30s}',
    o.defaults ? `  ${o.defaults}` : '',
    o.listen ?? listen({}),
    o.extra ?? '',
  ].join('\n');
  return loadProxyConfigText(yaml, 'test.yaml');
}

function listen(o: { name?: string; bind?: string; servers?: string[]; lines?: string[] }): string {
  const servers = (o.servers ?? SERVERS).map((s) => `      - ${s}`).join('\n');
  return [
    'listen:',
    `  ${o.name ?? 'rabbit'}:`,
    `    bind: ${o.bind ?? '127.0.0.1:5672'}`,
    ...(o.lines ?? []).map((l) => `    ${l}`),
    '    server:',
    servers,
  ].join('\n');
}

const STATS = ['  monitor:', '    bind: 127.0.0.1:8888', '    mode: http', '    stats: {enable: true, uri: /stats}'].join('\n');

test('the same config: nothing to do, everything kept', () => {
  const p = planReload(cfg(), cfg());
  assert.equal(p.empty, true);
  assert.deepEqual(p.lines, []);
  assert.deepEqual(p.servers, { kept: ['rabbit/s1', 'rabbit/s2', 'rabbit/s3'], added: [], removed: [], changed: [] });
  assert.deepEqual(
    p.listeners.kept.map((l) => l.key),
    ['127.0.0.1:5672'],
  );
  assert.deepEqual(p.listeners.opened, []);
  assert.deepEqual(p.listeners.closed, []);
  assert.equal(p.backends[0]!.rebalance, false);
  assert.equal(p.runtimeApi.action, 'none');
  assert.equal(p.summary, 'reload: no change (3 servers and 1 listener kept)');
});

test('a server added: kept servers untouched, the balancer rebuilt', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: [...SERVERS, 's4 10.0.0.4:5672 check'] }) }));
  assert.deepEqual(p.servers.added, ['rabbit/s4']);
  assert.deepEqual(p.servers.removed, []);
  assert.deepEqual(p.servers.changed, []);
  const be = p.backends[0]!;
  assert.equal(be.fate, 'kept');
  assert.equal(be.rebalance, true);
  assert.ok(be.servers.kept.every((k) => !k.reconfig.checks && !k.reconfig.weight && !k.reconfig.disabled));
  assert.deepEqual(
    p.lines.map((l) => l.text),
    ['server rabbit/s4 (10.0.0.4:5672) added'],
  );
  assert.equal(p.summary, 'reload: 1 server added (3 servers and 1 listener kept)');
});

test('a server removed', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: [SERVERS[0]!, SERVERS[2]!] }) }));
  assert.deepEqual(p.servers.removed, ['rabbit/s2']);
  assert.deepEqual(p.servers.kept, ['rabbit/s1', 'rabbit/s3']);
  assert.equal(p.backends[0]!.servers.kept[1]!.index, 1, 's3 moves to position 1');
  assert.equal(p.lines[0]!.action, 'removed');
  assert.match(p.lines[0]!.text, /server rabbit\/s2 \(10\.0\.0\.2:5672\) removed: takes no new sessions; its open sessions finish/);
});

test('an address change is a new server under the same name', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: [SERVERS[0]!, 's2 10.0.0.22:5672 check', SERVERS[2]!] }) }));
  assert.deepEqual(p.servers.added, ['rabbit/s2']);
  assert.deepEqual(p.servers.removed, ['rabbit/s2']);
  assert.deepEqual(p.servers.kept, ['rabbit/s1', 'rabbit/s3']);
  assert.equal(p.backends[0]!.servers.added[0]!.addressChanged, true);
  assert.equal(p.lines.length, 1, 'one line for the replacement');
  assert.equal(p.lines[0]!.action, 'replaced');
  assert.match(p.lines[0]!.text, /address 10\.0\.0\.2:5672 -> 10\.0\.0\.22:5672/);
  // A port change too.
  const q = planReload(cfg(), cfg({ listen: listen({ servers: [SERVERS[0]!, 's2 10.0.0.2:5673 check', SERVERS[2]!] }) }));
  assert.deepEqual(q.servers.added, ['rabbit/s2']);
});

test('a weight change: the server is kept and its weight replaces a runtime one', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: [SERVERS[0]!, 's2 10.0.0.2:5672 check weight 5', SERVERS[2]!] }) }));
  assert.deepEqual(p.servers.changed, ['rabbit/s2']);
  assert.deepEqual(p.servers.added, []);
  const k = p.backends[0]!.servers.kept.find((s) => s.name === 's2')!;
  assert.deepEqual(k.changes, [{ setting: 'weight', from: '1', to: '5' }]);
  assert.deepEqual(k.reconfig, { checks: false, weight: true, disabled: false });
  assert.equal(p.backends[0]!.rebalance, true);
  assert.equal(p.lines[0]!.text, 'server rabbit/s2 changed: weight 1 -> 5');
  assert.equal(p.summary, 'reload: 1 server changed (3 servers and 1 listener kept)');
});

test('check settings rebuild the checks (health carried over); other settings do not', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: ['s1 10.0.0.1:5672 check rise 3 fall 5', 's2 10.0.0.2:5672 check maxconn 10', 's3 10.0.0.3:5672 check inter 500ms'] }) }));
  const [s1, s2, s3] = p.backends[0]!.servers.kept;
  assert.equal(s1!.reconfig.checks, true);
  assert.deepEqual(
    s1!.changes.map((c) => c.setting),
    ['rise', 'fall'],
  );
  assert.equal(s2!.reconfig.checks, false);
  assert.deepEqual(s2!.changes, [{ setting: 'maxconn', from: '0', to: '10' }]);
  assert.equal(s3!.reconfig.checks, true);
  assert.match(p.lines.find((l) => l.id === 'rabbit/s3')!.text, /inter 2s -> 500ms/);
});

test('disabled in the config: applied only when it changed there', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ servers: [SERVERS[0]!, 's2 10.0.0.2:5672 check disabled', SERVERS[2]!] }) }));
  const k = p.backends[0]!.servers.kept.find((s) => s.name === 's2')!;
  assert.deepEqual(k.reconfig, { checks: false, weight: false, disabled: true });
  const back = planReload(cfg({ listen: listen({ servers: [SERVERS[0]!, 's2 10.0.0.2:5672 check disabled', SERVERS[2]!] }) }), cfg());
  assert.equal(back.backends[0]!.servers.kept.find((s) => s.name === 's2')!.reconfig.disabled, true);
});

test('a backend check change rebuilds the checks of its checked servers; secrets are never printed', () => {
  const servers = [...SERVERS.slice(0, 2), 's3 10.0.0.3:5672'];
  const a = cfg({ listen: listen({ servers, lines: ['option: [amqp-check]', 'amqp-check: {user: u, password: secret1}'] }) });
  const b = cfg({ listen: listen({ servers, lines: ['option: [amqp-check]', 'amqp-check: {user: u, password: secret2}'] }) });
  const p = planReload(a, b);
  const be = p.backends[0]!;
  assert.deepEqual(be.changes, [{ setting: 'check credentials', from: '(hidden)', to: '(changed)' }]);
  assert.deepEqual(
    be.servers.kept.map((k) => k.reconfig.checks),
    [true, true, false],
  );
  assert.ok(!JSON.stringify(p).includes('secret'), 'no password in the plan');
  const c = planReload(a, cfg({ listen: listen({ servers, lines: ['option: [httpchk GET /api/health]'] }) }));
  assert.match(c.lines[0]!.text, /backend rabbit changed: check amqp-check \(user u, vhost \/, on-blocked fail\) -> httpchk GET \/api\/health/);
});

test('balance, retries, timeouts: backend changed, applies to new sessions', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ lines: ['balance: leastconn', 'retries: 5', 'timeout: {server: 1h}'] }) }));
  const be = p.backends[0]!;
  assert.deepEqual(be.changes, [
    { setting: 'balance', from: 'roundrobin', to: 'leastconn' },
    { setting: 'retries', from: '3', to: '5' },
    { setting: 'timeout server', from: '30s', to: '1h' },
  ]);
  assert.equal(be.rebalance, true);
  assert.deepEqual(p.servers.changed, []);
  assert.equal(p.lines[0]!.text, 'backend rabbit changed: balance roundrobin -> leastconn, retries 3 -> 5, timeout server 30s -> 1h (applies to new sessions)');
  // Timeouts alone keep the balancer (and its round-robin position).
  assert.equal(planReload(cfg(), cfg({ listen: listen({ lines: ['timeout: {server: 1h}'] }) })).backends[0]!.rebalance, false);
});

test('frontend settings: maxconn, client timeout, logging; the listener is kept', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ lines: ['maxconn: 50', 'timeout: {client: 1m}', 'option: [tcplog]'] }) }));
  const fe = p.frontends[0]!;
  assert.equal(fe.fate, 'kept');
  assert.deepEqual(
    fe.changes.map((c) => `${c.setting}: ${c.from} -> ${c.to}`),
    ['maxconn: 1000 -> 50', 'backlog: 1000 -> 50', 'timeout client: 30s -> 1m', 'option tcplog: off -> on'],
  );
  assert.deepEqual(
    p.listeners.kept.map((l) => l.key),
    ['127.0.0.1:5672'],
  );
  assert.match(p.lines.find((l) => l.what === 'frontend')!.text, /applies to new sessions; backlog: for sockets opened from now on/);
  assert.equal(p.summary, 'reload: 1 frontend changed (3 servers and 1 listener kept)');
});

test('a changed bind: the new address opens, the old one closes', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ bind: '127.0.0.1:5680' }) }));
  assert.deepEqual(
    p.listeners.opened.map((l) => [l.key, l.owner, l.after]),
    [['127.0.0.1:5680', 'rabbit', []]],
  );
  assert.deepEqual(
    p.listeners.closed.map((l) => l.key),
    ['127.0.0.1:5672'],
  );
  assert.deepEqual(p.frontends[0]!.changes, []);
  assert.deepEqual(
    p.lines.map((l) => l.action),
    ['opened', 'closed'],
  );
  assert.equal(p.summary, 'reload: 1 listener opened, 1 closed (3 servers and 0 listeners kept)');
});

test('a bind added to a frontend keeps the others', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ bind: '[127.0.0.1:5672, 127.0.0.2:5672]' }) }));
  assert.deepEqual(
    p.listeners.kept.map((l) => l.key),
    ['127.0.0.1:5672'],
  );
  assert.deepEqual(
    p.listeners.opened.map((l) => l.key),
    ['127.0.0.2:5672'],
  );
  assert.deepEqual(p.listeners.closed, []);
});

test('same port, overlapping address: the old listener must close first', () => {
  const p = planReload(cfg({ listen: listen({ bind: '0.0.0.0:5672' }) }), cfg({ listen: listen({ bind: '127.0.0.1:5672' }) }));
  assert.deepEqual(p.listeners.opened[0]!.after, ['0.0.0.0:5672']);
  assert.match(p.lines[0]!.text, /after closing 0\.0\.0\.0:5672: same port/);
  // Different addresses on the same port do not conflict.
  const q = planReload(cfg({ listen: listen({ bind: '127.0.0.1:5672' }) }), cfg({ listen: listen({ bind: '127.0.0.2:5672' }) }));
  assert.deepEqual(q.listeners.opened[0]!.after, []);
});

test('listener conflicts follow the kernel: wildcards, families, v6only', () => {
  const ref = (host: string, port: number, ipv6Only = false): ListenerRef => ({ key: `${host}:${port}`, kind: 'frontend', owner: 'x', bind: { host, port }, ipv6Only });
  assert.equal(listenersConflict(ref('0.0.0.0', 1), ref('127.0.0.1', 1)), true);
  assert.equal(listenersConflict(ref('127.0.0.1', 1), ref('0.0.0.0', 1)), true);
  assert.equal(listenersConflict(ref('127.0.0.1', 1), ref('127.0.0.1', 2)), false);
  assert.equal(listenersConflict(ref('::', 1), ref('127.0.0.1', 1)), true);
  assert.equal(listenersConflict(ref('::', 1, true), ref('127.0.0.1', 1)), false);
  assert.equal(listenersConflict(ref('::', 1, true), ref('::1', 1)), true);
  assert.equal(listenersConflict(ref('::1', 1), ref('127.0.0.1', 1)), false);
  assert.equal(listenersConflict(ref('127.0.0.1', 0), ref('127.0.0.1', 0)), false);
});

test('a :: bind that becomes v6only (a 0.0.0.0 bind added on its port) is re-created', () => {
  const p = planReload(cfg({ listen: listen({ bind: '"[::]:5672"' }) }), cfg({ listen: listen({ bind: '["0.0.0.0:5672", "[::]:5672"]' }) }));
  assert.deepEqual(
    p.listeners.closed.map((l) => l.key),
    ['[::]:5672'],
  );
  assert.deepEqual(
    p.listeners.opened.map((l) => [l.key, l.after]),
    [
      ['0.0.0.0:5672', ['[::]:5672']],
      ['[::]:5672 v6only', ['[::]:5672']],
    ],
  );
});

test('a renamed listen section: a new frontend and backend, and the socket moves to it', () => {
  const p = planReload(cfg(), cfg({ listen: listen({ name: 'amqp' }) }));
  assert.deepEqual(
    p.frontends.map((f) => [f.name, f.fate]),
    [
      ['amqp', 'added'],
      ['rabbit', 'removed'],
    ],
  );
  assert.deepEqual(
    p.backends.map((b) => [b.name, b.fate]),
    [
      ['amqp', 'added'],
      ['rabbit', 'removed'],
    ],
  );
  assert.deepEqual(
    p.listeners.moved.map((m) => [m.from.owner, m.to.owner, m.to.key]),
    [['rabbit', 'amqp', '127.0.0.1:5672']],
  );
  assert.deepEqual(p.listeners.opened, []);
  assert.deepEqual(p.listeners.closed, []);
  assert.deepEqual(p.servers.added, ['amqp/s1', 'amqp/s2', 'amqp/s3']);
  assert.deepEqual(p.servers.removed, ['rabbit/s1', 'rabbit/s2', 'rabbit/s3']);
  assert.ok(p.lines.some((l) => l.text === 'listener 127.0.0.1:5672 moved from frontend rabbit to amqp (the socket stays open)'));
});

test('a frontend added and one removed', () => {
  const two = listen({}) + '\n' + listen({ name: 'other', bind: '127.0.0.1:5690' }).replace('listen:\n', '');
  const p = planReload(cfg(), cfg({ listen: two }));
  assert.deepEqual(
    p.frontends.map((f) => [f.name, f.fate]),
    [
      ['rabbit', 'kept'],
      ['other', 'added'],
    ],
  );
  assert.deepEqual(
    p.listeners.opened.map((l) => [l.key, l.owner]),
    [['127.0.0.1:5690', 'other']],
  );
  const back = planReload(cfg({ listen: two }), cfg());
  assert.deepEqual(
    back.frontends.map((f) => [f.name, f.fate]),
    [
      ['rabbit', 'kept'],
      ['other', 'removed'],
    ],
  );
  assert.deepEqual(
    back.listeners.closed.map((l) => [l.key, l.owner]),
    [['127.0.0.1:5690', 'other']],
  );
  assert.ok(back.lines.some((l) => l.text === 'frontend other removed: stops accepting; its open sessions finish'));
  assert.equal(back.summary, 'reload: 3 servers removed; 1 backend removed; 1 frontend removed; 1 listener closed (3 servers and 1 listener kept)');
});

test('port-0 binds: one per section, kept when the section keeps one', () => {
  const a = cfg({ listen: listen({ bind: '127.0.0.1:0' }) });
  const p = planReload(a, cfg({ listen: listen({ bind: '127.0.0.1:0', lines: ['maxconn: 5'] }) }));
  assert.deepEqual(
    p.listeners.kept.map((l) => l.key),
    ['127.0.0.1:0 (rabbit)'],
  );
  const renamed = planReload(a, cfg({ listen: listen({ name: 'x', bind: '127.0.0.1:0' }) }));
  assert.deepEqual(
    renamed.listeners.opened.map((l) => l.key),
    ['127.0.0.1:0 (x)'],
  );
  assert.deepEqual(
    renamed.listeners.closed.map((l) => l.key),
    ['127.0.0.1:0 (rabbit)'],
  );
});

test('stats section: settings change in place, binds diffed, auth never printed', () => {
  const a = cfg({ extra: STATS });
  const b = cfg({ extra: STATS.replace('uri: /stats}', 'uri: /s, auth: ["admin:pw"], admin: true}') });
  const p = planReload(a, b);
  assert.deepEqual(
    p.stats.map((s) => [s.name, s.fate]),
    [['monitor', 'kept']],
  );
  assert.deepEqual(
    p.stats[0]!.changes.map((c) => c.setting),
    ['stats uri', 'stats auth', 'stats admin'],
  );
  assert.deepEqual(
    p.listeners.kept.map((l) => [l.key, l.kind]),
    [
      ['127.0.0.1:5672', 'frontend'],
      ['127.0.0.1:8888', 'stats'],
    ],
  );
  assert.ok(!JSON.stringify(p).includes('pw'));
  const c = planReload(b, cfg({ extra: STATS.replace('uri: /stats}', 'uri: /s, auth: ["admin:other"], admin: true}') }));
  assert.deepEqual(c.stats[0]!.changes, [{ setting: 'stats auth', from: '(hidden)', to: '(changed)' }]);
  const moved = planReload(a, cfg({ extra: STATS.replace('127.0.0.1:8888', '127.0.0.1:8889') }));
  assert.deepEqual(
    moved.listeners.opened.map((l) => [l.key, l.kind, l.owner]),
    [['127.0.0.1:8889', 'stats', 'monitor']],
  );
  assert.deepEqual(
    moved.listeners.closed.map((l) => l.key),
    ['127.0.0.1:8888'],
  );
});

test('a TCP bind that becomes a stats bind is closed first, then re-opened by the stats section', () => {
  const a = cfg({ listen: listen({ bind: '127.0.0.1:8888' }) });
  const b = cfg({ listen: listen({ bind: '127.0.0.1:5672' }), extra: STATS });
  const p = planReload(a, b);
  const st = p.listeners.opened.find((l) => l.kind === 'stats')!;
  assert.deepEqual([st.key, st.after], ['127.0.0.1:8888', ['127.0.0.1:8888']]);
  assert.deepEqual(
    p.listeners.closed.map((l) => [l.key, l.kind]),
    [['127.0.0.1:8888', 'frontend']],
  );
});

test('global settings and the runtime API socket', () => {
  const p = planReload(cfg(), cfg({ global: 'maxconn: 2000\n  hard-stop-after: 10s' }));
  assert.deepEqual(p.global, [
    { setting: 'maxconn', from: '1000', to: '2000' },
    { setting: 'hard-stop-after', from: 'none', to: '10s' },
  ]);
  // (the frontend's maxconn and backlog follow the global maxconn)
  assert.equal(p.summary, 'reload: 1 frontend changed; 2 global settings changed (3 servers and 1 listener kept)');
  const sock = (spec: string): ProxyConfig => cfg({ global: `stats-socket: ${spec}` });
  assert.equal(planReload(sock('/run/a.sock mode 600 level admin'), sock('/run/a.sock  mode 600 level admin')).runtimeApi.action, 'keep');
  const same = planReload(sock('/run/a.sock level admin'), sock('/run/a.sock level operator')).runtimeApi;
  assert.deepEqual([same.action, same.samePath], ['restart', true]);
  const other = planReload(sock('/run/a.sock level admin'), sock('/run/b.sock level admin')).runtimeApi;
  assert.deepEqual([other.action, other.samePath], ['restart', false]);
  assert.equal(planReload(cfg(), sock('/run/a.sock')).runtimeApi.action, 'start');
  assert.equal(planReload(sock('/run/a.sock'), cfg()).runtimeApi.action, 'stop');
});

test('the headline mix: one line per change and a summary', () => {
  const a = cfg({ listen: listen({ servers: ['s1 10.0.0.1:5672 check', 's2 10.0.0.2:5672 check'] }) });
  const b = cfg({ listen: listen({ servers: ['s1 10.0.0.1:5672 check weight 3', 's3 10.0.0.3:5672 check'] }) });
  const p = planReload(a, b);
  assert.deepEqual(
    p.lines.map((l) => l.text),
    ['server rabbit/s2 (10.0.0.2:5672) removed: takes no new sessions; its open sessions finish', 'server rabbit/s3 (10.0.0.3:5672) added', 'server rabbit/s1 changed: weight 1 -> 3'],
  );
  assert.equal(p.summary, 'reload: 1 server added, 1 removed, 1 changed (1 server and 1 listener kept)');
});

test('durations in log lines use HAProxy units', () => {
  assert.equal(durationText(null), 'none');
  assert.equal(durationText(0), '0');
  assert.equal(durationText(250), '250ms');
  assert.equal(durationText(5000), '5s');
  assert.equal(durationText(180_000), '3m');
  assert.equal(durationText(10_800_000), '3h');
  assert.equal(durationText(86_400_000), '1d');
});

test('carryHealth keeps the state and the progress through rise/fall', () => {
  // rise 2 fall 3: health 0..4; UP >= 2.
  assert.equal(carryHealth({ health: 4, rise: 2, fall: 3 }, 3, 5), 7, 'fully UP stays fully UP');
  assert.equal(carryHealth({ health: 0, rise: 2, fall: 3 }, 3, 5), 0, 'fully DOWN stays fully DOWN');
  assert.equal(carryHealth({ health: 3, rise: 2, fall: 3 }, 3, 5), 6, 'UP with one failure seen');
  assert.equal(carryHealth({ health: 3, rise: 2, fall: 3 }, 1, 1), 1, 'still UP with fall 1');
  assert.equal(carryHealth({ health: 1, rise: 2, fall: 3 }, 3, 5), 1, 'DOWN with one pass seen');
  assert.equal(carryHealth({ health: 2, rise: 3, fall: 1 }, 2, 1), 1, 'still DOWN with a lower rise');
  const m = new HealthMachine({ rise: 3, fall: 5, health: carryHealth({ health: 3, rise: 2, fall: 3 }, 3, 5) });
  assert.equal(m.label, 'UP 4/5');
  assert.equal(new HealthMachine({ rise: 3, fall: 5, health: 1 }).label, 'DOWN 1/3');
});
