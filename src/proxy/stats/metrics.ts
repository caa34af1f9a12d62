// Prometheus text exposition (format 0.0.4) for `/metrics`: process, frontend, backend and
// server families named after HAProxy's own exporter (warren_ instead of haproxy_), plus the
// VRRP state of this host, which the VRRP side feeds through setVrrpState().
//
// The text is written directly (no client library): every family has HELP and TYPE lines,
// counters end in _total, label values are escaped (\\, \", \n), and the values are read from
// the same model as the CSV, so /metrics and ;csv never disagree.

import type { Proxy } from '../proxy.js';
import { collectInfo, collectStats, STAT_TYPE, type StatRow, type StatsOptions } from './model.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

// ---- VRRP state (fed by the lead's wiring; read by renderMetrics) ----------------------------

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';
export const VRRP_STATES: readonly VrrpState[] = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'];

export interface VrrpInstanceStatus {
  state: VrrpState;
  /** Effective priority (after tracking adjustments), if known. */
  priority: number | null;
  /** When the state was last set (ms since epoch). */
  since: number;
}

const vrrpInstances = new Map<string, VrrpInstanceStatus>();

/** Record the VRRP state of `instance` on this host (null: forget it). */
export function setVrrpState(instance: string, state: VrrpState | null, priority: number | null = null, now = Date.now()): void {
  if (state === null) {
    vrrpInstances.delete(instance);
    return;
  }
  const prev = vrrpInstances.get(instance);
  vrrpInstances.set(instance, { state, priority, since: prev && prev.state === state ? prev.since : now });
}

export function getVrrpStates(): ReadonlyMap<string, VrrpInstanceStatus> {
  return vrrpInstances;
}

// ---- exposition -----------------------------------------------------------------------------

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

type Labels = Record<string, string>;

class Exposition {
  private out = '';
  private family: string | null = null;

