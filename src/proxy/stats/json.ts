// HAProxy 2.6's typed JSON stats: `show stat json` (also the stats page's `;json`) and
// `show info json`. The shape is HAProxy's, not a warren invention:
//
//   show stat json: [ [ {objType, proxyId, id, field: {pos, name}, processNum,
//                        tags: {origin, nature, scope}, value: {type, value}}, ... ], ... ]
//     one inner array per row (FRONTEND, server, BACKEND), holding only the fields that are
//     not empty in the CSV; objType 'Frontend' | 'Backend' | 'Server'; proxyId is the iid, id
//     the sid (0 for a frontend or backend). The CSV's '-' column is a separator between
//     HAProxy's generic and per-module fields and is not a field: ssl_sess is pos 103.
//   show info json: [ {field: {pos, name}, processNum, tags, value}, ... ]
//
// Tags and value types are the ones HAProxy 2.6 prints for each field (`show stat typed`).

import { STAT_FIELDS, STAT_TYPE, INFO_FIELDS, type InfoField, type StatField, type StatInfo, type StatRow } from './model.js';

type Tag3 = string; // origin, nature, scope letters as in `show stat typed`: 'MCP', 'KNS', ...
type VType = 'u32' | 's32' | 'u64' | 'str';

const ORIGIN: Record<string, string> = { M: 'Metric', S: 'Status', K: 'Key', C: 'Config', P: 'Product' };
const NATURE: Record<string, string> = {
  A: 'Age', a: 'Avg', C: 'Counter', D: 'Duration', G: 'Gauge', L: 'Limit', M: 'Max', m: 'Min', N: 'Name', O: 'Output', R: 'Rate',
};
const SCOPE: Record<string, string> = { P: 'Process', S: 'Service', s: 'System', C: 'Cluster' };

const c64 = ['MCP', 'u64'] as const;
/** Per-field tags and type (HAProxy 2.6). Entries keyed `field@F|B|S` override for one object type. */
const STAT_TYPES: Record<string, readonly [Tag3, VType]> = {
  pxname: ['KNS', 'str'], svname: ['KNS', 'str'], qcur: ['MGP', 'u32'], qmax: ['MMP', 'u32'], scur: ['MGP', 'u32'],
  smax: ['MMP', 'u32'], slim: ['CLP', 'u32'], stot: c64, bin: c64, bout: c64, dreq: c64, dresp: c64, ereq: c64, econ: c64,
  eresp: c64, wretr: c64, wredis: c64, status: ['SGP', 'str'], weight: ['MaP', 'u32'], act: ['SGP', 'u32'], 'act@B': ['MGP', 'u32'],
  bck: ['SGP', 'u32'], 'bck@B': ['MGP', 'u32'], chkfail: c64, chkdown: c64, lastchg: ['MAP', 'u32'], downtime: ['MCP', 'u32'],
  qlimit: ['CGS', 'u32'], pid: ['KGP', 'u32'], iid: ['KGS', 'u32'], sid: ['KGS', 'u32'], throttle: ['MaP', 'u32'], lbtot: c64,
  tracked: ['CNS', 'str'], type: ['CGS', 'u32'], rate: ['MRP', 'u32'], 'rate@B': ['MGP', 'u32'], rate_lim: ['CLP', 'u32'],
  rate_max: ['MMP', 'u32'], 'rate_max@B': ['MGP', 'u32'], check_status: ['MOP', 'str'], check_code: ['MOP', 'u32'],
  check_duration: ['MDP', 'u64'], hrsp_1xx: c64, hrsp_2xx: c64, hrsp_3xx: c64, hrsp_4xx: c64, hrsp_5xx: c64, hrsp_other: c64,
  hanafail: c64, req_rate: ['MRP', 'u32'], req_rate_max: ['MMP', 'u32'], req_tot: c64, cli_abrt: c64, srv_abrt: c64,
  comp_in: c64, comp_out: c64, comp_byp: c64, comp_rsp: c64, lastsess: ['MAP', 's32'], last_chk: ['MOP', 'str'],
  last_agt: ['MOP', 'str'], qtime: ['MaP', 'u32'], ctime: ['MaP', 'u32'], rtime: ['MaP', 'u32'], ttime: ['MaP', 'u32'],
  agent_status: ['MOP', 'str'], agent_code: ['MOP', 'u32'], agent_duration: ['MDP', 'u64'], check_desc: ['MOP', 'str'],
  agent_desc: ['MOP', 'str'], check_rise: ['CGS', 'u32'], check_fall: ['CGS', 'u32'], check_health: ['CGS', 'u32'],
  agent_rise: ['CGS', 'u32'], agent_fall: ['CGS', 'u32'], agent_health: ['CGS', 'u32'], addr: ['CGS', 'str'], cookie: ['CNS', 'str'],
  mode: ['CGS', 'str'], algo: ['CGS', 'str'], conn_rate: ['MRP', 'u32'], conn_rate_max: ['MMP', 'u32'], conn_tot: c64,
  intercepted: c64, dcon: c64, dses: c64, wrew: c64, connect: c64, reuse: c64, cache_lookups: c64, cache_hits: c64,
  srv_icur: ['MGP', 'u32'], src_ilim: ['MLP', 'u32'], qtime_max: ['MMP', 'u32'], ctime_max: ['MMP', 'u32'], rtime_max: ['MMP', 'u32'],
  ttime_max: ['MMP', 'u32'], eint: c64, idle_conn_cur: ['MGP', 'u32'], safe_conn_cur: ['MGP', 'u32'], used_conn_cur: ['MGP', 'u32'],
  need_conn_est: ['MGP', 'u32'], uweight: ['MaP', 'u32'], agg_server_status: ['MGP', 'u32'], agg_server_check_status: ['MGP', 'u32'],
  agg_check_status: ['MGP', 'u32'],
  // per-module fields (ssl, h2, h1), after the '-' separator
  ssl_sess: c64, ssl_reused_sess: c64, ssl_failed_handshake: c64, h2_headers_rcvd: c64, h2_data_rcvd: c64, h2_settings_rcvd: c64,
  h2_rst_stream_rcvd: c64, h2_goaway_rcvd: c64, h2_detected_conn_protocol_errors: c64, h2_detected_strm_protocol_errors: c64,
  h2_rst_stream_resp: c64, h2_goaway_resp: c64, h2_open_connections: ['MGP', 'u64'], h2_backend_open_streams: ['MGP', 'u64'],
  h2_total_connections: c64, h2_backend_total_streams: c64, h1_open_connections: ['MGP', 'u64'], h1_open_streams: ['MGP', 'u64'],
  h1_total_connections: c64, h1_total_streams: c64, h1_bytes_in: c64, h1_bytes_out: c64, h1_spliced_bytes_in: c64, h1_spliced_bytes_out: c64,
};

