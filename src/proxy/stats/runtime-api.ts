// The runtime API on a unix socket (HAProxy's `stats socket PATH mode 600 level admin`): the
// commands operators drive with socat and that hatop uses, with HAProxy 2.6's exact answers.
//
// Protocol, as HAProxy's CLI: the client sends a line; commands in it are separated by ';'.
// Every answer ends with an empty line ("\n" after the body). Without `prompt` (non-interactive)
// the connection closes once the lines received so far are answered; `prompt` toggles the
// interactive mode, in which every answer is followed by the "> " prompt and the connection stays
// open (idle timeout: `set timeout cli`, 10 s by default as HAProxy's `stats timeout`).
// `quit` closes at once. A line longer than MAX_LINE is refused and the connection closed.
//
// The admin commands act only through Server.setAdmin / setWeight / shutdownSessions, and (the
// warren extensions below) Proxy.addressGate / Proxy.shutdownSessionsTo.
//
// warren extensions, not in HAProxy (which has `shutdown session <id>` and `shutdown sessions
// server <bk>/<srv>` but nothing keyed on the address a client connected to), for `warren vrrp`
// leaving MASTER (see address-gate.ts):
//   disable address <addr>       reset new connections accepted on local address <addr> (counted
//                                in the frontend's `dcon`, logged once per burst); answer: empty
//   enable address <addr>        accept them again; answer: empty (both are idempotent)
//   shutdown sessions to <addr>  close every session whose client connected to <addr>, on every
//                                frontend; answer: `closed N sessions to <addr>`
//   show addresses               the disabled addresses: `# address state since_sec reset`
// <addr> is one IPv4 or IPv6 address (IPv4-mapped IPv6 means the IPv4 address); anything else is
// answered with an error text. The vrrp daemon sends, on leaving MASTER,
// `disable address VIP; shutdown sessions to VIP` and then removes the VIP; on becoming MASTER,
// `enable address VIP` before adding it.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../../lib/log.js';
import { parseAddressArg } from '../address-gate.js';
import type { Backend } from '../backend.js';
import type { Proxy } from '../proxy.js';
import type { Server } from '../server.js';
import { atoi, MAX_LINE, parseCliTime, parseWeightChange, splitCommands, usageMessage, type CommandSpec } from './cli-parse.js';
import { CSV_HEADER, csvLine } from './csv.js';
import { renderInfoJson, renderInfoTyped, renderStatJson, renderStatTyped } from './json.js';
import { collectInfo, INFO_FIELDS, listProxies, proxyRows, STAT_TYPE, WARREN_VERSION, type StatRow, type StatsOptions } from './model.js';

export type CliLevel = 'user' | 'operator' | 'admin';
const LEVEL_RANK: Record<CliLevel, number> = { user: 1, operator: 2, admin: 3 };

export interface SocketSpec {
  path: string;
  /** File mode of the socket (null: leave the process umask's). */
  mode: number | null;
  level: CliLevel;
  uid: number | null;
  gid: number | null;
  /** Options accepted for compatibility and ignored (e.g. `expose-fd listeners`), for a log line. */
  ignored: string[];
}

/**
 * Parse the rest of a `stats socket` line: `PATH [mode 600] [level admin|operator|user]
 * [uid N] [gid N] [expose-fd listeners]`. HAProxy's default level is operator. `expose-fd` (a
 * reload mechanism of HAProxy's master-worker mode) is accepted and ignored. Throws on anything else.
 */
