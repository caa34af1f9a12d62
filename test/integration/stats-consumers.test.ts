// Real consumers of HAProxy's stats interfaces, pointed at a real in-process warren proxy with
// real TCP backends on 127.0.0.1:
//   (a) hatop (Debian package) on warren's stats socket, under tmux: it starts, lists the
//       servers, and F10 (hatop's "disable server") puts the selected server in maintenance,
//       F9 brings it back;
//   (b) prometheus-haproxy-exporter (Debian package) scraping warren's `;csv` URL: its /metrics
//       reports the servers up/down and the session and byte counters warren shows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, deadPort, startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import { createLogger } from '../../src/lib/log.js';
import { collectStats } from '../../src/proxy/stats/model.js';
import { startRuntimeApi, type RuntimeApi } from '../../src/proxy/stats/runtime-api.js';
import { startStatsHttp, type StatsHttpHandle } from '../../src/proxy/stats/http-server.js';

const HATOP = '/usr/bin/hatop';
const EXPORTER = '/usr/bin/prometheus-haproxy-exporter';
const TMUX = '/usr/bin/tmux';
type TcpBackend = Awaited<ReturnType<typeof tcpServer>>;

let dir: string;
let sock: string;
let p: RunningProxy;
let node1: TcpBackend;
let ownApi: RuntimeApi | null = null;
let ownStats: StatsHttpHandle | null = null;
let statsPort: number;

const quiet = createLogger('proxy', new Writable({ write: (_c, _e, cb) => cb() }));

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

const server = (name: string) => p.proxy.backends.get('rabbit')!.servers.find((s) => s.config.name === name)!;

