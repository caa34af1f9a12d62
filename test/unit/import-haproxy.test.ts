import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { importHaproxyCfg, type ImportMessage, type ImportResult } from '../../src/config/import/haproxy-cfg.js';
import { loadProxyConfigText } from '../../src/config/load.js';

// Compiled to dist/test/unit/: the fixtures stay in the source tree.
const FIXTURES = new URL('../../../test/fixtures/haproxy/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const importFixture = (name: string): ImportResult => importHaproxyCfg(fixture(name), `test/fixtures/haproxy/${name}`);

type Doc = Record<string, any>;
const parse = (r: ImportResult): Doc => yaml.load(r.yaml) as Doc;
const lines = (msgs: ImportMessage[]): number[] => msgs.map((m) => m.line);
const at = (msgs: ImportMessage[], line: number): string[] => msgs.filter((m) => m.line === line).map((m) => m.message);
/** Imports an inline config, its lines joined with newlines (line 1 is the first element). */
const importLines = (...text: string[]): ImportResult => importHaproxyCfg(text.join('\n'), 'inline.cfg');

const TCP_DEFAULTS = ['defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h'];

describe('the classic RabbitMQ tutorial config (old keywords)', () => {
  const r = importFixture('rabbitmq-classic.cfg');
  const doc = parse(r);

  test('imports without errors', () => {
    assert.deepEqual(r.errors, []);
  });

  test('warns on contimeout/clitimeout/srvtimeout at their lines, naming the modern keyword', () => {
    assert.deepEqual(at(r.warnings, 15), ["'contimeout' is a deprecated keyword: imported as 'timeout connect'"]);
    assert.deepEqual(at(r.warnings, 16), ["'clitimeout' is a deprecated keyword: imported as 'timeout client'"]);
    assert.deepEqual(at(r.warnings, 17), ["'srvtimeout' is a deprecated keyword: imported as 'timeout server'"]);
    assert.ok(r.warnings.every((w) => w.severity === 'warning'));
  });

  test('writes the modern timeouts, bare numbers as milliseconds', () => {
    assert.deepEqual(doc['defaults'].timeout, { connect: '5000ms', client: '50000ms', server: '50000ms' });
  });

  test('warns on ignored process keywords, line by line', () => {
    for (const [line, kw] of [[2, 'log'], [4, 'user'], [5, 'group'], [6, 'daemon'], [8, 'log']] as const) {
      const msg = at(r.warnings, line);
      assert.equal(msg.length, 1, `line ${line}`);
      assert.match(msg[0]!, new RegExp(`^'${kw}' ignored: `));
    }
  });

  test('turns the old "listen NAME ADDR" syntax into bind, with a warning', () => {
    assert.match(at(r.warnings, 18)[0]!, /old syntax: imported as 'bind 0\.0\.0\.0:5672'/);
    assert.equal(doc['listen'].rabbitmq_cluster.bind, '0.0.0.0:5672');
  });

  test('keeps global, defaults, servers and the stats page', () => {
    assert.deepEqual(doc['global'], { maxconn: 10000 });
    assert.equal(doc['defaults'].mode, 'tcp');
    assert.equal(doc['defaults'].retries, 3);
    assert.equal(doc['defaults'].maxconn, 2000);
    assert.deepEqual(doc['defaults'].option, ['tcplog', 'dontlognull', 'redispatch']);
    const cluster = doc['listen'].rabbitmq_cluster;
    assert.equal(cluster.balance, 'roundrobin');
    assert.deepEqual(cluster.server, [
      'rabbitmq_node1 192.168.1.101:5672 check inter 5000 rise 2 fall 3 weight 1',
      'rabbitmq_node2 192.168.1.102:5672 check inter 5000 rise 2 fall 3 weight 1',
      'rabbitmq_node3 192.168.1.103:5672 check inter 5000 rise 2 fall 3 weight 1',
    ]);
    assert.deepEqual(doc['listen'].monitor, {
      bind: '0.0.0.0:8888',
      mode: 'http',
      stats: { enable: true, uri: '/stats', refresh: '5s' },
    });
    assert.match(at(r.warnings, 27)[0]!, /'option httplog' ignored/);
  });

  test('starts with a header naming the source file and lists the messages as comments', () => {
    assert.match(r.yaml, /^# Imported from test\/fixtures\/haproxy\/rabbitmq-classic\.cfg by 'warren import'\.\n/);
    assert.match(r.yaml, /^# {3}line 15: warning: 'contimeout'/m);
  });
});

describe('a modern frontend/backend config', () => {
  const r = importFixture('rabbitmq-modern.cfg');
  const doc = parse(r);

  test('imports without errors', () => {
    assert.deepEqual(r.errors, []);
  });

  test('global: maxconn, hard-stop-after and the stats socket', () => {
    assert.deepEqual(doc['global'], {
      maxconn: 4096,
      'hard-stop-after': '30s',
      'stats-socket': '/run/haproxy/admin.sock mode 660 level admin',
    });
    assert.match(at(r.warnings, 8)[0]!, /^'stats timeout' ignored/);
  });

  test('defaults: timeouts and default-server as written', () => {
    assert.deepEqual(doc['defaults'].timeout, { connect: '5s', client: '3h', server: '3h', check: '2s', queue: '10s' });
    assert.equal(doc['defaults']['default-server'], 'inter 2s fastinter 200ms downinter 5s rise 2 fall 3');
    assert.deepEqual(doc['defaults'].option, ['tcplog', 'dontlognull', 'redispatch', 'tcpka']);
  });

  test('frontend: binds (IPv6 bracketed), dropped bind options, named and inline ACLs', () => {
    const fe = doc['frontend'].amqp;
    assert.deepEqual(fe.bind, ['0.0.0.0:5672', '[::]:5672']);
    assert.equal(fe.maxconn, 2000);
    assert.equal(fe.default_backend, 'rabbitmq_nodes');
    assert.deepEqual(fe.use_backend, [
      'rabbitmq_batch if { src 10.20.0.0/16 10.21.0.0/16 }',
      'rabbitmq_batch if { src 192.168.50.0/24 }',
    ]);
    assert.match(at(r.warnings, 31)[0]!, /bind options ignored.*'name amqp'/);
    assert.match(at(r.warnings, 32)[0]!, /bind options ignored.*'v6only'/);
  });

  test('backend: httpchk with the Authorization header turned into http-check auth, backup server', () => {
    const be = doc['backend'].rabbitmq_nodes;
    assert.equal(be.balance, 'leastconn');
    assert.deepEqual(be.option, ['httpchk GET /api/health/checks/local-alarms']);
    assert.deepEqual(be['http-check'], { expect: 'status 200', auth: 'monitor:s3cr3t' });
    assert.equal(be.server[2], 'rabbit3 10.0.0.13:5672 check port 15672 weight 1 backup');
    const batch = doc['backend'].rabbitmq_batch;
    assert.equal(batch.balance, 'source');
    assert.equal(batch['hash-type'], 'consistent');
    assert.deepEqual(batch.option, ['allbackups']);
  });

  test('stats page: realm with escaped spaces, several auth lines, admin if TRUE, monitor-uri', () => {
    assert.deepEqual(doc['listen'].stats, {
      bind: ':8404',
      mode: 'http',
      stats: {
        enable: true,
        uri: '/stats',
        refresh: '10s',
        realm: 'HAProxy Statistics',
        auth: ['admin:s3cret', 'ops:correct horse'],
        admin: true,
        'hide-version': true,
      },
      'monitor-uri': '/healthz',
    });
  });
});

describe("Debian's default haproxy.cfg with a RabbitMQ listen added", () => {
  const r = importFixture('debian-default.cfg');
  const doc = parse(r);

  test('imports without errors; TLS defaults, errorfiles and chroot are warnings', () => {
    assert.deepEqual(r.errors, []);
    for (const line of [4, 12, 13, 16, 17, 18, 28, 34]) assert.equal(at(r.warnings, line).length, 1, `line ${line}`);
  });

  test("'mode http' in defaults is fine when the TCP sections say 'mode tcp'", () => {
    assert.equal(doc['defaults'].mode, 'http');
    assert.equal(doc['listen'].rabbitmq.mode, 'tcp');
    assert.equal(doc['listen'].stats.mode, 'http');
  });

  test("'option httplog' falls back to tcplog like HAProxy does in TCP mode", () => {
    assert.match(at(r.warnings, 23)[0]!, /imported as 'option tcplog'/);
    assert.deepEqual(doc['defaults'].option, ['tcplog', 'dontlognull']);
  });

  test("'stats refresh 30' is seconds in HAProxy", () => {
    assert.equal(doc['listen'].stats.stats.refresh, '30s');
  });

  test("'stats admin if LOCALHOST' is a warning and admin stays off", () => {
    assert.match(at(r.warnings, 53)[0]!, /all-or-nothing/);
    assert.equal(doc['listen'].stats.stats.admin, undefined);
  });
});

describe('rejected configs', () => {
  test('unsupported features are errors at their lines', () => {
    const r = importFixture('broken-unsupported.cfg');
    assert.deepEqual(lines(r.errors), [3, 13, 14, 18, 24, 25, 26]);
    assert.ok(r.errors.every((e) => e.severity === 'error'));
    assert.match(at(r.errors, 3)[0]!, /Lua/);
    assert.match(at(r.errors, 13)[0]!, /^'tcp-request'/);
    assert.match(at(r.errors, 14)[0]!, /^'stick-table'/);
    assert.match(at(r.errors, 18)[0]!, /^'cookie'/);
    assert.match(at(r.errors, 24)[0]!, /mode http.*warren proxies TCP only.*'mode tcp'/);
    assert.match(at(r.errors, 25)[0]!, /criterion 'path_beg' is not supported/);
    assert.match(at(r.errors, 26)[0]!, /^'http-request'/);
  });

  test("typos get a 'did you mean', even of the old keywords", () => {
    const r = importFixture('broken-typo.cfg');
    assert.deepEqual(at(r.errors, 3), ["unknown keyword 'deamon' in global section (did you mean 'daemon'?)"]);
    assert.deepEqual(at(r.errors, 7), ["unknown keyword 'retires' in defaults section (did you mean 'retries'?)"]);
    assert.deepEqual(at(r.errors, 9), ["unknown keyword 'clitimout' in defaults section (did you mean 'clitimeout'?)"]);
    assert.deepEqual(at(r.errors, 14), ["unknown keyword 'balence' in listen 'rabbitmq_cluster' (did you mean 'balance'?)"]);
    assert.deepEqual(at(r.errors, 15), ["unknown keyword 'optoin' in listen 'rabbitmq_cluster' (did you mean 'option'?)"]);
    assert.deepEqual(at(r.errors, 16), ["unknown timeout 'conect' (did you mean 'connect'?)"]);
    assert.deepEqual(at(r.errors, 17), ["unknown server option 'inetr' (did you mean 'inter'?)"]);
    // The misspelt clitimeout leaves the listen section without a client timeout.
    assert.match(at(r.errors, 12)[0]!, /no 'timeout client'/);
    // The correctly spelt old keywords are still only warnings.
    assert.deepEqual(lines(r.warnings), [8, 10]);
  });

  test('a misspelt section header is suggested too', () => {
    const r = importLines(...TCP_DEFAULTS, 'listn rabbitmq');
    assert.deepEqual(at(r.errors, 6), ["unknown keyword 'listn' in defaults section (did you mean 'listen'?)"]);
  });

  test('no suggestion when nothing is close', () => {
    const r = importLines(...TCP_DEFAULTS, 'listen x', '  bind :5672', '  frobnicate 3');
    assert.deepEqual(at(r.errors, 8), ["unknown keyword 'frobnicate' in listen 'x'"]);
  });

  test('TLS on bind and server lines', () => {
    const r = importFixture('broken-ssl.cfg');
    assert.deepEqual(lines(r.errors), [8, 9]);
    assert.match(at(r.errors, 8)[0]!, /^bind option 'ssl': warren does not terminate or originate TLS/);
    assert.match(at(r.errors, 9)[0]!, /^server option 'ssl'/);
  });
});

describe('keywords and syntax', () => {
  test("'timeout srvtimeout' style old names, and a standalone 'redispatch'", () => {
    const r = importLines(
      'defaults',
      '  mode tcp',
      '  timeout contimeout 4s',
      '  timeout clitimeout 1h',
      '  timeout srvtimeout 1h',
      '  redispatch',
      'listen x :5672',
      '  server a 10.0.0.1:5672',
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(at(r.warnings, 3), ["'timeout contimeout' is a deprecated keyword: imported as 'timeout connect'"]);
    assert.deepEqual(at(r.warnings, 4), ["'timeout clitimeout' is a deprecated keyword: imported as 'timeout client'"]);
    assert.deepEqual(at(r.warnings, 5), ["'timeout srvtimeout' is a deprecated keyword: imported as 'timeout server'"]);
    assert.deepEqual(at(r.warnings, 6), ["'redispatch' is a deprecated keyword: imported as 'option redispatch'"]);
    const doc = parse(r);
    assert.deepEqual(doc['defaults'].timeout, { connect: '4s', client: '1h', server: '1h' });
    assert.deepEqual(doc['defaults'].option, ['redispatch']);
  });

  test('quoting, escaping and comments as in HAProxy', () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'listen stats   # the stats page',
      '  bind :8404',
      '  mode http',
      "  stats realm 'Rabbit  Stats'",
      '  stats auth "ops:a b"  # two users',
      '  stats auth ops2:hash\\#tag',
      '  stats uri /st\\x61ts',
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(parse(r)['listen'].stats.stats, {
      enable: true,
      realm: 'Rabbit  Stats',
      auth: ['ops:a b', 'ops2:hash#tag'],
      uri: '/stats',
    });
  });

  test('an unterminated quote is an error', () => {
    const r = importLines('global', '  stats socket "/run/warren.sock');
    assert.deepEqual(r.errors, [{ line: 2, severity: 'error', message: 'unterminated double quote' }]);
  });

  test('keywords outside any section', () => {
    const r = importLines('maxconn 100', 'global');
    assert.match(at(r.errors, 1)[0]!, /outside of any section/);
  });

  test("a 'no option' in a section moves that option out of defaults into the other sections", () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      '  option redispatch 2',
      '  option tcplog',
      'listen a :5672',
      '  no option redispatch',
      '  server s 10.0.0.1:5672',
      'listen b :5673',
      '  server s 10.0.0.1:5673',
    );
    assert.deepEqual(r.errors, []);
    const doc = parse(r);
    assert.deepEqual(doc['defaults'].option, ['tcplog']);
    assert.equal(doc['listen'].a.option, undefined);
    assert.deepEqual(doc['listen'].b.option, ['redispatch 2']);
  });

  test('a server without a port in a listen section gets the bind port, with a warning', () => {
    const r = importLines(...TCP_DEFAULTS, 'listen x', '  bind :5672', '  server a 10.0.0.1 check');
    assert.deepEqual(r.errors, []);
    assert.match(at(r.warnings, 8)[0]!, /no port.*10\.0\.0\.1:5672/);
    assert.deepEqual(parse(r)['listen'].x.server, ['a 10.0.0.1:5672 check']);
  });

  test('harmless server options are dropped with a warning; bad values are errors', () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'listen x :5672',
      '  server a 10.0.0.1:5672 check id 3 cookie a inter 2s',
      '  server b 10.0.0.2:5672 check rise zero',
      '  server a 10.0.0.3:5672',
    );
    assert.match(at(r.warnings, 7)[0]!, /server options ignored: 'id 3'.*'cookie a'/);
    assert.deepEqual(parse(r)['listen'].x.server, ['a 10.0.0.1:5672 check inter 2s']);
    assert.match(at(r.errors, 8)[0]!, /^server 'b': 'rise zero'/);
    assert.match(at(r.errors, 9)[0]!, /duplicate server name 'a'/);
  });

  test("names HAProxy refuses are refused at their line, with HAProxy's rule (a quoted blank too)", () => {
    const rule = "expected only letters, digits, '-', '_', '.' and ':' (as in HAProxy)";
    const r = importLines(
      ...TCP_DEFAULTS,
      'listen rabbit/x :5672',
      '  server "a b" 10.0.0.1:5672 check',
      '  server a/b 10.0.0.2:5672',
      '  server ok-1.a:b 10.0.0.3:5672',
      'backend "be;2"',
      '  server s\\x07 10.0.0.4:5672',
    );
    assert.deepEqual(
      r.errors.map((e) => [e.line, e.message]),
      [
        [6, `invalid listen name 'rabbit/x': character '/' is not allowed, ${rule}`],
        [7, `invalid server name 'a b': character ' ' is not allowed, ${rule}`],
        [8, `invalid server name 'a/b': character '/' is not allowed, ${rule}`],
        [10, `invalid backend name 'be;2': character ';' is not allowed, ${rule}`],
        [11, `invalid server name 's\\u0007': character '\\u0007' is not allowed, ${rule}`],
      ],
    );
    assert.deepEqual(parse(r)['listen']['rabbit/x'].server, ['ok-1.a:b 10.0.0.3:5672']);
    // A valid name for HAProxy, but a JavaScript object's prototype: the section used to vanish.
    assert.deepEqual(importLines(...TCP_DEFAULTS, 'listen __proto__ :5672', '  server s 10.0.0.1:5672').errors, [
      { line: 6, severity: 'error', message: "'__proto__' cannot be a listen name in warren: it names the prototype of a JavaScript object" },
    ]);
  });

  test("HAProxy 2.2 'http-check send' sets the check request", () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'backend b',
      '  option httpchk',
      '  http-check send meth GET uri /api/health/checks/alarms hdr Authorization "Basic Z3Vlc3Q6Z3Vlc3Q="',
      '  http-check expect rstatus ^2',
      '  server a 10.0.0.1:5672 check port 15672',
      'frontend f',
      '  bind :5672',
      '  default_backend b',
    );
    assert.deepEqual(r.errors, []);
    const be = parse(r)['backend'].b;
    assert.deepEqual(be.option, ['httpchk GET /api/health/checks/alarms']);
    assert.deepEqual(be['http-check'], { expect: 'rstatus ^2', auth: 'guest:guest' });
  });

  test('use_backend: unknown backend, combined conditions and ACLs nobody uses', () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'frontend f',
      '  bind :5672',
      '  acl a src 10.0.0.0/8',
      '  acl b dst_port 5672',
      '  use_backend bee if a b',
      '  use_backend nope unless { dst 10.1.1.1 }',
      '  use_backend be unless !a',
      '  default_backend be',
      'backend be',
      '  server s 10.0.0.1:5672',
    );
    assert.match(at(r.errors, 10).join(), /not combinations/);
    assert.match(at(r.errors, 11)[0]!, /no backend named 'nope'/);
    assert.match(at(r.errors, 10).join(), /no backend named 'bee' \(did you mean 'be'\?\)/);
    assert.match(at(r.warnings, 9)[0]!, /acl 'b' ignored/);
    // `unless !a` is `if a`; the rule naming a missing backend is still written (and reported).
    assert.deepEqual(parse(r)['frontend'].f.use_backend, ['nope unless { dst 10.1.1.1 }', 'be if { src 10.0.0.0/8 }']);
  });

  test('mode http proxying is rejected, a stats page is not', () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'listen mgmt',
      '  bind :15672',
      '  mode http',
      '  server a 10.0.0.1:15672',
      'listen stats',
      '  bind :8404',
      '  mode http',
      '  stats enable',
    );
    assert.deepEqual(lines(r.errors), [8]);
  });

  test('a stats page forgotten in tcp mode is imported as mode http with a warning', () => {
    const r = importLines(...TCP_DEFAULTS, 'listen stats :8404', '  stats enable', '  stats uri /s');
    assert.deepEqual(r.errors, []);
    assert.match(at(r.warnings, 7)[0]!, /'stats' needs mode http/);
    assert.equal(parse(r)['listen'].stats.mode, 'http');
  });

  test('missing timeouts that warren requires are errors at the section line', () => {
    const r = importLines('listen x', '  bind :5672', '  server a 10.0.0.1:5672');
    assert.deepEqual(lines(r.errors), [1, 1, 1]);
    assert.match(r.errors.map((e) => e.message).join('\n'), /timeout client[\s\S]*timeout connect[\s\S]*timeout server/);
  });

  test('the same address bound twice', () => {
    const r = importLines(...TCP_DEFAULTS, 'listen a :5672', '  server s 10.0.0.1:5672', 'listen b', '  bind 0.0.0.0:5672', '  server s 10.0.0.1:5672');
    assert.match(at(r.errors, 9)[0]!, /already bound by listen 'a'/);
  });

  test('bind: UNIX sockets, port ranges and unknown options', () => {
    const r = importLines(...TCP_DEFAULTS, 'frontend f', '  bind /run/x.sock', '  bind :5672-5680', '  bind :5672 nmae x', '  default_backend f');
    assert.match(at(r.errors, 7)[0]!, /UNIX sockets/);
    assert.match(at(r.errors, 8)[0]!, /port ranges/);
    assert.match(at(r.errors, 9)[0]!, /unknown bind option 'nmae' \(did you mean 'name'\?\)/);
  });

  test('other sections are rejected once, their lines skipped', () => {
    const r = importLines('userlist admins', '  user admin password $5$x', ...TCP_DEFAULTS);
    assert.deepEqual(lines(r.errors), [1]);
  });
});

