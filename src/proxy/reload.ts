// Reload (SIGHUP), in process. HAProxy reloads by starting a new process that takes over the
// listening sockets while the old one finishes its sessions; health, admin state, runtime weights
// and counters start afresh unless a server-state-file carries them over. warren reloads in
// place instead, as a diff between the running config and the new one:
//
//   planReload(old, new)  (pure, here) what changed: listeners kept / moved / opened / closed,
//                         frontends, backends and stats sections kept / added / removed / changed,
//                         servers kept / added / removed / changed, global settings.
//   Proxy.reload(config)  applies a plan, in two phases. Prepare (may fail): bind every new
//                         listening socket (and a new runtime API socket); if one cannot be bound
//                         nothing has changed and the reload is abandoned. Commit (does not fail):
//                         backends, servers, frontends, stats, then close what is gone.
//   reloadFromFile()      what SIGHUP runs: read and validate the file (an invalid one is logged,
//                         issue by issue, and changes nothing), then apply; one reload at a time.
//
// What a reload keeps and what it resets:
//   - A listening socket whose address did not change is never closed (no refused connect),
//     even when its section was renamed or the bind moved to another frontend.
//   - A server is the same server when its backend, name and address are the same. It keeps its
//     health (checks go on where they were; changed rise/fall/intervals rebuild them with the
//     health carried over), its admin state (drain/maint) and runtime weight (`set weight`),
//     its counters, sessions and queue. Exception, as HAProxy's server-state-file: when the
//     config's own `weight` (or `disabled`) of that server changed, the newest intent — the
//     edited config — replaces the runtime value.
//   - A server whose address changed is a new server (fresh health, state and counters); the old
//     one is retired like a removed one: no new session, no checks, its sessions finish.
//   - Established sessions are never cut: a removed frontend stops listening and its sessions
//     finish; a removed backend or server serves its sessions until they close.
//   - Changed timeouts, maxconn, balance, retries, logging apply to new sessions; a session keeps
//     the settings it started with.
//   - The stats listeners and the runtime API socket are kept when unchanged; disabled addresses
//     (runtime API `disable address`) are process state and stay.

import type { BackendConfig, BindAddress, CheckConfig, FrontendConfig, ProxyConfig, ServerConfig, StatsConfig } from '../config/types.js';
import { ConfigError, formatIssue, loadProxyConfig, type ConfigIssue } from '../config/load.js';
import * as net from 'node:net';
import { statsListenerSpecs, tcpListenerSpecs } from './listeners.js';
import type { Proxy } from './proxy.js';
import type { ServerReconfig } from './server.js';

// ---- the plan ---------------------------------------------------------------------------------

export interface SettingChange {
  setting: string;
  from: string;
  to: string;
}

export type Fate = 'kept' | 'added' | 'removed';

export interface ListenerRef {
  key: string;
  kind: 'frontend' | 'stats';
  /** The frontend or stats section it belongs to. */
  owner: string;
  bind: BindAddress;
  ipv6Only: boolean;
}

export interface OpenedListener extends ListenerRef {
  /** Keys of closed listeners that hold the same port (a wildcard and a specific address, a
   *  v6only flip, a TCP bind that became a stats bind): they must close before this one can
   *  bind, so connects in between are refused. Empty for an ordinary new listener. */
  after: string[];
}

export interface ListenerPlan {
  kept: ListenerRef[];
  /** Same address, other frontend (a renamed `listen`, a bind moved): the socket stays open. */
  moved: { from: ListenerRef; to: ListenerRef }[];
  opened: OpenedListener[];
  closed: ListenerRef[];
}

export interface SectionPlan {
  name: string;
  fate: Fate;
  /** For a kept section: its settings that changed (empty: unchanged). */
  changes: SettingChange[];
}

export interface ServerRef {
  backend: string;
  name: string;
  address: string;
  /** A server whose address changed is removed and added under the same name. */
  addressChanged: boolean;
}

export interface KeptServer extends ServerRef {
  index: number;
  changes: SettingChange[];
  reconfig: ServerReconfig;
}