export function parseSocketSpec(spec: string): SocketSpec {
  const words = spec.trim().split(/\s+/).filter(Boolean);
  const path = words.shift();
  if (!path) throw new Error("stats socket: expected 'PATH [mode M] [level L]'");
  const out: SocketSpec = { path: path.replace(/^unix@/, ''), mode: null, level: 'operator', uid: null, gid: null, ignored: [] };
  while (words.length > 0) {
    const kw = words.shift()!;
    const val = words.shift();
    if (val === undefined) throw new Error(`stats socket: '${kw}' expects a value`);
    switch (kw) {
      case 'mode':
        if (!/^[0-7]{1,4}$/.test(val)) throw new Error(`stats socket: mode expects an octal number, got '${val}'`);
        out.mode = parseInt(val, 8);
        break;
      case 'level':
        if (val !== 'user' && val !== 'operator' && val !== 'admin') throw new Error(`stats socket: level expects 'user', 'operator' or 'admin', got '${val}'`);
        out.level = val;
        break;
      case 'uid':
      case 'gid':
        if (!/^\d+$/.test(val)) throw new Error(`stats socket: ${kw} expects a number, got '${val}'`);
        out[kw] = Number(val);
        break;
      case 'expose-fd':
        out.ignored.push(`${kw} ${val}`);
        break;
      default:
        throw new Error(`stats socket: unsupported keyword '${kw}' (supported: mode, level, uid, gid, expose-fd)`);
    }
  }
  return out;
}

// ---- the commands ---------------------------------------------------------------------------

/** One CLI session's state. */
export interface CliSession {
  level: CliLevel;
  /** The level the socket was configured with (`user`/`operator` sockets hide addresses, as HAProxy). */
  socketLevel: CliLevel;
  interactive: boolean;
  /** Idle timeout, ms. */
  timeoutMs: number;
}

/** What a command answers: the body (the CLI adds the closing "\n"), or quit. */
type Answer = string | { quit: true };

interface Command extends CommandSpec {
  /** Lowest level allowed to run it. */
  level: CliLevel;
  run(args: string[], ctx: CliContext): Answer;
}

interface CliContext {
  proxy: Proxy;
  session: CliSession;
  log: Logger;
  stats: StatsOptions;
}

const PERMISSION_DENIED = 'Permission denied\n';

/** HAProxy's cli_find_server(): `backend/server`, with its error texts. */
function findServer(proxy: Proxy, arg: string | undefined): Server | string {
  const slash = arg ? arg.indexOf('/') : -1;
  if (!arg || slash < 0) return "Require 'backend/server'.\n";
  const be = proxy.backends.get(arg.slice(0, slash));
  if (!be) return 'No such backend.\n';
  const name = arg.slice(slash + 1);
  const sv = be.servers.find((s) => s.config.name === name);
  if (!sv) return 'No such server.\n';
  return sv;
}

/** Balance algorithms on which HAProxy accepts any weight at run time. */
function dynamicWeights(be: Backend): boolean {
  const b = be.config.balance;
  if (b === 'static-rr') return false;
  if (b === 'source') return be.config.hashType === 'consistent';
  return true;
}

function setWeight(sv: Server, text: string | undefined, log: Logger): string {
  const r = parseWeightChange(text, sv.config.weight, dynamicWeights(sv.backend));
  if ('error' in r) return r.error;
  sv.setWeight(r.weight);
  log.info({ server: sv.id, weight: r.weight }, `runtime API: weight of ${sv.id} set to ${r.weight}`);
  return '';
}

interface StatRequest {
  iid: number;
  type: number;
  sid: number;
  json: boolean;
  typed: boolean;
  up: boolean;
  noMaint: boolean;
}

/** HAProxy's cli_parse_show_stat(): `[iid|name type sid] [json|typed|desc|up|no-maint]*`. */
function parseShowStat(proxy: Proxy, args: string[]): StatRequest | string {
  const req: StatRequest = { iid: -1, type: -1, sid: -1, json: false, typed: false, up: false, noMaint: false };
  let i = 2;
  if (args[i] && args[i + 1] && args[i + 2]) {
    const byName = listProxies(proxy).find((p) => p.name === args[i]);
    req.iid = byName ? byName.iid : atoi(args[i]);
    if (req.iid === 0) return 'No such proxy.\n';
    req.type = atoi(args[i + 1]);
    req.sid = atoi(args[i + 2]);
    i += 3;
  }
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === 'typed') (req.typed = true), (req.json = false);
    else if (a === 'json') (req.json = true), (req.typed = false);
    else if (a === 'up') req.up = true;
    else if (a === 'no-maint') req.noMaint = true;
  }
  return req;
}

