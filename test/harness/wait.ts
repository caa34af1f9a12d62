// Polling until a condition holds, for tests that watch real processes (no event to await).

import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `pred` every `everyMs` (default 50) until it is true; resolves with the ms it took.
 * Rejects after `timeoutMs`, naming `what` and adding `detail()` (e.g. a log tail) to the error.
 */
export async function waitFor(what: string, pred: () => Promise<boolean> | boolean, timeoutMs = 15_000, detail?: () => string, everyMs = 50): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await pred()) return Date.now() - t0;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `; ${detail()}` : ''}`);
}
