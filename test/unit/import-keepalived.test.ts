import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { importKeepalivedConf, looksLikeKeepalivedConf, type ImportMessage, type ImportResult } from '../../src/config/import/keepalived-conf.js';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';

// Compiled to dist/test/unit/: the fixtures stay in the source tree.
const FIXTURES = new URL('../../../test/fixtures/keepalived/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const importFixture = (name: string): ImportResult => importKeepalivedConf(fixture(name), `test/fixtures/keepalived/${name}`);

type Doc = Record<string, any>;
const parse = (r: ImportResult): Doc => yaml.load(r.yaml) as Doc;
const at = (msgs: ImportMessage[], line: number): string[] => msgs.filter((m) => m.line === line).map((m) => m.message);
const lines = (msgs: ImportMessage[]): number[] => msgs.map((m) => m.line);
/** Imports an inline config, its lines joined with newlines (line 1 is the first element). */
const importLines = (...text: string[]): ImportResult => importKeepalivedConf(text.join('\n'), 'inline.conf');

const PASS_WARNING =
  'auth_type PASS imported as HMAC-SHA256 with the same secret (PASS sends the password in clear in every advert); a short password can be guessed from one captured advert: use a long random secret on every host (32 random bytes in global_defs.auth_secret_file)';
const CHK_WARNING = `'/etc/keepalived/haproxy_chk.sh' checks HAProxy: make it check warren proxy, or use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`;

/** A minimal valid instance around `body` lines. */
const instance = (...body: string[]): string[] => [
  'vrrp_instance VI_1 {',
  '  interface eth0',
  '  virtual_router_id 51',
  '  authentication {',
  '    auth_type PASS',
  '    auth_pass 1111',
  '  }',
  '  virtual_ipaddress {',
  '    192.168.1.100',
  '  }',
  ...body,
  '}',
];

describe("the tutorial's keepalived.conf, host A (MASTER 100) and host B (BACKUP 90)", () => {
  for (const [name, state, priority] of [
    ['tutorial-master.conf', 'MASTER', 100],
    ['tutorial-backup.conf', 'BACKUP', 90],
  ] as const) {
    const r = importFixture(name);
    test(`${name}: no errors; warnings for PASS and the haproxy check script, at their lines`, () => {
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.warnings, [
        { line: 7, severity: 'warning', message: CHK_WARNING },
        { line: 19, severity: 'warning', message: PASS_WARNING },
      ]);
    });

    test(`${name}: the same sections and keywords, PASS converted to HMAC-SHA256 with the same secret`, () => {
      assert.deepEqual(parse(r), {
        global_defs: { router_id: 'LVS_DEVEL' },
        vrrp_script: { chk_haproxy: { script: '/etc/keepalived/haproxy_chk.sh', interval: 2, weight: -20 } },
        vrrp_instance: {
          VI_1: {
            state,
            interface: 'eth0',
            virtual_router_id: 51,
            priority,
            advert_int: 1,
            authentication: { auth_type: 'HMAC-SHA256', auth_pass: '1111' },
            virtual_ipaddress: ['192.168.1.100'],
            track_script: ['chk_haproxy'],
          },
        },
      });
    });

    test(`${name}: the YAML loads, with keepalived's meaning in milliseconds`, () => {
      const c = loadVrrpConfigText(r.yaml, 'imported.yaml');
      const i = c.instances[0]!;
      assert.deepEqual([i.initialState, i.priority, i.vrid, i.advertInterval, i.auth.secret], [state, priority, 51, 1000, '1111']);
      assert.deepEqual(i.virtualIpaddresses.map((v) => `${v.address}/${v.prefix} ${v.dev}`), ['192.168.1.100/32 eth0']);
      assert.deepEqual(i.trackScripts, [{ name: 'chk_haproxy', weight: -20 }]);
      assert.equal(c.scripts[0]!.interval, 2000);
    });
  }

  test('the header names the source file and lists the messages as comments', () => {
    const r = importFixture('tutorial-master.conf');
    assert.match(r.yaml, /^# Imported from test\/fixtures\/keepalived\/tutorial-master\.conf by 'warren import'\.\n/);
    assert.match(r.yaml, /^# 0 error\(s\), 2 warning\(s\)/m);
    assert.match(r.yaml, /^# {3}line 19: warning: auth_type PASS imported as HMAC-SHA256/m);
  });
});

describe('the unicast variant', () => {
  const r = importFixture('unicast.conf');
  const doc = parse(r);

  test('imports without errors and loads', () => {
    assert.deepEqual(r.errors, []);
    const c = loadVrrpConfigText(r.yaml, 'imported.yaml');
    const i = c.instances[0]!;
    assert.equal(i.srcIp, '10.0.0.11');
    assert.deepEqual(i.unicastPeers, ['10.0.0.12']);
    assert.equal(i.mcastGroup, null);
    assert.equal(i.nopreempt, true);
    assert.deepEqual(i.trackScripts, [{ name: 'chk_haproxy', weight: 5 }]);
    assert.deepEqual(i.trackInterfaces, [{ name: 'ens192', weight: 0 }]);
    assert.deepEqual(i.notify.master?.argv, ['/etc/keepalived/notify.sh', 'master']);
    assert.deepEqual(i.notify.master?.user, { user: 'root', group: null });
    assert.deepEqual(c.scripts[0]!.kind === 'script' && c.scripts[0]!.command.argv, ['killall', '-0', 'haproxy']);
  });

  test('keeps every keyword it knows, in the order of the file', () => {
    assert.deepEqual(doc['global_defs'], { router_id: 'lb1', script_user: 'root', enable_script_security: true });
    assert.deepEqual(Object.keys(doc['vrrp_instance']['haproxy-vip']), [
      'state', 'priority', 'interface', 'virtual_router_id', 'advert_int', 'nopreempt', 'authentication', 'unicast_src_ip', 'unicast_peer',
      'virtual_ipaddress', 'track_script', 'track_interface', 'notify_master', 'notify_backup', 'notify_fault', 'notify',
    ]);
    assert.deepEqual(doc['vrrp_instance']['haproxy-vip'].virtual_ipaddress, ['10.0.0.100/24 dev ens192 label ens192:vip']);
    assert.deepEqual(doc['vrrp_instance']['haproxy-vip'].track_script, ['chk_haproxy weight 5']);
    assert.equal(doc['vrrp_script'].chk_haproxy.script, 'killall -0 haproxy');
  });

  test("warns: ignored globals, 'killall -0 haproxy' (suggesting the built-in tracker), PASS, keepalived's 8-character auth_pass", () => {
    for (const [line, kw] of [[6, 'vrrp_skip_check_adv_addr'], [7, 'vrrp_garp_interval'], [8, 'vrrp_gna_interval']] as const) {
      assert.deepEqual(at(r.warnings, line), [`'${kw}' ignored: warren's adverts are its own authenticated UDP messages, not VRRP packets`]);
    }
    assert.deepEqual(at(r.warnings, 12), [
      `'killall -0 haproxy' only checks that a process named haproxy exists: once warren proxy replaces HAProxy it fails for good; use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`,
    ]);
    assert.deepEqual(at(r.warnings, 27), [PASS_WARNING]);
    assert.deepEqual(at(r.warnings, 28), [
      "keepalived uses only the first 8 characters of auth_pass ('s3cr3tpa'); warren uses all 14: make sure the whole secret is the same on every host",
    ]);
    assert.deepEqual(lines(r.warnings), [6, 7, 8, 12, 27, 28]);
  });
});

describe('active/active: two instances, two VIPs, sub-second adverts, braces on the same line', () => {
  const r = importFixture('active-active.conf');
  test('imports without errors and loads', () => {
    assert.deepEqual(r.errors, []);
    const c = loadVrrpConfigText(r.yaml, 'imported.yaml');
    assert.deepEqual(
      c.instances.map((i) => [i.name, i.initialState, i.vrid, i.priority, i.advertInterval, i.auth.secret, i.virtualIpaddresses[0]!.address]),
      [
        ['VI_1', 'MASTER', 51, 100, 100, '1111', '192.168.1.100'],
        ['VI_2', 'BACKUP', 52, 90, 100, '2222', '192.168.1.101'],
      ],
    );
    assert.equal(c.global.routerId, 'lbA'); // `global_defs` with its `{` on the next line
  });
  test("warns on 'pidof haproxy'", () => {
    assert.match(at(r.warnings, 7)[0]!, /^'\/usr\/bin\/pidof haproxy' only checks that a process named haproxy exists/);
  });
});

describe('broken files: errors with line numbers', () => {
  test('typos get "did you mean"; values the loader refuses are reported at their keepalived.conf line', () => {
    const r = importFixture('broken-typo.conf');
    assert.deepEqual(r.errors, [
      { line: 7, severity: 'error', message: "unknown keyword 'intervall' in vrrp_script chk_haproxy (did you mean 'interval'?)" },
      { line: 13, severity: 'error', message: "unknown keyword 'virtual_routerid' in vrrp_instance VI_1 (did you mean 'virtual_router_id'?)" },
      { line: 14, severity: 'error', message: 'vrrp_instance.VI_1.priority: expected an integer from 1 to 255, got 300' },
      { line: 21, severity: 'error', message: "vrrp_instance.VI_1.virtual_ipaddress[0]: '192.168.1.100/33': expected a prefix length from 1 to 32" },
      { line: 27, severity: 'error', message: "unknown keyword 'vrrp_instanse' (did you mean 'vrrp_instance'?)" },
    ]);
    assert.deepEqual(at(r.warnings, 3), ["'smtp_alert' ignored: warren sends no email: use a notify script"]);
  });

  test('LVS, sync groups and virtual routes are errors; harmless keywords are warnings', () => {
    const r = importFixture('broken-unsupported.conf');
    assert.deepEqual(r.errors, [
      { line: 4, severity: 'error', message: "'vrrp_sync_group' is not supported by warren: warren has no sync groups: each vrrp_instance moves on its own (track the same scripts to move them together)" },
      { line: 18, severity: 'error', message: "'virtual_routes' in vrrp_instance VI_1 is not supported by warren: warren does not add routes with the VIP: configure them in the operating system (or a notify script)" },
      { line: 22, severity: 'error', message: "'virtual_server' is not supported by warren: LVS (IPVS) load balancing is not part of warren: warren proxy balances the traffic (warren import converts haproxy.cfg)" },
    ]);
    assert.deepEqual(r.warnings, [
      {
        line: 9,
        severity: 'warning',
        message:
          'vrrp_instance VI_1 has no authentication: warren authenticates every advert with HMAC-SHA256; imported with global_defs.auth_secret_file /etc/warren/vrrp.key: put the same random secret there on every host (head -c 32 /dev/urandom | base64 > /etc/warren/vrrp.key)',
      },
      { line: 14, severity: 'warning', message: "'use_vmac' ignored: warren moves the address on the interface itself and announces it with gratuitous ARP" },
    ]);
    // What did carry over still loads: the secret comes from the file.
    const c = loadVrrpConfigText(r.yaml, 'imported.yaml');
    assert.equal(c.instances[0]!.auth.secretFile, '/etc/warren/vrrp.key');
  });

  test('block structure: unclosed and stray braces, blocks where values belong, values where blocks belong', () => {
    const r = importLines(
      ...instance('  priority {', '    100', '  }', '  track_script chk', '}'),
      'vrrp_instance VI_2 {',
      '  interface eth1',
    );
    assert.deepEqual(r.errors, [
      { line: 11, severity: 'error', message: "'priority' expects a value, not a block" },
      { line: 14, severity: 'error', message: "'track_script chk' expects a block: { ... }" },
      { line: 16, severity: 'error', message: "unexpected '}': no block is open" },
      { line: 17, severity: 'error', message: "'vrrp_instance VI_2' opens a block that is never closed: missing '}'" },
    ]);
  });

  test('a missing } before the next section is named as such', () => {
    const r = importLines('vrrp_script chk {', '  script /bin/true', ...instance());
    assert.deepEqual(at(r.errors, 3), ["'vrrp_instance' inside vrrp_script chk: a '}' is missing before this line"]);
    assert.deepEqual(at(r.errors, 1), ["'vrrp_script chk' opens a block that is never closed: missing '}'"]);
  });

  test('include, conditional lines and parameters are refused; unknown top-level keywords too', () => {
    const r = importLines('include /etc/keepalived/conf.d/*.conf', '@main router_id a', '$PRIO=100', 'vrrp_scripts chk {', '  script /bin/true', '}', ...instance());
    assert.deepEqual(r.errors, [
      { line: 1, severity: 'error', message: "'include' is not supported by warren: the importer does not follow include: import the included file (or merge the files) first" },
      { line: 2, severity: 'error', message: "conditional configuration ('@id ...') is not supported by the importer: keep this host's lines, without the '@id' prefix, and import again" },
      { line: 3, severity: 'error', message: "parameter definitions ('$NAME=...') are not supported by the importer: substitute them, then import again" },
      { line: 4, severity: 'error', message: "unknown keyword 'vrrp_scripts' (did you mean 'vrrp_script'?)" },
    ]);
  });

  test('a track_script naming no vrrp_script is reported at its line, with "did you mean"', () => {
    const r = importLines('vrrp_script chk_haproxy {', '  script /bin/true', '}', ...instance('  track_script {', '    chk_haproxi', '  }'));
    assert.deepEqual(r.errors, [
      { line: 15, severity: 'error', message: "vrrp_instance.VI_1.track_script[0]: no vrrp_script named 'chk_haproxi' (did you mean 'chk_haproxy'?)" },
    ]);
  });

  test('names: keepalived\'s quoted names with blanks or control characters are refused at their line; "/" is kept', () => {
    const rule = 'is not allowed, expected one word without blanks or control characters';
    const r = importLines(
      'vrrp_script "chk x" {',
      '  script /bin/true',
      '}',
      ...instance().map((l) => l.replace('VI_1', '"VI 1"')),
      ...instance('  track_script {', '    "chk x"', '  }').map((l) => l.replace('VI_1', '"VI_2\u0007"').replace('51', '52')),
    );
    assert.deepEqual(r.errors, [
      { line: 1, severity: 'error', message: `invalid vrrp_script name 'chk x': character ' ' ${rule}` },
      { line: 4, severity: 'error', message: `invalid vrrp_instance name 'VI 1': character ' ' ${rule}` },
      { line: 15, severity: 'error', message: `invalid vrrp_instance name 'VI_2\\u0007': character \\u0007 ${rule}` },
    ]);
    const ok = importLines('vrrp_script chk/x {', '  script /bin/true', '}', ...instance('  track_script {', '    "chk x"', '    chk/x', '  }').map((l) => l.replace('VI_1', 'rabbit/vip')));
    assert.deepEqual(ok.errors, [{ line: 15, severity: 'error', message: `track_script: invalid vrrp_script name 'chk x': character ' ' ${rule}` }]);
    assert.deepEqual(Object.keys(parse(ok)['vrrp_instance']), ['rabbit/vip']);
    assert.deepEqual(parse(ok)['vrrp_instance']['rabbit/vip'].track_script, ['chk/x']);
    assert.deepEqual(importLines(...instance().map((l) => l.replace('VI_1', '__proto__'))).errors, [
      { line: 1, severity: 'error', message: "'__proto__' cannot be a vrrp_instance name in warren: it names the prototype of a JavaScript object" },
    ]);
  });

  test('a file with no vrrp_instance', () => {
    assert.deepEqual(importLines('global_defs {', '  router_id a', '}').errors, [{ line: 1, severity: 'error', message: 'no vrrp_instance: nothing to import' }]);
  });
});

describe('keepalived semantics carried over', () => {
  test('nopreempt and preempt_delay are dropped on a MASTER (keepalived clears them), with warnings', () => {
    const r = importLines(...instance('  state MASTER', '  nopreempt', '  preempt_delay 10'));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(at(r.warnings, 12), ["'nopreempt' ignored: it needs 'state BACKUP' (keepalived clears it when the initial state is MASTER)"]);
    assert.deepEqual(at(r.warnings, 13), ["'preempt_delay' ignored: it needs 'state BACKUP' (keepalived clears it when the initial state is MASTER)"]);
    const i = parse(r)['vrrp_instance'].VI_1;
    assert.equal(i.nopreempt, undefined);
    assert.equal(i.preempt_delay, undefined);
  });

  test("on a BACKUP they are kept; 'preempt' after 'nopreempt' cancels it", () => {
    const kept = parse(importLines(...instance('  state BACKUP', '  nopreempt', '  preempt_delay 4.5')))['vrrp_instance'].VI_1;
    assert.deepEqual([kept.nopreempt, kept.preempt_delay], [true, 4.5]);
    const r = importLines(...instance('  state BACKUP', '  nopreempt', '  preempt'));
    assert.equal(parse(r)['vrrp_instance'].VI_1.nopreempt, undefined);
    assert.deepEqual(at(r.warnings, 13), ["'preempt' is the default: nothing to import"]);
  });

  test('notify: a quoted command line with arguments, or SCRIPT [USER [GROUP]] (with a warning when unquoted)', () => {
    const r = importLines(
      ...instance('  notify_master "/etc/keepalived/notify.sh master" warren', '  notify_backup /etc/keepalived/notify.sh backup', '  notify_fault "/x fault"', '  notify_fault /y'),
    );
    const i = parse(r)['vrrp_instance'].VI_1;
    assert.deepEqual(i.notify_master, { script: '/etc/keepalived/notify.sh master', user: 'warren' });
    assert.deepEqual(i.notify_backup, { script: '/etc/keepalived/notify.sh', user: 'backup' });
    assert.equal(i.notify_fault, '/x fault');
    assert.deepEqual(at(r.warnings, 12), [
      "'backup' is taken as the user (and group) to run /etc/keepalived/notify.sh as (keepalived's syntax: notify_backup SCRIPT [USER [GROUP]]); quote the command line if these are its arguments",
    ]);
    assert.deepEqual(at(r.warnings, 14), ["'notify_fault' is already given at line 13: this one is ignored (as keepalived does)"]);
  });

  test('track weights, interfaces, excluded addresses, unicast peers with TTLs', () => {
    const r = importLines(
      'vrrp_script chk {',
      '  script /bin/true',
      '  weight -10',
      '}',
      ...instance(
        '  track_script {',
        '    chk weight -30',
        '  }',
        '  track_interface {',
        '    eth0',
        '    eth1 weight -5',
        '  }',
        '  virtual_ipaddress_excluded {',
        '    192.168.1.101/24',
        '  }',
        '  unicast_peer {',
        '    192.168.1.12 min_ttl 255',
        '  }',
      ),
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(at(r.warnings, 22), [
      "'virtual_ipaddress_excluded' imported into virtual_ipaddress: they move with the instance the same way, and warren's adverts list them too",
    ]);
    assert.deepEqual(at(r.warnings, 26), ["'min_ttl 255' ignored: warren checks every advert's HMAC, not its TTL"]);
    const i = loadVrrpConfigText(r.yaml, 'imported.yaml').instances[0]!;
    assert.deepEqual(i.trackScripts, [{ name: 'chk', weight: -30 }]);
    assert.deepEqual(i.trackInterfaces, [
      { name: 'eth0', weight: 0 },
      { name: 'eth1', weight: -5 },
    ]);
    assert.deepEqual(i.virtualIpaddresses.map((v) => v.text), ['192.168.1.100', '192.168.1.101/24']);
    assert.deepEqual(i.unicastPeers, ['192.168.1.12']);
  });

  test('comments with # and ! anywhere, quoted strings keep them', () => {
    const r = importLines('! header', 'vrrp_script chk { # the check', '  script "/bin/echo #1 !2"  ! trailing', '}', ...instance('  track_script {', '    chk', '  }'));
    assert.deepEqual(r.errors, []);
    assert.equal(parse(r)['vrrp_script'].chk.script, '/bin/echo #1 !2');
  });
});

describe('looksLikeKeepalivedConf tells keepalived.conf from haproxy.cfg and YAML', () => {
  test('by its block keywords', () => {
    assert.equal(looksLikeKeepalivedConf(fixture('tutorial-master.conf')), true);
    assert.equal(looksLikeKeepalivedConf(fixture('broken-unsupported.conf')), true);
    assert.equal(looksLikeKeepalivedConf('vrrp_instance VI_1\n{\n}\n'), true);
    assert.equal(looksLikeKeepalivedConf(readFileSync(new URL('../../../test/fixtures/haproxy/rabbitmq-classic.cfg', import.meta.url), 'utf8')), false);
    assert.equal(looksLikeKeepalivedConf(readFileSync(new URL('../../../config/keepalived-a.yaml', import.meta.url), 'utf8')), false);
    assert.equal(looksLikeKeepalivedConf('# global_defs {\n'), false);
  });
});
