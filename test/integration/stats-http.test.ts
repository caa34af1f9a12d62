// The stats HTTP listener against a REAL in-process warren proxy and REAL TCP backends on
// 127.0.0.1: authentication, the HTML page and its modifiers, CSV/JSON, admin actions (drain
// really steers new connections away), monitor-uri, and hostile requests.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Writable } from 'node:stream';
import { connect, deadPort, readAll, startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import { createLogger } from '../../src/lib/log.js';
import { checkAuth, parseStatsUrl, startStatsHttp, type StatsHttpHandle } from '../../src/proxy/stats/http-server.js';
import { parseCsv } from '../../src/proxy/stats/csv.js';
import { render, type RenderOptions } from '../../src/proxy/stats/html.js';
import { setVrrpState } from '../../src/proxy/stats/metrics.js';
import type { StatsConfig } from '../../src/config/types.js';

const HOST = '127.0.0.1';
const XSS = '<script>alert(1)</script>';
const AUTH = 'Basic ' + Buffer.from('admin:s3cret').toString('base64');
const AUTH2 = 'Basic ' + Buffer.from('ops:other:pass').toString('base64');

type Backend = Awaited<ReturnType<typeof tcpServer>>;
let backends: Backend[] = [];
let running: RunningProxy;
let adminStats: StatsHttpHandle;
let roStats: StatsHttpHandle;
let base: string;
let roBase: string;
let vrrpDead: number;

/** Each backend says its name and closes: a connection through the proxy tells who served it. */
async function nameServer(name: string): Promise<Backend> {
  return tcpServer((s) => s.end(`${name}\n`));
}

before(async () => {
  backends = [await nameServer('s1'), await nameServer('s2'), await nameServer('xss')];
  const dead = await deadPort();
  const check = 'check inter 100ms fastinter 100ms downinter 100ms rise 1 fall 2';
  running = await startProxy(`
global: {maxconn: 200}
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 30s, server: 30s, queue: 2s}
listen:
  app:
    bind: ${HOST}:0
    balance: roundrobin
    server:
      - s1 ${HOST}:${backends[0]!.port} ${check}
      - s2 ${HOST}:${backends[1]!.port} ${check}
      - xss ${HOST}:${backends[2]!.port} ${check}
      - dead ${HOST}:${dead} ${check}
  stats:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, refresh: 1s, realm: "warren test realm", auth: ["admin:s3cret", "ops:other:pass"], admin: true}
    monitor-uri: /healthz
  ro:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /haproxy?stats, auth: ["admin:s3cret"], hide-version: true}
`, { xss: XSS }); // (the loader refuses that name: the server gets it after loading)
  const log = createLogger('stats', new Writable({ write: (_c, _e, cb) => cb() }));
  const cfg = (name: string): StatsConfig => running.proxy.config.stats.find((s) => s.name === name)!;
  // The admin section is the one the proxy itself serves (Proxy.start starts one listener per
  // stats section, in config order).
  adminStats = running.proxy.statsServers[running.proxy.config.stats.findIndex((s) => s.name === 'stats')]!;
  assert.ok(adminStats, 'the proxy serves its stats section');
  // The read-only section, a second listener started here with options the config has no
  // keyword for: short timeouts (slow clients) and a VRRP status URL where nothing listens.
  vrrpDead = await deadPort();
  roStats = await startStatsHttp(cfg('ro'), running.proxy, log, { headersTimeoutMs: 800, requestTimeoutMs: 1500, vrrpStatusUrl: `http://${HOST}:${vrrpDead}/status` });
  base = `http://${HOST}:${adminStats.addresses()[0]!.port}`;
  roBase = `http://${HOST}:${roStats.addresses()[0]!.port}`;
  // Every live server UP, the dead one DOWN.
  await waitFor(async () => {
    const st = await statuses();
    return st.get('s1') === 'UP' && st.get('s2') === 'UP' && st.get(XSS) === 'UP' && st.get('dead') === 'DOWN';
  }, 'servers settle');
});

after(async () => {
  await roStats?.close();
  await running?.stop();
  for (const b of backends) await b.close();
});

async function waitFor(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

function get(path: string, headers: Record<string, string> = { authorization: AUTH }, b = base): Promise<Response> {
  return fetch(b + path, { headers, redirect: 'manual' });
}

async function statuses(): Promise<Map<string, string>> {
  const res = await get('/stats;csv');
  const { rows } = parseCsv(await res.text());
  return new Map(rows.filter((r) => r.pxname === 'app' && r.type === '2').map((r) => [r.svname!, r.status!]));
}

function post(form: Record<string, string | string[]>, path = '/stats', headers: Record<string, string> = { authorization: AUTH }, b = base): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  return fetch(b + path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, redirect: 'manual' });
}

