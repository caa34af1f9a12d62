// The stats page and the runtime API socket as an attacker sees them (issue 7, "Chaos and
// security"), against a REAL in-process warren proxy and real HTTP / unix-socket clients:
//   - with `stats auth`, every page and format needs the password (401 otherwise), the monitor
//     URI stays open; admin POSTs need `stats admin` AND a configured `stats auth` that the request
//     passed, and a refused one changes nothing;
//   - no XSS: proxy and server names carrying markup and attribute breakers (the loader refuses
//     them now, HAProxy's rule: they are set after loading, the page must escape any name),
//     strings from the VRRP status API (runtime, from another process), and hostile URLs are
//     never reflected as markup;
//   - the runtime API socket gets the configured mode, uid and gid, and the kernel enforces them
//     for another uid.
// (stats-http.test.ts covers the page's features; runtime-api.test.ts compares the CLI, its
// levels included, with HAProxy's.)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import { ask } from '../harness/runtime-socket.js';
import { parseCsv } from '../../src/proxy/stats/csv.js';

const execFileP = promisify(execFile);
const HOST = '127.0.0.1';
const NOBODY = 65534;
const AUTH = { authorization: 'Basic ' + Buffer.from('admin:s3cret').toString('base64') };
const WRONG = { authorization: 'Basic ' + Buffer.from('admin:s3cret ').toString('base64') };

// Each payload would add an element, an event handler or a javascript: URL if it were reflected.
const PX = '<img src=x onerror=alert(1)>';
const PX2 = `q" onmouseover="alert(2)" x='&amp;`;
const SV = `"><svg/onload=alert(3)>`;
const SV2 = `'><script>alert(4)</script>&lt;`;
const VRRP_NAME = '<iframe src=javascript:alert(5)>';
const VRRP_DETAIL = `"><x-pwn onfocus=alert(6) autofocus>`;
const PAYLOADS = [PX, PX2, SV, SV2, VRRP_NAME, VRRP_DETAIL];

/** Every element the page itself uses; anything else came from a payload. */
const PAGE_TAGS = new Set(
  'html head meta link title style body header main footer h1 h2 h3 h4 section nav div p span b i a ul li dl dt dd pre table thead tbody tr th td form input button select option label'.split(' '),
);

type Tcp = Awaited<ReturnType<typeof tcpServer>>;
let running: RunningProxy;
let backends: Tcp[] = [];
let vrrpStatus: http.Server;
let dir: string;
let sockPath: string;
let base: string;

function yamlStr(s: string): string {
  return JSON.stringify(s); // a JSON string is a YAML double-quoted scalar
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsec-stats-'));
  fs.chmodSync(dir, 0o755);
  sockPath = path.join(dir, 'proxy.sock');
  backends = [await tcpServer((s) => s.end()), await tcpServer((s) => s.end()), await tcpServer((s) => s.end())];
  // The VRRP daemon's status API, as a compromised or buggy peer could fill it.
  vrrpStatus = http.createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        router_id: VRRP_NAME,
        instances: [
          {
            name: VRRP_NAME,
            state: VRRP_DETAIL,
            priority: 100,
            effective_priority: 80,
            vips: [VRRP_DETAIL],
            peers: [{ address: VRRP_NAME, state: VRRP_DETAIL, priority: 90, last_seen: VRRP_DETAIL }],
            trackers: [{ name: VRRP_NAME, status: VRRP_DETAIL, weight: -20, detail: VRRP_DETAIL }],
          },
        ],
      }),
    );
  });
  await new Promise<void>((r) => vrrpStatus.listen(0, HOST, r));
  const vrrpPort = (vrrpStatus.address() as { port: number }).port;
  const check = 'check inter 200ms rise 1 fall 1';
  running = await startProxy(`
global:
  maxconn: 100
  stats-socket: ${sockPath} mode 660 level admin uid ${NOBODY} gid ${NOBODY}
  vrrp-status: http://${HOST}:${vrrpPort}/status
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 10s, server: 10s}
listen:
  px:
    bind: ${HOST}:0
    server:
      - ${yamlStr(`sv ${HOST}:${backends[0]!.port} ${check}`)}
      - ${yamlStr(`sv2 ${HOST}:${backends[1]!.port} ${check}`)}
  px2:
    bind: ${HOST}:0
    server:
      - ${yamlStr(`plain ${HOST}:${backends[2]!.port} ${check}`)}
  stats:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, refresh: 5s, auth: ["admin:s3cret"], admin: true}
    monitor-uri: /healthz
  admin-noauth:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, admin: true}
  auth-noadmin:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, auth: ["admin:s3cret"]}
`, { px: PX, px2: PX2, sv: SV, sv2: SV2 });
  base = statsBase('stats');
  await waitFor('every server UP and the VRRP panel filled', async () => {
    const st = await states();
    const html = await (await get('/stats')).text();
    return st.get(SV) === 'UP' && st.get(SV2) === 'UP' && html.includes('router_id');
  });
});