const TYPE_BIT = { [STAT_TYPE.FRONTEND]: 1, [STAT_TYPE.BACKEND]: 2, [STAT_TYPE.SERVER]: 4 } as Record<number, number>;

function showStat(ctx: CliContext, args: string[]): string {
  const req = parseShowStat(ctx.proxy, args);
  if (typeof req === 'string') return req;
  const now = Date.now();
  const rows: StatRow[] = [];
  for (const px of listProxies(ctx.proxy)) {
    if (req.iid !== -1 && px.iid !== req.iid) continue;
    let up = 0;
    let total = 0;
    // Only sockets of level operator or admin show addresses and algorithms (HAProxy: STAT_SHLGNDS).
    const pxRows = proxyRows(ctx.proxy, px, now, { ...ctx.stats, showLegends: ctx.session.socketLevel !== 'user' });
    for (const row of pxRows) {
      if (row.type === STAT_TYPE.SERVER) {
        const sv = px.backend?.servers[Number(row.sid) - 1];
        total++;
        if (sv?.usable) up++;
        if (req.noMaint && sv?.admin === 'MAINT') continue;
        if (req.up && sv && (!sv.up || sv.admin === 'MAINT')) continue;
        if (req.sid !== -1 && row.sid !== req.sid) continue;
      }
      if ((req.type & TYPE_BIT[Number(row.type)]!) === 0) continue;
      rows.push(row);
    }
    // With `up` or `no-maint`, HAProxy appends "(usable/total)" to the BACKEND status.
    if (req.up || req.noMaint) {
      for (const row of rows) if (row.type === STAT_TYPE.BACKEND && row.pxname === px.name) row.status = `${row.status} (${up}/${total})`;
    }
  }
  if (req.json) return renderStatJson(rows) + '\n';
  if (req.typed) return renderStatTyped(rows);
  let out = CSV_HEADER;
  for (const r of rows) out += csvLine(r);
  return out;
}

function showInfo(ctx: CliContext, args: string[]): string {
  const info = collectInfo(ctx.proxy);
  const fmt = args.slice(2).reduce<'text' | 'json' | 'typed'>((f, a) => (a === 'json' ? 'json' : a === 'typed' ? 'typed' : f), 'text');
  if (fmt === 'json') return renderInfoJson(info) + '\n';
  if (fmt === 'typed') return renderInfoTyped(info);
  let out = '';
  for (const k of INFO_FIELDS) {
    const v = info[k];
    if (v !== null) out += `${k}: ${v}\n`;
  }
  return out;
}

// HAProxy's numeric states for `show servers state` (srv_op_state, srv_admin_state, check enums).
const HCHK_STATUS: Record<string, number> = {
  UNK: 0, INI: 1, HANA: 4, SOCKERR: 5, L4OK: 6, L4TOUT: 7, L4CON: 8, L6OK: 9, L6TOUT: 10, L6RSP: 11,
  L7TOUT: 12, L7RSP: 13, L7OK: 15, L7OKC: 16, L7STS: 17,
};

const SERVERS_STATE_HEADER =
  '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change ' +
  'srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn ' +
  'srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n';

function serverStateLine(beId: number, sv: Server, now: number): string {
  const c = sv.checks;
  const last = sv.lastCheck;
  const opState = sv.admin === 'MAINT' || !sv.up ? 0 : 2;
  const adminState = sv.admin === 'MAINT' ? (sv.config.disabled ? 5 : 1) : sv.admin === 'DRAIN' ? 8 : 0;
  const checkStatus = c ? (last ? (HCHK_STATUS[String(last.status)] ?? 0) : 1) : 1;
  const checkResult = c && last ? (last.ok ? (last.warning ? 4 : 3) : 2) : 0;
  const health = c ? c.machine.health : sv.config.rise;
  // CHK_ST_CONFIGURED 0x02 | CHK_ST_ENABLED 0x04 | CHK_ST_PAUSED 0x08
  const checkState = c ? 0x06 | (c.isPaused ? 0x08 : 0) : 0;
  return [
    beId,
    sv.backend.config.name,
    sv.index + 1,
    sv.config.name,
    sv.config.host,
    opState,
    adminState,
    sv.userWeight ?? sv.config.weight,
    sv.config.weight,
    Math.max(0, Math.floor((now - sv.lastChange) / 1000)),
    checkStatus,
    checkResult,
    health,
    checkState,
    0,
    0,
    0,
    '-',
    sv.config.port,
    '-',
    0,
    sv.config.checkPort ?? 0,
    sv.config.checkAddr ?? '-',
    '-',
    0,
  ].join(' ');
}

