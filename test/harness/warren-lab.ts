// Two warren hosts in the network-namespace lab (netns-lab.ts): on lbA and lbB a `warren proxy`
// in front of the shared RabbitMQ cluster and a `warren vrrp` holding VIP 198.51.100.100 on
// whichever is MASTER; an amqplib publisher (lab-client.ts) in `client` talks to the VIP only.
// Used by the end-to-end test (test/e2e/vrrp-lab.test.ts, one run per fault) and the failover
// benchmark (test/bench/failover.ts, several runs per fault).

import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonStatus } from '../../src/vrrp/status.js';
import { PROXY_NODE_FLAGS } from '../../src/proxy/memory.js';
import { createLab, labClientArgs, parseClientEvents, type ClientEvent, type Lab, type LabProcess, type LbHost } from './netns-lab.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli.js');
export const ADVERT_PORT = 5798;
const OTHER: Record<LbHost, LbHost> = { lbA: 'lbB', lbB: 'lbA' };

export interface WarrenLabOptions {
  /** Root-namespace ports of the RabbitMQ nodes (127.0.0.1). */
  brokerPorts: number[];
  /** advert_int in seconds (default 0.1). */
  advertInt?: number;
  /** Both hosts `state BACKUP` + `nopreempt` (default: lbA MASTER 100, lbB BACKUP 90, preempting). */
  nopreempt?: boolean;
  /** unicast_src_ip + unicast_peer instead of multicast. */
  unicast?: boolean;
  /** Namespace prefix (createLab's; default 'wlab'): a distinct one per concurrent user. */
  prefix?: string;
  /** More proxy sections, as YAML lines indented to sit under `listen:` (both hosts get them). */
  extraListen?: string;
}

export interface Served {
  /** The client's connection that the expected host serves. */
  event: ClientEvent;
  /** Connections the client made after the fault (1 = straight to the right host). */
  connects: number;
}

export class WarrenLab {
  readonly proxy: Record<LbHost, LabProcess | null> = { lbA: null, lbB: null };
  readonly vrrp: Record<LbHost, LabProcess | null> = { lbA: null, lbB: null };
  client: LabProcess | null = null;
  private readonly secret = randomBytes(24).toString('base64');
  /** The shared secret, for tests that forge or replay adverts. */
  get secretForTests(): string {
    return this.secret;
  }

  private constructor(
    readonly lab: Lab,
    readonly opts: WarrenLabOptions,
  ) {}

