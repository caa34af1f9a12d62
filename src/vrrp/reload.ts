// What a SIGHUP reload of `warren vrrp` has to do, pure: the running config and the new (already
// validated) one in, a plan out. The daemon (daemon.ts) performs the plan; nothing here touches a
// socket, a timer or the host, so every rule is unit-tested (test/unit/vrrp-reload.test.ts).
//
// The rule that matters: a reload must not cause a state change that the new config does not ask
// for. So a vrrp_instance keeps running (same machine, same state, VIP untouched, no notify hook)
// whenever its IDENTITY is unchanged, and only the parts that changed are applied to it:
//   identity: name, virtual_router_id, interface, the source address (unicast_src_ip /
//     mcast_src_ip), unicast_peer / the multicast group, the virtual addresses, the auth secret
//     (the resolved one, so a rewritten secret file counts), advert_int, the address family;
//   applied in place: base priority, track_script / track_interface (which, and their weights) →
//     a new effective priority through the normal path (setEffective); nopreempt and
//     preempt_delay → the machine's setters; notify hooks → a new Notifier;
//   only read at start (reported, not applied, so as not to move anything): `state` (the
//     initial-state hint) and the vrrp_garp_* settings.
// An instance whose identity changed is stopped (resigns, hands its VIP over) and a new one is
// started; a removed one is stopped; a new one is started.
//
// Trackers are shared by key (`script:NAME`, `interface:IF`); one whose config is unchanged keeps
// running with its state. A changed one (script text, user, interval, timeout, rise, fall,
// init_fail; not its weight, which belongs to the instances that track it) is replaced.
//
// global_defs: router_id applies at once (a name); status_listen is rebound; proxy_socket is
// swapped; vrrp_port needs a restart (the advert socket, the liveness listener and every peer's
// config change together). Everything else in global_defs (script_user, enable_script_security,
// the multicast groups, the default secret file, the vrrp_garp_* defaults) is resolved by the
// loader into the instances and scripts, so it shows up in their diffs above.

import { isDeepStrictEqual } from 'node:util';
import type { NotifyConfig, VrrpConfig, VrrpInstanceConfig, VrrpScriptConfig } from '../config/vrrp-types.js';

/** One tracker reference of an instance, by tracker key. */
export interface TrackUse {
  key: string;
  weight: number;
}

/** What a tracker key stands for. */
export type TrackerSpec = { key: string; kind: 'script'; script: VrrpScriptConfig } | { key: string; kind: 'interface'; ifname: string };

/** An instance that keeps running, and what changes in it. */
export interface KeptInstance {
  name: string;
  /** The new config (identity fields equal to the old one's). */
  config: VrrpInstanceConfig;
  /** Base priority, when it changed. */
  priority: { from: number; to: number } | null;
  /** The tracker references (keys or weights) changed. */
  tracksChanged: boolean;
  /** nopreempt / preempt_delay, when either changed (the new values). */
  preempt: { nopreempt: boolean; preemptDelay: number } | null;
  /** The notify hooks (or who runs them) changed: a new Notifier. */
  notifyChanged: boolean;
  /** Changed settings that are only read when an instance starts: not applied by a reload. */
  startOnly: string[];
}

export interface ReplacedInstance {
  name: string;
  /** The identity fields that differ, e.g. ['virtual_ipaddress', 'advert_int']. */
  reasons: string[];
}

export interface VrrpReloadPlan {
  global: {
    /** router_id changed (applied: it is only a name). */
    routerId: { from: string | null; to: string | null } | null;
    /** status_listen changed: rebind the status API. */
    statusListen: boolean;
    /** proxy_socket changed: a new link to the local proxy. */
    proxySocket: boolean;
    /** Changes a reload cannot apply (the daemon must be restarted), e.g. ['vrrp_port 5798 -> 5799']. */
    needsRestart: string[];
  };
  keep: KeptInstance[];
  replace: ReplacedInstance[];
  remove: string[];
  add: string[];
  trackers: {
    /** Unchanged and still used: keep running, state kept. */
    keep: string[];
    /** Used before and after, config changed: a new tracker replaces the old one. */
    replace: string[];
    /** Newly used. */
    add: string[];
    /** No longer used: stopped. */
    remove: string[];
  };
  /** Whether enable_script_security changed (every script tracker and notifier is affected). */
  scriptSecurityChanged: boolean;
}

/** Resolved shared secrets by instance name (from auth_pass or the secret file). */
export type SecretsByInstance = ReadonlyMap<string, string>;

