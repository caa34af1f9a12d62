import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatStatus } from '../../src/vrrp/status-format.js';
import type { DaemonStatus } from '../../src/vrrp/status.js';

const status: DaemonStatus = {
  router_id: 'lbA',
  pid: 42,
  started: '2026-11-21T10:00:00.000Z',
  config: '/etc/warren/keepalived.yaml',
  instances: [
    {
      name: 'VI_1',
      state: 'BACKUP',
      since: '2026-11-21T10:00:01.000Z',
      reason: 'priority-drop',
      vrid: 51,
      interface: 'eth0',
      address: '198.51.100.11',
      priority: 100,
      effective_priority: 40,
      fault: false,
      vips: ['198.51.100.100/24'],
      vips_held: false,
      master: '198.51.100.12',
      advert_int_ms: 100,
      master_down_interval_ms: 377,
      peers: [{ address: '198.51.100.12', state: 'MASTER', priority: 90, advert_int_ms: 100, last_seen_ms: 40, last_seen: '0.0 s ago' }],
      trackers: [{ name: 'chk_proxy', kind: 'proxy', status: 'fail', weight: -60, last_detail: 'ECONNREFUSED', last_check: null, checks: 12, failures: 3 }],
      counters: { advertsReceived: 10, standbysReceived: 0, advertsSent: 5, standbysSent: 7, becameMaster: 1, dropped: { 'bad-auth': 2 } },
    },
  ],
  transport: { port: 5798, received: 12, sent: 12, send_errors: 0, unknown_vrid: 1, last_send_error: null },
};

test('warren status prints state, priorities, trackers, peers and counters', () => {
  assert.equal(
    formatStatus(status),
    [
      'warren vrrp lbA: pid 42, started 2026-11-21T10:00:00.000Z, /etc/warren/keepalived.yaml',
      '',
      'VI_1: BACKUP (priority-drop) since 2026-11-21T10:00:01.000Z',
      '  vrid 51 on eth0 from 198.51.100.11, priority 100, effective 40, advert every 100 ms',
      '  VIPs: 198.51.100.100/24 (not here)',
      '  master: 198.51.100.12',
      '  trackers:',
      '    chk_proxy  fail  weight -60  ECONNREFUSED (12 checks, 3 failed)',
      '  peers (last message heard):',
      '    198.51.100.12  MASTER  priority 90  0.0 s ago',
      '  adverts: 10 received, 5 sent; standby: 0 received, 7 sent; dropped: bad-auth 2',
      '',
      'udp port 5798: 12 datagrams received, 12 sent, 0 send errors, 1 not ours',
      '',
    ].join('\n'),
  );
});