describe('the YAML passes the warren config loader', () => {
  for (const name of ['rabbitmq-classic.cfg', 'rabbitmq-modern.cfg', 'debian-default.cfg']) {
    test(name, () => {
      const r = importFixture(name);
      assert.deepEqual(r.errors, []);
      const config = loadProxyConfigText(r.yaml, `${name}.yaml`);
      assert.ok(config.frontends.length + config.stats.length > 0);
    });
  }

  test('the classic tutorial resolves to the expected runtime config', () => {
    const config = loadProxyConfigText(importFixture('rabbitmq-classic.cfg').yaml, 'classic.yaml');
    const be = config.backends.find((b) => b.name === 'rabbitmq_cluster')!;
    assert.equal(be.timeouts.connect, 5000);
    assert.equal(be.timeouts.server, 50000);
    assert.equal(be.redispatch, -1);
    assert.deepEqual(
      be.servers.map((s) => [s.name, s.host, s.port, s.inter]),
      [
        ['rabbitmq_node1', '192.168.1.101', 5672, 5000],
        ['rabbitmq_node2', '192.168.1.102', 5672, 5000],
        ['rabbitmq_node3', '192.168.1.103', 5672, 5000],
      ],
    );
    assert.equal(config.frontends.find((f) => f.name === 'rabbitmq_cluster')!.timeouts.client, 50000);
    assert.deepEqual(config.stats.map((s) => [s.name, s.uri, s.refresh]), [['monitor', '/stats', 5000]]);
  });
});