/** The tracker keys and weights an instance uses (track_script, track_interface, its own interface). */
export function instanceTracks(inst: VrrpInstanceConfig): TrackUse[] {
  const tracks: TrackUse[] = inst.trackScripts.map((ref) => ({ key: `script:${ref.name}`, weight: ref.weight }));
  const ifaces = [...inst.trackInterfaces];
  if (inst.trackPrimaryInterface && !ifaces.some((t) => t.name === inst.interface)) ifaces.push({ name: inst.interface, weight: 0 });
  for (const ref of ifaces) tracks.push({ key: `interface:${ref.name}`, weight: ref.weight });
  return tracks;
}

/** Every tracker the config's instances use, by key, in order of first use. */
export function trackerSpecs(config: VrrpConfig): Map<string, TrackerSpec> {
  const specs = new Map<string, TrackerSpec>();
  for (const inst of config.instances) {
    for (const { key } of instanceTracks(inst)) {
      if (specs.has(key)) continue;
      if (key.startsWith('script:')) {
        const name = key.slice('script:'.length);
        const script = config.scripts.find((s) => s.name === name);
        if (!script) throw new Error(`vrrp_instance ${inst.name} tracks an unknown vrrp_script ${name}`); // the loader prevents this
        specs.set(key, { key, kind: 'script', script });
      } else {
        specs.set(key, { key, kind: 'interface', ifname: key.slice('interface:'.length) });
      }
    }
  }
  return specs;
}

/** The identity fields of an instance that differ (keepalived names); empty: same identity. */
export function identityChanges(a: VrrpInstanceConfig, b: VrrpInstanceConfig, secretA?: string, secretB?: string): string[] {
  const out: string[] = [];
  const differ = (x: unknown, y: unknown): boolean => !isDeepStrictEqual(x, y);
  if (a.name !== b.name) out.push('name');
  if (a.vrid !== b.vrid) out.push('virtual_router_id');
  if (a.interface !== b.interface) out.push('interface');
  if (a.srcIp !== b.srcIp) out.push('unicast_src_ip');
  if (differ(a.unicastPeers, b.unicastPeers)) out.push('unicast_peer');
  if (a.mcastGroup !== b.mcastGroup) out.push('mcast_group');
  if (a.family !== b.family) out.push('family');
  if (differ(a.virtualIpaddresses, b.virtualIpaddresses)) out.push('virtual_ipaddress');
  if (a.advertInterval !== b.advertInterval) out.push('advert_int');
  const authA = secretA !== undefined && secretB !== undefined ? { type: a.auth.type, secret: secretA } : a.auth;
  const authB = secretA !== undefined && secretB !== undefined ? { type: b.auth.type, secret: secretB } : b.auth;
  if (differ(authA, authB)) out.push('authentication');
  return out;
}

/** A tracker's config minus its weight (the weight belongs to the instances tracking it). */
function trackerBehaviour(spec: TrackerSpec): unknown {
  if (spec.kind === 'interface') return spec;
  const { weight: _weight, ...rest } = spec.script;
  void _weight;
  return rest;
}

function notifyEqual(a: NotifyConfig, b: NotifyConfig): boolean {
  return isDeepStrictEqual(a, b);
}

function hasScripts(spec: TrackerSpec): boolean {
  return spec.kind === 'script' && spec.script.kind === 'script';
}

function hasHooks(n: NotifyConfig): boolean {
  return [n.master, n.backup, n.fault, n.stop, n.any].some((c) => c !== null);
}

