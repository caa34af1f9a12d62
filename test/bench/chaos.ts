// The chaos run of issue 7 (test/harness/chaos.ts): every fault several times, then the overlapping
// ones, with publishers (confirms) and consumers (manual acks) of a quorum queue through the VIP.
// Prints the per-fault outage table and the totals (markdown) and writes them as JSON; exits 1 when
// a confirmed message was lost (or the run broke), 0 otherwise (missed timing targets are reported,
// not fatal: they depend on the machine).
//
//   npm run chaos
//   node dist/test/bench/chaos.js [--reps 3] [--overlap-reps 2 | --no-overlaps] [--heartbeat 1] [--confirm-timeout 1000] [--hold-ms 3000]
//        [--json FILE] [--only SUBSTRING]... [--trace | --trace-slow] [--capture FILE.pcap] [--direct 3 | --no-direct] [--base-port 5883] [--epmd-port 4393]
//
// Self-contained: needs root (network namespaces) and the Debian packages of
// test/harness/deps.sh (`npm run chaos` runs it first). Starts its own 3-node RabbitMQ cluster
// (name prefix wchaos, AMQP ports 5883.., epmd 4393: clear of the test harness' 5673.. and 4371)
// and stops it afterwards, unless WARREN_RABBIT_STATE names a running harness cluster, which it
// uses and leaves running (and clustered).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chaosMarkdown, runChaos } from '../harness/chaos.js';
import { benchCluster, flag, log, numberOption } from './bench-util.js';

function stringOptions(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === `--${name}` && process.argv[i + 1] !== undefined) out.push(process.argv[i + 1]!);
  });
  return out;
}

/** Fail at once, with the fix, rather than half-way through a lab setup. */
function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error('chaos: needs root (network namespaces, nft, ip addr in the lab)');
  for (const bin of ['ip', 'nft', 'socat', '/usr/lib/rabbitmq/bin/rabbitmq-server']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`chaos: ${bin} not found: run test/harness/deps.sh (as root) to install the Debian packages`);
    }
  }
}

async function main(): Promise<void> {
  preflight();
  const reps = numberOption('reps', 3);
  const jsonFile = stringOptions('json')[0] ?? path.join(os.tmpdir(), `warren-chaos-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const { cluster, stop } = await benchCluster({
    basePort: numberOption('base-port', 5883),
    baseMgmtPort: numberOption('base-mgmt-port', 15883),
    baseDistPort: numberOption('base-dist-port', 25883),
    epmdPort: numberOption('epmd-port', 4393),
    namePrefix: 'wchaos',
  });
  // Ctrl-C: the brokers are stopped (the lab's namespaces and daemons are removed by the next
  // lab of the same prefix, whose owner check finds this process gone).
  const onSignal = (): void => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let report;
  try {
    report = await runChaos({
      cluster,
      reps,
      overlapReps: flag('no-overlaps') ? 0 : numberOption('overlap-reps', 2),
      heartbeatS: numberOption('heartbeat', 1),
      holdMs: numberOption('hold-ms', 3000),
      confirmTimeoutMs: numberOption('confirm-timeout', 1000),
      only: stringOptions('only'),
      directPublishers: flag('no-direct') ? 0 : numberOption('direct', 3),
      trace: flag('trace') ? true : flag('trace-slow') ? 'slow' : false,
      ...(stringOptions('capture')[0] ? { captureFile: path.resolve(stringOptions('capture')[0]!) } : {}),
      log,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
  fs.writeFileSync(jsonFile, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\n${chaosMarkdown(report)}\n\nJSON: ${jsonFile}\n`);
  if (report.totals.lost > 0) {
    process.stderr.write(`chaos: ${report.totals.lost} confirmed message(s) LOST, e.g. ${report.totals.lostIds.slice(0, 10).join(', ')}\n`);
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