/** Which backends answer `n` new connections through the proxy. */
async function servedBy(n: number): Promise<string[]> {
  const port = running.port('app');
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const sock = await connect(port);
    names.push((await readAll(sock)).toString().trim());
  }
  return names;
}

/** One raw exchange: send bytes, collect the answer until the server closes (or 3 s). */
function raw(port: number, payload: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    const chunks: Buffer[] = [];
    const done = (): void => resolve(Buffer.concat(chunks).toString('latin1'));
    sock.setTimeout(3000, () => sock.destroy());
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => sock.write(payload));
  });
}

test('pure helpers: URL modifiers and constant-time auth', () => {
  assert.deepEqual(parseStatsUrl('/stats;up;norefresh', '/stats'), { format: 'html', upOnly: true, noRefresh: true, noMaint: false, statusCode: null, unsupported: null });
  assert.equal(parseStatsUrl('/stats;csv;norefresh', '/stats')?.format, 'csv');
  assert.equal(parseStatsUrl('/stats;no-maint;st=DONE', '/stats')?.statusCode, 'DONE');
  assert.equal(parseStatsUrl('/stats;st=<x>', '/stats')?.statusCode, 'UNKN');
  assert.equal(parseStatsUrl('/haproxy?stats;csv', '/haproxy?stats')?.format, 'csv');
  assert.equal(parseStatsUrl('/statsfoo', '/stats'), null);
  assert.equal(parseStatsUrl('/other', '/stats'), null);
  assert.equal(checkAuth(['a:b', 'c:d:e'], 'c:d:e'), 'c');
  assert.equal(checkAuth(['a:b'], 'a:c'), null);
  assert.equal(checkAuth(['a:b'], null), null);
});

test('stats auth: 401 with the realm without or with wrong credentials, 200 for each configured user', async () => {
  const wrong: Record<string, string>[] = [{}, { authorization: 'Basic ' + Buffer.from('admin:wrong').toString('base64') }, { authorization: 'Basic !!!' }, { authorization: 'Bearer x' }];
  for (const headers of wrong) {
    const res = await get('/stats', headers);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="warren test realm"');
    await res.text();
  }
  // The default realm (no `stats realm`) is HAProxy's.
  const ro = await get('/haproxy?stats', {}, roBase);
  assert.equal(ro.headers.get('www-authenticate'), 'Basic realm="HAProxy Statistics"');
  await ro.text();
  for (const a of [AUTH, AUTH2]) {
    const res = await get('/stats', { authorization: a });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await res.text(), /data-server="s1"/);
  }
  // /metrics and ;csv are protected too; the monitor URI is not.
  assert.equal((await get('/stats;csv', {})).status, 401);
  assert.equal((await get('/metrics', {})).status, 401);
  assert.equal((await get('/healthz', {})).status, 200);
});

