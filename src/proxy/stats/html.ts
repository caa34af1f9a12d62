// The HTML stats page, laid out as HAProxy's: one table per proxy (a FRONTEND row, one row per
// server, a BACKEND row) with HAProxy's column groups, state colours and legend, plus what
// HAProxy lacks: a host panel (CPU, memory, uptime, interface traffic) and the VRRP state of this
// host and its peers. It also stays readable on a phone (viewport, wide tables scroll sideways
// with the name column pinned).
//
// render() is a pure function of the stats rows (HAProxy CSV field names, from model.ts), the
// process info, and the options: no I/O, no clock except `opts.now`. Every string that comes
// from a config or from the network is HTML-escaped.

import type { HostSnapshot } from './host.js';

/** One stats row keyed by HAProxy's CSV field names (pxname, svname, scur, status, ...). */
export type HtmlStatRow = Readonly<Record<string, unknown>>;
/** `show info`-style process information (Name, Version, Pid, Uptime_sec, Maxconn, ...). */
export type HtmlInfo = Readonly<Record<string, unknown>>;

/** What the VRRP panel shows: not configured, a fetch error, or the daemon's JSON status. */
export interface VrrpView {
  /** The status URL, or null when no VRRP status API is configured (then `status`, if set, is local). */
  url: string | null;
  /** The last answer of the VRRP daemon (parsed JSON), if any. */
  status?: unknown;
  /** Why the last fetch failed, if it did. */
  error?: string | null;
  /** When `status` was fetched (ms since epoch). */
  fetchedAt?: number | null;
}

/** HAProxy's admin-action result codes, carried in the redirect as `;st=CODE`. */
export type StatusCode = 'DONE' | 'NONE' | 'PART' | 'ERRP' | 'EXCD' | 'DENY' | 'IVAL' | 'UNKN';

export interface RenderOptions {
  /** The configured stats URI prefix (`stats uri`). */
  uri: string;
  /** `stats refresh` in ms, or null. */
  refreshMs: number | null;
  /** `;norefresh`: no auto-refresh for this view. */
  noRefresh: boolean;
  /** `;up`: only servers that are UP (or going down). */
  upOnly: boolean;
  /** `;no-maint`: hide servers in maintenance. */
  noMaint: boolean;
  /** Admin level for this request: checkboxes and the action form. */
  admin: boolean;
  hideVersion: boolean;
  /** `;st=CODE` from an admin redirect, shown as HAProxy's message box. */
  statusCode: string | null;
  host: HostSnapshot | null;
  vrrp: VrrpView;
  /** Links to the other formats this server serves (default: ;csv, ;json and /metrics). */
  metricsPath?: string | null;
  /** Rendering time (ms since epoch), for snapshot ages. */
  now: number;
}

// ---- small helpers --------------------------------------------------------------------------

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escape text for element content and quoted attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function str(row: HtmlStatRow, key: string): string {
  const v = row[key];
  return v === null || v === undefined ? '' : String(v);
}

