// Property-based fuzzing of the YAML config loaders (src/config/load.ts, vrrp-load.ts), issue 7:
// mutations of the shipped configs (values changed to other types, keys deleted or renamed,
// deep nesting, huge strings, alias bombs) and random text. The loader either returns a config
// or throws its ConfigError naming the file (and, for a located problem, the path in it); never
// a TypeError/RangeError, never a hang.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import fc from 'fast-check';
import { ConfigError, loadProxyConfigText } from '../../src/config/load.js';
import { loadVrrpConfigText } from '../../src/config/vrrp-load.js';
import { fuzz, testTimeout, type FuzzBudget } from '../harness/fuzz.js';

// Compiled to dist/test/unit/: the shipped configs stay in the source tree.
const CONFIG = new URL('../../../config/', import.meta.url);
const shipped = (name: string): string => readFileSync(new URL(name, CONFIG), 'utf8');

const BUDGET: FuzzBudget = { runs: 1500, timeMs: 2500 };
const TIMEOUT = { timeout: testTimeout(BUDGET.timeMs) };
const FILE = 'fuzz/cfg.yaml';

type Loader = (text: string, file: string) => unknown;
const LOADERS: { name: string; load: Loader; bases: string[] }[] = [
  { name: 'proxy', load: loadProxyConfigText, bases: ['haproxy.yaml'] },
  { name: 'vrrp', load: loadVrrpConfigText, bases: ['keepalived-a.yaml', 'keepalived-b.yaml'] },
];

