// The tcp and http check runners against REAL sockets on 127.0.0.1.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { tcpCheck } from '../../src/proxy/check/tcp.js';
import { httpCheck } from '../../src/proxy/check/http.js';
import type { HttpCheckConfig } from '../../src/config/types.js';

const HOST = '127.0.0.1';

/** A server plus a live count of its accepted connections. */
interface Tracked<S extends net.Server> {
  server: S;
  port: number;
  open: Set<net.Socket>;
  accepted: number;
  close(): Promise<void>;
}

/** `drain`: read and discard what clients send (a socket that is never read never sees their FIN). */
async function track<S extends net.Server>(server: S, drain = true): Promise<Tracked<S>> {
  const t: Tracked<S> = {
    server,
    port: 0,
    open: new Set(),
    accepted: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of t.open) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (s: net.Socket) => {
    t.accepted++;
    t.open.add(s);
    s.on('error', () => {}); // the checker resets pure TCP checks
    s.on('close', () => t.open.delete(s));
    if (drain) s.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  t.port = (server.address() as net.AddressInfo).port;
  return t;
}

async function drained(t: Tracked<net.Server>, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (t.open.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(t.open.size, 0, `${what}: the server still has ${t.open.size} open connection(s)`);
}

function clientSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, HOST, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const httpCfg = (over: Partial<HttpCheckConfig> = {}): HttpCheckConfig => ({
  method: 'GET',
  uri: '/ok',
  expectStatus: [200],
  expectStatusRegex: null,
  auth: null,
  headers: {},
  ...over,
});

// ---- servers ---------------------------------------------------------------------------------

let plain: Tracked<net.Server>; // accepts and black-holes (never writes)
let garbage: Tracked<net.Server>; // answers garbage
let hangup: Tracked<net.Server>; // closes at once
let resetter: Tracked<net.Server>; // resets at once
let web: Tracked<http.Server>;
const seen: http.IncomingHttpHeaders[] = [];
let baselineSockets = 0;

before(async () => {
  baselineSockets = clientSockets();
  plain = await track(net.createServer());
  garbage = await track(
    net.createServer((s) => {
      s.on('data', () => s.write('SSH-2.0-OpenSSH_9.2 \u0000\u0001garbage\r\n\r\n'));
    }),
  );
  hangup = await track(net.createServer((s) => s.end()));
  resetter = await track(
    net.createServer((s) => {
      s.once('data', () => s.resetAndDestroy());
    }),
  );
  web = await track(
    http.createServer((req, res) => {
      seen.push(req.headers);
      const url = req.url ?? '/';
      if (url === '/ok') return void res.end('ok');
      if (url === '/down') {
        res.statusCode = 503;
        return void res.end('down');
      }
      if (url === '/redirect') {
        res.writeHead(302, { location: '/ok' });
        return void res.end();
      }
      if (url === '/missing') {
        res.statusCode = 404;
        return void res.end();
      }
      if (url === '/nocontent') {
        res.statusCode = 204;
        return void res.end();
      }
      if (url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return void res.end(Buffer.alloc(4 * 1024 * 1024, 0x61));
      }
      if (url === '/slow') {
        const t = setTimeout(() => res.end('late'), 5000);
        res.on('close', () => clearTimeout(t));
        return;
      }
      if (url === '/auth') {
        const want = `Basic ${Buffer.from('monitor:s3cr:et', 'utf8').toString('base64')}`;
        res.statusCode = req.headers.authorization === want && req.headers['x-check'] === 'warren' ? 200 : 401;
        return void res.end();
      }
      res.statusCode = 500;
      res.end();
    }),
    false,
  );
});

after(async () => {
  await Promise.all([plain, garbage, hangup, resetter, web].map((t) => t.close()));
});

// ---- tcp -------------------------------------------------------------------------------------

test('tcp: a listening server -> L4OK, the connection is closed', async () => {
  const r = await tcpCheck()({ host: HOST, port: plain.port }, 1000);
  assert.equal(r.ok, true);
  assert.equal(r.status, 'L4OK');
  assert.equal(r.hardFailure, false);
  assert.equal(r.code, null);
  assert.ok(r.durationMs >= 0 && r.durationMs < 1000);
  await drained(plain, 'tcp L4OK');
});

test('tcp: a closed port -> L4CON with hardFailure', async () => {
  const r = await tcpCheck()({ host: HOST, port: await closedPort() }, 1000);
  assert.equal(r.ok, false);
  assert.equal(r.status, 'L4CON');
  assert.equal(r.hardFailure, true);
  assert.equal(r.desc, 'Connection refused');
});

test('tcp: a server that accepts but never talks still passes (L4OK)', async () => {
  const before = plain.accepted;
  const rs = await Promise.all([1, 2, 3, 4, 5].map(() => tcpCheck()({ host: HOST, port: plain.port }, 1000)));
  assert.ok(rs.every((r) => r.status === 'L4OK'));
  await drained(plain, 'tcp x5');
  assert.equal(plain.accepted - before, 5);
});

// ---- http ------------------------------------------------------------------------------------

test('http: 200 -> L7OK with the code', async () => {
  const r = await httpCheck(httpCfg())({ host: HOST, port: web.port }, 2000);
  assert.deepEqual([r.ok, r.status, r.code, r.desc, r.hardFailure], [true, 'L7OK', 200, 'OK', false]);
  await drained(web, 'http 200');
});

test('http: 503 -> L7STS with code 503', async () => {
  const r = await httpCheck(httpCfg({ uri: '/down' }))({ host: HOST, port: web.port }, 2000);
  assert.deepEqual([r.ok, r.status, r.code, r.desc, r.hardFailure], [false, 'L7STS', 503, 'Service Unavailable', false]);
  await drained(web, 'http 503');
});

test('http: without an expect rule 2xx/3xx pass and 4xx fails; status regex works', async () => {
  const any = httpCfg({ expectStatus: [] });
  assert.equal((await httpCheck({ ...any, uri: '/redirect' })({ host: HOST, port: web.port }, 2000)).status, 'L7OK');
  const miss = await httpCheck({ ...any, uri: '/missing' })({ host: HOST, port: web.port }, 2000);
  assert.deepEqual([miss.status, miss.code], ['L7STS', 404]);
  const re = httpCfg({ expectStatus: [], expectStatusRegex: '^2', uri: '/nocontent' });
  assert.equal((await httpCheck(re)({ host: HOST, port: web.port }, 2000)).status, 'L7OK');
  assert.equal((await httpCheck({ ...re, uri: '/redirect' })({ host: HOST, port: web.port }, 2000)).status, 'L7STS');
  await drained(web, 'http expect');
});

test('http: a slow server -> L7TOUT within the timeout', async () => {
  const t0 = Date.now();
  const r = await httpCheck(httpCfg({ uri: '/slow' }))({ host: HOST, port: web.port }, 300);
  const took = Date.now() - t0;
  assert.deepEqual([r.ok, r.status, r.code, r.hardFailure], [false, 'L7TOUT', null, false]);
  assert.ok(took >= 280 && took < 2000, `took ${took}ms`);
  await drained(web, 'http slow');
});

test('http: basic auth and extra headers are sent as configured', async () => {
  seen.length = 0;
  const r = await httpCheck(httpCfg({ uri: '/auth', auth: 'monitor:s3cr:et', headers: { 'X-Check': 'warren' } }))({ host: HOST, port: web.port }, 2000);
  assert.equal(r.status, 'L7OK', `got ${r.status} ${r.code}`);
  assert.equal(seen[0]?.['connection'], 'close');
  const wrong = await httpCheck(httpCfg({ uri: '/auth', auth: 'monitor:nope', headers: { 'X-Check': 'warren' } }))({ host: HOST, port: web.port }, 2000);
  assert.deepEqual([wrong.status, wrong.code], ['L7STS', 401]);
  await drained(web, 'http auth');
});

test('http: HEAD works', async () => {
  const r = await httpCheck(httpCfg({ method: 'head' }))({ host: HOST, port: web.port }, 2000);
  assert.equal(r.status, 'L7OK');
  await drained(web, 'http head');
});

test('http: a large body is discarded with a bounded read and the connection dropped', async () => {
  const r = await httpCheck(httpCfg({ uri: '/big' }))({ host: HOST, port: web.port }, 2000);
  assert.equal(r.status, 'L7OK');
  await drained(web, 'http big');
});

test('http: closed port -> L4CON hardFailure', async () => {
  const r = await httpCheck(httpCfg())({ host: HOST, port: await closedPort() }, 1000);
  assert.deepEqual([r.ok, r.status, r.hardFailure], [false, 'L4CON', true]);
});

test('http: a server answering garbage -> L7RSP, no crash', async () => {
  const r = await httpCheck(httpCfg())({ host: HOST, port: garbage.port }, 1000);
  assert.equal(r.ok, false);
  assert.equal(r.status, 'L7RSP');
  assert.equal(r.hardFailure, false);
  await drained(garbage, 'http garbage');
});

test('http: a server that hangs up without answering -> L7RSP; one that resets -> hardFailure', async () => {
  const a = await httpCheck(httpCfg())({ host: HOST, port: hangup.port }, 1000);
  assert.deepEqual([a.ok, a.status], [false, 'L7RSP']);
  const b = await httpCheck(httpCfg())({ host: HOST, port: resetter.port }, 1000);
  assert.equal(b.ok, false);
  assert.equal(b.hardFailure, true, `${b.status} ${b.desc}`);
  await drained(hangup, 'http hangup');
  await drained(resetter, 'http reset');
});

test('http: a server that accepts and never answers -> L7TOUT', async () => {
  const r = await httpCheck(httpCfg())({ host: HOST, port: plain.port }, 300);
  assert.deepEqual([r.ok, r.status], [false, 'L7TOUT']);
  await drained(plain, 'http black hole');
});

test('no client socket is left open by the checks', async () => {
  // run a mixed batch concurrently, then count this process's TCP sockets
  const port = await closedPort();
  await Promise.all([
    tcpCheck()({ host: HOST, port: plain.port }, 500),
    tcpCheck()({ host: HOST, port }, 500),
    httpCheck(httpCfg())({ host: HOST, port: web.port }, 500),
    httpCheck(httpCfg({ uri: '/slow' }))({ host: HOST, port: web.port }, 200),
    httpCheck(httpCfg())({ host: HOST, port: garbage.port }, 500),
    httpCheck(httpCfg())({ host: HOST, port }, 500),
  ]);
  await Promise.all([drained(plain, 'batch plain'), drained(web, 'batch web'), drained(garbage, 'batch garbage')]);
  const deadline = Date.now() + 2000;
  while (clientSockets() > baselineSockets && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(clientSockets(), baselineSockets);
});
