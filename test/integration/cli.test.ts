// The warren command itself, as an operator runs it: check, import, proxy and SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { connect, tcpServer } from '../harness/proxy.js';

const CLI = 'dist/src/cli.js';
const dir = mkdtempSync(join(tmpdir(), 'warren-cli-'));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('warren --help and --version', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /warren proxy|proxy -f FILE/);
  const version = await run(['--version']);
  assert.match(version.stdout, /^warren \d+\.\d+\.\d+/);
  const unknown = await run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
});

test('warren check: valid config exits 0; an invalid one exits 2 with every error', async () => {
  const ok = await run(['check', '-f', 'config/haproxy.yaml']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'Configuration file is valid\n');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `defaults:
  timeout: {connect: 5s, client: 1m, server: 1m}
listen:
  rabbitmq_cluster:
    bind: 0.0.0.0:5672
    balance: leastconn
    server:
      - rabbit1 10.0.0.11:5672 check inter 5s
      - rabbit2 10.0.0.12:5672 check inetr 5s
      - rabbit3 10.0.0.13:5672 check fall x
`);
  const res = await run(['check', '-f', bad]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, new RegExp(`${bad}:9: listen\\.rabbitmq_cluster\\.server\\[1\\]: unknown server keyword 'inetr' \\(did you mean 'inter'\\?\\)`));
  assert.match(res.stderr, new RegExp(`${bad}:10: listen\\.rabbitmq_cluster\\.server\\[2\\]: 'fall x': expected an integer`));
  assert.match(res.stderr, /Configuration file is invalid/);
  const missing = await run(['check', '-f', join(dir, 'nope.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.yaml: cannot read: ENOENT/);
});

test('warren import: the tutorial haproxy.cfg converts with warnings, passes check and runs', async (t) => {
  const imported = await run(['import', 'test/fixtures/haproxy/rabbitmq-classic.cfg']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stderr, /rabbitmq-classic\.cfg:\d+: warning: .*contimeout.*timeout connect/);
  const out = join(dir, 'imported.yaml');
  writeFileSync(out, imported.stdout);
  const checked = await run(['check', '-f', out]);
  assert.equal(checked.code, 0, checked.stderr);

  // And it runs: same servers, pointed at a local backend, on free ports.
  const backend = await tcpServer((s) => s.end('from-broker'));
  const runnable = join(dir, 'runnable.yaml');
  writeFileSync(runnable, imported.stdout.replace(/0\.0\.0\.0:(5672|8888)/g, '127.0.0.1:0').replace(/192\.168\.1\.\d+:5672/g, `127.0.0.1:${backend.port}`));
  const child = spawn(process.execPath, [CLI, 'proxy', '-f', runnable], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const lines = createInterface({ input: child.stdout! });
    let port = 0;
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg: string; binds?: string[] };
      if (entry.msg.startsWith('Proxy rabbitmq_cluster started')) {
        port = Number(entry.binds![0]!.split(':').pop());
        break;
      }
    }
    assert.ok(port > 0);
    const c = await connect(port);
    let got = '';
    c.on('data', (d: Buffer) => (got += d.toString()));
    await once(c, 'end');
    c.end();
    assert.equal(got, 'from-broker');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0, 'SIGTERM is a clean stop');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await backend.close();
  }
  t.diagnostic('imported, checked and ran the tutorial config');
});

test('warren import refuses what warren does not support, with line numbers', async () => {
  const res = await run(['import', 'test/fixtures/haproxy/broken-ssl.cfg']);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /broken-ssl\.cfg:\d+: error: /);
  assert.equal(res.stdout, '');
});

test('warren import checks its YAML with the loader: what it refuses is an error at its line, nothing is printed', async () => {
  const cfg = join(dir, 'gap.cfg');
  writeFileSync(
    cfg,
    ['defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h', 'frontend fe', '  bind :5672', '  use_backend be if { src 10.0.0.300 }', '  default_backend be', 'backend be', '  server s 10.0.0.1:5672', ''].join('\n'),
  );
  const res = await run(['import', cfg]);
  assert.equal(res.code, 2, res.stderr);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, new RegExp(`${cfg}:8: error: frontend\\.fe\\.use_backend\\[0\\]: 'src 10\\.0\\.0\\.300'`));
  assert.match(res.stderr, /warren import: 1 error\(s\); nothing written/);
});

test('warren check and import take keepalived configs too', async () => {
  for (const f of ['config/keepalived-a.yaml', 'config/keepalived-b.yaml']) {
    const res = await run(['check', '-f', f]);
    assert.equal(res.code, 0, res.stderr);
  }
  const imported = await run(['import', 'test/fixtures/keepalived/tutorial-master.conf']);
  assert.equal(imported.code, 0, imported.stderr);
  assert.match(imported.stderr, /tutorial-master\.conf:\d+: warning: auth_type PASS/);
  const out = join(dir, 'keepalived.yaml');
  writeFileSync(out, imported.stdout);
  const checked = await run(['check', '-f', out]);
  assert.equal(checked.code, 0, checked.stderr);
  const bad = join(dir, 'bad-vrrp.yaml');
  writeFileSync(bad, imported.stdout.replace(/virtual_router_id: \d+/, 'virtual_router_id: 300'));
  const rejected = await run(['check', '-f', bad]);
  assert.equal(rejected.code, 2);
  assert.match(rejected.stderr, /virtual_router_id/);
});
