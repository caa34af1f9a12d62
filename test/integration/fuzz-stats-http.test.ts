// Property-based fuzzing of the stats HTTP listener (src/proxy/stats/http-server.ts) of a REAL
// in-process warren proxy on 127.0.0.1 with real TCP backends, issue 7: raw requests over
// net.Socket, so that malformed ones are possible — random methods, stats URIs with modifiers
// (;csv ;json ;up ;st=...), query strings and percent-encoding garbage, admin POST forms
// (action=...&s=...&b=...), huge and malformed headers, bad Authorization, bytes that are not
// HTTP at all. Every request gets a response or a clean close within a timeout, the handler
// never fails (a 500, counted in counters.errors), and afterwards the page still answers 200.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import fc from 'fast-check';
import { startProxy, tcpServer, TIMEOUTS, type RunningProxy } from '../harness/proxy.js';
import type { StatsHttpHandle } from '../../src/proxy/stats/http-server.js';
import { fuzzAsync, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

const HOST = '127.0.0.1';
const BUDGET: FuzzBudget = { runs: 2000, timeMs: 8000 };
/** A request must be answered or its connection closed within this. */
const ANSWER_MS = 4000;
const AUTH = 'Basic ' + Buffer.from('admin:s3cret').toString('base64');

let running: RunningProxy;
let stats: StatsHttpHandle;
let port: number;
let backends: Awaited<ReturnType<typeof tcpServer>>[] = [];

before(async () => {
  backends = [await tcpServer((s) => s.end('s1\n')), await tcpServer((s) => s.end('s2\n'))];
  running = await startProxy(`global: {maxconn: 200}
defaults:
  mode: tcp
  ${TIMEOUTS}
listen:
  app:
    bind: ${HOST}:0
    server:
      - s1 ${HOST}:${backends[0]!.port} check inter 200ms
      - s2 ${HOST}:${backends[1]!.port} check inter 200ms
  stats:
    mode: http
    bind: ${HOST}:0
    stats: {enable: true, uri: /stats, refresh: 5s, auth: ["admin:s3cret"], admin: true}
    monitor-uri: /healthz
`);
  stats = running.proxy.statsServers[0]!;
  port = stats.addresses()[0]!.port;
});

after(async () => {
  await running?.stop();
  for (const b of backends) await b.close();
});

interface Outcome {
  /** The final status code received, or null when the server closed without answering. */
  status: number | null;
  raw: string;
}

/** Writes `data` raw, half-closes, and waits for the server to close (or for a response on a
 *  connection it keeps alive); fails when neither happens in time. */
function exchange(data: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: HOST, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const outcome = (): Outcome => {
      const raw = Buffer.concat(chunks).toString('latin1');
      // The final status: an interim 100 Continue (Expect: 100-continue) comes first.
      const codes = [...raw.matchAll(/(?:^|\r\n\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      return { status: codes.find((c) => c >= 200) ?? null, raw };
    };
    const timer = setTimeout(() => {
      c.destroy();
      const o = outcome();
      if (o.status !== null) resolve(o);
      else reject(new Error(`no response and no close within ${ANSWER_MS} ms; got ${JSON.stringify(o.raw.slice(0, 200))}`));
    }, ANSWER_MS);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('error', () => {}); // a reset after a 400/431 is a clean refusal too
    c.on('close', () => {
      clearTimeout(timer);
      resolve(outcome());
    });
    c.on('connect', () => c.end(data));
  });
}

// ---- request generators ------------------------------------------------------------------------

const pctGarbage = fc.constantFrom('%', '%G', '%zz', '%0', '%00', '%ff', '%C0%AF', '%E2%82', '%25', '%2F..%2F', '%u0041', '+', '%2B');
const segment = fc.oneof(fc.constantFrom('stats', 'healthz', 'metrics', '..', '.', '', 'haproxy', '%2e%2e'), fc.string({ maxLength: 8 }).map(encodeURIComponent), pctGarbage);
const modifier = fc.oneof(fc.constantFrom(';csv', ';json', ';up', ';norefresh', ';no-maint', ';typed', ';json-schema', ';st=DONE', ';st=xx', ';st=', ';', ';;'), pctGarbage.map((p) => `;${p}`));
// Encoded as a browser would ('#' → %23), or garbage percent-escapes.
const formValue = fc.oneof(
  fc.constantFrom('app', 's1', 's2', 'nope', '#1', '#2', '#x', '#999999999999999999', 'ready', 'drain', 'maint', 'shutdown', 'disable', 'enable', 'stop', 'start', 'dhlth', 'bogus', '').map(encodeURIComponent),
  pctGarbage,
  fc.string({ maxLength: 10 }).map(encodeURIComponent),
);
const form = fc.array(fc.tuple(fc.constantFrom('action', 's', 'b', 'x', ''), formValue, fc.boolean()), { maxLength: 8 }).map((ps) => ps.map(([k, v, bare]) => (bare && k ? k : `${k}=${v}`)).join('&'));
const target = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('/stats', '/healthz', '/metrics', '/'), fc.array(modifier, { maxLength: 3 }), fc.option(form)).map(([p, ms, q]) => p + ms.join('') + (q === null ? '' : `?${q}`)) },
  { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://x/stats;csv', 'https://h:1/stats', '//stats', 'stats', '', ' ', '/stats\u0000', '/stats#frag', '/stats?'.padEnd(9000, 'a')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30, unit: 'binary' }) },
);
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'POST') }, { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'get', 'G ET', '') }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const authorization = fc.oneof(
  { weight: 4, arbitrary: fc.constant(AUTH) },
  fc.constantFrom('Basic', 'Basic ', 'Basic ====', 'Basic YWRtaW4=', 'basic YWRtaW46czNjcmV0', 'Bearer x', 'Basic ' + 'A'.repeat(7000), 'Basic YWRtaW46czNjcmV0 extra', 'Basic \u00ff\u00fe'),
  fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
  fc.string({ maxLength: 40, unit: 'binary' }),
);
// Mostly well-formed headers, so that most requests reach the handler; some broken or huge ones.
const header = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('Content-Type', 'Content-Length', 'Transfer-Encoding', 'Host', 'Origin', 'Referer', 'Connection', 'Expect', 'Sec-Fetch-Site', 'Cookie'), fc.oneof(fc.constantFrom('application/x-www-form-urlencoded', 'text/plain', 'chunked', 'close', 'keep-alive', '100-continue', 'cross-site', '-1', '0', '99999999999', '1e3', 'http://evil', ''), fc.string({ maxLength: 20 }))) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20, unit: 'binary' })) },
  { weight: 1, arbitrary: fc.constant(['X-Huge', 'h'.repeat(10_000)] as [string, string]) },
);