function showServersState(ctx: CliContext, args: string[]): string {
  const pxs = listProxies(ctx.proxy).filter((p) => p.backend);
  let selected = pxs;
  if (args[3]) {
    selected = pxs.filter((p) => p.name === args[3]);
    if (selected.length === 0) return "Can't find backend.\n";
  }
  const now = Date.now();
  let out = SERVERS_STATE_HEADER;
  for (const p of selected) for (const sv of p.backend!.servers) out += serverStateLine(p.iid, sv, now) + '\n';
  return out;
}

function adminServer(ctx: CliContext, args: string[], at: number, action: (sv: Server) => string): string {
  const sv = findServer(ctx.proxy, args[at]);
  if (typeof sv === 'string') return sv;
  return action(sv);
}

function setAdmin(ctx: CliContext, sv: Server, state: 'READY' | 'DRAIN' | 'MAINT'): void {
  ctx.log.info({ server: sv.id, admin: state, via: 'runtime API' }, `runtime API: ${sv.id} set to ${state}`);
  sv.setAdmin(state);
}

// ---- warren extensions: local addresses (see the file comment) ------------------------------

function withAddress(args: string[], at: number, action: (address: string) => string): string {
  const r = parseAddressArg(args[at]);
  return 'error' in r ? r.error : action(r.address);
}

function disableAddress(ctx: CliContext, address: string): string {
  if (ctx.proxy.addressGate.disable(address)) {
    ctx.log.info({ address, via: 'runtime API' }, `runtime API: address ${address} disabled: new connections to it are reset`);
  }
  return '';
}

function enableAddress(ctx: CliContext, address: string): string {
  const was = ctx.proxy.addressGate.enable(address);
  if (was) {
    ctx.log.info(
      { address, via: 'runtime API', reset: was.reset, disabledMs: Date.now() - was.since },
      `runtime API: address ${address} enabled again (${was.reset} connection${was.reset === 1 ? '' : 's'} reset while disabled)`,
    );
  }
  return '';
}

function shutdownSessionsTo(ctx: CliContext, address: string): string {
  const workers = ctx.proxy.cluster?.workers?.();
  if (workers) {
    // nbthread > 1: the sessions are in the workers; they close them as the message arrives.
    ctx.proxy.shutdownSessionsTo(address);
    ctx.log.info({ address, workers: workers.length, via: 'runtime API' }, `runtime API: shut down the sessions to ${address} (in ${workers.length} workers)`);
    return `closing the sessions to ${address} in ${workers.length} workers\n`;
  }
  const n = ctx.proxy.shutdownSessionsTo(address);
  ctx.log.info({ address, killed: n, via: 'runtime API' }, `runtime API: shut down ${n} sessions to ${address}`);
  return `closed ${n} sessions to ${address}\n`;
}

/** `show workers` (warren): nbthread's worker processes, or this single process. */
function showWorkers(ctx: CliContext): string {
  const pc = ctx.proxy.limit.counters;
  const rows = ctx.proxy.cluster?.workers?.() ?? [
    { id: 0, pid: process.pid, cur: pc.cur, total: pc.total, rate: pc.rate.read(Date.now()), uptimeSec: Math.floor((Date.now() - ctx.proxy.startedAt) / 1000) },
  ];
  return '# worker pid scur stot rate uptime_sec\n' + rows.map((w) => `${w.id} ${w.pid} ${w.cur} ${w.total} ${w.rate} ${w.uptimeSec}\n`).join('');
}

