// `warren local` (src/local.ts), the README's first command: the shipped config/haproxy.yaml in
// front of a local 3-node RabbitMQ cluster that the command starts itself. Run here with the
// shipped file's own text, only its ports moved (and env for the cluster's epmd, node names and
// state dir), so that it runs next to the test suite's cluster (5673-5676, epmd 4371, warren*
// nodes) without touching it: brokers on 5873-5875 (management 15873-15875, distribution
// 25873-25875), epmd 4391, nodes lp1..lp3@localhost.
// Checked: three UP servers in the stats CSV, an AMQP publish (confirmed) and get through the
// proxy, then SIGINT stops everything: exit 0, no RabbitMQ process of that cluster left, its epmd
// gone.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli.js');
const BROKERS = [5873, 5874, 5875];
const EPMD = 4391;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-local-'));
const stateDir = path.join(dir, 'state');

after(() => {
  if (process.env['WARREN_KEEP_LOGS'] !== '1') fs.rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** PIDs whose command line mentions `text` (the cluster's processes carry its directory). */
function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) out.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The shipped config with only its ports (and the runtime API socket) moved; every change checked. */
function movedConfig(amqpPort: number, statsPort: number): string {
  let text = fs.readFileSync(path.join(ROOT, 'config/haproxy.yaml'), 'utf8');
  const swap = (from: string, to: string): void => {
    assert.ok(text.includes(from), `config/haproxy.yaml no longer has '${from}': update this test`);
    text = text.split(from).join(to);
  };
  swap('bind: 0.0.0.0:5672', `bind: 127.0.0.1:${amqpPort}`);
  swap('bind: 0.0.0.0:8888', `bind: 127.0.0.1:${statsPort}`);
  swap('/run/warren/proxy.sock', path.join(dir, 'proxy.sock'));
  BROKERS.forEach((p, i) => swap(`127.0.0.1:${5673 + i}`, `127.0.0.1:${p}`));
  return text;
}

/** Server rows of the HAProxy-compatible CSV: svname → status, for one proxy. */
function serverStatuses(csv: string, pxname: string): Map<string, string> {
  const [header, ...rows] = csv.trim().split('\n');
  const cols = header!.replace(/^# /, '').split(',');
  const px = cols.indexOf('pxname');
  const sv = cols.indexOf('svname');
  const st = cols.indexOf('status');
  const out = new Map<string, string>();
  for (const row of rows) {
    const f = row.split(',');
    if (f[px] === pxname && f[sv] !== 'FRONTEND' && f[sv] !== 'BACKEND') out.set(f[sv]!, f[st]!);
  }
  return out;
}

test('warren local: 3-node cluster behind the shipped config, three UP servers, AMQP through the proxy; SIGINT stops it all', { timeout: 240_000 }, async (t) => {
  for (const p of [...BROKERS, ...BROKERS.map((b) => b + 10000), ...BROKERS.map((b) => b + 20000), EPMD]) {
    assert.equal(await listening(p), false, `port ${p} is in use: this test needs 5873-5875, 15873-15875, 25873-25875 and 4391 free`);
  }
  const amqpPort = await freePort();
  const statsPort = await freePort();
  const file = path.join(dir, 'haproxy.yaml');
  fs.writeFileSync(file, movedConfig(amqpPort, statsPort));

  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, 'local', '-f', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WARREN_LOCAL_STATE_DIR: stateDir, WARREN_LOCAL_EPMD_PORT: String(EPMD), WARREN_LOCAL_NODE_PREFIX: 'lp' },
  });
  const out: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (l) => out.push(l));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const logTail = (): string => `\n--- stdout (last 30):\n${out.slice(-30).join('\n')}\n--- stderr:\n${stderr.slice(-3000)}`;

  try {
    // 1. Three UP servers in the stats CSV.
    const statsUrl = `http://127.0.0.1:${statsPort}/stats;csv`;
    let statuses = new Map<string, string>();
    const deadline = Date.now() + 150_000;
    for (;;) {
      if (child.exitCode !== null) assert.fail(`warren local exited early (${child.exitCode})${logTail()}`);
      try {
        const res = await fetch(statsUrl, { signal: AbortSignal.timeout(2000) });
        statuses = serverStatuses(await res.text(), 'rabbitmq_cluster');
        if (statuses.size === 3 && [...statuses.values()].every((s) => s === 'UP')) break;
      } catch {
        /* not listening yet: the cluster starts first */
      }
      if (Date.now() > deadline) assert.fail(`no three UP servers within 150 s: ${JSON.stringify([...statuses])}${logTail()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    t.diagnostic(`three UP servers ${Date.now() - t0} ms after the start`);
    assert.deepEqual([...statuses.keys()].sort(), ['rabbit1', 'rabbit2', 'rabbit3']);
    assert.match(stderr, /warren local is running/);
    assert.match(stderr, new RegExp(`http://127\\.0\\.0\\.1:${statsPort}/stats`));
    assert.match(stderr, new RegExp(`amqp://guest:guest@127\\.0\\.0\\.1:${amqpPort}`));

    // 2. An AMQP client through the proxy: publish with a confirm, get it back.
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const ch = await conn.createConfirmChannel();
      const q = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(q.queue, Buffer.from('hello through warren local'));
      await ch.waitForConfirms();
      const msg = await ch.get(q.queue, { noAck: true });
      assert.ok(msg, 'the message came back');
      assert.equal(msg.content.toString(), 'hello through warren local');
      await ch.close();
    } finally {
      await conn.close().catch(() => undefined);
    }
    // The nodes really are one cluster.
    assert.equal(pidsMentioning(stateDir).length >= 3, true, 'the RabbitMQ nodes run under the state dir');

    // 3. SIGINT (Ctrl-C) stops it all.
    const stopAt = Date.now();
    child.kill('SIGINT');
    const exit = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 90_000).unref())]);
    assert.ok(exit, `warren local did not exit within 90 s of SIGINT${logTail()}`);
    assert.deepEqual(exit, { code: 0, signal: null }, logTail());
    t.diagnostic(`stopped ${Date.now() - stopAt} ms after SIGINT`);
    assert.deepEqual(pidsMentioning(stateDir), [], 'no process of that cluster is left');
    for (const p of [amqpPort, statsPort, ...BROKERS, EPMD]) assert.equal(await listening(p), false, `port ${p} still listening`);
    assert.equal(fs.existsSync(path.join(stateDir, 'cluster.json')), false);
    assert.ok(out.some((l) => l.includes('"msg":"RabbitMQ cluster stopped"')));
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000).unref())]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    // Whatever a failed run left behind: ours by the state dir in their command line.
    for (const pid of pidsMentioning(stateDir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});