export interface TypedValue {
  type: VType;
  value: number | string;
}

export interface TypedTags {
  origin: string;
  nature: string;
  scope: string;
}

export interface StatJsonField {
  objType: 'Frontend' | 'Backend' | 'Server';
  proxyId: number;
  id: number;
  field: { pos: number; name: string };
  processNum: number;
  tags: TypedTags;
  value: TypedValue;
}

export interface InfoJsonField {
  field: { pos: number; name: string };
  processNum: number;
  tags: TypedTags;
  value: TypedValue;
}

function tags(t: Tag3): TypedTags {
  return { origin: ORIGIN[t[0]!] ?? 'Metric', nature: NATURE[t[1]!] ?? 'Gauge', scope: SCOPE[t[2]!] ?? 'Process' };
}

function objTypeOf(row: StatRow): StatJsonField['objType'] {
  return row.type === STAT_TYPE.FRONTEND ? 'Frontend' : row.type === STAT_TYPE.BACKEND ? 'Backend' : 'Server';
}

/** Position of each field in HAProxy's numbering (the '-' separator column has none). */
const STAT_POS = new Map<StatField, number>();
{
  let pos = 0;
  for (const f of STAT_FIELDS) if (f !== '-') STAT_POS.set(f, pos++);
}

export function rowToTyped(row: StatRow): StatJsonField[] {
  const objType = objTypeOf(row);
  const letter = objType[0]!;
  const out: StatJsonField[] = [];
  for (const f of STAT_FIELDS) {
    const v = row[f];
    if (v === null || f === '-') continue;
    const [t, type] = STAT_TYPES[`${f}@${letter}`] ?? STAT_TYPES[f] ?? (['MGP', typeof v === 'number' ? 'u32' : 'str'] as const);
    out.push({
      objType,
      proxyId: Number(row.iid),
      id: Number(row.sid),
      field: { pos: STAT_POS.get(f)!, name: f },
      processNum: 1,
      tags: tags(t),
      value: { type, value: type === 'str' ? String(v) : Number(v) },
    });
  }
  return out;
}

/** `show stat json`: the whole document (no trailing newline). */
export function renderStatJson(rows: readonly StatRow[]): string {
  return JSON.stringify(rows.map(rowToTyped));
}

// ---- show info json -------------------------------------------------------------------------

