import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import { ConfigError } from '../../src/config/load.js';
import { isVrrpYaml, loadVrrpConfig, loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { secondsToMs, splitCommand } from '../../src/config/vrrp-schema.js';

const loadText = (file: string): string => readFileSync(file, 'utf8');

/** Loads an inline config, its lines joined with newlines (line 1 is the first element). */
const load = (...lines: string[]) => loadVrrpConfigText(lines.join('\n'), 'k.yaml');

/** The formatted problems of an inline config that must not load. */
function errors(...lines: string[]): string[] {
  try {
    load(...lines);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

const INSTANCE = [
  'vrrp_instance:',
  '  VI_1:',
  '    interface: eth0',
  '    virtual_router_id: 51',
  '    virtual_ipaddress: [198.51.100.100/24]',
  '    authentication: {auth_type: HMAC-SHA256, auth_pass: 0123456789abcdef0123}',
];

describe('the shipped configs', () => {
  for (const [file, routerId, state, priority] of [
    ['config/keepalived-a.yaml', 'lbA', 'MASTER', 100],
    ['config/keepalived-b.yaml', 'lbB', 'BACKUP', 90],
  ] as const) {
    test(`${file} is valid: ${state} ${priority}, built-in proxy tracker, VIP 192.168.1.100/24 on eth0`, () => {
      const c = loadVrrpConfig(file);
      assert.equal(c.global.routerId, routerId);
      assert.deepEqual(c.global.scriptUser, { user: 'warren', group: null });
      assert.equal(c.global.enableScriptSecurity, true);
      assert.equal(c.global.authSecretFile, '/etc/warren/vrrp.key');
      assert.deepEqual(c.scripts, [
        { name: 'chk_proxy', kind: 'proxy', url: 'http://127.0.0.1:8888/healthz', interval: 500, timeout: 400, weight: -60, rise: 2, fall: 1, initFail: false },
      ]);
      assert.equal(c.instances.length, 1);
      const i = c.instances[0]!;
      assert.equal(i.initialState, state);
      assert.equal(i.priority, priority);
      assert.equal(i.interface, 'eth0');
      assert.equal(i.vrid, 51);
      assert.equal(i.advertInterval, 1000);
      assert.deepEqual(i.auth, { type: 'HMAC-SHA256', secret: null, secretFile: '/etc/warren/vrrp.key' });
      assert.deepEqual(
        i.virtualIpaddresses.map((v) => [v.address, v.prefix, v.dev, v.label]),
        [['192.168.1.100', 24, 'eth0', 'eth0:vip']],
      );
      assert.deepEqual(i.trackScripts, [{ name: 'chk_proxy', weight: -60 }]);
      assert.equal(i.trackPrimaryInterface, true);
      assert.equal(i.mcastGroup, '224.0.0.18');
      assert.deepEqual(c.warnings, []);
    });
  }

  test('the two hosts differ only in router_id, state and priority', () => {
    const a = yaml.load(loadText('config/keepalived-a.yaml')) as any;
    const b = yaml.load(loadText('config/keepalived-b.yaml')) as any;
    assert.deepEqual({ ...a.global_defs, router_id: 'x' }, { ...b.global_defs, router_id: 'x' });
    assert.deepEqual(a.vrrp_script, b.vrrp_script);
    assert.deepEqual({ ...a.vrrp_instance.VI_1, state: 'x', priority: 0 }, { ...b.vrrp_instance.VI_1, state: 'x', priority: 0 });
  });
});

describe('resolution: keepalived units (seconds) become milliseconds, keepalived defaults apply', () => {
  test('the brief example: every keyword', () => {
    const c = load(
      'global_defs: {router_id: nodeA, script_user: warren, enable_script_security: true, vrrp_garp_master_delay: 1, vrrp_garp_master_repeat: 3, vrrp_garp_master_refresh: 60, auth_secret_file: /etc/warren/vrrp.key}',
      'vrrp_script:',
      '  chk_haproxy: {script: "/etc/warren/haproxy_chk.sh", interval: 2, timeout: 1, weight: -20, rise: 1, fall: 2, user: warren}',
      '  chk_proxy: {proxy: "http://127.0.0.1:8888/healthz", interval: 0.5, weight: -60, fall: 1, rise: 2}',
      'vrrp_instance:',
      '  VI_1:',
      '    state: MASTER',
      '    interface: eth0',
      '    virtual_router_id: 51',
      '    priority: 100',
      '    advert_int: 0.1',
      '    nopreempt: false',
      '    preempt_delay: 0',
      '    unicast_src_ip: 198.51.100.11',
      '    unicast_peer: [198.51.100.12]',
      '    authentication: {auth_type: HMAC-SHA256, auth_pass: secret}',
      '    virtual_ipaddress: ["198.51.100.100/24 dev eth0 label eth0:vip"]',
      '    track_script: [chk_haproxy, {chk_proxy: {weight: -30}}]',
      '    track_interface: [eth0, "eth1 weight -10"]',
      '    notify_master: "/etc/warren/notify.sh master"',
      '    notify_backup: {script: "/etc/warren/notify.sh \'to backup\'", user: root wheel}',
      '    notify: /etc/warren/notify.sh',
    );
    assert.deepEqual(c.global, {
      routerId: 'nodeA',
      scriptUser: { user: 'warren', group: null },
      enableScriptSecurity: true,
      mcastGroup4: '224.0.0.18',
      mcastGroup6: 'ff02::12',
      authSecretFile: '/etc/warren/vrrp.key',
      garp: { masterDelay: 1000, masterRepeat: 3, masterRefresh: 60_000, masterRefreshRepeat: 1 },
      port: 5798,
      statusListen: { host: '127.0.0.1', port: 8889 },
      proxySocket: null,
    });
    assert.deepEqual(c.scripts, [
      {
        name: 'chk_haproxy',
        kind: 'script',
        command: { text: '/etc/warren/haproxy_chk.sh', argv: ['/etc/warren/haproxy_chk.sh'], user: { user: 'warren', group: null } },
        interval: 2000,
        timeout: 1000,
        weight: -20,
        rise: 1,
        fall: 2,
        initFail: false,
      },
      { name: 'chk_proxy', kind: 'proxy', url: 'http://127.0.0.1:8888/healthz', interval: 500, timeout: 500, weight: -60, rise: 2, fall: 1, initFail: false },
    ]);
    const i = c.instances[0]!;
    assert.deepEqual(i, {
      name: 'VI_1',
      initialState: 'MASTER',
      interface: 'eth0',
      vrid: 51,
      priority: 100,
      addressOwner: false,
      advertInterval: 100,
      nopreempt: false,
      preemptDelay: 0,
      srcIp: '198.51.100.11',
      unicastPeers: ['198.51.100.12'],
      mcastGroup: null,
      family: 4,
      auth: { type: 'HMAC-SHA256', secret: 'secret', secretFile: null },
      virtualIpaddresses: [
        { text: '198.51.100.100/24 dev eth0 label eth0:vip', address: '198.51.100.100', prefix: 24, family: 4, dev: 'eth0', label: 'eth0:vip', brd: null, scope: null },
      ],
      trackScripts: [
        { name: 'chk_haproxy', weight: -20 },
        { name: 'chk_proxy', weight: -30 },
      ],
      trackInterfaces: [
        { name: 'eth0', weight: 0 },
        { name: 'eth1', weight: -10 },
      ],
      trackPrimaryInterface: true,
      notify: {
        master: { text: '/etc/warren/notify.sh master', argv: ['/etc/warren/notify.sh', 'master'], user: { user: 'warren', group: null } },
        backup: { text: "/etc/warren/notify.sh 'to backup'", argv: ['/etc/warren/notify.sh', 'to backup'], user: { user: 'root', group: 'wheel' } },
        fault: null,
        stop: null,
        any: { text: '/etc/warren/notify.sh', argv: ['/etc/warren/notify.sh'], user: { user: 'warren', group: null } },
      },
      garp: { masterDelay: 1000, masterRepeat: 3, masterRefresh: 60_000, masterRefreshRepeat: 1 },
    });
    // A script that checks HAProxy, and a short auth_pass: accepted, with warnings at their lines.
    assert.deepEqual(c.warnings, [
      {
        file: 'k.yaml',
        line: 3,
        path: 'vrrp_script.chk_haproxy.script',
        message: `'/etc/warren/haproxy_chk.sh' checks HAProxy: make it check warren proxy, or use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`,
      },
      {
        file: 'k.yaml',
        line: 16,
        path: 'vrrp_instance.VI_1.authentication.auth_pass',
        message: 'a 6-character secret can be guessed from one captured advert: use at least 16 random characters, or 32 random bytes in an auth_secret_file',
      },
    ]);
  });

  test("keepalived's defaults: BACKUP, priority 100, advert_int 1 s, script interval 1 s, timeout = interval, rise/fall 1, weight 0", () => {
    const c = load('vrrp_script:', '  chk: {script: /bin/true}', ...INSTANCE, '    track_script: [chk]');
    const i = c.instances[0]!;
    assert.equal(i.initialState, 'BACKUP');
    assert.equal(i.priority, 100);
    assert.equal(i.advertInterval, 1000);
    assert.equal(i.preemptDelay, 0);
    assert.equal(i.nopreempt, false);
    assert.equal(i.srcIp, null);
    assert.deepEqual(i.unicastPeers, []);
    assert.equal(i.mcastGroup, '224.0.0.18');
    assert.deepEqual(i.garp, { masterDelay: 5000, masterRepeat: 5, masterRefresh: 0, masterRefreshRepeat: 1 });
    assert.deepEqual(i.virtualIpaddresses[0]!.dev, 'eth0');
    assert.deepEqual(i.trackScripts, [{ name: 'chk', weight: 0 }]);
    const s = c.scripts[0]!;
    assert.deepEqual([s.interval, s.timeout, s.rise, s.fall, s.weight, s.initFail], [1000, 1000, 1, 1, 0, false]);
    assert.equal(s.kind === 'script' && s.command.user, null);
    // warren's own global_defs keys
    assert.equal(c.global.port, 5798);
    assert.deepEqual(c.global.statusListen, { host: '127.0.0.1', port: 8889 });
    assert.equal(c.global.proxySocket, null);
  });

  test("warren's global_defs: advert port, status API address, the local proxy's runtime API socket", () => {
    const c = load('global_defs: {vrrp_port: 7000, status_listen: "[::1]:9000", proxy_socket: /run/warren/proxy.sock}', ...INSTANCE);
    assert.equal(c.global.port, 7000);
    assert.deepEqual(c.global.statusListen, { host: '::1', port: 9000 });
    assert.equal(c.global.proxySocket, '/run/warren/proxy.sock');
    assert.equal(load('global_defs: {status_listen: none}', ...INSTANCE).global.statusListen, null);
    assert.deepEqual(errors('global_defs: {vrrp_port: 0, status_listen: "localhost:80", proxy_socket: run/x.sock}', ...INSTANCE), [
      'k.yaml:1: global_defs.vrrp_port: expected an integer from 1 to 65535, got 0',
      "k.yaml:1: global_defs.status_listen: expected HOST:PORT (e.g. 127.0.0.1:8889) or none, got 'localhost:80'",
      "k.yaml:1: global_defs.proxy_socket: expected an absolute file path, got 'run/x.sock'",
    ]);
  });

  test('durations: seconds (decimals too), or explicit units', () => {
    assert.equal(secondsToMs(1), 1000);
    assert.equal(secondsToMs(0.1), 100);
    assert.equal(secondsToMs(0.92), 920);
    assert.equal(secondsToMs('2'), 2000);
    assert.equal(secondsToMs('500ms'), 500);
    assert.equal(secondsToMs('1.5s'), 1500);
    assert.equal(secondsToMs('1m'), 60_000);
    for (const bad of [-1, '1h', 'x', '', null, true]) assert.equal(secondsToMs(bad), null, String(bad));
    const c = load('vrrp_script:', '  chk: {script: /bin/true, interval: 250ms, timeout: "0.2"}', ...INSTANCE, '    advert_int: 0.02', '    preempt_delay: 4.12', '    track_script: [chk]');
    assert.equal(c.scripts[0]!.interval, 250);
    assert.equal(c.scripts[0]!.timeout, 200);
    assert.equal(c.instances[0]!.advertInterval, 20);
    assert.equal(c.instances[0]!.preemptDelay, 4120);
  });

  test('a sole virtual address without prefix is a host address on the instance interface', () => {
    const c = load(
      'global_defs: {auth_secret_file: /etc/warren/vrrp.key}',
      'vrrp_instance:',
      '  V4: {interface: eth0, virtual_router_id: 1, virtual_ipaddress: 192.168.1.100}',
    );
    const v4 = c.instances[0]!;
    assert.deepEqual([v4.virtualIpaddresses[0]!.prefix, v4.virtualIpaddresses[0]!.dev, v4.family], [32, 'eth0', 4]);
    assert.deepEqual(v4.auth, { type: 'HMAC-SHA256', secret: null, secretFile: '/etc/warren/vrrp.key' });
  });

  test('IPv6 addresses parse, but IPv6 instances are refused until adverts carry IPv6', () => {
    assert.deepEqual(
      errors(
        'global_defs: {auth_secret_file: /etc/warren/vrrp.key}',
        'vrrp_instance:',
        '  V6: {interface: eth0, virtual_router_id: 1, virtual_ipaddress: ["2001:db8::100/64 dev eth1"], unicast_peer: ["2001:db8::2"]}',
      ),
      ["k.yaml:3: vrrp_instance.V6.virtual_ipaddress[0]: IPv6 virtual addresses are not supported yet: warren's adverts carry IPv4 addresses"],
    );
    assert.deepEqual(errors(...INSTANCE.slice(0, 4), '    virtual_ipaddress: ["::/64", "ff02::1", "2001:db8::1/129"]'), [
      "k.yaml:5: vrrp_instance.VI_1.virtual_ipaddress[0]: '::' is an unspecified address: a virtual IP must be a unicast address",
      "k.yaml:5: vrrp_instance.VI_1.virtual_ipaddress[1]: 'ff02::1' is a multicast address: a virtual IP must be a unicast address",
      "k.yaml:5: vrrp_instance.VI_1.virtual_ipaddress[2]: '2001:db8::1/129': expected a prefix length from 1 to 128",
    ]);
  });

  test('at most 32 virtual addresses per instance (they travel in every advert)', () => {
    const vips = Array.from({ length: 33 }, (_, n) => `198.51.100.${n + 1}/24`);
    assert.deepEqual(errors(...INSTANCE.slice(0, 4), `    virtual_ipaddress: [${vips.join(', ')}]`, INSTANCE[5]!), [
      'k.yaml:5: vrrp_instance.VI_1.virtual_ipaddress[32]: at most 32 virtual addresses per instance (they travel in every advert): use another vrrp_instance for the rest',
    ]);
  });

  test('active/active: two instances, two VIPs, each host MASTER of one', () => {
    const c = load(
      'global_defs: {auth_secret_file: /etc/warren/vrrp.key}',
      'vrrp_script:',
      '  chk_proxy: {proxy: "http://127.0.0.1:8888/healthz", weight: -60}',
      'vrrp_instance:',
      '  VI_1: {state: MASTER, interface: eth0, virtual_router_id: 51, priority: 100, virtual_ipaddress: [198.51.100.100/24], track_script: [chk_proxy]}',
      '  VI_2: {state: BACKUP, interface: eth0, virtual_router_id: 52, priority: 90, virtual_ipaddress: [198.51.100.101/24], track_script: [chk_proxy]}',
    );
    assert.deepEqual(
      c.instances.map((i) => [i.name, i.initialState, i.vrid, i.priority, i.virtualIpaddresses[0]!.address]),
      [
        ['VI_1', 'MASTER', 51, 100, '198.51.100.100'],
        ['VI_2', 'BACKUP', 52, 90, '198.51.100.101'],
      ],
    );
  });

  test('the address owner: priority 255 when unicast_src_ip is one of the VIPs', () => {
    const c = load(
      'vrrp_script:',
      '  chk: {script: /bin/true}',
      ...INSTANCE.slice(0, 4),
      '    priority: 255',
      '    unicast_src_ip: 198.51.100.100',
      '    virtual_ipaddress: [198.51.100.100/24]',
      '    authentication: {auth_pass: 0123456789abcdef0123}',
      '    track_script: [chk]',
      '    dont_track_primary: true',
    );
    const i = c.instances[0]!;
    assert.deepEqual([i.addressOwner, i.initialState, i.trackPrimaryInterface], [true, 'MASTER', false]);
  });

  test('warnings: unused scripts, scripts that only look for a haproxy process', () => {
    const c = load('vrrp_script:', '  chk: {script: "killall -0 haproxy"}', '  spare: {script: /bin/true}', ...INSTANCE, '    track_script: [chk]');
    assert.deepEqual(
      c.warnings.map((w) => `${w.line}: ${w.path}: ${w.message}`),
      [
        `2: vrrp_script.chk.script: 'killall -0 haproxy' only checks that a process named haproxy exists: once warren proxy replaces HAProxy it fails for good; use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`,
        '3: vrrp_script.spare: not tracked by any vrrp_instance: it will not run',
      ],
    );
  });
});

describe('schema errors: FILE:LINE: path: what was expected', () => {
  // Found by test/unit/fuzz-config.test.ts: String() of these mappings threw a TypeError.
  test('mappings with a toString key where a word is expected: a ConfigError, not a TypeError', () => {
    assert.ok(errors(...INSTANCE, '    state: {toString: 1}').includes('k.yaml:7: vrrp_instance.VI_1.state: expected MASTER or BACKUP, got a mapping'));
    assert.ok(errors(...INSTANCE, '    state: [[{toString: x}]]').includes('k.yaml:7: vrrp_instance.VI_1.state: expected MASTER or BACKUP, got a list'));
    assert.match(errors(...INSTANCE.slice(0, -1), '    authentication: {auth_type: {toString: 1}, auth_pass: 0123456789abcdef0123}').join('\n'), /authentication\.auth_type: expected HMAC-SHA256, got a mapping/);
  });

  test('an alias cycle is refused before validation walks it', () => {
    assert.match(errors('vrrp_instance: &a', '  VI_1: *a')[0]!, /^k\.yaml: YAML: the document expands to more than 100000 values/);
  });

  test('unknown keywords get "did you mean"; keepalived keywords warren lacks say why', () => {
    assert.deepEqual(
      errors(
        'global_defs:',
        '  router_id: a',
        '  script_usr: warren',
        '  notification_email: [root@localhost]',
        'vrrp_script:',
        '  chk: {script: /bin/true, intervall: 2}',
        ...INSTANCE,
        '    priorty: 100',
        '    virtual_routes: ["10.0.0.0/8 via 198.51.100.1"]',
        'vrrp_instances: {}',
        'virtual_server: {}',
      ),
      [
        "k.yaml:3: global_defs.script_usr: unknown keyword 'script_usr' (did you mean 'script_user'?)",
        "k.yaml:4: global_defs.notification_email: 'notification_email' is not supported by warren: warren sends no email: use a notify script",
        "k.yaml:6: vrrp_script.chk.intervall: unknown keyword 'intervall' (did you mean 'interval'?)",
        "k.yaml:13: vrrp_instance.VI_1.priorty: unknown keyword 'priorty' (did you mean 'priority'?)",
        "k.yaml:14: vrrp_instance.VI_1.virtual_routes: 'virtual_routes' is not supported by warren: warren does not add routes with the VIP: configure them in the operating system (or a notify script)",
        "k.yaml:15: vrrp_instances: unknown keyword 'vrrp_instances' (did you mean 'vrrp_instance'?)",
        "k.yaml:16: virtual_server: 'virtual_server' is not supported by warren: LVS (IPVS) load balancing is not part of warren: warren proxy balances the traffic (warren import converts haproxy.cfg)",
      ],
    );
  });

  test('ranges: vrid 1-255, priority 1-255, weight -253..253, advert_int 0.01-40.95, intervals > 0', () => {
    assert.deepEqual(
      errors(
        'vrrp_script:',
        '  chk: {script: /bin/true, interval: 0, weight: -254, rise: 0}',
        'vrrp_instance:',
        '  VI_1:',
        '    interface: eth0',
        '    virtual_router_id: 256',
        '    priority: 0',
        '    advert_int: 0.005',
        '    preempt_delay: 1001',
        '    state: master',
        '    nopreempt: yes',
        '    virtual_ipaddress: [198.51.100.100/24]',
        '    track_script: ["chk weight 254"]',
      ),
      [
        'k.yaml:2: vrrp_script.chk.interval: expected seconds more than 0 and at most 3600 (a number such as 2 or 0.5, or 500ms), got 0',
        'k.yaml:2: vrrp_script.chk.weight: expected an integer from -253 to 253, got -254',
        'k.yaml:2: vrrp_script.chk.rise: expected an integer from 1 to 1000, got 0',
        'k.yaml:6: vrrp_instance.VI_1.virtual_router_id: expected an integer from 1 to 255, got 256',
        'k.yaml:7: vrrp_instance.VI_1.priority: expected an integer from 1 to 255, got 0',
        'k.yaml:8: vrrp_instance.VI_1.advert_int: expected seconds from 0.01 to 255 in steps of 0.01 (adverts carry centiseconds), e.g. 1 or 0.1, got 0.005',
        'k.yaml:9: vrrp_instance.VI_1.preempt_delay: expected seconds from 0 to 1000 (a number such as 2 or 0.5, or 500ms), got 1001',
        "k.yaml:10: vrrp_instance.VI_1.state: expected MASTER or BACKUP, got 'master' (did you mean 'MASTER'?)",
        "k.yaml:11: vrrp_instance.VI_1.nopreempt: expected true or false, got 'yes'",
        "k.yaml:13: vrrp_instance.VI_1.track_script[0]: 'chk weight 254': weight: expected an integer from -253 to 253, got 254",
      ],
    );
  });

  test('addresses, interfaces, labels', () => {
    assert.deepEqual(
      errors(
        'vrrp_instance:',
        '  VI_1:',
        '    interface: eth0:1',
        '    virtual_router_id: 51',
        '    unicast_src_ip: 224.0.0.18',
        '    unicast_peer: [198.51.100.12, 198.51.100.300]',
        '    virtual_ipaddress:',
        '      - 198.51.100.0/24',
        '      - 198.51.100.255/24',
        '      - 198.51.100.100/33',
        '      - 198.51.100.100/24 dev eth0 lable eth0:vip',
        '      - 198.51.100.100/24 home',
        '      - vip.example.com',
        '    track_interface: [eth0, "eth1 wieght 3"]',
      ),
      [
        "k.yaml:3: vrrp_instance.VI_1.interface: expected an interface name (1-15 characters, no '/', ':' or spaces), got 'eth0:1'",
        "k.yaml:5: vrrp_instance.VI_1.unicast_src_ip: expected a unicast IPv4 or IPv6 address, got '224.0.0.18'",
        "k.yaml:6: vrrp_instance.VI_1.unicast_peer[1]: expected a unicast IPv4 or IPv6 address, got '198.51.100.300'",
        "k.yaml:8: vrrp_instance.VI_1.virtual_ipaddress[0]: '198.51.100.0/24' is the network address of its /24: expected a host address",
        "k.yaml:9: vrrp_instance.VI_1.virtual_ipaddress[1]: '198.51.100.255/24' is the broadcast address of its /24: expected a host address",
        "k.yaml:10: vrrp_instance.VI_1.virtual_ipaddress[2]: '198.51.100.100/33': expected a prefix length from 1 to 32",
        "k.yaml:11: vrrp_instance.VI_1.virtual_ipaddress[3]: unknown option 'lable' (did you mean 'label'?): expected dev, label, brd, scope",
        "k.yaml:12: vrrp_instance.VI_1.virtual_ipaddress[4]: 'home' is not supported by warren in virtual_ipaddress (it understands dev, label, brd, scope)",
        "k.yaml:13: vrrp_instance.VI_1.virtual_ipaddress[5]: 'vip.example.com': expected an IPv4 or IPv6 address with an optional /prefix",
        "k.yaml:14: vrrp_instance.VI_1.track_interface[1]: expected 'NAME', 'NAME weight N' or {NAME: {weight: N}}, got 'eth1 wieght 3' (did you mean 'weight'?)",
      ],
    );
  });

  test('authentication: HMAC-SHA256 only, a secret is required, a number must be quoted', () => {
    assert.deepEqual(
      errors(...INSTANCE.slice(0, 5), '    authentication: {auth_type: PASS, auth_pass: 1111}'),
      [
        "k.yaml:6: vrrp_instance.VI_1.authentication.auth_type: expected HMAC-SHA256, got 'PASS': warren authenticates adverts with HMAC-SHA256 and the shared secret (keepalived's PASS sends the password in clear); 'warren import' converts it",
        'k.yaml:6: vrrp_instance.VI_1.authentication.auth_pass: expected the shared secret as a string, got 1111 (quote it: auth_pass: "1111")',
      ],
    );
    assert.deepEqual(errors(...INSTANCE.slice(0, 5)), [
      "k.yaml:2: vrrp_instance.VI_1: expected a shared secret: 'authentication: {auth_type: HMAC-SHA256, auth_pass: SECRET}' or 'auth_secret_file' here or in global_defs (warren authenticates every advert)",
    ]);
    assert.deepEqual(errors(...INSTANCE.slice(0, 5), '    authentication: {auth_pass: a, auth_secret_file: /k}'), [
      "k.yaml:6: vrrp_instance.VI_1.authentication: expected 'auth_pass' or 'auth_secret_file', not both",
    ]);
  });

  test('scripts: script or proxy, no shell, names that exist', () => {
    assert.deepEqual(
      errors(
        'vrrp_script:',
        '  a: {interval: 1}',
        '  b: {script: /bin/true, proxy: "http://127.0.0.1:8888/healthz"}',
        '  c: {proxy: "http://127.0.0.1:8888/healthz", user: warren}',
        '  d: {script: /bin/true}',
        ...INSTANCE,
        '    track_script: [d, chk_d, d]',
      ),
      [
        "k.yaml:2: vrrp_script.a: expected 'script: COMMAND' or 'proxy: URL' (warren's built-in tracker of the local proxy)",
        "k.yaml:3: vrrp_script.b.proxy: expected either 'script' or 'proxy', not both",
        "k.yaml:4: vrrp_script.c.user: only a 'script' runs as a user: the built-in 'proxy' tracker runs inside warren",
        "k.yaml:12: vrrp_instance.VI_1.track_script[1]: no vrrp_script named 'chk_d'",
        "k.yaml:12: vrrp_instance.VI_1.track_script[2]: 'd' is tracked twice",
      ],
    );
    assert.deepEqual(
      errors('vrrp_script:', '  chk: {script: "pidof haproxy || exit 1", proxy: "ftp://x"}', ...INSTANCE, '    track_script: [chk]', '    notify: {script: "/x `id`", usr: y}'),
      [
        `k.yaml:2: vrrp_script.chk.script: '||' needs a shell, and warren runs scripts without one (as keepalived does): put the command line in a script file, or write "sh -c '...'"`,
        "k.yaml:2: vrrp_script.chk.proxy: expected an http:// or https:// URL (e.g. http://127.0.0.1:8888/healthz), got 'ftp://x'",
        "k.yaml:10: vrrp_instance.VI_1.notify.usr: unknown keyword 'usr' (did you mean 'user'?)",
      ],
    );
  });

  test("names: any one word, as keepalived; nothing, blanks and control characters are refused", () => {
    const rule = 'is not allowed, expected one word without blanks or control characters';
    const named = (script: string, inst: string): string[] => [
      'vrrp_script:',
      `  ${script}: {script: /bin/true}`,
      ...INSTANCE.map((l) => l.replace('VI_1', inst)),
      `    track_script: [{${script}: null}]`, // (a bare 'chk proxy' reads as NAME weight N)
    ];
    // keepalived takes '/', ':', '@' or non-ASCII in a name: an imported config keeps its names.
    const c = load(...named('chk/proxy@a:b', 'rabbit/vip-\u00e9'));
    assert.deepEqual([c.scripts[0]!.name, c.instances[0]!.name], ['chk/proxy@a:b', 'rabbit/vip-\u00e9']);
    assert.deepEqual(errors(...named('"chk proxy"', '"VI\\t1"')), [
      `k.yaml:2: vrrp_script.chk proxy: invalid vrrp_script name 'chk proxy': character ' ' ${rule}`,
      `k.yaml:4: vrrp_instance.VI\\u00091: invalid vrrp_instance name 'VI\\u00091': character \\u0009 ${rule}`,
    ]);
    assert.deepEqual(errors(...named('chk', '"VI_1\\e[2J"')), [
      `k.yaml:4: vrrp_instance.VI_1\\u001b[2J: invalid vrrp_instance name 'VI_1\\u001b[2J': character \\u001b ${rule}`,
    ]);
    assert.deepEqual(errors(...named('chk', '"a\\u00a0b"')), [
      `k.yaml:4: vrrp_instance.a\u00a0b: invalid vrrp_instance name 'a\\u00a0b': character \\u00a0 ${rule}`,
    ]);
    assert.deepEqual(errors(...named('""', 'VI_1')), ["k.yaml:2: vrrp_script.: empty vrrp_script name: expected one word"]);
    assert.deepEqual(errors(...named('chk', '__proto__')), [
      "k.yaml:4: vrrp_instance.__proto__: '__proto__' cannot be a name or a keyword: it names the prototype of a JavaScript object",
    ]);
  });

  test('across instances: one vrid per daemon (one UDP port), one owner per address, one family per instance', () => {
    assert.deepEqual(
      errors(
        'global_defs: {auth_secret_file: /etc/warren/vrrp.key}',
        'vrrp_instance:',
        '  VI_1: {interface: eth0, virtual_router_id: 51, virtual_ipaddress: [198.51.100.100/24]}',
        '  VI_2:',
        '    interface: eth0',
        '    virtual_router_id: 51',
        '    virtual_ipaddress: [198.51.100.101/24]',
        '  VI_3: {interface: eth1, virtual_router_id: 51, virtual_ipaddress: [198.51.100.103/24]}',
        '  VI_4: {interface: eth1, virtual_router_id: 54, virtual_ipaddress: [198.51.100.102/24, "2001:db8::2/64"]}',
      ),
      [
        "k.yaml:6: vrrp_instance.VI_2.virtual_router_id: virtual_router_id 51 is already used by vrrp_instance 'VI_1': warren's adverts share one UDP port, so each instance needs its own id",
        "k.yaml:8: vrrp_instance.VI_3.virtual_router_id: virtual_router_id 51 is already used by vrrp_instance 'VI_1': warren's adverts share one UDP port, so each instance needs its own id",
        'k.yaml:9: vrrp_instance.VI_4.virtual_ipaddress[1]: IPv6 address in an IPv4 instance: the virtual addresses of an instance must be of one family',
      ],
    );
    assert.deepEqual(
      errors(
        'global_defs: {auth_secret_file: /etc/warren/vrrp.key}',
        'vrrp_instance:',
        '  VI_1: {interface: eth0, virtual_router_id: 51, virtual_ipaddress: [198.51.100.100/24]}',
        '  VI_2: {interface: eth1, virtual_router_id: 52, virtual_ipaddress: [198.51.100.101/24, 198.51.100.100/24]}',
      ),
      ["k.yaml:4: vrrp_instance.VI_2.virtual_ipaddress[1]: 198.51.100.100 is already a virtual address of vrrp_instance 'VI_1': an address can move with one instance only"],
    );
  });

  test('priority 255 is for the address owner; nopreempt and preempt_delay need state BACKUP', () => {
    assert.deepEqual(errors(...INSTANCE, '    priority: 255'), [
      "k.yaml:7: vrrp_instance.VI_1.priority: 255 is reserved for the address owner (RFC 5798: the router whose own address is the virtual IP): expected 1-254, or set unicast_src_ip to this host's address that is also its virtual_ipaddress",
    ]);
    assert.deepEqual(
      errors('vrrp_script:', '  chk: {script: /bin/true, weight: -10}', ...INSTANCE, '    priority: 255', '    unicast_src_ip: 198.51.100.100', '    track_script: [chk]', '    state: BACKUP'),
      [
        "k.yaml:11: vrrp_instance.VI_1.track_script: the address owner's priority (255) cannot change: expected weight 0 (a failure means FAULT), got chk (-10)",
        'k.yaml:12: vrrp_instance.VI_1.state: the address owner (priority 255) starts as MASTER (RFC 5798 §6.4.1): expected MASTER or no state',
      ],
    );
    assert.deepEqual(errors(...INSTANCE, '    state: MASTER', '    nopreempt: true', '    preempt_delay: 5'), [
      "k.yaml:8: vrrp_instance.VI_1.nopreempt: needs 'state: BACKUP': a host that starts as MASTER takes over anyway (keepalived clears nopreempt then)",
      "k.yaml:9: vrrp_instance.VI_1.preempt_delay: needs 'state: BACKUP': a host that starts as MASTER takes over at once (keepalived clears preempt_delay then)",
    ]);
  });

  test('required keywords and the shape of the document', () => {
    assert.deepEqual(errors('vrrp_instance:', '  VI_1: {state: BACKUP}'), [
      "k.yaml:2: vrrp_instance.VI_1: missing 'interface': the interface the adverts go out of (e.g. interface: eth0)",
      "k.yaml:2: vrrp_instance.VI_1: missing 'virtual_router_id': 1-255, the same on every host of this virtual router",
      "k.yaml:2: vrrp_instance.VI_1: missing 'virtual_ipaddress': the address(es) that move, e.g. [192.168.1.100/24]",
      "k.yaml:2: vrrp_instance.VI_1: expected a shared secret: 'authentication: {auth_type: HMAC-SHA256, auth_pass: SECRET}' or 'auth_secret_file' here or in global_defs (warren authenticates every advert)",
    ]);
    assert.deepEqual(errors('global_defs: {router_id: a}'), ["k.yaml:1: expected at least one 'vrrp_instance'"]);
    assert.deepEqual(errors('vrrp_instance: [VI_1]'), ['k.yaml:1: vrrp_instance: expected a mapping, got a list']);
    assert.deepEqual(errors('- a'), ['k.yaml:1: expected a mapping with global_defs, vrrp_script, vrrp_instance sections']);
    assert.deepEqual(errors('vrrp_instance:', '  VI_1: {interface: [eth0'), [
      'k.yaml:3: YAML syntax: unexpected end of the stream within a flow collection',
    ]);
  });
});

describe('commands are split like a shell splits words, and run without one', () => {
  test('quotes and backslashes', () => {
    assert.deepEqual(splitCommand('/bin/x a "b c" \'d e\' f\\ g'), ['/bin/x', 'a', 'b c', 'd e', 'f g']);
    assert.deepEqual(splitCommand('sh -c \'pidof x || exit 1\''), ['sh', '-c', 'pidof x || exit 1']);
    assert.deepEqual(splitCommand('/bin/x ">"'), ['/bin/x', '>']);
  });
});

describe('isVrrpYaml tells a keepalived YAML from a proxy YAML by its top-level keys', () => {
  test('top-level keys', () => {
    assert.equal(isVrrpYaml(yaml.load(loadText('config/keepalived-a.yaml'))), true);
    assert.equal(isVrrpYaml(yaml.load(loadText('config/haproxy.yaml'))), false);
    assert.equal(isVrrpYaml({ vrrp_instances: {} }), true);
    assert.equal(isVrrpYaml({ global_def: {} }), true);
    assert.equal(isVrrpYaml({ global: {}, vrrp_instance: {} }), false);
    assert.equal(isVrrpYaml(null), false);
    assert.equal(isVrrpYaml(['vrrp_instance']), false);
  });
});