after(async () => {
  await running?.stop();
  for (const b of backends) await b.close();
  await new Promise((r) => vrrpStatus?.close(r));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function statsBase(section: string): string {
  const i = running.proxy.config.stats.findIndex((s) => s.name === section);
  return `http://${HOST}:${running.proxy.statsServers[i]!.addresses()[0]!.port}`;
}

async function waitFor(what: string, pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

function get(p: string, headers: Record<string, string> = AUTH, b = base, method = 'GET'): Promise<Response> {
  return fetch(b + p, { headers, method, redirect: 'manual' });
}

function post(form: Record<string, string>, headers: Record<string, string>, b = base): Promise<Response> {
  return fetch(`${b}/stats`, { method: 'POST', body: new URLSearchParams(form), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, redirect: 'manual' });
}

/** Server states by name (from ;csv of the authenticated admin section). */
async function states(): Promise<Map<string, string>> {
  const { rows } = parseCsv(await (await get('/stats;csv')).text());
  return new Map(rows.filter((r) => r.type === '2').map((r) => [r.svname!, r.status!]));
}

/** No payload reflected, no element the page does not use, no event handler, no javascript: URL. */
function assertInert(html: string, where: string): void {
  for (const p of PAYLOADS) assert.ok(!html.includes(p), `${where}: payload reflected raw: ${p}`);
  const tags = new Set([...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!.toLowerCase()));
  for (const t of tags) assert.ok(PAGE_TAGS.has(t), `${where}: unexpected element <${t}>`);
  for (const tag of html.match(/<[a-zA-Z][^>]*>/g) ?? []) {
    // Attribute values never end early: every quote inside a tag pairs up.
    assert.equal((tag.match(/"/g) ?? []).length % 2, 0, `${where}: unbalanced quotes in ${tag}`);
    // Outside the quoted values (where escaped payload text may sit), no event handler.
    const bare = tag.replace(/"[^"]*"/g, '""').replace(/'[^']*'/g, "''");
    assert.doesNotMatch(bare, /\son[a-z]+\s*=/i, `${where}: an event handler in ${tag}`);
    for (const m of tag.matchAll(/\s(?:href|src|action)="([^"]*)"/gi)) assert.doesNotMatch(m[1]!, /^\s*javascript:/i, `${where}: a javascript: URL in ${tag}`);
  }
}

test('stats auth: every page, format, modifier and method needs the password; the monitor URI does not', async () => {
  const paths = ['/stats', '/stats;csv', '/stats;json', '/stats;up', '/stats;norefresh;no-maint', '/stats;st=DONE', '/stats;csv;up', '/stats?x=1', '/metrics'];
  for (const p of paths) {
    for (const [label, headers] of [['none', {}], ['wrong', WRONG], ['no password', { authorization: 'Basic ' + Buffer.from('admin').toString('base64') }]] as const) {
      for (const method of ['GET', 'HEAD']) {
        const res = await get(p, headers, base, method);
        assert.equal(res.status, 401, `${method} ${p} with ${label} credentials`);
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="HAProxy Statistics"');
        const body = await res.text();
        assert.ok(!body.includes('data-server') && !body.includes('pxname'), `${method} ${p}: no stats in the 401 body`);
      }
    }
    assert.equal((await get(p)).status, 200, `GET ${p} with the password`);
  }
  // The section without auth serves anyone (that is what its config says), and its monitor URI too.
  assert.equal((await get('/healthz', {})).status, 200);
  assert.equal((await get('/stats;csv', {}, statsBase('admin-noauth'))).status, 200);
});

test('admin actions: refused without the password, with a wrong one, on a section without stats admin, and on stats admin without stats auth; nothing changes', async () => {
  const before = await states();
  assert.equal(before.get(SV), 'UP');
  const form = { s: SV, action: 'maint', b: PX };
  // No or wrong credentials: 401, nothing applied.
  assert.equal((await post(form, {})).status, 401);
  assert.equal((await post(form, WRONG)).status, 401);
  // Authenticated, but the section has no `stats admin`.
  const noAdmin = await post(form, AUTH, statsBase('auth-noadmin'));
  assert.equal(noAdmin.headers.get('location'), '/stats;st=DENY');
  // `stats admin` without `stats auth`: HAProxy would let anyone in; warren never lets an
  // anonymous client change a server.
  const anon = await post(form, {}, statsBase('admin-noauth'));
  assert.equal(anon.headers.get('location'), '/stats;st=DENY');
  assert.ok(!(await (await get('/stats', {}, statsBase('admin-noauth'))).text()).includes('<form'), 'no admin form offered there');
  assert.deepEqual(await states(), before, 'no server state changed');
  // The same form with the password on the admin section works, hostile names and all.
  const ok = await post(form, AUTH);
  assert.equal(ok.headers.get('location'), '/stats;st=DONE');
  assert.equal((await states()).get(SV), 'MAINT');
  assert.equal((await post({ ...form, action: 'ready' }, AUTH)).headers.get('location'), '/stats;st=DONE');
  await waitFor(`${SV} UP again`, async () => (await states()).get(SV) === 'UP');
});

test('no XSS: hostile proxy and server names, VRRP status strings and URLs are text, never markup', async () => {
  const pages = ['/stats', '/stats;up;norefresh', '/stats;st=DONE', '/stats;st=<script>', '/stats;no-maint;st=DENY', `/stats;${encodeURIComponent(SV)}`, `/stats?${encodeURIComponent(PX2)}`, `/stats;up?scope=${encodeURIComponent(SV)}`];
  for (const p of pages) {
    const res = await get(p);
    assert.equal(res.status, 200, p);
    const html = await res.text();
    assertInert(html, p);
    // The names are all there, escaped (so the page is still useful).
    for (const name of [PX, PX2, SV, SV2, VRRP_NAME, VRRP_DETAIL]) {
      const escaped = name.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
      assert.ok(html.includes(escaped), `${p}: ${name} shown escaped`);
    }
  }
  // A server in MAINT (another row class, another path through the renderer) and raw, undecoded
  // hostile bytes in the request line.
  assert.equal((await post({ s: SV2, action: 'maint', b: PX }, AUTH)).headers.get('location'), '/stats;st=DONE');
  try {
    assertInert(await (await get('/stats')).text(), 'with a server in MAINT');
  } finally {
    await post({ s: SV2, action: 'ready', b: PX }, AUTH);
  }
  const rawPage = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: HOST, port: Number(new URL(base).port), path: `/stats;st="><script>;up`, headers: AUTH }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  assertInert(rawPage, 'raw request line');
  // The CSP forbids scripts even if something slipped through.
  assert.match((await get('/stats')).headers.get('content-security-policy') ?? '', /default-src 'none'/);
  // The CSV keeps each hostile name in its own cell (quoted where needed), and JSON is JSON.
  const { rows } = parseCsv(await (await get('/stats;csv')).text());
  assert.deepEqual(rows.filter((r) => r.type === '2').map((r) => [r.pxname, r.svname]), [[PX, SV], [PX, SV2], [PX2, 'plain']]);
  const json = JSON.parse(await (await get('/stats;json')).text()) as unknown[];
  assert.ok(Array.isArray(json) && json.length > 0);
});

test('runtime API socket: mode 660 and owner uid/gid as configured, enforced by the kernel for other uids', async () => {
  const st = fs.statSync(sockPath);
  assert.ok(st.isSocket());
  assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o660, NOBODY, NOBODY]);
  assert.equal(await ask(sockPath, 'show cli level\n'), 'admin\n\n');
  // As nobody (the owner) the socket answers; as another uid and gid it is refused by the kernel.
  const client = `const c=require('net').connect(${JSON.stringify(sockPath)});c.on('connect',()=>c.end('show cli level\\n'));c.on('data',d=>process.stdout.write(d));c.on('error',e=>{process.stdout.write('ERR '+e.code);});`;
  const as = async (uid: number): Promise<string> => {
    const r = await execFileP('setpriv', ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', process.execPath, '-e', client], { timeout: 10_000 });
    return r.stdout;
  };
  assert.equal(await as(NOBODY), 'admin\n\n');
  assert.equal(await as(64999), 'ERR EACCES');
});
