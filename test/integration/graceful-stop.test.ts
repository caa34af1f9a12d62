// Graceful stop of `warren proxy`, as systemd does it (SIGTERM to the process): the listeners
// close at once (new connections are refused from then on, not before), the sessions already
// open keep flowing and complete, and the process exits 0 when the last one ends — or when
// global.hard-stop-after runs out, which cuts what is left.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { connect, roundTrip, tcpServer } from '../harness/proxy.js';
import { spawnProxy, type LogLine } from '../harness/proxy-process.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-graceful-'));

interface RunningCli {
  child: ChildProcess;
  port: number;
  lines: LogLine[];
  /** The first log line whose msg matches (already logged or future). */
  waitLog(re: RegExp, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

let echo: Awaited<ReturnType<typeof tcpServer>>;

before(async () => {
  // The "broker": echoes every byte back, ends when the client ends.
  echo = await tcpServer((s) => {
    s.pipe(s);
  });
});
after(async () => {
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startCli(hardStopAfter: string): Promise<RunningCli> {
  const file = join(dir, `proxy-${hardStopAfter}.yaml`);
  writeFileSync(
    file,
    `global:
  maxconn: 100
  hard-stop-after: ${hardStopAfter}
defaults:
  mode: tcp
  option: [tcplog]
  timeout: {connect: 2s, client: 1m, server: 1m}
listen:
  echo:
    bind: 127.0.0.1:0
    server:
      - echo1 127.0.0.1:${echo.port}
`,
  );
  const p = spawnProxy(file);
  const waitLog = (re: RegExp, timeoutMs?: number): Promise<LogLine> => p.waitLog((l) => re.test(l.msg), timeoutMs);
  const started = await waitLog(/^Proxy echo started/);
  const port = Number(String((started['binds'] as string[])[0]).split(':').pop());
  return { child: p.child, port, lines: p.lines, waitLog, exited: p.exited };
}

/** The outcome of one new connection attempt: 'refused', or 'served' (connected and echoed). */
async function tryConnect(port: number): Promise<'refused' | 'served' | string> {
  let sock: net.Socket;
  try {
    sock = await connect(port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ECONNREFUSED' ? 'refused' : String(code);
  }
  try {
    return (await roundTrip(sock, 'probe')) === 'probe' ? 'served' : 'wrong echo';
  } catch (err) {
    return (err as Error).message;
  } finally {
    sock.destroy();
  }
}

test('SIGTERM: listeners close (new connections refused from then on), open sessions keep flowing and complete, exit 0', async () => {
  const p = await startCli('10s');
  try {
    const sessions = await Promise.all([1, 2, 3].map(() => connect(p.port)));
    for (const [i, s] of sessions.entries()) assert.equal(await roundTrip(s, `before-${i}`), `before-${i}`);
    assert.equal(await tryConnect(p.port), 'served', 'a new connection before SIGTERM is served');

    const sentAt = Date.now();
    p.child.kill('SIGTERM');
    const closed = await p.waitLog(/listeners closed/);
    // The three sessions (and perhaps the probe above, if the proxy has not seen its close yet).
    assert.ok(Number(closed['sessions']) >= 3, `sessions: ${String(closed['sessions'])}`);
    // Right after the line: the listener is gone...
    assert.equal(await tryConnect(p.port), 'refused');
    // ...and the open sessions still flow, in both directions, for a while.
    for (let round = 0; round < 5; round++) {
      for (const [i, s] of sessions.entries()) assert.equal(await roundTrip(s, `after-${round}-${i}`), `after-${round}-${i}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(p.child.exitCode, null, 'the proxy waits for its sessions');
    // The clients finish, one after the other; the proxy exits when the last one has.
    for (const s of sessions) {
      s.end();
      await new Promise((r) => s.once('close', r));
    }
    const exit = await p.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.at - sentAt < 5000, `exited ${exit.at - sentAt} ms after SIGTERM (hard-stop-after is 10 s)`);
    assert.ok(p.lines.some((l) => l.msg === 'stopped'));
    assert.ok(!p.lines.some((l) => /hard-stop-after reached/.test(l.msg)), 'no session was cut');
  } finally {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
});

test('SIGTERM with hard-stop-after 1s: a session still open is cut at about 1 s, and the process exits 0', async () => {
  const p = await startCli('1s');
  try {
    const s = await connect(p.port);
    assert.equal(await roundTrip(s, 'hello'), 'hello');
    const closedAt = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now())));
    s.on('error', () => undefined);
    const sentAt = Date.now();
    p.child.kill('SIGTERM');
    await p.waitLog(/listeners closed/);
    // It still flows during the grace period.
    assert.equal(await roundTrip(s, 'during'), 'during');
    const cut = (await closedAt) - sentAt;
    assert.ok(cut >= 900 && cut < 2000, `session cut ${cut} ms after SIGTERM`);
    const exit = await p.exited;
    assert.deepEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.at - sentAt < 3000, `exited ${exit.at - sentAt} ms after SIGTERM`);
    assert.ok(p.lines.some((l) => /hard-stop-after reached/.test(l.msg)));
  } finally {
    if (p.child.exitCode === null) p.child.kill('SIGKILL');
  }
});
