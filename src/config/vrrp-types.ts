// The validated, normalised configuration of `warren vrrp` (the Keepalived role). The YAML shape
// (vrrp-schema.ts) mirrors keepalived.conf keyword for keyword; what comes out here is resolved:
// every duration is in milliseconds, defaults (keepalived's) are applied, script references are
// checked, `track_script` weights are the effective ones, and users fall back to script_user.

import type { ConfigIssue } from './load.js';

export type VrrpInitialState = 'MASTER' | 'BACKUP';
export type AddressFamily = 4 | 6;

/** `user [group]`: whom a script or notify hook runs as (keepalived's `script_user`, `user`). */
export interface RunAs {
  user: string;
  /** null: the user's primary group. */
  group: string | null;
}

/**
 * A program with its arguments, run with execFile (no shell): `text` split into words with
 * shell-like quoting ('...', "...", backslash). argv[0] is a path or a name looked up in PATH.
 */
export interface CommandConfig {
  text: string;
  argv: string[];
  /** Explicit user, else global_defs.script_user, else null (the daemon's own user). */
  user: RunAs | null;
}

/** GARP after becoming MASTER (keepalived's vrrp_garp_master_*). */
export interface GarpConfig {
  /** Delay before the second burst, ms; 0: no second burst. keepalived default 5 s. */
  masterDelay: number;
  /** Gratuitous ARPs per burst (default 5). */
  masterRepeat: number;
  /** Refresh period while MASTER, ms; 0: no refresh (the default). */
  masterRefresh: number;
  /** Gratuitous ARPs per refresh (default 1). */
  masterRefreshRepeat: number;
}

export interface VrrpGlobalConfig {
  routerId: string | null;
  scriptUser: RunAs | null;
  enableScriptSecurity: boolean;
  /** Multicast group for adverts of instances without unicast_peer (default 224.0.0.18). */
  mcastGroup4: string;
  /** Multicast group for IPv6 instances (default ff02::12; IPv6 instances are refused for now). */
  mcastGroup6: string;
  /** Default shared secret file for every instance without an auth_pass of its own. */
  authSecretFile: string | null;
  garp: GarpConfig;
  /** UDP port of the adverts (warren: keepalived uses IP protocol 112). Default 5798. */
  port: number;
  /** Where the status API listens; null: nowhere. Default 127.0.0.1:8889. */
  statusListen: { host: string; port: number } | null;
  /** The local proxy's runtime API socket (level admin): closes the VIP's sessions on leaving MASTER. */
  proxySocket: string | null;
}

interface TrackerCommon {
  name: string;
  /** ms between checks (keepalived default 1 s). */
  interval: number;
  /** ms after which a check counts as failed (default: the interval). */
  timeout: number;
  /** -253..253; 0: a failed check puts every instance tracking it in FAULT. */
  weight: number;
  /** Consecutive successes to become OK / failures to become KO (default 1 each). */
  rise: number;
  fall: number;
  /** `init_fail`: start in the failed state instead of OK. */
  initFail: boolean;
}

/** `vrrp_script NAME { script ... }`: an external program; exit 0 = OK. */
export interface ScriptTrackerConfig extends TrackerCommon {
  kind: 'script';
  command: CommandConfig;
}

/** `vrrp_script NAME { proxy URL }`: warren's built-in tracker of the local proxy (HTTP GET, 2xx = OK). */
export interface ProxyTrackerConfig extends TrackerCommon {
  kind: 'proxy';
  url: string;
}

export type VrrpScriptConfig = ScriptTrackerConfig | ProxyTrackerConfig;

/** One `track_script` / `track_interface` entry of an instance, with its effective weight. */
export interface TrackRef {
  name: string;
  /** -253..253; 0: failure (script KO, link down) puts the instance in FAULT. */
  weight: number;
}

/** One `virtual_ipaddress` line: `<IP>[/<prefix>] [dev IF] [label L] [brd IP] [scope S]`. */
export interface VirtualIpConfig {
  /** The line as written, for logs. */
  text: string;
  address: string;
  /** keepalived's default is a host route: 32 (IPv4) or 128 (IPv6). */
  prefix: number;
  family: AddressFamily;
  /** `dev`, else the instance's interface. */
  dev: string;
  label: string | null;
  brd: string | null;
  scope: string | null;
}

export interface AuthConfig {
  type: 'HMAC-SHA256';
  /** The shared secret (auth_pass), or null when it is read from secretFile at start. */
  secret: string | null;
  secretFile: string | null;
}

export interface NotifyConfig {
  master: CommandConfig | null;
  backup: CommandConfig | null;
  fault: CommandConfig | null;
  stop: CommandConfig | null;
  /** `notify`: run on every transition with `INSTANCE <name> <STATE> <priority>` appended. */
  any: CommandConfig | null;
}

export interface VrrpInstanceConfig {
  name: string;
  initialState: VrrpInitialState;
  interface: string;
  vrid: number;
  /** Base priority 1..255. */
  priority: number;
  /** priority 255: this host owns the address (unicast_src_ip is one of the VIPs). */
  addressOwner: boolean;
  /** ms (advert_int; keepalived default 1 s; a multiple of 10 ms: adverts carry centiseconds). */
  advertInterval: number;
  nopreempt: boolean;
  /** ms (preempt_delay, 0..1000 s). */
  preemptDelay: number;
  /** Source address of adverts (unicast_src_ip / mcast_src_ip), null: the interface's primary. */
  srcIp: string | null;
  /** Empty: multicast to `mcastGroup`. */
  unicastPeers: string[];
  /** The multicast group when unicastPeers is empty, else null. */
  mcastGroup: string | null;
  /** 4 for now: IPv6 virtual addresses are refused by the loader (adverts carry IPv4). */
  family: AddressFamily;
  auth: AuthConfig;
  virtualIpaddresses: VirtualIpConfig[];
  trackScripts: TrackRef[];
  trackInterfaces: TrackRef[];
  /** keepalived tracks the instance's own interface (link down → FAULT) unless dont_track_primary. */
  trackPrimaryInterface: boolean;
  notify: NotifyConfig;
  garp: GarpConfig;
}

export interface VrrpConfig {
  /** The file it was read from, for messages. */
  file: string;
  global: VrrpGlobalConfig;
  scripts: VrrpScriptConfig[];
  instances: VrrpInstanceConfig[];
  /** Accepted but worth telling the operator (short secret, unused script, ...). */
  warnings: ConfigIssue[];
}