/** One raw request: request line, headers (maybe a bad Authorization), blank line, body. */
const request = fc
  .record({
    method,
    target,
    version: fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.', 'http/1.1', '') }),
    auth: fc.option(authorization),
    headers: fc.array(header, { maxLength: 3 }),
    body: fc.option(fc.oneof(form, fc.string({ maxLength: 200, unit: 'binary' }), fc.constant('a=b&'.repeat(6000)))),
    lengthRight: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    eol: fc.oneof({ weight: 6, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constant('\n') }),
  })
  .map((r) => {
    const lines = [`${r.method} ${r.target} ${r.version}`.trimEnd(), `Host: ${HOST}`];
    if (r.auth !== null) lines.push(`Authorization: ${r.auth}`);
    for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
    const body = Buffer.from(r.body ?? '', 'utf8');
    if (r.body !== null && r.lengthRight) lines.push(`Content-Length: ${body.length}`);
    lines.push('Connection: close');
    return Buffer.concat([Buffer.from(lines.join(r.eol) + r.eol + r.eol, 'utf8'), body]);
  });
const payload = fc.oneof({ weight: 8, arbitrary: request }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)) });

async function pageAnswers(): Promise<void> {
  for (const path of ['/stats', '/stats;csv', '/stats;json']) {
    const o = await exchange(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`));
    assert.equal(o.status, 200, `GET ${path}: ${o.raw.slice(0, 200)}`);
  }
}

test('random raw requests: each answered or closed in time, never a 500, and the page still answers 200', { timeout: testTimeout(BUDGET.timeMs) }, async () => {
  await pageAnswers();
  const seen = new Map<number | null, number>();
  await fuzzAsync(
    'stats HTTP: random raw requests',
    fc.asyncProperty(payload, async (data) => {
      const o = await exchange(data);
      seen.set(o.status, (seen.get(o.status) ?? 0) + 1);
      assert.notEqual(o.status, 500, `the handler failed: ${o.raw.slice(0, 300)}`);
      if (o.status !== null) assert.ok(o.status >= 200 && o.status < 600, `status ${o.status}`);
    }),
    BUDGET,
  );
  // Which answers the requests got (the log shows that they reach the handler, not only the parser).
  console.log(`stats HTTP fuzz: status counts ${JSON.stringify(Object.fromEntries(seen))}`);
  assert.equal(stats.counters.errors, 0, 'stats requests failed inside the handler');
  await pageAnswers();
});
