// Reading a YAML config file into a validated config, or a ConfigError that lists every problem
// as `FILE:LINE: path.in.document: what was expected`. Nothing is started from a config that
// has a problem; the caller (start-up or reload) only ever sees a whole valid config.

import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { escapeChars } from './escape.js';
import { knownKeysAt, proxyFileSchema, resolve, type Path, type Problem } from './proxy-schema.js';
import type { ProxyConfig } from './types.js';

export interface ConfigIssue {
  file: string;
  line: number | null;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line === null ? i.file : `${i.file}:${i.line}`;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

/**
 * `listen.rabbitmq_cluster.server[1]`. A key is the document's text, and may hold a control
 * character (a name the loader refuses, say): written as \uXXXX, so that an error message cannot
 * carry a newline or a terminal escape sequence.
 */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out ? '.' : '') + escapeChars(String(seg), /\p{Cc}/gu);
  }
  return out;
}

// js-yaml gives no positions for the values it returns, but its `listener` reports every node it
// opens and closes. Rebuilding that tree (mapping children alternate key, value) lets us map a
// path in the loaded document back to a line.
interface NodePos {
  line: number;
  kind: string | null;
  value: unknown;
  children: NodePos[];
}

export interface ParsedYaml {
  data: unknown;
  lineOf(path: Path): number | null;
}

/**
 * Values a document may hold once its aliases are expanded. js-yaml shares an anchored node
 * between its aliases, so a few lines of aliases of aliases ("billion laughs") stand for 10^8
 * values, and an alias inside its own anchor for a cycle; the validation and its messages walk
 * the values, and would hang, run out of memory or throw. A real config has a few hundred.
 */
const MAX_EXPANDED_VALUES = 100_000;

/** True when `data`, every alias expanded, has at most `limit` values (iterative: any depth). */
function withinExpandedSize(data: unknown, limit: number): boolean {
  const stack: unknown[] = [data];
  let count = 0;
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > limit) return false;
    if (v !== null && typeof v === 'object') for (const child of Object.values(v)) stack.push(child); // no spread: a long list would overflow the call
  }
  return true;
}

export function parseYaml(text: string, file: string): ParsedYaml {
  const root: NodePos = { line: 1, kind: null, value: null, children: [] };
  const stack: NodePos[] = [root];
  let data: unknown;
  try {
    data = yaml.load(text, {
      filename: file,
      listener(event, state) {
        if (event === 'open') {
          stack.push({ line: state.line + 1, kind: null, value: null, children: [] });
        } else {
          const node = stack.pop()!;
          node.kind = state.kind;
          node.value = state.result;
          stack[stack.length - 1]!.children.push(node);
        }
      },
    });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      throw new ConfigError([{ file, line: err.mark ? err.mark.line + 1 : null, path: '', message: `YAML syntax: ${err.reason}` }]);
    }
    throw err;
  }
  if (!withinExpandedSize(data, MAX_EXPANDED_VALUES)) {
    throw new ConfigError([
      {
        file,
        line: null,
        path: '',
        message: `YAML: the document expands to more than ${MAX_EXPANDED_VALUES} values: an alias (*name) inside its own anchor (&name), or aliases of aliases repeating a node too often`,
      },
    ]);
  }
  const doc = root.children[root.children.length - 1] ?? root;
  return {
    data,
    lineOf(path) {
      let node = doc;
      for (const seg of path) {
        let next: NodePos | undefined;
        if (node.kind === 'mapping') {
          for (let i = 0; i + 1 < node.children.length; i += 2) {
            if (scalarText(node.children[i]!.value) === String(seg)) {
              // A key's own line is where an operator looks for it; its value may start below.
              next = node.children[i + 1]!;
              if (next.kind === 'mapping' || next.kind === 'sequence') next = { ...next, line: node.children[i]!.line };
              break;
            }
          }
        } else if (node.kind === 'sequence' && typeof seg === 'number') {
          next = node.children[seg];
        }
        if (!next) break;
        node = next;
      }
      return node === root ? null : node.line;
    },
  };
}

