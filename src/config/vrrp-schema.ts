// The YAML shape of the `warren vrrp` config (mirrors keepalived.conf: global_defs, vrrp_script,
// vrrp_instance, same keywords, same units: seconds) and its resolution into VrrpConfig. zod checks
// the structure and each value; resolve() applies keepalived's defaults and checks what only
// makes sense across keywords (script references, vrid per interface, address families, the
// address owner). Every problem carries the path in the YAML document so the loader can add file
// and line.

import { isIP, isIPv4 } from 'node:net';
import { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { escapeChars } from './escape.js';
import type { Path, Problem } from './proxy-schema.js';
import type {
  AddressFamily,
  CommandConfig,
  GarpConfig,
  NotifyConfig,
  RunAs,
  TrackRef,
  VirtualIpConfig,
  VrrpConfig,
  VrrpInstanceConfig,
  VrrpScriptConfig,
} from './vrrp-types.js';

export type { Path, Problem };

// ---- values --------------------------------------------------------------------------------

class Bad {
  constructor(readonly message: string) {}
}

/** How a YAML value is named in messages. */
export function show(v: unknown): string {
  if (v === undefined || v === null) return 'nothing';
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** A zod schema whose whole check is `parse`: the messages are ours, not zod's. */
function value<T>(parse: (v: unknown) => T | Bad) {
  return z.unknown().transform((v, ctx) => {
    const r = parse(v);
    if (r instanceof Bad) {
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    }
    return r;
  });
}

function intIn(v: unknown, min: number, max: number): number | Bad {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
  return new Bad(`expected an integer from ${min} to ${max}, got ${show(v)}`);
}
const integer = (min: number, max: number) => value((v) => intIn(v, min, max));

const SECONDS_TEXT = /^\d+(?:\.\d+)?$/;
const UNIT_TEXT = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/** keepalived's unit is the second (a decimal is fine); `500ms` / `2s` / `1m` are accepted too. */
export function secondsToMs(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1_000_000) / 1000 : null;
  if (typeof v !== 'string') return null;
  const t = v.trim();
  if (SECONDS_TEXT.test(t)) return Math.round(Number(t) * 1_000_000) / 1000;
  const m = UNIT_TEXT.exec(t);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : null;
}

function fmtSeconds(ms: number): string {
  return `${ms / 1000}`;
}

/** Seconds in [min, max] (bounds in ms; `positive` excludes 0), resolved to milliseconds. */
const seconds = (minMs: number, maxMs: number, positive = false) =>
  value((v) => {
    const ms = secondsToMs(v);
    const range = positive && minMs === 0 ? `more than 0 and at most ${fmtSeconds(maxMs)}` : `from ${fmtSeconds(minMs)} to ${fmtSeconds(maxMs)}`;
    if (ms === null || ms < minMs || ms > maxMs || (positive && ms === 0)) {
      return new Bad(`expected seconds ${range} (a number such as 2 or 0.5, or 500ms), got ${show(v)}`);
    }
    return ms;
  });

/**
 * Adverts carry the interval in centiseconds (as VRRPv3): 0.01 s steps, up to keepalived's
 * VRRPv2 maximum of 255 s.
 */
const advertInt = value((v) => {
  const ms = secondsToMs(v);
  if (ms === null || ms < 10 || ms > 255_000 || Math.abs(ms / 10 - Math.round(ms / 10)) > 1e-6) {
    return new Bad(`expected seconds from 0.01 to 255 in steps of 0.01 (adverts carry centiseconds), e.g. 1 or 0.1, got ${show(v)}`);
  }
  return Math.round(ms / 10) * 10;
});

/** A keyword that takes no argument in keepalived.conf: `true`, `false`, or empty (= true). */
const flag = value((v) => (v === null ? true : typeof v === 'boolean' ? v : new Bad(`expected true or false, got ${show(v)}`)));

const text = value((v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : new Bad(`expected a string, got ${show(v)}`)));

const absPath = value((v) =>
  typeof v === 'string' && v.startsWith('/') && !/\s/.test(v) ? v : new Bad(`expected an absolute file path, got ${show(v)}`),
);

const NAME_WORD = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * vrrp_instance and vrrp_script names. keepalived.conf(5) only says `vrrp_instance <STRING>` and
 * `vrrp_script <STRING>`, and keepalived's parser takes any one word there (another count of words:
 * "vrrp_instance must have a name"). So '/', ':', '@' or 'é' stay allowed, and imported configs
 * keep their names (a notify script that makes a file name of $2 must cope, as with keepalived).
 * Refused is what would do harm here: nothing, blanks (only a "quoted" keepalived word has them)
 * and control characters. The name is an argument of the `notify` scripts (`INSTANCE <name>
 * <STATE> <priority>`), which usually use $2 unquoted, so a blank would split it; and a newline
 * or an escape sequence in it would forge lines in the logs and in `warren status`.
 */
const BAD_VRRP_NAME_CHAR = /[\s\p{Cc}]/u;

/** Why `name` cannot name a vrrp_instance or vrrp_script, or null. */
export function vrrpNameProblem(kind: 'vrrp_instance' | 'vrrp_script', name: string): string | null {
  if (name === '') return `empty ${kind} name: expected one word`;
  if (name === '__proto__') return `'__proto__' cannot be a ${kind} name in warren: it names the prototype of a JavaScript object`;
  const bad = BAD_VRRP_NAME_CHAR.exec(name)?.[0];
  if (bad === undefined) return null;
  const shown = escapeChars(name, /[^\S ]|\p{Cc}/gu); // the message itself must not hold them
  return `invalid ${kind} name '${shown}': character ${bad === ' ' ? "' '" : escapeChars(bad, /[^]/g)} is not allowed, expected one word without blanks or control characters`;
}

/** `user [group]` */
export function parseRunAs(v: unknown): RunAs | Bad {
  const words = typeof v === 'string' ? v.trim().split(/\s+/) : [];
  if (words.length < 1 || words.length > 2 || !words.every((w) => NAME_WORD.test(w))) {
    return new Bad(`expected 'USER' or 'USER GROUP', got ${show(v)}`);
  }
  return { user: words[0]!, group: words[1] ?? null };
}
const runAs = value(parseRunAs);

