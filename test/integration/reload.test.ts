// Reload in process (src/proxy/reload.ts), with real sockets on 127.0.0.1: the proxy runs
// in-process in front of small TCP servers that say their name and echo; each reload rewrites a
// config file and calls reloadFromFile(), the function SIGHUP runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, deadPort, startProxy, tcpServer, TIMEOUTS, type RunningProxy } from '../harness/proxy.js';
import { reloadFromFile, type ReloadOutcome } from '../../src/proxy/reload.js';

type Backend = Awaited<ReturnType<typeof tcpServer>>;

/** A backend that sends its name and a newline, then echoes. */
async function named(name: string): Promise<Backend> {
  return tcpServer((s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });
}

async function until(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

class Client {
  data = '';
  closed = false;
  constructor(readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (this.data += d));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }
  static async open(port: number): Promise<Client> {
    const c = new Client(await connect(port));
    await until('the backend banner', () => c.data.includes('\n'));
    return c;
  }
  get server(): string {
    return this.data.split('\n')[0]!;
  }
  /** Send `text`; resolves when it came back (the session is alive both ways). */
  async echo(text: string): Promise<void> {
    const start = this.data.length;
    this.sock.write(text);
    await until(`echo of ${text}`, () => this.data.length >= start + text.length || this.closed);
    assert.equal(this.data.slice(start, start + text.length), text, 'echoed intact');
  }
  close(): void {
    this.sock.end();
  }
}

/** Which server each of `n` new connections reaches. */
async function spread(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = await Client.open(port);
    out.push(c.server);
    c.sock.destroy();
  }
  return out;
}

/** Connects in a loop (several at a time) until stopped: counts successes and refusals. */
function connectLoop(port: number, parallel = 4): { stop(): Promise<{ ok: number; refused: number; other: string[] }> } {
  let stopped = false;
  const r = { ok: 0, refused: 0, other: [] as string[] };
  const one = async (): Promise<void> => {
    while (!stopped) {
      try {
        const s = await connect(port);
        r.ok++;
        s.destroy();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') r.refused++;
        else r.other.push(String((err as Error).message));
      }
    }
  };
  const loops = Array.from({ length: parallel }, one);
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return r;
    },
  };
}

function refusedConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

interface Cfg {
  servers: string[];
  bind?: string;
  name?: string;
  lines?: string[];
  socket?: string;
  more?: string;
}

function yaml(c: Cfg): string {
  return `global:
  maxconn: 1000
${c.socket ? `  stats-socket: ${c.socket} mode 600 level admin\n` : ''}defaults:
  ${TIMEOUTS}
  option: [tcplog]
  default-server: inter 1s fastinter 1s downinter 1s rise 2 fall 1
listen:
  ${c.name ?? 'l'}:
    bind: ${c.bind ?? '127.0.0.1:0'}
${(c.lines ?? []).map((l) => `    ${l}\n`).join('')}    server:
${c.servers.map((s) => `      - ${s}`).join('\n')}
${c.more ?? ''}`;
}

class Env {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-reload-'));
  readonly file = path.join(this.dir, 'haproxy.yaml');
  p!: RunningProxy;
  readonly backends: Backend[] = [];

