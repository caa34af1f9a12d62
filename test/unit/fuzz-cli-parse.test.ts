// Property-based fuzzing of the runtime API's pure parser (src/proxy/stats/cli-parse.ts), issue 7.
// The same parser behind a real stats socket is fuzzed in test/integration/fuzz-runtime-api.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALWAYS_SHOWN, parseCliTime, parseWeightChange, splitCommands, usageMessage } from '../../src/proxy/stats/cli-parse.js';
import { COMMANDS } from '../../src/proxy/stats/runtime-api.js';
import { fuzz, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

const BUDGET: FuzzBudget = { runs: 3000, timeMs: 1000 };
const TIMEOUT = { timeout: testTimeout(BUDGET.timeMs) };

/** Words of the real commands, and anything else. */
const word = fc.oneof(fc.constantFrom(...new Set(COMMANDS.flatMap((c) => c.words)), 'help', 'quit', 'prompt', ''), fc.string({ maxLength: 12 }), fc.string({ maxLength: 12, unit: 'binary' }));
const anyLine = fc.oneof(fc.array(word, { maxLength: 8 }).map((ws) => ws.join(' ')), fc.string({ maxLength: 200, unit: 'binary' }));

/** HAProxy's CLI escaping: a backslash before the characters the splitter gives a meaning. */
const escapeWord = (w: string): string => w.replace(/[\\; \t]/g, (ch) => `\\${ch}`);

test('splitCommands: any line splits without throwing into commands of non-empty words', TIMEOUT, () => {
  fuzz(
    'cli-parse: split any line',
    fc.property(anyLine, (line) => {
      const cmds = splitCommands(line);
      assert.ok(cmds.length >= 1);
      // One command per unescaped ';' (an escaped one is part of a word).
      assert.equal(cmds.length, line.replace(/\r$/, '').replace(/\\[\s\S]/g, '').split(';').length);
      for (const c of cmds) for (const w of c) assert.ok(w.length > 0);
    }),
    BUDGET,
  );
});

test('splitCommands: escaped words joined by ";" come back as they were', TIMEOUT, () => {
  // A CR is left out of the words: a line's trailing CR is dropped (telnet clients send CRLF).
  const w = fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }).filter((s) => !s.includes('\r'));
  fuzz(
    'cli-parse: escape round trip',
    fc.property(fc.array(fc.array(w, { maxLength: 5 }), { minLength: 1, maxLength: 4 }), (cmds) => {
      const line = cmds.map((c) => c.map(escapeWord).join(' ')).join(';');
      assert.deepEqual(splitCommands(line), cmds);
    }),
    BUDGET,
  );
});

test('usageMessage, parseCliTime, parseWeightChange: total on any input', TIMEOUT, () => {
  fuzz(
    'cli-parse: helpers total',
    fc.property(fc.array(word, { maxLength: 8 }), fc.boolean(), fc.string({ maxLength: 30 }), fc.integer({ min: 0, max: 256 }), (args, isHelp, text, initial) => {
      const msg = usageMessage(COMMANDS, args, isHelp);
      assert.ok(msg.endsWith(ALWAYS_SHOWN));
      const ms = parseCliTime(text);
      assert.ok(ms === null || (Number.isFinite(ms) && ms >= 0 && ms <= 2147483647));
      const wc = parseWeightChange(text, initial, true);
      if ('weight' in wc) assert.ok(Number.isInteger(wc.weight) && wc.weight >= 0 && wc.weight <= 256, `weight ${wc.weight}`);
      else assert.equal(typeof wc.error, 'string');
    }),
    BUDGET,
  );
});