function showAddresses(ctx: CliContext): string {
  const now = Date.now();
  let out = '# address state since_sec reset\n';
  for (const a of ctx.proxy.addressGate.list()) out += `${a.address} disabled ${Math.max(0, Math.floor((now - a.since) / 1000))} ${a.reset}\n`;
  return out;
}

const SET_SERVER_USAGE =
  'usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n';

// Usage strings are HAProxy 2.6's, so that `help` reads the same; warren lists what it implements.
export const COMMANDS: readonly Command[] = [
  {
    words: ['disable', 'server'],
    usage: "disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    level: 'admin',
    run: (args, ctx) => adminServer(ctx, args, 2, (sv) => (setAdmin(ctx, sv, 'MAINT'), '')),
  },
  {
    words: ['disable', 'address'],
    usage: 'disable address <addr>                  : reset new connections to a local address (warren)',
    level: 'admin',
    run: (args, ctx) => withAddress(args, 2, (a) => disableAddress(ctx, a)),
  },
  {
    words: ['enable', 'address'],
    usage: 'enable address <addr>                   : accept connections to a disabled local address again (warren)',
    level: 'admin',
    run: (args, ctx) => withAddress(args, 2, (a) => enableAddress(ctx, a)),
  },
  {
    words: ['enable', 'server'],
    usage: "enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    level: 'admin',
    run: (args, ctx) =>
      adminServer(ctx, args, 2, (sv) => {
        // HAProxy's enable clears the forced maintenance only (a drained server stays drained).
        if (sv.admin === 'MAINT') setAdmin(ctx, sv, 'READY');
        return '';
      }),
  },
  {
    words: ['get', 'weight'],
    usage: "get weight <bk>/<srv>                   : report a server's current weight",
    level: 'user',
    run: (args, ctx) => adminServer(ctx, args, 2, (sv) => `${sv.userWeight ?? sv.config.weight} (initial ${sv.config.weight})\n`),
  },
  {
    words: ['operator'],
    usage: 'operator                                : lower the level of the current CLI session to operator',
    level: 'operator',
    run: (_args, ctx) => {
      ctx.session.level = 'operator';
      return '';
    },
  },
  {
    words: ['set', 'server'],
    usage: "set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
    level: 'admin',
    run: (args, ctx) =>
      adminServer(ctx, args, 2, (sv) => {
        const what = args[3];
        if (what === 'state') {
          const st = args[4];
          if (st === 'ready') setAdmin(ctx, sv, 'READY');
          else if (st === 'drain') setAdmin(ctx, sv, 'DRAIN');
          else if (st === 'maint') setAdmin(ctx, sv, 'MAINT');
          else return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n";
          return '';
        }
        if (what === 'weight') return setWeight(sv, args[4], ctx.log);
        if (['addr', 'agent', 'agent-addr', 'agent-port', 'agent-send', 'check-addr', 'check-port', 'fqdn', 'health', 'ssl'].includes(what ?? '')) {
          return `'set server <srv> ${what}' is not supported by warren (supported: state, weight).\n`;
        }
        return SET_SERVER_USAGE;
      }),
  },
  {
    words: ['set', 'timeout'],
    usage: 'set timeout [cli] <delay>               : change a timeout setting',
    level: 'user',
    run: (args, ctx) => {
      if (args[2] !== 'cli') return "'set timeout' only supports 'cli'.\n";
      if (!args[3]) return 'Expects an integer value.\n';
      const ms = parseCliTime(args[3]);
      if (ms === null || ms < 1) return 'Invalid timeout value.\n';
      ctx.session.timeoutMs = ms;
      return '';
    },
  },
  {
    words: ['set', 'weight'],
    usage: "set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    level: 'admin',
    run: (args, ctx) => adminServer(ctx, args, 2, (sv) => setWeight(sv, args[3], ctx.log)),
  },
  {
    words: ['show', 'addresses'],
    usage: "show addresses                          : list the local addresses disabled by 'disable address' (warren)",
    level: 'operator',
    run: (_args, ctx) => showAddresses(ctx),
  },
  {
    words: ['show', 'backend'],
    usage: 'show backend                            : list backends in the current running config',
    level: 'user',
    run: (_args, ctx) => '# name\n' + listProxies(ctx.proxy).filter((p) => p.backend || p.stats).map((p) => `${p.name}\n`).join(''),
  },
  {
    words: ['show', 'cli', 'level'],
    usage: 'show cli level                          : display the level of the current CLI session',
    level: 'user',
    run: (_args, ctx) => `${ctx.session.level}\n`,
  },
  {
    words: ['show', 'info'],
    usage: 'show info [desc|json|typed|float]*      : report information about the running process',
    level: 'user',
    run: (args, ctx) => showInfo(ctx, args),
  },
  {
    words: ['show', 'servers', 'state'],
    usage: 'show servers state [<backend>]          : dump volatile server information (all or for a single backend)',
    level: 'user',
    run: (args, ctx) => showServersState(ctx, args),
  },
  {
    words: ['show', 'stat'],
    usage: 'show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server',
    level: 'user',
    run: (args, ctx) => showStat(ctx, args),
  },
  {
    words: ['show', 'version'],
    usage: 'show version                            : show version of the current process',
    level: 'user',
    run: () => `${WARREN_VERSION}\n`,
  },
  {
    words: ['show', 'workers'],
    usage: 'show workers                            : list the worker processes (nbthread) and their sessions (warren)',
    level: 'operator',
    run: (_args, ctx) => showWorkers(ctx),
  },
  {
    words: ['shutdown', 'sessions', 'server'],
    usage: 'shutdown sessions server <bk>/<srv>     : kill sessions on a server',
    level: 'admin',
    run: (args, ctx) =>
      adminServer(ctx, args, 3, (sv) => {
        const n = sv.shutdownSessions();
        if (ctx.proxy.cluster?.role === 'primary') ctx.log.info({ server: sv.id }, `runtime API: shutting down the sessions on ${sv.id} in the workers`);
        else ctx.log.info({ server: sv.id, killed: n }, `runtime API: shut down ${n} sessions on ${sv.id}`);
        return '';
      }),
  },
  {
    words: ['shutdown', 'sessions', 'to'],
    usage: 'shutdown sessions to <addr>             : kill sessions whose client connected to a local address (warren)',
    level: 'admin',
    run: (args, ctx) => withAddress(args, 3, (a) => shutdownSessionsTo(ctx, a)),
  },
  {
    words: ['user'],
    usage: 'user                                    : lower the level of the current CLI session to user',
    level: 'user',
    run: (_args, ctx) => {
      ctx.session.level = 'user';
      return '';
    },
  },
];