/** Linux interface names: 1-15 characters, no '/', ':' or white space (dev_valid_name). */
export function validIfName(name: string): boolean {
  return name.length >= 1 && name.length <= 15 && name !== '.' && name !== '..' && !/[\s/:]/.test(name);
}
const ifname = value((v) =>
  typeof v === 'string' && validIfName(v) ? v : new Bad(`expected an interface name (1-15 characters, no '/', ':' or spaces), got ${show(v)}`),
);

/** `HOST:PORT` (IPv4 or [IPv6]) or `none`. */
const statusListen = value((v): { host: string; port: number } | null | Bad => {
  if (v === 'none' || v === false) return null;
  const m = typeof v === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(v.trim()) : null;
  const host = m ? (m[1] ?? m[2])! : '';
  const port = m ? Number(m[3]) : 0;
  if (!m || isIP(host) === 0 || port < 1 || port > 65535) {
    return new Bad(`expected HOST:PORT (e.g. 127.0.0.1:8889) or none, got ${show(v)}`);
  }
  return { host, port };
});

const STATES = ['MASTER', 'BACKUP'] as const;
const state = value((v) => {
  if (v === 'MASTER' || v === 'BACKUP') return v;
  const got = typeof v === 'string' ? v : show(v); // show(): never String() of a mapping (its keys may be `toString`)
  const hint = STATES.find((s) => s === got.toUpperCase());
  return new Bad(`expected MASTER or BACKUP, got ${show(v)}${hint ? ` (did you mean '${hint}'?)` : didYouMean(got, STATES)}`);
});

function ipKind(address: string): 'unicast' | 'unspecified' | 'loopback' | 'multicast' | 'broadcast' | null {
  const fam = isIP(address);
  if (fam === 4) {
    const [a] = address.split('.').map(Number) as [number];
    if (address === '0.0.0.0') return 'unspecified';
    if (address === '255.255.255.255') return 'broadcast';
    if (a === 127) return 'loopback';
    if (a >= 224 && a <= 239) return 'multicast';
    return 'unicast';
  }
  if (fam === 6) {
    const low = address.toLowerCase();
    if (/^[0:]+$/.test(low.replace(/::/, ':'))) return 'unspecified';
    if (low === '::1') return 'loopback';
    if (low.startsWith('ff')) return 'multicast';
    return 'unicast';
  }
  return null;
}

const unicastIp = value((v) =>
  typeof v === 'string' && ipKind(v) === 'unicast' ? v : new Bad(`expected a unicast IPv4 or IPv6 address, got ${show(v)}`),
);
const mcastGroup = (family: 4 | 6) =>
  value((v) =>
    typeof v === 'string' && isIP(v) === family && ipKind(v) === 'multicast'
      ? v
      : new Bad(`expected an IPv${family} multicast address${family === 4 ? ' (224.0.0.0/4)' : ' (ff00::/8)'}, got ${show(v)}`),
  );

/** A string or a list: each item parsed by `item`, problems reported at the item's index. */
function listOf<T>(item: (v: unknown) => T | Bad) {
  return z.unknown().transform((v, ctx) => {
    if (v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v))) {
      ctx.addIssue({ code: 'custom', message: `expected a list, got ${show(v)}` });
      return z.NEVER;
    }
    const items = Array.isArray(v) ? v : [v];
    const out: T[] = [];
    let bad = false;
    items.forEach((x, i) => {
      const r = item(x);
      if (r instanceof Bad) {
        bad = true;
        ctx.addIssue({ code: 'custom', message: r.message, path: [i] });
      } else out.push(r);
    });
    return bad ? z.NEVER : out;
  });
}

// ---- commands ------------------------------------------------------------------------------

const SHELL_WORD = /^(\|\|?|&&?|;;?|[0-9]*>>?(&[0-9-])?|<|2>&1)$/;

/**
 * Splits a command line into argv like a shell would split words ('...', "...", backslash), and
 * refuses what only a shell could run: scripts are run with execFile, as keepalived runs them.
 */
export function splitCommand(line: string): string[] | Bad {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quoted = false;
  let quote: '"' | "'" | null = null;
  const shellOnly = (w: string): Bad =>
    new Bad(`'${w}' needs a shell, and warren runs scripts without one (as keepalived does): put the command line in a script file, or write "sh -c '...'"`);
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else {
        if (c === '`' || (c === '$' && line[i + 1] === '(')) return shellOnly(c === '`' ? '`' : '$(');
        cur += c;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      quoted = true;
      continue;
    }
    if (c === '`' || (c === '$' && line[i + 1] === '(')) return shellOnly(c === '`' ? '`' : '$(');
    if (c === ' ' || c === '\t') {
      if (inWord) {
        if (!quoted && SHELL_WORD.test(cur)) return shellOnly(cur);
        words.push(cur);
      }
      cur = '';
      inWord = false;
      quoted = false;
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (quote !== null) return new Bad(`unterminated ${quote === '"' ? 'double' : 'single'} quote in ${show(line)}`);
  if (inWord) {
    if (!quoted && SHELL_WORD.test(cur)) return shellOnly(cur);
    words.push(cur);
  }
  if (words.length === 0) return new Bad('expected a command, got nothing');
  return words;
}

interface CommandSpec {
  text: string;
  argv: string[];
  user: RunAs | null;
}

function parseCommandText(v: unknown): CommandSpec | Bad {
  if (typeof v !== 'string') return new Bad(`expected a command line, got ${show(v)}`);
  const argv = splitCommand(v);
  return argv instanceof Bad ? argv : { text: v.trim(), argv, user: null };
}
const commandText = value(parseCommandText);

const COMMAND_KEYS = ['script', 'user'];
/** `notify_master: "/path/x.sh master"` or `{script: "/path/x.sh master", user: "warren"}` */
const notifyCommand = z.unknown().transform((v, ctx): CommandSpec => {
  const bad = (r: Bad, path: string[] = []): never => {
    ctx.addIssue({ code: 'custom', message: r.message, path });
    return z.NEVER as never;
  };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    if (typeof v !== 'string') return bad(new Bad(`expected a command line or {script: COMMAND, user: USER}, got ${show(v)}`));
    const r = parseCommandText(v);
    return r instanceof Bad ? bad(r) : r;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!COMMAND_KEYS.includes(k)) return bad(new Bad(`unknown keyword '${k}'${didYouMean(k, COMMAND_KEYS)}`), [k]);
  if (o['script'] === undefined) return bad(new Bad("expected 'script: COMMAND'"));
  const cmd = parseCommandText(o['script']);
  if (cmd instanceof Bad) return bad(cmd, ['script']);
  if (o['user'] === undefined) return cmd;
  const user = parseRunAs(o['user']);
  return user instanceof Bad ? bad(user, ['user']) : { ...cmd, user };
});