export interface BackendPlan extends SectionPlan {
  /** The balancer must be rebuilt (server set or order or settings, balance, hash-type, allbackups). */
  rebalance: boolean;
  servers: { kept: KeptServer[]; added: ServerRef[]; removed: ServerRef[] };
}

export interface RuntimeApiPlan {
  action: 'none' | 'keep' | 'start' | 'stop' | 'restart';
  from: string | null;
  to: string | null;
  /** A restart on the same path must close the old socket before binding the new one. */
  samePath: boolean;
}

export interface ChangeLine {
  what: 'global' | 'runtime-api' | 'listener' | 'frontend' | 'backend' | 'server' | 'stats';
  action: 'added' | 'removed' | 'changed' | 'opened' | 'closed' | 'moved' | 'replaced' | 'restarted' | 'started' | 'stopped';
  /** `backend/server`, a section name, a listener key. */
  id: string;
  text: string;
}

export interface ReloadPlan {
  global: SettingChange[];
  runtimeApi: RuntimeApiPlan;
  frontends: SectionPlan[];
  backends: BackendPlan[];
  stats: SectionPlan[];
  listeners: ListenerPlan;
  /** Server ids (`backend/server`) by what happens to them (a changed server is also kept). */
  servers: { kept: string[]; added: string[]; removed: string[]; changed: string[] };
  /** One line per change, in the order they are applied. */
  lines: ChangeLine[];
  /** `reload: 1 server added, 1 removed; 1 listener opened` or `reload: no change`. */
  summary: string;
  empty: boolean;
}

