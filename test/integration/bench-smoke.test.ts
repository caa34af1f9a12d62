// The performance suite's smoke mode (npm run bench:smoke): every subject runs every workload and
// the behaviour checks. What is asserted is that it works, not how fast: the process exits 0 and
// prints each table with a row per subject; warren, HAProxy and `direct` pass every behaviour
// check and measure every workload without error. node-tcp-proxy is known to fail checks (no
// half-close, truncation when the server closes, no backpressure): those failures are expected.
//
// Installs haproxy, iperf3, wrk and nginx-light when missing (test/bench/perf-deps.sh, as root).
// AMQP goes to the first node of the run's cluster (WARREN_RABBIT_STATE), else to a one-node
// cluster the suite starts on its own ports (5973...).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const ROWS: Record<string, RegExp> = {
  direct: /^\| direct \(no proxy\)/,
  haproxy1: /^\| HAProxy \S+ nbthread 1 /,
  haproxy2: /^\| HAProxy \S+ nbthread 2 /,
  'node-tcp-proxy': /^\| node-tcp-proxy /,
  warren: /^\| warren +\|/,
  warren2: /^\| warren nbthread 2 /,
};
const MUST_PASS = ['direct', 'haproxy1', 'haproxy2', 'warren', 'warren2'];
const SECTIONS = ['Behaviour checks', '1. Bulk', '2. New connections', '3. Keep-alive', '4. Slow reader', '5. Idle', '6. AMQP', 'Summary'];

/** The markdown table under `### <title...>`: its rows (lines starting with `|`). */
function section(out: string, title: string): string[] {
  const start = out.indexOf(`### ${title}`);
  assert.ok(start >= 0, `no section '### ${title}' in the output`);
  const next = out.indexOf('\n### ', start + 4);
  const body = out.slice(start, next < 0 ? undefined : next);
  return body.split('\n').filter((l) => l.startsWith('|'));
}

function row(rows: string[], subject: string, title: string): string[] {
  const line = rows.find((l) => ROWS[subject]!.test(l));
  assert.ok(line, `section '${title}': no row for ${subject}`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

test('bench:smoke: every subject measured, warren and HAProxy pass the behaviour checks', { timeout: 330_000 }, async () => {
  execFileSync('bash', ['test/bench/perf-deps.sh'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const child = spawn(process.execPath, ['dist/test/bench/perf/main.js', '--smoke'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-20_000)));
  const killer = setTimeout(() => child.kill('SIGTERM'), 300_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(killer);
  const context = `\n--- stdout ---\n${out}\n--- stderr (tail) ---\n${err.slice(-6000)}`;
  assert.equal(code, 0, `the smoke run exited with ${code}${context}`);

  for (const title of SECTIONS) {
    const rows = section(out, title);
    for (const subject of Object.keys(ROWS)) {
      const cells = row(rows, subject, title);
      if (title === 'Behaviour checks') {
        if (MUST_PASS.includes(subject)) {
          for (const c of cells.slice(1)) assert.ok(c === 'pass' || c === 'n/a', `${subject} failed a behaviour check: ${cells.join(' | ')}${context}`);
        }
      } else if (MUST_PASS.includes(subject)) {
        assert.ok(!cells[0]!.includes('⚠') && !cells.includes('error'), `${title}: ${subject} had an error: ${cells.join(' | ')}${context}`);
      }
    }
  }
  // The known failures of node-tcp-proxy are shown, not hidden (the 64 MiB → 4 MiB).
  const ntp = row(section(out, 'Behaviour checks'), 'node-tcp-proxy', 'Behaviour checks');
  assert.ok(ntp.some((c) => c.startsWith('FAIL (known)')), `node-tcp-proxy passed every check? ${ntp.join(' | ')}`);
});