/** A numeric field, or null when empty (HAProxy leaves some fields empty). */
function num(row: HtmlStatRow, key: string): number | null {
  const v = row[key];
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

/** A count with digit grouping (HAProxy's U2H), empty when the field is empty. */
function n(row: HtmlStatRow, key: string): string {
  const v = num(row, key);
  return v === null ? '' : groupDigits(v);
}

export function groupDigits(v: number): string {
  // (Intl's toLocaleString costs ~10x more, and this runs for every cell of every refresh.)
  const s = String(Math.round(v));
  return s.length <= 3 ? s : s.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A limit: '-' when unset or 0 (HAProxy's LIM2A). */
function lim(row: HtmlStatRow, key: string): string {
  const v = num(row, key);
  return v === null || v === 0 ? '-' : groupDigits(v);
}

/** HAProxy's human_time: the two most significant units ("1d2h", "3h4m", "5m6s", "7s"). */
export function humanTime(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '?';
  let t = Math.floor(seconds);
  const d = Math.floor(t / 86400);
  t -= d * 86400;
  const h = Math.floor(t / 3600);
  t -= h * 3600;
  const m = Math.floor(t / 60);
  const s = t - m * 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** Bytes in IEC units ("1.5 MiB"), for tooltips and the host panel. */
export function humanBytes(b: number | null): string {
  if (b === null || !Number.isFinite(b)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = b;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function humanRate(bytesPerSec: number | null): string {
  if (bytesPerSec === null) return '…';
  const bits = bytesPerSec * 8;
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(1)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

function uptime(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '?';
  const s = Math.floor(sec);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${d}d ${h}h${String(m).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}

// ---- row classification (HAProxy's colour rules) --------------------------------------------

const TYPE_FE = 0;
const TYPE_BE = 1;
const TYPE_SV = 2;

function rowType(row: HtmlStatRow): number {
  const t = num(row, 'type');
  if (t !== null) return t;
  const sv = str(row, 'svname');
  return sv === 'FRONTEND' ? TYPE_FE : sv === 'BACKEND' ? TYPE_BE : TYPE_SV;
}

/**
 * The CSS class of a server row, by HAProxy's rules: DOWN red, "DOWN n/m" (going up) orange,
 * "UP n/m" (going down) yellow, DRAIN blue, no check grey, UP green; backups in their own
 * shades; MAINT brown whatever else is true.
 */
export function serverClass(row: HtmlStatRow): string {
  const status = str(row, 'status');
  if (status.startsWith('MAINT')) return 'maintain';
  const side = num(row, 'bck') ? 'backup' : 'active';
  let style: string;
  if (status === 'DOWN' || status === 'DOWN (agent)') style = 'down';
  else if (status.startsWith('DOWN ')) style = 'going_up';
  else if (status === 'DRAIN') style = 'draining';
  else if (status.startsWith('NOLB ')) style = 'going_down';
  else if (status === 'NOLB') style = 'nolb';
  else if (status === 'no check') style = 'no_check';
  else {
    const health = num(row, 'check_health');
    const rise = num(row, 'check_rise');
    const fall = num(row, 'check_fall');
    const checked = str(row, 'chkfail') !== '' && health !== null && rise !== null && fall !== null;
    const fullyUp = !checked || health === rise! + fall! - 1;
    if (status.startsWith('UP ')) style = 'going_down';
    else if (fullyUp) style = num(row, 'weight') === 0 ? 'draining' : 'up';
    else style = 'going_down';
  }
  return `${side}_${style}`;
}

/** Is this server shown with `;up` (HAProxy: hide servers that are DOWN, i.e. not UP/going down). */
function isUpForFilter(row: HtmlStatRow): boolean {
  const status = str(row, 'status');
  return status.startsWith('UP') || status === 'no check' || status === 'DRAIN' || status.startsWith('NOLB') || status === 'OPEN';
}

// ---- page -------------------------------------------------------------------------------------

/** The modifier suffix (";up;norefresh;no-maint") that keeps the current view across links. */
function viewSuffix(o: { upOnly: boolean; noRefresh: boolean; noMaint: boolean }): string {
  return `${o.upOnly ? ';up' : ''}${o.noRefresh ? ';norefresh' : ''}${o.noMaint ? ';no-maint' : ''}`;
}

const STATUS_MESSAGES: Record<string, { cls: string; text: string }> = {
  DONE: { cls: 'active_up', text: 'Action processed successfully.' },
  NONE: { cls: 'active_going_down', text: 'Nothing has changed.' },
  PART: {
    cls: 'active_going_down',
    text: 'Action partially processed. Some server names are probably unknown or ambiguous, or the action does not apply to them.',
  },
  ERRP: {
    cls: 'active_down',
    text: 'Action not processed because of invalid parameters: unknown action, unknown backend, or server names unknown in that backend.',
  },
  EXCD: { cls: 'active_down', text: 'Action not processed: the request was too large. Retry with fewer servers at a time.' },
  DENY: { cls: 'active_down', text: 'Action denied.' },
  IVAL: { cls: 'active_down', text: 'Invalid request (unsupported method or encoding).' },
};

export function render(rows: readonly HtmlStatRow[], info: HtmlInfo, opts: RenderOptions): string {
  const title = opts.hideVersion ? 'warren' : `warren ${str(info, 'Version')}`.trim();
  const refresh = opts.refreshMs && opts.refreshMs > 0 && !opts.noRefresh ? Math.max(1, Math.round(opts.refreshMs / 1000)) : 0;
  const out: string[] = [];
  out.push(
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
    refresh ? `<meta http-equiv="refresh" content="${refresh}">\n` : '',
    `<title>Statistics Report for ${esc(title)}${opts.host ? ` on ${esc(opts.host.hostname)}` : ''}</title>\n`,
    '<link rel="icon" href="data:,">\n',
    `<style>${CSS}</style></head>\n<body>\n`,
  );
  out.push(
    `<header><h1>${esc(title)}</h1>`,
    `<h2>Statistics Report for pid ${esc(str(info, 'Pid'))}${opts.host ? ` on ${esc(opts.host.hostname)}` : ''}</h2></header>\n`,
  );
  out.push(renderStatusMessage(opts));
  out.push(renderOptions(opts, refresh));
  out.push('<main class="page">\n<div class="panels">\n', renderProcess(rows, info, opts), renderHost(opts.host, opts.now), renderVrrp(opts.vrrp, opts.now), renderLegend(), '</div>\n');
  out.push('<div class="proxies">\n');
  for (const group of groupByProxy(rows)) out.push(renderProxy(group, opts));
  out.push('</div>\n</main>\n');
  out.push(
    `<footer>Generated ${esc(new Date(opts.now).toISOString())}${refresh ? ` · refreshes every ${refresh}s` : ''}${opts.admin ? ' · admin level' : ''}</footer>\n`,
    '</body></html>\n',
  );
  return out.join('');
}

function renderStatusMessage(opts: RenderOptions): string {
  if (!opts.statusCode) return '';
  const m = STATUS_MESSAGES[opts.statusCode] ?? { cls: 'active_no_check', text: 'Unexpected result.' };
  const back = `${opts.uri}${viewSuffix(opts)}`;
  return (
    `<div class="msg ${m.cls}" role="status" data-st="${esc(opts.statusCode)}">` +
    `<a class="lfsb" href="${esc(back)}" title="Remove this message">[X]</a> ${esc(m.text)}</div>\n`
  );
}

function renderProcess(rows: readonly HtmlStatRow[], info: HtmlInfo, opts: RenderOptions): string {
  let servers = 0;
  let usable = 0;
  for (const r of rows) {
    if (rowType(r) !== TYPE_SV) continue;
    servers++;
    const s = str(r, 'status');
    if (s.startsWith('UP') || s === 'no check') usable++;
  }
  const upSec = num(info, 'Uptime_sec');
  const items: [string, string][] = [
    ['pid', str(info, 'Pid')],
    ['uptime', uptime(upSec)],
    ['maxconn', str(info, 'Maxconn')],
    ['current conns', str(info, 'CurrConns')],
    ['total conns', str(info, 'CumConns')],
    ['conn rate', `${str(info, 'ConnRate') || '0'}/s (max ${str(info, 'MaxConnRate') || '0'}/s)`],
    ['servers usable', `${usable}/${servers}`],
  ];
  if (!opts.hideVersion && str(info, 'Version')) items.unshift(['version', str(info, 'Version')]);
  if (str(info, 'node')) items.push(['node', str(info, 'node')]);
  return panel('General process information', `<dl>${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`, 'process');
}

function panel(title: string, body: string, id: string): string {
  return `<section class="panel" id="${esc(id)}"><h3>${esc(title)}</h3>${body}</section>\n`;
}

function renderHost(host: HostSnapshot | null, now: number): string {
  if (!host) return panel('Host', '<p class="muted">Collecting host information…</p>', 'host');
  const memPct = host.memTotal > 0 ? (100 * host.memUsed) / host.memTotal : 0;
  const cpu = host.cpuLoadPct === null ? '…' : `${host.cpuLoadPct.toFixed(1)}%`;
  const age = Math.max(0, Math.round((now - host.at) / 1000));
  const meter = (pct: number, cls: string): string =>
    `<span class="bar ${cls}"><span style="width:${Math.min(100, Math.max(0, pct)).toFixed(0)}%"></span></span>`;
  const items: [string, string][] = [
    ['host', esc(host.hostname)],
    ['CPU', `${esc(cpu)} of ${host.cpus} cores ${meter(host.cpuLoadPct ?? 0, 'cpu')}`],
    ['load avg', esc(host.loadavg.map((v) => v.toFixed(2)).join(' '))],
    ['memory', `${esc(humanBytes(host.memUsed))} / ${esc(humanBytes(host.memTotal))} (${memPct.toFixed(0)}%) ${meter(memPct, 'mem')}`],
    ['uptime', esc(uptime(host.uptimeSec))],
  ];
  const ifRows = host.interfaces
    .map(
      (i) =>
        `<tr><td class="l" title="errors rx ${i.rxErrors} tx ${i.txErrors}, dropped rx ${i.rxDropped} tx ${i.txDropped}">${esc(i.iface)}</td><td class="ac if_${i.operstate === 'up' ? 'up' : i.operstate === 'down' ? 'down' : 'unknown'}">${esc(i.operstate)}</td>` +
        `<td>${esc(humanRate(i.rxSec))}</td><td>${esc(humanRate(i.txSec))}</td>` +
        `<td title="${esc(groupDigits(i.rxBytes))} bytes">${esc(humanBytes(i.rxBytes))}</td><td title="${esc(groupDigits(i.txBytes))} bytes">${esc(humanBytes(i.txBytes))}</td></tr>`,
    )
    .join('');
  const ifTable = host.interfaces.length
    ? `<div class="scroll"><table class="mini"><thead><tr><th>iface</th><th>state</th><th>rx/s</th><th>tx/s</th><th>rx total</th><th>tx total</th></tr></thead><tbody>${ifRows}</tbody></table></div>`
    : '';
  const err = host.error ? `<p class="err">host refresh failed: ${esc(host.error)}</p>` : '';
  return panel(
    'Host',
    `<dl>${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>${ifTable}${err}<p class="muted">sampled ${age}s ago</p>`,
    'host',
  );
}

// ---- VRRP panel -------------------------------------------------------------------------------

interface VrrpInstanceView {
  name: string;
  state: string;
  priority: string;
  effective: string;
  vips: string;
  master: string;
  since: string;
  peers: { name: string; state: string; priority: string; seen: string }[];
  /** track_script / track_interface / the local proxy check, with their effect on the priority. */
  trackers: { name: string; status: string; weight: string; detail: string }[];
}

/** A list given as an array of objects or as an object keyed by name. */
function namedList(raw: unknown, valueKey: string): Record<string, unknown>[] {
  const list = Array.isArray(raw) ? raw : isObj(raw) ? Object.entries(raw).map(([k, v]) => (isObj(v) ? { name: k, ...v } : { name: k, [valueKey]: v })) : [];
  return list.filter(isObj);
}

function field(o: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

function asText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(asText).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads the VRRP daemon's status into instance views; tolerant of field-name variants. */
function vrrpInstances(status: unknown): VrrpInstanceView[] | null {
  if (!isObj(status)) return null;
  const raw = field(status, 'instances', 'vrrp_instance', 'vrrp_instances');
  let list: [string, Record<string, unknown>][] = [];
  if (Array.isArray(raw)) list = raw.filter(isObj).map((o) => [asText(field(o, 'name', 'instance')), o]);
  else if (isObj(raw)) list = Object.entries(raw).filter((e): e is [string, Record<string, unknown>] => isObj(e[1]));
  else if (field(status, 'state') !== undefined) list = [[asText(field(status, 'name', 'instance')), status]];
  else return null;
  return list.map(([name, o]) => {
    const peers = namedList(field(o, 'peers', 'neighbours', 'neighbors'), 'state').map((p) => ({
      name: asText(field(p, 'name', 'address', 'addr', 'ip', 'router_id', 'routerId')),
      state: asText(field(p, 'state')),
      priority: asText(field(p, 'priority', 'effectivePriority', 'effective_priority')),
      seen: asText(field(p, 'lastSeen', 'last_seen', 'lastAdvert', 'last_advert', 'age')),
    }));
    const trackers = namedList(field(o, 'trackers', 'track', 'track_script', 'track_scripts', 'scripts'), 'status').map((t) => ({
      name: asText(field(t, 'name', 'script', 'interface')),
      status: asText(field(t, 'status', 'state', 'result')),
      weight: asText(field(t, 'weight')),
      detail: asText(field(t, 'last_detail', 'lastDetail', 'detail', 'message', 'reason')),
    }));
    return {
      name,
      state: asText(field(o, 'state')),
      priority: asText(field(o, 'priority', 'base_priority', 'basePriority')),
      effective: asText(field(o, 'effectivePriority', 'effective_priority')),
      vips: asText(field(o, 'vips', 'virtual_ipaddress', 'virtualIps', 'vip')),
      master: asText(field(o, 'master', 'masterAddress', 'master_address')),
      since: asText(field(o, 'since', 'state_since', 'stateSince')),
      peers,
      trackers,
    };
  });
}

/** A tracker's status: ok/up green, failing red, anything else (unknown, pending) grey. */
function trackerClass(status: string): string {
  const s = status.toLowerCase();
  if (s === 'ok' || s === 'up' || s === 'success' || s === 'pass') return 'active_up';
  if (s === 'fail' || s === 'failed' || s === 'ko' || s === 'down' || s === 'error' || s === 'fault' || s === 'timeout') return 'active_down';
  return 'active_no_check';
}

function vrrpStateClass(state: string): string {
  const s = state.toUpperCase();
  if (s === 'MASTER') return 'active_up';
  if (s === 'BACKUP') return 'backup_up';
  if (s === 'FAULT') return 'active_down';
  return 'active_no_check';
}

function renderVrrp(v: VrrpView, now: number): string {
  if (!v.url && (v.status === undefined || v.status === null)) {
    return panel('VRRP', '<p>VRRP status: not configured (warren vrrp status API not available)</p>', 'vrrp');
  }
  if (v.status === undefined || v.status === null) {
    const why = v.error ? `unavailable: ${v.error}` : 'waiting for the first answer…';
    return panel('VRRP', `<p class="${v.error ? 'err' : 'muted'}">VRRP status ${esc(why)}</p><p class="muted">${esc(v.url ?? '')}</p>`, 'vrrp');
  }
  const stale = v.error ? `<p class="err">last refresh failed: ${esc(v.error)}; showing the answer from ${ageText(v.fetchedAt ?? null, now)}</p>` : '';
  const instances = vrrpInstances(v.status);
  let body: string;
  if (instances && instances.length) {
    body = instances
      .map((i) => {
        const peers = i.peers.length
          ? `<table class="mini"><thead><tr><th>peer</th><th>state</th><th>prio</th><th>last seen</th></tr></thead><tbody>${i.peers
              .map((p) => `<tr><td class="l">${esc(p.name)}</td><td class="ac ${vrrpStateClass(p.state)}">${esc(p.state)}</td><td>${esc(p.priority)}</td><td>${esc(p.seen)}</td></tr>`)
              .join('')}</tbody></table>`
          : '<p class="muted">no peer heard</p>';
        const trackers = i.trackers.length
          ? `<table class="mini"><thead><tr><th>tracker</th><th>status</th><th>weight</th><th>detail</th></tr></thead><tbody>${i.trackers
              .map((t) => `<tr><td class="l">${esc(t.name)}</td><td class="ac ${trackerClass(t.status)}">${esc(t.status)}</td><td>${esc(t.weight)}</td><td class="l">${esc(t.detail)}</td></tr>`)
              .join('')}</tbody></table>`
          : '';
        const prio = i.priority && i.effective && i.effective !== i.priority ? `${i.priority} (effective ${i.effective})` : i.priority || i.effective;
        return (
          `<div class="vrrp"><div class="vrrp-head"><b>${esc(i.name || 'instance')}</b> <span class="state ${vrrpStateClass(i.state)}">${esc(i.state || '?')}</span></div>` +
          `<dl><dt>priority</dt><dd>${esc(prio)}</dd>${i.vips ? `<dt>VIP</dt><dd>${esc(i.vips)}</dd>` : ''}${i.master ? `<dt>master</dt><dd>${esc(i.master)}</dd>` : ''}${i.since ? `<dt>since</dt><dd>${esc(i.since)}</dd>` : ''}</dl>${peers}${trackers}</div>`
        );
      })
      .join('');
    const router = isObj(v.status) ? asText(field(v.status, 'router_id', 'routerId')) : '';
    if (router) body = `<p>router_id <b>${esc(router)}</b></p>${body}`;
  } else {
    body = `<pre>${esc(JSON.stringify(v.status, null, 1).slice(0, 4000))}</pre>`;
  }
  const source = v.url ? `from ${esc(v.url)}, ${ageText(v.fetchedAt ?? null, now)}` : 'as reported to this proxy';
  return panel('VRRP', `${stale}${body}<p class="muted">${source}</p>`, 'vrrp');
}

function ageText(at: number | null, now: number): string {
  return at === null ? 'never' : `${Math.max(0, Math.round((now - at) / 1000))}s ago`;
}

// ---- legend and display options ----------------------------------------------------------------

function renderLegend(): string {
  const cell = (cls: string, text: string): string => `<li><span class="sw ${cls}"></span>${esc(text)}</li>`;
  return panel(
    'Legend',
    '<ul class="legend">' +
      cell('active_up', 'active UP') +
      cell('backup_up', 'backup UP') +
      cell('active_going_down', 'active UP, going down') +
      cell('backup_going_down', 'backup UP, going down') +
      cell('active_going_up', 'active DOWN, going up') +
      cell('backup_going_up', 'backup DOWN, going up') +
      cell('active_down', 'active or backup DOWN') +
      cell('active_no_check', 'not checked') +
      cell('maintain', 'active or backup DOWN for maintenance (MAINT)') +
      cell('active_draining', 'active or backup SOFT STOPPED for maintenance (DRAIN)') +
      cell('backup_draining', 'backup DRAIN') +
      '</ul><p class="muted">Note: "NOLB"/"DRAIN" = UP with load-balancing disabled. ↓ going down, ↑ going up.</p>',
    'legend',
  );
}

function renderOptions(opts: RenderOptions, refresh: number): string {
  const base = opts.uri;
  const link = (href: string, text: string): string => `<li><a href="${esc(href)}">${esc(text)}</a></li>`;
  const items: string[] = [];
  items.push(
    opts.upOnly
      ? link(`${base}${viewSuffix({ ...opts, upOnly: false })}`, 'Show all servers')
      : link(`${base}${viewSuffix({ ...opts, upOnly: true })}`, "Hide 'DOWN' servers"),
  );
  items.push(
    opts.noMaint
      ? link(`${base}${viewSuffix({ ...opts, noMaint: false })}`, "Show 'MAINT' servers")
      : link(`${base}${viewSuffix({ ...opts, noMaint: true })}`, "Hide 'MAINT' servers"),
  );
  if (opts.refreshMs && opts.refreshMs > 0) {
    items.push(
      opts.noRefresh
        ? link(`${base}${viewSuffix({ ...opts, noRefresh: false })}`, 'Enable refresh')
        : link(`${base}${viewSuffix({ ...opts, noRefresh: true })}`, `Disable refresh (${refresh}s)`),
    );
  }
  items.push(link(`${base}${viewSuffix(opts)}`, 'Refresh now'));
  items.push(link(`${base};csv`, 'CSV export'));
  items.push(link(`${base};json`, 'JSON export'));
  const metrics = opts.metricsPath === undefined ? '/metrics' : opts.metricsPath;
  if (metrics) items.push(link(metrics, 'Prometheus metrics'));
  return `<nav class="opts" aria-label="Display options"><b>Display options:</b><ul>${items.join('')}</ul></nav>\n`;
}

// ---- proxy tables ------------------------------------------------------------------------------

interface ProxyGroup {
  name: string;
  iid: string;
  frontend: HtmlStatRow | null;
  backend: HtmlStatRow | null;
  servers: HtmlStatRow[];
}

function groupByProxy(rows: readonly HtmlStatRow[]): ProxyGroup[] {
  const groups = new Map<string, ProxyGroup>();
  for (const r of rows) {
    const name = str(r, 'pxname');
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { name, iid: str(r, 'iid'), frontend: null, backend: null, servers: [] }));
    const t = rowType(r);
    if (t === TYPE_FE) g.frontend = r;
    else if (t === TYPE_BE) {
      g.backend = r;
      g.iid = str(r, 'iid') || g.iid;
    } else if (t === TYPE_SV) g.servers.push(r);
  }
  return [...groups.values()];
}

const HEAD1 =
  '<th rowspan="2" class="pxcol">{NAME}</th><th colspan="3">Queue</th><th colspan="3">Session rate</th><th colspan="6">Sessions</th>' +
  '<th colspan="2">Bytes</th><th colspan="2">Denied</th><th colspan="3">Errors</th><th colspan="2">Warnings</th><th colspan="9">Server</th>';
const HEAD2 =
  '<th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th>' +
  '<th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th>' +
  '<th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th>';

function renderProxy(g: ProxyGroup, opts: RenderOptions): string {
  const servers = g.servers.filter((s) => (!opts.upOnly || isUpForFilter(s)) && (!opts.noMaint || !str(s, 'status').startsWith('MAINT')));
  const hidden = g.servers.length - servers.length;
  const admin = opts.admin && g.backend !== null && g.servers.length > 0;
  const anchor = esc(g.name);
  const usable = g.servers.filter((s) => {
    const st = str(s, 'status');
    return st.startsWith('UP') || st === 'no check';
  }).length;
  const summary =
    g.servers.length > 0
      ? `<span class="chip ${usable === 0 ? 'active_down' : usable < g.servers.length ? 'active_going_down' : 'active_up'}" title="servers UP and ready (not DOWN, DRAIN or MAINT)">${usable}/${g.servers.length} servers usable</span>`
      : '';
  const desc = [g.frontend ? 'frontend' : '', g.backend ? `backend${g.backend && str(g.backend, 'algo') ? ` (${esc(str(g.backend, 'algo'))})` : ''}` : '']
    .filter(Boolean)
    .join(' + ');
  const out: string[] = [];
  out.push(`<section class="proxy" id="px-${anchor}"><h4><a class="px" id="${anchor}" href="#${anchor}">${anchor}</a> <span class="desc">${desc}</span> ${summary}${hidden ? ` <span class="muted">(${hidden} hidden)</span>` : ''}</h4>\n`);
  if (admin) out.push(`<form method="post" action="${esc(opts.uri + viewSuffix(opts))}">`);
  out.push(renderCompact(g, servers, opts.now));
  out.push(`<div class="tblwrap"><div class="scroll"><table class="tbl${admin ? ' admin' : ''}"><thead><tr class="titre">`);
  if (admin) out.push('<th rowspan="2" class="cb" title="select servers">&#10003;</th>');
  out.push(HEAD1.replace('{NAME}', ''), '</tr><tr class="titre">', HEAD2, '</tr></thead><tbody>\n');
  if (g.frontend) out.push(renderFrontendRow(g.frontend, admin));
  for (const s of servers) out.push(renderServerRow(s, admin, opts.now));
  if (g.backend) out.push(renderBackendRow(g.backend, admin));
  out.push('</tbody></table></div>');
  if (admin) {
    out.push(
      `<div class="adm"><label>Choose the action to perform on the checked servers: ` +
        '<select name="action"><option value="">Choose an action…</option>' +
        '<option value="ready">Set state to READY</option><option value="drain">Set state to DRAIN</option>' +
        '<option value="maint">Set state to MAINT</option><option value="shutdown">Kill Sessions</option></select></label> ' +
        `<input type="hidden" name="b" value="#${esc(g.iid)}"><button type="submit">Apply</button></div>`,
    );
  }
  out.push('</div>');
  if (admin) out.push('</form>');
  out.push('</section>\n');
  return out.join('');
}

/** The phone view of a proxy: one line per row with its state colour, status and sessions. */
function renderCompact(g: ProxyGroup, servers: HtmlStatRow[], now: number): string {
  void now;
  const items: string[] = [];
  if (g.frontend) {
    const f = g.frontend;
    items.push(`<li class="frontend"><b>Frontend</b><span>${esc(str(f, 'status'))}</span><span>${n(f, 'scur')}/${lim(f, 'slim')} sess</span><span>${n(f, 'stot')} total</span></li>`);
  }
  for (const s of servers) {
    const st = str(s, 'status');
    const chk = str(s, 'check_status');
    const dur = num(s, 'check_duration');
    const since = st === 'no check' ? '' : ` for ${humanTime(num(s, 'lastchg'))}`;
    items.push(
      `<li class="${serverClass(s)}"><b>${esc(str(s, 'svname'))}</b><span>${esc(st)}${esc(since)}</span>` +
        `<span>${n(s, 'scur')} sess</span>${chk ? `<span>${esc(chk)}${dur !== null ? ` ${dur}ms` : ''}</span>` : ''}${num(s, 'bck') ? '<span>backup</span>' : ''}</li>`,
    );
  }
  if (g.backend) {
    const b = g.backend;
    items.push(
      `<li class="backend${str(b, 'status') === 'DOWN' ? ' be_down' : ''}"><b>Backend</b><span>${esc(str(b, 'status'))} for ${esc(humanTime(num(b, 'lastchg')))}</span>` +
        `<span>${n(b, 'scur')} sess</span><span>${n(b, 'act')} act / ${n(b, 'bck')} bck</span></li>`,
    );
  }
  return `<ul class="compact" aria-hidden="true">${items.join('')}</ul>`;
}

function nameCell(row: HtmlStatRow, label: string, key: string): string {
  const anchor = esc(`${str(row, 'pxname')}/${key}`);
  const addr = str(row, 'addr');
  const title = addr ? ` title="${esc(addr)}${str(row, 'sid') ? `, id: ${esc(str(row, 'sid'))}` : ''}"` : '';
  return `<td class="name"><a id="${anchor}" class="lfsb" href="#${anchor}"${title}>${esc(label)}</a></td>`;
}

function bytesCell(row: HtmlStatRow, key: string): string {
  const v = num(row, key);
  return v === null ? '<td></td>' : `<td title="${esc(humanBytes(v))}">${esc(groupDigits(v))}</td>`;
}

function renderFrontendRow(r: HtmlStatRow, admin: boolean): string {
  return (
    '<tr class="frontend">' +
    (admin ? '<td></td>' : '') +
    nameCell(r, 'Frontend', 'Frontend') +
    '<td colspan="3"></td>' +
    `<td>${n(r, 'rate')}</td><td>${n(r, 'rate_max')}</td><td>${lim(r, 'rate_lim')}</td>` +
    `<td>${n(r, 'scur')}</td><td>${n(r, 'smax')}</td><td>${lim(r, 'slim')}</td><td>${n(r, 'stot')}</td><td></td><td></td>` +
    bytesCell(r, 'bin') +
    bytesCell(r, 'bout') +
    `<td>${n(r, 'dreq')}</td><td>${n(r, 'dresp')}</td>` +
    `<td>${n(r, 'ereq')}</td><td></td><td></td>` +
    '<td></td><td></td>' +
    `<td class="ac">${esc(str(r, 'status'))}</td><td colspan="8"></td></tr>\n`
  );
}

function statusCell(r: HtmlStatRow): string {
  const status = str(r, 'status');
  const since = humanTime(num(r, 'lastchg'));
  const desc = str(r, 'check_desc');
  const title = desc ? ` title="${esc(desc)}"` : '';
  if (status === 'no check') return `<td class="ac status"><i>no check</i></td>`;
  let arrow = '';
  if (status.startsWith('DOWN ')) arrow = ' &uarr;';
  else if (status.startsWith('UP ')) arrow = ' &darr;';
  return `<td class="ac status"${title}><b>${esc(status)}</b>${arrow} <span class="for">for ${esc(since)}</span></td>`;
}

function lastCheckCell(r: HtmlStatRow): string {
  const st = str(r, 'check_status');
  if (!st) return '<td></td>';
  const code = str(r, 'check_code');
  const dur = num(r, 'check_duration');
  const desc = str(r, 'check_desc');
  const text = `${st}${code ? `/${code}` : ''}${dur !== null ? ` in ${dur}ms` : ''}`;
  return `<td class="ac"${desc ? ` title="${esc(desc)}"` : ''}>${esc(text)}</td>`;
}

function yn(r: HtmlStatRow, key: string): string {
  const v = num(r, key);
  return v === null ? '' : v ? 'Y' : '-';
}

function renderServerRow(r: HtmlStatRow, admin: boolean, now: number): string {
  void now;
  const sv = str(r, 'svname');
  const lastsess = num(r, 'lastsess');
  const throttle = num(r, 'throttle');
  const checked = str(r, 'chkfail') !== '';
  return (
    `<tr class="${serverClass(r)}" data-server="${esc(sv)}" data-status="${esc(str(r, 'status'))}">` +
    (admin ? `<td class="cb"><input type="checkbox" name="s" value="${esc(sv)}" aria-label="select ${esc(sv)}"></td>` : '') +
    nameCell(r, sv, sv) +
    `<td>${n(r, 'qcur')}</td><td>${n(r, 'qmax')}</td><td>${lim(r, 'qlimit')}</td>` +
    `<td>${n(r, 'rate')}</td><td>${n(r, 'rate_max')}</td><td></td>` +
    `<td>${n(r, 'scur')}</td><td>${n(r, 'smax')}</td><td>${lim(r, 'slim')}</td><td>${n(r, 'stot')}</td><td>${n(r, 'lbtot')}</td>` +
    `<td>${lastsess === null || lastsess < 0 ? '?' : esc(humanTime(lastsess))}</td>` +
    bytesCell(r, 'bin') +
    bytesCell(r, 'bout') +
    `<td></td><td>${n(r, 'dresp')}</td>` +
    `<td></td><td>${n(r, 'econ')}</td><td>${n(r, 'eresp')}</td>` +
    `<td>${n(r, 'wretr')}</td><td>${n(r, 'wredis')}</td>` +
    statusCell(r) +
    lastCheckCell(r) +
    `<td class="ac">${n(r, 'weight')}</td><td class="ac">${yn(r, 'act')}</td><td class="ac">${yn(r, 'bck')}</td>` +
    `<td>${checked ? n(r, 'chkfail') : ''}</td><td>${checked ? n(r, 'chkdown') : ''}</td>` +
    `<td>${checked ? esc(humanTime(num(r, 'downtime'))) : ''}</td>` +
    `<td class="ac">${throttle === null ? '-' : `${throttle}%`}</td></tr>\n`
  );
}

function renderBackendRow(r: HtmlStatRow, admin: boolean): string {
  const lastsess = num(r, 'lastsess');
  const status = str(r, 'status');
  const cls = status === 'DOWN' ? 'backend be_down' : 'backend';
  return (
    `<tr class="${cls}" data-status="${esc(status)}">` +
    (admin ? '<td></td>' : '') +
    nameCell(r, 'Backend', 'Backend') +
    `<td>${n(r, 'qcur')}</td><td>${n(r, 'qmax')}</td><td></td>` +
    `<td>${n(r, 'rate')}</td><td>${n(r, 'rate_max')}</td><td></td>` +
    `<td>${n(r, 'scur')}</td><td>${n(r, 'smax')}</td><td>${lim(r, 'slim')}</td><td>${n(r, 'stot')}</td><td>${n(r, 'lbtot')}</td>` +
    `<td>${lastsess === null || lastsess < 0 ? '?' : esc(humanTime(lastsess))}</td>` +
    bytesCell(r, 'bin') +
    bytesCell(r, 'bout') +
    `<td>${n(r, 'dreq')}</td><td>${n(r, 'dresp')}</td>` +
    `<td></td><td>${n(r, 'econ')}</td><td>${n(r, 'eresp')}</td>` +
    `<td>${n(r, 'wretr')}</td><td>${n(r, 'wredis')}</td>` +
    `<td class="ac status"><b>${esc(status)}</b> <span class="for">for ${esc(humanTime(num(r, 'lastchg')))}</span></td><td></td>` +
    `<td class="ac">${n(r, 'weight')}</td><td class="ac">${n(r, 'act')}</td><td class="ac">${n(r, 'bck')}</td>` +
    `<td></td><td>${n(r, 'chkdown')}</td><td>${esc(humanTime(num(r, 'downtime')))}</td><td></td></tr>\n`
  );
}

// HAProxy's palette (light), a dark variant, and the responsive layout.
const CSS = `
*{box-sizing:border-box}
body{font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#000;background:#fff;margin:0;padding:8px 12px 24px}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:2px solid #000;margin-bottom:8px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:18px;font-style:italic;color:#6020a0;margin:0 0 4px}
h3{font-size:14px;color:#b00040;background:#e8e8d0;margin:0 0 6px;padding:2px 6px}
h4{font-size:14px;margin:14px 0 4px;display:flex;flex-wrap:wrap;align-items:center;gap:6px}
a{color:#0645ad}
.page{display:flex;flex-direction:column}
.panels{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
.panel{border:1px solid #c8c8b0;padding:0 0 6px;min-width:0;flex:1 1 250px}
#host{flex-basis:380px}
#legend{flex-basis:340px}
.tblwrap{display:inline-block;max-width:100%;vertical-align:top}
.compact{display:none;list-style:none;margin:0 0 6px;padding:0}
.compact li{display:flex;flex-wrap:wrap;gap:2px 10px;align-items:baseline;padding:6px 8px;border:1px solid #999;border-top:none}
.compact li:first-child{border-top:1px solid #999}
.compact li b{flex:1 1 100%;overflow-wrap:anywhere}
.panel>*:not(h3){margin-left:8px;margin-right:8px}
.panel dl{display:grid;grid-template-columns:max-content 1fr;gap:1px 10px;margin-top:0;margin-bottom:4px}
.panel dt{font-weight:bold}
.panel dd{margin:0;overflow-wrap:anywhere}
.panel pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:11px;max-height:200px;overflow:auto}
.muted{color:#666;font-size:11px;margin:2px 0}
.err{color:#a00000;margin:2px 0}
.bar{display:inline-block;vertical-align:middle;width:90px;height:9px;background:#eee;border:1px solid #bbb;margin-left:4px}
.bar span{display:block;height:100%;background:#6aa84f}
.bar.mem span{background:#3d85c6}
.legend{list-style:none;padding:0;margin:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:2px 8px}
.legend li{display:flex;align-items:center;gap:6px}
.sw{display:inline-block;width:14px;height:12px;border:1px solid gray;flex:none}
.opts{display:flex;flex-wrap:wrap;gap:2px 10px;align-items:baseline;margin:0 0 8px}
.opts ul{display:flex;flex-wrap:wrap;gap:2px 14px;list-style:none;margin:0;padding:0}
.msg{padding:6px 8px;margin:6px 0;border:1px solid gray;font-weight:bold}
.msg a{text-decoration:none;color:#000}
.chip{font-size:11px;font-weight:normal;padding:1px 6px;border:1px solid gray;border-radius:8px}
.desc{font-weight:normal;color:#555;font-size:12px}
a.px{background:#b00040;color:#ffff40;padding:2px 8px;text-decoration:none;font-weight:bold}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table.tbl{border-collapse:collapse}
table.tbl td,table.tbl th{border:1px solid gray;padding:2px 3px;white-space:nowrap;font-size:11px}
table.tbl td{text-align:right}
table.tbl td.ac,table.tbl td.cb{text-align:center}
table.tbl td.name{text-align:left;font-weight:bold;position:sticky;left:0;background:inherit;z-index:1}
table.tbl td.cb{position:sticky;left:0;background:inherit;z-index:1;width:28px;min-width:28px}
table.tbl.admin td.name{left:28px}
table.tbl th.cb{position:sticky;left:0;z-index:2;width:28px;min-width:28px}
table.tbl.admin th.pxcol{left:28px}
table.tbl td.name a{color:#000;text-decoration:none}
table.tbl thead th{background:#20d0d0;color:#000}
table.tbl th.pxcol{position:sticky;left:0;z-index:2;min-width:70px}
.adm{background:#f4f4ea;padding:6px;border:1px solid gray;border-top:none;display:flex;flex-wrap:wrap;gap:6px;align-items:center}
table.tbl .for{font-size:10px;color:#333}
table.mini{border-collapse:collapse;margin:4px 0;font-size:11px}
table.mini td,table.mini th{border:1px solid #bbb;padding:1px 4px;text-align:right;white-space:nowrap}
table.mini td.l{text-align:left}
table.mini td.ac{text-align:center}
.if_up{background:#c0ffc0}.if_down{background:#ff9090}.if_unknown{background:#e0e0e0}
.vrrp{border-top:1px dotted #aaa;padding-top:4px;margin-top:4px}
.vrrp-head{margin-bottom:2px}
.state{padding:1px 6px;border:1px solid gray}
select,button{font-size:13px;padding:3px 6px}
footer{margin-top:16px;color:#666;font-size:11px}
.frontend{background:#e8e8d0}
.backend{background:#e8e8d0}
.backend.be_down td.status{background:#ff9090}
.active_down{background:#ff9090}
.active_going_up{background:#ffd020}
.active_going_down{background:#ffffa0}
.active_up{background:#c0ffc0}
.active_nolb{background:#20a0ff}
.active_draining{background:#20a0ff}
.active_no_check{background:#e0e0e0}
.backup_down{background:#ff9090}
.backup_going_up{background:#ff80ff}
.backup_going_down{background:#c060ff}
.backup_up{background:#b0d0ff}
.backup_nolb{background:#90b0e0}
.backup_draining{background:#cc9900}
.backup_no_check{background:#e0e0e0}
.maintain{background:#c07820}
@media (max-width:600px){
 body{padding:6px;font-size:14px}
 h1{font-size:18px}h2{font-size:14px}
 .panels{order:2}
 .panel{flex-basis:100%}
 .proxies{order:1}
 .compact{display:block}
 h4{margin-top:8px}
 table.tbl td,table.tbl th{font-size:12px;padding:4px 5px}
 select,button{font-size:16px;padding:6px 10px}
 input[type=checkbox]{width:20px;height:20px}
}
@media (prefers-color-scheme:dark){
 body{color:#e8e6e3;background:#131516}
 a{color:#3391ff}
 h2{color:#a265e0}h3{color:#ff5190;background:#3e3e1f}
 .panel{border-color:#555}
 .muted,.desc{color:#aaa}
 table.tbl thead th{background:#1aa6a6;color:#e8e6e3}
 table.tbl td.name a,.msg a{color:#e8e6e3}
 table.tbl .for{color:#ccc}
 .adm{background:#2a2d2f}
 .bar{background:#333}
 .frontend,.backend{background:#2f3437}
 .active_down,.backup_down,.backend.be_down td.status,.if_down{background:#760000}
 .active_going_up{background:#b99200}
 .active_going_down{background:#6c6c00}
 .active_up,.if_up{background:#165900}
 .active_nolb,.active_draining{background:#006ab9}
 .active_no_check,.backup_no_check,.if_unknown{background:#2a2d2f}
 .backup_going_up{background:#7f007f}
 .backup_going_down{background:#580092}
 .backup_up{background:#2e3234}
 .backup_nolb{background:#1e3c6a}
 .backup_draining{background:#a37a00}
 .maintain{background:#9a601a}
}
`;
