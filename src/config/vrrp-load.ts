// Reading the `warren vrrp` YAML (mirrors keepalived.conf) into a validated VrrpConfig, or a
// ConfigError that lists every problem as `FILE:LINE: path.in.document: what was expected`,
// exactly like the proxy config (same parseYaml, same ConfigError).

import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { ConfigError, openConfigDocument, readConfigText } from './load.js';
import { resolveVrrp, show, unsupportedAt, vrrpFileSchema, vrrpKnownKeysAt, VRRP_TOP_KEYS, type Path, type Problem } from './vrrp-schema.js';
import type { VrrpConfig } from './vrrp-types.js';

const PROXY_TOP_KEYS = ['global', 'defaults', 'listen', 'frontend', 'backend'];

const TYPE_NAMES: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
};

function valueAt(data: unknown, path: Path): unknown {
  let v = data;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v;
}

function vrrpZodProblems(error: z.ZodError, data: unknown): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const why = unsupportedAt(path, key);
        problems.push({
          path: [...path, key],
          message: why ? `'${key}' is not supported by warren: ${why.reason}` : `unknown keyword '${key}'${didYouMean(key, vrrpKnownKeysAt(path))}`,
        });
      }
    } else if (issue.code === 'invalid_type') {
      problems.push({ path, message: `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${show(valueAt(data, path))}` });
    } else {
      problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

/** Validates `text` (read from `file`) and returns the runtime config; throws ConfigError. */
export function loadVrrpConfigText(text: string, file: string): VrrpConfig {
  const doc = openConfigDocument(text, file, 'global_defs, vrrp_script, vrrp_instance');
  const { toIssues } = doc;
  const parsed = vrrpFileSchema.safeParse(doc.data);
  if (!parsed.success) throw new ConfigError(toIssues(vrrpZodProblems(parsed.error, doc.data)));
  const { config, problems, warnings } = resolveVrrp(parsed.data, file);
  if (!config) throw new ConfigError(toIssues(problems));
  config.warnings = toIssues(warnings);
  return config;
}

export function loadVrrpConfig(file: string): VrrpConfig {
  return loadVrrpConfigText(readConfigText(file), file);
}

/**
 * True when a loaded YAML document is a `warren vrrp` config (keepalived.yaml) rather than a
 * proxy config: a top-level key is one of global_defs, vrrp_script, vrrp_instance (or close to
 * one: a typo still gets the vrrp loader's "did you mean"), and none is a proxy section.
 */
export function isVrrpYaml(data: unknown): boolean {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return false;
  const keys = Object.keys(data);
  if (keys.some((k) => PROXY_TOP_KEYS.includes(k))) return false;
  return keys.some((k) => VRRP_TOP_KEYS.includes(k) || /^vrrp_/.test(k) || didYouMean(k, VRRP_TOP_KEYS) !== '');
}
