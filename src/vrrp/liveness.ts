// Fast detection of a crashed master daemon (a warren addition to VRRP).
//
// RFC 5798 notices a dead master only after Master_Down_Interval (3 adverts + skew: 365 ms at
// advert_int 0.1 s and priority 90). But when the master's *daemon* dies (kill -9, OOM, a crash)
// while its host lives on, the host's kernel closes the daemon's sockets at once. So each BACKUP
// keeps one idle TCP connection to the master it follows (same port number as the adverts, TCP);
// when that connection ends, the master process is gone, and the machine treats it like an
// advert with priority 0 (peerGone): the best backup takes over at once.
//
// A dead host or link sends no FIN: then the RFC timer still decides, nothing is lost.
// Almost nothing flows on the connection: the listener keeps connections only from addresses it
// has heard authentic adverts from (at most MAX_LINKS) and greets those with one byte; it never
// reads, and drops anything that sends data. Only a greeted connection counts: one closed before
// the greeting (the master has not heard us yet, or is full) is retried, never taken as a death. A forged RST can at worst make a backup take over from a live master, which answers
// with its higher priority at once (the split-brain healing path) — no worse than a forged
// gratuitous ARP by the same on-link attacker.

import * as net from 'node:net';
import type { Logger } from '../lib/log.js';

const MAX_LINKS = 64;
const CONNECT_TIMEOUT_MS = 1000;
const RETRY_MS = 200;
const GREETING = Buffer.from('W');

/** The master's side: accept and hold connections from known peers. */
export class LivenessListener {
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {}

  static listen(port: number, isPeer: (address: string) => boolean, log: Logger): Promise<LivenessListener> {
    const server = net.createServer({ noDelay: true });
    const l = new LivenessListener(server);
    server.on('connection', (s) => {
      const from = (s.remoteAddress ?? '').replace(/^::ffff:/, '');
      if (l.sockets.size >= MAX_LINKS || !isPeer(from)) {
        s.destroy();
        return;
      }
      l.sockets.add(s);
      s.write(GREETING);
      s.on('data', () => s.destroy()); // nothing is ever sent on a liveness link
      s.on('error', () => undefined);
      s.on('close', () => l.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`cannot listen on 0.0.0.0:${port}/tcp for peer liveness links: ${err.message}`)));
      server.listen(port, '0.0.0.0', () => {
        server.on('error', (err) => log.error({ err }, 'liveness listener error'));
        resolve(l);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A backup's link to the master it follows. watch(address) (re)points it; onGone fires once per
 * established connection that ends while still watched. A failed connect is retried slowly.
 */
export class LivenessWatch {
  private socket: net.Socket | null = null;
  private target: string | null = null;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly port: number,
    private readonly onGone: (address: string) => void,
  ) {}

  get watching(): string | null {
    return this.target;
  }

  watch(address: string | null): void {
    if (address === this.target) return;
    this.drop();
    this.target = address;
    if (address !== null) this.connect(address);
  }

  close(): void {
    this.drop();
    this.target = null;
  }

  private connect(address: string): void {
    let established = false;
    const s = net.createConnection({ host: address, port: this.port, noDelay: true });
    this.socket = s;
    s.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!established) s.destroy();
    });
    s.on('data', () => {
      if (established) return;
      established = true; // greeted: the master's daemon holds this connection
      s.setTimeout(0);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (this.socket !== s) return; // replaced or dropped on purpose
      this.socket = null;
      if (established) {
        this.target = null; // the next advert from it (a restart) starts a new watch
        this.onGone(address);
      } else {
        this.retry = setTimeout(() => {
          this.retry = null;
          if (this.target === address && this.socket === null) this.connect(address);
        }, RETRY_MS);
      }
    });
  }

  private drop(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const s = this.socket;
    this.socket = null;
    s?.destroy();
  }
}
