// Property-based fuzzing of `warren import` (src/config/import/haproxy-cfg.ts,
// keepalived-conf.ts), issue 7: mutations of the native fixtures (lines dropped, duplicated or
// swapped, tokens swapped or replaced by random ones, unbalanced braces and quotes) and random
// text. The importers report problems as messages, so they must never throw; their YAML must be
// YAML; and when an import reports no error, the warren loader accepts what it wrote.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import fc from 'fast-check';
import { importHaproxyCfg } from '../../src/config/import/haproxy-cfg.js';
import { importKeepalivedConf } from '../../src/config/import/keepalived-conf.js';
import type { ImportResult } from '../../src/config/import/haproxy-cfg.js';
import { ConfigError, loadProxyConfigText } from '../../src/config/load.js';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { fuzz, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

// Compiled to dist/test/unit/: the fixtures stay in the source tree.
const FIXTURES = new URL('../../../test/fixtures/', import.meta.url);
const fixtures = (dir: string): Map<string, string> =>
  new Map(readdirSync(new URL(dir, FIXTURES)).map((name) => [name, readFileSync(new URL(`${dir}/${name}`, FIXTURES), 'utf8')]));

const BUDGET: FuzzBudget = { runs: 1000, timeMs: 2500 };
const TIMEOUT = { timeout: testTimeout(BUDGET.timeMs) };

const IMPORTERS = [
  {
    name: 'haproxy.cfg',
    run: importHaproxyCfg,
    load: loadProxyConfigText,
    fixtures: fixtures('haproxy'),
    tokens: ['frontend', 'backend', 'listen', 'defaults', 'global', 'server', 'bind', 'mode', 'balance', 'option', 'timeout', 'use_backend', 'default_backend', 'acl', 'if', 'unless', '!', '{', '}', 'stats', 'check', 'inter', 'weight', 'backup', 'maxconn', 'http', 'tcp', '*:5672', '0.0.0.0:0', '[::]:80', '10s', '-1', '"', "'", '\\', '#'],
  },
  {
    name: 'keepalived.conf',
    run: importKeepalivedConf,
    load: loadVrrpConfigText,
    fixtures: fixtures('keepalived'),
    tokens: ['vrrp_instance', 'vrrp_script', 'global_defs', 'vrrp_sync_group', 'virtual_server', 'state', 'interface', 'virtual_router_id', 'priority', 'advert_int', 'authentication', 'auth_type', 'auth_pass', 'virtual_ipaddress', 'track_script', 'unicast_peer', 'notify', 'weight', 'include', '{', '}', '{}', '"', '!', '#', 'MASTER', 'BACKUP', '0', '256', '10.0.0.1/33', 'dev', 'label'],
  },
];

/**
 * The importer's contract: no exception, YAML out (that the loader reads as a config or refuses
 * with a ConfigError), messages with lines. And an import without errors loads: both importers
 * run the loader on their output and report its problems at the native lines
 * (haproxy-cfg.ts reportLoaderProblems()), so `warren import` refuses rather than print YAML
 * that `warren proxy` or `warren vrrp` would refuse. Names the loaders refuse (HAProxy's rule for
 * proxy and server names, blanks in vrrp names) are such problems: the import reports them.
 */
function checkImport(imp: (typeof IMPORTERS)[number], text: string): void {
  let r: ImportResult;
  try {
    r = imp.run(text, 'fuzz.in');
  } catch (err) {
    throw new Error(`the ${imp.name} importer threw: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
  }
  assert.equal(typeof r.yaml, 'string');
  yaml.load(r.yaml); // throws on output that is not YAML
  for (const m of [...r.errors, ...r.warnings]) {
    assert.ok(Number.isInteger(m.line) && m.line >= 1, `message line ${m.line}`);
    assert.ok(m.message.length > 0);
  }
  try {
    imp.load(r.yaml, 'fuzz.yaml');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`the loader threw this on imported YAML, not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
    if (r.errors.length === 0) {
      assert.fail(`the import reported no error, but its YAML does not load:\n${err.message}\n--- yaml ---\n${r.yaml}`);
    }
  }
}

type Edit =
  | { kind: 'drop' | 'dup'; at: number }
  | { kind: 'swapLines'; at: number; with: number }
  | { kind: 'swapTokens'; at: number; with: number }
  | { kind: 'token'; at: number; token: string };

const edit = (tokens: string[]): fc.Arbitrary<Edit> =>
  fc.oneof(
    fc.record({ kind: fc.constantFrom('drop' as const, 'dup' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('swapLines' as const), at: fc.nat(), with: fc.nat() }),
    fc.record({ kind: fc.constant('swapTokens' as const), at: fc.nat(), with: fc.nat() }),
    fc.record({
      kind: fc.constant('token' as const),
      at: fc.nat(),
      token: fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 10 }), fc.string({ maxLength: 10, unit: 'binary' }), fc.constantFrom('\t', '\r', '\u0000', '\\x', '"unterminated', 'x'.repeat(5000))),
    }),
  );