  static async create(opts: WarrenLabOptions): Promise<WarrenLab> {
    const lab = await createLab({ brokerPorts: opts.brokerPorts, ...(opts.prefix ? { prefix: opts.prefix } : {}) });
    const w = new WarrenLab(lab, opts);
    try {
      for (const h of ['lbA', 'lbB'] as const) w.writeConfigs(h);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return w;
  }

  /** Rewrites both vrrp configs (takes effect when the daemons restart). */
  setMode(mode: { nopreempt?: boolean; unicast?: boolean }): void {
    Object.assign(this.opts, mode);
    for (const h of ['lbA', 'lbB'] as const) this.writeConfigs(h);
  }

  /** Lines the `notify` hook of h wrote: `INSTANCE VI_1 MASTER 100`, ... */
  notifyLog(h: LbHost): string {
    return path.join(this.lab.dir, `${h}-notify.log`);
  }

  notifyLines(h: LbHost): string[] {
    try {
      return readFileSync(this.notifyLog(h), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  }

  /**
   * Both proxies, then lbA's vrrp daemon (MASTER), then lbB's, then the client (unless
   * `client: false`: the caller runs its own); resolves when the client is served by lbA (or,
   * without it, when the VIP is on lbA alone). Destroys the lab if any step fails.
   */
  async startAll(o: { client?: boolean } = {}): Promise<void> {
    try {
      await Promise.all([this.startProxy('lbA'), this.startProxy('lbB')]);
      await this.startVrrp('lbA');
      await this.startVrrp('lbB');
      await this.waitState('lbA', 'MASTER', 5000);
      if (o.client === false) {
        await this.waitVipOn(['lbA'], 10_000);
        return;
      }
      this.startClient();
      await settledOnA(this);
    } catch (err) {
      await this.destroy();
      throw err;
    }
  }

  socket(h: LbHost): string {
    return path.join(this.lab.dir, `${h}-proxy.sock`);
  }

  configFile(h: LbHost, kind: 'proxy' | 'vrrp'): string {
    return path.join(this.lab.dir, `${h}-${kind}.yaml`);
  }

  private writeConfigs(h: LbHost): void {
    const servers = this.opts.brokerPorts.map((p, i) => `      - rabbit${i + 1} 127.0.0.1:${p} check`).join('\n');
    writeFileSync(
      this.configFile(h, 'proxy'),
      `global:
  maxconn: 2000
  stats-socket: ${this.socket(h)} mode 600 level admin
  vrrp-status: http://127.0.0.1:8889/status
defaults:
  mode: tcp
  retries: 3
  option: [redispatch, tcplog]
  timeout: {connect: 2s, client: 1m, server: 1m, check: 1s}
  default-server: inter 500ms fastinter 100ms rise 2 fall 2
listen:
  rabbit:
    bind: 0.0.0.0:5672
    balance: roundrobin
    option: [amqp-check]
    amqp-check: {user: guest, password: guest, vhost: /}
    server:
${servers}
  monitor:
    bind: 127.0.0.1:8888
    mode: http
    stats: {enable: true, uri: /stats}
    monitor-uri: /healthz
${this.opts.extraListen ?? ''}`,
    );
    const notify = path.join(this.lab.dir, `${h}-notify.sh`);
    writeFileSync(notify, `#!/bin/sh\necho "$*" >> ${this.notifyLog(h)}\n`);
    chmodSync(notify, 0o755);
    const master = h === 'lbA';
    const nopreempt = this.opts.nopreempt === true;
    writeFileSync(
      this.configFile(h, 'vrrp'),
      `global_defs:
  router_id: ${h}
  vrrp_port: ${ADVERT_PORT}
  status_listen: 127.0.0.1:8889
  proxy_socket: ${this.socket(h)}
  vrrp_garp_master_delay: 1
  vrrp_garp_master_repeat: 3
vrrp_script:
  chk_proxy:
    proxy: http://127.0.0.1:8888/healthz
    interval: 0.1
    # a dead proxy refuses at once; a busy one (2 cores shared with 3 brokers) gets 0.5 s
    timeout: 0.5
    weight: -60
    fall: 1
    rise: 2
vrrp_instance:
  VI_1:
    state: ${master && !nopreempt ? 'MASTER' : 'BACKUP'}
    interface: eth0
    virtual_router_id: 51
    priority: ${master ? 100 : 90}
    advert_int: ${this.opts.advertInt ?? 0.1}
${nopreempt ? '    nopreempt: true\n' : ''}${this.opts.unicast ? `    unicast_src_ip: ${this.lab.addr[h]}\n    unicast_peer: [${this.lab.addr[this.other(h)]}]\n` : ''}    authentication: {auth_type: HMAC-SHA256, auth_pass: "${this.secret}"}
    virtual_ipaddress: [${this.lab.vip}/24 dev eth0]
    track_script: [chk_proxy]
    notify: ${notify}
`,
    );
  }

  async startProxy(h: LbHost): Promise<LabProcess> {
    // As installed (the /usr/local/bin/warren wrapper): with the proxy's node flags.
    const p = this.lab.spawn(h, `${h}-proxy`, process.execPath, [...PROXY_NODE_FLAGS, CLI, 'proxy', '-f', this.configFile(h, 'proxy')]);
    this.proxy[h] = p;
    await p.waitForLine(/Proxy rabbit started/, 10_000);
    return p;
  }

  async startVrrp(h: LbHost): Promise<LabProcess> {
    const p = this.lab.spawn(h, `${h}-vrrp`, process.execPath, [CLI, 'vrrp', '-f', this.configFile(h, 'vrrp')]);
    this.vrrp[h] = p;
    await p.waitForLine(/vrrp daemon started/, 10_000);
    return p;
  }

  startClient(): LabProcess {
    this.client = this.lab.spawn('client', 'client', process.execPath, labClientArgs({ url: `amqp://guest:guest@${this.lab.vip}:5672`, intervalMs: 20, heartbeatS: 5 }));
    return this.client;
  }

  /** Resolves when the vrrp daemon on h logs a transition to `state` after line `since`. */
  waitState(h: LbHost, state: 'MASTER' | 'BACKUP' | 'FAULT', timeoutMs: number, since = 0): Promise<string> {
    return this.vrrp[h]!.waitForLine(new RegExp(`"msg":"[A-Z]+ -> ${state}"`), timeoutMs, since);
  }

  /** Kill -9 a process and wait until it is gone. */
  async kill9(p: LabProcess | null): Promise<void> {
    if (!p) return;
    p.kill('SIGKILL');
    await p.exited;
  }

  async stopGracefully(p: LabProcess | null): Promise<void> {
    if (!p) return;
    p.kill('SIGTERM');
    await p.exited;
  }

  /**
   * Rewrites h's vrrp config through `edit` (default: unchanged) and sends the daemon SIGHUP.
   * Resolves with the log line that ends the reload: 'configuration reloaded' (possibly with
   * ': nothing to change') or 'reload refused: ...'.
   */
  async reloadVrrp(h: LbHost, edit: (text: string) => string = (t) => t, timeoutMs = 5000): Promise<string> {
    const file = this.configFile(h, 'vrrp');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    const p = this.vrrp[h];
    if (!p) throw new Error(`no vrrp daemon running in ${h}`);
    const mark = p.mark();
    p.kill('SIGHUP');
    return p.waitForLine(/"msg":"(configuration reloaded|reload refused)/, timeoutMs, mark);
  }

  /**
   * Rewrites h's proxy config through `edit` (default: unchanged) and sends the proxy SIGHUP
   * (its in-process reload). Resolves with the log line that ends the reload: applied, unchanged,
   * abandoned or refused (`"reload":"..."` or `reload: ...`).
   */
  async reloadProxy(h: LbHost, edit: (text: string) => string = (t) => t, timeoutMs = 10_000): Promise<string> {
    const file = this.configFile(h, 'proxy');
    writeFileSync(file, edit(readFileSync(file, 'utf8')));
    const p = this.proxy[h];
    if (!p) throw new Error(`no proxy running in ${h}`);
    const mark = p.mark();
    p.kill('SIGHUP');
    return p.waitForLine(/"reload":"(applied|unchanged|failed)"|"msg":"reload(: | abandoned)/, timeoutMs, mark);
  }

  /** The vrrp daemon log lines of h from line `since` on that record a state transition. */
  transitions(h: LbHost, since = 0): string[] {
    const p = this.vrrp[h];
    return p ? p.lines().slice(since).filter((l) => /"msg":"[A-Z]+ -> [A-Z]+"/.test(l)) : [];
  }

  clientEvents(): ClientEvent[] {
    return this.client ? parseClientEvents(this.client.lines()) : [];
  }

  /**
   * Waits until the client's current connection (made after `after`) is served by `host`, and
   * returns it. A connection that briefly landed elsewhere first is skipped (and counted).
   */
  async waitServedBy(host: LbHost, after: number, timeoutMs: number): Promise<Served> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const connects = this.clientEvents().filter((e) => e.ev === 'connected' && e.t >= after);
      const last = connects.at(-1);
      if (last && typeof last.localPort === 'number' && (await this.lab.servingHost(last.localPort)) === host) return { event: last, connects: connects.length };
      if (Date.now() > deadline) {
        const holders = await this.lab.vipHolders();
        throw new Error(`the client was not served by ${host} within ${timeoutMs} ms (connects since: ${connects.length}, VIP on: ${holders.join(',') || 'nobody'}, client ARP: ${await this.lab.clientNeigh()})`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Until the VIP is on exactly `hosts`. */
  async waitVipOn(hosts: LbHost[], timeoutMs: number): Promise<number> {
    const start = Date.now();
    const want = [...hosts].sort().join(',');
    for (;;) {
      const now = (await this.lab.vipHolders()).sort().join(',');
      if (now === want) return Date.now() - start;
      if (Date.now() - start > timeoutMs) throw new Error(`VIP on [${now}], expected [${want}] within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  other(h: LbHost): LbHost {
    return OTHER[h];
  }

  /** `warren status --json` run inside host h. */
  async status(h: LbHost): Promise<DaemonStatus> {
    const r = await this.lab.exec(h, process.execPath, [CLI, 'status', '--json']);
    if (r.code !== 0) throw new Error(`warren status in ${h}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /**
   * GET `url` from inside host h (curl there: the proxies' stats pages and the vrrp status APIs
   * listen on 127.0.0.1 of their namespace). `ms` is curl's own time for the request, without the
   * cost of starting curl, so it can be compared across samples. Throws when curl cannot connect
   * or times out (timeoutMs, default 5000).
   */
  async httpGet(h: LbHost, url: string, timeoutMs = 5000): Promise<{ status: number; body: string; ms: number }> {
    const r = await this.lab.exec(h, 'curl', ['-sS', '--max-time', String(timeoutMs / 1000), '-w', '\n%{http_code} %{time_total}', url], { timeoutMs: timeoutMs + 5000 });
    if (r.code !== 0) throw new Error(`curl ${url} in ${h} failed (code ${r.code}): ${r.stderr.trim()}`);
    const cut = r.stdout.lastIndexOf('\n');
    const [status, secs] = r.stdout.slice(cut + 1).split(' ');
    return { status: Number(status), body: r.stdout.slice(0, cut), ms: Number(secs) * 1000 };
  }

  /** The vrrp daemon's status API of h, read directly (cheaper than status(), which starts the
   *  CLI: for sampling it many times while something else is measured). */
  async statusApi(h: LbHost): Promise<DaemonStatus> {
    const r = await this.httpGet(h, 'http://127.0.0.1:8889/status');
    if (r.status !== 200) throw new Error(`vrrp status API in ${h}: HTTP ${r.status}: ${r.body}`);
    return JSON.parse(r.body) as DaemonStatus;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}

// ---- the faults ---------------------------------------------------------------------------------

export interface FaultRun {
  /** Fault injected → the client's next connection served by the other host. */
  faultMs: number;
  /** Repair done → the client served by lbA again (the preempting old master). */
  repairMs: number;
  /** Connections the client made after the fault / after the repair. */
  connects: number;
  repairConnects: number;
}

export interface Fault {
  name: string;
  /** Break lbA (the MASTER). */
  inject(w: WarrenLab): Promise<void>;
  /** Give lbA back what it lost; it preempts. */
  repair(w: WarrenLab): Promise<void>;
}

export const FAULTS: Fault[] = [
  {
    name: "kill -9 of the master's vrrp daemon",
    inject: (w) => w.kill9(w.vrrp.lbA),
    repair: async (w) => void (await w.startVrrp('lbA')),
  },
  {
    name: "kill -9 of the master's proxy",
    inject: (w) => w.kill9(w.proxy.lbA),
    repair: async (w) => void (await w.startProxy('lbA')),
  },
  {
    name: 'SIGTERM of the master (vrrp daemon)',
    inject: (w) => w.stopGracefully(w.vrrp.lbA),
    repair: async (w) => void (await w.startVrrp('lbA')),
  },
  {
    name: "the master's link down",
    inject: (w) => w.lab.linkDown('lbA'),
    repair: (w) => w.lab.linkUp('lbA'),
  },
];

/** lbA MASTER with the VIP alone, the client on it: the state every fault starts from. */
export async function settledOnA(w: WarrenLab, timeoutMs = 10_000): Promise<void> {
  await w.waitVipOn(['lbA'], timeoutMs);
  await w.waitServedBy('lbA', 0, timeoutMs);
}

export async function runFault(w: WarrenLab, fault: Fault, timeoutMs = 10_000): Promise<FaultRun> {
  await settledOnA(w, timeoutMs);
  const t0 = Date.now();
  await fault.inject(w);
  const away = await w.waitServedBy('lbB', t0, timeoutMs);
  const faultMs = away.event.t - t0;
  await new Promise((r) => setTimeout(r, 300)); // let the fault settle before repairing it
  const t1 = Date.now();
  await fault.repair(w);
  const back = await w.waitServedBy('lbA', t1, timeoutMs);
  const repairMs = back.event.t - t1;
  await w.waitVipOn(['lbA'], timeoutMs);
  return { faultMs, repairMs, connects: away.connects, repairConnects: back.connects };
}