  async start(c: Cfg): Promise<RunningProxy> {
    fs.writeFileSync(this.file, yaml(c));
    this.p = await startProxy(yaml(c));
    return this.p;
  }
  async backend(name: string): Promise<Backend> {
    const b = await named(name);
    this.backends.push(b);
    return b;
  }
  reload(c: Cfg | string): Promise<ReloadOutcome> {
    fs.writeFileSync(this.file, typeof c === 'string' ? c : yaml(c));
    return reloadFromFile(this.p.proxy, this.file, 'test');
  }
  get port(): number {
    return this.p.proxy.frontends[0]!.addresses()[0]!.port;
  }
  server(name: string, backend = 'l') {
    return this.p.proxy.backends.get(backend)!.servers.find((s) => s.config.name === name);
  }
  async stop(): Promise<void> {
    await this.p?.stop(0);
    for (const b of this.backends) await b.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

test('an established session keeps flowing across 10 reloads; the unchanged listener is the same socket and refuses nothing', async () => {
  const env = new Env();
  try {
    const [a, b, c] = [await env.backend('a'), await env.backend('b'), await env.backend('c')];
    const s = (n: string, be: Backend, extra = ''): string => `${n} 127.0.0.1:${be.port}${extra}`;
    const base: Cfg = { servers: [s('a', a), s('b', b)] };
    await env.start(base);
    const port = env.port;
    const listener = env.p.proxy.frontends[0]!.listener('127.0.0.1:0 (l)');
    assert.ok(listener);
    const client = await Client.open(port);
    let pumping = true;
    let rounds = 0;
    const pump = (async () => {
      while (pumping) {
        await client.echo(`ping ${rounds++};`);
        await sleep(2);
      }
    })();
    const loop = connectLoop(port);
    const steps: (Cfg | string)[] = [
      { servers: [s('a', a), s('b', b), s('c', c)] }, // a server added
      { servers: [s('a', a), s('c', c)] }, // one removed
      { servers: [s('a', a, ' weight 5'), s('c', c)] }, // a weight changed
      'listen: {l: {bind: 127.0.0.1:0, server: [oops]}}', // invalid
      { servers: [s('a', a, ' weight 5'), s('c', c)], lines: ['timeout: {client: 1m, server: 1m}'] },
      { servers: [s('a', a, ' weight 5'), s('c', c)], lines: ['balance: leastconn'] },
      { servers: [s('a', a, ' weight 5 check'), s('c', c)], lines: ['balance: leastconn'] },
      { servers: [s('a', a, ' weight 5 check'), s('c', c), s('b', b)], lines: ['maxconn: 500'] },
      { servers: [s('b', b), s('c', c)] },
      base,
    ];
    const statuses: string[] = [];
    for (const step of steps) {
      statuses.push((await env.reload(step)).status);
      assert.equal(env.p.proxy.frontends[0]!.listener('127.0.0.1:0 (l)'), listener, 'the same listening socket');
      await sleep(100);
    }
    pumping = false;
    await pump;
    const r = await loop.stop();
    assert.deepEqual(statuses, ['applied', 'applied', 'applied', 'invalid', 'applied', 'applied', 'applied', 'applied', 'applied', 'applied']);
    assert.equal(r.refused, 0, 'no refused connect during the reloads');
    assert.deepEqual(r.other, []);
    assert.ok(r.ok > 100, `connects went through (${r.ok})`);
    assert.equal(client.closed, false, 'the established session was never cut');
    assert.ok(rounds > 10, `the session kept flowing (${rounds} round trips)`);
    await client.echo('still there');
    assert.equal(env.port, port);
    assert.equal(env.p.proxy.reloads, 9);
  } finally {
    await env.stop();
  }
});

test('a server added takes sessions; a removed one takes no new session while its open one continues until closed', async () => {
  const env = new Env();
  try {
    const [a, b] = [await env.backend('a'), await env.backend('b')];
    await env.start({ servers: [`a 127.0.0.1:${a.port}`] });
    const sa = env.server('a')!;
    assert.deepEqual(await spread(env.port, 4), ['a', 'a', 'a', 'a']);
    const totalBefore = sa.counters.total;

    const added = await env.reload({ servers: [`a 127.0.0.1:${a.port}`, `b 127.0.0.1:${b.port}`] });
    assert.equal(added.status, 'applied');
    assert.equal(env.server('a'), sa, 'the kept server is the same object');
    const seen = await spread(env.port, 6);
    assert.deepEqual([...new Set(seen)].sort(), ['a', 'b'], `the new server takes sessions: ${seen}`);
    assert.ok(sa.counters.total >= totalBefore + 3, 'the kept server counts on');

    let onB: Client | null = null;
    while (!onB) {
      const c = await Client.open(env.port);
      if (c.server === 'b') onB = c;
      else c.sock.destroy();
    }
    const sb = env.server('b')!;
    assert.equal(sb.sessions, 1);
    const removed = await env.reload({ servers: [`a 127.0.0.1:${a.port}`] });
    assert.equal(removed.status, 'applied');
    assert.deepEqual(removed.status === 'applied' && removed.plan.servers.removed, ['l/b']);
    assert.deepEqual(
      env.p.proxy.backends.get('l')!.servers.map((s) => s.config.name),
      ['a'],
    );
    assert.equal(sb.retired, true);
    assert.deepEqual(await spread(env.port, 6), ['a', 'a', 'a', 'a', 'a', 'a'], 'no new session on the removed server');
    await onB.echo('the open session on the removed server still works');
    assert.equal(onB.closed, false);
    await env.p.waitLog((l) => String(l.msg).includes('server l/b (127.0.0.1:') && l.sessions === 1);
    onB.close();
    await env.p.waitLog((l) => l.msg === 'Server l/b (removed by a reload): its last session ended.');
    assert.equal(sb.sessions, 0);
    const summary = env.p.logs.filter((l) => l.reload === 'applied').map((l) => l.msg);
    assert.deepEqual(summary, ['reload: 1 server added (1 server and 1 listener kept)', 'reload: 1 server removed (1 server and 1 listener kept)']);
  } finally {
    await env.stop();
  }
});

test('admin state (drain/maint) and runtime weight survive a reload; a config change of the same setting wins', async () => {
  const env = new Env();
  const socket = path.join(env.dir, 'admin.sock');
  const ask = (cmd: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const c = net.connect(socket);
      let out = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => (out += d));
      c.on('close', () => resolve(out));
      c.on('error', reject);
      c.on('connect', () => c.write(`${cmd}\n`));
    });
  try {
    const bs = [await env.backend('a'), await env.backend('b'), await env.backend('c'), await env.backend('d')];
    const line = (i: number, extra = ''): string => `${'abcd'[i]} 127.0.0.1:${bs[i]!.port}${extra}`;
    const three: Cfg = { servers: [line(0), line(1), line(2)], socket };
    await env.start(three);
    const api = env.p.proxy.runtimeApi;
    assert.equal(await ask('set server l/a state drain'), '\n');
    assert.equal(await ask('set server l/b weight 50'), '\n');
    env.server('c')!.setAdmin('MAINT');

    const r = await env.reload({ ...three, servers: [line(0), line(1), line(2), line(3)], lines: ['timeout: {server: 1m}'] });
    assert.equal(r.status, 'applied');
    assert.equal(env.p.proxy.runtimeApi, api, 'the runtime API socket is kept');
    assert.equal(env.server('a')!.admin, 'DRAIN');
    assert.equal(env.server('a')!.status, 'DRAIN');
    assert.equal(env.server('b')!.userWeight, 50);
    assert.equal(await ask('get weight l/b'), '50 (initial 1)\n\n');
    assert.equal(env.server('c')!.admin, 'MAINT');
    assert.equal(env.server('d')!.admin, 'READY');
    const seen = await spread(env.port, 8);
    assert.ok(!seen.includes('a') && !seen.includes('c'), `drained and maint servers take no new session: ${seen}`);
    const stat = await ask('show servers state l');
    assert.match(stat, / l 2 b 127\.0\.0\.1 2 0 50 1 /, 'show servers state: runtime weight 50, initial 1');

    // The config's own weight for b changes: the newest intent (the edited file) wins, as with
    // HAProxy's server-state-file. `disabled` on a: it replaces the runtime drain.
    const r2 = await env.reload({ ...three, servers: [line(0, ' disabled'), line(1, ' weight 7'), line(2), line(3)], lines: ['timeout: {server: 1m}'] });
    assert.equal(r2.status, 'applied');
    assert.equal(env.server('b')!.userWeight, null);
    assert.equal(env.server('b')!.weight, 7);
    assert.equal(env.server('a')!.admin, 'MAINT');
    assert.equal(env.server('c')!.admin, 'MAINT', 'untouched in the config: the runtime maint stays');
    await env.p.waitLog((l) => String(l.msg).startsWith("Server l/b: the config's weight changed to 7; it replaces the weight 50 set at run time."));
  } finally {
    await env.stop();
  }
});