export function planVrrpReload(
  old: VrrpConfig,
  next: VrrpConfig,
  secrets: { old?: SecretsByInstance; next?: SecretsByInstance } = {},
): VrrpReloadPlan {
  const og = old.global;
  const ng = next.global;
  const needsRestart: string[] = [];
  if (og.port !== ng.port) needsRestart.push(`vrrp_port ${og.port} -> ${ng.port}`);
  const scriptSecurityChanged = og.enableScriptSecurity !== ng.enableScriptSecurity;

  // Trackers.
  const oldSpecs = trackerSpecs(old);
  const newSpecs = trackerSpecs(next);
  const trackers: VrrpReloadPlan['trackers'] = { keep: [], replace: [], add: [], remove: [] };
  for (const [key, spec] of newSpecs) {
    const before = oldSpecs.get(key);
    if (!before) trackers.add.push(key);
    else if (!isDeepStrictEqual(trackerBehaviour(before), trackerBehaviour(spec)) || (scriptSecurityChanged && hasScripts(spec))) trackers.replace.push(key);
    else trackers.keep.push(key);
  }
  for (const key of oldSpecs.keys()) if (!newSpecs.has(key)) trackers.remove.push(key);

  // Instances.
  const keep: KeptInstance[] = [];
  const replace: ReplacedInstance[] = [];
  const add: string[] = [];
  const oldByName = new Map(old.instances.map((i) => [i.name, i]));
  const newNames = new Set(next.instances.map((i) => i.name));
  for (const inst of next.instances) {
    const before = oldByName.get(inst.name);
    if (!before) {
      add.push(inst.name);
      continue;
    }
    const reasons = identityChanges(before, inst, secrets.old?.get(inst.name), secrets.next?.get(inst.name));
    if (reasons.length > 0) {
      replace.push({ name: inst.name, reasons });
      continue;
    }
    const startOnly: string[] = [];
    if (before.initialState !== inst.initialState) startOnly.push(`state ${before.initialState} -> ${inst.initialState}`);
    if (!isDeepStrictEqual(before.garp, inst.garp)) startOnly.push('vrrp_garp_*');
    const preemptChanged = before.nopreempt !== inst.nopreempt || before.preemptDelay !== inst.preemptDelay;
    keep.push({
      name: inst.name,
      config: inst,
      priority: before.priority !== inst.priority ? { from: before.priority, to: inst.priority } : null,
      tracksChanged: !isDeepStrictEqual(instanceTracks(before), instanceTracks(inst)),
      preempt: preemptChanged ? { nopreempt: inst.nopreempt, preemptDelay: inst.preemptDelay } : null,
      notifyChanged: !notifyEqual(before.notify, inst.notify) || (scriptSecurityChanged && hasHooks(inst.notify)),
      startOnly,
    });
  }
  const remove = old.instances.filter((i) => !newNames.has(i.name)).map((i) => i.name);

  return {
    global: {
      routerId: og.routerId !== ng.routerId ? { from: og.routerId, to: ng.routerId } : null,
      statusListen: !isDeepStrictEqual(og.statusListen, ng.statusListen),
      proxySocket: og.proxySocket !== ng.proxySocket,
      needsRestart,
    },
    keep,
    replace,
    remove,
    add,
    trackers,
    scriptSecurityChanged,
  };
}

/** Does the plan change anything at run time? (false: a reload of an equivalent file.) */
export function planChangesSomething(plan: VrrpReloadPlan): boolean {
  const g = plan.global;
  if (g.routerId || g.statusListen || g.proxySocket) return true;
  if (plan.replace.length || plan.remove.length || plan.add.length) return true;
  if (plan.trackers.replace.length || plan.trackers.add.length || plan.trackers.remove.length) return true;
  return plan.keep.some((k) => k.priority || k.tracksChanged || k.preempt || k.notifyChanged);
}

/** One line per change, for the log: what the reload does (and what it cannot do). */
export function describePlan(plan: VrrpReloadPlan): string[] {
  const lines: string[] = [];
  const g = plan.global;
  if (g.routerId) lines.push(`router_id ${g.routerId.from ?? '(none)'} -> ${g.routerId.to ?? '(none)'}`);
  if (g.statusListen) lines.push('status_listen changed: the status API is rebound');
  if (g.proxySocket) lines.push('proxy_socket changed');
  for (const r of g.needsRestart) lines.push(`${r}: needs a restart of warren vrrp (not applied by a reload)`);
  for (const name of plan.remove) lines.push(`vrrp_instance ${name} removed: it resigns and is stopped`);
  for (const r of plan.replace) lines.push(`vrrp_instance ${r.name}: ${r.reasons.join(', ')} changed: it resigns and is started anew`);
  for (const name of plan.add) lines.push(`vrrp_instance ${name} added: it starts`);
  for (const k of plan.keep) {
    const what: string[] = [];
    if (k.priority) what.push(`priority ${k.priority.from} -> ${k.priority.to}`);
    if (k.tracksChanged) what.push('tracked scripts/interfaces or their weights');
    if (k.preempt) what.push(`nopreempt ${k.preempt.nopreempt}, preempt_delay ${k.preempt.preemptDelay} ms`);
    if (k.notifyChanged) what.push('notify hooks');
    if (what.length) lines.push(`vrrp_instance ${k.name} keeps running; applied: ${what.join('; ')}`);
    if (k.startOnly.length) lines.push(`vrrp_instance ${k.name}: ${k.startOnly.join(', ')} only read at start: applies at the next restart`);
  }
  for (const key of plan.trackers.replace) lines.push(`tracker ${key} changed: restarted`);
  for (const key of plan.trackers.add) lines.push(`tracker ${key} added`);
  for (const key of plan.trackers.remove) lines.push(`tracker ${key} no longer used: stopped`);
  return lines;
}
