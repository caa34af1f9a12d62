// warren's runtime API against the REAL HAProxy 2.6 (/usr/sbin/haproxy) with the same config:
// both serve a stats socket, real TCP backends on 127.0.0.1 (one up, one refused, one unchecked,
// one disabled), and every answer is compared field by field (show info keys, show stat header,
// row shapes and stable values, typed/JSON tags, show servers state, error texts, the interactive
// prompt framing, admin commands' effects). Then warren-only robustness: long lines, garbage,
// socket file handling.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, deadPort, startProxy, tcpServer, type RunningProxy } from '../harness/proxy.js';
import { ask } from '../harness/runtime-socket.js';
import { createLogger } from '../../src/lib/log.js';
import { parseCsv } from '../../src/proxy/stats/csv.js';
import { startRuntimeApi, type RuntimeApi } from '../../src/proxy/stats/runtime-api.js';

const HAPROXY = '/usr/sbin/haproxy';
type TcpBackend = Awaited<ReturnType<typeof tcpServer>>;

let dir: string;
let haproxy: ChildProcess | null = null;
let haproxyLog = '';
let warren: RunningProxy;
let api: RuntimeApi | null = null;
let hapSock: string;
let warSock: string;
let node1: TcpBackend;
let node3: TcpBackend;
let hapPorts: { rabbit: number; solo: number };

const quiet = createLogger('proxy', new Writable({ write: (_c, _e, cb) => cb() }));

const both = async (text: string): Promise<[string, string]> => [await ask(hapSock, text), await ask(warSock, text)];

/** An interactive session: each step's answer, up to the prompt or the close. */
async function transcript(sock: string, steps: string[]): Promise<string[]> {
  const c = net.connect(sock);
  c.setEncoding('utf8');
  c.on('error', () => {});
  let buf = '';
  let closed = false;
  c.on('data', (d: string) => (buf += d));
  c.on('close', () => (closed = true));
  await new Promise((r) => c.once('connect', r));
  const out: string[] = [];
  for (const step of steps) {
    c.write(step);
    const deadline = Date.now() + 3000;
    while (!buf.endsWith('> ') && !closed && Date.now() < deadline) await sleep(10);
    if (closed) await sleep(20);
    out.push(buf + (closed ? '<closed>' : ''));
    buf = '';
    if (closed) break;
  }
  c.destroy();
  return out;
}

function stat(csv: string): Map<string, Record<string, string>> {
  return new Map(parseCsv(csv).rows.map((r) => [`${r.pxname}/${r.svname}`, r]));
}

