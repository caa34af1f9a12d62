// The vrrp daemon's status: one JSON document (state, effective priority, trackers, the last
// advert heard from each peer, counters), served on a local HTTP port (`status_listen`, default
// 127.0.0.1:8889) for `warren status` and for the proxy's stats page (its `vrrp-status` URL).
// Read-only: GET /status (or /), anything else 404/405. Never exposes the secret.

import * as http from 'node:http';
import type { Logger } from '../lib/log.js';
import type { Instance } from './instance.js';
import type { TrackerSnapshot } from './trackers.js';

export interface PeerStatus {
  address: string;
  /** What its last message said: MASTER (advert), BACKUP (standby) or RESIGNED (priority 0). */
  state: 'MASTER' | 'BACKUP' | 'RESIGNED';
  priority: number;
  advert_int_ms: number;
  last_seen_ms: number;
  last_seen: string;
}

export interface TrackerStatusView {
  name: string;
  kind: TrackerSnapshot['kind'];
  status: TrackerSnapshot['status'];
  weight: number;
  last_detail: string | null;
  last_check: string | null;
  checks: number;
  failures: number;
}

export interface InstanceStatus {
  name: string;
  state: string;
  since: string;
  reason: string | null;
  vrid: number;
  interface: string;
  address: string;
  priority: number;
  effective_priority: number;
  fault: boolean;
  vips: string[];
  vips_held: boolean;
  /** Who is master as far as we know: our address when MASTER, else the master we follow. */
  master: string | null;
  advert_int_ms: number;
  master_down_interval_ms: number;
  peers: PeerStatus[];
  trackers: TrackerStatusView[];
  counters: Instance['counters'];
}

export interface DaemonStatus {
  router_id: string | null;
  pid: number;
  started: string;
  config: string;
  instances: InstanceStatus[];
  transport: { port: number; received: number; sent: number; send_errors: number; unknown_vrid: number; last_send_error: string | null };
}

export function instanceStatus(inst: Instance, address: string, trackers: TrackerStatusView[], now: number): InstanceStatus {
  const snap = inst.snapshot();
  return {
    name: inst.name,
    state: snap.state,
    since: new Date(inst.since).toISOString(),
    reason: inst.lastReason,
    vrid: inst.config.vrid,
    interface: inst.config.interface,
    address,
    priority: inst.config.priority,
    effective_priority: snap.priority,
    fault: snap.fault,
    vips: inst.config.virtualIpaddresses.map((v) => `${v.address}/${v.prefix}`),
    vips_held: inst.vipsHeld,
    master: snap.state === 'MASTER' ? address : (snap.master?.address ?? null),
    advert_int_ms: snap.advertIntervalMs,
    master_down_interval_ms: Math.round(snap.masterDownIntervalMs),
    peers: snap.peers.map((p) => {
      const age = Math.max(0, Math.round(now - p.heardAt));
      return {
        address: p.address,
        state: p.priority === 0 ? 'RESIGNED' : p.type === 'advert' ? 'MASTER' : 'BACKUP',
        priority: p.priority,
        advert_int_ms: p.intervalMs,
        last_seen_ms: age,
        last_seen: `${(age / 1000).toFixed(age < 10_000 ? 1 : 0)} s ago`,
      };
    }),
    trackers,
    counters: inst.counters,
  };
}

export interface StatusServer {
  address: string;
  close(): Promise<void>;
}

/** Serves `get()` as JSON on host:port. */
export function startStatusServer(host: string, port: number, get: () => DaemonStatus, log: Logger): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path !== '/' && path !== '/status') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: GET /status\n');
      return;
    }
    const body = JSON.stringify(get(), null, 2) + '\n';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  server.keepAliveTimeout = 5000;
  server.on('clientError', (_err, socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port} for the status API: ${err.message}`)));
    server.listen(port, host, () => {
      server.on('error', (err) => log.error({ err }, 'status API error'));
      const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      log.info({ listen: where }, 'status API listening');
      resolve({
        address: where,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
