// The stats model: one row per FRONTEND, server and BACKEND of every proxy, keyed by HAProxy
// 2.6's `show stat` field names, plus the `show info` process fields. Every stats output (CSV,
// JSON, HTML, Prometheus, runtime API) is rendered from these rows; nothing here touches a socket.
//
// Rows follow HAProxy's order: proxies in declaration order (a `listen` section is one proxy,
// its FRONTEND row first), inside a proxy the FRONTEND row, then one row per server in config
// order, then the BACKEND row. `stats` sections (`mode http` listen with `stats enable`) come
// last, as a FRONTEND and a BACKEND row like HAProxy shows them.

import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { StatsConfig } from '../../config/types.js';
import { checkStatusDescription } from '../check/health.js';
import type { Backend } from '../backend.js';
import type { TrafficCounters } from '../counters.js';
import type { Frontend } from '../frontend.js';
import type { Proxy } from '../proxy.js';
import type { Server } from '../server.js';

/** HAProxy 2.6's `show stat` header, field by field, in its exact order (the CSV columns). */
export const STAT_FIELDS = [
  'pxname', 'svname', 'qcur', 'qmax', 'scur', 'smax', 'slim', 'stot', 'bin', 'bout',
  'dreq', 'dresp', 'ereq', 'econ', 'eresp', 'wretr', 'wredis', 'status', 'weight', 'act',
  'bck', 'chkfail', 'chkdown', 'lastchg', 'downtime', 'qlimit', 'pid', 'iid', 'sid', 'throttle',
  'lbtot', 'tracked', 'type', 'rate', 'rate_lim', 'rate_max', 'check_status', 'check_code', 'check_duration', 'hrsp_1xx',
  'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other', 'hanafail', 'req_rate', 'req_rate_max', 'req_tot', 'cli_abrt',
  'srv_abrt', 'comp_in', 'comp_out', 'comp_byp', 'comp_rsp', 'lastsess', 'last_chk', 'last_agt', 'qtime', 'ctime',
  'rtime', 'ttime', 'agent_status', 'agent_code', 'agent_duration', 'check_desc', 'agent_desc', 'check_rise', 'check_fall', 'check_health',
  'agent_rise', 'agent_fall', 'agent_health', 'addr', 'cookie', 'mode', 'algo', 'conn_rate', 'conn_rate_max', 'conn_tot',
  'intercepted', 'dcon', 'dses', 'wrew', 'connect', 'reuse', 'cache_lookups', 'cache_hits', 'srv_icur', 'src_ilim',
  'qtime_max', 'ctime_max', 'rtime_max', 'ttime_max', 'eint', 'idle_conn_cur', 'safe_conn_cur', 'used_conn_cur', 'need_conn_est', 'uweight',
  'agg_server_status', 'agg_server_check_status', 'agg_check_status', '-', 'ssl_sess', 'ssl_reused_sess', 'ssl_failed_handshake', 'h2_headers_rcvd', 'h2_data_rcvd', 'h2_settings_rcvd',
  'h2_rst_stream_rcvd', 'h2_goaway_rcvd', 'h2_detected_conn_protocol_errors', 'h2_detected_strm_protocol_errors', 'h2_rst_stream_resp', 'h2_goaway_resp', 'h2_open_connections', 'h2_backend_open_streams', 'h2_total_connections', 'h2_backend_total_streams',
  'h1_open_connections', 'h1_open_streams', 'h1_total_connections', 'h1_total_streams', 'h1_bytes_in', 'h1_bytes_out', 'h1_spliced_bytes_in', 'h1_spliced_bytes_out',
] as const;

export type StatField = (typeof STAT_FIELDS)[number];

/** A field value: a number (always an integer), a string, or null for an empty CSV cell. */
export type StatValue = number | string | null;

