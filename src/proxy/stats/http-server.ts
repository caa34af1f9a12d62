// The stats listener of a `mode http` stats section (HAProxy's `stats enable` / `monitor-uri`):
//
//   <uri>                 the HTML page           <uri>;csv     HAProxy 2.6 CSV
//   <uri>;json            JSON                    /metrics      Prometheus text exposition
//   <monitor-uri>         200 while the proxy serves and every backend has a usable server, else 503
//   modifiers, combinable as in HAProxy: ;up (only UP servers) ;norefresh ;no-maint ;st=CODE
//   POST <uri>            admin form (stats admin): s=<server>... action=ready|drain|maint|shutdown
//                         b=#<iid>|<backend> -> 303 to <uri>;st=DONE|PART|NONE|ERRP|EXCD|DENY|IVAL
//
// `stats auth user:pass` (several allowed) protects everything but the monitor URI, with Basic
// auth compared in constant time; a missing or wrong password gets 401 and the realm. Admin
// actions need `stats admin` AND a configured `stats auth` the request passed: warren never
// lets an anonymous client change server states. A cross-site browser POST (CSRF riding on the
// browser's cached credentials) is denied like HAProxy denies a non-admin: 303 to ;st=DENY.
//
// Hostile input: the request line and headers are capped (maxHeaderSize), slow clients are cut
// off (headersTimeout / requestTimeout), admin bodies are capped (413), unknown paths get 404,
// other methods 405. A request node cannot parse is counted (`counters.malformed`) and answered
// 400/431/408 then dropped; nothing a client sends can throw out of this module.