test('the page: one table per proxy, HAProxy columns, refresh, escaping, hide-version', async () => {
  const html = await (await get('/stats')).text();
  assert.match(html, /<meta http-equiv="refresh" content="1">/);
  assert.match(html, /<meta name="viewport"/);
  for (const col of ['Queue', 'Session rate', 'Sessions', 'Bytes', 'Denied', 'Errors', 'Warnings', 'Server', 'LastChk', 'Wght', 'Dwntme', 'Thrtle']) assert.ok(html.includes(`>${col}<`), col);
  assert.match(html, /<tr class="frontend">/);
  assert.match(html, /<tr class="backend"/);
  assert.match(html, /<tr class="active_up" data-server="s1" data-status="UP">/);
  assert.match(html, /<tr class="active_down" data-server="dead" data-status="DOWN">/);
  assert.match(html, /L4CON/);
  // The server named <script>... is text, never markup.
  assert.ok(!html.includes(XSS), 'raw <script> in the page');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.match(html, /VRRP status: not configured \(warren vrrp status API not available\)/);
  assert.match(html, /id="host"/);
  // CSP forbids scripts altogether.
  const res = await get('/stats');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  await res.text();
  // hide-version: no version string anywhere on that section's page.
  const roHtml = await (await get('/haproxy?stats', { authorization: AUTH }, roBase)).text();
  assert.ok(!/warren \d+\.\d+/.test(roHtml), 'version shown despite hide-version');
  assert.ok(!roHtml.includes('http-equiv="refresh"'), 'no refresh configured');
  assert.ok(!roHtml.includes('<form'), 'no admin form without stats admin');
});

test('modifiers ;up ;norefresh ;no-maint combine like HAProxy', async () => {
  const up = await (await get('/stats;up;norefresh')).text();
  assert.ok(!up.includes('http-equiv="refresh"'));
  assert.ok(!up.includes('data-server="dead"'), ';up hides the DOWN server');
  assert.ok(up.includes('data-server="s1"'));
  assert.match(up, /href="\/stats;norefresh">Show all servers/);
  const res = await post({ s: 's2', action: 'maint', b: 'app' });
  assert.equal(res.status, 303);
  try {
    const noMaint = await (await get('/stats;no-maint')).text();
    assert.ok(!noMaint.includes('data-server="s2"'), ';no-maint hides MAINT');
    assert.ok(noMaint.includes('data-server="dead"'), ';no-maint keeps DOWN');
    const all = await (await get('/stats')).text();
    assert.match(all, /<tr class="maintain" data-server="s2" data-status="MAINT">/);
  } finally {
    await post({ s: 's2', action: 'ready', b: 'app' });
  }
});

test(';csv and ;json are served from the same rows', async () => {
  const res = await get('/stats;csv');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  assert.ok(text.startsWith('# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,'));
  const { rows } = parseCsv(text);
  const names = rows.filter((r) => r.pxname === 'app').map((r) => r.svname);
  assert.deepEqual(names, ['FRONTEND', 's1', 's2', XSS, 'dead', 'BACKEND']);
  const json = await get('/stats;json');
  assert.equal(json.status, 200);
  assert.match(json.headers.get('content-type') ?? '', /json/);
  // HAProxy's `show stat json` shape: one array of typed fields per row.
  const typed = JSON.parse(await json.text()) as { objType: string; field: { name: string }; value: { value: unknown } }[][];
  const s1 = typed.find((r) => r.some((f) => f.field.name === 'svname' && f.value.value === 's1'));
  assert.ok(s1, 'row of s1 in ;json');
  assert.equal(s1[0]!.objType, 'Server');
  // /metrics: Prometheus text, from the same model.
  const metrics = await get('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const exposition = await metrics.text();
  assert.match(exposition, /^warren_server_current_sessions\{[^}]*server="s1"[^}]*\} 0$/m);
  assert.match(exposition, /^warren_backend_up\{[^}]*backend="app"[^}]*\} 1$/m);
  // HEAD: headers only.
  const head = await fetch(base + '/stats', { method: 'HEAD', headers: { authorization: AUTH } });
  assert.equal(head.status, 200);
  assert.ok(Number(head.headers.get('content-length')) > 1000);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
});