/**
 * String() of a YAML scalar; null for a mapping or a list, which are never converted: String() of
 * a mapping calls its `toString` / `valueOf` keys, and throws a TypeError when the document has
 * such a key (`mode: {toString: 1}`).
 */
function scalarText(v: unknown): string | null {
  return v !== null && typeof v === 'object' ? null : String(v);
}

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v;
}

function zodProblems(error: z.ZodError, data: unknown): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(path);
      for (const key of issue.keys) {
        problems.push({ path: [...path, key], message: `unknown keyword '${key}'${didYouMean(key, known)}` });
      }
    } else if (issue.code === 'invalid_value') {
      const got = scalarText(valueAt(data, path));
      const values = issue.values.map(String);
      const shown = got === null ? (Array.isArray(valueAt(data, path)) ? 'a list' : 'a mapping') : `'${got}'${didYouMean(got, values)}`;
      problems.push({ path, message: `expected one of ${values.join(', ')}, got ${shown}` });
    } else if (issue.code === 'invalid_type') {
      const got = valueAt(data, path);
      problems.push({ path, message: `expected ${issue.expected}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}` });
    } else if (issue.code === 'invalid_union' && path.length > 0) {
      problems.push({ path, message: 'expected a string or a list of strings' });
    } else {
      problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

/** A parsed config document whose top level is a mapping, and how to turn its problems into
 *  located issues. Shared by the proxy and vrrp loaders. */
export interface ConfigDocument {
  data: object;
  toIssues(problems: { path: Path; message: string }[]): ConfigIssue[];
}

export function openConfigDocument(text: string, file: string, sections: string): ConfigDocument {
  const doc = parseYaml(text, file);
  if (doc.data === null || doc.data === undefined || typeof doc.data !== 'object' || Array.isArray(doc.data)) {
    throw new ConfigError([{ file, line: 1, path: '', message: `expected a mapping with ${sections} sections` }]);
  }
  const toIssues = (problems: { path: Path; message: string }[]): ConfigIssue[] =>
    problems
      .map((p) => ({ file, line: doc.lineOf(p.path), path: formatPath(p.path), message: p.message }))
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  const proto = protoKeys(doc.data);
  if (proto.length) {
    throw new ConfigError(toIssues(proto.map((path) => ({ path, message: "'__proto__' cannot be a name or a keyword: it names the prototype of a JavaScript object" }))));
  }
  return { data: doc.data, toIssues };
}

/**
 * The paths of the `__proto__` keys in a loaded document. js-yaml keeps one as a plain key, but
 * zod's records (the listen/frontend/backend sections, vrrp_instance, ...) assign it and lose it:
 * a section of that name vanished without a word. (Iterative, with parent links: any depth.)
 */
function protoKeys(data: unknown): Path[] {
  interface Item {
    value: unknown;
    parent: Item | null;
    key: string | number;
  }
  const pathOf = (item: Item): Path => {
    const path: Path = [];
    for (let i: Item | null = item; i?.parent; i = i.parent) path.unshift(i.key);
    return path;
  };
  const found: Path[] = [];
  const stack: Item[] = [{ value: data, parent: null, key: '' }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const v = item.value;
    if (v === null || typeof v !== 'object') continue;
    if (!Array.isArray(v) && Object.hasOwn(v, '__proto__')) found.push([...pathOf(item), '__proto__']);
    for (const [key, child] of Object.entries(v)) stack.push({ value: child, parent: item, key: Array.isArray(v) ? Number(key) : key });
  }
  return found;
}

/** A config file's text, or a ConfigError naming the file. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: null, path: '', message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }]);
  }
}

export function loadProxyConfigText(text: string, file: string): ProxyConfig {
  const doc = openConfigDocument(text, file, 'global, defaults, listen, frontend, backend');
  const { toIssues } = doc;
  const parsed = proxyFileSchema.safeParse(doc.data);
  if (!parsed.success) throw new ConfigError(toIssues(zodProblems(parsed.error, doc.data)));
  const { config, problems } = resolve(parsed.data, file);
  if (!config) throw new ConfigError(toIssues(problems));
  return config;
}

export function loadProxyConfig(file: string): ProxyConfig {
  return loadProxyConfigText(readConfigText(file), file);
}
