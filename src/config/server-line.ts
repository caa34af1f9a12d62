// HAProxy's `server` and `default-server` lines, in HAProxy's own syntax:
//   server <name> <address>[:port] [param*]
// (doc/configuration.txt §5.2). Parsing is pure; the caller merges the result over
// `default-server` and the defaults, and attaches the file/line/path to any problem.

import { didYouMean } from './did-you-mean.js';
import { escapeChars } from './escape.js';
import { parseDuration, DURATION_HINT } from './duration.js';
import type { ServerConfig } from './types.js';

export type ServerParams = Partial<Omit<ServerConfig, 'name' | 'host' | 'port'>>;

type Keyword =
  | { kind: 'flag'; apply: (p: ServerParams) => void }
  | { kind: 'duration'; apply: (p: ServerParams, ms: number) => void; min?: number }
  | { kind: 'int'; apply: (p: ServerParams, n: number) => void; min: number; max: number }
  | { kind: 'word'; values: readonly string[]; apply: (p: ServerParams, w: string) => void }
  | { kind: 'string'; apply: (p: ServerParams, s: string) => void };

const KEYWORDS: Record<string, Keyword> = {
  check: { kind: 'flag', apply: (p) => (p.check = true) },
  'no-check': { kind: 'flag', apply: (p) => (p.check = false) },
  inter: { kind: 'duration', min: 1, apply: (p, v) => (p.inter = v) },
  fastinter: { kind: 'duration', min: 1, apply: (p, v) => (p.fastinter = v) },
  downinter: { kind: 'duration', min: 1, apply: (p, v) => (p.downinter = v) },
  rise: { kind: 'int', min: 1, max: 1000, apply: (p, v) => (p.rise = v) },
  fall: { kind: 'int', min: 1, max: 1000, apply: (p, v) => (p.fall = v) },
  weight: { kind: 'int', min: 0, max: 256, apply: (p, v) => (p.weight = v) },
  backup: { kind: 'flag', apply: (p) => (p.backup = true) },
  'no-backup': { kind: 'flag', apply: (p) => (p.backup = false) },
  maxconn: { kind: 'int', min: 0, max: 10_000_000, apply: (p, v) => (p.maxconn = v) },
  maxqueue: { kind: 'int', min: 0, max: 10_000_000, apply: (p, v) => (p.maxqueue = v) },
  disabled: { kind: 'flag', apply: (p) => (p.disabled = true) },
  enabled: { kind: 'flag', apply: (p) => (p.disabled = false) },
  slowstart: { kind: 'duration', apply: (p, v) => (p.slowstart = v) },
  'on-marked-down': {
    kind: 'word',
    values: ['shutdown-sessions'],
    apply: (p) => (p.shutdownSessionsOnDown = true),
  },
  observe: { kind: 'word', values: ['layer4'], apply: (p) => (p.observeLayer4 = true) },
  'error-limit': { kind: 'int', min: 1, max: 1_000_000, apply: (p, v) => (p.errorLimit = v) },
  'on-error': {
    kind: 'word',
    values: ['fastinter', 'fail-check', 'sudden-death', 'mark-down'],
    apply: (p, w) => (p.onError = w as ServerConfig['onError']),
  },
  'send-proxy': { kind: 'flag', apply: (p) => (p.sendProxy = 1) },
  'send-proxy-v2': { kind: 'flag', apply: (p) => (p.sendProxy = 2) },
  'no-send-proxy': { kind: 'flag', apply: (p) => (p.sendProxy = 0) },
  port: { kind: 'int', min: 1, max: 65535, apply: (p, v) => (p.checkPort = v) },
  addr: { kind: 'string', apply: (p, s) => (p.checkAddr = s) },
};

export const SERVER_KEYWORDS = Object.keys(KEYWORDS);

