// The stats page's VRRP panel fed by the `vrrp-status` config keyword: a REAL in-process proxy
// whose global section points at a small node:http server answering like `warren vrrp`'s status
// API. The page shows the instance, its peer and its tracker; when the daemon stops answering the
// panel says so (and keeps the last answer, marked stale); a daemon that never answered is shown
// as unavailable.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadPort, startProxy, type RunningProxy } from '../harness/proxy.js';

const HOST = '127.0.0.1';

/** What `warren vrrp` answers on its status URL. */
const STATUS = {
  router_id: 'lbA',
  instances: [
    {
      name: 'VI_1',
      state: 'MASTER',
      priority: 100,
      effective_priority: 100,
      vips: ['198.51.100.100/24'],
      master: '198.51.100.11',
      since: '2026-01-02T03:04:05.000Z',
      peers: [{ address: '198.51.100.12', state: 'BACKUP', priority: 90, last_seen: '0.1 s ago' }],
      trackers: [{ name: 'chk_proxy', status: 'ok', weight: -60, last_detail: 'HTTP 200' }],
    },
  ],
};

let daemon: http.Server;
let daemonPort: number;
let requests = 0;
let live: RunningProxy;
let dead: RunningProxy;
let deadStatusPort: number;

function config(statusUrl: string): string {
  return `
global:
  maxconn: 50
  vrrp-status: ${statusUrl}
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 30s, server: 30s}
listen:
  app:
    bind: ${HOST}:0
    server:
      - s1 ${HOST}:1
  monitor:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats}
`;
}

function statsBase(p: RunningProxy): string {
  return `http://${HOST}:${p.proxy.statsServers[0]!.addresses()[0]!.port}`;
}

async function page(p: RunningProxy): Promise<string> {
  const res = await fetch(`${statsBase(p)}/stats`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The VRRP panel's HTML (the section with id="vrrp"). */
function vrrpPanel(html: string): string {
  const at = html.indexOf('id="vrrp"');
  assert.ok(at >= 0, 'the page has a VRRP panel');
  const end = html.indexOf('</section>', at);
  return html.slice(at, end < 0 ? undefined : end);
}

async function waitPanel(p: RunningProxy, what: string, pred: (panel: string) => boolean, timeoutMs = 8000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let panel = '';
  while (Date.now() < deadline) {
    panel = vrrpPanel(await page(p));
    if (pred(panel)) return panel;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}; panel: ${panel}`);
}

before(async () => {
  daemon = http.createServer((req, res) => {
    requests++;
    if (req.url !== '/status') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(STATUS));
  });
  await new Promise<void>((r) => daemon.listen(0, HOST, r));
  daemonPort = (daemon.address() as AddressInfo).port;
  live = await startProxy(config(`http://${HOST}:${daemonPort}/status`));
  deadStatusPort = await deadPort();
  dead = await startProxy(config(`http://${HOST}:${deadStatusPort}/status`));
});

after(async () => {
  await live?.stop(0);
  await dead?.stop(0);
  daemon.closeAllConnections();
  await new Promise<void>((r) => daemon.close(() => r()));
});

test('vrrp-status reaches the stats listener: the panel shows the state, VIP, master, peer and tracker', async () => {
  assert.equal(live.proxy.config.global.vrrpStatus, `http://${HOST}:${daemonPort}/status`);
  const panel = await waitPanel(live, 'the daemon status', (p) => p.includes('MASTER'));
  assert.ok(requests > 0, 'the proxy asked the daemon');
  assert.match(panel, /router_id <b>lbA<\/b>/);
  assert.match(panel, /<b>VI_1<\/b> <span class="state active_up">MASTER<\/span>/);
  assert.match(panel, /<dt>priority<\/dt><dd>100<\/dd>/);
  assert.match(panel, /<dt>VIP<\/dt><dd>198\.51\.100\.100\/24<\/dd>/);
  assert.match(panel, /<dt>master<\/dt><dd>198\.51\.100\.11<\/dd>/);
  assert.match(panel, /<dt>since<\/dt><dd>2026-01-02T03:04:05\.000Z<\/dd>/);
  // the peer: address, state, priority, last seen
  assert.match(panel, /<td class="l">198\.51\.100\.12<\/td><td class="ac backup_up">BACKUP<\/td><td>90<\/td><td>0\.1 s ago<\/td>/);
  // the tracker: name, status, weight, last detail
  assert.match(panel, /<td class="l">chk_proxy<\/td><td class="ac active_up">ok<\/td><td>-60<\/td><td class="l">HTTP 200<\/td>/);
  assert.ok(panel.includes(`from http://${HOST}:${daemonPort}/status`));
  assert.ok(!panel.includes('last refresh failed'));
});

test('a daemon that never answered: the panel says the status is unavailable, and why', async () => {
  const panel = await waitPanel(dead, 'the fetch error', (p) => p.includes('VRRP status unavailable'));
  assert.match(panel, /ECONNREFUSED/);
  assert.ok(panel.includes(`http://${HOST}:${deadStatusPort}/status`));
  assert.ok(!panel.includes('MASTER'));
});

test('a daemon that stops answering: the panel marks the last answer stale with the error', async () => {
  await waitPanel(live, 'the daemon status', (p) => p.includes('MASTER'));
  daemon.closeAllConnections();
  await new Promise<void>((r) => daemon.close(() => r()));
  // The poller asks every 2 s.
  const panel = await waitPanel(live, 'the stale mark', (p) => p.includes('last refresh failed'));
  assert.match(panel, /last refresh failed: [^<]*ECONNREFUSED[^<]*; showing the answer from \d+s ago/);
  assert.ok(panel.includes('MASTER'), 'the last known answer is still shown');
  // (restarted on the same port for after())
  daemon = http.createServer((_req, res) => res.end('{}'));
  await new Promise<void>((r) => daemon.listen(daemonPort, HOST, r));
});