/** The loader's contract: a config, or a ConfigError whose every issue names FILE. */
function loadsOrConfigError(load: Loader, text: string): 'ok' | 'error' {
  try {
    load(text, FILE);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`the loader threw this, not a ConfigError: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
    assert.ok(err.issues.length > 0, 'a ConfigError without issues');
    for (const i of err.issues) {
      assert.equal(i.file, FILE);
      assert.equal(typeof i.message, 'string');
      assert.ok(i.message.length > 0, 'an issue without a message');
      assert.ok(i.line === null || (Number.isInteger(i.line) && i.line >= 1), `issue line ${i.line}`);
    }
    assert.ok(err.message.includes(FILE), 'the message names the file');
    return 'error';
  }
}

// ---- values and mutations ---------------------------------------------------------------------

/** Keys that break naive `obj[key]` lookups, and typos of real keywords. */
const nastyKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', ' ', '0', '-1', 'length'),
  fc.string({ maxLength: 12 }),
);

/** Scalars a hand-edited config gets wrong: wrong types, edge numbers, duration-like strings. */
const scalar = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1, 0.5, 1e309, -0, 65535, 65536, 2 ** 31, 2 ** 53, NaN),
  fc.constantFrom('', ' ', '0', '5s', '0s', '-1s', '1.5s', '99999999999999999999d', 'none', 'auto', '1e3ms', '127.0.0.1:0', '[::1]:80', ':', '0.0.0.0:99999', '/'),
  fc.constantFrom('node1 10.0.0.1:5672 check inter', 'x 1.2.3.4:5 weight 999999', 'a b c d e f', 'check rise 0 fall 0', '192.168.1.100/33', 'dev eth0 label'),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: 'binary' }),
);

const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('list'), tie('map')),
  list: fc.array(tie('any'), { maxLength: 4 }),
  map: fc.dictionary(nastyKey, tie('any'), { maxKeys: 4 }),
})).any;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

type Mutation =
  | { kind: 'set'; path: number[]; value: unknown }
  | { kind: 'delete'; path: number[] }
  | { kind: 'rename'; path: number[]; key: string }
  | { kind: 'nest'; path: number[]; depth: number; asList: boolean }
  | { kind: 'huge'; path: number[]; size: number };

/** A path is a list of choices; each picks a child (modulo the number of children) at its level. */
const path = fc.array(fc.nat(), { minLength: 1, maxLength: 6 });
// Nesting: js-yaml refuses documents deeper than 100 levels (a ConfigError); around that limit is
// where it matters. Deeper text is in the alias-bomb test below.
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), path, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), path }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rename' as const), path, key: nastyKey }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nest' as const), path, depth: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 95, max: 110 })), asList: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('huge' as const), path, size: fc.integer({ min: 1000, max: 300_000 }) }) },
);

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return v !== null && typeof v === 'object';
}

/** Applies one mutation at the node the path leads to (the deepest container it can reach). */
function mutate(doc: unknown, m: Mutation): unknown {
  const root = { doc } as Record<string, unknown>;
  let parent: Record<string, unknown> | unknown[] = root;
  let key: string | number = 'doc';
  for (const choice of m.path) {
    const here: unknown = (parent as Record<string | number, unknown>)[key];
    if (!isContainer(here)) break;
    const keys: (string | number)[] = Array.isArray(here) ? here.map((_, i) => i) : Object.keys(here);
    if (keys.length === 0) break;
    parent = here;
    key = keys[choice % keys.length]!;
  }
  const p = parent as Record<string | number, unknown>;
  switch (m.kind) {
    case 'set':
      p[key] = m.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
      break;
    case 'rename':
      if (!Array.isArray(parent) && parent !== root) {
        const v = p[key];
        delete p[key];
        // defineProperty: a '__proto__' key stays a key (as js-yaml loads it), not a prototype.
        Object.defineProperty(p, m.key, { value: v, enumerable: true, writable: true, configurable: true });
      }
      break;
    case 'nest': {
      let v = p[key];
      for (let i = 0; i < m.depth; i++) v = m.asList ? [v] : { k: v };
      p[key] = v;
      break;
    }
    case 'huge':
      p[key] = 'x'.repeat(m.size);
      break;
  }
  return root['doc'];
}

/** The same document, mutated, as YAML text (flow style for deep nesting: one line, any depth). */
function mutatedText(base: string, mutations: Mutation[]): string {
  let doc = yaml.load(base) as Json;
  for (const m of mutations) doc = mutate(doc, m) as Json;
  // JSON is YAML: it writes any depth without js-yaml's dumper recursing, and keeps odd keys.
  const json = JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  return json ?? 'null';
}

/** Text-level damage: line drops and duplicates, stray characters, YAML features (anchors, tags). */
const textEdit = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(':', '- ', '  ', '\t', '{', '[', '"', "'", '&a ', '*a', '!!binary ', '!!js/function ', '? ', '|', '>', '%YAML 1.2', '---', '...', '<<: *a', '\u0000', '\ufeff', '#'), fc.string({ maxLength: 8 })) }),
);

function editText(base: string, edits: { kind: 'drop' | 'dup' | 'insert'; at: number; text?: string }[]): string {
  const lines = base.split('\n');
  for (const e of edits) {
    const i = e.at % lines.length;
    if (e.kind === 'drop') lines.splice(i, 1);
    else if (e.kind === 'dup') lines.splice(i, 0, lines[i]!);
    else {
      const line = lines[i]!;
      const col = e.at % (line.length + 1);
      lines[i] = line.slice(0, col) + e.text! + line.slice(col);
    }
    if (lines.length === 0) lines.push('');
  }
  return lines.join('\n');
}

// ---- properties -------------------------------------------------------------------------------

for (const { name, load, bases } of LOADERS) {
  test(`${name} config: the shipped files load (the mutations start from valid documents)`, () => {
    for (const b of bases) assert.equal(loadsOrConfigError(load, shipped(b)), 'ok');
  });

  test(`${name} config: structural mutations of the shipped files → a config or a ConfigError`, TIMEOUT, () => {
    fuzz(
      `${name} config: structural mutations`,
      fc.property(fc.constantFrom(...bases), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, ms) => {
        loadsOrConfigError(load, mutatedText(shipped(base), ms));
      }),
      BUDGET,
    );
  });

  test(`${name} config: text-level damage of the shipped files → a config or a ConfigError`, TIMEOUT, () => {
    fuzz(
      `${name} config: text damage`,
      fc.property(fc.constantFrom(...bases), fc.array(textEdit, { minLength: 1, maxLength: 6 }), (base, edits) => {
        loadsOrConfigError(load, editText(shipped(base), edits));
      }),
      BUDGET,
    );
  });

  test(`${name} config: random YAML documents and random text → a config or a ConfigError`, TIMEOUT, () => {
    fuzz(
      `${name} config: random documents`,
      fc.property(
        fc.oneof(
          value.map((v) => JSON.stringify(v) ?? 'null'),
          value.map((v) => yaml.dump(v, { skipInvalid: true })),
          fc.string({ maxLength: 300 }),
          fc.string({ maxLength: 300, unit: 'binary' }),
        ),
        (text) => {
          loadsOrConfigError(load, text);
        },
      ),
      BUDGET,
    );
  });
}

test('alias bombs and deep nesting in YAML text: a ConfigError, quickly', () => {
  // Each level refers to the previous one ten times: 10^8 nodes if expanded. js-yaml shares the
  // aliased objects; whoever walks the result must not expand them into a hang.
  const bomb = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= 8; i++) bomb.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  for (const { load } of LOADERS) {
    for (const text of [
      bomb.join('\n'),
      `${bomb.join('\n')}\nlisten:\n  x:\n    bind: 127.0.0.1:1\n    server: *a8\nvrrp_instance:\n  VI_1:\n    virtual_ipaddress: *a8\n`,
      '['.repeat(100_000),
      `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}`,
      `${'- '.repeat(5_000)}x`,
    ]) {
      const started = Date.now();
      assert.equal(loadsOrConfigError(load, text), 'error');
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    }
  }
});