async function waitFor(what: string, pred: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Both proxies agree that node1/solo1 are fully UP and node2 fully DOWN. */
async function settled(): Promise<boolean> {
  for (const s of [hapSock, warSock]) {
    const st = stat(await ask(s, 'show stat\n'));
    if (st.get('rabbit/node1')?.status !== 'UP' || st.get('rabbit/node2')?.status !== 'DOWN' || st.get('solo/solo1')?.status !== 'UP') return false;
  }
  return true;
}

function serverLines(rabbitPort: number, soloPort: number, n1: number, n2: number, n3: number, n4: number, yaml: boolean, monitorPort = 0): string {
  const rabbit = [
    `node1 127.0.0.1:${n1} check inter 300ms rise 2 fall 3 weight 10`,
    `node2 127.0.0.1:${n2} check inter 300ms rise 2 fall 3 backup`,
    `node3 127.0.0.1:${n3}`,
    `node4 127.0.0.1:${n4} check disabled`,
  ];
  const solo = [`solo1 127.0.0.1:${n1} check inter 300ms`];
  if (yaml) {
    return `listen:
  rabbit:
    bind: 127.0.0.1:${rabbitPort}
    balance: roundrobin
    server:
${rabbit.map((s) => `      - ${s}`).join('\n')}
  solo:
    bind: 127.0.0.1:${soloPort}
    balance: roundrobin
    server:
${solo.map((s) => `      - ${s}`).join('\n')}
  monitor:
    mode: http
    bind: 127.0.0.1:${monitorPort}
    stats: {enable: true, uri: /stats}
`;
  }
  return `listen rabbit
  bind 127.0.0.1:${rabbitPort}
  balance roundrobin
${rabbit.map((s) => `  server ${s}`).join('\n')}
listen solo
  bind 127.0.0.1:${soloPort}
  balance roundrobin
${solo.map((s) => `  server ${s}`).join('\n')}
listen monitor
  mode http
  bind 127.0.0.1:${monitorPort}
  stats enable
  stats uri /stats
`;
}

before(async () => {
  assert.ok(fs.existsSync(HAPROXY), `${HAPROXY} is installed by test/harness/deps.sh`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-cli-'));
  hapSock = path.join(dir, 'haproxy.sock');
  warSock = path.join(dir, 'warren.sock');
  const echo = (s: net.Socket): void => void s.pipe(s);
  node1 = await tcpServer(echo);
  node3 = await tcpServer(echo);
  const node2 = await deadPort();
  const node4 = await deadPort();
  hapPorts = { rabbit: await deadPort(), solo: await deadPort() };
  const warPorts = { rabbit: await deadPort(), solo: await deadPort() };
  const hapMonitor = await deadPort();

  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    cfg,
    `global
  maxconn 4096
  stats socket ${hapSock} mode 600 level admin
defaults
  mode tcp
  timeout connect 1s
  timeout client 30s
  timeout server 30s
${serverLines(hapPorts.rabbit, hapPorts.solo, node1.port, node2, node3.port, node4, false, hapMonitor)}`,
  );
  haproxy = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  haproxy.stderr!.on('data', (d: Buffer) => (haproxyLog += d.toString()));

  warren = await startProxy(`global:
  maxconn: 4096
  stats-socket: ${warSock} mode 600 level admin
defaults:
  mode: tcp
  timeout: {connect: 1s, client: 30s, server: 30s}
${serverLines(warPorts.rabbit, warPorts.solo, node1.port, node2, node3.port, node4, true)}`);
  // The lead's wiring may start the socket with the proxy; otherwise start it here.
  if (!fs.existsSync(warSock)) api = await startRuntimeApi(warren.proxy.config.global.statsSocket!, warren.proxy, quiet);

  await waitFor('the HAProxy socket', async () => fs.existsSync(hapSock));
  try {
    await waitFor('both proxies to settle (node1 UP, node2 DOWN)', settled);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nhaproxy stderr: ${haproxyLog}`);
  }
});

after(async () => {
  await api?.close();
  await warren?.stop();
  if (haproxy?.pid !== undefined && haproxy.exitCode === null) {
    process.kill(haproxy.pid, 'SIGTERM'); // our own child, by PID
    await new Promise((r) => haproxy!.once('exit', r));
  }
  await node1?.close();
  await node3?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('show info: the same fields in the same order, with hatop-compatible values', async () => {
  const [h, w] = await both('show info\n');
  const keys = (s: string): string[] => s.split('\n').filter(Boolean).map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(keys(w), keys(h));
  assert.ok(h.endsWith('\n\n') && w.endsWith('\n\n'), 'both end with the CLI blank line');
  const values = (s: string): Map<string, string> => new Map(s.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
  const hv = values(h);
  const wv = values(w);
  for (const k of ['Nbproc', 'Process_num', 'Maxconn', 'Hard_maxconn', 'Maxpipes', 'PipesUsed', 'SslRate', 'Tainted']) assert.equal(wv.get(k), hv.get(k), k);
  assert.match(wv.get('Uptime')!, /^\d+d \d+h\d\dm\d\ds$/);
  assert.equal(wv.get('Pid'), String(process.pid));
  assert.equal(wv.get('Name'), 'warren');
});

test('show stat: identical header, same rows in the same order, same empty cells', async () => {
  const [h, w] = await both('show stat\n');
  assert.equal(w.split('\n')[0], h.split('\n')[0], 'header line');
  assert.ok(w.endsWith(',\n\n'));
  const hp = parseCsv(h);
  const wp = parseCsv(w);
  assert.deepEqual(
    wp.rows.map((r) => `${r.pxname}/${r.svname}`),
    hp.rows.map((r) => `${r.pxname}/${r.svname}`),
  );
  // Cells that must be equal at rest (no traffic yet); the others are timings and counters.
  const stable = ['pxname', 'svname', 'qcur', 'qmax', 'scur', 'stot', 'bin', 'bout', 'dreq', 'dresp', 'ereq', 'econ', 'eresp', 'status', 'weight',
    'act', 'bck', 'qlimit', 'pid', 'iid', 'sid', 'throttle', 'tracked', 'type', 'rate_lim', 'check_status', 'check_code', 'hanafail',
    'req_rate', 'req_tot', 'cli_abrt', 'srv_abrt', 'last_chk', 'check_desc', 'check_rise', 'check_fall', 'check_health', 'addr', 'cookie',
    'mode', 'algo', 'dcon', 'dses', 'wrew', 'reuse', 'eint', 'uweight', '-', 'ssl_sess', 'h1_bytes_in'];
  for (let i = 0; i < hp.rows.length; i++) {
    const hr = hp.rows[i]!;
    const wr = wp.rows[i]!;
    const where = `${hr.pxname}/${hr.svname}`;
    for (const f of hp.fields) assert.equal(wr[f] === '', hr[f] === '', `${where} ${f}: haproxy=${JSON.stringify(hr[f])} warren=${JSON.stringify(wr[f])}`);
    for (const f of stable) assert.equal(wr[f], hr[f], `${where} ${f}`);
  }
});

test('show stat filters: iid/type/sid, proxy names, up, no-maint, and the bad-proxy error', async () => {
  for (const q of ['show stat 2 4 -1', 'show stat rabbit 2 -1', 'show stat 2 -1 1', 'show stat 99 -1 -1', 'show stat json 2 1 -1', 'show stat 2 x', 'show stat up', 'show stat no-maint', 'show stat -1 1 -1']) {
    const [h, w] = await both(q + '\n');
    const key = (s: string): string[] =>
      s.startsWith('#') ? parseCsv(s).rows.map((r) => `${r.pxname}/${r.svname}/${r.status}`) : [s];
    assert.deepEqual(key(w), key(h), q);
  }
});

test('show stat json and typed: same fields, positions, tags and types', async () => {
  const [h, w] = await both('show stat json\n');
  const shape = (s: string): string[][] =>
    (JSON.parse(s) as { objType: string; proxyId: number; id: number; field: { pos: number; name: string }; tags: object; value: { type: string } }[][]).map((row) =>
      row.map((f) => `${f.objType}.${f.proxyId}.${f.id}.${f.field.pos}.${f.field.name}:${JSON.stringify(f.tags)}:${f.value.type}`),
    );
  assert.deepEqual(shape(w), shape(h));
  const [ht, wt] = await both('show stat typed\n');
  const prefix = (s: string): string[] => s.split('\n').filter(Boolean).map((l) => l.split(':').slice(0, 3).join(':'));
  assert.deepEqual(prefix(wt), prefix(ht));
  const [hi, wi] = await both('show info json\n');
  const infoShape = (s: string): string[] => (JSON.parse(s) as { field: { pos: number; name: string }; tags: object; value: { type: string } }[]).map((f) => `${f.field.pos}.${f.field.name}:${JSON.stringify(f.tags)}:${f.value.type}`);
  assert.deepEqual(infoShape(wi), infoShape(hi));
});

test('show servers state: same header and the same states', async () => {
  const [h, w] = await both('show servers state\n');
  const lines = (s: string): string[][] => s.split('\n').filter(Boolean).map((l) => l.split(' '));
  const hl = lines(h);
  const wl = lines(w);
  assert.deepEqual(wl.slice(0, 2), hl.slice(0, 2), 'version line and header');
  assert.equal(wl.length, hl.length);
  for (let i = 2; i < hl.length; i++) {
    assert.equal(wl[i]!.length, hl[i]!.length);
    // column 9 is srv_time_since_last_change
    assert.deepEqual(wl[i]!.filter((_, j) => j !== 9), hl[i]!.filter((_, j) => j !== 9), `line ${hl[i]!.join(' ')}`);
  }
  const [h2, w2] = await both('show servers state solo\n');
  assert.equal(lines(w2).length, lines(h2).length);
  assert.deepEqual(await both('show servers state nope\n').then(([a, b]) => [b, a]), ["Can't find backend.\n\n", "Can't find backend.\n\n"]);
});

test('answers and error texts are byte for byte HAProxy 2.6', async () => {
  const cases = [
    'disable server rabbit/nope',
    'disable server nope/x',
    'disable server rabbit',
    'enable server',
    'get weight rabbit/node1',
    'get weight rabbit',
    'get weight zz/node1',
    'set weight rabbit/node1',
    'set weight rabbit/node1 300',
    'set weight rabbit/node1 -1',
    'set weight rabbit/node1 abc',
    'set weight rabbit/node1 5x',
    'set weight rabbit/node1 -5%',
    'set server rabbit/node1 state foo',
    'set server rabbit/node1 state',
    'set server rabbit/node1 foo',
    'set server rabbit/node1',
    'set server rabbit/zz state ready',
    'set server zz/node1 state ready',
    'set server rabbit/node1 weight',
    'set server rabbit/node1 weight 1000',
    'shutdown sessions server rabbit/zz',
    'shutdown sessions server',
    'set timeout cli x',
    'set timeout cli 0',
    'set timeout cli',
    'set timeout foo 5',
    'set timeout cli 5',
    'operator; disable server rabbit/node1',
    'operator; show cli level',
    'user; operator',
    'user; set server rabbit/node1 state drain',
    'user; shutdown sessions server rabbit/node1',
    'user; get weight rabbit/node1',
    'show cli level',
    'help show stat',
    'show stats',
    'shwo stat',
    'show backend',
    'get weight rabbit/node1;get weight rabbit/node3',
    'quit',
    'quit;show cli level',
    '',
  ];
  for (const c of cases) {
    const [h, w] = await both(c + '\n');
    if (c === '') {
      assert.ok(w.startsWith('Unknown command. Please enter one of the following commands only:\n'), 'empty line');
      assert.ok(h.startsWith('Unknown command. Please enter one of the following commands only:\n'));
      continue;
    }
    assert.equal(w, h, `answer to ${JSON.stringify(c)}`);
  }
  // The version differs by design; the framing does not.
  const [hv, wv] = await both('show version\n');
  assert.match(hv, /^\S+\n\n$/);
  assert.match(wv, /^\S+\n\n$/);
});

test('interactive mode: the prompt framing hatop relies on is identical', async () => {
  const steps = ['prompt\n', 'get weight rabbit/node1\n', 'set timeout cli 60\n', 'show cli level\n', 'help show stat\n', 'operator;show cli level\n', 'get weight rabbit/node1\nget weight solo/solo1\n', 'quit\n'];
  const h = await transcript(hapSock, steps);
  const w = await transcript(warSock, steps);
  assert.deepEqual(w, h);
  assert.equal(w[0], '\n> ');
  // prompt toggles back to non-interactive: the answer, then the close
  assert.deepEqual(await transcript(warSock, ['prompt\n', 'prompt\n']), await transcript(hapSock, ['prompt\n', 'prompt\n']));
  // several lines in one packet without prompt: all answered, then closed
  const [hm, wm] = await both('get weight rabbit/node1\nshow cli level\n');
  assert.equal(wm, hm);
});

test('admin commands have the same effect as on HAProxy', async () => {
  const row = async (sock: string, key: string): Promise<Record<string, string>> => stat(await ask(sock, 'show stat\n')).get(key)!;
  const same = async (key: string, fields: string[]): Promise<void> => {
    const h = await row(hapSock, key);
    const w = await row(warSock, key);
    for (const f of fields) assert.equal(w[f], h[f], `${key} ${f}`);
  };
  const run = async (cmd: string): Promise<void> => {
    const [h, w] = await both(cmd + '\n');
    assert.equal(w, h, cmd);
  };
  const state = async (sock: string, name: string): Promise<string[]> =>
    (await ask(sock, 'show servers state rabbit\n')).split('\n').find((l) => l.split(' ')[3] === name)!.split(' ');

  await run('set server rabbit/node1 state drain');
  await same('rabbit/node1', ['status', 'weight', 'uweight']);
  await same('rabbit/BACKEND', ['status', 'weight', 'act']);
  assert.equal((await state(warSock, 'node1'))[6], (await state(hapSock, 'node1'))[6], 'srv_admin_state for drain');
  await run('set server rabbit/node1 state ready');
  await same('rabbit/node1', ['status', 'weight']);

  await run('disable server rabbit/node3');
  await same('rabbit/node3', ['status']);
  assert.deepEqual((await state(warSock, 'node3')).slice(5, 7), (await state(hapSock, 'node3')).slice(5, 7), 'op/admin state for maint');
  await run('enable server rabbit/node3');
  await same('rabbit/node3', ['status']);

  await run('set weight rabbit/node1 50%');
  await run('get weight rabbit/node1');
  await same('rabbit/node1', ['weight', 'uweight']);
  await same('rabbit/BACKEND', ['weight']);
  await run('set server rabbit/node1 weight 7');
  await run('get weight rabbit/node1');
  await same('rabbit/node1', ['weight', 'uweight']);
  await run('set weight rabbit/node1 100%');
  await run('get weight rabbit/node1');

  await run('set server rabbit/node1 state maint');
  await same('rabbit/node1', ['status']);
  await run('set server rabbit/node1 state ready');
  await waitFor('node1 UP again on both', settled);
});

test('shutdown sessions server closes the sessions on that server, as HAProxy', async () => {
  const warPort = warren.port('solo');
  const clients = [await connect(hapPorts.solo), await connect(warPort)];
  const closed = clients.map((c) => new Promise<void>((r) => c.once('close', () => r())));
  for (const c of clients) {
    c.on('error', () => {});
    c.resume();
    c.write('ping');
  }
  await waitFor('one session on solo1 in each proxy', async () => {
    const h = stat(await ask(hapSock, 'show stat\n')).get('solo/solo1')!;
    const w = stat(await ask(warSock, 'show stat\n')).get('solo/solo1')!;
    return h.scur === '1' && w.scur === '1';
  });
  const [h, w] = await both('shutdown sessions server solo/solo1\n');
  assert.equal(w, h);
  await Promise.race([Promise.all(closed), sleep(3000).then(() => assert.fail('sessions still open after shutdown sessions'))]);
  assert.equal(stat(await ask(warSock, 'show stat\n')).get('solo/solo1')!.scur, '0');
});

test('warren: long lines and garbage are refused without harm; the socket file is handled safely', async () => {
  const mode = fs.statSync(warSock).mode & 0o777;
  assert.equal(mode, 0o600, 'socket created with mode 600');
  const long = await ask(warSock, 'show ' + 'x'.repeat(20_000) + '\n');
  assert.match(long, /^Command line too long/);
  const noNewline = await new Promise<string>((resolve) => {
    const c = net.connect(warSock);
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('close', () => resolve(out));
    c.on('connect', () => c.write('y'.repeat(17_000)));
  });
  assert.match(noNewline, /^Command line too long/, 'a line that never ends is cut at the limit');
  const garbage = await ask(warSock, Buffer.from([0xff, 0x00, 0xfe, 0x3b, 0x0a]).toString('latin1'));
  assert.match(garbage, /^Unknown command/);
  // concurrent clients, then the proxy still answers
  const answers = await Promise.all(Array.from({ length: 20 }, () => ask(warSock, 'show info\n')));
  for (const a of answers) assert.match(a, /^Name: warren\n/);
  assert.equal(await ask(warSock, 'show cli level\n'), 'admin\n\n');

  // A second API on the same path while this one lives is refused; a regular file is never removed.
  await assert.rejects(startRuntimeApi(`${warSock} level user`, warren.proxy, quiet), /in use/);
  const plain = path.join(dir, 'plain-file');
  fs.writeFileSync(plain, 'keep me');
  await assert.rejects(startRuntimeApi(plain, warren.proxy, quiet), /not a socket/);
  assert.equal(fs.readFileSync(plain, 'utf8'), 'keep me');
  // A stale socket (nobody listening) is replaced; level user refuses admin commands.
  const stalePath = path.join(dir, 'stale.sock');
  // A process that bound the socket and died without removing it (node would unlink on close).
  execFileSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', stalePath]);
  assert.ok(fs.lstatSync(stalePath).isSocket());
  const userApi = await startRuntimeApi(`${stalePath} mode 640 level user`, warren.proxy, quiet);
  try {
    assert.equal(fs.statSync(stalePath).mode & 0o777, 0o640);
    assert.equal(await ask(stalePath, 'show cli level\n'), 'user\n\n');
    assert.equal(await ask(stalePath, 'disable server rabbit/node1\n'), 'Permission denied\n\n');
    assert.equal(await ask(stalePath, 'operator\n'), 'Permission denied\n\n');
    const csv = stat(await ask(stalePath, 'show stat\n'));
    assert.equal(csv.get('rabbit/node1')!.addr, '', 'a user-level socket hides server addresses');
    assert.equal(csv.get('rabbit/BACKEND')!.algo, '', 'and balance algorithms');
  } finally {
    await userApi.close();
  }
  assert.ok(!fs.existsSync(stalePath), 'close() removes the socket file');
});

test('levels: nothing HAProxy refuses below admin runs on warren at user or operator level; what it allows, warren allows', async (t) => {
  // HAProxy 2.6 decides with cli_has_level() in each command's parser; the real binary is the
  // reference here (management.txt: user reads non-sensitive stats and changes nothing, operator
  // may also e.g. clear counters, admin may do everything). Commands warren does not implement
  // answer "Unknown command", which runs nothing either.
  const commands = [
    'disable server rabbit/node1', 'enable server rabbit/node4', 'set server rabbit/node1 state maint', 'set server rabbit/node1 weight 5',
    'set weight rabbit/node1 5', 'shutdown sessions server rabbit/node1', 'disable frontend rabbit', 'shutdown frontend rabbit',
    'set maxconn frontend rabbit 10', 'set maxconn global 10', 'clear counters', 'clear counters all', 'disable health rabbit/node1',
    'add server rabbit/x 127.0.0.1:1', 'del server rabbit/node3', 'show sess', 'show errors', 'show env', 'show fd',
    'get weight rabbit/node1', 'show servers state', 'show backend', 'show stat', 'show info', 'show cli level', 'set timeout cli 5', 'operator', 'user',
  ];
  const denied = (a: string): boolean => a.startsWith('Permission denied');
  const unknown = (a: string): boolean => a.startsWith('Unknown command');
  const table: string[] = [];
  for (const level of ['user', 'operator'] as const) {
    for (const c of commands) {
      // (The answer to `user`/`operator` itself is the empty line in front.)
      const [h, w] = (await both(`${level}; ${c}\n`)).map((a) => a.replace(/^\n/, ''));
      table.push(`${level.padEnd(8)} ${c.padEnd(40)} haproxy ${denied(h) ? 'denied' : 'allowed'}  warren ${denied(w) ? 'denied' : unknown(w) ? 'unknown' : 'allowed'}`);
      if (denied(h)) assert.ok(denied(w) || unknown(w), `${level}: '${c}' is refused by HAProxy but warren answered ${JSON.stringify(w.slice(0, 80))}`);
      else if (!unknown(w)) assert.ok(!denied(w), `${level}: '${c}' is allowed by HAProxy but refused by warren`);
    }
  }
  for (const line of table) t.diagnostic(line);
  // The matrix is not vacuous: HAProxy refuses the changes and allows the reads.
  assert.ok(table.some((l) => l.startsWith('user     disable server') && l.includes('haproxy denied')), table.join('\n'));
  assert.ok(table.some((l) => l.startsWith('user     show stat ') && l.includes('haproxy allowed  warren allowed')), table.join('\n'));
  // Nothing above changed a server: both still settled as at the start.
  assert.ok(await settled(), 'server states unchanged');
});