/** HAProxy-style duration text for a log line: 5s, 3h, 250ms; null: none. */
export function durationText(ms: number | null): string {
  if (ms === null) return 'none';
  if (ms === 0) return '0';
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  for (const [n, u] of units) if (ms % n === 0) return `${ms / n}${u}`;
  return `${ms}ms`;
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');
const text = (v: string | number | null): string => (v === null ? 'none' : String(v));

type Field<T> = [setting: string, read: (c: T) => string];

function diff<T>(a: T, b: T, fields: readonly Field<T>[]): SettingChange[] {
  const out: SettingChange[] = [];
  for (const [setting, read] of fields) {
    const from = read(a);
    const to = read(b);
    if (from !== to) out.push({ setting, from, to });
  }
  return out;
}

const ruleText = (c: FrontendConfig): string =>
  c.useBackend.map((r) => `${r.backend} ${r.condition.negate ? 'unless' : 'if'} ${r.condition.kind} ${r.condition.values.join(' ')}`).join('; ') || 'none';

const FRONTEND_FIELDS: readonly Field<FrontendConfig>[] = [
  ['maxconn', (c) => text(c.maxconn)],
  ['backlog', (c) => text(c.backlog)],
  ['timeout client', (c) => durationText(c.timeouts.client)],
  ['timeout client-fin', (c) => durationText(c.timeouts.clientFin)],
  ['timeout tunnel', (c) => durationText(c.timeouts.tunnel)],
  ['option tcplog', (c) => onOff(c.tcplog)],
  ['option dontlognull', (c) => onOff(c.dontlognull)],
  ['option tcpka', (c) => onOff(c.tcpka)],
  ['default_backend', (c) => text(c.defaultBackend)],
  ['use_backend', ruleText],
];

function checkText(c: CheckConfig): string {
  if (c.type === 'amqp' && c.amqp) return `amqp-check${c.amqp.user ? ` (user ${c.amqp.user}, vhost ${c.amqp.vhost}, on-blocked ${c.amqp.onBlocked})` : ''}`;
  if (c.type === 'http' && c.http) {
    const h = c.http;
    const expect = h.expectStatusRegex !== null ? `rstatus ${h.expectStatusRegex}` : `status ${h.expectStatus.join(',')}`;
    const headers = Object.entries(h.headers)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    return `httpchk ${h.method} ${h.uri} expect ${expect}${headers ? ` headers ${headers}` : ''}`;
  }
  return 'tcp';
}

/** Secrets are compared, never printed. */
function checkSecret(c: CheckConfig): string {
  return `${c.amqp?.password ?? ''}\u0000${c.http?.auth ?? ''}`;
}

const BACKEND_FIELDS: readonly Field<BackendConfig>[] = [
  ['balance', (c) => c.balance],
  ['hash-type', (c) => c.hashType],
  ['retries', (c) => text(c.retries)],
  ['option redispatch', (c) => (c.redispatch === null ? 'off' : String(c.redispatch))],
  ['option allbackups', (c) => onOff(c.allbackups)],
  ['option tcpka', (c) => onOff(c.tcpka)],
  ['timeout connect', (c) => durationText(c.timeouts.connect)],
  ['timeout server', (c) => durationText(c.timeouts.server)],
  ['timeout queue', (c) => durationText(c.timeouts.queue)],
  ['timeout check', (c) => durationText(c.timeouts.check)],
  ['timeout tunnel', (c) => durationText(c.timeouts.tunnel)],
  ['timeout server-fin', (c) => durationText(c.timeouts.serverFin)],
  ['check', (c) => checkText(c.check)],
];

/** Backend settings the checks of its servers depend on. */
function backendCheckKey(c: BackendConfig): string {
  return JSON.stringify([c.check, c.timeouts.connect, c.timeouts.check]);
}

const SERVER_FIELDS: readonly Field<ServerConfig>[] = [
  ['weight', (s) => text(s.weight)],
  ['backup', (s) => onOff(s.backup)],
  ['maxconn', (s) => text(s.maxconn)],
  ['maxqueue', (s) => text(s.maxqueue)],
  ['disabled', (s) => onOff(s.disabled)],
  ['slowstart', (s) => durationText(s.slowstart)],
  ['on-marked-down shutdown-sessions', (s) => onOff(s.shutdownSessionsOnDown)],
  ['send-proxy', (s) => (s.sendProxy === 0 ? 'off' : s.sendProxy === 1 ? 'v1' : 'v2')],
  ['check', (s) => onOff(s.check)],
  ['inter', (s) => durationText(s.inter)],
  ['fastinter', (s) => durationText(s.fastinter)],
  ['downinter', (s) => durationText(s.downinter)],
  ['rise', (s) => text(s.rise)],
  ['fall', (s) => text(s.fall)],
  ['observe layer4', (s) => onOff(s.observeLayer4)],
  ['error-limit', (s) => text(s.errorLimit)],
  ['on-error', (s) => s.onError],
  ['port', (s) => text(s.checkPort)],
  ['addr', (s) => text(s.checkAddr)],
];

const CHECK_SETTINGS = new Set(['check', 'inter', 'fastinter', 'downinter', 'rise', 'fall', 'observe layer4', 'error-limit', 'on-error', 'port', 'addr']);

const STATS_FIELDS: readonly Field<StatsConfig>[] = [
  ['stats enable', (c) => onOff(c.enabled)],
  ['stats uri', (c) => c.uri],
  ['stats refresh', (c) => durationText(c.refresh)],
  ['stats realm', (c) => c.realm],
  ['stats auth', (c) => `${c.auth.length} user(s)`],
  ['stats admin', (c) => onOff(c.admin)],
  ['stats hide-version', (c) => onOff(c.hideVersion)],
  ['monitor-uri', (c) => text(c.monitorUri)],
];

const GLOBAL_FIELDS: readonly Field<ProxyConfig['global']>[] = [
  ['maxconn', (g) => text(g.maxconn)],
  ['hard-stop-after', (g) => durationText(g.hardStopAfter)],
  ['nbthread', (g) => text(g.nbthread)],
  ['vrrp-status', (g) => text(g.vrrpStatus)],
];

function serverAddress(s: ServerConfig): string {
  return `${net.isIPv6(s.host) ? `[${s.host}]` : s.host}:${s.port}`;
}

function socketPath(spec: string): string {
  return (spec.trim().split(/\s+/)[0] ?? '').replace(/^unix@/, '');
}

function changesText(changes: readonly SettingChange[]): string {
  return changes.map((c) => `${c.setting} ${c.from} -> ${c.to}`).join(', ');
}

function planSections<T extends { name: string }>(oldList: readonly T[], newList: readonly T[], fields: readonly Field<T>[], extra?: (a: T, b: T) => SettingChange[]): SectionPlan[] {
  const oldByName = new Map(oldList.map((c) => [c.name, c]));
  const newNames = new Set(newList.map((c) => c.name));
  const out: SectionPlan[] = [];
  for (const c of newList) {
    const o = oldByName.get(c.name);
    if (!o) out.push({ name: c.name, fate: 'added', changes: [] });
    else out.push({ name: c.name, fate: 'kept', changes: [...diff(o, c, fields), ...(extra ? extra(o, c) : [])] });
  }
  for (const o of oldList) if (!newNames.has(o.name)) out.push({ name: o.name, fate: 'removed', changes: [] });
  return out;
}

function planBackend(o: BackendConfig, n: BackendConfig): BackendPlan {
  const changes = diff(o, n, BACKEND_FIELDS);
  if (checkSecret(o.check) !== checkSecret(n.check)) changes.push({ setting: 'check credentials', from: '(hidden)', to: '(changed)' });
  const checksAffected = backendCheckKey(o) !== backendCheckKey(n);
  const oldByName = new Map(o.servers.map((s) => [s.name, s]));
  const newNames = new Set(n.servers.map((s) => s.name));
  const kept: KeptServer[] = [];
  const added: ServerRef[] = [];
  const removed: ServerRef[] = [];
  n.servers.forEach((s, index) => {
    const os = oldByName.get(s.name);
    const address = serverAddress(s);
    if (os && serverAddress(os) === address) {
      const sc = diff(os, s, SERVER_FIELDS);
      const settings = new Set(sc.map((c) => c.setting));
      kept.push({
        backend: n.name,
        name: s.name,
        address,
        addressChanged: false,
        index,
        changes: sc,
        reconfig: {
          checks: sc.some((c) => CHECK_SETTINGS.has(c.setting)) || (checksAffected && (s.check || os.check)),
          weight: settings.has('weight'),
          disabled: settings.has('disabled'),
        },
      });
    } else {
      added.push({ backend: n.name, name: s.name, address, addressChanged: os !== undefined });
      if (os) removed.push({ backend: o.name, name: os.name, address: serverAddress(os), addressChanged: true });
    }
  });
  for (const os of o.servers) if (!newNames.has(os.name)) removed.push({ backend: o.name, name: os.name, address: serverAddress(os), addressChanged: false });
  const sameOrder = o.servers.length === n.servers.length && kept.length === n.servers.length && kept.every((k, i) => o.servers[i]!.name === k.name);
  const rebalance =
    !sameOrder ||
    kept.some((k) => k.changes.length > 0) ||
    o.balance !== n.balance ||
    o.hashType !== n.hashType ||
    o.allbackups !== n.allbackups;
  return { name: n.name, fate: 'kept', changes, rebalance, servers: { kept, added, removed } };
}

function listenerRefs(c: ProxyConfig): ListenerRef[] {
  return [
    ...c.frontends.flatMap((fe) => tcpListenerSpecs(fe.binds, fe.name).map((s) => ({ ...s, kind: 'frontend' as const, owner: fe.name }))),
    ...c.stats.flatMap((sc) => statsListenerSpecs(sc.binds, sc.name).map((s) => ({ ...s, kind: 'stats' as const, owner: sc.name }))),
  ];
}

/** Can `a` and `b` not be bound at the same time (same port, one address covers the other)? */
export function listenersConflict(a: ListenerRef, b: ListenerRef): boolean {
  if (a.bind.port !== b.bind.port || a.bind.port === 0) return false;
  const v6 = (h: string): boolean => net.isIPv6(h);
  const covers = (x: ListenerRef, y: ListenerRef): boolean =>
    x.bind.host === y.bind.host ||
    (x.bind.host === '0.0.0.0' && !v6(y.bind.host)) ||
    (x.bind.host === '::' && (v6(y.bind.host) || !x.ipv6Only));
  return covers(a, b) || covers(b, a);
}

function planListeners(oldC: ProxyConfig, newC: ProxyConfig): ListenerPlan {
  const olds = listenerRefs(oldC);
  const oldByKey = new Map(olds.map((l) => [l.key, l]));
  const used = new Set<string>();
  const plan: ListenerPlan = { kept: [], moved: [], opened: [], closed: [] };
  const opened: ListenerRef[] = [];
  for (const n of listenerRefs(newC)) {
    const o = oldByKey.get(n.key);
    if (!o) {
      opened.push(n);
      continue;
    }
    used.add(o.key);
    if (o.kind === n.kind && o.owner === n.owner) plan.kept.push(n);
    else if (o.kind === 'frontend' && n.kind === 'frontend') plan.moved.push({ from: o, to: n });
    else {
      // A stats listener is an HTTP server of its section: it cannot change hands or kind.
      plan.closed.push(o);
      opened.push(n);
    }
  }
  for (const o of olds) if (!used.has(o.key) && !plan.closed.includes(o)) plan.closed.push(o);
  for (const n of opened) plan.opened.push({ ...n, after: plan.closed.filter((c) => listenersConflict(c, n)).map((c) => c.key) });
  return plan;
}

function planRuntimeApi(from: string | null, to: string | null): RuntimeApiPlan {
  const samePath = from !== null && to !== null && socketPath(from) === socketPath(to);
  let action: RuntimeApiPlan['action'];
  if (from === null && to === null) action = 'none';
  else if (from === null) action = 'start';
  else if (to === null) action = 'stop';
  else action = from.trim().split(/\s+/).join(' ') === to.trim().split(/\s+/).join(' ') ? 'keep' : 'restart';
  return { action, from, to, samePath };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** What a reload from `oldC` to `newC` changes. Pure: reads the two configs only. */
export function planReload(oldC: ProxyConfig, newC: ProxyConfig): ReloadPlan {
  const global = diff(oldC.global, newC.global, GLOBAL_FIELDS);
  const runtimeApi = planRuntimeApi(oldC.global.statsSocket, newC.global.statsSocket);
  const frontends = planSections(oldC.frontends, newC.frontends, FRONTEND_FIELDS);
  const stats = planSections(oldC.stats, newC.stats, STATS_FIELDS, (a, b) =>
    a.auth.join('\n') !== b.auth.join('\n') && a.auth.length === b.auth.length ? [{ setting: 'stats auth', from: '(hidden)', to: '(changed)' }] : [],
  );
  const oldBackends = new Map(oldC.backends.map((b) => [b.name, b]));
  const newBackendNames = new Set(newC.backends.map((b) => b.name));
  const backends: BackendPlan[] = [];
  for (const b of newC.backends) {
    const o = oldBackends.get(b.name);
    if (o) backends.push(planBackend(o, b));
    else {
      backends.push({
        name: b.name,
        fate: 'added',
        changes: [],
        rebalance: true,
        servers: { kept: [], added: b.servers.map((s) => ({ backend: b.name, name: s.name, address: serverAddress(s), addressChanged: false })), removed: [] },
      });
    }
  }
  for (const o of oldC.backends) {
    if (newBackendNames.has(o.name)) continue;
    backends.push({
      name: o.name,
      fate: 'removed',
      changes: [],
      rebalance: false,
      servers: { kept: [], added: [], removed: o.servers.map((s) => ({ backend: o.name, name: s.name, address: serverAddress(s), addressChanged: false })) },
    });
  }
  const listeners = planListeners(oldC, newC);

  const id = (s: ServerRef): string => `${s.backend}/${s.name}`;
  const servers = {
    kept: backends.flatMap((b) => b.servers.kept.map(id)),
    added: backends.flatMap((b) => b.servers.added.map(id)),
    removed: backends.flatMap((b) => b.servers.removed.map(id)),
    changed: backends.flatMap((b) => b.servers.kept.filter((k) => k.changes.length > 0).map(id)),
  };

  // ---- one line per change, in apply order -----------------------------------------------
  const lines: ChangeLine[] = [];
  const add = (what: ChangeLine['what'], action: ChangeLine['action'], lineId: string, t: string): void => void lines.push({ what, action, id: lineId, text: t });
  for (const c of global) add('global', 'changed', c.setting, `global ${c.setting}: ${c.from} -> ${c.to}`);
  if (runtimeApi.action === 'start') add('runtime-api', 'started', socketPath(runtimeApi.to!), `runtime API: stats-socket ${runtimeApi.to} added`);
  if (runtimeApi.action === 'stop') add('runtime-api', 'stopped', socketPath(runtimeApi.from!), `runtime API: stats-socket ${runtimeApi.from} removed`);
  if (runtimeApi.action === 'restart') add('runtime-api', 'restarted', socketPath(runtimeApi.to!), `runtime API: stats-socket ${runtimeApi.from} -> ${runtimeApi.to} (socket re-created)`);
  for (const b of backends) {
    if (b.fate === 'added') add('backend', 'added', b.name, `backend ${b.name} added (${plural(b.servers.added.length, 'server')})`);
    else if (b.fate === 'removed') add('backend', 'removed', b.name, `backend ${b.name} removed: its servers take no new sessions; their open sessions finish`);
    else if (b.changes.length > 0) add('backend', 'changed', b.name, `backend ${b.name} changed: ${changesText(b.changes)} (applies to new sessions)`);
    if (b.fate !== 'kept') continue;
    const addedByName = new Map(b.servers.added.map((s) => [s.name, s]));
    for (const r of b.servers.removed) {
      const a = addedByName.get(r.name);
      if (r.addressChanged && a) {
        add('server', 'replaced', id(r), `server ${id(r)} replaced: address ${r.address} -> ${a.address} (a new server: fresh health, state and counters; the old one takes no new sessions, its open sessions finish)`);
      } else {
        add('server', 'removed', id(r), `server ${id(r)} (${r.address}) removed: takes no new sessions; its open sessions finish`);
      }
    }
    for (const a of b.servers.added) if (!a.addressChanged) add('server', 'added', id(a), `server ${id(a)} (${a.address}) added`);
    for (const k of b.servers.kept) if (k.changes.length > 0) add('server', 'changed', id(k), `server ${id(k)} changed: ${changesText(k.changes)}`);
  }
  for (const l of listeners.opened) {
    const order = l.after.length > 0 ? ` (after closing ${l.after.join(', ')}: same port)` : '';
    add('listener', 'opened', l.key, `listener ${l.key} opened (${l.kind} ${l.owner})${order}`);
  }
  for (const m of listeners.moved) add('listener', 'moved', m.to.key, `listener ${m.to.key} moved from frontend ${m.from.owner} to ${m.to.owner} (the socket stays open)`);
  for (const f of frontends) {
    if (f.fate === 'added') add('frontend', 'added', f.name, `frontend ${f.name} added`);
    else if (f.fate === 'removed') add('frontend', 'removed', f.name, `frontend ${f.name} removed: stops accepting; its open sessions finish`);
    else if (f.changes.length > 0) {
      const backlog = f.changes.some((c) => c.setting === 'backlog') ? '; backlog: for sockets opened from now on' : '';
      add('frontend', 'changed', f.name, `frontend ${f.name} changed: ${changesText(f.changes)} (applies to new sessions${backlog})`);
    }
  }
  for (const s of stats) {
    if (s.fate === 'added') add('stats', 'added', s.name, `stats section ${s.name} added`);
    else if (s.fate === 'removed') add('stats', 'removed', s.name, `stats section ${s.name} removed`);
    else if (s.changes.length > 0) add('stats', 'changed', s.name, `stats section ${s.name} changed: ${changesText(s.changes)}`);
  }
  for (const l of listeners.closed) add('listener', 'closed', l.key, `listener ${l.key} closed (${l.kind} ${l.owner}): no new connections there; its open sessions finish`);

  // ---- summary -----------------------------------------------------------------------------
  const parts: string[] = [];
  const group = (noun: string, counts: [number, string][]): void => {
    const items = counts.filter(([n]) => n > 0);
    if (items.length === 0) return;
    parts.push(items.map(([n, verb], i) => (i === 0 ? `${plural(n, noun)} ${verb}` : `${n} ${verb}`)).join(', '));
  };
  const count = (list: readonly { fate: Fate; changes: SettingChange[] }[], fate: Fate | 'changed'): number =>
    list.filter((x) => (fate === 'changed' ? x.fate === 'kept' && x.changes.length > 0 : x.fate === fate)).length;
  group('server', [
    [servers.added.length, 'added'],
    [servers.removed.length, 'removed'],
    [servers.changed.length, 'changed'],
  ]);
  group('backend', [
    [count(backends, 'added'), 'added'],
    [count(backends, 'removed'), 'removed'],
    [count(backends, 'changed'), 'changed'],
  ]);
  group('frontend', [
    [count(frontends, 'added'), 'added'],
    [count(frontends, 'removed'), 'removed'],
    [count(frontends, 'changed'), 'changed'],
  ]);
  group('listener', [
    [listeners.opened.length, 'opened'],
    [listeners.closed.length, 'closed'],
    [listeners.moved.length, 'moved'],
  ]);
  group('stats section', [
    [count(stats, 'added'), 'added'],
    [count(stats, 'removed'), 'removed'],
    [count(stats, 'changed'), 'changed'],
  ]);
  group('global setting', [[global.length, 'changed']]);
  if (runtimeApi.action === 'start' || runtimeApi.action === 'stop' || runtimeApi.action === 'restart') parts.push(`runtime API ${runtimeApi.action === 'start' ? 'started' : runtimeApi.action === 'stop' ? 'stopped' : 'restarted'}`);
  const empty = lines.length === 0;
  const kept = `${plural(servers.kept.length, 'server')} and ${plural(listeners.kept.length + listeners.moved.length, 'listener')} kept`;
  const summary = empty ? `reload: no change (${kept})` : `reload: ${parts.join('; ')} (${kept})`;
  return { global, runtimeApi, frontends, backends, stats, listeners, servers, lines, summary, empty };
}

// ---- SIGHUP: read, validate, apply ------------------------------------------------------------

export type ReloadOutcome =
  | { status: 'applied'; plan: ReloadPlan }
  | { status: 'unchanged'; plan: ReloadPlan }
  /** The new config is invalid: nothing changed. */
  | { status: 'invalid'; issues: ConfigIssue[] }
  /** Valid, but a listening socket could not be bound (or the proxy is stopping): nothing changed. */
  | { status: 'failed'; error: string; plan: ReloadPlan | null };

interface ReloadState {
  running: Promise<ReloadOutcome> | null;
  again: Promise<ReloadOutcome> | null;
}
const states = new WeakMap<Proxy, ReloadState>();

/**
 * What SIGHUP runs: re-read `file`, validate it, and apply it to `proxy`. An invalid file is
 * logged (every issue as `file:line: path: message`) and changes nothing. Reloads never overlap:
 * one asked for while another runs starts when it ends (several such asks make one reload).
 */
export function reloadFromFile(proxy: Proxy, file: string, trigger = 'SIGHUP'): Promise<ReloadOutcome> {
  let st = states.get(proxy);
  if (!st) states.set(proxy, (st = { running: null, again: null }));
  const state = st;
  if (state.running) {
    state.again ??= state.running.then(() => {
      state.again = null;
      return run();
    });
    return state.again;
  }
  return run();

  function run(): Promise<ReloadOutcome> {
    const p = reloadOnce(proxy, file, trigger).finally(() => {
      if (state.running === p) state.running = null;
    });
    state.running = p;
    return p;
  }
}

async function reloadOnce(proxy: Proxy, file: string, trigger: string): Promise<ReloadOutcome> {
  const log = proxy.logger;
  log.info({ file, trigger }, `reload requested (${trigger}): reading ${file}`);
  let config: ProxyConfig;
  try {
    config = loadProxyConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      log.error({ err, file }, `reload: cannot load ${file}; the running config is unchanged`);
      return { status: 'failed', error: (err as Error).message, plan: null };
    }
    log.error({ file, errors: err.issues.length }, `reload: ${file} is invalid (${plural(err.issues.length, 'error')}); the running config is unchanged`);
    for (const issue of err.issues) log.error({ file: issue.file, line: issue.line, path: issue.path }, formatIssue(issue));
    return { status: 'invalid', issues: err.issues };
  }
  try {
    return await proxy.reload(config);
  } catch (err) {
    // Proxy.reload only throws for a bug; say so rather than die on a signal.
    log.error({ err }, 'reload: failed unexpectedly');
    return { status: 'failed', error: (err as Error).message, plan: null };
  }
}
