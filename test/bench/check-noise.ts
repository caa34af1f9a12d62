// How much the health checks make RabbitMQ log: starts a 3-node cluster (test/harness), runs
// warren in-process with the shipped config/haproxy.yaml (binds moved to 127.0.0.1:0) for
// DURATION seconds, and counts the lines the brokers wrote meanwhile by level; then the same with
// the AMQP check WITHOUT credentials (no login: RabbitMQ 3.10 warns on every such check), and,
// for reference, the same window with no proxy at all. Prints markdown tables; stops the cluster.
//
//   npm run bench:check-noise                  (DURATION 60 s per phase)
//   node dist/test/bench/check-noise.js --duration 20 [--no-baseline]
//   DURATION=20 node dist/test/bench/check-noise.js
//
// Needs the test cluster's ports (5673-5675, 15673-15675, 25673-25675, epmd 4371) free; with
// WARREN_RABBIT_STATE=FILE it uses that running harness cluster instead (and leaves it running).
// The harness sets `log.file.level = info`, so [debug] lines are not written at all.
import { loadProxyConfigText } from '../../src/config/load.js';
import { startProxy } from '../harness/proxy.js';
import { logOffset, logSince, type ClusterInfo } from '../harness/rabbit-cluster.js';
import { benchCluster, flag, log, markdownTable, numberOption, shippedConfig, sleep } from './bench-util.js';

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
/** After each window: time for the brokers to write what the last checks caused. */
const SETTLE_MS = 3000;

interface PhaseResult {
  name: string;
  seconds: number;
  checks: number;
  failedChecks: number;
  byLevel: Record<string, number>;
  /** Lines without a timestamp/level prefix (continuations of multi-line messages). */
  continuation: number;
  /** The most frequent messages, numbers and Erlang pids blanked out. */
  top: [string, number][];
}

const LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d \[(\w+)\] <[^>]*> ?(.*)$/;

function countLines(text: string): Pick<PhaseResult, 'byLevel' | 'continuation' | 'top'> {
  const byLevel: Record<string, number> = Object.fromEntries(LEVELS.map((l) => [l, 0]));
  const kinds = new Map<string, number>();
  let continuation = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = LINE.exec(line);
    if (!m) {
      continuation++;
      continue;
    }
    const level = m[1]!;
    byLevel[level] = (byLevel[level] ?? 0) + 1;
    const kind = `[${level}] ${m[2]!.replace(/<[\d.]+>/g, '<pid>').replace(/\d+(\.\d+)*/g, 'N').slice(0, 90)}`;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const top = [...kinds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4);
  return { byLevel, continuation, top };
}

async function runPhase(cluster: ClusterInfo, name: string, yaml: string | null, seconds: number): Promise<PhaseResult> {
  log(`${name}: ${seconds} s`);
  const offsets = cluster.nodes.map((n) => logOffset(cluster, n));
  let checks = 0;
  let failedChecks = 0;
  if (yaml !== null) {
    const p = await startProxy(yaml);
    const servers = p.proxy.backends.get('rabbitmq_cluster')!.servers;
    try {
      await sleep(seconds * 1000);
    } finally {
      checks = servers.reduce((n, s) => n + (s.checks?.checksRun ?? 0), 0);
      failedChecks = servers.reduce((n, s) => n + (s.checks?.machine.counters.failedChecks ?? 0), 0);
      const downs = p.logs.filter((l) => l.state === 'DOWN').length;
      if (downs > 0) log(`${name}: WARNING: ${downs} DOWN transition(s) during the window`);
      await p.stop();
    }
  } else {
    await sleep(seconds * 1000);
  }
  await sleep(SETTLE_MS);
  const text = cluster.nodes.map((n, i) => logSince(cluster, n, offsets[i]!)).join('');
  return { name, seconds, checks, failedChecks, ...countLines(text) };
}

async function main(): Promise<void> {
  const seconds = numberOption('duration', 60);
  const baseline = !flag('no-baseline');
  const t0 = Date.now();
  const { cluster, stop } = await benchCluster();
  const onSignal = (): void => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results: PhaseResult[] = [];
  try {
    const withLogin = shippedConfig(cluster);
    // The shipped amqp-check line without user/password: the check stops after Connection.Start.
    const noLogin = withLogin.replace(/^[ \t]*amqp-check:.*\n/m, '');
    if (noLogin === withLogin) throw new Error('config/haproxy.yaml has no amqp-check line to remove');
    for (const text of [withLogin, noLogin]) loadProxyConfigText(text, 'bench.yaml'); // fail early
    // Let the cluster's own start-up chatter end before measuring anything.
    await sleep(5000);
    if (baseline) results.push(await runPhase(cluster, 'no proxy (broker baseline)', null, seconds));
    results.push(await runPhase(cluster, 'shipped: amqp-check with user/password', withLogin, seconds));
    results.push(await runPhase(cluster, 'amqp-check without credentials', noLogin, seconds));
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }

  const shown = LEVELS.filter((l) => l !== 'alert' && l !== 'emergency');
  const out: string[] = [];
  out.push(`## RabbitMQ log lines during ${seconds} s (+${SETTLE_MS / 1000} s settle), 3 brokers, warren with config/haproxy.yaml`);
  out.push('');
  out.push(
    markdownTable(
      ['phase', 'checks run', 'failed', ...shown.map((l) => `[${l}]`), 'other', 'lines/check'],
      results.map((r) => {
        const total = Object.values(r.byLevel).reduce((a, b) => a + b, 0);
        const other = (r.byLevel['alert'] ?? 0) + (r.byLevel['emergency'] ?? 0) + r.continuation;
        const base = baseline ? results[0]! : null;
        const baseTotal = base ? Object.values(base.byLevel).reduce((a, b) => a + b, 0) + base.continuation : 0;
        const perCheck = r.checks > 0 ? ((total + r.continuation - baseTotal) / r.checks).toFixed(2) : '';
        return [r.name, r.checks, r.failedChecks, ...shown.map((l) => r.byLevel[l] ?? 0), other, perCheck];
      }),
    ),
  );
  out.push('');
  out.push('`other`: [alert]/[emergency] plus continuation lines of multi-line messages. `lines/check`: (lines - baseline lines) / checks.');
  out.push('');
  out.push('Most frequent messages per phase (numbers and pids blanked):');
  out.push('');
  out.push(markdownTable(['phase', 'count', 'message'], results.flatMap((r) => r.top.map(([msg, n]) => [r.name, n, msg.replace(/\|/g, '\\|')]))));
  out.push('');
  out.push(`(total run ${Math.round((Date.now() - t0) / 1000)} s)`);
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`check-noise: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
