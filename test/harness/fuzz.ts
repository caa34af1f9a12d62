// Shared settings of the property-based fuzz tests (test/**/fuzz-*.test.ts, fast-check): how many
// runs and how much time each property gets, and how a failure is reproduced.
//
// CI (`.ci/run`) must stay bounded, so each property stops after `timeMs` (counted as a pass if it
// found nothing, as long as it ran at least MIN_RUNS cases) or after `runs` cases, whichever comes
// first. Environment, for local work:
//   WARREN_FUZZ_SEED=N   replay: the seed a failure printed; the time limit is lifted, so the same
//                        cases run in the same order however slow the machine is
//   WARREN_FUZZ_PATH=P   with the seed, jump straight to the shrunk counterexample it printed
//   WARREN_FUZZ_RUNS=N   longer (or shorter) runs: N cases per property, no time limit
//
// A property that hangs is not interrupted by fast-check (it cannot stop a running predicate): the
// async ones bound every I/O themselves, and each fuzz test has a node:test `timeout`
// (testTimeout()) so that a hang fails the test instead of the CI job.

import fc from 'fast-check';

export interface FuzzBudget {
  /** Cases per property, at most. */
  runs: number;
  /** Wall-clock budget of the property, ms (lifted by WARREN_FUZZ_SEED / WARREN_FUZZ_RUNS). */
  timeMs: number;
}

/** Fewer cases than this before the time limit means the machine could not fuzz at all: fail. */
const MIN_RUNS = 10;

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

const fixedSeed = envInt('WARREN_FUZZ_SEED');
const fixedRuns = envInt('WARREN_FUZZ_RUNS');
const replayPath = process.env['WARREN_FUZZ_PATH'] || undefined;
/** One seed per test process, printed with every result, unless one was given. */
const seed = fixedSeed ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;

/** The node:test timeout of a test running properties whose budgets add up to `totalMs`. */
export function testTimeout(totalMs: number): number {
  // Generous: a loaded CI machine runs the budget plus setup and shrinking of a failure.
  return fixedSeed !== undefined || fixedRuns !== undefined ? 30 * 60_000 : totalMs * 3 + 60_000;
}

function params<Ts>(budget: FuzzBudget): fc.Parameters<Ts> {
  const limited = fixedSeed === undefined && fixedRuns === undefined;
  return {
    seed,
    numRuns: fixedRuns ?? budget.runs,
    // The failing case's error (message and stack) in the report, not only the inputs.
    includeErrorInReport: true,
    ...(replayPath !== undefined ? { path: replayPath } : {}),
    // The plugin is typed Plugin<unknown> but works on any property's values.
    plugins: limited ? [fc.interruptAfterTimeLimit(budget.timeMs) as fc.Plugin<Ts>] : [],
  };
}

function report<Ts>(name: string, details: fc.RunDetails<Ts>, startedAt: number): void {
  const ms = Date.now() - startedAt;
  if (details.failed) {
    const how = `WARREN_FUZZ_SEED=${details.seed}${details.counterexamplePath ? ` WARREN_FUZZ_PATH=${details.counterexamplePath}` : ''}`;
    throw new Error(`fuzz property '${name}' failed (reproduce: ${how} node --test <this file>)\n${fc.defaultReportMessage(details) ?? ''}`, {
      cause: details.errorInstance,
    });
  }
  // One line per property: the CI log shows how much each one actually ran.
  console.log(`fuzz '${name}': ${details.numRuns} runs in ${ms} ms${details.interrupted ? ' (time limit)' : ''}, seed ${details.seed}`);
  const wanted = Math.min(MIN_RUNS, fixedRuns ?? Infinity);
  if (details.numRuns < wanted) throw new Error(`fuzz property '${name}' ran only ${details.numRuns} case(s) within its ${ms} ms (seed ${details.seed})`);
}

/** Runs a synchronous property within its budget; throws a reproducible report on failure. */
export function fuzz<Ts>(name: string, property: fc.IProperty<Ts>, budget: FuzzBudget): void {
  const startedAt = Date.now();
  report(name, fc.check(property, params<Ts>(budget)), startedAt);
}

/** Same for an asynchronous property (real sockets). */
export async function fuzzAsync<Ts>(name: string, property: fc.IAsyncProperty<Ts>, budget: FuzzBudget): Promise<void> {
  const startedAt = Date.now();
  report(name, await fc.check(property, params<Ts>(budget)), startedAt);
}
