import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from '../../src/config/duration.js';
import { parseServerLine, parseServerParams, parseAddress } from '../../src/config/server-line.js';
import { ConfigError, loadProxyConfig, loadProxyConfigText } from '../../src/config/load.js';

test('durations use HAProxy units; a bare number is milliseconds', () => {
  assert.equal(parseDuration('5000'), 5000);
  assert.equal(parseDuration(5000), 5000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('2s'), 2000);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('3h'), 10_800_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  assert.equal(parseDuration('250us'), 0.25);
  assert.equal(parseDuration('1.5s'), 1500);
  for (const bad of ['', 's', '5 s', '5sec', '-1s', '1w', 'abc']) assert.equal(parseDuration(bad), null, bad);
  assert.equal(formatDuration(2000), '2s');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(10_800_000), '3h');
});

test('server lines parse in HAProxy syntax', () => {
  const s = parseServerLine('rabbitmq_node1 192.168.1.101:5672 check inter 5000 rise 2 fall 3 weight 1');
  assert.deepEqual(s, { name: 'rabbitmq_node1', host: '192.168.1.101', port: 5672, params: { check: true, inter: 5000, rise: 2, fall: 3, weight: 1 } });
  const all = parseServerLine(
    'n2 [::1]:5673 check inter 2s fastinter 100ms downinter 5s rise 1 fall 2 weight 50 backup maxconn 10 maxqueue 5 disabled slowstart 30s ' +
      'on-marked-down shutdown-sessions observe layer4 error-limit 3 on-error mark-down send-proxy-v2 port 15672',
  );
  assert.equal(all.host, '::1');
  assert.equal(all.port, 5673);
  assert.deepEqual(all.params, {
    check: true, inter: 2000, fastinter: 100, downinter: 5000, rise: 1, fall: 2, weight: 50, backup: true, maxconn: 10, maxqueue: 5,
    disabled: true, slowstart: 30_000, shutdownSessionsOnDown: true, observeLayer4: true, errorLimit: 3, onError: 'mark-down', sendProxy: 2, checkPort: 15672,
  });
  assert.deepEqual(parseServerParams(['send-proxy']), { sendProxy: 1 });
  assert.deepEqual(parseAddress('rabbit.local:5672'), { host: 'rabbit.local', port: 5672 });
});

