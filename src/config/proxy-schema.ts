// The YAML shape of the proxy config (mirrors haproxy.cfg: same sections, same keywords) and its
// resolution into the runtime ProxyConfig. zod checks the structure; resolve() applies HAProxy's
// defaults and checks what only makes sense across sections (server lines, backend references).
// Every problem carries the path in the YAML document so load.ts can add file and line.

import * as os from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { parseDuration, DURATION_HINT } from './duration.js';
import { nameProblem, parseAddress, parseServerLine, parseServerParams, ServerLineError, type ServerParams } from './server-line.js';
import type {
  BackendConfig,
  BalanceAlgorithm,
  BindAddress,
  CheckConfig,
  FrontendConfig,
  ProxyConfig,
  ServerConfig,
  StatsConfig,
  UseBackendRule,
} from './types.js';

export type Path = (string | number)[];
export interface Problem {
  path: Path;
  message: string;
}

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected ${DURATION_HINT}, got '${value}'` });
    return z.NEVER;
  }
  return ms;
});
/** An http:// URL (warren's daemons talk plain HTTP on the loopback). */
const httpUrl = z.string().transform((value, ctx) => {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    /* reported below */
  }
  if (!url || url.protocol !== 'http:' || !url.hostname) {
    ctx.addIssue({ code: 'custom', message: `expected an http:// URL (e.g. http://127.0.0.1:8889/status), got '${value}'` });
    return z.NEVER;
  }
  return value;
});
const count = (min: number) => z.number().int().min(min);
const oneOrMany = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

const timeoutSchema = z.strictObject({
  connect: duration.optional(),
  client: duration.optional(),
  server: duration.optional(),
  queue: duration.optional(),
  check: duration.optional(),
  tunnel: duration.optional(),
  'client-fin': duration.optional(),
  'server-fin': duration.optional(),
});

const amqpCheckSchema = z.strictObject({
  user: z.string().optional(),
  password: z.string().optional(),
  vhost: z.string().optional(),
  'on-blocked': z.enum(['fail', 'warn']).optional(),
});