/**
 * One line of `show stat`: a FRONTEND, a server or a BACKEND of one proxy.
 *
 * Keys are HAProxy 2.6's CSV field names (see STAT_FIELDS and HAProxy's management.txt §9.1);
 * null means the cell is empty in HAProxy's CSV for that kind of row. The ones a page needs:
 * - pxname, svname ('FRONTEND' | server name | 'BACKEND'), type (0 frontend, 1 backend, 2 server)
 * - qcur/qmax/qlimit (queue), rate/rate_lim/rate_max (sessions per second)
 * - scur/smax/slim/stot (sessions), lbtot, bin/bout (bytes), dreq/dresp, ereq/econ/eresp, wretr/wredis
 * - status: 'OPEN' | 'FULL' (frontend), 'UP' | 'DOWN' (backend), and for servers 'UP', 'DOWN',
 *   'UP 1/3' (going down), 'DOWN 1/2' (going up), 'MAINT', 'DRAIN', 'no check'
 * - lastchg / downtime (seconds), lastsess (seconds, -1: never), weight (effective), uweight
 *   (user-set), act/bck (server: 1/0 active or backup; backend: usable active/backup servers),
 *   chkfail/chkdown, check_status ('L4OK', 'L4CON', ..., null when not checked),
 *   check_code, check_duration (ms), check_desc, last_chk (check error text), check_rise/
 *   check_fall/check_health, throttle (slowstart %), addr ('host:port'), mode, algo.
 */
export type StatRow = Record<StatField, StatValue>;

export const STAT_TYPE = { FRONTEND: 0, BACKEND: 1, SERVER: 2 } as const;

/** What collectStats may be told beyond the proxy itself. */
export interface StatsOptions {
  /** Counters of a stats section's HTTP listener (by section name), when the HTTP server keeps them. */
  statsCounters?: (section: string) => TrafficCounters | undefined;
  /** Clock for tests (ms since epoch). */
  now?: number;
  /**
   * Show the "legends" (server `addr`, backend `algo`), as HAProxy does on operator/admin
   * sockets and on a stats page with `stats show-legends`; HAProxy's plain HTTP `;csv` and
   * user-level sockets leave them empty. Default true.
   */
  showLegends?: boolean;
}

/** One proxy as HAProxy numbers them: a listen/frontend/backend name with its parts. */
export interface ProxyEntry {
  name: string;
  /** HAProxy's proxy id (`iid`, `be_id`). */
  iid: number;
  frontend: Frontend | null;
  backend: Backend | null;
  stats: StatsConfig | null;
}

/**
 * The proxies in HAProxy's order with their ids. HAProxy gives id 1 to the hidden CLI proxy
 * ("GLOBAL") when a `stats socket` is declared, and the user's proxies follow from there.
 */
export function listProxies(proxy: Proxy): ProxyEntry[] {
  const out: ProxyEntry[] = [];
  const byName = new Map<string, ProxyEntry>();
  let iid = proxy.config.global.statsSocket ? 2 : 1;
  const entry = (name: string): ProxyEntry => {
    let e = byName.get(name);
    if (!e) {
      e = { name, iid: iid++, frontend: null, backend: null, stats: null };
      byName.set(name, e);
      out.push(e);
    }
    return e;
  };
  for (const fe of proxy.frontends) {
    const e = entry(fe.config.name);
    e.frontend = fe;
    // A listen section's backend shares its name and its place.
    const be = proxy.backends.get(fe.config.name);
    if (be) e.backend = be;
  }
  for (const be of proxy.backends.values()) entry(be.config.name).backend = be;
  for (const sc of proxy.config.stats) entry(sc.name).stats = sc;
  return out;
}

function emptyRow(): StatRow {
  const row = {} as StatRow;
  for (const f of STAT_FIELDS) row[f] = null;
  return row;
}

const secondsSince = (now: number, t: number): number => Math.max(0, Math.floor((now - t) / 1000));