/** When a check script only tests that HAProxy runs: that test fails for good once warren replaces it. */
export function haproxyScriptHint(command: string): string | null {
  if (/\b(killall\s+-0|pidof|pgrep|pkill\s+-0)\b[^|;&]*\bhaproxy\b/.test(command)) {
    return `'${command}' only checks that a process named haproxy exists: once warren proxy replaces HAProxy it fails for good; use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`;
  }
  if (/haproxy/i.test(command)) {
    return `'${command}' checks HAProxy: make it check warren proxy, or use warren's built-in tracker of the local proxy instead ("proxy: http://127.0.0.1:8888/healthz", the monitor-uri of its stats section)`;
  }
  return null;
}

// ---- tracking and addresses ----------------------------------------------------------------

interface TrackSpec {
  name: string;
  weight: number | null;
}

/** `name`, `name weight N` (keepalived's line), or `{name: {weight: N}}`. */
function parseTrack(v: unknown): TrackSpec | Bad {
  const expected = `expected 'NAME', 'NAME weight N' or {NAME: {weight: N}}, got ${show(v)}`;
  if (typeof v === 'string') {
    const words = v.trim().split(/\s+/);
    if (words.length === 1 && words[0]) return { name: words[0], weight: null };
    if (words.length === 3 && words[1] === 'weight') {
      const n = Number(words[2]);
      const w = intIn(Number.isNaN(n) ? words[2] : n, -253, 253);
      return w instanceof Bad ? new Bad(`'${v}': weight: ${w.message}`) : { name: words[0]!, weight: w };
    }
    if (words[1] === 'weight' && words[3] === 'reverse') return new Bad(`'${v}': 'reverse' is not supported by warren: use the opposite weight`);
    if (words.length > 1 && words[1] !== 'weight') return new Bad(`${expected}${didYouMean(words[1]!, ['weight'])}`);
    return new Bad(expected);
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v);
    if (entries.length !== 1) return new Bad(expected);
    const [name, opts] = entries[0]!;
    if (opts === null) return { name, weight: null };
    if (typeof opts !== 'object' || Array.isArray(opts)) return new Bad(expected);
    for (const k of Object.keys(opts)) if (k !== 'weight') return new Bad(`unknown keyword '${k}' for '${name}'${didYouMean(k, ['weight'])}: expected {weight: N}`);
    const w = intIn((opts as { weight?: unknown }).weight, -253, 253);
    return w instanceof Bad ? new Bad(`'${name}' weight: ${w.message}`) : { name, weight: w };
  }
  return new Bad(expected);
}

type VipSpec = Omit<VirtualIpConfig, 'dev'> & { dev: string | null };

const VIP_OPTIONS = ['dev', 'label', 'brd', 'scope'];
const VIP_UNSUPPORTED = ['home', '-nodad', 'nodad', 'mngtmpaddr', 'noprefixroute', 'autojoin', 'preferred_lft', 'valid_lft', 'peer', 'track_group', 'no_track'];

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** `<IP>[/<prefix>] [dev IF] [label L] [brd IP] [scope S]` as in keepalived's virtual_ipaddress. */
export function parseVirtualIp(v: unknown): VipSpec | Bad {
  if (typeof v !== 'string' || v.trim() === '') return new Bad(`expected '<address>[/<prefix>] [dev IF] [label LABEL]', got ${show(v)}`);
  const words = v.trim().split(/\s+/);
  const [addr, len] = words[0]!.split('/') as [string, string | undefined];
  const family = isIP(addr);
  if (family === 0) return new Bad(`'${words[0]}': expected an IPv4 or IPv6 address with an optional /prefix`);
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (len !== undefined) {
    prefix = /^\d{1,3}$/.test(len) ? Number(len) : NaN;
    if (!(prefix >= 1 && prefix <= max)) return new Bad(`'${words[0]}': expected a prefix length from 1 to ${max}`);
  }
  const kind = ipKind(addr);
  if (kind !== 'unicast') return new Bad(`'${addr}' is a${kind === 'unspecified' ? 'n unspecified' : ` ${kind}`} address: a virtual IP must be a unicast address`);
  if (family === 4 && prefix <= 30) {
    const n = ipv4ToInt(addr);
    const host = 2 ** (32 - prefix) - 1;
    if ((n & host) === 0) return new Bad(`'${words[0]}' is the network address of its /${prefix}: expected a host address`);
    if ((n & host) >>> 0 === host) return new Bad(`'${words[0]}' is the broadcast address of its /${prefix}: expected a host address`);
  }
  const out: VipSpec = { text: v.trim(), address: addr, prefix, family: family as AddressFamily, dev: null, label: null, brd: null, scope: null };
  for (let i = 1; i < words.length; i += 2) {
    const key = words[i]!;
    const arg = words[i + 1];
    if (VIP_UNSUPPORTED.includes(key)) return new Bad(`'${key}' is not supported by warren in virtual_ipaddress (it understands ${VIP_OPTIONS.join(', ')})`);
    if (!VIP_OPTIONS.includes(key)) return new Bad(`unknown option '${key}'${didYouMean(key, VIP_OPTIONS)}: expected ${VIP_OPTIONS.join(', ')}`);
    if (arg === undefined) return new Bad(`'${key}' expects a value`);
    if (key === 'dev') {
      if (!validIfName(arg)) return new Bad(`dev '${arg}': expected an interface name (1-15 characters, no '/', ':' or spaces)`);
      out.dev = arg;
    } else if (key === 'label') {
      if (arg.length > 15 || /[\s/]/.test(arg)) return new Bad(`label '${arg}': expected at most 15 characters, such as eth0:vip`);
      out.label = arg;
    } else if (key === 'brd') {
      if (family !== 4 || !(arg === '+' || arg === '-' || isIPv4(arg))) return new Bad(`brd '${arg}': expected an IPv4 broadcast address, '+' or '-' (IPv4 only)`);
      out.brd = arg;
    } else {
      if (!/^(global|site|link|host|nowhere|\d{1,3})$/.test(arg)) return new Bad(`scope '${arg}': expected global, site, link, host or nowhere`);
      out.scope = arg;
    }
  }
  return out;
}

