// The chaos run of issue 7, short version (test/harness/chaos.ts; the full one is `npm run chaos`):
// each fault once, then each overlapping combination once, with 3 publishers (confirms) and 2
// consumers (manual acks) of a quorum queue through the VIP of the two-host lab, in front of the
// shared test cluster (whose brokers it kills and restarts, and leaves running and clustered).
// Asserts what must hold on any machine: no confirmed message lost (every confirmed id consumed
// after the drain), and every fault recovered from, within a generous sanity bound. The outage
// figures are printed, not asserted: on a shared 2-core machine they are noisy. A run in which the
// quorum queue stops confirming for the control publishers that bypass warren as well (a broker
// failure: BrokerStallError) is reported with the brokers' view and run again once, on a new queue.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerStallError, chaosMarkdown, runChaos } from '../harness/chaos.js';
import { loadCluster } from '../harness/rabbit-cluster.js';

const SANITY_MS = 15_000;

test('chaos: faults one at a time, then overlapping; no confirmed message lost', { timeout: 600_000 }, async (t) => {
  const run = () =>
    runChaos({
      cluster: loadCluster(),
      reps: 1,
      overlapReps: 1,
      holdMs: 2500,
      settleMs: 1000,
      // A fault over its target prints its timeline (clients and vrrp daemons) for the CI log.
      trace: 'slow',
      log: (m) => t.diagnostic(m),
    });
  let report;
  try {
    report = await run();
  } catch (err) {
    // The quorum queue itself stopped confirming, for the publishers that bypass warren too: a
    // RabbitMQ failure, which says nothing about warren. Report it, and run once more on a new
    // queue; a second failure of any kind fails the test. (What the first run confirmed is not
    // checked: the stalled queue cannot deliver it.)
    if (!(err instanceof BrokerStallError)) throw err;
    for (const line of err.message.split('\n')) t.diagnostic(`BROKER STALL: ${line}`);
    report = await run();
  }
  for (const line of chaosMarkdown(report).split('\n')) t.diagnostic(line);
  const tot = report.totals;
  assert.ok(tot.confirmed > 1000, `only ${tot.confirmed} messages confirmed`);
  assert.equal(tot.lost, 0, `confirmed but never consumed: ${tot.lostIds.slice(0, 20).join(', ')}`);
  assert.ok(tot.consumedDistinct >= tot.confirmed, 'consumed ⊇ confirmed');
  for (const r of report.runs) {
    assert.ok(r.fault_outage.ms < SANITY_MS, `${r.fault}: outage ${r.fault_outage.ms} ms`);
    assert.ok(r.repair_outage.ms < SANITY_MS, `${r.fault}: outage at the repair ${r.repair_outage.ms} ms`);
  }
});