function findCommand(args: string[]): Command | null {
  for (const c of COMMANDS) if (c.words.every((w, i) => args[i] === w)) return c;
  return null;
}

/**
 * Run one command (already split into words) and return its answer without the closing "\n"
 * (null for `quit`; the 'prompt' toggle is applied to the session).
 */
export function executeCommand(args: string[], ctx: CliContext): string | null {
  const first = args[0];
  if (first === 'quit') return null;
  if (first === 'prompt') {
    ctx.session.interactive = !ctx.session.interactive;
    return '';
  }
  if (first === 'help') return usageMessage(COMMANDS, args.slice(1), true);
  const cmd = findCommand(args);
  if (!cmd) return usageMessage(COMMANDS, args, false);
  if (LEVEL_RANK[ctx.session.level] < LEVEL_RANK[cmd.level]) return PERMISSION_DENIED;
  const answer = cmd.run(args, ctx);
  return typeof answer === 'string' ? answer : null;
}

// ---- the socket -----------------------------------------------------------------------------

export interface RuntimeApi {
  /** The socket path. */
  path: string;
  close(): Promise<void>;
}

export interface RuntimeApiOptions {
  stats?: StatsOptions;
  /** Default idle timeout (HAProxy's `stats timeout`), ms. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Concurrent CLI connections; more are closed at once (HAProxy queues past its 10). */
const MAX_CLIENTS = 100;

/** Is something accepting connections on this unix socket? */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (alive: boolean): void => {
      s.destroy();
      resolve(alive);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

async function prepareSocketPath(path: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // Under systemd RuntimeDirectory= makes /run/warren; run by hand, make it here.
    fs.mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    return;
  }
  if (!st.isSocket()) throw new Error(`stats socket: ${path} exists and is not a socket; refusing to replace it`);
  if (await socketAlive(path)) throw new Error(`stats socket: ${path} is in use by a running process`);
  fs.unlinkSync(path); // a stale socket left by a process that died
}

export async function startRuntimeApi(spec: string, proxy: Proxy, log: Logger, opts: RuntimeApiOptions = {}): Promise<RuntimeApi> {
  const sock = parseSocketSpec(spec);
  if (sock.ignored.length > 0) log.info({ ignored: sock.ignored }, `stats socket: ignoring ${sock.ignored.join(', ')} (not needed by warren)`);
  await prepareSocketPath(sock.path);
  const clients = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (c) => handleClient(c, sock.level, proxy, log, opts, clients));
  server.maxConnections = MAX_CLIENTS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // The socket is created with the final mode (no window where it is wider): umask during bind.
    const oldMask = sock.mode !== null ? process.umask(0o777 & ~sock.mode) : null;
    try {
      server.listen(sock.path, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      if (oldMask !== null) process.umask(oldMask);
    }
  });
  if (sock.mode !== null) fs.chmodSync(sock.path, sock.mode);
  if (sock.uid !== null || sock.gid !== null) fs.chownSync(sock.path, sock.uid ?? -1, sock.gid ?? -1);
  server.on('error', (err) => log.error({ err, path: sock.path }, 'stats socket error'));
  log.info({ path: sock.path, level: sock.level }, `runtime API listening on ${sock.path}`);
  return {
    path: sock.path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.destroy();
        server.close(() => {
          try {
            if (fs.lstatSync(sock.path).isSocket()) fs.unlinkSync(sock.path);
          } catch {
            /* already gone */
          }
          resolve();
        });
      }),
  };
}