test('bad server lines say what was expected', () => {
  assert.throws(() => parseServerLine('n1 10.0.0.1:5672 chek'), /unknown server keyword 'chek' \(did you mean 'check'\?\)/);
  assert.throws(() => parseServerLine('n1 10.0.0.1'), /has no port/);
  assert.throws(() => parseServerLine('n1 10.0.0.1:99999'), /expected 1-65535/);
  assert.throws(() => parseServerLine('n1 10.0.0.1:5672 inter'), /'inter' expects an argument/);
  assert.throws(() => parseServerLine('n1 10.0.0.1:5672 inter 5x'), /'inter 5x': expected a duration/);
  assert.throws(() => parseServerLine('n1 10.0.0.1:5672 weight 300'), /expected an integer from 0 to 256/);
  assert.throws(() => parseServerLine('n1 10.0.0.1:5672 observe layer7'), /expected one of layer4/);
  assert.throws(() => parseServerLine('n1'), /expected '<name> <address>:<port>/);
});

test('the shipped config is valid and resolves HAProxy defaults', () => {
  const c = loadProxyConfig('config/haproxy.yaml');
  assert.equal(c.frontends.length, 1);
  const be = c.backends[0]!;
  assert.equal(be.name, 'rabbitmq_cluster');
  assert.equal(be.balance, 'roundrobin');
  assert.equal(be.retries, 3);
  assert.equal(be.redispatch, -1);
  assert.equal(be.check.type, 'amqp');
  assert.equal(be.servers.length, 3);
  const s = be.servers[0]!;
  assert.equal(s.inter, 2000);
  assert.equal(s.fastinter, 200);
  assert.equal(s.rise, 2);
  assert.equal(s.fall, 3);
  assert.equal(c.frontends[0]!.defaultBackend, 'rabbitmq_cluster');
  assert.equal(c.stats[0]!.uri, '/stats');
});

test('defaults apply: fastinter/downinter default to inter, default-server merges under server lines', () => {
  const c = loadProxyConfigText(
    `defaults:
  timeout: {connect: 1s, client: 1m, server: 1m}
  default-server: inter 3s fall 5
listen:
  l:
    bind: 127.0.0.1:0
    default-server: rise 4
    server:
      - a 127.0.0.1:1 check
      - b 127.0.0.1:2 check inter 1s fall 2
`,
    'mem.yaml',
  );
  const [a, b] = c.backends[0]!.servers;
  assert.deepEqual([a!.inter, a!.fastinter, a!.downinter, a!.rise, a!.fall], [3000, 3000, 3000, 4, 5]);
  assert.deepEqual([b!.inter, b!.fastinter, b!.rise, b!.fall], [1000, 1000, 4, 2]);
  assert.equal(c.backends[0]!.timeouts.queue, 1000, 'timeout queue defaults to timeout connect');
});

function errorsOf(text: string): string[] {
  try {
    loadProxyConfigText(text, 'bad.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

test('every config error names the file, the line, the path and what was expected', () => {
  const errors = errorsOf(`defaults:
  timout: {connect: 5s}
  timeout: {connect: 5s, client: 1m, server: 1m}
listen:
  rabbitmq_cluster:
    bind: 0.0.0.0:5672
    server:
      - rabbit1 10.0.0.11:5672 check
      - rabbit2 10.0.0.12:5672 chek inter 5s
      - rabbit3 10.0.0.13 check
    option: [redispatc]
`);
  assert.deepEqual(errors, ["bad.yaml:2: defaults.timout: unknown keyword 'timout' (did you mean 'timeout'?)"]);
  const semantic = errorsOf(`defaults:
  timeout: {connect: 5s, client: 1m, server: 1m}
listen:
  rabbitmq_cluster:
    bind: 0.0.0.0:5672
    server:
      - rabbit1 10.0.0.11:5672 check
      - rabbit2 10.0.0.12:5672 chek inter 5s
      - rabbit3 10.0.0.13 check
    option: [redispatc]
`);
  assert.deepEqual(semantic, [
    "bad.yaml:8: listen.rabbitmq_cluster.server[1]: unknown server keyword 'chek' (did you mean 'check'?)",
    "bad.yaml:9: listen.rabbitmq_cluster.server[2]: address '10.0.0.13' has no port: expected host:port",
    "bad.yaml:10: listen.rabbitmq_cluster.option[0]: unknown option 'redispatc' (did you mean 'redispatch'?)",
  ]);
});

test('structural errors: wrong types, enums, durations, references', () => {
  const errors = errorsOf(`global:
  maxconn: lots
defaults:
  balance: roundrobn
  timeout: {connect: 5x, client: 1m, server: 1m}
`);
  assert.deepEqual(errors, [
    'bad.yaml:2: global.maxconn: expected number, got "lots"',
    "bad.yaml:4: defaults.balance: expected one of roundrobin, static-rr, leastconn, first, source, got 'roundrobn' (did you mean 'roundrobin'?)",
    "bad.yaml:5: defaults.timeout.connect: expected a duration such as 500ms, 2s, 1m, 3h (a bare number is milliseconds), got '5x'",
  ]);
  const refs = errorsOf(`defaults:
  timeout: {connect: 5s, client: 1m, server: 1m}
frontend:
  fe:
    bind: [127.0.0.1:5672, "[::1]:5672"]
    default_backend: rabbit
    use_backend: ["other if src 10.0.0.0/8", "rabbits if { weird 1 }"]
backend:
  rabbits:
    server: [a 127.0.0.1:1]
`);
  assert.deepEqual(refs, [
    "bad.yaml:6: frontend.fe.default_backend: no backend named 'rabbit' (did you mean 'rabbits'?)",
    "bad.yaml:7: frontend.fe.use_backend[1]: unsupported condition 'weird': warren's TCP routing understands src, dst and dst_port",
    "bad.yaml:7: frontend.fe.use_backend[0]: no backend named 'other'",
  ]);
});

test("use_backend conditions: HAProxy's negations (!{ }, ! { }), ranges, and bad values with their line", () => {
  const config = loadProxyConfigText(
    `defaults:
  timeout: {connect: 5s, client: 1m, server: 1m}
frontend:
  fe:
    bind: 127.0.0.1:5672
    use_backend: ["be if !{ src 10.0.0.0/8 }", "be unless ! { dst ::1 }", "be if { ! dst_port 5000:5010 8080 }", "be unless !!src 10.0.0.1"]
backend:
  be:
    server: [a 127.0.0.1:1]
`,
    'ok.yaml',
  );
  assert.deepEqual(
    config.frontends[0]!.useBackend.map((r) => r.condition),
    [
      { negate: true, kind: 'src', values: ['10.0.0.0/8'] },
      { negate: false, kind: 'dst', values: ['::1'] },
      { negate: true, kind: 'dst_port', values: ['5000:5010', '8080'] },
      { negate: true, kind: 'src', values: ['10.0.0.1'] },
    ],
  );
  const errors = errorsOf(`defaults:
  timeout: {connect: 5s, client: 1m, server: 1m}
frontend:
  fe:
    bind: 127.0.0.1:5672
    use_backend: ["be if src 10.0.0.300", "be if dst_port 80:70", "be if { src 10.0.0.0/8"]
backend:
  be:
    server: [a 127.0.0.1:1]
`);
  assert.deepEqual(errors, [
    "bad.yaml:6: frontend.fe.use_backend[0]: 'src 10.0.0.300': expected an IPv4/IPv6 address or address/prefix",
    "bad.yaml:6: frontend.fe.use_backend[1]: 'dst_port 80:70': expected a port (1-65535) or a range lo:hi",
    "bad.yaml:6: frontend.fe.use_backend[2]: missing '}' in '{ src 10.0.0.0/8'",
  ]);
});

test('YAML syntax errors carry the line', () => {
  assert.deepEqual(errorsOf('listen:\n  a: [1, 2\n'), [errorsOf('listen:\n  a: [1, 2\n')[0]!]);
  assert.match(errorsOf('listen:\n  a: [1, 2\n')[0]!, /^bad\.yaml:3: YAML syntax: /);
  assert.match(errorsOf('- a\n- b\n')[0]!, /^bad\.yaml:1: expected a mapping/);
});

// Found by test/unit/fuzz-config.test.ts: String() of a mapping with a `toString` key threw a
// TypeError out of the loader; an alias cycle made the messages' JSON.stringify throw, and an
// alias bomb ran the process out of memory.
test('mappings with toString/valueOf keys where a word is expected: a ConfigError, not a TypeError', () => {
  assert.deepEqual(errorsOf('defaults:\n  mode: {toString: 1}\n'), ['bad.yaml:2: defaults.mode: expected one of tcp, http, got a mapping']);
  assert.deepEqual(errorsOf('defaults:\n  mode: [{valueOf: 1, toString: 1}]\n'), ['bad.yaml:2: defaults.mode: expected one of tcp, http, got a list']);
  assert.match(errorsOf('? {toString: 1}\n: 1\n')[0]!, /^bad\.yaml:1: .*unknown keyword/);
});

test('alias cycles and alias bombs are refused before validation walks them', () => {
  const expands = /^bad\.yaml: YAML: the document expands to more than 100000 values/;
  assert.match(errorsOf('listen:\n  x:\n    server: &s [[*s]]\n')[0]!, expands);
  assert.match(errorsOf('global: &a [*a]\n')[0]!, expands);
  const bomb = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 8; i++) bomb.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  assert.match(errorsOf(`${bomb.join('\n')}\nlisten:\n  x:\n    server: *a8\n`)[0]!, expands);
  // A few aliases (YAML's way to share a block) are fine.
  assert.ok(!errorsOf('defaults: &d {mode: tcp}\nlisten:\n  x: {<<: *d, bind: "127.0.0.1:1"}\n').some((l) => l.includes('expands')));
});

test('missing timeouts, duplicate binds and names are refused', () => {
  const errors = errorsOf(`listen:
  a:
    bind: 127.0.0.1:5672
    server: [s 127.0.0.1:1, s 127.0.0.1:2]
  b:
    bind: 127.0.0.1:5672
    timeout: {client: 1s, connect: 1s, server: 1s}
    server: [s 127.0.0.1:1]
`);
  assert.ok(errors.includes("bad.yaml:2: listen.a.timeout: missing 'timeout client' (here or in defaults): HAProxy warns, warren requires it so idle clients cannot pile up"), errors.join('\n'));
  assert.ok(errors.includes("bad.yaml:4: listen.a.server[1]: duplicate server name 's'"), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith('bad.yaml:6: listen.b.bind: 127.0.0.1:5672 is already bound by')), errors.join('\n'));
});

test('vrrp-status (global): an http:// URL for the VRRP panel; anything else is refused with its line', () => {
  const base = `defaults:
  timeout: {connect: 1s, client: 1m, server: 1m}
listen:
  l:
    bind: 127.0.0.1:0
    server: [a 127.0.0.1:1]
`;
  assert.equal(loadProxyConfigText(base, 'ok.yaml').global.vrrpStatus, null);
  assert.equal(loadProxyConfigText(`global:\n  vrrp-status: http://127.0.0.1:8889/status\n${base}`, 'ok.yaml').global.vrrpStatus, 'http://127.0.0.1:8889/status');
  assert.equal(loadProxyConfig('config/haproxy.yaml').global.vrrpStatus, 'http://127.0.0.1:8889/status');
  const hint = 'expected an http:// URL (e.g. http://127.0.0.1:8889/status)';
  assert.deepEqual(errorsOf(`global:\n  maxconn: 10\n  vrrp-status: 127.0.0.1:8889/status\n${base}`), [`bad.yaml:3: global.vrrp-status: ${hint}, got '127.0.0.1:8889/status'`]);
  assert.deepEqual(errorsOf(`global:\n  vrrp-status: https://127.0.0.1:8889/status\n${base}`), [`bad.yaml:2: global.vrrp-status: ${hint}, got 'https://127.0.0.1:8889/status'`]);
  assert.deepEqual(errorsOf(`global:\n  vrrp-status: 8889\n${base}`), ['bad.yaml:2: global.vrrp-status: expected string, got 8889']);
  assert.deepEqual(errorsOf(`global:\n  vrrp_status: http://127.0.0.1:8889/status\n${base}`), ["bad.yaml:2: global.vrrp_status: unknown keyword 'vrrp_status' (did you mean 'vrrp-status'?)"]);
});

// HAProxy's rule (doc/configuration.txt §4, and the same check on server names): a name goes into
// `disable server BACKEND/SERVER`, the CSV, the log line and the metrics' labels.
test("proxy and server names: HAProxy's letters, digits, '-', '_', '.', ':' only, refused with their line and path", () => {
  const rule = "expected only letters, digits, '-', '_', '.' and ':' (as in HAProxy)";
  const errors = errorsOf(`defaults:
  timeout: {connect: 1s, client: 1m, server: 1m}
listen:
  rabbit:
    bind: 127.0.0.1:0
    server:
      - node-1.a:b_c 127.0.0.1:1
      - rabbit/2 127.0.0.1:2
      - "bell\\a 127.0.0.1:3"
      - "n\u00e9 127.0.0.1:4"
  "a;b":
    bind: 127.0.0.1:0
    server: [x 127.0.0.1:1]
frontend:
  "fe 1":
    bind: 127.0.0.1:0
    default_backend: be
backend:
  "":
    server: [x 127.0.0.1:1]
  be:
    server: [x 127.0.0.1:1]
`);
  assert.deepEqual(errors, [
    `bad.yaml:8: listen.rabbit.server[1]: invalid server name 'rabbit/2': character '/' is not allowed, ${rule}`,
    `bad.yaml:9: listen.rabbit.server[2]: invalid server name 'bell\\u0007': character '\\u0007' is not allowed, ${rule}`,
    `bad.yaml:10: listen.rabbit.server[3]: invalid server name 'n\\u00e9': character '\\u00e9' is not allowed, ${rule}`,
    `bad.yaml:11: listen.a;b: invalid listen name 'a;b': character ';' is not allowed, ${rule}`,
    `bad.yaml:15: frontend.fe 1: invalid frontend name 'fe 1': character ' ' is not allowed, ${rule}`,
    `bad.yaml:19: backend.: empty backend name: ${rule}`,
  ]);
  // A control character in a key stays out of the message: the path shows it escaped as well.
  assert.deepEqual(errorsOf(`defaults:\n  timeout: {connect: 1s, client: 1m, server: 1m}\nlisten:\n  "x\\ny":\n    bind: 127.0.0.1:0\n`), [
    `bad.yaml:4: listen.x\\u000ay: invalid listen name 'x\\u000ay': character '\\u000a' is not allowed, ${rule}`,
  ]);
  // zod's records used to drop a section named __proto__ without a word (it names the prototype).
  assert.deepEqual(
    errorsOf(`defaults:\n  timeout: {connect: 1s, client: 1m, server: 1m}\nlisten:\n  __proto__:\n    bind: 127.0.0.1:0\n  ok:\n    bind: 127.0.0.1:0\n    http-check: {headers: {__proto__: x}}\n`),
    [
      "bad.yaml:4: listen.__proto__: '__proto__' cannot be a name or a keyword: it names the prototype of a JavaScript object",
      "bad.yaml:8: listen.ok.http-check.headers.__proto__: '__proto__' cannot be a name or a keyword: it names the prototype of a JavaScript object",
    ],
  );
  // The shipped config keeps loading.
  assert.deepEqual(
    loadProxyConfig('config/haproxy.yaml').backends.flatMap((b) => [b.name, ...b.servers.map((s) => s.name)]),
    ['rabbitmq_cluster', 'rabbit1', 'rabbit2', 'rabbit3'],
  );
});
