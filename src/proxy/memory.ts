// V8 heap policy of the proxy's data-path processes (the single process, or each worker).
// Measured in issue 6 on this repository's bench (iperf3 through the proxy, 5,000 idle
// connections); the figures are in the closing note.
//
// 1. The old generation's floor: the node flag in PROXY_NODE_FLAGS. Every chunk a socket reads
//    is a fresh 64 KiB Buffer; at bulk rates their backing stores make V8 scavenge for "external
//    memory pressure" 20-40 times a second. Once the old generation's limit has been set by a
//    first mark-compact (which startup always causes), with ~10 MB live (the proxy's code, zod,
//    pino) the limit leaves less room than the young generation, so each of those scavenges
//    starts a full mark-compact that frees nothing: ~20 per second, twice the CPU per byte (a
//    40-line node:net pipe shows the same as soon as it has ~8 MB live and one mark-compact).
//    A 64 MiB floor for the limit ends that: 0 mark-compacts in 20 s of iperf3, 1,550 → 730 ms of
//    CPU per GB. The cost: garbage from connection setup is collected later (5,000 idle
//    connections: 8.5 KiB each for the first ~12 s, 3.6 KiB once V8's memory reducer has run).
//    The heap limits are fixed when V8 starts, so this must be on node's command line:
//    /usr/local/bin/warren (install.ts), cli.ts's shebang and `npm start` pass it; the proxy warns
//    at start when it is missing.
// 2. The young generation held at its initial size (holdYoungGeneration): V8 grows it to 16 MiB
//    per semi-space during a burst of connects and keeps it grown, the largest item of the RSS of
//    a proxy holding thousands of idle sessions (10.3 → 7.0 KiB per idle connection). What lives
//    there is short-lived (connect bookkeeping, chunk Buffer objects), so the cost is more,
//    cheaper scavenges. `--max-semi-space-size` only works on the command line; the growth
//    factor is read whenever V8 considers growing, so setting it at run time does the same.

import v8 from 'node:v8';
import type { Logger } from '../lib/log.js';

export const PROXY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

export function holdYoungGeneration(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/** For the process that runs the proxy (`warren proxy`, `warren local`; workers inherit the
 *  flags and call holdYoungGeneration): applies 2. and warns when 1. is missing. */
export function prepareProxyHeap(log: Logger): void {
  holdYoungGeneration();
  const missing = PROXY_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
  if (missing.length > 0) {
    log.warn({ missing }, `node started without ${missing.join(' ')} (the warren command passes it): bulk transfers cost about twice the CPU; see src/proxy/memory.ts`);
  }
}