before(async () => {
  for (const bin of [HATOP, EXPORTER, TMUX]) assert.ok(fs.existsSync(bin), `${bin} is installed by test/harness/deps.sh`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-consumers-'));
  sock = path.join(dir, 'warren.sock');
  node1 = await tcpServer((s) => void s.pipe(s));
  const node2 = await deadPort();
  p = await startProxy(`global:
  maxconn: 4096
  stats-socket: ${sock} mode 600 level admin
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 30s, server: 30s}
listen:
  rabbit:
    bind: 127.0.0.1:0
    balance: roundrobin
    server:
      - node1 127.0.0.1:${node1.port} check inter 300ms rise 2 fall 2
      - node2 127.0.0.1:${node2} check inter 300ms rise 2 fall 2
  monitor:
    mode: http
    bind: 127.0.0.1:0
    stats: {enable: true, uri: /stats}
`);
  // Proxy.start serves the socket and the stats section; start them here if it does not.
  if (!fs.existsSync(sock)) ownApi = await startRuntimeApi(p.proxy.config.global.statsSocket!, p.proxy, quiet);
  const served = p.proxy.statsServers?.[0];
  if (served) statsPort = served.addresses()[0]!.port;
  else {
    ownStats = await startStatsHttp(p.proxy.config.stats[0]!, p.proxy, quiet);
    statsPort = ownStats.addresses()[0]!.port;
  }
  await waitFor('node1 UP and node2 DOWN', () => server('node1').status === 'UP' && server('node2').status === 'DOWN');
});

after(async () => {
  await ownStats?.close();
  await ownApi?.close();
  await p?.stop();
  await node1?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// ---- (a) hatop ------------------------------------------------------------------------------

function tmux(...args: string[]): string {
  return execFileSync(TMUX, args, { encoding: 'utf8' });
}

test('hatop runs on warren’s stats socket, lists the servers, and its disable/enable take effect', async (t) => {
  const session = `warren-hatop-${process.pid}`;
  tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', `${HATOP} -s ${sock}`);
  try {
    const screen = (escapes = false): string => tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', session);
    const first = await waitFor('hatop to list the servers', () => {
      const s = screen();
      return /^node1\s+\d+\s+UP\b/m.test(s) && /^node2\s+\d+\s+DOWN\b/m.test(s) ? s : null;
    });
    assert.match(first, /warren Version: /, 'hatop read show info');
    assert.match(first, />>> rabbit/);
    assert.match(first, /^FRONTEND\s+\d+\s+OPEN/m);
    assert.match(first, /^BACKEND\s+\d+\s+UP/m);
    for (const l of first.split('\n').filter((l) => /^(>>>|FRONTEND|BACKEND|node)/.test(l))) t.diagnostic(l.replace(/\s+/g, ' ').trim());

    // Move hatop's selection (the reverse-video line) to node1.
    const selected = (): string | undefined => {
      const line = screen(true).split('\n').find((l) => l.includes('\x1b[7m') && !l.includes('STATUS'));
      return line?.replace(/\x1b\[[0-9;]*m/g, '').trim().split(/\s+/)[0];
    };
    for (let i = 0; i < 12 && selected() !== 'node1'; i++) {
      tmux('send-keys', '-t', session, 'Down');
      await sleep(250);
    }
    assert.equal(selected(), 'node1', 'hatop selection on node1');

    tmux('send-keys', '-t', session, 'F10'); // hatop: disable server (maintenance)
    await waitFor('node1 in MAINT after F10', () => server('node1').admin === 'MAINT');
    await waitFor('hatop to show node1 MAINT', () => /^node1\s+\d+\s+MAINT\b/m.test(screen()));
    assert.equal(server('node2').admin, 'READY', 'only the selected server was disabled');

    tmux('send-keys', '-t', session, 'F9'); // hatop: enable server
    await waitFor('node1 ready after F9', () => server('node1').admin === 'READY');
    await waitFor('hatop to show node1 UP again', () => /^node1\s+\d+\s+UP\b/m.test(screen()));
  } finally {
    try {
      tmux('kill-session', '-t', session);
    } catch {
      /* already gone */
    }
  }
});

// ---- (b) prometheus-haproxy-exporter ----------------------------------------------------------

function metricValue(text: string, name: string, labels: Record<string, string>): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && line !== name && !line.startsWith(name + ' ')) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return null;
}

test('prometheus-haproxy-exporter scrapes warren’s ;csv and reports what warren shows', async (t) => {
  const webPort = await deadPort();
  let exporterLog = '';
  const exporter: ChildProcess = spawn(
    EXPORTER,
    [`--haproxy.scrape-uri=http://127.0.0.1:${statsPort}/stats;csv`, `--web.listen-address=127.0.0.1:${webPort}`, '--haproxy.timeout=2s'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  exporter.stdout!.on('data', (d: Buffer) => (exporterLog += d.toString()));
  exporter.stderr!.on('data', (d: Buffer) => (exporterLog += d.toString()));
  const client = await connect(p.port('rabbit'));
  client.on('error', () => {});
  try {
    const payload = 'hello through warren\n';
    const echoed = new Promise<void>((resolve) => {
      let got = '';
      client.on('data', (d: Buffer) => {
        got += d.toString();
        if (got === payload) resolve();
      });
    });
    client.write(payload);
    await echoed;
    await waitFor('warren to count the session on node1', () => server('node1').counters.cur === 1 && server('node1').counters.bytesOut === payload.length);

    const scrape = async (): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${webPort}/metrics`);
      return res.text();
    };
    const metrics = await waitFor('the exporter to scrape warren', async () => {
      const m = await scrape();
      return metricValue(m, 'haproxy_up', {}) === 1 && metricValue(m, 'haproxy_server_current_sessions', { backend: 'rabbit', server: 'node1' }) === 1 ? m : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\nexporter output:\n${exporterLog}`);
    });

    const rows = new Map(collectStats(p.proxy).map((r) => [`${r.pxname}/${r.svname}`, r]));
    const n1 = rows.get('rabbit/node1')!;
    const sv = (name: string, server: string) => metricValue(metrics, name, { backend: 'rabbit', server });
    assert.equal(sv('haproxy_server_up', 'node1'), 1);
    assert.equal(sv('haproxy_server_up', 'node2'), 0);
    assert.equal(sv('haproxy_server_current_sessions', 'node1'), n1.scur);
    assert.equal(sv('haproxy_server_sessions_total', 'node1'), n1.stot);
    assert.equal(sv('haproxy_server_bytes_in_total', 'node1'), n1.bin);
    assert.equal(sv('haproxy_server_bytes_out_total', 'node1'), n1.bout);
    assert.equal(sv('haproxy_server_bytes_in_total', 'node1'), payload.length);
    assert.equal(sv('haproxy_server_check_failures_total', 'node2'), rows.get('rabbit/node2')!.chkfail);
    assert.equal(metricValue(metrics, 'haproxy_backend_up', { backend: 'rabbit' }), 1);
    assert.equal(metricValue(metrics, 'haproxy_backend_current_sessions', { backend: 'rabbit' }), 1);
    assert.equal(metricValue(metrics, 'haproxy_frontend_current_sessions', { frontend: 'rabbit' }), 1);
    assert.equal(metricValue(metrics, 'haproxy_frontend_bytes_in_total', { frontend: 'rabbit' }), payload.length);
    for (const l of metrics.split('\n')) {
      if (/^haproxy_(up|server_up|server_current_sessions|server_sessions_total|server_bytes_(in|out)_total|backend_up|frontend_current_sessions)\b/.test(l)) t.diagnostic(l);
    }

    // A server put in maintenance is reported down at the next scrape.
    server('node1').setAdmin('MAINT');
    await waitFor('the exporter to report node1 down', async () => metricValue(await scrape(), 'haproxy_server_up', { backend: 'rabbit', server: 'node1' }) === 0);
    server('node1').setAdmin('READY');
    await waitFor('the exporter to report node1 up again', async () => metricValue(await scrape(), 'haproxy_server_up', { backend: 'rabbit', server: 'node1' }) === 1);
  } finally {
    client.destroy();
    if (exporter.pid !== undefined && exporter.exitCode === null) {
      process.kill(exporter.pid, 'SIGTERM'); // our own child, by PID
      await new Promise((r) => exporter.once('exit', r));
    }
  }
});

