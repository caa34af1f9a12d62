// Property-based fuzzing of the runtime API (src/proxy/stats/runtime-api.ts) over a REAL stats
// socket of a REAL in-process warren proxy with real TCP backends on 127.0.0.1, issue 7: random
// lines (command words, unicode, control characters, invalid UTF-8, very long lines, many
// arguments, several commands per line, interactive mode) on fresh connections. Every connection
// is answered and closed in time, no command fails inside (the API answers "Internal error." and
// logs 'runtime API command failed' when one throws), and the proxy still answers `show info` and
// passes traffic afterwards. The pure parser: test/unit/fuzz-cli-parse.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { connect, readAll, startProxy, tcpServer, TIMEOUTS, type RunningProxy } from '../harness/proxy.js';
import { COMMANDS } from '../../src/proxy/stats/runtime-api.js';
import { MAX_LINE } from '../../src/proxy/stats/cli-parse.js';
import { fuzzAsync, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

const BUDGET: FuzzBudget = { runs: 3000, timeMs: 5000 };
/** A connection must be answered and closed within this. */
const ANSWER_MS = 3000;

let dir: string;
let sock: string;
let running: RunningProxy;
let backends: Awaited<ReturnType<typeof tcpServer>>[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfuzz-cli-'));
  sock = path.join(dir, 'warren.sock');
  backends = [await tcpServer((s) => s.end('s1\n')), await tcpServer((s) => s.end('s2\n'))];
  running = await startProxy(`global:
  maxconn: 100
  stats-socket: ${sock} mode 600 level admin
defaults:
  mode: tcp
  ${TIMEOUTS}
listen:
  app:
    bind: 127.0.0.1:0
    balance: roundrobin
    server:
      - s1 127.0.0.1:${backends[0]!.port} check inter 200ms
      - s2 127.0.0.1:${backends[1]!.port} check inter 200ms
`);
});

after(async () => {
  await running?.stop();
  for (const b of backends) await b.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Sends `data`, half-closes, and collects the answer until the API closes (or fails on time). */
function exchange(data: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no close within ${ANSWER_MS} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('utf8').slice(0, 300))}`));
    }, ANSWER_MS);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('error', () => {}); // the API may close while we still write (a too-long line): a close is fine
    c.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    c.on('connect', () => c.end(data));
  });
}

const backendNames = ['app', 'app/s1', 'app/s2', 'app/nope', 'nope/s1', '#1/1', '/', 's1'];
const word = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...new Set(COMMANDS.flatMap((c) => c.words)), 'help', 'prompt', 'quit', 'cli', 'json', 'typed', 'desc', 'ready', 'drain', 'maint', 'weight', 'state', '50%', '0', '256', '-1', '999999999999', '1ms', '127.0.0.1', '::1', '*') },
  { weight: 2, arbitrary: fc.constantFrom(...backendNames) },
  { weight: 2, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom('\\', ';', '\\;', '\t', '\r', '\u0000', '\u001b[2J', '\u2028', '\ud800', 'é', '😀') },
);
const line = fc.oneof(
  { weight: 6, arbitrary: fc.array(word, { minLength: 1, maxLength: 7 }).map((ws) => ws.join(' ')) },
  { weight: 1, arbitrary: fc.array(word, { minLength: 50, maxLength: 400 }).map((ws) => ws.join(' ')) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_LINE - 2, max: MAX_LINE * 2 }).map((n) => 'show info '.padEnd(n, 'x')) },
);
/** What goes down one connection: lines (CRLF or LF), or raw bytes (invalid UTF-8 too). */
const payload = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.array(line, { minLength: 1, maxLength: 5 }), fc.constantFrom('\n', '\r\n'), fc.boolean()).map(([ls, eol, last]) => Buffer.from(ls.join(eol) + (last ? eol : ''), 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)) },
);

async function alive(): Promise<void> {
  const info = await exchange(Buffer.from('show info\n'));
  assert.match(info, /^Name: /m, `show info answered ${JSON.stringify(info.slice(0, 200))}`);
  // The data path still works, whatever state the fuzzed commands left the servers in: ready them first.
  await exchange(Buffer.from('set server app/s1 state ready; set server app/s2 state ready; set weight app/s1 1; set weight app/s2 1; enable address 127.0.0.1\n'));
  const c = await connect(running.port('app'));
  assert.match((await readAll(c)).toString(), /^s[12]\n$/);
}

test('random lines on the stats socket: every connection answered and closed, no command fails, the proxy stays up', { timeout: testTimeout(BUDGET.timeMs) }, async () => {
  await alive();
  const failuresBefore = running.logs.filter((l) => l['msg'] === 'runtime API command failed').length;
  await fuzzAsync(
    'runtime API: random lines',
    fc.asyncProperty(payload, async (data) => {
      const answer = await exchange(data);
      assert.ok(!answer.includes('Internal error.'), `a command threw: ${JSON.stringify(data.toString('utf8').slice(0, 300))}`);
    }),
    BUDGET,
  );
  const failed = running.logs.filter((l) => l['msg'] === 'runtime API command failed');
  assert.equal(failed.length, failuresBefore, `commands failed: ${JSON.stringify(failed.slice(0, 3))}`);
  await alive();
});
