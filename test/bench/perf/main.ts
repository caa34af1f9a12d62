// The performance suite of issue 6: warren side by side with no proxy, HAProxy (nbthread 1 and 2)
// and node-tcp-proxy, on 127.0.0.1, interleaved rounds; markdown tables on stdout, progress on
// stderr.
//
//   npm run bench        [-- --rounds N --only bulk,connrate --subjects haproxy1,warren ...]
//   npm run bench:smoke  (short: every subject and workload works, the behaviour checks pass)
//
// Options:
//   --rounds N         rounds (default 3; smoke 1)
//   --smoke            short measurements (1 s, 1,000 idle connections, ...), for CI
//   --only LIST        workloads and/or `checks`: bulk,connrate,latency,slowreader,idle,amqp,checks
//   --subjects LIST    direct,haproxy1,haproxy2,node-tcp-proxy,warren,warren2 (default: all)
//   --seconds N        length of a timed measurement (default 10; smoke 1)
//   --warmup N         warm-up seconds before one (default 1; smoke 0)
//   --idle N           idle connections (default 5000; smoke 1000)
//   --slow-seconds N   slow-reader measurement (default 10; smoke 2)
//   --rss-cap N        stop a slow reader when the proxy's RSS passes N MiB (default 1024; smoke 512)
//   --wrk-conns N      wrk connections (default 50), --wrk-threads N (default 1)
//   --amqp-size N      AMQP message bytes (default 1024), --amqp-window N (default 100)
//   --check-mib N      size of the full-stream check (default 64)
//   --tcplog           `option tcplog` on for HAProxy and warren (default: off for both)
//   --json FILE        also write every raw value to FILE
//   --keep             keep the scratch directory (configs, logs)
//
// Exit status: 0 when every measurement of every subject but node-tcp-proxy succeeded and their
// behaviour checks passed (node-tcp-proxy is known to fail some: shown, not fatal), else 1.
// RabbitMQ: the cluster of WARREN_RABBIT_STATE when set (its first node), else a one-node cluster
// started for the AMQP workload on ports 5973/15973/25973 with epmd on 4401, and stopped after.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from '../bench-util.js';
import { loadCluster, startCluster, stopCluster, STATE_ENV, type ClusterInfo } from '../../harness/rabbit-cluster.js';
import { amqpPublish } from './amqp.js';
import { bulk } from './bulk.js';
import { checksTable, runChecks, unexpectedFailures, type ChecksResult } from './checks.js';
import { connrate } from './connrate.js';
import { idle } from './idle.js';
import { latency } from './latency.js';
import { killAll, raiseOwnNofile } from './proc.js';
import { runWorkload, summaryTable, targetsTable, workloadTable, type Env, type Options, type RabbitTarget, type Workload, type WorkloadResult } from './runner.js';
import { slowReader } from './slow-reader.js';
import { SUBJECTS, subjectById } from './subjects.js';

const WORKLOADS: Workload[] = [bulk, connrate, latency, slowReader, idle, amqpPublish];
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const WANT_NOFILE = 65536;