const httpCheckSchema = z.strictObject({
  expect: z.string().optional(),
  auth: z.string().regex(/^[^:]+:.*$/, 'expected user:password').optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const statsSchema = z.strictObject({
  enable: z.boolean().optional(),
  uri: z.string().startsWith('/').optional(),
  refresh: duration.optional(),
  realm: z.string().optional(),
  auth: oneOrMany.optional(),
  admin: z.boolean().optional(),
  'hide-version': z.boolean().optional(),
});

// Keywords valid in `defaults` and in every proxy section.
const commonKeys = {
  mode: z.enum(['tcp', 'http']).optional(),
  balance: z.enum(['roundrobin', 'static-rr', 'leastconn', 'first', 'source']).optional(),
  'hash-type': z.enum(['map-based', 'consistent']).optional(),
  retries: count(0).optional(),
  maxconn: count(1).optional(),
  backlog: count(1).optional(),
  option: oneOrMany.optional(),
  timeout: timeoutSchema.optional(),
  'default-server': z.string().optional(),
  'amqp-check': amqpCheckSchema.optional(),
  'http-check': httpCheckSchema.optional(),
};
const proxyKeys = {
  ...commonKeys,
  bind: oneOrMany.optional(),
  server: z.array(z.string()).optional(),
  default_backend: z.string().optional(),
  use_backend: oneOrMany.optional(),
  stats: statsSchema.optional(),
  'monitor-uri': z.string().startsWith('/').optional(),
};

const sectionSchema = z.strictObject(proxyKeys);
const sections = z.record(z.string(), sectionSchema).optional();

export const proxyFileSchema = z.strictObject({
  global: z
    .strictObject({
      maxconn: count(1).optional(),
      // HAProxy's `nbthread N`: warren runs N worker processes instead of threads (see
      // src/proxy/workers.ts); `auto`: one per CPU. 1 (the default) is the single process.
      nbthread: z.unknown().transform((v, ctx): number | 'auto' => {
        if (v === 'auto' || (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 64)) return v;
        ctx.addIssue({ code: 'custom', message: `expected a number of worker processes (1 to 64) or 'auto', got ${JSON.stringify(v)}` });
        return z.NEVER;
      }).optional(),
      'hard-stop-after': duration.optional(),
      // `stats socket PATH [mode M] [level L]`: the runtime API (served from the stats issue on).
      'stats-socket': z.string().optional(),
      // warren: the local `warren vrrp` status API (JSON), shown in the stats page's VRRP panel.
      'vrrp-status': httpUrl.optional(),
    })
    .optional(),
  defaults: z.strictObject(commonKeys).optional(),
  listen: sections,
  frontend: sections,
  backend: sections,
});

type Section = z.infer<typeof sectionSchema>;
type ProxyFile = z.infer<typeof proxyFileSchema>;

/** Keywords known at each kind of place, for "did you mean" on unknown keys. */
export function knownKeysAt(path: Path): string[] {
  const top = path[0];
  if (path.length === 0) return Object.keys(proxyFileSchema.shape);
  if (top === 'global' && path.length === 1) return Object.keys(proxyFileSchema.shape.global.unwrap().shape);
  if (top === 'defaults' && path.length === 1) return Object.keys(commonKeys);
  const last = path[path.length - 1];
  if (path.length === 2) return Object.keys(proxyKeys);
  if (last === 'timeout') return Object.keys(timeoutSchema.shape);
  if (last === 'stats') return Object.keys(statsSchema.shape);
  if (last === 'amqp-check') return Object.keys(amqpCheckSchema.shape);
  if (last === 'http-check') return Object.keys(httpCheckSchema.shape);
  return [];
}

// ---- resolution -------------------------------------------------------------------------------

const OPTIONS = ['redispatch', 'tcplog', 'dontlognull', 'tcpka', 'allbackups', 'amqp-check', 'httpchk', 'tcp-check'];

interface Options {
  redispatch: number | null;
  tcplog: boolean;
  dontlognull: boolean;
  tcpka: boolean;
  allbackups: boolean;
  check: { type: 'tcp' | 'amqp' | 'http'; method: string; uri: string } | null;
}

function parseOptions(list: string[] | undefined, at: Path, problems: Problem[], into: Options): void {
  (list ?? []).forEach((entry, i) => {
    const [name, ...args] = entry.trim().split(/\s+/);
    const here = [...at, 'option', i];
    switch (name) {
      case 'redispatch': {
        const interval = args[0] === undefined ? -1 : Number(args[0]);
        if (!Number.isInteger(interval) || interval === 0) {
          problems.push({ path: here, message: `'redispatch ${args[0]}': expected a non-zero integer interval` });
        } else into.redispatch = interval;
        return;
      }
      case 'tcplog':
      case 'dontlognull':
      case 'tcpka':
      case 'allbackups':
        into[name] = true;
        return;
      case 'amqp-check':
        into.check = { type: 'amqp', method: 'GET', uri: '/' };
        return;
      case 'tcp-check':
        into.check = { type: 'tcp', method: 'GET', uri: '/' };
        return;
      case 'httpchk':
        // HAProxy: `option httpchk [<method> <uri>]` or `option httpchk <uri>`
        into.check = { type: 'http', method: args.length > 1 ? args[0]! : 'OPTIONS', uri: args[args.length - 1] ?? '/' };
        return;
      default:
        problems.push({ path: here, message: `unknown option '${name}'${didYouMean(name ?? '', OPTIONS)}` });
    }
  });
}


function parseBinds(list: string[], at: Path, problems: Problem[]): BindAddress[] {
  const binds: BindAddress[] = [];
  list.forEach((text, i) => {
    // HAProxy: ':5672' and '*:5672' mean every IPv4 address. Port 0 lets the kernel choose
    // (useful for tests; the bound port is logged at start).
    try {
      binds.push(parseAddress(text.startsWith(':') ? `0.0.0.0${text}` : text, true));
    } catch (err) {
      problems.push({ path: [...at, 'bind', ...(list.length > 1 ? [i] : [])], message: (err as Error).message });
    }
  });
  return binds;
}

const USE_BACKEND = /^(\S+)\s+(if|unless)\s+(.*)$/;

// HAProxy strips every '!' in front of a condition term, glued or not (acl.c parse_acl_cond):
// `if !{ src 10.0.0.0/8 }` and `if ! { src ... }` are its negated forms; warren also takes the
// bare `if ! src ...` and `if { ! src ... }`. (Matching only `{` right after if/unless used to
// reject HAProxy's own `!{ ... }` as "unsupported condition '!{'".)
function stripNegation(text: string, negate: boolean): { text: string; negate: boolean } {
  let t = text.trim();
  while (t.startsWith('!')) {
    negate = !negate;
    t = t.slice(1).trimStart();
  }
  return { text: t, negate };
}

/** A `src`/`dst` value: an address or a CIDR prefix. A `dst_port` value: a port or `lo:hi`. */
function badConditionValue(kind: 'src' | 'dst' | 'dst_port', v: string): boolean {
  if (kind === 'dst_port') {
    const m = /^(\d+)(?::(\d+))?$/.exec(v);
    if (!m) return true;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    return lo < 1 || hi > 65535 || lo > hi;
  }
  const [addr = '', prefix, ...more] = v.split('/');
  const family = isIP(addr);
  if (family === 0 || more.length > 0) return true;
  if (prefix === undefined) return false;
  return !/^\d+$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128);
}

function parseUseBackend(text: string): UseBackendRule | string {
  const m = USE_BACKEND.exec(text.trim());
  if (!m) return `expected '<backend> if|unless <condition>', got '${text}'`;
  let { text: rest, negate } = stripNegation(m[3]!, m[2] === 'unless');
  const braced = /^\{(.*)\}$/.exec(rest);
  if (braced) ({ text: rest, negate } = stripNegation(braced[1]!, negate));
  else if (rest.startsWith('{')) return `missing '}' in '${m[3]!.trim()}'`;
  const [kind, ...values] = rest.split(/\s+/).filter(Boolean);
  if (kind !== 'src' && kind !== 'dst' && kind !== 'dst_port') {
    return `unsupported condition '${kind}': warren's TCP routing understands src, dst and dst_port`;
  }
  if (values.length === 0) return `condition '${kind}' needs at least one value`;
  // Checked here, so that `warren check` reports it with its line instead of the listener
  // throwing at start-up (net.BlockList rejects a malformed address).
  const bad = values.find((v) => badConditionValue(kind, v));
  if (bad !== undefined) {
    return `'${kind} ${bad}': expected ${kind === 'dst_port' ? 'a port (1-65535) or a range lo:hi' : 'an IPv4/IPv6 address or address/prefix'}`;
  }
  return { backend: m[1]!, condition: { negate, kind, values } };
}

const SERVER_DEFAULTS = {
  check: false,
  checkPort: null,
  checkAddr: null,
  inter: 2000,
  rise: 2,
  fall: 3,
  weight: 1,
  backup: false,
  maxconn: 0,
  maxqueue: 0,
  disabled: false,
  slowstart: 0,
  shutdownSessionsOnDown: false,
  observeLayer4: false,
  errorLimit: 10,
  onError: 'fail-check',
  sendProxy: 0,
} satisfies Omit<ServerConfig, 'name' | 'host' | 'port' | 'fastinter' | 'downinter'>;

/** Parses `expect status 200` / `expect status 200,204` / `expect rstatus ^2`. */
function parseExpect(text: string | undefined): { codes: number[]; regex: string | null } | string {
  if (text === undefined) return { codes: [], regex: '^2' };
  const [kind, arg] = text.trim().split(/\s+/, 2);
  if (kind === 'status' && arg && /^\d{3}(,\d{3})*$/.test(arg)) return { codes: arg.split(',').map(Number), regex: null };
  if (kind === 'rstatus' && arg) {
    try {
      new RegExp(arg);
      return { codes: [], regex: arg };
    } catch {
      return `bad regular expression '${arg}'`;
    }
  }
  return `expected 'status <code>[,<code>...]' or 'rstatus <regex>', got '${text}'`;
}

function resolveCheck(s: Section, d: Section, opts: Options, at: Path, problems: Problem[]): CheckConfig {
  const type = opts.check?.type ?? 'tcp';
  const amqp = s['amqp-check'] ?? d['amqp-check'];
  const http = s['http-check'] ?? d['http-check'];
  if (amqp && type !== 'amqp') problems.push({ path: [...at, 'amqp-check'], message: "has no effect without 'option amqp-check'" });
  if (http && type !== 'http') problems.push({ path: [...at, 'http-check'], message: "has no effect without 'option httpchk'" });
  if ((amqp?.user === undefined) !== (amqp?.password === undefined)) {
    problems.push({ path: [...at, 'amqp-check'], message: 'expected both user and password, or neither' });
  }
  let httpConfig: CheckConfig['http'] = null;
  if (type === 'http') {
    const expect = parseExpect(http?.expect);
    if (typeof expect === 'string') problems.push({ path: [...at, 'http-check', 'expect'], message: expect });
    httpConfig = {
      method: opts.check!.method,
      uri: opts.check!.uri,
      expectStatus: typeof expect === 'string' ? [] : expect.codes,
      expectStatusRegex: typeof expect === 'string' ? null : expect.regex,
      auth: http?.auth ?? null,
      headers: http?.headers ?? {},
    };
  }
  return {
    type,
    amqp:
      type === 'amqp'
        ? { user: amqp?.user ?? null, password: amqp?.password ?? null, vhost: amqp?.vhost ?? '/', onBlocked: amqp?.['on-blocked'] ?? 'fail' }
        : null,
    http: httpConfig,
  };
}

function resolveServers(s: Section, d: Section, at: Path, problems: Problem[]): ServerConfig[] {
  let defaultServer: ServerParams = {};
  for (const [where, line] of [
    [['defaults', 'default-server'], d['default-server']],
    [[...at, 'default-server'], s['default-server']],
  ] as const) {
    if (line === undefined) continue;
    try {
      defaultServer = { ...defaultServer, ...parseServerParams(line.trim().split(/\s+/).filter(Boolean)) };
    } catch (err) {
      problems.push({ path: [...where], message: (err as Error).message });
    }
  }
  const servers: ServerConfig[] = [];
  const names = new Set<string>();
  (s.server ?? []).forEach((line, i) => {
    const here = [...at, 'server', i];
    try {
      const parsed = parseServerLine(line);
      if (names.has(parsed.name)) throw new ServerLineError(`duplicate server name '${parsed.name}'`);
      names.add(parsed.name);
      const merged = { ...SERVER_DEFAULTS, ...defaultServer, ...parsed.params };
      // HAProxy: fastinter and downinter default to inter.
      servers.push({
        ...merged,
        fastinter: merged.fastinter ?? merged.inter,
        downinter: merged.downinter ?? merged.inter,
        name: parsed.name,
        host: parsed.host,
        port: parsed.port,
      });
    } catch (err) {
      if (!(err instanceof ServerLineError)) throw err;
      problems.push({ path: here, message: err.message });
    }
  });
  return servers;
}

function resolveStats(name: string, s: Section, at: Path, problems: Problem[]): StatsConfig {
  const stats = s.stats ?? {};
  for (const key of ['server', 'balance', 'default_backend', 'use_backend'] as const) {
    if (s[key] !== undefined) problems.push({ path: [...at, key], message: "not valid in a 'mode: http' stats section" });
  }
  if (!s.stats?.enable && !s['monitor-uri']) {
    problems.push({ path: [...at, 'mode'], message: "'mode: http' is only supported for a stats section: expected 'stats: {enable: true}' or 'monitor-uri'" });
  }
  (stats.auth ?? []).forEach((pair, i) => {
    if (!/^[^:]+:.*$/.test(pair)) problems.push({ path: [...at, 'stats', 'auth', i], message: `expected user:password, got '${pair}'` });
  });
  return {
    name,
    enabled: stats.enable ?? false,
    binds: parseBinds(s.bind ?? [], at, problems),
    uri: stats.uri ?? '/haproxy?stats',
    refresh: stats.refresh ?? null,
    realm: stats.realm ?? 'HAProxy Statistics',
    auth: stats.auth ?? [],
    admin: stats.admin ?? false,
    hideVersion: stats['hide-version'] ?? false,
    monitorUri: s['monitor-uri'] ?? null,
  };
}

function resolveFrontend(name: string, s: Section, d: Section, opts: Options, fromListen: boolean, globalMaxconn: number, at: Path, problems: Problem[]): FrontendConfig {
  const t = { ...d.timeout, ...s.timeout };
  if (t.client === undefined) problems.push({ path: [...at, 'timeout'], message: "missing 'timeout client' (here or in defaults): HAProxy warns, warren requires it so idle clients cannot pile up" });
  const maxconn = s.maxconn ?? d.maxconn ?? globalMaxconn;
  const useBackend: UseBackendRule[] = [];
  (s.use_backend ?? []).forEach((text, i) => {
    const rule = parseUseBackend(text);
    if (typeof rule === 'string') problems.push({ path: [...at, 'use_backend', i], message: rule });
    else useBackend.push(rule);
  });
  if (!s.bind?.length) problems.push({ path: [...at, 'bind'], message: "expected at least one 'bind' address" });
  return {
    name,
    binds: parseBinds(s.bind ?? [], at, problems),
    maxconn,
    backlog: s.backlog ?? d.backlog ?? maxconn,
    timeouts: { client: t.client ?? null, clientFin: t['client-fin'] ?? null, tunnel: t.tunnel ?? null },
    tcplog: opts.tcplog,
    dontlognull: opts.dontlognull,
    tcpka: opts.tcpka,
    defaultBackend: fromListen ? name : (s.default_backend ?? null),
    useBackend,
    fromListen,
  };
}

function resolveBackend(name: string, s: Section, d: Section, opts: Options, fromListen: boolean, at: Path, problems: Problem[]): BackendConfig {
  const t = { ...d.timeout, ...s.timeout };
  if (t.connect === undefined) problems.push({ path: [...at, 'timeout'], message: "missing 'timeout connect' (here or in defaults)" });
  if (t.server === undefined) problems.push({ path: [...at, 'timeout'], message: "missing 'timeout server' (here or in defaults)" });
  const balance: BalanceAlgorithm = s.balance ?? d.balance ?? 'roundrobin';
  const servers = resolveServers(s, d, at, problems);
  if (balance === 'first' && servers.some((sv) => sv.maxconn === 0)) {
    problems.push({ path: [...at, 'balance'], message: "'balance first' needs 'maxconn' on every server (or in default-server)" });
  }
  return {
    name,
    balance,
    hashType: s['hash-type'] ?? d['hash-type'] ?? 'map-based',
    retries: s.retries ?? d.retries ?? 3,
    redispatch: opts.redispatch,
    allbackups: opts.allbackups,
    tcpka: opts.tcpka,
    timeouts: {
      connect: t.connect ?? 5000,
      server: t.server ?? null,
      queue: t.queue ?? t.connect ?? null, // HAProxy: timeout queue defaults to timeout connect
      check: t.check ?? null,
      tunnel: t.tunnel ?? null,
      serverFin: t['server-fin'] ?? null,
    },
    check: resolveCheck(s, d, opts, at, problems),
    servers,
    fromListen,
  };
}

const FRONTEND_ONLY = ['bind', 'default_backend', 'use_backend', 'stats', 'monitor-uri'] as const;
const BACKEND_ONLY = ['server', 'default-server', 'balance', 'hash-type', 'retries', 'amqp-check', 'http-check'] as const;

/** `nbthread`: a number, or `auto` = the CPUs this process may use (at most 64). */
function resolveNbthread(v: number | 'auto' | undefined): number {
  if (v === undefined) return 1;
  if (v === 'auto') return Math.max(1, Math.min(64, os.availableParallelism()));
  return v;
}

/** The runtime config, or the problems that stop it from being one. */
export function resolve(file: ProxyFile, source: string): { config: ProxyConfig | null; problems: Problem[] } {
  const problems: Problem[] = [];
  const d: Section = file.defaults ?? {};
  const globalMaxconn = file.global?.maxconn ?? 4096;
  const defaultsOpts: Options = { redispatch: null, tcplog: false, dontlognull: false, tcpka: false, allbackups: false, check: null };
  parseOptions(d.option, ['defaults'], problems, defaultsOpts);

  const frontends: FrontendConfig[] = [];
  const backends: BackendConfig[] = [];
  const stats: StatsConfig[] = [];
  const proxyNames = new Map<string, string>();

  for (const kind of ['listen', 'frontend', 'backend'] as const) {
    for (const [name, s] of Object.entries(file[kind] ?? {})) {
      const at: Path = [kind, name];
      const badName = nameProblem(kind, name);
      if (badName) problems.push({ path: at, message: badName });
      const clash = proxyNames.get(name);
      if (clash && !(clash === 'frontend' && kind === 'backend')) {
        problems.push({ path: at, message: `name '${name}' is already used by a ${clash} section` });
      }
      proxyNames.set(name, kind);
      const opts: Options = { ...defaultsOpts };
      parseOptions(s.option, at, problems, opts);
      if ((s.mode ?? d.mode) === 'http') {
        if (kind === 'backend') problems.push({ path: [...at, 'mode'], message: "expected 'tcp': warren proxies TCP; 'mode: http' is for a stats section" });
        else stats.push(resolveStats(name, s, at, problems));
        continue;
      }
      if (kind === 'frontend') {
        for (const key of BACKEND_ONLY) {
          if (s[key] !== undefined) problems.push({ path: [...at, key], message: `'${key}' belongs in a backend or listen section` });
        }
      }
      if (kind === 'backend') {
        for (const key of FRONTEND_ONLY) {
          if (s[key] !== undefined) problems.push({ path: [...at, key], message: `'${key}' belongs in a frontend or listen section` });
        }
      }
      if (kind !== 'backend') frontends.push(resolveFrontend(name, s, d, opts, kind === 'listen', globalMaxconn, at, problems));
      if (kind !== 'frontend') backends.push(resolveBackend(name, s, d, opts, kind === 'listen', at, problems));
    }
  }

  const backendNames = new Set(backends.map((b) => b.name));
  for (const fe of frontends) {
    if (fe.fromListen) continue;
    const at: Path = ['frontend', fe.name];
    // (A use_backend rule that failed to parse is reported on its own: not "missing" as well.)
    if (fe.defaultBackend === null && fe.useBackend.length === 0 && !file.frontend?.[fe.name]?.use_backend?.length) {
      problems.push({ path: at, message: "expected 'default_backend' or 'use_backend'" });
    }
    if (fe.defaultBackend !== null && !backendNames.has(fe.defaultBackend)) {
      problems.push({ path: [...at, 'default_backend'], message: `no backend named '${fe.defaultBackend}'${didYouMean(fe.defaultBackend, [...backendNames])}` });
    }
    fe.useBackend.forEach((rule, i) => {
      if (!backendNames.has(rule.backend)) {
        problems.push({ path: [...at, 'use_backend', i], message: `no backend named '${rule.backend}'${didYouMean(rule.backend, [...backendNames])}` });
      }
    });
  }

  const seenBinds = new Map<string, string>();
  for (const { name, binds } of [...frontends, ...stats]) {
    for (const b of binds) {
      if (b.port === 0) continue;
      const key = `${b.host}:${b.port}`;
      const other = seenBinds.get(key);
      if (other) problems.push({ path: [proxyNames.get(name)!, name, 'bind'], message: `${key} is already bound by '${other}'` });
      seenBinds.set(key, name);
    }
  }
  if (frontends.length === 0 && stats.length === 0) {
    problems.push({ path: [], message: "expected at least one 'listen' or 'frontend' section" });
  }

  const config: ProxyConfig = {
    file: source,
    global: {
      maxconn: globalMaxconn,
      nbthread: resolveNbthread(file.global?.nbthread),
      hardStopAfter: file.global?.['hard-stop-after'] ?? null,
      statsSocket: file.global?.['stats-socket'] ?? null,
      vrrpStatus: file.global?.['vrrp-status'] ?? null,
    },
    frontends,
    backends,
    stats,
  };
  return { config: problems.length ? null : config, problems };
}
