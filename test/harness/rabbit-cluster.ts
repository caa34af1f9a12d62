// Test harness: the RabbitMQ cluster of src/lib/rabbit-cluster.ts (shared with `warren local`),
// re-exported with everything the tests and benches import, plus loadCluster(): the cluster that
// run-tests.sh started once for the whole run, found through env WARREN_RABBIT_STATE=FILE
// (written by `cluster-cli.ts start FILE`).

import { readCluster, type ClusterInfo } from '../../src/lib/rabbit-cluster.js';

export * from '../../src/lib/rabbit-cluster.js';

export const STATE_ENV = 'WARREN_RABBIT_STATE';

/** The cluster started by run-tests.sh (env WARREN_RABBIT_STATE); throws a clear error without it. */
export function loadCluster(): ClusterInfo {
  const file = process.env[STATE_ENV];
  if (!file) {
    throw new Error(
      `${STATE_ENV} is not set: these tests need the RabbitMQ cluster started by test/harness/run-tests.sh ` +
        `(or: node dist/test/harness/cluster-cli.js start /tmp/rabbit.json && ${STATE_ENV}=/tmp/rabbit.json node --test ...)`,
    );
  }
  return readCluster(file);
}