// ---- the document ----------------------------------------------------------------------------

const globalDefsSchema = z.strictObject({
  router_id: text.optional(),
  script_user: runAs.optional(),
  enable_script_security: flag.optional(),
  vrrp_mcast_group4: mcastGroup(4).optional(),
  vrrp_mcast_group6: mcastGroup(6).optional(),
  vrrp_garp_master_delay: seconds(0, 1000_000).optional(),
  vrrp_garp_master_repeat: integer(1, 1000).optional(),
  vrrp_garp_master_refresh: seconds(0, 1000_000).optional(),
  vrrp_garp_master_refresh_repeat: integer(1, 1000).optional(),
  /** warren: the default shared secret of every instance (keepalived keeps auth_pass inline only). */
  auth_secret_file: absPath.optional(),
  /** warren: UDP port of the adverts (keepalived sends IP protocol 112, which Node cannot). */
  vrrp_port: integer(1, 65535).optional(),
  /** warren: where the status API listens (`HOST:PORT`), or `none`. */
  status_listen: statusListen.optional(),
  /** warren: the local `warren proxy`'s runtime API socket (level admin), told to close the VIP's sessions. */
  proxy_socket: absPath.optional(),
});

const url = value((v) => {
  try {
    const u = new URL(String(v));
    if (typeof v === 'string' && (u.protocol === 'http:' || u.protocol === 'https:')) return v;
  } catch {
    /* below */
  }
  return new Bad(`expected an http:// or https:// URL (e.g. http://127.0.0.1:8888/healthz), got ${show(v)}`);
});

const scriptSchema = z.strictObject({
  script: commandText.optional(),
  /** warren: the built-in tracker of the local proxy (GET, 2xx is OK) instead of a script. */
  proxy: url.optional(),
  interval: seconds(0, 3600_000, true).optional(),
  timeout: seconds(0, 3600_000, true).optional(),
  weight: integer(-253, 253).optional(),
  rise: integer(1, 1000).optional(),
  fall: integer(1, 1000).optional(),
  user: runAs.optional(),
  init_fail: flag.optional(),
});

const authSchema = z.strictObject({
  auth_type: value((v) => {
    if (v === 'HMAC-SHA256') return v;
    if (v === 'PASS' || v === 'AH') {
      return new Bad(
        `expected HMAC-SHA256, got '${v}': warren authenticates adverts with HMAC-SHA256 and the shared secret (keepalived's ${v === 'PASS' ? 'PASS sends the password in clear' : 'AH (IPsec) is not supported'}); 'warren import' converts it`,
      );
    }
    return new Bad(`expected HMAC-SHA256, got ${show(v)}${didYouMean(typeof v === 'string' ? v : show(v), ['HMAC-SHA256'])}`);
  }).optional(),
  auth_pass: value((v) =>
    typeof v === 'string' && v !== ''
      ? v
      : new Bad(`expected the shared secret as a string, got ${show(v)}${typeof v === 'number' ? ` (quote it: auth_pass: "${v}")` : ''}`),
  ).optional(),
  /** warren: read the shared secret from this file at start (instead of auth_pass). */
  auth_secret_file: absPath.optional(),
});

const instanceSchema = z.strictObject({
  state: state.optional(),
  interface: ifname.optional(),
  virtual_router_id: integer(1, 255).optional(),
  priority: integer(1, 255).optional(),
  advert_int: advertInt.optional(),
  nopreempt: flag.optional(),
  preempt_delay: seconds(0, 1000_000).optional(),
  unicast_src_ip: unicastIp.optional(),
  mcast_src_ip: unicastIp.optional(),
  unicast_peer: listOf((v) => (typeof v === 'string' && ipKind(v) === 'unicast' ? v : new Bad(`expected a unicast IPv4 or IPv6 address, got ${show(v)}`))).optional(),
  authentication: authSchema.optional(),
  virtual_ipaddress: listOf(parseVirtualIp).optional(),
  track_script: listOf(parseTrack).optional(),
  track_interface: listOf(parseTrack).optional(),
  dont_track_primary: flag.optional(),
  notify_master: notifyCommand.optional(),
  notify_backup: notifyCommand.optional(),
  notify_fault: notifyCommand.optional(),
  notify_stop: notifyCommand.optional(),
  notify: notifyCommand.optional(),
  garp_master_delay: seconds(0, 1000_000).optional(),
  garp_master_repeat: integer(1, 1000).optional(),
  garp_master_refresh: seconds(0, 1000_000).optional(),
  garp_master_refresh_repeat: integer(1, 1000).optional(),
});

export const vrrpFileSchema = z.strictObject({
  global_defs: globalDefsSchema.optional(),
  vrrp_script: z.record(z.string(), scriptSchema).optional(),
  vrrp_instance: z.record(z.string(), instanceSchema).optional(),
});

type VrrpFile = z.infer<typeof vrrpFileSchema>;
type InstanceFile = z.infer<typeof instanceSchema>;

