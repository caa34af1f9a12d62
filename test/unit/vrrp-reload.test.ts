// The pure reload plan of `warren vrrp` (src/vrrp/reload.ts): which instances keep running
// untouched, which get a new priority / preempt setting / notifier in place, which are restarted,
// and which trackers are kept, replaced, added or stopped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { describePlan, instanceTracks, planChangesSomething, planVrrpReload } from '../../src/vrrp/reload.js';

const SECRET = '0123456789abcdef0123456789';

interface Opts {
  priority?: number;
  state?: string;
  extra?: string[];
  vips?: string;
  advertInt?: number;
  vrid?: number;
  notify?: string;
  scriptText?: string;
  scriptInterval?: number;
  weight?: number;
  trackScripts?: string;
  statusListen?: string;
  port?: number;
  routerId?: string;
  comment?: string;
  secondInstance?: boolean;
  unicast?: boolean;
  garpDelay?: number;
}

function config(o: Opts = {}): string {
  return [
    ...(o.comment ? [`# ${o.comment}`] : []),
    'global_defs:',
    `  router_id: ${o.routerId ?? 'lbA'}`,
    `  vrrp_port: ${o.port ?? 5798}`,
    `  status_listen: ${o.statusListen ?? '127.0.0.1:8889'}`,
    `  vrrp_garp_master_delay: ${o.garpDelay ?? 5}`,
    'vrrp_script:',
    '  chk_proxy:',
    '    proxy: http://127.0.0.1:8888/healthz',
    '    interval: 0.1',
    `    weight: ${o.weight ?? -60}`,
    '  chk_script:',
    `    script: ${o.scriptText ?? '/bin/true'}`,
    `    interval: ${o.scriptInterval ?? 1}`,
    '    weight: -10',
    'vrrp_instance:',
    '  VI_1:',
    `    state: ${o.state ?? 'MASTER'}`,
    '    interface: eth0',
    `    virtual_router_id: ${o.vrid ?? 51}`,
    `    priority: ${o.priority ?? 100}`,
    `    advert_int: ${o.advertInt ?? 0.1}`,
    `    authentication: {auth_type: HMAC-SHA256, auth_pass: "${SECRET}"}`,
    `    virtual_ipaddress: [${o.vips ?? '198.51.100.100/24 dev eth0'}]`,
    `    track_script: ${o.trackScripts ?? '[chk_proxy, chk_script]'}`,
    ...(o.unicast ? ['    unicast_src_ip: 198.51.100.11', '    unicast_peer: [198.51.100.12]'] : []),
    ...(o.notify ? [`    notify: ${o.notify}`] : []),
    ...(o.extra ?? []).map((l) => `    ${l}`),
    ...(o.secondInstance
      ? [
          '  VI_2:',
          '    interface: eth0',
          '    virtual_router_id: 52',
          '    priority: 90',
          `    authentication: {auth_type: HMAC-SHA256, auth_pass: "${SECRET}"}`,
          '    virtual_ipaddress: [198.51.100.101/24 dev eth0]',
          '    track_script: [chk_proxy]',
        ]
      : []),
    '',
  ].join('\n');
}

const load = (o: Opts = {}) => loadVrrpConfigText(config(o), 'k.yaml');
const plan = (a: Opts, b: Opts) => planVrrpReload(load(a), load(b));

test('an identical file, or one with only a new comment: nothing to do, every tracker kept', () => {
  for (const b of [{}, { comment: 'a new comment' }]) {
    const p = plan({}, b);
    assert.equal(planChangesSomething(p), false);
    assert.deepEqual(p.replace, []);
    assert.deepEqual(p.add, []);
    assert.deepEqual(p.remove, []);
    assert.deepEqual(p.trackers, { keep: ['script:chk_proxy', 'script:chk_script', 'interface:eth0'], replace: [], add: [], remove: [] });
    assert.deepEqual(p.keep.map((k) => [k.name, k.priority, k.tracksChanged, k.preempt, k.notifyChanged, k.startOnly]), [['VI_1', null, false, null, false, []]]);
    assert.deepEqual(describePlan(p), []);
  }
});

test('a changed notify path: the instance keeps running with a new notifier, nothing else', () => {
  const p = plan({ notify: '/etc/warren/notify-a.sh' }, { notify: '/etc/warren/notify-b.sh' });
  assert.equal(p.keep.length, 1);
  assert.equal(p.keep[0]!.notifyChanged, true);
  assert.equal(p.keep[0]!.priority, null);
  assert.deepEqual(p.replace, []);
  assert.equal(p.trackers.replace.length, 0);
  // Added and removed hooks count too.
  assert.equal(plan({}, { notify: '/x.sh' }).keep[0]!.notifyChanged, true);
  assert.equal(plan({ notify: '/x.sh' }, {}).keep[0]!.notifyChanged, true);
});

test('a new base priority or track weight: kept, applied in place', () => {
  const p = plan({}, { priority: 80 });
  assert.deepEqual(p.keep[0]!.priority, { from: 100, to: 80 });
  assert.equal(p.keep[0]!.tracksChanged, false);
  assert.deepEqual(p.replace, []);
  assert.match(describePlan(p).join('\n'), /VI_1 keeps running; applied: priority 100 -> 80/);

  // The vrrp_script weight is the instance's business: the tracker keeps running.
  const w = plan({}, { weight: -30 });
  assert.equal(w.keep[0]!.tracksChanged, true);
  assert.deepEqual(w.trackers.replace, []);
  assert.deepEqual(w.trackers.keep, ['script:chk_proxy', 'script:chk_script', 'interface:eth0']);
  assert.deepEqual(
    instanceTracks(load({ weight: -30 }).instances[0]!).find((t) => t.key === 'script:chk_proxy'),
    { key: 'script:chk_proxy', weight: -30 },
  );
});