test('health state survives: a DOWN server stays DOWN, an UP one UP, and there is no re-check storm', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const dead = await deadPort();
    const cfg = (riseA: number, riseDead: number, extra: string[] = []): Cfg => ({
      servers: [`a 127.0.0.1:${a.port} check rise ${riseA}`, `x 127.0.0.1:${dead} check rise ${riseDead}`],
      lines: extra,
    });
    await env.start(cfg(2, 2));
    const [sa, sx] = [env.server('a')!, env.server('x')!];
    await until('x DOWN, a checked', () => sx.status === 'DOWN' && sa.lastCheck !== null, 8000);
    assert.equal(sa.status, 'UP');
    const checksA = sa.checks!;
    const runs = (): [number, number] => [sa.checks!.checksRun, sx.checks!.checksRun];

    // Unrelated change: the check schedulers are not touched at all.
    let before = runs();
    assert.equal((await env.reload(cfg(2, 2, ['timeout: {server: 1m}']))).status, 'applied');
    assert.equal(sa.checks, checksA, 'same scheduler');
    assert.deepEqual([sa.status, sx.status], ['UP', 'DOWN']);
    assert.deepEqual(runs(), before, 'no check caused by the reload');

    // rise/fall change: the checks are rebuilt with the health carried over and the next check
    // when it was due (not at once for every server).
    before = runs();
    const downtime = sx.downSince;
    assert.equal((await env.reload(cfg(3, 4, ['timeout: {server: 1m}']))).status, 'applied');
    assert.notEqual(sa.checks, checksA, 'rebuilt');
    assert.deepEqual([sa.status, sx.status], ['UP', 'DOWN'], 'same states at once');
    assert.equal(sx.checks!.machine.health, 0, 'x stays fully DOWN');
    assert.equal(sa.checks!.machine.health, sa.checks!.machine.maxHealth, 'a stays fully UP');
    assert.equal(sx.downSince, downtime, 'x has been DOWN since before the reload');
    assert.deepEqual(runs(), before, 'the counters carry on');
    await sleep(300);
    const after = runs();
    assert.ok(after[0] - before[0] <= 1 && after[1] - before[1] <= 1, `at most the one check that was due anyway: ${before} -> ${after}`);
    await sleep(1200);
    assert.deepEqual([sa.status, sx.status], ['UP', 'DOWN']);
    // a still takes every session, x none.
    assert.deepEqual(await spread(env.port, 3), ['a', 'a', 'a']);
  } finally {
    await env.stop();
  }
});