describe('an import without errors is checked by the loader: what it refuses is an error at its line', () => {
  test('values the importer passes on unchecked: a use_backend address, an http-check status', () => {
    const r = importLines(
      ...TCP_DEFAULTS,
      'frontend fe',
      '  bind :5672',
      '  use_backend be if { src 10.0.0.300 }',
      '  default_backend be',
      'backend be',
      '  option httpchk GET /health',
      '  http-check expect status twohundred',
      '  server s 10.0.0.1:5672 check',
    );
    assert.deepEqual(r.errors, [
      { line: 8, severity: 'error', message: `frontend.fe.use_backend[0]: 'src 10.0.0.300': expected an IPv4/IPv6 address or address/prefix` },
      { line: 12, severity: 'error', message: `backend.be.http-check.expect: expected 'status <code>[,<code>...]' or 'rstatus <regex>', got 'status twohundred'` },
    ]);
    // The YAML is still there for a look, with the errors in its header; the CLI does not print it.
    assert.match(r.yaml, /^# 2 error\(s\)/m);
  });

  test('a file with no proxy section is refused at line 1', () => {
    assert.deepEqual(importLines('global', '  maxconn 100', ...TCP_DEFAULTS).errors, [
      { line: 1, severity: 'error', message: `expected at least one 'listen' or 'frontend' section` },
    ]);
  });

  test('an import with errors of its own is not checked again (its missing parts would be reported twice)', () => {
    const r = importLines(...TCP_DEFAULTS, 'frontend fe', '  bind :5672', '  use_backend be if { src 10.0.0.300 }', '  default_backend be', 'backend be', '  server s 10.0.0.1:5672 ssl');
    assert.deepEqual(lines(r.errors), [11]);
    assert.match(r.errors[0]!.message, /^server option 'ssl'/);
  });
});

// Found by test/unit/fuzz-import.test.ts: the header quoted the native file's words as they were,
// so a NUL made the written YAML unloadable and a lone CR ended the comment (the rest of the
// message became YAML).
test('control characters in quoted words are escaped in the header: the output stays loadable, nothing leaks out of the comment', () => {
  const r = importLines('global', '  maxconn\u0000 10', '  bogus\rlisten: {injected: 1}', ...TCP_DEFAULTS, 'listen app', '  bind 127.0.0.1:5672', '  server s1 127.0.0.1:5673');
  assert.ok(r.errors.length + r.warnings.length >= 2, 'both words are reported');
  const doc = parse(r);
  assert.deepEqual(Object.keys(doc['listen']), ['app']);
  assert.match(r.yaml, /maxconn\\u0000/);
  assert.match(r.yaml, /bogus\\u000dlisten/);
  assert.doesNotThrow(() => loadProxyConfigText(r.yaml, 'imported.yaml'));
});
