// The two-host lab of the VRRP end-to-end tests (test/harness/netns-lab.ts), checked on its own:
// no RabbitMQ here, a root-namespace TCP echo server is the only "broker". Needs root (network
// namespaces) and iproute2, socat, nftables, iputils-arping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import * as net from 'node:net';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cleanupStaleLabs,
  createLab,
  firstConnectAfter,
  labClientArgs,
  parseClientEvents,
  type Lab,
  type LbHost,
} from '../harness/netns-lab.js';

interface Backend {
  server: net.Server;
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A root-namespace server on 127.0.0.1: echoes, or greets "hello" and then waits, per mode. */
async function backend(mode: { greet: boolean } = { greet: false }, port = 0): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    if (mode.greet) s.write('hello\n');
    else s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

const alive = (pid: number): boolean => {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX] /.test(st);
  } catch {
    return false;
  }
};

let echo: Backend;
let greeter: Backend;
let lab: Lab;
let destroyMs = -1;

before(async () => {
  echo = await backend();
  greeter = await backend({ greet: true });
  lab = await createLab({ brokerPorts: [echo.port, greeter.port], prefix: 'wlabt' });
});

after(async () => {
  await lab?.destroy();
  await echo?.close();
  await greeter?.close();
});

test('the namespaces exist, with the addresses, MACs and bridge settings of the design', async () => {
  const list = (await lab.exec('sw', 'ip', ['netns', 'list'])).stdout;
  for (const n of Object.values(lab.ns)) assert.match(list, new RegExp(`^${n}( |$)`, 'm'), `namespace ${n}`);
  for (const h of ['lbA', 'lbB', 'client'] as const) {
    const j = JSON.parse((await lab.exec(h, 'ip', ['-j', 'addr', 'show'])).stdout) as { ifname: string; address: string; operstate: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
    const eth0 = j.find((i) => i.ifname === 'eth0')!;
    const lo = j.find((i) => i.ifname === 'lo')!;
    assert.deepEqual(eth0.addr_info.map((a) => `${a.family} ${a.local}/${a.prefixlen}`), [`inet ${lab.addr[h]}/24`], `${h} eth0 addresses (IPv6 off)`);
    assert.equal(eth0.address, lab.mac[h]);
    assert.equal(eth0.operstate, 'UP');
    assert.ok(lo.addr_info.some((a) => a.local === '127.0.0.1'), `${h} lo has 127.0.0.1`);
  }
  const br = JSON.parse((await lab.exec('sw', 'ip', ['-d', '-j', 'link', 'show', 'br0'])).stdout) as { operstate: string; linkinfo: { info_data: { mcast_snooping: number; stp_state: number } } }[];
  assert.equal(br[0]!.linkinfo.info_data.mcast_snooping, 0);
  assert.equal(br[0]!.linkinfo.info_data.stp_state, 0);
  assert.equal(br[0]!.operstate, 'UP');
  for (const h of ['lbA', 'lbB'] as const) {
    assert.equal((await lab.exec(h, 'sysctl', ['-n', 'net.ipv4.ip_nonlocal_bind'])).stdout.trim(), '1');
  }
  assert.equal((await lab.exec('client', 'sysctl', ['-n', 'net.ipv4.conf.eth0.arp_accept'])).stdout.trim(), '0');
  assert.ok(lab.createMs < 5000, `createLab took ${lab.createMs} ms`);
});

test('the client reaches lbA and lbB, and the lbs reach each other', async () => {
  assert.equal(await lab.reachable('client', lab.addr.lbA), true);
  assert.equal(await lab.reachable('client', lab.addr.lbB), true);
  assert.equal(await lab.reachable('lbA', lab.addr.lbB), true);
  assert.equal(await lab.reachable('lbB', lab.addr.client), true);
  assert.equal(await lab.reachable('client', '198.51.100.99', { timeoutMs: 300 }), false, 'an unused address is not reachable');
});

test('multicast to 224.0.0.18 crosses the bridge both ways', async () => {
  assert.ok((await lab.checkMulticast('lbA', 'lbB')) < 2000);
  assert.ok((await lab.checkMulticast('lbB', 'lbA', { port: 51998 })) < 2000);
});

test('the broker relay: 127.0.0.1:<port> inside each lb reaches the root-namespace server', async () => {
  for (const h of ['lbA', 'lbB'] as const) {
    const r = await lab.exec(h, 'socat', ['-t', '2', '-', `TCP:127.0.0.1:${echo.port}`], { input: `ping from ${h}\n`, timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ping from ${h}\n`);
  }
  // The client has no relay: nothing listens on its 127.0.0.1:<port>.
  const r = await lab.exec('client', 'socat', ['-u', 'OPEN:/dev/null', `TCP:127.0.0.1:${echo.port}`]);
  assert.match(r.stderr, /refused/i);
});

test('the broker relay: a backend close closes the lab-side connection at once', async () => {
  const conn = lab.spawn('lbA', 'relay-close', 'socat', ['-u', `TCP:127.0.0.1:${greeter.port}`, 'STDOUT']);
  await conn.waitForLine(/^hello$/, 3000);
  assert.equal(greeter.sockets.size, 1);
  const t = Date.now();
  for (const s of greeter.sockets) s.end();
  const exit = await Promise.race([conn.exited, sleep(2000).then(() => null)]);
  assert.ok(exit, 'the lab-side connection ended');
  assert.equal(exit.code, 0);
  assert.ok(Date.now() - t < 1000, `closed after ${Date.now() - t} ms`);
});

test('the broker relay: a stopped backend gives a closed connection quickly inside the lab', async () => {
  const stopped = await backend();
  const port = stopped.port;
  await stopped.close();
  const l2 = await createLab({ brokerPorts: [port], prefix: 'wlabt', verifyMulticast: false });
  try {
    const t = Date.now();
    const r = await l2.exec('lbB', 'socat', ['-t', '2', '-', `TCP:127.0.0.1:${port}`], { input: 'anyone?\n', timeoutMs: 5000 });
    const ms = Date.now() - t;
    // Accepted by the lab-side socat, then closed (or refused): never any data, never a hang.
    assert.equal(r.stdout, '');
    assert.ok(ms < 1000, `took ${ms} ms`);
    // And once the backend is back on that port, the same relay works.
    const back = await backend({ greet: false }, port);
    try {
      const ok = await l2.exec('lbB', 'socat', ['-t', '2', '-', `TCP:127.0.0.1:${port}`], { input: 'back\n', timeoutMs: 5000 });
      assert.equal(ok.stdout, 'back\n');
    } finally {
      await back.close();
    }
  } finally {
    await l2.destroy();
  }
});

test('linkDown makes lbA unreachable from the client (carrier lost) and linkUp restores it', async () => {
  await lab.linkDown('lbA');
  try {
    const link = JSON.parse((await lab.exec('lbA', 'ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { flags: string[]; operstate: string }[];
    assert.ok(link[0]!.flags.includes('NO-CARRIER'), `lbA eth0 flags ${link[0]!.flags}`);
    assert.ok(link[0]!.flags.includes('UP'), 'eth0 itself stays administratively up');
    assert.equal(await lab.reachable('client', lab.addr.lbA, { timeoutMs: 500 }), false);
    assert.equal(await lab.reachable('client', lab.addr.lbB), true, 'lbB is unaffected');
  } finally {
    await lab.linkUp('lbA');
  }
  const link = JSON.parse((await lab.exec('lbA', 'ip', ['-j', 'link', 'show', 'eth0'])).stdout) as { flags: string[]; operstate: string }[];
  assert.equal(link[0]!.operstate, 'UP');
  assert.equal(await waitFor('lbA reachable again', () => lab.reachable('client', lab.addr.lbA), (v) => v), true);
});

test('blockAdverts drops UDP on that port in and out, unblockAdverts restores it', async () => {
  const port = 51990;
  assert.ok(await lab.checkMulticast('lbA', 'lbB', { port }));
  for (const blocked of ['lbB', 'lbA'] as const) {
    await lab.blockAdverts(blocked, port);
    await lab.blockAdverts(blocked, port); // idempotent
    await assert.rejects(lab.checkMulticast('lbA', 'lbB', { port, timeoutMs: 400 }), `blocked on ${blocked}`);
    await assert.rejects(lab.checkMulticast('lbB', 'lbA', { port, timeoutMs: 400 }), `blocked on ${blocked}, other way`);
    assert.ok(await lab.checkMulticast('lbA', 'lbB', { port: port + 1 }), 'another port still passes');
    await lab.unblockAdverts(blocked, port);
    await lab.unblockAdverts(blocked, port); // idempotent
    assert.ok(await lab.checkMulticast('lbA', 'lbB', { port }));
  }
});

test('vipHolders, clientNeigh (GARP updates an existing entry) and servingHost', async () => {
  const vip = `${lab.vip}/24`;
  assert.deepEqual(await lab.vipHolders(), []);
  assert.equal(await lab.clientNeigh(), null);
  await lab.exec('lbA', 'ip', ['addr', 'add', vip, 'dev', 'eth0']);
  try {
    assert.deepEqual(await lab.vipHolders(), ['lbA']);
    // With arp_accept=0, a GARP does not create an entry...
    const garpA = await lab.exec('lbA', 'arping', ['-U', '-c', '1', '-I', 'eth0', lab.vip]);
    assert.equal(garpA.code, 0, garpA.stderr);
    assert.equal(await lab.clientNeigh(), null, 'no entry created by a GARP');
    // ...traffic does: the client talks to the VIP and learns lbA's MAC.
    assert.equal(await lab.reachable('client', lab.vip), true);
    assert.equal(await lab.clientNeigh(), 'lbA');

    // Move the VIP by hand: the client's entry still points to lbA until lbB's GARP, which
    // updates it at once (no locktime wait).
    await lab.exec('lbA', 'ip', ['addr', 'del', vip, 'dev', 'eth0']);
    await lab.exec('lbB', 'ip', ['addr', 'add', vip, 'dev', 'eth0']);
    assert.deepEqual(await lab.vipHolders(), ['lbB']);
    assert.equal(await lab.clientNeigh(), 'lbA');
    const garping = lab.exec('lbB', 'arping', ['-U', '-c', '1', '-I', 'eth0', lab.vip]);
    const t = Date.now();
    await waitFor('client neighbour after GARP from lbB', () => lab.clientNeigh(), (v) => v === 'lbB', 900);
    assert.ok(Date.now() - t < 900);
    await garping;

    // servingHost: a TCP session from the client to the VIP lands on lbB.
    const listener = lab.spawn('lbB', 'vip-listener', 'socat', ['-d', '-d', 'TCP-LISTEN:5672,reuseaddr,fork', 'SYSTEM:echo serving; sleep 30']);
    await waitFor('listener up', async () => (await lab.exec('lbB', 'ss', ['-Htln', 'sport', '= :5672'])).stdout, (s) => s.includes(':5672'));
    const clientPort = 40123;
    const session = lab.spawn('client', 'vip-session', 'socat', ['-u', `TCP:${lab.vip}:5672,sourceport=${clientPort}`, 'STDOUT']);
    await session.waitForLine(/^serving$/, 3000);
    assert.equal(await lab.servingHost(clientPort), 'lbB');
    assert.deepEqual(await lab.servingHosts(clientPort), ['lbB']);
    assert.equal(await lab.servingHost(clientPort + 1), null);
    session.kill('SIGTERM');
    await session.exited;
    listener.kill('SIGTERM');
    await listener.exited;
  } finally {
    for (const h of ['lbA', 'lbB'] as LbHost[]) await lab.exec(h, 'ip', ['addr', 'del', vip, 'dev', 'eth0']);
  }
  assert.deepEqual(await lab.vipHolders(), []);
});

test('lab-client: connect-failed every ~50 ms while nothing listens, stats, clean SIGTERM', async () => {
  const c = lab.spawn('client', 'lab-client', process.execPath, labClientArgs({ url: `amqp://guest:guest@${lab.addr.lbA}:5999`, connectTimeoutMs: 500 }));
  await c.waitForLine(/"ev":"stats"/, 3000);
  await sleep(300);
  c.kill('SIGTERM');
  const exit = await c.exited;
  assert.equal(exit.code, 0, c.lines().join('\n'));
  const events = parseClientEvents(c.lines());
  assert.equal(events[0]!.ev, 'start');
  const failed = events.filter((e) => e.ev === 'connect-failed');
  assert.ok(failed.length >= 10, `${failed.length} connect attempts in ~1.3 s`);
  assert.match(failed[0]!.msg ?? '', /ECONNREFUSED/);
  const gaps = failed.slice(1).map((e, i) => e.t - failed[i]!.t);
  assert.ok(Math.max(...gaps) < 250, `retry gaps ${gaps}`);
  assert.ok(events.some((e) => e.ev === 'stats' && e.confirmed === 0 && e.connected === false));
  assert.equal(events.at(-1)!.ev, 'exit');
  assert.equal(firstConnectAfter(events, 0), null);
  assert.ok(fs.readFileSync(`${lab.dir}/lab-client.log`, 'utf8').includes('"ev":"connect-failed"'), 'output also in the log file');
});

test('parseClientEvents and firstConnectAfter', () => {
  const lines = [
    'not json',
    '{"t":100,"ev":"connected","conn":1,"localPort":40000}',
    '{"t":200,"ev":"closed","conn":1,"msg":"boom"}',
    '{"broken',
    '{"t":260,"ev":"connected","conn":2,"localPort":40001}',
  ];
  const ev = parseClientEvents(lines);
  assert.equal(ev.length, 3);
  assert.equal(firstConnectAfter(ev, 150)?.conn, 2);
  assert.equal(firstConnectAfter(ev, 100)?.conn, 1);
  assert.equal(firstConnectAfter(ev, 261), null);
});

test('destroy() leaves no namespace, process or temp dir behind', async () => {
  const pids = lab.processes().map((p) => p.pid);
  // Something long-running in every host, with a child of its own.
  for (const h of ['lbA', 'lbB', 'client'] as const) lab.spawn(h, `sleeper-${h}`, 'sh', ['-c', 'sleep 300 & sleep 300; wait']);
  await sleep(100);
  const nsPids = (await Promise.all(Object.values(lab.ns).map((n) => lab.exec('sw', 'ip', ['netns', 'pids', n])))).flatMap((r) => r.stdout.split(/\s+/).filter(Boolean).map(Number));
  assert.ok(nsPids.length >= 6, `processes in the lab: ${nsPids}`);
  const t = Date.now();
  await lab.destroy();
  destroyMs = Date.now() - t;
  await lab.destroy(); // idempotent
  const list = await new Promise<string>((resolve) => {
    const p = spawn('ip', ['netns', 'list']);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => resolve(out));
  });
  for (const n of Object.values(lab.ns)) assert.ok(!list.split('\n').some((l) => l.split(' ')[0] === n), `namespace ${n} is gone`);
  for (const p of [...pids, ...nsPids]) assert.ok(!alive(p), `pid ${p} is gone`);
  assert.equal(fs.existsSync(lab.dir), false, 'temp dir removed');
  assert.ok(destroyMs < 5000, `destroy took ${destroyMs} ms`);
});

test('createLab removes the leftovers of a crashed lab of the same prefix', async () => {
  // A child process creates a lab and is killed with SIGKILL: no destroy(), no exit handler.
  const script = `
    import { createLab } from ${JSON.stringify(new URL('../harness/netns-lab.js', import.meta.url).href)};
    const lab = await createLab({ brokerPorts: [${echo.port}], prefix: 'wlabc', verifyMulticast: false });
    lab.spawn('lbA', 'sleeper', 'sleep', ['300']);
    console.log(JSON.stringify({ ns: lab.ns, dir: lab.dir, pids: lab.processes().map((p) => p.pid) }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const rl = readline.createInterface({ input: child.stdout });
  const info = await new Promise<{ ns: Record<string, string>; dir: string; pids: number[] }>((resolve, reject) => {
    rl.once('line', (l) => resolve(JSON.parse(l) as { ns: Record<string, string>; dir: string; pids: number[] }));
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(info.pids.every(alive), 'the crashed lab left its processes running');

  const removed = await cleanupStaleLabs('wlabc');
  assert.ok(removed.includes(info.ns.lbA!), `removed: ${removed}`);
  const list = await new Promise<string>((resolve) => {
    const p = spawn('ip', ['netns', 'list']);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => resolve(out));
  });
  for (const n of Object.values(info.ns)) assert.ok(!list.includes(n), `namespace ${n} is gone`);
  await waitFor('crashed lab processes gone', async () => info.pids.filter(alive), (l) => l.length === 0);
  assert.equal(fs.existsSync(info.dir), false, 'its temp dir is gone');
});