export const VRRP_TOP_KEYS = Object.keys(vrrpFileSchema.shape);

// keepalived keywords warren does not have, with the reason: the loader names the reason instead
// of a bare "unknown keyword", and the importer drops them (warning) or refuses them (error).
const NO_EMAIL = 'warren sends no email: use a notify script';
const NO_LVS = 'LVS (IPVS) load balancing is not part of warren: warren proxy balances the traffic (warren import converts haproxy.cfg)';
const OWN_ADVERTS = "warren's adverts are its own authenticated UDP messages, not VRRP packets";
const NOT_NEEDED = 'no equivalent in warren';
const RUNS_UNDER_SYSTEMD = 'warren runs in the foreground under systemd';

export interface Unsupported {
  reason: string;
  /** true: dropping it does not change which host holds the VIP (the importer warns); false: error. */
  harmless: boolean;
}
const ok = (reason: string): Unsupported => ({ reason, harmless: true });
const no = (reason: string): Unsupported => ({ reason, harmless: false });

export const UNSUPPORTED_TOP: Record<string, Unsupported> = {
  virtual_server: no(NO_LVS),
  virtual_server_group: no(NO_LVS),
  vrrp_sync_group: no('warren has no sync groups: each vrrp_instance moves on its own (track the same scripts to move them together)'),
  vrrp_track_file: no('warren has no track files: use a vrrp_script'),
  vrrp_track_process: no('warren has no process tracking: use a vrrp_script, or the built-in tracker of the local proxy'),
  bfd_instance: no('warren has no BFD'),
  garp_group: ok('warren sends gratuitous ARPs with arping, paced by vrrp_garp_master_*'),
  static_ipaddress: no('warren does not configure static addresses: configure them in the operating system'),
  static_routes: no('warren does not configure routes: configure them in the operating system'),
  static_rules: no('warren does not configure routing rules: configure them in the operating system'),
  linkbeat_interfaces: ok('warren reads link state through systeminformation'),
  include: no('the importer does not follow include: import the included file (or merge the files) first'),
  net_namespace: ok('run warren inside the namespace instead (ip netns exec, or NetworkNamespacePath= in the systemd unit)'),
};