/**
 * HAProxy's rule for proxy (listen, frontend, backend) and server names (doc/configuration.txt
 * §4: "All proxy names must be formed from upper and lower case letters, digits, '-' (dash),
 * '_' (underscore), '.' (dot) and ':' (colon)"; HAProxy checks server names the same way and
 * refuses an empty name). ASCII only: HAProxy refuses 'é' too. warren keeps the rule because the
 * names go where a stray character breaks things: the runtime API's `disable server
 * BACKEND/SERVER` splits on '/', the CSV on ',', the log line on blanks, and a control character
 * would forge lines in the logs and the stats page.
 */
const NAME = /^[A-Za-z0-9_.:-]+$/;
export const NAME_RULE = "only letters, digits, '-', '_', '.' and ':' (as in HAProxy)";

/** `s` with every character but printable ASCII as \uXXXX: a name may hold a control character. */
function visible(s: string): string {
  return escapeChars(s, /[^\x20-\x7e]/g);
}

/** Why `name` is not a valid proxy or server name (`what`: 'listen', 'server', ...), or null. */
export function nameProblem(what: string, name: string): string | null {
  if (name === '__proto__') return `'__proto__' cannot be a ${what} name in warren: it names the prototype of a JavaScript object`;
  if (NAME.test(name)) return null;
  if (name === '') return `empty ${what} name: expected ${NAME_RULE}`;
  const bad = [...name].find((c) => !NAME.test(c))!;
  return `invalid ${what} name '${visible(name)}': character '${visible(bad)}' is not allowed, expected ${NAME_RULE}`;
}

export class ServerLineError extends Error {}

export interface ParsedServerLine {
  name: string;
  host: string;
  port: number;
  params: ServerParams;
}

/** `host:port`, `[v6]:port` or a bare IPv6 whose last colon-group is the port. */
export function parseAddress(text: string, allowPortZero = false): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') throw new ServerLineError(`bad address '${text}': expected [IPv6]:port`);
    host = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new ServerLineError(`address '${text}' has no port: expected host:port`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < (allowPortZero ? 0 : 1) || port > 65535) {
    throw new ServerLineError(`bad port '${portText}' in '${text}': expected 1-65535`);
  }
  if (host === '' || host === '*') host = '0.0.0.0';
  return { host, port };
}

/** The parameters of a `server` line after its address, or of a `default-server` line. */
export function parseServerParams(words: readonly string[]): ServerParams {
  const params: ServerParams = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const kw = KEYWORDS[word];
    if (!kw) {
      throw new ServerLineError(`unknown server keyword '${word}'${didYouMean(word, SERVER_KEYWORDS)}`);
    }
    if (kw.kind === 'flag') {
      kw.apply(params);
      continue;
    }
    const arg = words[++i];
    if (arg === undefined) throw new ServerLineError(`'${word}' expects an argument`);
    switch (kw.kind) {
      case 'duration': {
        const ms = parseDuration(arg);
        if (ms === null || ms < (kw.min ?? 0)) {
          throw new ServerLineError(`'${word} ${arg}': expected ${DURATION_HINT}`);
        }
        kw.apply(params, ms);
        break;
      }
      case 'int': {
        const n = Number(arg);
        if (!/^\d+$/.test(arg) || n < kw.min || n > kw.max) {
          throw new ServerLineError(`'${word} ${arg}': expected an integer from ${kw.min} to ${kw.max}`);
        }
        kw.apply(params, n);
        break;
      }
      case 'word':
        if (!kw.values.includes(arg)) {
          throw new ServerLineError(`'${word} ${arg}': expected one of ${kw.values.join(', ')}`);
        }
        kw.apply(params, arg);
        break;
      case 'string':
        kw.apply(params, arg);
        break;
    }
  }
  return params;
}

export function parseServerLine(line: string): ParsedServerLine {
  const words = line.trim().split(/\s+/);
  const [name, address] = words;
  if (!name || !address) throw new ServerLineError(`expected '<name> <address>:<port> [params]', got '${line}'`);
  const bad = nameProblem('server', name);
  if (bad) throw new ServerLineError(bad);
  return { name, ...parseAddress(address), params: parseServerParams(words.slice(2)) };
}
