// Host facts for the stats page (what HAProxy's page lacks): CPU load, memory, uptime and
// per-interface traffic, read with `systeminformation`.
//
// Reading them costs a few milliseconds and a few short-lived `cat` processes (the library's way
// of reading /sys on Linux), so it never happens on the request path: a background loop refreshes
// a cached snapshot at most every `intervalMs` (2 s), and the page renders whatever the cache
// holds, with its age. Interface rates need two samples, so the first snapshot has none.

import * as os from 'node:os';

export interface HostInterface {
  iface: string;
  operstate: string;
  rxBytes: number;
  txBytes: number;
  /** Bytes per second since the previous sample; null until there are two samples. */
  rxSec: number | null;
  txSec: number | null;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export interface HostSnapshot {
  /** When the snapshot was taken (ms since epoch). */
  at: number;
  hostname: string;
  cpus: number;
  /** Whole-machine CPU busy percentage since the previous sample. */
  cpuLoadPct: number | null;
  loadavg: [number, number, number];
  memTotal: number;
  /** Memory in use by processes (total - available), as `free` reports it. */
  memUsed: number;
  memAvailable: number;
  uptimeSec: number;
  interfaces: HostInterface[];
  /** Set when a refresh failed; the other fields are then from the last good refresh (or zero). */
  error: string | null;
}

export interface HostInfoOptions {
  /** Minimum time between two refreshes (ms). */
  intervalMs?: number;
}

/** A background-refreshed cache of host facts. `snapshot` is all the page ever reads. */
export class HostInfo {
  private current: HostSnapshot | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private inFlight: Promise<void> | null = null;
  readonly intervalMs: number;
  /** Refreshes done (for tests and the page footer). */
  refreshes = 0;

  constructor(opts: HostInfoOptions = {}) {
    this.intervalMs = Math.max(500, opts.intervalMs ?? 2000);
  }

  /** The latest snapshot, or null before the first refresh finished. Never waits. */
  get snapshot(): HostSnapshot | null {
    return this.current;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /** Resolves once a first snapshot exists (or `timeoutMs` passed). For tests and startup. */
  async ready(timeoutMs = 5000): Promise<HostSnapshot | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.current && Date.now() < deadline) {
      await (this.inFlight ?? new Promise((r) => setTimeout(r, 20)));
    }
    return this.current;
  }

  private loop(): void {
    if (!this.running) return;
    const started = Date.now();
    this.inFlight = this.refresh().finally(() => {
      this.inFlight = null;
      if (!this.running) return;
      // At most one refresh per interval, however long a refresh took.
      const wait = Math.max(this.intervalMs - (Date.now() - started), 100);
      this.timer = setTimeout(() => this.loop(), wait);
      this.timer.unref();
    });
  }

  private async refresh(): Promise<void> {
    try {
      // Imported on first use (~11 MiB of RSS): a proxy without a stats section never loads it.
      const { default: si } = await import('systeminformation');
      const [load, mem, net] = await Promise.all([si.currentLoad(), si.mem(), si.networkStats('*')]);
      // (Not si.time(): on Linux it runs `date` and `ls` through a blocking execSync on every
      // call, stalling the data path for milliseconds, for nothing but os.uptime().)
      const la = os.loadavg();
      this.current = {
        at: Date.now(),
        hostname: os.hostname(),
        cpus: load.cpus?.length || os.availableParallelism(),
        cpuLoadPct: Number.isFinite(load.currentLoad) ? load.currentLoad : null,
        loadavg: [la[0] ?? 0, la[1] ?? 0, la[2] ?? 0],
        memTotal: mem.total,
        memUsed: mem.total - mem.available,
        memAvailable: mem.available,
        uptimeSec: os.uptime(),
        interfaces: net.map((n) => ({
          iface: n.iface,
          operstate: n.operstate,
          rxBytes: n.rx_bytes,
          txBytes: n.tx_bytes,
          rxSec: rate(n.rx_sec),
          txSec: rate(n.tx_sec),
          rxErrors: n.rx_errors,
          txErrors: n.tx_errors,
          rxDropped: n.rx_dropped,
          txDropped: n.tx_dropped,
        })),
        error: null,
      };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.current = this.current ? { ...this.current, error: message } : { ...emptySnapshot(), error: message };
    }
    this.refreshes++;
  }
}

function rate(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

function emptySnapshot(): HostSnapshot {
  return {
    at: Date.now(),
    hostname: os.hostname(),
    cpus: os.availableParallelism(),
    cpuLoadPct: null,
    loadavg: [0, 0, 0],
    memTotal: 0,
    memUsed: 0,
    memAvailable: 0,
    uptimeSec: os.uptime(),
    interfaces: [],
    error: null,
  };
}