/** Applies the edits to the text's lines and tokens (blank-separated words). */
function applyEdits(text: string, edits: Edit[]): string {
  const lines = text.split('\n');
  for (const e of edits) {
    if (lines.length === 0) lines.push('');
    const i = e.at % lines.length;
    if (e.kind === 'drop') lines.splice(i, 1);
    else if (e.kind === 'dup') lines.splice(i, 0, lines[i]!);
    else if (e.kind === 'swapLines') {
      const j = e.with % lines.length;
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    } else {
      // Words of the whole text: split with a capture keeps the blanks, so rejoining is exact.
      const parts = lines.map((l) => l.split(/(\s+)/));
      const words = parts.flatMap((ps, n) => ps.map((w, p) => ({ n, p, w })).filter((t) => t.p % 2 === 0 && t.w !== ''));
      if (words.length === 0) continue;
      const a = words[e.at % words.length]!;
      if (e.kind === 'swapTokens') {
        const b = words[e.with % words.length]!;
        parts[a.n]![a.p] = b.w;
        parts[b.n]![b.p] = a.w;
      } else if (e.kind === 'token') parts[a.n]![a.p] = e.token;
      parts.forEach((ps, n) => (lines[n] = ps.join('')));
    }
  }
  return lines.join('\n');
}

for (const imp of IMPORTERS) {
  const names = [...imp.fixtures.keys()];

  test(`${imp.name} import: mutated fixtures → messages, never an exception`, TIMEOUT, () => {
    fuzz(
      `${imp.name} import: mutated fixtures`,
      fc.property(fc.constantFrom(...names), fc.array(edit(imp.tokens), { minLength: 1, maxLength: 8 }), (name, edits) => {
        checkImport(imp, applyEdits(imp.fixtures.get(name)!, edits));
      }),
      BUDGET,
    );
  });

  test(`${imp.name} import: random lines of its keywords and random text → messages, never an exception`, TIMEOUT, () => {
    const line = fc.array(fc.oneof(fc.constantFrom(...imp.tokens), fc.string({ maxLength: 8 })), { maxLength: 6 }).map((ws) => ws.join(' '));
    fuzz(
      `${imp.name} import: random text`,
      fc.property(fc.oneof(fc.array(line, { maxLength: 30 }).map((ls) => ls.join('\n')), fc.string({ maxLength: 400 }), fc.string({ maxLength: 400, unit: 'binary' })), (text) => {
        checkImport(imp, text);
      }),
      BUDGET,
    );
  });
}

test('keepalived.conf import: unbalanced and deeply nested braces → messages, never an exception', () => {
  const imp = IMPORTERS[1]!;
  for (const text of ['{'.repeat(50_000), '}'.repeat(50_000), `vrrp_instance VI_1 ${'{ '.repeat(20_000)}`, `vrrp_instance VI_1 {\n${'  x {\n'.repeat(5_000)}`, 'global_defs {\n}\n}\n}\nvrrp_instance {']) {
    checkImport(imp, text);
  }
});