test('an invalid config changes nothing and says why, issue by issue', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const good: Cfg = { servers: [`a 127.0.0.1:${a.port}`] };
    await env.start(good);
    const config = env.p.proxy.config;
    const backend = env.p.proxy.backends.get('l');
    const bad = yaml({ servers: [`a 127.0.0.1:${a.port} chek`, `b 127.0.0.1:${a.port} weight 300`] });
    const r = await env.reload(bad);
    assert.equal(r.status, 'invalid');
    assert.equal(env.p.proxy.config, config, 'the running config is untouched');
    assert.equal(env.p.proxy.backends.get('l'), backend);
    assert.deepEqual(
      env.p.proxy.backends.get('l')!.servers.map((s) => s.config.name),
      ['a'],
    );
    const lines = env.p.logs.filter((l) => l.level === 50).map((l) => String(l.msg));
    assert.match(lines[0]!, /^reload: .*haproxy\.yaml is invalid \(2 errors\); the running config is unchanged$/);
    assert.ok(lines.some((l) => /haproxy\.yaml:\d+: listen\.l\.server\[1\]: .*weight.*expected an integer from 0 to 256/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /haproxy\.yaml:\d+: listen\.l\.server\[0\]: unknown server keyword 'chek'/.test(l)), lines.join('\n'));
    assert.equal((await env.reload('global: [')).status, 'invalid');
    assert.ok(env.p.logs.some((l) => /YAML syntax/.test(String(l.msg))));
    assert.deepEqual(await spread(env.port, 2), ['a', 'a']);
    assert.equal((await env.reload(good)).status, 'unchanged');
    assert.equal(env.p.proxy.reloads, 0);
  } finally {
    await env.stop();
  }
});

test('a new listener opens; a removed one stops accepting while its sessions finish', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const extraPort = await deadPort();
    const base: Cfg = { servers: [`a 127.0.0.1:${a.port}`] };
    const more = `  m:\n    bind: 127.0.0.1:${extraPort}\n    server:\n      - a 127.0.0.1:${a.port}\n`;
    await env.start(base);
    assert.equal(await refusedConnect(extraPort), true);
    const r = await env.reload({ ...base, more });
    assert.equal(r.status, 'applied');
    assert.deepEqual(
      env.p.proxy.frontends.map((f) => f.name),
      ['l', 'm'],
    );
    const onM = await Client.open(extraPort);
    assert.equal(onM.server, 'a');
    const fm = env.p.proxy.frontends[1]!;

    const r2 = await env.reload(base);
    assert.equal(r2.status, 'applied');
    assert.deepEqual(
      env.p.proxy.frontends.map((f) => f.name),
      ['l'],
    );
    assert.equal(await refusedConnect(extraPort), true, 'the removed listener refuses');
    assert.ok(env.p.proxy.retiredFrontends.has(fm));
    await onM.echo('its session goes on');
    assert.equal(onM.closed, false);
    assert.equal(env.p.proxy.sessionCount, 1);
    onM.close();
    await env.p.waitLog((l) => l.msg === 'frontend m (removed by a reload): its last session ended');
    assert.equal(env.p.proxy.retiredFrontends.size, 0);
    assert.ok(!env.p.proxy.limit.frontends.includes(fm));
    await env.p.waitLog((l) => l.msg === 'session' && l.frontend === 'm');
  } finally {
    await env.stop();
  }
});