/** HAProxy's `addr` cell: `host:port`, IPv6 in brackets. */
export function formatAddr(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Process-wide zero-valued fields that a FRONTEND or BACKEND row prints as 0 in TCP mode. */
const PROXY_ZERO_TAIL: StatField[] = [
  'ssl_sess', 'ssl_reused_sess', 'ssl_failed_handshake', 'h2_headers_rcvd', 'h2_data_rcvd', 'h2_settings_rcvd',
  'h2_rst_stream_rcvd', 'h2_goaway_rcvd', 'h2_detected_conn_protocol_errors', 'h2_detected_strm_protocol_errors',
  'h2_rst_stream_resp', 'h2_goaway_resp', 'h2_open_connections', 'h2_backend_open_streams', 'h2_total_connections',
  'h2_backend_total_streams', 'h1_open_connections', 'h1_open_streams', 'h1_total_connections', 'h1_total_streams',
  'h1_bytes_in', 'h1_bytes_out', 'h1_spliced_bytes_in', 'h1_spliced_bytes_out',
];

function setZero(row: StatRow, fields: readonly StatField[]): void {
  for (const f of fields) row[f] = 0;
}

function frontendRow(name: string, iid: number, c: TrafficCounters, maxconn: number, mode: 'tcp' | 'http', status: string, denied: number, now: number): StatRow {
  const row = emptyRow();
  row.pxname = name;
  row.svname = 'FRONTEND';
  row.scur = c.cur;
  row.smax = c.max;
  row.slim = maxconn;
  row.stot = c.total;
  row.bin = c.bytesIn;
  row.bout = c.bytesOut;
  setZero(row, ['dreq', 'dresp', 'ereq']);
  row.status = status;
  row.pid = 1;
  row.iid = iid;
  row.sid = 0;
  row.type = STAT_TYPE.FRONTEND;
  row.rate = c.rate.read(now);
  row.rate_lim = 0;
  row.rate_max = c.rate.max;
  if (mode === 'http') setZero(row, ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other']);
  row.req_rate = 0;
  row.req_rate_max = 0;
  row.req_tot = mode === 'http' ? c.total : 0;
  setZero(row, ['comp_in', 'comp_out', 'comp_byp', 'comp_rsp']);
  row.mode = mode;
  row.conn_rate = row.rate;
  row.conn_rate_max = c.rate.max;
  row.conn_tot = c.total + denied;
  if (mode === 'http') row.intercepted = 0;
  row.dcon = denied;
  row.dses = 0;
  row.wrew = 0;
  if (mode === 'http') setZero(row, ['cache_lookups', 'cache_hits']);
  row.eint = 0;
  row['-'] = '-';
  setZero(row, PROXY_ZERO_TAIL);
  return row;
}

function serverRow(s: Server, iid: number, now: number): StatRow {
  const row = emptyRow();
  const c = s.counters;
  const checks = s.checks;
  const last = s.lastCheck;
  row.pxname = s.backend.config.name;
  row.svname = s.config.name;
  row.qcur = s.queue.length;
  row.qmax = s.queue.max;
  row.scur = c.cur;
  row.smax = c.max;
  row.slim = s.config.maxconn > 0 ? s.config.maxconn : null;
  row.stot = c.total;
  row.bin = c.bytesIn;
  row.bout = c.bytesOut;
  row.dresp = 0;
  row.econ = c.connectErrors;
  row.eresp = c.responseErrors;
  row.wretr = c.retries;
  row.wredis = c.redispatches;
  row.status = s.status;
  row.weight = s.weight;
  row.act = s.config.backup ? 0 : 1;
  row.bck = s.config.backup ? 1 : 0;
  if (checks) {
    row.chkfail = checks.machine.counters.failedChecks;
    row.chkdown = checks.machine.counters.downTransitions;
  }
  row.lastchg = secondsSince(now, s.lastChange);
  if (checks) row.downtime = Math.floor((s.downtimeMs + (s.downSince !== null ? now - s.downSince : 0)) / 1000);
  row.qlimit = s.config.maxqueue > 0 ? s.config.maxqueue : null;
  row.pid = 1;
  row.iid = iid;
  row.sid = s.index + 1;
  row.throttle = s.throttle;
  row.lbtot = c.total;
  row.type = STAT_TYPE.SERVER;
  row.rate = c.rate.read(now);
  row.rate_max = c.rate.max;
  // HAProxy shows the check columns only while checks run (not paused by maintenance).
  if (checks && !checks.isPaused) {
    row.check_status = last ? last.status : 'INI';
    row.check_code = last?.code ?? null;
    row.check_duration = last && last.durationMs >= 0 ? Math.round(last.durationMs) : null;
    row.check_desc = checkStatusDescription(last ? String(last.status) : 'INI');
    // HAProxy's check contents / error text; an empty string (not an absent field) when none.
    row.last_chk = last?.desc ?? '';
    row.check_rise = checks.machine.rise;
    row.check_fall = checks.machine.fall;
    row.check_health = checks.machine.health;
  }
  if (checks && s.config.observeLayer4) row.hanafail = checks.machine.counters.failedHana;
  row.cli_abrt = 0;
  row.srv_abrt = 0;
  row.lastsess = s.lastSessionAt === null ? -1 : secondsSince(now, s.lastSessionAt);
  setZero(row, ['qtime', 'ctime', 'rtime', 'ttime']);
  row.addr = formatAddr(s.config.host, s.config.port);
  row.mode = 'tcp';
  row.wrew = 0;
  row.connect = c.total + c.retries;
  row.reuse = 0;
  row.srv_icur = 0;
  setZero(row, ['qtime_max', 'ctime_max', 'rtime_max', 'ttime_max', 'eint', 'idle_conn_cur', 'safe_conn_cur', 'used_conn_cur']);
  row.need_conn_est = c.cur;
  row.uweight = s.userWeight ?? s.config.weight;
  row['-'] = '-';
  setZero(row, ['ssl_sess', 'ssl_reused_sess', 'ssl_failed_handshake']);
  return row;
}

/** HAProxy's default `fullconn`: 10% of the maxconn of the frontends that can use the backend. */
function fullconn(proxy: Proxy, be: Backend): number {
  let sum = 0;
  for (const fe of proxy.frontends) {
    const c = fe.config;
    if (c.defaultBackend === be.config.name || c.useBackend.some((r) => r.backend === be.config.name)) sum += c.maxconn;
  }
  return Math.ceil(sum / 10);
}

function backendRow(proxy: Proxy, be: Backend, iid: number, now: number): StatRow {
  const row = emptyRow();
  const c = be.counters;
  let econ = 0, eresp = 0, wretr = 0, wredis = 0, lbtot = 0, connect = 0;
  let lastSession: number | null = null;
  let actW = 0, bckW = 0, actU = 0, bckU = 0, act = 0, bck = 0;
  for (const s of be.servers) {
    econ += s.counters.connectErrors;
    eresp += s.counters.responseErrors;
    wretr += s.counters.retries;
    wredis += s.counters.redispatches;
    lbtot += s.counters.total;
    connect += s.counters.total + s.counters.retries;
    if (s.lastSessionAt !== null && (lastSession === null || s.lastSessionAt > lastSession)) lastSession = s.lastSessionAt;
    if (!s.usable) continue;
    const uw = s.userWeight ?? s.config.weight;
    if (s.config.backup) {
      bck++;
      bckW += s.weight;
      bckU += uw;
    } else {
      act++;
      actW += s.weight;
      actU += uw;
    }
  }
  // HAProxy's total weight is the active servers', or the backups' when no active one is usable.
  const useBackups = act === 0;
  row.pxname = be.config.name;
  row.svname = 'BACKEND';
  row.qcur = be.queue.length;
  row.qmax = be.queue.max;
  row.scur = c.cur;
  row.smax = c.max;
  row.slim = fullconn(proxy, be);
  row.stot = c.total;
  row.bin = c.bytesIn;
  row.bout = c.bytesOut;
  row.dreq = 0;
  row.dresp = 0;
  row.econ = econ;
  row.eresp = eresp;
  row.wretr = wretr;
  row.wredis = wredis;
  row.status = be.isUp ? 'UP' : 'DOWN';
  row.weight = useBackups ? bckW : actW;
  row.act = act;
  row.bck = bck;
  row.chkdown = be.downTransitions;
  row.lastchg = secondsSince(now, be.lastChange);
  if (be.servers.length > 0) row.downtime = Math.floor((be.downtimeMs + (be.downSince !== null ? now - be.downSince : 0)) / 1000);
  row.pid = 1;
  row.iid = iid;
  row.sid = 0;
  row.lbtot = lbtot;
  row.type = STAT_TYPE.BACKEND;
  row.rate = c.rate.read(now);
  row.rate_max = c.rate.max;
  row.cli_abrt = 0;
  row.srv_abrt = 0;
  setZero(row, ['comp_in', 'comp_out', 'comp_byp', 'comp_rsp']);
  row.lastsess = lastSession === null ? -1 : secondsSince(now, lastSession);
  setZero(row, ['qtime', 'ctime', 'rtime', 'ttime']);
  row.mode = 'tcp';
  row.algo = be.config.balance;
  row.wrew = 0;
  row.connect = connect;
  row.reuse = 0;
  setZero(row, ['qtime_max', 'ctime_max', 'rtime_max', 'ttime_max', 'eint']);
  row.uweight = useBackups ? bckU : actU;
  setZero(row, ['agg_server_status', 'agg_server_check_status', 'agg_check_status']);
  row['-'] = '-';
  setZero(row, PROXY_ZERO_TAIL);
  return row;
}

/** The BACKEND row of a stats section (HAProxy shows its stats applet's backend, no servers). */
function statsBackendRow(name: string, iid: number, c: TrafficCounters, maxconn: number, startedAt: number, now: number): StatRow {
  const row = emptyRow();
  row.pxname = name;
  row.svname = 'BACKEND';
  setZero(row, ['qcur', 'qmax']);
  row.scur = c.cur;
  row.smax = c.max;
  row.slim = Math.ceil(maxconn / 10);
  row.stot = c.total;
  row.bin = c.bytesIn;
  row.bout = c.bytesOut;
  setZero(row, ['dreq', 'dresp', 'econ', 'eresp', 'wretr', 'wredis']);
  row.status = 'UP';
  setZero(row, ['weight', 'act', 'bck', 'chkdown']);
  row.lastchg = secondsSince(now, startedAt);
  row.pid = 1;
  row.iid = iid;
  row.sid = 0;
  row.lbtot = 0;
  row.type = STAT_TYPE.BACKEND;
  row.rate = c.rate.read(now);
  row.rate_max = c.rate.max;
  setZero(row, ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other']);
  row.req_tot = 0;
  setZero(row, ['cli_abrt', 'srv_abrt', 'comp_in', 'comp_out', 'comp_byp', 'comp_rsp']);
  row.lastsess = -1;
  setZero(row, ['qtime', 'ctime', 'rtime', 'ttime']);
  row.mode = 'http';
  row.algo = 'roundrobin'; // HAProxy's default balance, which a stats backend keeps
  setZero(row, ['wrew', 'connect', 'reuse', 'cache_lookups', 'cache_hits', 'qtime_max', 'ctime_max', 'rtime_max', 'ttime_max', 'eint', 'uweight']);
  setZero(row, ['agg_server_status', 'agg_server_check_status', 'agg_check_status']);
  row['-'] = '-';
  setZero(row, PROXY_ZERO_TAIL);
  return row;
}

/** Every stats row, in HAProxy's order (see the file comment). */
export function collectStats(proxy: Proxy, opts: StatsOptions = {}): StatRow[] {
  const now = opts.now ?? Date.now();
  const rows: StatRow[] = [];
  for (const e of listProxies(proxy)) rows.push(...proxyRows(proxy, e, now, opts));
  return rows;
}

/** The rows of one proxy: FRONTEND, servers, BACKEND (those it has). */
export function proxyRows(proxy: Proxy, e: ProxyEntry, now = Date.now(), opts: StatsOptions = {}): StatRow[] {
  const rows: StatRow[] = [];
  if (e.frontend) {
    const fe = e.frontend;
    const full = fe.counters.cur >= fe.config.maxconn;
    rows.push(frontendRow(e.name, e.iid, fe.counters, fe.config.maxconn, 'tcp', full ? 'FULL' : 'OPEN', fe.denied, now));
  }
  if (e.backend) {
    for (const s of e.backend.servers) rows.push(serverRow(s, e.iid, now));
    rows.push(backendRow(proxy, e.backend, e.iid, now));
  }
  if (e.stats) {
    const c = opts.statsCounters?.(e.stats.name) ?? ZERO_COUNTERS;
    const maxconn = proxy.config.global.maxconn;
    rows.push(frontendRow(e.name, e.iid, c, maxconn, 'http', 'OPEN', 0, now));
    rows.push(statsBackendRow(e.name, e.iid, c, maxconn, proxy.startedAt, now));
  }
  if (opts.showLegends === false) {
    for (const r of rows) {
      r.addr = null;
      r.algo = null;
    }
  }
  return rows;
}

const ZERO_COUNTERS: TrafficCounters = {
  cur: 0,
  max: 0,
  total: 0,
  bytesIn: 0,
  bytesOut: 0,
  rate: { read: () => 0, max: 0 },
} as unknown as TrafficCounters;

// ---- show info ------------------------------------------------------------------------------

/** HAProxy 2.6's `show info` fields, in its order (`description` only printed when set). */
export const INFO_FIELDS = [
  'Name', 'Version', 'Release_date', 'Nbthread', 'Nbproc', 'Process_num', 'Pid', 'Uptime', 'Uptime_sec', 'Memmax_MB',
  'PoolAlloc_MB', 'PoolUsed_MB', 'PoolFailed', 'Ulimit-n', 'Maxsock', 'Maxconn', 'Hard_maxconn', 'CurrConns', 'CumConns', 'CumReq',
  'MaxSslConns', 'CurrSslConns', 'CumSslConns', 'Maxpipes', 'PipesUsed', 'PipesFree', 'ConnRate', 'ConnRateLimit', 'MaxConnRate', 'SessRate',
  'SessRateLimit', 'MaxSessRate', 'SslRate', 'SslRateLimit', 'MaxSslRate', 'SslFrontendKeyRate', 'SslFrontendMaxKeyRate', 'SslFrontendSessionReuse_pct', 'SslBackendKeyRate', 'SslBackendMaxKeyRate',
  'SslCacheLookups', 'SslCacheMisses', 'CompressBpsIn', 'CompressBpsOut', 'CompressBpsRateLim', 'Tasks', 'Run_queue', 'Idle_pct', 'node', 'description',
  'Stopping', 'Jobs', 'Unstoppable Jobs', 'Listeners', 'ActivePeers', 'ConnectedPeers', 'DroppedLogs', 'BusyPolling', 'FailedResolutions', 'TotalBytesOut',
  'TotalSplicdedBytesOut', 'BytesOutRate', 'DebugCommandsIssued', 'CumRecvLogs', 'Build info', 'Memmax_bytes', 'PoolAlloc_bytes', 'PoolUsed_bytes', 'Start_time_sec', 'Tainted',
] as const;

export type InfoField = (typeof INFO_FIELDS)[number];

/** `show info` as an ordered object (iteration order is HAProxy's); description is null unless set. */
export type StatInfo = Record<InfoField, number | string | null>;

export const WARREN_NAME = 'warren';
export const WARREN_VERSION = readVersion();
export const WARREN_RELEASE_DATE = '2025/01/01';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** HAProxy's uptime text: `0d 0h00m07s`. */
export function formatUptime(sec: number): string {
  const d = Math.floor(sec / 86400);
  const h = Math.floor((sec % 86400) / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  return `${d}d ${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s`;
}

/**
 * Process facts that cost a syscall or a file read each (RSS reads /proc/self/stat, the limits
 * /proc/self/limits): read at most once per PROCESS_FACTS_TTL_MS, so a stats page polled many
 * times a second does not pay for them on every request. They are gauges of the process, not
 * counters, and never change through an admin action; 100 ms is well below any page refresh.
 */
interface ProcessFacts {
  at: number;
  rss: number;
  heapUsed: number;
  ulimit: number;
  hostname: string;
}
const PROCESS_FACTS_TTL_MS = 100;
let processFacts: ProcessFacts | null = null;

function readProcessFacts(): ProcessFacts {
  const t = performance.now();
  if (processFacts && t - processFacts.at >= 0 && t - processFacts.at < PROCESS_FACTS_TTL_MS) return processFacts;
  const mem = process.memoryUsage();
  processFacts = { at: t, rss: mem.rss, heapUsed: mem.heapUsed, ulimit: openFileLimit(), hostname: hostname() };
  return processFacts;
}

function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

let eluPrev = performance.eventLoopUtilization();

export interface InfoOptions {
  now?: number;
  /** The process is stopping (graceful stop under way). */
  stopping?: boolean;
  /** `description` from the config, if any. */
  description?: string | null;
}

export function collectInfo(proxy: Proxy, opts: InfoOptions = {}): StatInfo {
  const now = opts.now ?? Date.now();
  const uptime = Math.max(0, Math.floor((now - proxy.startedAt) / 1000));
  const facts = readProcessFacts();
  const pc = proxy.limit.counters;
  const elu = performance.eventLoopUtilization(eluPrev);
  eluPrev = performance.eventLoopUtilization();
  const idlePct = Math.max(0, Math.min(100, Math.round(100 * (1 - elu.utilization))));
  let bytesOut = 0;
  let listeners = 0;
  let sessions = 0;
  for (const fe of proxy.frontends) {
    bytesOut += fe.counters.bytesOut;
    listeners += fe.addresses().length;
    sessions += fe.counters.cur; // (= fe.sessions.size; in a multi-process primary, the workers' sum)
  }
  for (const sc of proxy.config.stats) listeners += sc.binds.length;
  const ulimit = facts.ulimit;
  const rate = pc.rate.read(now);
  const info: StatInfo = {
    Name: WARREN_NAME,
    Version: WARREN_VERSION,
    Release_date: WARREN_RELEASE_DATE,
    Nbthread: proxy.config.global.nbthread, // warren: worker processes (src/proxy/workers.ts)
    Nbproc: 1,
    Process_num: 1,
    Pid: process.pid,
    Uptime: formatUptime(uptime),
    Uptime_sec: uptime,
    Memmax_MB: 0,
    PoolAlloc_MB: Math.floor(facts.rss / 1048576),
    PoolUsed_MB: Math.floor(facts.heapUsed / 1048576),
    PoolFailed: 0,
    'Ulimit-n': ulimit,
    Maxsock: ulimit,
    Maxconn: proxy.limit.maxconn,
    Hard_maxconn: proxy.config.global.maxconn,
    CurrConns: pc.cur,
    CumConns: pc.total,
    CumReq: 0,
    MaxSslConns: 0,
    CurrSslConns: 0,
    CumSslConns: 0,
    Maxpipes: 0,
    PipesUsed: 0,
    PipesFree: 0,
    ConnRate: rate,
    ConnRateLimit: 0,
    MaxConnRate: pc.rate.max,
    SessRate: rate,
    SessRateLimit: 0,
    MaxSessRate: pc.rate.max,
    SslRate: 0,
    SslRateLimit: 0,
    MaxSslRate: 0,
    SslFrontendKeyRate: 0,
    SslFrontendMaxKeyRate: 0,
    SslFrontendSessionReuse_pct: 0,
    SslBackendKeyRate: 0,
    SslBackendMaxKeyRate: 0,
    SslCacheLookups: 0,
    SslCacheMisses: 0,
    CompressBpsIn: 0,
    CompressBpsOut: 0,
    CompressBpsRateLim: 0,
    Tasks: sessions,
    Run_queue: 0,
    Idle_pct: idlePct,
    node: facts.hostname,
    description: opts.description ?? null,
    Stopping: opts.stopping ? 1 : 0,
    Jobs: sessions + listeners,
    'Unstoppable Jobs': 0,
    Listeners: listeners,
    ActivePeers: 0,
    ConnectedPeers: 0,
    DroppedLogs: 0,
    BusyPolling: 0,
    FailedResolutions: 0,
    TotalBytesOut: bytesOut,
    TotalSplicdedBytesOut: 0,
    BytesOutRate: 0,
    DebugCommandsIssued: 0,
    CumRecvLogs: 0,
    'Build info': WARREN_VERSION,
    Memmax_bytes: 0,
    PoolAlloc_bytes: facts.rss,
    PoolUsed_bytes: facts.heapUsed,
    Start_time_sec: Math.floor(proxy.startedAt / 1000),
    Tainted: 0,
  };
  return info;
}