/** HAProxy 2.6 positions, tags and types of the info fields (45/46 are zlib-only, unprinted). */
const INFO_TYPES: Record<InfoField, readonly [number, Tag3, VType]> = {
  Name: [0, 'POS', 'str'], Version: [1, 'POS', 'str'], Release_date: [2, 'POS', 'str'], Nbthread: [3, 'CGS', 'u32'],
  Nbproc: [4, 'CGS', 'u32'], Process_num: [5, 'KGP', 'u32'], Pid: [6, 'SGP', 'u32'], Uptime: [7, 'MDP', 'str'],
  Uptime_sec: [8, 'MDP', 'u32'], Memmax_MB: [9, 'CLP', 'u32'], PoolAlloc_MB: [10, 'MGP', 'u32'], PoolUsed_MB: [11, 'MGP', 'u32'],
  PoolFailed: [12, 'MCP', 'u32'], 'Ulimit-n': [13, 'CLP', 'u32'], Maxsock: [14, 'CLP', 'u32'], Maxconn: [15, 'CLP', 'u32'],
  Hard_maxconn: [16, 'CLP', 'u32'], CurrConns: [17, 'MGP', 'u32'], CumConns: [18, 'MCP', 'u32'], CumReq: [19, 'MCP', 'u32'],
  MaxSslConns: [20, 'MMP', 'u32'], CurrSslConns: [21, 'MGP', 'u32'], CumSslConns: [22, 'MCP', 'u32'], Maxpipes: [23, 'CLP', 'u32'],
  PipesUsed: [24, 'MGP', 'u32'], PipesFree: [25, 'MGP', 'u32'], ConnRate: [26, 'MRP', 'u32'], ConnRateLimit: [27, 'CLP', 'u32'],
  MaxConnRate: [28, 'MMP', 'u32'], SessRate: [29, 'MRP', 'u32'], SessRateLimit: [30, 'CLP', 'u32'], MaxSessRate: [31, 'MRP', 'u32'],
  SslRate: [32, 'MRP', 'u32'], SslRateLimit: [33, 'CLP', 'u32'], MaxSslRate: [34, 'MMP', 'u32'], SslFrontendKeyRate: [35, 'MGP', 'u32'],
  SslFrontendMaxKeyRate: [36, 'MMP', 'u32'], SslFrontendSessionReuse_pct: [37, 'MGP', 'u32'], SslBackendKeyRate: [38, 'MRP', 'u32'],
  SslBackendMaxKeyRate: [39, 'MMP', 'u32'], SslCacheLookups: [40, 'MCP', 'u32'], SslCacheMisses: [41, 'MCP', 'u32'],
  CompressBpsIn: [42, 'MRP', 'u32'], CompressBpsOut: [43, 'MRP', 'u32'], CompressBpsRateLim: [44, 'CLP', 'u32'], Tasks: [47, 'MGP', 'u32'],
  Run_queue: [48, 'MGP', 'u32'], Idle_pct: [49, 'MaP', 'u32'], node: [50, 'COS', 'str'], description: [51, 'COS', 'str'],
  Stopping: [52, 'MGP', 'u32'], Jobs: [53, 'MGP', 'u32'], 'Unstoppable Jobs': [54, 'MGP', 'u32'], Listeners: [55, 'MGP', 'u32'],
  ActivePeers: [56, 'MGP', 'u32'], ConnectedPeers: [57, 'MGP', 'u32'], DroppedLogs: [58, 'MGP', 'u32'], BusyPolling: [59, 'MGP', 'u32'],
  FailedResolutions: [60, 'MGP', 'u32'], TotalBytesOut: [61, 'MGP', 'u64'], TotalSplicdedBytesOut: [62, 'MGP', 'u64'],
  BytesOutRate: [63, 'MRP', 'u64'], DebugCommandsIssued: [64, 'MGP', 'u32'], CumRecvLogs: [65, 'MCP', 'u32'], 'Build info': [66, 'POS', 'str'],
  Memmax_bytes: [67, 'CLP', 'u32'], PoolAlloc_bytes: [68, 'MGP', 'u64'], PoolUsed_bytes: [69, 'MGP', 'u64'], Start_time_sec: [70, 'MDP', 'u32'],
  Tainted: [71, 'SGP', 'str'],
};

export function infoToTyped(info: StatInfo): InfoJsonField[] {
  const out: InfoJsonField[] = [];
  for (const name of INFO_FIELDS) {
    const v = info[name];
    if (v === null) continue;
    const [pos, t, type] = INFO_TYPES[name];
    out.push({ field: { pos, name }, processNum: 1, tags: tags(t), value: { type, value: type === 'str' ? String(v) : Number(v) } });
  }
  return out;
}

export function renderInfoJson(info: StatInfo): string {
  return JSON.stringify(infoToTyped(info));
}

/** `show stat typed` lines: `F.2.0.4.scur.1:MGP:u32:0`. */
export function renderStatTyped(rows: readonly StatRow[]): string {
  let out = '';
  for (const row of rows) {
    for (const f of rowToTyped(row)) {
      const t = STAT_TYPES[`${f.field.name}@${f.objType[0]}`] ?? STAT_TYPES[f.field.name];
      out += `${f.objType[0]}.${f.proxyId}.${f.id}.${f.field.pos}.${f.field.name}.1:${t ? t[0] : 'MGP'}:${f.value.type}:${f.value.value}\n`;
    }
  }
  return out;
}

/** `show info typed` lines: `0.Name.1:POS:str:warren`. */
export function renderInfoTyped(info: StatInfo): string {
  let out = '';
  for (const f of infoToTyped(info)) out += `${f.field.pos}.${f.field.name}.1:${INFO_TYPES[f.field.name as InfoField][1]}:${f.value.type}:${f.value.value}\n`;
  return out;
}
