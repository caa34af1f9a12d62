// Failover timings of the two-host lab (test/harness/warren-lab.ts): for each fault of the
// master (lbA), the time from the fault until the client's next connection through the VIP is
// served by lbB, and from the repair until it is served by lbA again (preemption). advert_int
// 0.1 s, the built-in proxy tracker every 0.1 s; the client publishes with confirms every 20 ms
// and reconnects at once. Prints min / median / max per fault as a markdown table.
//
//   npm run bench:failover -- --runs 5
//
// Self-contained: starts the 3-node RabbitMQ cluster of the test harness unless
// WARREN_RABBIT_STATE points at a running one. Needs root (network namespaces).

import { FAULTS, runFault, WarrenLab, type FaultRun } from '../harness/warren-lab.js';
import { benchCluster, log, markdownTable, numberOption, spread } from './bench-util.js';

async function main(): Promise<void> {
  const runs = numberOption('runs', 5);
  const { cluster, stop } = await benchCluster();
  const w = await WarrenLab.create({ brokerPorts: cluster.nodes.map((n) => n.amqpPort), advertInt: numberOption('advert-int', 0.1) });
  const results = new Map<string, FaultRun[]>(FAULTS.map((f) => [f.name, []]));
  try {
    await w.startAll();
    for (let r = 1; r <= runs; r++) {
      for (const fault of FAULTS) {
        const run = await runFault(w, fault);
        results.get(fault.name)!.push(run);
        log(`run ${r}: ${fault.name}: fault ${run.faultMs} ms (${run.connects} connects), repair ${run.repairMs} ms`);
      }
    }
  } finally {
    await w.destroy();
    await stop();
  }
  const rows = FAULTS.map((f) => {
    const rs = results.get(f.name)!;
    return [f.name, spread(rs.map((x) => x.faultMs)), spread(rs.map((x) => x.connects)), spread(rs.map((x) => x.repairMs))];
  });
  process.stdout.write(
    `\nfailover, ${runs} runs, advert_int ${numberOption('advert-int', 0.1)} s (min / median / max)\n\n` +
      markdownTable(['fault of the master (lbA)', 'fault → client served by lbB, ms', 'client connects', 'repair → client served by lbA, ms'], rows) +
      '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`failover: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
