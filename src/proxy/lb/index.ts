// Balance algorithms: one pure module per HAProxy `balance` keyword, behind one interface.

import type { BalanceAlgorithm, HashType } from '../../config/types.js';
import { FirstBalancer } from './first.js';
import { LeastConnBalancer } from './leastconn.js';
import { RoundRobinBalancer } from './roundrobin.js';
import { createSourceBalancer } from './source.js';
import { StaticRoundRobinBalancer } from './static-rr.js';
import type { Balancer, BalancerOptions, LbServer } from './types.js';

export * from './types.js';

/** A balancer over `servers` (in declaration order). `hashType` only matters for `source`.
 *  The balancer reads the servers' fields; call update() after any usable/weight change and
 *  loadChanged() after any sessions/queued change. */
export function createBalancer(
  algo: BalanceAlgorithm,
  hashType: HashType,
  servers: readonly LbServer[],
  opts: BalancerOptions,
): Balancer {
  switch (algo) {
    case 'roundrobin':
      return new RoundRobinBalancer(servers, opts);
    case 'static-rr':
      return new StaticRoundRobinBalancer(servers, opts);
    case 'leastconn':
      return new LeastConnBalancer(servers, opts);
    case 'first':
      return new FirstBalancer(servers, opts);
    case 'source':
      return createSourceBalancer(servers, hashType, opts);
  }
}