test('a changed bind: the new address opens, the old one closes, sessions on it go on', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const [p1, p2] = [await deadPort(), await deadPort()];
    await env.start({ servers: [`a 127.0.0.1:${a.port}`], bind: `0.0.0.0:${p1}` });
    const old = await Client.open(p1);
    // Same port, narrower address: the wildcard must close before 127.0.0.1 can bind.
    const r = await env.reload({ servers: [`a 127.0.0.1:${a.port}`], bind: `127.0.0.1:${p1}` });
    assert.equal(r.status, 'applied');
    assert.deepEqual(r.status === 'applied' && r.plan.listeners.opened.map((l) => [l.key, l.after]), [[`127.0.0.1:${p1}`, [`0.0.0.0:${p1}`]]]);
    assert.equal((await Client.open(p1)).server, 'a');
    // Another port.
    const r2 = await env.reload({ servers: [`a 127.0.0.1:${a.port}`], bind: `127.0.0.1:${p2}` });
    assert.equal(r2.status, 'applied');
    assert.equal(await refusedConnect(p1), true);
    assert.equal((await Client.open(p2)).server, 'a');
    await old.echo('the first session, accepted on the wildcard, goes on');
    assert.equal(old.closed, false);
  } finally {
    await env.stop();
  }
});

test('a renamed listen section keeps its listening socket: a tight connect loop sees 0 refused', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const port = await deadPort();
    await env.start({ servers: [`a 127.0.0.1:${a.port}`], bind: `127.0.0.1:${port}` });
    const listener = env.p.proxy.frontends[0]!.listener(`127.0.0.1:${port}`);
    const client = await Client.open(port);
    const loop = connectLoop(port);
    await sleep(50);
    const r = await env.reload({ servers: [`a 127.0.0.1:${a.port}`], bind: `127.0.0.1:${port}`, name: 'renamed' });
    await sleep(50);
    const counts = await loop.stop();
    assert.equal(r.status, 'applied');
    assert.deepEqual(r.status === 'applied' && r.plan.listeners.moved.map((m) => [m.from.owner, m.to.owner]), [['l', 'renamed']]);
    assert.equal(env.p.proxy.frontends[0]!.name, 'renamed');
    assert.equal(env.p.proxy.frontends[0]!.listener(`127.0.0.1:${port}`), listener, 'the same socket, new owner');
    assert.equal(counts.refused, 0);
    assert.ok(counts.ok > 10);
    assert.equal((await Client.open(port)).server, 'a');
    await client.echo('the session of the old section goes on');
  } finally {
    await env.stop();
  }
});

test('a bind that cannot be made abandons the whole reload: nothing changes', async () => {
  const env = new Env();
  const squatter = await tcpServer(() => {});
  try {
    const [a, b] = [await env.backend('a'), await env.backend('b')];
    await env.start({ servers: [`a 127.0.0.1:${a.port}`] });
    const config = env.p.proxy.config;
    const more = `  m:\n    bind: 127.0.0.1:${squatter.port}\n    server:\n      - a 127.0.0.1:${a.port}\n`;
    const r = await env.reload({ servers: [`a 127.0.0.1:${a.port}`, `b 127.0.0.1:${b.port}`], more });
    assert.equal(r.status, 'failed');
    assert.match(r.status === 'failed' ? r.error : '', /EADDRINUSE/);
    assert.equal(env.p.proxy.config, config);
    assert.deepEqual(
      env.p.proxy.backends.get('l')!.servers.map((s) => s.config.name),
      ['a'],
    );
    assert.deepEqual(
      env.p.proxy.frontends.map((f) => f.name),
      ['l'],
    );
    await env.p.waitLog((l) => /^reload abandoned: .*EADDRINUSE.*; the running config is unchanged$/.test(String(l.msg)));
  } finally {
    await env.stop();
    await squatter.close();
  }
});