test('admin drain: 303 back to ;st=DONE, and new connections skip the drained server', async () => {
  const before = await servedBy(6);
  assert.ok(before.includes('s1'), `s1 serves before the drain: ${before}`);
  const res = await post({ s: 's1', action: 'drain', b: '#1' }, '/stats;up');
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/stats;st=DONE;up');
  assert.equal((await statuses()).get('s1'), 'DRAIN');
  const page = await (await get(res.headers.get('location')!)).text();
  assert.match(page, /Action processed successfully\./);
  assert.match(page, /<tr class="active_draining" data-server="s1" data-status="DRAIN">/);
  try {
    const during = await servedBy(9);
    assert.ok(!during.includes('s1'), `no new session on the drained s1: ${during}`);
    assert.ok(during.includes('s2') && during.includes('xss'), `the others serve: ${during}`);
  } finally {
    const back = await post({ s: 's1', action: 'ready', b: 'app' });
    assert.equal(back.headers.get('location'), '/stats;st=DONE');
  }
  assert.ok((await servedBy(6)).includes('s1'), 's1 serves again once READY');
});

test('admin maint: MAINT in the CSV, no traffic, checks paused; ready brings it back', async () => {
  const res = await post({ s: [XSS, 's2'], action: 'maint', b: 'app' });
  assert.equal(res.headers.get('location'), '/stats;st=DONE');
  try {
    const st = await statuses();
    assert.equal(st.get(XSS), 'MAINT');
    assert.equal(st.get('s2'), 'MAINT');
    const during = await servedBy(6);
    assert.deepEqual([...new Set(during)], ['s1']);
  } finally {
    await post({ s: [XSS, 's2'], action: 'ready', b: 'app' });
  }
  await waitFor(async () => (await statuses()).get('s2') === 'UP', 's2 UP again');
});

test("admin results follow HAProxy's codes: NONE, ERRP, PART, DENY, IVAL", async () => {
  const loc = async (r: Promise<Response>): Promise<string | null> => (await r).headers.get('location');
  assert.equal(await loc(post({ action: 'drain', b: 'app' })), '/stats;st=NONE'); // no server ticked
  assert.equal(await loc(post({ s: 's1', action: 'explode', b: 'app' })), '/stats;st=ERRP'); // unknown action
  assert.equal(await loc(post({ s: 's1', action: '', b: 'app' })), '/stats;st=ERRP'); // "Choose an action"
  assert.equal(await loc(post({ s: 's1', action: 'drain', b: 'nope' })), '/stats;st=ERRP'); // unknown backend
  assert.equal(await loc(post({ s: 's1', action: 'drain', b: '#999' })), '/stats;st=ERRP');
  assert.equal(await loc(post({ s: 'ghost', action: 'drain', b: 'app' })), '/stats;st=ERRP'); // unknown server
  assert.equal(await loc(post({ s: ['ghost', 's1'], action: 'stop', b: 'app' })), '/stats;st=PART');
  assert.equal((await statuses()).get('s1'), 'DRAIN');
  assert.equal(await loc(post({ s: ['s1'], action: 'start', b: 'app' })), '/stats;st=DONE');
  assert.equal((await statuses()).get('s1'), 'UP');
  // Not an admin section: authenticated, but denied.
  assert.equal(await loc(post({ s: 's1', action: 'maint', b: 'app' }, '/haproxy?stats', { authorization: AUTH }, roBase)), '/haproxy?stats;st=DENY');
  assert.equal((await statuses()).get('s1'), 'UP');
  // Cross-site browser POSTs (CSRF riding on cached credentials) are denied; same-origin ones pass.
  assert.equal(await loc(post({ s: 's1', action: 'maint', b: 'app' }, '/stats', { authorization: AUTH, origin: 'http://evil.example' })), '/stats;st=DENY');
  assert.equal(await loc(post({ s: 's1', action: 'maint', b: 'app' }, '/stats', { authorization: AUTH, origin: 'null' })), '/stats;st=DENY');
  assert.equal(await loc(post({ s: 's1', action: 'maint', b: 'app' }, '/stats', { authorization: AUTH, 'sec-fetch-site': 'cross-site' })), '/stats;st=DENY');
  assert.equal((await statuses()).get('s1'), 'UP');
  assert.equal(await loc(post({ s: 's1', action: 'stop', b: 'app' }, '/stats', { authorization: AUTH, origin: base, 'sec-fetch-site': 'same-origin' })), '/stats;st=DONE');
  assert.equal(await loc(post({ s: 's1', action: 'ready', b: 'app' })), '/stats;st=DONE');
  // Unauthenticated: 401, nothing applied.
  assert.equal((await post({ s: 's1', action: 'maint', b: 'app' }, '/stats', {})).status, 401);
  assert.equal((await statuses()).get('s1'), 'UP');
  // Not a form.
  const r = await fetch(base + '/stats', { method: 'POST', body: '{"s":"s1"}', headers: { authorization: AUTH, 'content-type': 'application/json' }, redirect: 'manual' });
  assert.equal(r.headers.get('location'), '/stats;st=IVAL');
  assert.equal((await statuses()).get('s1'), 'UP');
  // The message boxes.
  assert.match(await (await get('/stats;st=ERRP')).text(), /Action not processed because of invalid parameters/);
  assert.match(await (await get('/stats;st=DENY')).text(), /Action denied\./);
});