  family_(name: string, type: 'gauge' | 'counter', help: string): this {
    this.family = name;
    this.out += `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    return this;
  }

  sample(labels: Labels, value: number): void {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',');
    const v = Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
    this.out += `${this.family}${l ? `{${l}}` : ''} ${v}\n`;
  }

  text(): string {
    return this.out;
  }
}

interface FieldMetric {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  value: (r: StatRow) => number | null;
}

const num = (f: keyof StatRow) => (r: StatRow): number | null => (typeof r[f] === 'number' ? (r[f] as number) : null);

/** HAProxy exporter's reading of a status: UP, UP n/m, OPEN, no check and DRAIN count as up. */
export function statusIsUp(status: string): boolean {
  return status === 'UP' || status.startsWith('UP ') || status === 'OPEN' || status === 'no check' || status === 'DRAIN';
}

const SERVER_STATES = ['UP', 'DOWN', 'MAINT', 'DRAIN'] as const;

function serverState(status: string): (typeof SERVER_STATES)[number] {
  if (status === 'MAINT') return 'MAINT';
  if (status === 'DRAIN') return 'DRAIN';
  if (status === 'no check' || status === 'UP' || status.startsWith('UP ')) return 'UP';
  return 'DOWN';
}

const FRONTEND_METRICS: FieldMetric[] = [
  { name: 'warren_frontend_current_sessions', type: 'gauge', help: 'Current number of active sessions.', value: num('scur') },
  { name: 'warren_frontend_max_sessions', type: 'gauge', help: 'Maximum observed number of active sessions.', value: num('smax') },
  { name: 'warren_frontend_limit_sessions', type: 'gauge', help: 'Configured session limit (maxconn).', value: num('slim') },
  { name: 'warren_frontend_sessions_total', type: 'counter', help: 'Total number of sessions.', value: num('stot') },
  { name: 'warren_frontend_bytes_in_total', type: 'counter', help: 'Current total of incoming bytes.', value: num('bin') },
  { name: 'warren_frontend_bytes_out_total', type: 'counter', help: 'Current total of outgoing bytes.', value: num('bout') },
  { name: 'warren_frontend_current_session_rate', type: 'gauge', help: 'Current number of sessions per second over last elapsed second.', value: num('rate') },
  { name: 'warren_frontend_max_session_rate', type: 'gauge', help: 'Maximum observed number of sessions per second.', value: num('rate_max') },
  { name: 'warren_frontend_denied_connections_total', type: 'counter', help: 'Total number of connections denied: no backend for them, or reset on a disabled address (runtime API).', value: num('dcon') },
];

const BACKEND_METRICS: FieldMetric[] = [
  { name: 'warren_backend_up', type: 'gauge', help: 'Current health status of the backend (1 = UP, 0 = DOWN).', value: (r) => (statusIsUp(String(r.status)) ? 1 : 0) },
  { name: 'warren_backend_current_queue', type: 'gauge', help: 'Current number of queued requests not assigned to any server.', value: num('qcur') },
  { name: 'warren_backend_max_queue', type: 'gauge', help: 'Maximum observed number of queued requests not assigned to any server.', value: num('qmax') },
  { name: 'warren_backend_current_sessions', type: 'gauge', help: 'Current number of active sessions.', value: num('scur') },
  { name: 'warren_backend_max_sessions', type: 'gauge', help: 'Maximum observed number of active sessions.', value: num('smax') },
  { name: 'warren_backend_sessions_total', type: 'counter', help: 'Total number of sessions.', value: num('stot') },
  { name: 'warren_backend_bytes_in_total', type: 'counter', help: 'Current total of incoming bytes.', value: num('bin') },
  { name: 'warren_backend_bytes_out_total', type: 'counter', help: 'Current total of outgoing bytes.', value: num('bout') },
  { name: 'warren_backend_connection_errors_total', type: 'counter', help: 'Total of connection errors.', value: num('econ') },
  { name: 'warren_backend_response_errors_total', type: 'counter', help: 'Total of response errors.', value: num('eresp') },
  { name: 'warren_backend_retry_warnings_total', type: 'counter', help: 'Total of retry warnings.', value: num('wretr') },
  { name: 'warren_backend_redispatch_warnings_total', type: 'counter', help: 'Total of redispatch warnings.', value: num('wredis') },
  { name: 'warren_backend_weight', type: 'gauge', help: 'Total weight of the usable servers.', value: num('weight') },
  { name: 'warren_backend_active_servers', type: 'gauge', help: 'Current number of usable active servers.', value: num('act') },
  { name: 'warren_backend_backup_servers', type: 'gauge', help: 'Current number of usable backup servers.', value: num('bck') },
  { name: 'warren_backend_up_down_transitions_total', type: 'counter', help: 'Number of times the backend went DOWN (no usable server).', value: num('chkdown') },
  { name: 'warren_backend_downtime_seconds_total', type: 'counter', help: 'Total downtime in seconds.', value: num('downtime') },
  { name: 'warren_backend_last_change_seconds', type: 'gauge', help: 'Seconds since the last UP/DOWN change.', value: num('lastchg') },
  { name: 'warren_backend_current_session_rate', type: 'gauge', help: 'Current number of sessions per second over last elapsed second.', value: num('rate') },
  { name: 'warren_backend_max_session_rate', type: 'gauge', help: 'Maximum observed number of sessions per second.', value: num('rate_max') },
];

const SERVER_METRICS: FieldMetric[] = [
  { name: 'warren_server_up', type: 'gauge', help: 'Current health status of the server (1 = UP, 0 = DOWN), as the HAProxy exporter reads it.', value: (r) => (statusIsUp(String(r.status)) ? 1 : 0) },
  { name: 'warren_server_current_queue', type: 'gauge', help: 'Current number of queued requests assigned to this server.', value: num('qcur') },
  { name: 'warren_server_max_queue', type: 'gauge', help: 'Maximum observed number of queued requests assigned to this server.', value: num('qmax') },
  { name: 'warren_server_current_sessions', type: 'gauge', help: 'Current number of active sessions.', value: num('scur') },
  { name: 'warren_server_max_sessions', type: 'gauge', help: 'Maximum observed number of active sessions.', value: num('smax') },
  { name: 'warren_server_limit_sessions', type: 'gauge', help: 'Configured session limit (maxconn; absent when unlimited).', value: num('slim') },
  { name: 'warren_server_sessions_total', type: 'counter', help: 'Total number of sessions.', value: num('stot') },
  { name: 'warren_server_bytes_in_total', type: 'counter', help: 'Current total of incoming bytes.', value: num('bin') },
  { name: 'warren_server_bytes_out_total', type: 'counter', help: 'Current total of outgoing bytes.', value: num('bout') },
  { name: 'warren_server_connection_errors_total', type: 'counter', help: 'Total of connection errors.', value: num('econ') },
  { name: 'warren_server_response_errors_total', type: 'counter', help: 'Total of response errors.', value: num('eresp') },
  { name: 'warren_server_retry_warnings_total', type: 'counter', help: 'Total of retry warnings.', value: num('wretr') },
  { name: 'warren_server_redispatch_warnings_total', type: 'counter', help: 'Total of redispatch warnings.', value: num('wredis') },
  { name: 'warren_server_weight', type: 'gauge', help: 'Current effective weight of the server.', value: num('weight') },
  { name: 'warren_server_check_failures_total', type: 'counter', help: 'Total number of failed health checks.', value: num('chkfail') },
  { name: 'warren_server_check_up_down_total', type: 'counter', help: 'Total number of UP->DOWN transitions.', value: num('chkdown') },
  { name: 'warren_server_downtime_seconds_total', type: 'counter', help: 'Total downtime in seconds.', value: num('downtime') },
  { name: 'warren_server_last_change_seconds', type: 'gauge', help: 'Seconds since the last UP/DOWN change.', value: num('lastchg') },
  { name: 'warren_server_last_session_seconds', type: 'gauge', help: 'Seconds since the last session was assigned to the server (-1: never).', value: num('lastsess') },
  { name: 'warren_server_check_duration_seconds', type: 'gauge', help: 'Duration of the last health check in seconds.', value: (r) => (typeof r.check_duration === 'number' ? r.check_duration / 1000 : null) },
  { name: 'warren_server_current_session_rate', type: 'gauge', help: 'Current number of sessions per second over last elapsed second.', value: num('rate') },
  { name: 'warren_server_max_session_rate', type: 'gauge', help: 'Maximum observed number of sessions per second.', value: num('rate_max') },
];

function emitFamily(x: Exposition, m: FieldMetric, rows: StatRow[], labels: (r: StatRow) => Labels): void {
  const samples: [Labels, number][] = [];
  for (const r of rows) {
    const v = m.value(r);
    if (v !== null) samples.push([labels(r), v]);
  }
  if (samples.length === 0) return;
  x.family_(m.name, m.type, m.help);
  for (const [l, v] of samples) x.sample(l, v);
}

/** The whole `/metrics` page. */
export function renderMetrics(proxy: Proxy, opts: StatsOptions = {}): string {
  const now = opts.now ?? Date.now();
  const rows = collectStats(proxy, { ...opts, now });
  const info = collectInfo(proxy, { now });
  const x = new Exposition();

  x.family_('warren_process_start_time_seconds', 'gauge', 'Start time of the proxy in seconds since the Unix epoch.');
  x.sample({}, Math.floor(proxy.startedAt / 1000));
  x.family_('warren_process_current_connections', 'gauge', 'Number of active sessions.');
  x.sample({}, Number(info.CurrConns));
  x.family_('warren_process_connections_total', 'counter', 'Total number of sessions since start.');
  x.sample({}, Number(info.CumConns));
  x.family_('warren_process_max_connections', 'gauge', 'Process-wide connection limit (global maxconn).');
  x.sample({}, Number(info.Maxconn));

  const fe = rows.filter((r) => r.type === STAT_TYPE.FRONTEND);
  const be = rows.filter((r) => r.type === STAT_TYPE.BACKEND);
  const sv = rows.filter((r) => r.type === STAT_TYPE.SERVER);
  for (const m of FRONTEND_METRICS) emitFamily(x, m, fe, (r) => ({ frontend: String(r.pxname) }));
  for (const m of BACKEND_METRICS) emitFamily(x, m, be, (r) => ({ backend: String(r.pxname) }));
  for (const m of SERVER_METRICS) emitFamily(x, m, sv, (r) => ({ backend: String(r.pxname), server: String(r.svname) }));

  if (sv.length > 0) {
    x.family_('warren_server_status', 'gauge', 'Current state of the server, one series per state (UP, DOWN, MAINT, DRAIN).');
    for (const r of sv) {
      const st = serverState(String(r.status));
      for (const s of SERVER_STATES) x.sample({ backend: String(r.pxname), server: String(r.svname), state: s }, s === st ? 1 : 0);
    }
  }

  x.family_('warren_vrrp_status_known', 'gauge', '1 when the VRRP state of this host is known to the proxy, 0 otherwise.');
  x.sample({}, vrrpInstances.size > 0 ? 1 : 0);
  if (vrrpInstances.size > 0) {
    x.family_('warren_vrrp_state', 'gauge', 'VRRP state of this host per instance, one series per state (1 = current).');
    for (const [instance, st] of vrrpInstances) for (const s of VRRP_STATES) x.sample({ instance, state: s }, s === st.state ? 1 : 0);
    const withPrio = [...vrrpInstances].filter(([, st]) => st.priority !== null);
    if (withPrio.length > 0) {
      x.family_('warren_vrrp_priority', 'gauge', 'Effective VRRP priority of this host per instance.');
      for (const [instance, st] of withPrio) x.sample({ instance }, st.priority!);
    }
    x.family_('warren_vrrp_state_since_seconds', 'gauge', 'Seconds since the VRRP state of the instance last changed.');
    for (const [instance, st] of vrrpInstances) x.sample({ instance }, Math.max(0, Math.floor((now - st.since) / 1000)));
  }
  return x.text();
}