function usage(msg: string): never {
  process.stderr.write(`perf: ${msg}\n(see the comment at the top of test/bench/perf/main.ts for the options)\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { opts: Options; only: string[]; subjects: string[]; tcplog: boolean; json: string | null; keep: boolean } {
  const smoke = argv.includes('--smoke');
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) usage(`--${name} needs a value`);
    return v;
  };
  const num = (name: string, full: number, short: number): number => {
    const v = value(name);
    if (v === undefined) return smoke ? short : full;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usage(`--${name}: expected a non-negative number, got '${v}'`);
    return n;
  };
  const known = new Set(['--smoke', '--tcplog', '--keep']);
  const withValue = ['rounds', 'only', 'subjects', 'seconds', 'warmup', 'idle', 'slow-seconds', 'rss-cap', 'wrk-conns', 'wrk-threads', 'amqp-size', 'amqp-window', 'check-mib', 'json'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (known.has(a)) continue;
    if (a.startsWith('--') && withValue.includes(a.slice(2))) {
      i++;
      continue;
    }
    usage(`unknown argument '${a}'`);
  }
  const list = (name: string, all: string[]): string[] => {
    const v = value(name);
    if (v === undefined) return all;
    const items = v.split(',').map((x) => x.trim()).filter(Boolean);
    for (const x of items) if (!all.includes(x)) usage(`--${name}: unknown '${x}' (known: ${all.join(', ')})`);
    return items;
  };
  const opts: Options = {
    rounds: Math.max(1, Math.round(num('rounds', 3, 1))),
    smoke,
    seconds: Math.max(1, Math.round(num('seconds', 10, 1))),
    warmup: Math.round(num('warmup', 1, 0)),
    idleConns: Math.max(1, Math.round(num('idle', 5000, 1000))),
    slowSeconds: num('slow-seconds', 10, 2),
    rssCapMiB: num('rss-cap', 1024, 512),
    wrkConns: Math.max(1, Math.round(num('wrk-conns', 50, 50))),
    wrkThreads: Math.max(1, Math.round(num('wrk-threads', 1, 1))),
    amqpSize: Math.round(num('amqp-size', 1024, 1024)),
    amqpWindow: Math.max(1, Math.round(num('amqp-window', 100, 100))),
    checkMiB: Math.max(1, Math.round(num('check-mib', 64, 64))),
  };
  if (opts.wrkConns < opts.wrkThreads) usage('--wrk-conns must be at least --wrk-threads');
  return {
    opts,
    only: list('only', [...WORKLOADS.map((w) => w.id), 'checks']),
    subjects: list('subjects', SUBJECTS.map((s) => s.id)),
    tcplog: argv.includes('--tcplog'),
    json: value('json') ?? null,
    keep: argv.includes('--keep'),
  };
}

/** Programs the chosen workloads and subjects need. */
function preflight(only: string[], subjects: string[]): void {
  const need: [string, string][] = [];
  if (only.includes('bulk')) need.push(['/usr/bin/iperf3', 'iperf3']);
  if (only.includes('connrate') || only.includes('latency')) need.push(['/usr/bin/wrk', 'wrk'], ['/usr/sbin/nginx', 'nginx-light']);
  if (subjects.some((s) => s.startsWith('haproxy'))) need.push(['/usr/sbin/haproxy', 'haproxy']);
  if (subjects.some((s) => s.startsWith('warren'))) need.push([join(ROOT, 'dist/src/cli.js'), 'npm run build']);
  const missing = need.filter(([f]) => !existsSync(f));
  if (missing.length) {
    usage(`missing ${missing.map(([f, p]) => `${f} (${p})`).join(', ')}: run 'bash test/bench/perf-deps.sh' (as root) and 'npm run build'`);
  }
}

async function main(): Promise<number> {
  const { opts, only, subjects: subjectIds, tcplog, json, keep } = parseArgs(process.argv.slice(2));
  preflight(only, subjectIds);
  const subjects = subjectIds.map(subjectById);
  const dir = mkdtempSync(join(tmpdir(), 'warren-perf-'));

  // File descriptors: the idle workload holds its clients and (backend) their peers here, and the
  // proxy holds both sides. Children inherit our limit; prlimit raises theirs as far as allowed.
  const limits = raiseOwnNofile(WANT_NOFILE);
  const nofile = Number.isFinite(limits.soft) ? Math.min(WANT_NOFILE, limits.soft) : 20_000;
  if (only.includes('idle') && 2 * opts.idleConns + 1000 > nofile) {
    const n = Math.max(100, Math.floor((nofile - 1000) / 2));
    log(`RLIMIT_NOFILE is ${nofile} (hard ${limits.hard}): ${opts.idleConns} idle connections do not fit, using ${n}`);
    opts.idleConns = n;
  }

  let cluster: ClusterInfo | null = null;
  let clusterOwned = false;
  let rabbitTarget: RabbitTarget | null = null;
  const env: Env = {
    opts,
    // HAProxy wants 2 fds per connection and a few more: maxconn must fit in RLIMIT_NOFILE.
    ctx: { dir, tcplog, maxconn: Math.min(Math.max(10_000, opts.idleConns + 1000), Math.floor((nofile - 200) / 2)), nofile, root: ROOT },
    async rabbit() {
      if (rabbitTarget) return rabbitTarget;
      if (process.env[STATE_ENV]) {
        log(`AMQP: the RabbitMQ cluster of ${STATE_ENV}, its first node`);
        cluster = loadCluster();
      } else {
        log('AMQP: starting a one-node RabbitMQ (ports 5973/15973/25973, epmd 4401)');
        clusterOwned = true;
        cluster = await startCluster({
          size: 1,
          basePort: 5973,
          baseMgmtPort: 15973,
          baseDistPort: 25973,
          epmdPort: 4401,
          namePrefix: 'pf',
          proxyProtocolNode: false,
          log: (m) => log(`rabbit: ${m}`),
          onInfo: (info) => (cluster = info), // so that an interrupted start can still be stopped
        });
      }
      const n = cluster!.nodes[0]!;
      rabbitTarget = { host: n.host, port: n.amqpPort, user: cluster!.user, password: cluster!.password };
      return rabbitTarget;
    },
  };
  const cleanup = async (): Promise<void> => {
    killAll();
    if (cluster && clusterOwned) {
      const c = cluster;
      cluster = null;
      log('stopping the RabbitMQ node');
      await stopCluster(c).catch((err: unknown) => log(`stopping RabbitMQ: ${(err as Error).message}`));
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
    else log(`scratch directory kept: ${dir}`);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const out = (text: string): void => void process.stdout.write(`${text}\n\n`);
  out(
    [
      `## warren performance suite${opts.smoke ? ' (smoke)' : ''}`,
      '',
      `${new Date().toISOString()} · ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}) · Linux ${release()} · Node ${process.version} · ` +
        `${opts.rounds} round(s), subjects interleaved in the order of the tables · every subject on 127.0.0.1, started fresh for each measurement · ` +
        `option tcplog ${tcplog ? 'on' : 'off'} (HAProxy and warren alike) · maxconn and backlog ${env.ctx.maxconn}, RLIMIT_NOFILE ${nofile}`,
      ...(opts.smoke
        ? ['', '_Smoke run: one short round to show that every subject and workload works and the behaviour checks pass. Its figures are not measurements._']
        : []),
    ].join('\n'),
  );

  const failures: string[] = [];
  const results: WorkloadResult[] = [];
  let checks: ChecksResult | null = null;
  try {
    if (only.includes('checks')) {
      log('behaviour checks');
      checks = await runChecks(subjects, env);
      out(`### Behaviour checks\n\n${checksTable(checks, subjects)}`);
      failures.push(...unexpectedFailures(checks, subjects).map((f) => `check ${f}`));
    }
    for (const w of WORKLOADS) {
      if (!only.includes(w.id)) continue;
      const r = await runWorkload(w, subjects, env);
      results.push(r);
      out(workloadTable(r, subjects, opts));
      for (const s of subjects) {
        if (s.knownBroken) continue;
        for (const e of r.errors.get(s.id) ?? []) failures.push(`${w.id} ${s.id}: ${e}`);
      }
    }
    if (results.length > 1) out(`### Summary (medians)\n\n${summaryTable(results, subjects)}`);
    const targets = subjectIds.includes('warren') && subjectIds.includes('haproxy1') ? targetsTable(results) : null;
    if (targets) out(`### Targets of issue 6 (warren vs HAProxy nbthread 1, this run)\n\n${targets}`);
    if (json) {
      const raw = {
        options: opts,
        tcplog,
        subjects: subjects.map((s) => ({ id: s.id, label: s.label })),
        workloads: results.map((r) => ({
          id: r.workload.id,
          values: Object.fromEntries([...r.values].map(([s, m]) => [s, Object.fromEntries(m)])),
          errors: Object.fromEntries(r.errors),
          notes: Object.fromEntries([...r.notes].map(([s, n]) => [s, [...n]])),
        })),
        checks: checks ? Object.fromEntries([...checks.outcomes].map(([s, m]) => [s, Object.fromEntries(m)])) : null,
      };
      writeFileSync(json, JSON.stringify(raw, null, 2));
    }
  } finally {
    await cleanup();
  }
  if (failures.length) {
    out(`### Failures\n\n${failures.map((f) => `- ${f}`).join('\n')}`);
    return 1;
  }
  return 0;
}

process.on('exit', killAll);
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    killAll();
    console.error(err);
    process.exit(1);
  },
);