test('nopreempt / preempt_delay: kept, the new values handed over', () => {
  const p = plan({}, { state: 'BACKUP', extra: ['nopreempt: true'] });
  assert.deepEqual(p.keep[0]!.preempt, { nopreempt: true, preemptDelay: 0 });
  // `state` is only read at start: reported, not applied.
  assert.deepEqual(p.keep[0]!.startOnly, ['state MASTER -> BACKUP']);
  const d = plan({ state: 'BACKUP' }, { state: 'BACKUP', extra: ['preempt_delay: 5'] });
  assert.deepEqual(d.keep[0]!.preempt, { nopreempt: false, preemptDelay: 5000 });
  assert.deepEqual(d.replace, []);
});

test('only start-time settings changed (state, vrrp_garp_*): nothing to do, but said so', () => {
  const p = plan({}, { state: 'BACKUP', garpDelay: 2 });
  assert.equal(planChangesSomething(p), false);
  assert.deepEqual(p.keep[0]!.startOnly, ['state MASTER -> BACKUP', 'vrrp_garp_*']);
  assert.match(describePlan(p).join('\n'), /only read at start/);
});

test('a changed tracker (script text, interval): only that tracker is replaced; the instance keeps running', () => {
  for (const b of [{ scriptText: '/bin/false' }, { scriptInterval: 2 }]) {
    const p = plan({}, b);
    assert.deepEqual(p.trackers.replace, ['script:chk_script']);
    assert.deepEqual(p.trackers.keep, ['script:chk_proxy', 'interface:eth0']);
    assert.deepEqual(p.replace, []);
    assert.equal(p.keep[0]!.tracksChanged, false);
    assert.equal(planChangesSomething(p), true);
  }
});

test('a tracker no longer referenced is stopped; a newly referenced one added', () => {
  const p = plan({}, { trackScripts: '[chk_proxy]' });
  assert.deepEqual(p.trackers.remove, ['script:chk_script']);
  assert.equal(p.keep[0]!.tracksChanged, true);
  const q = plan({ trackScripts: '[chk_proxy]' }, {});
  assert.deepEqual(q.trackers.add, ['script:chk_script']);
  // dont_track_primary drops the interface tracker.
  const r = plan({}, { extra: ['dont_track_primary: true'] });
  assert.deepEqual(r.trackers.remove, ['interface:eth0']);
});

test('identity changes (VIPs, vrid, advert_int, secret, unicast setup): the instance is restarted', () => {
  const cases: [Opts, string[]][] = [
    [{ vips: '198.51.100.101/24 dev eth0' }, ['virtual_ipaddress']],
    [{ vrid: 52 }, ['virtual_router_id']],
    [{ advertInt: 1 }, ['advert_int']],
    [{ unicast: true }, ['unicast_src_ip', 'unicast_peer', 'mcast_group']],
  ];
  for (const [b, reasons] of cases) {
    const p = plan({}, b);
    assert.deepEqual(p.replace, [{ name: 'VI_1', reasons }], JSON.stringify(b));
    assert.deepEqual(p.keep, []);
    assert.match(describePlan(p).join('\n'), /resigns and is started anew/);
  }
  // The resolved secret decides (a rewritten secret file with the same path counts).
  const a = load();
  const same = planVrrpReload(a, load(), { old: new Map([['VI_1', 's1']]), next: new Map([['VI_1', 's2']]) });
  assert.deepEqual(same.replace, [{ name: 'VI_1', reasons: ['authentication'] }]);
  const unchanged = planVrrpReload(a, load(), { old: new Map([['VI_1', 's1']]), next: new Map([['VI_1', 's1']]) });
  assert.deepEqual(unchanged.replace, []);
});

test('an instance added, one removed', () => {
  const p = plan({}, { secondInstance: true });
  assert.deepEqual(p.add, ['VI_2']);
  assert.deepEqual(p.keep.map((k) => k.name), ['VI_1']);
  assert.equal(p.keep[0]!.priority, null);
  const q = plan({ secondInstance: true }, {});
  assert.deepEqual(q.remove, ['VI_2']);
  assert.match(describePlan(q).join('\n'), /VI_2 removed: it resigns/);
});

test('global_defs: router_id and status_listen applied, vrrp_port needs a restart', () => {
  const p = plan({}, { routerId: 'lbX', statusListen: '127.0.0.1:8899', port: 5799 });
  assert.deepEqual(p.global.routerId, { from: 'lbA', to: 'lbX' });
  assert.equal(p.global.statusListen, true);
  assert.deepEqual(p.global.needsRestart, ['vrrp_port 5798 -> 5799']);
  assert.match(describePlan(p).join('\n'), /vrrp_port 5798 -> 5799: needs a restart/);
  assert.deepEqual(p.keep.map((k) => k.name), ['VI_1']);
  assert.deepEqual(p.replace, []);
});
