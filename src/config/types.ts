// The validated, normalised proxy configuration that the runtime consumes. Everything here is
// resolved: durations are milliseconds, `defaults` and `default-server` have been applied, and
// every `listen` section has become one frontend plus one backend of the same name (as HAProxy
// does internally). The YAML shape lives in proxy-schema.ts; this is what comes out of it.

export type BalanceAlgorithm = 'roundrobin' | 'static-rr' | 'leastconn' | 'first' | 'source';
export type HashType = 'map-based' | 'consistent';

export interface BindAddress {
  host: string; // '0.0.0.0', '::', '127.0.0.1', ...
  port: number;
}

export interface GlobalConfig {
  maxconn: number;
  /** `nbthread` (HAProxy's keyword): worker processes sharing the listeners; 1 = one process
   *  doing everything (src/proxy/workers.ts). */
  nbthread: number;
  /** `hard-stop-after`: how long a graceful stop waits for sessions, ms (null: forever). */
  hardStopAfter: number | null;
  /** `stats socket ...` line, verbatim (runtime API). */
  statsSocket: string | null;
  /** `vrrp-status` (warren): the local `warren vrrp` daemon's JSON status URL (http://), shown
   *  in the stats page's VRRP panel; null: the panel says VRRP is not configured. */
  vrrpStatus: string | null;
}

export interface FrontendTimeouts {
  client: number | null;
  clientFin: number | null;
  tunnel: number | null;
}

export interface UseBackendRule {
  backend: string;
  /** TCP-mode conditions understood without a full ACL engine. */
  condition: { negate: boolean; kind: 'src' | 'dst' | 'dst_port'; values: string[] };
}

export interface FrontendConfig {
  name: string;
  binds: BindAddress[];
  maxconn: number;
  /** Listen backlog handed to the kernel (HAProxy: `backlog`, defaults to maxconn). */
  backlog: number;
  timeouts: FrontendTimeouts;
  tcplog: boolean;
  dontlognull: boolean;
  tcpka: boolean;
  defaultBackend: string | null;
  useBackend: UseBackendRule[];
  /** True for a frontend that came from a `listen` section. */
  fromListen: boolean;
}

export type CheckType = 'tcp' | 'amqp' | 'http';

export interface AmqpCheckConfig {
  /** Without credentials the check stops after Connection.Start (no login). */
  user: string | null;
  password: string | null;
  vhost: string;
  /** What a blocked connection (resource alarm) means: a failed check or a warning. */
  onBlocked: 'fail' | 'warn';
}

export interface HttpCheckConfig {
  method: string;
  uri: string;
  /** Accepted status codes (`http-check expect status 200` or `rstatus ^2`). */
  expectStatus: number[];
  expectStatusRegex: string | null;
  /** `user:password` for basic auth, or null. */
  auth: string | null;
  headers: Record<string, string>;
}

export interface CheckConfig {
  type: CheckType;
  amqp: AmqpCheckConfig | null;
  http: HttpCheckConfig | null;
}

export interface ServerConfig {
  name: string;
  host: string;
  port: number;
  check: boolean;
  /** `port N` / `addr A` on the server line: where checks go when not the traffic port. */
  checkPort: number | null;
  checkAddr: string | null;
  inter: number;
  fastinter: number;
  downinter: number;
  rise: number;
  fall: number;
  weight: number;
  backup: boolean;
  maxconn: number; // 0: unlimited
  maxqueue: number; // 0: unlimited
  disabled: boolean;
  slowstart: number; // ms, 0: off
  shutdownSessionsOnDown: boolean;
  observeLayer4: boolean;
  errorLimit: number;
  onError: 'fastinter' | 'fail-check' | 'sudden-death' | 'mark-down';
  sendProxy: 0 | 1 | 2;
}

export interface BackendTimeouts {
  connect: number;
  server: number | null;
  queue: number | null;
  check: number | null;
  tunnel: number | null;
  serverFin: number | null;
}

export interface BackendConfig {
  name: string;
  balance: BalanceAlgorithm;
  hashType: HashType;
  retries: number;
  /** `option redispatch [interval]`: null when off; HAProxy's default interval is -1 (last retry). */
  redispatch: number | null;
  allbackups: boolean;
  tcpka: boolean;
  timeouts: BackendTimeouts;
  check: CheckConfig;
  servers: ServerConfig[];
  fromListen: boolean;
}

/** A `mode http` listen/frontend section that serves the stats page (HAProxy's `stats ...`). */
export interface StatsConfig {
  name: string;
  /** `stats enable`: serve the page; false for a section that only answers `monitor-uri`. */
  enabled: boolean;
  binds: BindAddress[];
  uri: string;
  refresh: number | null;
  realm: string;
  /** `user:password` pairs; empty means no authentication. */
  auth: string[];
  admin: boolean;
  hideVersion: boolean;
  /** `monitor-uri`: 200 while every backend has a usable server, 503 otherwise. */
  monitorUri: string | null;
}

export interface ProxyConfig {
  /** The file it was read from, for messages. */
  file: string;
  global: GlobalConfig;
  frontends: FrontendConfig[];
  backends: BackendConfig[];
  stats: StatsConfig[];
}