import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { StatsConfig } from '../../config/types.js';
import type { Logger } from '../../lib/log.js';
import type { Backend } from '../backend.js';
import { TrafficCounters } from '../counters.js';
import { statsListenerSpecs, type ListenerSpec } from '../listeners.js';
import type { Proxy } from '../proxy.js';
import type { Server } from '../server.js';
import { renderCsv } from './csv.js';
import { HostInfo } from './host.js';
import { renderStatJson } from './json.js';
import { getVrrpStates, METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { render, type StatusCode, type VrrpView } from './html.js';
import { collectInfo, collectStats, listProxies } from './model.js';

export interface StatsHttpOptions {
  /** The VRRP daemon's status URL (JSON); without it the page says VRRP is not configured. */
  vrrpStatusUrl?: string;
  /** Host-panel refresh interval (ms, default 2000). */
  hostIntervalMs?: number;
  /** Admin POST body cap in bytes (default 16 KiB). */
  maxBodyBytes?: number;
  /** Time allowed for the request line and headers (default 5 s) and for the whole request (10 s). */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface StatsHttpCounters {
  /** Requests that reached the router (parsed by node). */
  requests: number;
  /** Requests node could not parse (garbage, bad framing, oversized headers): answered 4xx and dropped. */
  malformed: number;
  /** Connections cut because headers or the request took too long. */
  timeouts: number;
  /** 401 answers. */
  unauthorized: number;
  /** 404 / 405 / 413 answers. */
  notFound: number;
  badMethod: number;
  tooLarge: number;
  /** Admin POSTs processed (whatever their result) and refused (DENY). */
  adminActions: number;
  adminDenied: number;
  /** Handler failures answered 500 (should stay 0). */
  errors: number;
}

/** A reload's change of a running stats section, bound but not yet in effect (see prepare). */
export interface PreparedStats {
  /** Switch to the new settings, close the binds that are gone, then bind the deferred ones
   *  (a failure there is logged: the section runs without that bind). */
  commit(): Promise<void>;
  /** Abandon: close what prepare bound. */
  rollback(): Promise<void>;
}

export interface StatsHttpHandle {
  /** The section's name (its identity across reloads). */
  readonly name: string;
  close(): Promise<void>;
  addresses(): AddressInfo[];
  /**
   * Reload: bind the sockets `cfg` adds (except the keys in `defer`, which must wait until
   * another listener on their port has closed: commit binds them); throws, having bound
   * nothing, if one cannot be bound. Unchanged binds keep their sockets.
   */
  prepare(cfg: StatsConfig, opts: StatsHttpOptions, defer?: ReadonlySet<string>): Promise<PreparedStats>;
  readonly counters: StatsHttpCounters;
  /** Connections, bytes and rate of this listener (the stats section's FRONTEND/BACKEND rows). */
  readonly traffic: TrafficCounters;
}

// Limits, chosen deliberately (node's defaults are laxer or absent).
const MAX_HEADER_BYTES = 8 * 1024; // request line + headers
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEPALIVE_TIMEOUT_MS = 5_000;
/** How often node enforces the two timeouts above (its default, 30 s, lets a slow client linger). */
const TIMEOUT_CHECK_MS = 500;
const MAX_HEADERS_COUNT = 64;
const MAX_CONNECTIONS = 512;
const DEFAULT_MAX_BODY = 16 * 1024;

/** Traffic counters of the running stats listeners, by section name (for collectStats' statsCounters). */
const registry = new Map<string, TrafficCounters>();

/** The counters of a running stats section, for `collectStats(proxy, { statsCounters })`. */
export function statsHttpCounters(section: string): TrafficCounters | undefined {
  return registry.get(section);
}

// One host poller shared by every stats listener of the process.
let sharedHost: HostInfo | null = null;
let hostUsers = 0;
function acquireHost(intervalMs: number | undefined): HostInfo {
  if (!sharedHost) {
    sharedHost = new HostInfo(intervalMs === undefined ? {} : { intervalMs });
    sharedHost.start();
  }
  hostUsers++;
  return sharedHost;
}
async function releaseHost(): Promise<void> {
  if (--hostUsers > 0 || !sharedHost) return;
  const h = sharedHost;
  sharedHost = null;
  await h.stop();
}

// ---- request parsing ---------------------------------------------------------------------------

export type StatsFormat = 'html' | 'csv' | 'json';

export interface StatsView {
  format: StatsFormat;
  upOnly: boolean;
  noRefresh: boolean;
  noMaint: boolean;
  statusCode: string | null;
  /** `;typed` / `;json-schema` asked: served as 404 (not implemented). */
  unsupported: string | null;
}

/**
 * Whether `rawUrl` is under the stats URI, and with which modifiers. HAProxy matches the stats
 * URI as a prefix and reads `;csv`, `;json`, `;up`, `;norefresh`, `;no-maint`, `;st=XXXX` from
 * what follows, in any order.
 */
export function parseStatsUrl(rawUrl: string, uri: string): StatsView | null {
  if (!rawUrl.startsWith(uri)) return null;
  const rest = rawUrl.slice(uri.length);
  if (rest !== '' && !/^[;?/#]/.test(rest) && !uri.endsWith('/') && !uri.endsWith('?')) return null;
  const view: StatsView = { format: 'html', upOnly: false, noRefresh: false, noMaint: false, statusCode: null, unsupported: null };
  for (const part of rest.split(';').slice(1)) {
    const token = part.split(/[?&#]/)[0]!;
    if (token === 'csv') view.format = 'csv';
    else if (token === 'json') view.format = 'json';
    else if (token === 'up') view.upOnly = true;
    else if (token === 'norefresh') view.noRefresh = true;
    else if (token === 'no-maint') view.noMaint = true;
    else if (token.startsWith('st=')) view.statusCode = /^[A-Z]{4}$/.test(token.slice(3)) ? token.slice(3) : 'UNKN';
    else if (token === 'typed' || token === 'json-schema') view.unsupported = token;
  }
  return view;
}

/** `Basic` credentials of a request, or null. */
function basicCredentials(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  return decoded.includes(':') ? decoded : null;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks `user:pass` against every configured pair in constant time (no early exit, equal-length
 * digests), and returns the user name that matched or null.
 */
export function checkAuth(pairs: readonly string[], presented: string | null): string | null {
  const got = digest(presented ?? '\u0000no-credentials');
  let matched: string | null = null;
  for (const pair of pairs) {
    const ok = timingSafeEqual(got, digest(pair));
    if (ok && presented !== null && matched === null) matched = pair.slice(0, pair.indexOf(':'));
  }
  return matched;
}

// ---- admin actions -------------------------------------------------------------------------------

type AdminAction = 'ready' | 'drain' | 'maint' | 'shutdown' | 'disable' | 'enable' | 'stop' | 'start';
/** HAProxy's other form actions: known, but they need health/agent controls warren lacks. */
const UNSUPPORTED_ACTIONS = new Set(['dhlth', 'ehlth', 'hrunn', 'hnolb', 'hdown', 'dagent', 'eagent', 'arunn', 'adown']);
const ACTIONS = new Set<string>(['ready', 'drain', 'maint', 'shutdown', 'disable', 'enable', 'stop', 'start']);

function decodeFormPart(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export interface AdminResult {
  code: StatusCode;
  backend: string | null;
  action: string | null;
  altered: string[];
}

/** Applies one admin form, with HAProxy's rules for which parameter wins and which code results. */
export function applyAdminForm(proxy: Proxy, body: string): AdminResult {
  const result: AdminResult = { code: 'NONE', backend: null, action: null, altered: [] };
  let params: [string, string][];
  try {
    params = body
      .split('&')
      .filter((p) => p.length > 0)
      .map((p) => {
        const i = p.indexOf('=');
        return i < 0 ? [decodeFormPart(p), ''] : [decodeFormPart(p.slice(0, i)), decodeFormPart(p.slice(i + 1))];
      });
  } catch {
    return { ...result, code: 'ERRP' };
  }
  // HAProxy reads the form backwards and keeps the first b/action it meets: the last one sent wins.
  let bParam: string | null = null;
  let action: string | null = null;
  const names: string[] = [];
  for (const [k, v] of params) {
    if (k === 'b') bParam = v;
    else if (k === 'action') action = v;
    else if (k === 's') names.push(v);
  }
  if (action !== null && !ACTIONS.has(action) && !UNSUPPORTED_ACTIONS.has(action)) return { ...result, code: 'ERRP', action };
  let backend: Backend | null = null;
  if (bParam !== null) {
    backend = findBackend(proxy, bParam);
    if (!backend) return { ...result, code: 'ERRP', action };
    result.backend = backend.config.name;
  }
  result.action = action;
  if (!backend || action === null || names.length === 0) return result;
  let total = 0;
  for (const name of names) {
    total++;
    const server = backend.servers.find((s) => s.config.name === name);
    if (!server) continue;
    if (UNSUPPORTED_ACTIONS.has(action)) continue;
    if (applyAction(server, action as AdminAction)) result.altered.push(server.config.name);
  }
  const altered = result.altered.length;
  result.code = total === 0 ? 'NONE' : altered === 0 ? 'ERRP' : altered === total ? 'DONE' : 'PART';
  return result;
}

function findBackend(proxy: Proxy, b: string): Backend | null {
  if (b.startsWith('#')) {
    const iid = Number(b.slice(1));
    if (!Number.isInteger(iid)) return null;
    return listProxies(proxy).find((e) => e.iid === iid)?.backend ?? null;
  }
  return proxy.backends.get(b) ?? null;
}

/** Applies one action to one server; true when HAProxy would count the server as altered. */
function applyAction(s: Server, action: AdminAction): boolean {
  switch (action) {
    case 'ready':
      s.setAdmin('READY');
      return true;
    case 'drain':
      s.setAdmin('DRAIN');
      return true;
    case 'maint':
      s.setAdmin('MAINT');
      return true;
    case 'shutdown':
      s.shutdownSessions();
      return true;
    case 'disable':
      if (s.admin === 'MAINT') return false;
      s.setAdmin('MAINT');
      return true;
    case 'enable':
      if (s.admin !== 'MAINT') return false;
      s.setAdmin('READY');
      return true;
    case 'stop':
      if (s.admin === 'DRAIN') return false;
      s.setAdmin('DRAIN');
      return true;
    case 'start':
      if (s.admin !== 'DRAIN') return false;
      s.setAdmin('READY');
      return true;
  }
}

// ---- health (monitor-uri) ------------------------------------------------------------------------

/** True while every frontend listens and every backend has a usable server. */
export function proxyHealthy(proxy: Proxy): { ok: boolean; reason: string } {
  for (const fe of proxy.frontends) {
    const addrs = fe.addresses();
    if (addrs.length === 0 || addrs.some((a) => !a)) return { ok: false, reason: 'not serving' };
  }
  let down = 0;
  for (const be of proxy.backends.values()) if (!be.isUp) down++;
  if (down > 0) return { ok: false, reason: `${down} backend${down > 1 ? 's' : ''} without a usable server` };
  return { ok: true, reason: 'Service ready.' };
}

// ---- the server ----------------------------------------------------------------------------------

interface VrrpPoller {
  view: VrrpView;
  stop(): void;
}

function startVrrpPoller(url: string | undefined, intervalMs: number): VrrpPoller {
  const view: VrrpView = { url: url ?? null, status: null, error: null, fetchedAt: null };
  if (!url) return { view, stop() {} };
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const poll = async (): Promise<void> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1500), headers: { accept: 'application/json' } });
      if (Number(res.headers.get('content-length') ?? 0) > 256 * 1024) throw new Error('answer too large');
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      if (text.length > 256 * 1024) throw new Error('answer too large');
      view.status = JSON.parse(text);
      view.error = null;
      view.fetchedAt = Date.now();
    } catch (err) {
      view.error = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
    }
    if (!stopped) {
      timer = setTimeout(() => void poll(), intervalMs);
      timer.unref();
    }
  };
  void poll();
  return {
    view,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * What the VRRP panel shows: the daemon's status API when a URL is configured; otherwise the
 * states reported into this process (metrics.ts setVrrpState), if any; otherwise "not configured".
 */
function vrrpView(polled: VrrpView, now: number): VrrpView {
  if (polled.url) return polled;
  const local = getVrrpStates();
  if (local.size === 0) return polled;
  return {
    url: null,
    fetchedAt: now,
    status: {
      instances: [...local].map(([name, v]) => ({ name, state: v.state, effective_priority: v.priority, since: new Date(v.since).toISOString() })),
    },
  };
}

const HTML_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // (not no-referrer: that would make browsers send `Origin: null` on the page's own admin POST)
  'Referrer-Policy': 'same-origin',
  // No script anywhere on the page; inline styles only. Defence in depth behind the escaping.
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export async function startStatsHttp(
  initialCfg: StatsConfig,
  proxy: Proxy,
  log: Logger,
  opts: StatsHttpOptions = {},
  /** Binds not to open now (a reload opens them later: see PreparedStats). */
  defer: ReadonlySet<string> = new Set(),
): Promise<StatsHttpHandle> {
  // The settings can change on reload (prepare/commit below); the handlers read them per request.
  let cfg = initialCfg;
  const counters: StatsHttpCounters = {
    requests: 0,
    malformed: 0,
    timeouts: 0,
    unauthorized: 0,
    notFound: 0,
    badMethod: 0,
    tooLarge: 0,
    adminActions: 0,
    adminDenied: 0,
    errors: 0,
  };
  const traffic = new TrafficCounters();
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const headersTimeout = opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, headersTimeout);
  const host = acquireHost(opts.hostIntervalMs);
  let vrrpUrl = opts.vrrpStatusUrl;
  let vrrp = startVrrpPoller(vrrpUrl, 2000);
  // A section with only `monitor-uri` (no `stats enable`) serves nothing but the monitor URI.
  let statsEnabled = false;
  let adminPossible = false;
  let realm = '';
  const applySettings = (c: StatsConfig): void => {
    cfg = c;
    statsEnabled = c.enabled;
    adminPossible = c.admin && c.auth.length > 0;
    if (c.admin && c.auth.length === 0) {
      log.warn({ section: c.name }, `stats section '${c.name}': 'stats admin' needs 'stats auth'; admin actions stay disabled`);
    }
    realm = c.realm.replace(/["\\]/g, (ch) => `\\${ch}`);
  };
  applySettings(cfg);
  registry.set(cfg.name, traffic);
  const section = cfg.name;
  const statsCounters = (name: string): TrafficCounters | undefined => registry.get(name);

  const send = (req: http.IncomingMessage, res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: string | Buffer): void => {
    // A string body goes to res.end() as it is: node then sends the head and the body in one
    // write, where a Buffer would cost a copy of the page and a two-chunk writev.
    const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
    res.writeHead(status, { ...headers, 'Content-Length': length });
    if (req.method === 'HEAD') res.end();
    else if (typeof body === 'string') res.end(body, 'utf8');
    else res.end(body);
  };
  const text = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string, extra: http.OutgoingHttpHeaders = {}): void =>
    send(req, res, status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache', ...extra }, body);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    counters.requests++;
    // Absolute-form targets (`GET http://host/stats`) are matched on their path, as origin-form.
    const rawUrl = (req.url ?? '/').replace(/^https?:\/\/[^/?#]*/i, '') || '/';
    const method = req.method ?? 'GET';
    const path = rawUrl.split('?')[0]!;

    // monitor-uri: answered before anything else, without authentication (as HAProxy).
    if (cfg.monitorUri && (rawUrl === cfg.monitorUri || path === cfg.monitorUri)) {
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(req, res, 'GET, HEAD');
      const h = proxyHealthy(proxy);
      return text(req, res, h.ok ? 200 : 503, h.ok ? 'Service ready.\n' : `Service Unavailable: ${h.reason}.\n`);
    }

    const isMetrics = statsEnabled && path === '/metrics';
    const view = isMetrics || !statsEnabled ? null : parseStatsUrl(rawUrl, cfg.uri);
    if (!isMetrics && !view) {
      counters.notFound++;
      return text(req, res, 404, '404 Not Found\n');
    }
    const allowed = view && view.format === 'html' ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
    if (!allowed.includes(method)) return methodNotAllowed(req, res, allowed.join(', '));

    let user: string | null = null;
    if (cfg.auth.length > 0) {
      user = checkAuth(cfg.auth, basicCredentials(req.headers.authorization));
      if (user === null) {
        counters.unauthorized++;
        return send(
          req,
          res,
          401,
          { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'WWW-Authenticate': `Basic realm="${realm}"` },
          '<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n',
        );
      }
    }
    const admin = adminPossible && user !== null;

    if (isMetrics) return serveMetrics(req, res);
    if (!view) return;
    if (view.unsupported) {
      counters.notFound++;
      return text(req, res, 404, `404 Not Found: ;${view.unsupported} is not supported\n`);
    }
    if (method === 'POST') return handlePost(req, res, view, admin, user);

    const now = Date.now();
    const rows = collectStats(proxy, { statsCounters, now });
    if (view.format === 'csv') {
      return send(req, res, 200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' }, renderCsv(rows));
    }
    if (view.format === 'json') {
      return send(req, res, 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' }, renderStatJson(rows));
    }
    const html = render(rows, collectInfo(proxy, { now }), {
      uri: cfg.uri,
      refreshMs: cfg.refresh,
      noRefresh: view.noRefresh,
      upOnly: view.upOnly,
      noMaint: view.noMaint,
      admin,
      hideVersion: cfg.hideVersion,
      statusCode: view.statusCode,
      host: host.snapshot,
      vrrp: vrrpView(vrrp.view, now),
      now,
    });
    return send(req, res, 200, HTML_HEADERS, html);
  };

  const methodNotAllowed = (req: http.IncomingMessage, res: http.ServerResponse, allow: string): void => {
    counters.badMethod++;
    text(req, res, 405, '405 Method Not Allowed\n', { Allow: allow });
  };

  const serveMetrics = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    send(req, res, 200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Cache-Control': 'no-cache' }, renderMetrics(proxy, { statsCounters }));
  };

  const handlePost = async (req: http.IncomingMessage, res: http.ServerResponse, view: StatsView, admin: boolean, user: string | null): Promise<void> => {
    const redirect = (code: StatusCode): void => {
      const location = `${cfg.uri};st=${code}${view.upOnly ? ';up' : ''}${view.noRefresh ? ';norefresh' : ''}${view.noMaint ? ';no-maint' : ''}`;
      send(req, res, 303, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache', Location: location }, '');
    };
    const length = req.headers['content-length'];
    if (length !== undefined && Number(length) > maxBody) {
      counters.tooLarge++;
      res.shouldKeepAlive = false;
      return text(req, res, 413, '413 Payload Too Large\n', { Connection: 'close' });
    }
    const read = await readBody(req, maxBody);
    if (read.kind === 'aborted') return; // the client left (or timed out): nobody to answer
    if (read.kind === 'too-large') {
      counters.tooLarge++;
      res.shouldKeepAlive = false;
      return text(req, res, 413, '413 Payload Too Large\n', { Connection: 'close' });
    }
    const body = read.body;
    if (!admin || crossSite(req)) {
      counters.adminDenied++;
      return redirect('DENY');
    }
    const type = (req.headers['content-type'] ?? 'application/x-www-form-urlencoded').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return redirect('IVAL');
    counters.adminActions++;
    const result = applyAdminForm(proxy, body.toString('latin1'));
    log.info(
      { section, user, backend: result.backend, action: result.action, servers: result.altered, result: result.code, client: req.socket.remoteAddress },
      `stats admin: ${result.action ?? '-'} on ${result.backend ?? '-'}/${result.altered.join(',') || '-'} by ${user ?? '-'}: ${result.code}`,
    );
    redirect(result.code);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      counters.errors++;
      log.error({ err, section }, 'stats request failed');
      if (!res.headersSent) {
        try {
          text(req, res, 500, '500 Internal Server Error\n', { Connection: 'close' });
        } catch {
          res.destroy();
        }
      } else res.destroy();
    });
  };

  const onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') status = 431;
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') status = 408;
    if (status === 408) counters.timeouts++;
    else counters.malformed++;
    log.debug({ section, code: err.code, client: socket.remoteAddress }, 'stats: bad request dropped');
    socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroySoon?.();
    setTimeout(() => socket.destroy(), 1000).unref();
  };

  /** The listening sockets, by key (listeners.ts). */
  const servers = new Map<string, http.Server>();
  let closed = false;
  const closeServer = (s: http.Server): Promise<void> =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (registry.get(cfg.name) === traffic) registry.delete(cfg.name);
    vrrp.stop();
    const all = [...servers.values()];
    servers.clear();
    await Promise.all(all.map(closeServer));
    await releaseHost();
  };

  const openBind = async (spec: ListenerSpec): Promise<http.Server> => {
    const bind = spec.bind;
    {
      const server = http.createServer(
        {
          maxHeaderSize: MAX_HEADER_BYTES,
          requestTimeout: requestTimeout,
          headersTimeout: headersTimeout,
          connectionsCheckingInterval: TIMEOUT_CHECK_MS,
          keepAliveTimeout: KEEPALIVE_TIMEOUT_MS,
          insecureHTTPParser: false,
          noDelay: true,
        },
        onRequest,
      );
      server.maxHeadersCount = MAX_HEADERS_COUNT;
      server.maxConnections = MAX_CONNECTIONS;
      server.on('clientError', onClientError);
      // CONNECT (tunnels) has no place here: node would drop it silently; answer 405 like the rest.
      server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
        counters.badMethod++;
        socket.on('error', () => {});
        socket.end('HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        setTimeout(() => socket.destroy(), 1000).unref();
      });
      server.on('connection', (socket: Socket) => {
        traffic.sessionStarted(Date.now());
        socket.on('error', () => {});
        socket.once('close', () => {
          traffic.sessionEnded();
          traffic.bytesIn += socket.bytesRead;
          traffic.bytesOut += socket.bytesWritten;
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: bind.host, port: bind.port, ipv6Only: spec.ipv6Only }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => log.error({ err, section }, 'stats listener error'));
      return server;
    }
  };

  /** Bind every spec not bound yet (and not deferred); all or nothing. */
  const openMissing = async (specs: ListenerSpec[], skip: ReadonlySet<string>): Promise<Map<string, http.Server>> => {
    const opened = new Map<string, http.Server>();
    try {
      for (const spec of specs) {
        if (servers.has(spec.key) || skip.has(spec.key)) continue;
        opened.set(spec.key, await openBind(spec));
      }
    } catch (err) {
      await Promise.all([...opened.values()].map(closeServer));
      throw err;
    }
    return opened;
  };

  try {
    for (const [key, server] of await openMissing(statsListenerSpecs(cfg.binds, cfg.name), defer)) servers.set(key, server);
  } catch (err) {
    await close();
    throw err;
  }
  log.debug({ section, binds: [...servers.values()].map((s) => addrText(s.address() as AddressInfo)), uri: cfg.uri, monitorUri: cfg.monitorUri }, `stats page ${section} started`);

  const prepare = async (next: StatsConfig, nextOpts: StatsHttpOptions, deferred: ReadonlySet<string> = new Set()): Promise<PreparedStats> => {
    const specs = statsListenerSpecs(next.binds, next.name);
    const opened = await openMissing(specs, deferred);
    return {
      async commit() {
        applySettings(next);
        if (nextOpts.vrrpStatusUrl !== vrrpUrl) {
          vrrp.stop();
          vrrpUrl = nextOpts.vrrpStatusUrl;
          vrrp = startVrrpPoller(vrrpUrl, 2000);
        }
        const wanted = new Set(specs.map((s) => s.key));
        const gone: http.Server[] = [];
        for (const [key, server] of servers) {
          if (wanted.has(key)) continue;
          servers.delete(key);
          gone.push(server);
        }
        // Stop listening at once; requests in progress on those sockets are answered.
        for (const g of gone) {
          g.close();
          g.closeIdleConnections();
        }
        for (const [key, server] of opened) servers.set(key, server);
        for (const spec of specs) {
          if (servers.has(spec.key)) continue;
          try {
            servers.set(spec.key, await openBind(spec));
          } catch (err) {
            log.error({ err, section, bind: spec.key }, `reload: stats section ${section}: cannot bind ${spec.key}: ${(err as Error).message}`);
          }
        }
      },
      async rollback() {
        await Promise.all([...opened.values()].map(closeServer));
      },
    };
  };

  return {
    name: section,
    close,
    addresses: () => {
      const out: AddressInfo[] = [];
      for (const spec of statsListenerSpecs(cfg.binds, cfg.name)) {
        const a = servers.get(spec.key)?.address() as AddressInfo | null | undefined;
        if (a) out.push(a);
      }
      return out;
    },
    prepare,
    counters,
    traffic,
  };
}

function addrText(a: AddressInfo | null): string {
  if (!a) return '?';
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * A browser POST that another site made (CSRF: a browser replays cached Basic credentials to any
 * form that targets the stats page). Browsers say so in Sec-Fetch-Site, or in an Origin that is
 * not this host; clients that send neither (curl, scripts) are not browsers being tricked.
 */
function crossSite(req: http.IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true; // 'null' or garbage
  }
}

type BodyResult = { kind: 'ok'; body: Buffer } | { kind: 'too-large' } | { kind: 'aborted' };

/** Reads a request body up to `max` bytes: too-large past that, aborted if the client went away. */
function readBody(req: http.IncomingMessage, max: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: BodyResult): void => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        req.pause();
        finish({ kind: 'too-large' });
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => finish({ kind: 'ok', body: Buffer.concat(chunks) }));
    req.once('error', () => finish({ kind: 'aborted' }));
    req.once('close', () => finish(req.complete ? { kind: 'ok', body: Buffer.concat(chunks) } : { kind: 'aborted' }));
  });
}