function handleClient(client: net.Socket, level: CliLevel, proxy: Proxy, log: Logger, opts: RuntimeApiOptions, clients: Set<net.Socket>): void {
  clients.add(client);
  const session: CliSession = { level, socketLevel: level, interactive: false, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS };
  const ctx: CliContext = { proxy, session, log, stats: opts.stats ?? {} };
  const decoder = new StringDecoder('utf8');
  let buffer = '';
  let closed = false;
  client.setTimeout(session.timeoutMs);
  client.on('timeout', () => client.destroy());
  client.on('error', () => client.destroy());
  client.on('close', () => {
    closed = true;
    clients.delete(client);
  });
  client.on('end', () => {
    // The client finished sending: whatever is not a complete line is dropped, as HAProxy does.
    if (!closed) client.end();
  });

  const finish = (): void => {
    closed = true;
    // nbthread > 1: actions on sessions run in the workers; end the answer once they have.
    const flush = proxy.cluster?.flush?.();
    if (flush) void flush.then(() => client.end());
    else client.end();
  };

  client.on('data', (chunk: Buffer) => {
    if (closed) return;
    buffer += decoder.write(chunk);
    let nl: number;
    while (!closed && (nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.length > MAX_LINE) return refuseLongLine();
      runLine(line);
      if (!closed && !session.interactive && buffer.indexOf('\n') < 0) finish();
    }
    if (!closed && buffer.length > MAX_LINE) refuseLongLine();
    if (!closed) client.setTimeout(session.timeoutMs);
  });

  function refuseLongLine(): void {
    log.warn({ bytes: buffer.length }, 'runtime API: command line too long; connection closed');
    client.write(`Command line too long (limit ${MAX_LINE} bytes).\n\n`);
    buffer = '';
    finish();
  }

  function runLine(line: string): void {
    for (const args of splitCommands(line)) {
      let answer: string | null;
      try {
        answer = executeCommand(args, ctx);
      } catch (err) {
        log.error({ err, command: args.join(' ') }, 'runtime API command failed');
        answer = 'Internal error.\n';
      }
      if (answer === null) {
        finish();
        return;
      }
      client.write(answer + '\n' + (session.interactive ? '> ' : ''));
    }
  }
}