test('monitor-uri: 200 while every backend has a usable server, 503 when none is left', async () => {
  const ok = await get('/healthz', {});
  assert.equal(ok.status, 200);
  assert.ok((await ok.text()).length < 100);
  const all = ['s1', 's2', XSS];
  await post({ s: all, action: 'maint', b: 'app' });
  try {
    const down = await get('/healthz', {});
    assert.equal(down.status, 503);
    assert.match(await down.text(), /1 backend without a usable server/);
    assert.equal((await fetch(base + '/healthz', { method: 'HEAD' })).status, 503);
  } finally {
    await post({ s: all, action: 'ready', b: 'app' });
  }
  await waitFor(async () => (await get('/healthz', {})).status === 200, 'monitor 200 again');
  assert.equal((await fetch(base + '/healthz', { method: 'POST' })).status, 405);
});

test('hostile requests are refused, counted, and the listener keeps answering', async () => {
  const port = adminStats.addresses()[0]!.port;
  const malformed0 = adminStats.counters.malformed;
  const stillServes = async (): Promise<void> => assert.equal((await get('/stats;csv')).status, 200);

  // Headers past the cap: 431, connection closed.
  const big = await raw(port, `GET /stats HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  await stillServes();
  // A huge URL too.
  assert.match(await raw(port, `GET /stats;${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 431 /);
  // Garbage (a TLS hello, binary noise, a bare line).
  assert.match(await raw(port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a])), /^HTTP\/1\.1 400 /);
  assert.match(await raw(port, 'HELLO THERE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  assert.match(await raw(port, 'GET /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello'), /^HTTP\/1\.1 400 /);
  await stillServes();
  assert.ok(adminStats.counters.malformed >= malformed0 + 5, `malformed counted: ${adminStats.counters.malformed - malformed0}`);

  // Admin bodies are capped: by Content-Length up front, and while streaming a chunked body.
  const huge = await raw(port, `POST /stats HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ns=${'a'.repeat(1000)}`);
  assert.match(huge, /^HTTP\/1\.1 413 /);
  const chunked = await raw(
    port,
    `POST /stats HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n` +
      `${(40_000).toString(16)}\r\n${'s'.repeat(40_000)}\r\n0\r\n\r\n`,
  );
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.ok(adminStats.counters.tooLarge >= 1);
  await stillServes();

  // Unknown paths and methods.
  assert.equal((await get('/nope')).status, 404);
  assert.equal((await get('/stats;typed')).status, 404);
  const put = await fetch(base + '/stats', { method: 'PUT', headers: { authorization: AUTH }, body: 'x' });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, HEAD, POST');
  assert.equal((await fetch(base + '/stats;csv', { method: 'POST', headers: { authorization: AUTH }, body: 's=1' })).status, 405);
  assert.equal((await fetch(base + '/stats', { method: 'DELETE', headers: { authorization: AUTH } })).status, 405);
  assert.match(await raw(port, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 405 /);
  assert.equal(adminStats.counters.errors, 0);

  // The proxy itself never noticed.
  assert.ok((await servedBy(3)).length === 3);
});

test('the stats listener counts its own traffic (the stats section rows)', async () => {
  assert.ok(adminStats.traffic.total > 0);
  const { rows } = parseCsv(await (await get('/stats;csv')).text());
  const fe = rows.find((r) => r.pxname === 'stats' && r.svname === 'FRONTEND')!;
  assert.ok(Number(fe.stot) > 0, `stats FRONTEND stot ${fe.stot}`);
});

test('slow clients are cut off (headers timeout) and counted; the listener keeps serving', async () => {
  const port = roStats.addresses()[0]!.port;
  const t0 = Date.now();
  const [idle, slow] = await Promise.all([
    raw(port, ''),
    new Promise<string>((resolve) => {
      const sock = net.connect({ host: HOST, port });
      let got = '';
      let n = 0;
      const drip = setInterval(() => sock.writable && sock.write(n++ === 0 ? 'GET /haproxy?stats HTTP/1.1\r\n' : `X-${n}: y\r\n`), 200);
      sock.on('data', (d: Buffer) => (got += d.toString()));
      sock.on('error', () => {});
      sock.on('close', () => (clearInterval(drip), resolve(got)));
    }),
  ]);
  const took = Date.now() - t0;
  assert.match(idle, /^HTTP\/1\.1 408 /);
  assert.match(slow, /^HTTP\/1\.1 408 /);
  assert.ok(took < 3000, `cut after ${took} ms`);
  assert.ok(roStats.counters.timeouts >= 2);
  assert.equal((await get('/haproxy?stats;csv', { authorization: AUTH }, roBase)).status, 200);
});

test('VRRP panel: a configured but unreachable status API is reported as such', async () => {
  let html = '';
  await waitFor(async () => {
    html = await (await get('/haproxy?stats', { authorization: AUTH }, roBase)).text();
    return html.includes('VRRP status unavailable');
  }, 'VRRP panel shows the fetch error');
  assert.ok(html.includes(`http://${HOST}:${vrrpDead}/status`));
});

test('VRRP panel without a status URL: states reported to this process (setVrrpState), else "not configured"', async () => {
  setVrrpState('VI_1', 'MASTER', 100);
  try {
    const html = await (await get('/stats')).text();
    assert.match(html, /<b>VI_1<\/b> <span class="state active_up">MASTER<\/span>/);
    assert.match(html, /as reported to this proxy/);
  } finally {
    setVrrpState('VI_1', null);
  }
  assert.match(await (await get('/stats')).text(), /VRRP status: not configured/);
});

test('render(): the VRRP panel from a status answer, escaped', () => {
  const opts: RenderOptions = {
    uri: '/stats',
    refreshMs: null,
    noRefresh: false,
    upOnly: false,
    noMaint: false,
    admin: false,
    hideVersion: true,
    statusCode: null,
    host: null,
    now: Date.now(),
    vrrp: {
      url: 'http://127.0.0.1:1/status',
      fetchedAt: Date.now(),
      status: {
        instances: [
          {
            name: 'VI_1<b>',
            state: 'MASTER',
            priority: 100,
            effective_priority: 80,
            vips: ['198.51.100.100/24'],
            peers: [{ address: '198.51.100.2', state: 'BACKUP', priority: 90, last_seen: '0.4s' }],
          },
        ],
      },
    },
  };
  const html = render([], { Pid: 1 }, opts);
  assert.ok(html.includes('VI_1&lt;b&gt;'));
  assert.match(html, /<span class="state active_up">MASTER<\/span>/);
  assert.match(html, /100 \(effective 80\)/);
  assert.match(html, /198\.51\.100\.100\/24/);
  assert.match(html, /<td class="ac backup_up">BACKUP<\/td><td>90<\/td>/);
  // Unknown shapes are shown as escaped JSON rather than dropped.
  const odd = render([], {}, { ...opts, vrrp: { url: 'x', status: { weird: '<i>' }, fetchedAt: 0 } });
  assert.ok(odd.includes('&lt;i&gt;') && !odd.includes('<i>'));
});