export const UNSUPPORTED_GLOBAL: Record<string, Unsupported> = {
  ...Object.fromEntries(
    ['notification_email', 'notification_email_from', 'smtp_server', 'smtp_helo_name', 'smtp_connect_timeout', 'smtp_alert', 'smtp_alert_vrrp', 'smtp_alert_checker', 'no_email_faults'].map((k) => [k, ok(NO_EMAIL)]),
  ),
  ...Object.fromEntries(
    ['vrrp_skip_check_adv_addr', 'vrrp_check_unicast_src', 'vrrp_strict', 'vrrp_version', 'vrrp_iptables', 'vrrp_ipsets', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert', 'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat', 'vrrp_garp_interval', 'vrrp_gna_interval', 'vrrp_min_garp', 'vrrp_garp_extra_if'].map((k) => [k, ok(OWN_ADVERTS)]),
  ),
  ...Object.fromEntries(
    ['vrrp_priority', 'vrrp_no_swap', 'vrrp_rt_priority', 'vrrp_rlimit_rtime', 'checker_priority', 'checker_no_swap', 'checker_rt_priority', 'checker_rlimit_rtime', 'bfd_priority', 'bfd_no_swap', 'bfd_rt_priority', 'bfd_rlimit_rtime', 'max_auto_priority', 'min_auto_priority_delay'].map((k) => [k, ok('set Nice=/CPUSchedulingPolicy= in the systemd unit instead')]),
  ),
  ...Object.fromEntries(
    ['snmp_socket', 'enable_snmp_keepalived', 'enable_snmp_vrrp', 'enable_snmp_checker', 'enable_snmp_rfc', 'enable_snmp_rfcv2', 'enable_snmp_rfcv3', 'enable_traps', 'enable_dbus', 'dbus_service_name'].map((k) => [k, ok("warren has no SNMP or D-Bus: read 'warren status' or its status API")]),
  ),
  ...Object.fromEntries(
    ['notify_fifo', 'notify_fifo_script', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'lvs_notify_fifo', 'lvs_notify_fifo_script'].map((k) => [k, no('warren has no notify FIFO: use notify scripts (notify gets INSTANCE name STATE priority)')]),
  ),
  ...Object.fromEntries(['lvs_sync_daemon', 'lvs_flush', 'lvs_timeouts', 'lvs_flush_onstop'].map((k) => [k, ok(NO_LVS)])),
  ...Object.fromEntries(['instance', 'use_pid_dir', 'child_wait_time', 'namespace_with_ipsets', 'net_namespace'].map((k) => [k, ok(RUNS_UNDER_SYSTEMD)])),
  default_interface: ok('static addresses are not configured by warren'),
  dynamic_interfaces: ok('warren tracks interfaces that appear and disappear'),
  linkbeat_use_polling: ok('warren reads link state through systeminformation'),
  vrrp_startup_delay: no('warren has no startup delay'),
  vrrp_netlink_cmd_rcv_bufs: ok(NOT_NEEDED),
  vrrp_netlink_monitor_rcv_bufs: ok(NOT_NEEDED),
  script_security: ok(NOT_NEEDED),
};

export const UNSUPPORTED_INSTANCE: Record<string, Unsupported> = {
  smtp_alert: ok(NO_EMAIL),
  debug: ok('set the log level of warren instead'),
  version: ok(OWN_ADVERTS),
  strict_mode: ok(OWN_ADVERTS),
  skip_check_adv_addr: ok(OWN_ADVERTS),
  old_unicast_checksum: ok(OWN_ADVERTS),
  lower_prio_no_advert: ok(OWN_ADVERTS),
  higher_prio_send_advert: ok(OWN_ADVERTS),
  native_ipv6: ok('the family follows the virtual addresses'),
  accept: ok('warren does not filter traffic to the VIP'),
  no_accept: ok('warren does not filter traffic to the VIP'),
  use_vmac: ok('warren moves the address on the interface itself and announces it with gratuitous ARP'),
  vmac_xmit_base: ok('warren moves the address on the interface itself and announces it with gratuitous ARP'),
  garp_lower_prio_delay: ok(OWN_ADVERTS),
  garp_lower_prio_repeat: ok(OWN_ADVERTS),
  garp_interval: ok('gratuitous ARPs are paced by arping'),
  gna_interval: ok('gratuitous ARPs are paced by arping'),
  promote_secondaries: ok("set it on the interface (sysctl net.ipv4.conf.IF.promote_secondaries=1) if needed"),
  track_src_ip: ok(NOT_NEEDED),
  unicast_ttl: ok(NOT_NEEDED),
  kernel_rx_buf_size: ok(NOT_NEEDED),
  linkbeat_use_polling: ok('warren reads link state through systeminformation'),
  lvs_sync_daemon_interface: ok(NO_LVS),
  unicast_fault_no_peer: ok(NOT_NEEDED),
  virtual_routes: no('warren does not add routes with the VIP: configure them in the operating system (or a notify script)'),
  virtual_rules: no('warren does not add routing rules with the VIP: configure them in the operating system (or a notify script)'),
  track_file: no('warren has no track files: use a vrrp_script'),
  track_bfd: no('warren has no BFD'),
  track_process: no('warren has no process tracking: use a vrrp_script, or the built-in tracker of the local proxy'),
  notify_deleted: no('warren has no notify_deleted: use notify_stop'),
  notify_master_rx_lower_pri: no(NOT_NEEDED),
};

export const UNSUPPORTED_SCRIPT: Record<string, Unsupported> = {};

/** Keywords known at each kind of place, for "did you mean" on unknown keys. */
export function vrrpKnownKeysAt(path: Path): string[] {
  if (path.length === 0) return VRRP_TOP_KEYS;
  const top = path[0];
  if (top === 'global_defs' && path.length === 1) return Object.keys(globalDefsSchema.shape);
  if (top === 'vrrp_script' && path.length === 2) return Object.keys(scriptSchema.shape);
  if (top === 'vrrp_instance' && path.length === 2) return Object.keys(instanceSchema.shape);
  if (top === 'vrrp_instance' && path[path.length - 1] === 'authentication') return Object.keys(authSchema.shape);
  return [];
}

/** Why a keepalived keyword met at `path` is not a warren keyword, or null. */
export function unsupportedAt(path: Path, key: string): Unsupported | null {
  const table =
    path.length === 0 ? UNSUPPORTED_TOP
    : path[0] === 'global_defs' && path.length === 1 ? UNSUPPORTED_GLOBAL
    : path[0] === 'vrrp_instance' && path.length === 2 ? UNSUPPORTED_INSTANCE
    : path[0] === 'vrrp_script' && path.length === 2 ? UNSUPPORTED_SCRIPT
    : {};
  return Object.hasOwn(table, key) ? table[key]! : null;
}

// ---- resolution ------------------------------------------------------------------------------

/** warren's advert lists the virtual addresses, IPv4 only, at most 32 (src/vrrp/advert.ts). */
export const MAX_VIPS = 32;
const IPV6_SUPPORTED = false;

const DEFAULT_GARP: GarpConfig = { masterDelay: 5000, masterRepeat: 5, masterRefresh: 0, masterRefreshRepeat: 1 };
const SHORT_SECRET = 16;
/** warren's advert port: an unassigned one, named after the RFC. */
export const DEFAULT_VRRP_PORT = 5798;
export const DEFAULT_STATUS_LISTEN = { host: '127.0.0.1', port: 8889 };

export interface Resolved {
  config: VrrpConfig | null;
  problems: Problem[];
  warnings: Problem[];
}

/** The runtime config, or the problems that stop it from being one. */
export function resolveVrrp(file: VrrpFile, source: string): Resolved {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const g = file.global_defs ?? {};
  const scriptUser = g.script_user ?? null;
  const withUser = (c: CommandSpec | undefined): CommandConfig | null => (c ? { text: c.text, argv: c.argv, user: c.user ?? scriptUser } : null);
  const globalGarp: GarpConfig = {
    masterDelay: g.vrrp_garp_master_delay ?? DEFAULT_GARP.masterDelay,
    masterRepeat: g.vrrp_garp_master_repeat ?? DEFAULT_GARP.masterRepeat,
    masterRefresh: g.vrrp_garp_master_refresh ?? DEFAULT_GARP.masterRefresh,
    masterRefreshRepeat: g.vrrp_garp_master_refresh_repeat ?? DEFAULT_GARP.masterRefreshRepeat,
  };
  const global = {
    routerId: g.router_id ?? null,
    scriptUser,
    enableScriptSecurity: g.enable_script_security ?? false,
    mcastGroup4: g.vrrp_mcast_group4 ?? '224.0.0.18',
    mcastGroup6: g.vrrp_mcast_group6 ?? 'ff02::12',
    authSecretFile: g.auth_secret_file ?? null,
    garp: globalGarp,
    port: g.vrrp_port ?? DEFAULT_VRRP_PORT,
    statusListen: g.status_listen === undefined ? DEFAULT_STATUS_LISTEN : g.status_listen,
    proxySocket: g.proxy_socket ?? null,
  };

  // vrrp_script
  const scripts: VrrpScriptConfig[] = [];
  for (const [name, s] of Object.entries(file.vrrp_script ?? {})) {
    const at: Path = ['vrrp_script', name];
    const badName = vrrpNameProblem('vrrp_script', name);
    if (badName) problems.push({ path: at, message: badName });
    const interval = s.interval ?? 1000;
    const common = {
      name,
      interval,
      timeout: s.timeout ?? interval,
      weight: s.weight ?? 0,
      rise: s.rise ?? 1,
      fall: s.fall ?? 1,
      initFail: s.init_fail ?? false,
    };
    if (s.script !== undefined && s.proxy !== undefined) {
      problems.push({ path: [...at, 'proxy'], message: "expected either 'script' or 'proxy', not both" });
    } else if (s.script !== undefined) {
      scripts.push({ ...common, kind: 'script', command: { text: s.script.text, argv: s.script.argv, user: s.user ?? scriptUser } });
      const hint = haproxyScriptHint(s.script.text);
      if (hint) warnings.push({ path: [...at, 'script'], message: hint });
    } else if (s.proxy !== undefined) {
      if (s.user !== undefined) problems.push({ path: [...at, 'user'], message: "only a 'script' runs as a user: the built-in 'proxy' tracker runs inside warren" });
      scripts.push({ ...common, kind: 'proxy', url: s.proxy });
    } else {
      problems.push({ path: at, message: "expected 'script: COMMAND' or 'proxy: URL' (warren's built-in tracker of the local proxy)" });
    }
  }
  const scriptWeights = new Map(Object.entries(file.vrrp_script ?? {}).map(([n, s]) => [n, s.weight ?? 0]));
  const scriptNames = [...scriptWeights.keys()];
  const usedScripts = new Set<string>();

  // vrrp_instance
  const instances: VrrpInstanceConfig[] = [];
  const vrids = new Map<string, string>();
  const vips = new Map<string, string>();
  const instanceEntries = Object.entries(file.vrrp_instance ?? {});
  if (instanceEntries.length === 0) {
    problems.push({ path: file.vrrp_instance ? ['vrrp_instance'] : [], message: "expected at least one 'vrrp_instance'" });
  }
  for (const [name, i] of instanceEntries) {
    const inst = resolveInstance(name, i, global, scriptWeights, usedScripts, withUser, problems, warnings);
    if (!inst) continue;
    const at: Path = ['vrrp_instance', name];
    // keepalived allows one id per link; warren's adverts of all instances share one UDP port
    // and are told apart by vrid alone, so ids are unique per daemon.
    const key = String(inst.vrid);
    const other = vrids.get(key);
    if (other) {
      problems.push({
        path: [...at, 'virtual_router_id'],
        message: `virtual_router_id ${inst.vrid} is already used by vrrp_instance '${other}': warren's adverts share one UDP port, so each instance needs its own id`,
      });
    } else vrids.set(key, name);
    inst.virtualIpaddresses.forEach((vip, n) => {
      const owner = vips.get(vip.address);
      if (owner) {
        problems.push({
          path: [...at, 'virtual_ipaddress', n],
          message: `${vip.address} is already a virtual address of vrrp_instance '${owner}': an address can move with one instance only`,
        });
      } else vips.set(vip.address, name);
    });
    instances.push(inst);
  }
  for (const name of scriptNames) {
    if (!usedScripts.has(name)) warnings.push({ path: ['vrrp_script', name], message: 'not tracked by any vrrp_instance: it will not run' });
  }

  const config: VrrpConfig = { file: source, global, scripts, instances, warnings: [] };
  return { config: problems.length ? null : config, problems, warnings };
}

function resolveInstance(
  name: string,
  i: InstanceFile,
  global: { mcastGroup4: string; mcastGroup6: string; authSecretFile: string | null; garp: GarpConfig },
  scriptWeights: Map<string, number>,
  usedScripts: Set<string>,
  withUser: (c: CommandSpec | undefined) => CommandConfig | null,
  problems: Problem[],
  warnings: Problem[],
): VrrpInstanceConfig | null {
  const at: Path = ['vrrp_instance', name];
  const before = problems.length;
  const fail = (key: string | null, message: string): void => void problems.push({ path: key ? [...at, key] : at, message });

  const badName = vrrpNameProblem('vrrp_instance', name);
  if (badName) fail(null, badName);

  if (i.interface === undefined) fail(null, "missing 'interface': the interface the adverts go out of (e.g. interface: eth0)");
  if (i.virtual_router_id === undefined) fail(null, "missing 'virtual_router_id': 1-255, the same on every host of this virtual router");
  if (i.virtual_ipaddress === undefined || i.virtual_ipaddress.length === 0) fail(null, "missing 'virtual_ipaddress': the address(es) that move, e.g. [192.168.1.100/24]");
  if (i.unicast_src_ip !== undefined && i.mcast_src_ip !== undefined) fail('mcast_src_ip', "expected 'unicast_src_ip' or 'mcast_src_ip' (the same setting), not both");
  const iface = i.interface ?? '';
  const vipList = (i.virtual_ipaddress ?? []).map((v): VirtualIpConfig => ({ ...v, dev: v.dev ?? iface }));
  const vipPath = (n: number): Path => [...at, 'virtual_ipaddress', n];

  // One address family per instance, as keepalived (virtual_ipaddress_excluded is for mixing).
  const family: AddressFamily = vipList[0]?.family ?? 4;
  vipList.forEach((v, n) => {
    if (v.family !== family) problems.push({ path: vipPath(n), message: `IPv${v.family} address in an IPv${family} instance: the virtual addresses of an instance must be of one family` });
    if (v.label !== null && v.label !== v.dev && !v.label.startsWith(`${v.dev}:`)) {
      problems.push({ path: vipPath(n), message: `label '${v.label}' must be '${v.dev}' or start with '${v.dev}:' (ip-address(8)), e.g. ${v.dev}:vip` });
    }
  });
  if (family === 6 && !IPV6_SUPPORTED) {
    problems.push({ path: vipPath(0), message: "IPv6 virtual addresses are not supported yet: warren's adverts carry IPv4 addresses" });
  }
  if (vipList.length > MAX_VIPS) {
    problems.push({ path: vipPath(MAX_VIPS), message: `at most ${MAX_VIPS} virtual addresses per instance (they travel in every advert): use another vrrp_instance for the rest` });
  }
  const srcIp = i.unicast_src_ip ?? i.mcast_src_ip ?? null;
  const srcKey = i.unicast_src_ip !== undefined ? 'unicast_src_ip' : 'mcast_src_ip';
  if (srcIp !== null && isIP(srcIp) !== family) fail(srcKey, `${srcIp} is IPv${isIP(srcIp)}: expected an IPv${family} address like the virtual addresses`);
  const peers = i.unicast_peer ?? [];
  const seenPeers = new Set<string>();
  peers.forEach((p, n) => {
    const path: Path = [...at, 'unicast_peer', n];
    if (isIP(p) !== family) problems.push({ path, message: `${p} is IPv${isIP(p)}: expected an IPv${family} address like the virtual addresses` });
    else if (p === srcIp) problems.push({ path, message: `${p} is this host's own unicast_src_ip: list the other hosts only` });
    else if (seenPeers.has(p)) problems.push({ path, message: `${p} is listed twice` });
    seenPeers.add(p);
  });

  // Priority, state and preemption.
  const priority = i.priority ?? 100;
  const owner = priority === 255;
  if (owner && (srcIp === null || !vipList.some((v) => v.address === srcIp))) {
    fail(
      'priority',
      "255 is reserved for the address owner (RFC 5798: the router whose own address is the virtual IP): expected 1-254, or set unicast_src_ip to this host's address that is also its virtual_ipaddress",
    );
  }
  if (owner && i.state === 'BACKUP') fail('state', 'the address owner (priority 255) starts as MASTER (RFC 5798 §6.4.1): expected MASTER or no state');
  const initialState = owner ? 'MASTER' : (i.state ?? 'BACKUP');
  const nopreempt = i.nopreempt ?? false;
  if (nopreempt && initialState === 'MASTER') {
    fail('nopreempt', owner ? 'the address owner (priority 255) always preempts' : "needs 'state: BACKUP': a host that starts as MASTER takes over anyway (keepalived clears nopreempt then)");
  }
  if ((i.preempt_delay ?? 0) > 0 && initialState === 'MASTER') {
    fail('preempt_delay', "needs 'state: BACKUP': a host that starts as MASTER takes over at once (keepalived clears preempt_delay then)");
  }

  // Authentication: HMAC-SHA256 with a shared secret, inline or from a file.
  const a = i.authentication ?? {};
  if (a.auth_pass !== undefined && a.auth_secret_file !== undefined) fail('authentication', "expected 'auth_pass' or 'auth_secret_file', not both");
  const secret = a.auth_pass ?? null;
  const secretFile = secret === null ? (a.auth_secret_file ?? global.authSecretFile) : null;
  if (secret === null && secretFile === null) {
    fail(
      i.authentication ? 'authentication' : null,
      "expected a shared secret: 'authentication: {auth_type: HMAC-SHA256, auth_pass: SECRET}' or 'auth_secret_file' here or in global_defs (warren authenticates every advert)",
    );
  }
  if (secret !== null && secret.length < SHORT_SECRET) {
    warnings.push({
      path: [...at, 'authentication', 'auth_pass'],
      message: `a ${secret.length}-character secret can be guessed from one captured advert: use at least ${SHORT_SECRET} random characters, or 32 random bytes in an auth_secret_file`,
    });
  }

  // Tracking.
  const trackScripts: TrackRef[] = [];
  const tsList = i.track_script ?? [];
  tsList.forEach((t, n) => {
    const path: Path = [...at, 'track_script', n];
    const weight = scriptWeights.get(t.name);
    if (weight === undefined) {
      problems.push({ path, message: `no vrrp_script named '${t.name}'${didYouMean(t.name, [...scriptWeights.keys()])}` });
      return;
    }
    if (trackScripts.some((x) => x.name === t.name)) {
      problems.push({ path, message: `'${t.name}' is tracked twice` });
      return;
    }
    usedScripts.add(t.name);
    trackScripts.push({ name: t.name, weight: t.weight ?? weight });
  });
  const trackInterfaces: TrackRef[] = [];
  const tiList = i.track_interface ?? [];
  tiList.forEach((t, n) => {
    const path: Path = [...at, 'track_interface', n];
    if (!validIfName(t.name)) problems.push({ path, message: `'${t.name}': expected an interface name (1-15 characters, no '/', ':' or spaces)` });
    else if (trackInterfaces.some((x) => x.name === t.name)) problems.push({ path, message: `'${t.name}' is tracked twice` });
    else trackInterfaces.push({ name: t.name, weight: t.weight ?? 0 });
  });
  if (owner) {
    for (const [key, refs] of [['track_script', trackScripts], ['track_interface', trackInterfaces]] as const) {
      const weighted = refs.filter((r) => r.weight !== 0).map((r) => `${r.name} (${r.weight})`);
      if (weighted.length) {
        fail(key, `the address owner's priority (255) cannot change: expected weight 0 (a failure means FAULT), got ${weighted.join(', ')}`);
      }
    }
  }

  if (problems.length > before) return null;
  return {
    name,
    initialState,
    interface: iface,
    vrid: i.virtual_router_id!,
    priority,
    addressOwner: owner,
    advertInterval: i.advert_int ?? 1000,
    nopreempt,
    preemptDelay: i.preempt_delay ?? 0,
    srcIp,
    unicastPeers: peers,
    mcastGroup: peers.length ? null : family === 4 ? global.mcastGroup4 : global.mcastGroup6,
    family,
    auth: { type: 'HMAC-SHA256', secret, secretFile },
    virtualIpaddresses: vipList,
    trackScripts,
    trackInterfaces,
    trackPrimaryInterface: !(i.dont_track_primary ?? false),
    notify: {
      master: withUser(i.notify_master),
      backup: withUser(i.notify_backup),
      fault: withUser(i.notify_fault),
      stop: withUser(i.notify_stop),
      any: withUser(i.notify),
    } satisfies NotifyConfig,
    garp: {
      masterDelay: i.garp_master_delay ?? global.garp.masterDelay,
      masterRepeat: i.garp_master_repeat ?? global.garp.masterRepeat,
      masterRefresh: i.garp_master_refresh ?? global.garp.masterRefresh,
      masterRefreshRepeat: i.garp_master_refresh_repeat ?? global.garp.masterRefreshRepeat,
    },
  };
}