test('stats section: settings change in place, the listener is kept', async () => {
  const env = new Env();
  try {
    const a = await env.backend('a');
    const stats = (uri: string): string => `  monitor:\n    bind: 127.0.0.1:0\n    mode: http\n    stats: {enable: true, uri: ${uri}}\n`;
    await env.start({ servers: [`a 127.0.0.1:${a.port}`], more: stats('/stats') });
    const handle = env.p.proxy.statsServers[0]!;
    const port = handle.addresses()[0]!.port;
    assert.equal((await fetch(`http://127.0.0.1:${port}/stats;csv`)).status, 200);
    const r = await env.reload({ servers: [`a 127.0.0.1:${a.port}`], more: stats('/haproxy') });
    assert.equal(r.status, 'applied');
    assert.equal(env.p.proxy.statsServers[0], handle);
    assert.equal(handle.addresses()[0]!.port, port, 'same socket');
    assert.equal((await fetch(`http://127.0.0.1:${port}/stats;csv`)).status, 404);
    const csv = await (await fetch(`http://127.0.0.1:${port}/haproxy;csv`)).text();
    assert.match(csv, /^l,a,/m);
  } finally {
    await env.stop();
  }
});

test('reloads never overlap: several asked at once all complete, the last file wins', async () => {
  const env = new Env();
  try {
    const [a, b] = [await env.backend('a'), await env.backend('b')];
    await env.start({ servers: [`a 127.0.0.1:${a.port}`] });
    fs.writeFileSync(env.file, yaml({ servers: [`a 127.0.0.1:${a.port}`, `b 127.0.0.1:${b.port}`] }));
    const all = await Promise.all([reloadFromFile(env.p.proxy, env.file), reloadFromFile(env.p.proxy, env.file), reloadFromFile(env.p.proxy, env.file)]);
    assert.deepEqual(
      all.map((r) => r.status),
      ['applied', 'unchanged', 'unchanged'],
    );
    assert.deepEqual(
      env.p.proxy.backends.get('l')!.servers.map((s) => s.config.name),
      ['a', 'b'],
    );
  } finally {
    await env.stop();
  }
});

test('warren proxy -f FILE: SIGHUP reloads the file; an invalid file is logged and the process keeps running', async () => {
  const env = new Env();
  const cli = new URL('../../src/cli.js', import.meta.url).pathname;
  const { spawn } = await import('node:child_process');
  try {
    const [a, b] = [await env.backend('a'), await env.backend('b')];
    const port = await deadPort();
    fs.writeFileSync(env.file, yaml({ servers: [`a 127.0.0.1:${a.port}`], bind: `127.0.0.1:${port}` }));
    const child = spawn(process.execPath, [cli, 'proxy', '-f', env.file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: Record<string, unknown>[] = [];
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until('started', () => lines.some((l) => l.msg === 'Proxy l started.'));
    const client = await Client.open(port);

    fs.writeFileSync(env.file, yaml({ servers: [`a 127.0.0.1:${a.port}`, `b 127.0.0.1:${b.port}`], bind: `127.0.0.1:${port}` }));
    child.kill('SIGHUP');
    await until('reload applied', () => lines.some((l) => l.msg === 'reload: 1 server added (1 server and 1 listener kept)'));
    assert.deepEqual([...new Set(await spread(port, 4))].sort(), ['a', 'b']);

    fs.writeFileSync(env.file, 'listen:\n  l:\n    bind: 127.0.0.1:1\n    servr: []\n');
    child.kill('SIGHUP');
    await until('invalid logged', () => lines.some((l) => /haproxy\.yaml:4: listen\.l\.servr: unknown keyword 'servr' \(did you mean 'server'\?\)/.test(String(l.msg))));
    assert.ok(lines.some((l) => /is invalid \(\d+ errors?\); the running config is unchanged/.test(String(l.msg))));
    assert.equal(child.exitCode, null, 'still running');
    assert.deepEqual([...new Set(await spread(port, 4))].sort(), ['a', 'b'], 'the old config still serves');
    await client.echo('the first session is still there');

    client.close();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    await env.stop().catch(() => {});
  }
});
