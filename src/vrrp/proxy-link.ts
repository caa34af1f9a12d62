// The vrrp daemon's line to the local `warren proxy`: its runtime API socket (level admin).
//
// Why: when this host leaves MASTER while its proxy still runs, the clients connected through the
// VIP would otherwise only learn it at their next heartbeat (their packets now reach the new
// master, which answers with a RST only when they send something). So before the VIP is removed
// (once it is gone the kernel cannot send a FIN from it any more) the proxy is told to refuse new
// connections to the address and to close the sessions that arrived on it; clients see the
// connection end at once and reconnect, to the new master. On becoming MASTER the address is
// enabled again before it is added.
//
// Best effort by design: the proxy may be dead (that is one of the reasons we are leaving
// MASTER), so every call has a short timeout and a failure is logged, never thrown.

import * as net from 'node:net';
import type { Logger } from '../lib/log.js';

const TIMEOUT_MS = 500;
const MAX_ANSWER = 64 * 1024;

export class ProxyLink {
  constructor(
    private readonly socketPath: string | null,
    private readonly log: Logger,
  ) {}

  get configured(): boolean {
    return this.socketPath !== null;
  }

  /** `disable address A; shutdown sessions to A` for each address. */
  release(addresses: readonly string[]): Promise<string | null> {
    return this.send(addresses.flatMap((a) => [`disable address ${a}`, `shutdown sessions to ${a}`]));
  }

  /** `enable address A` for each address. */
  enable(addresses: readonly string[]): Promise<string | null> {
    return this.send(addresses.map((a) => `enable address ${a}`));
  }

  /** Runs the commands in one non-interactive exchange; the answer text, or null on failure. */
  send(commands: readonly string[]): Promise<string | null> {
    const path = this.socketPath;
    if (path === null || commands.length === 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      let answer = '';
      let done = false;
      const finish = (err: Error | null): void => {
        if (done) return;
        done = true;
        sock.destroy();
        if (err) {
          this.log.warn({ socket: path, commands, err: err.message }, 'cannot reach the local proxy runtime API');
          resolve(null);
        } else {
          this.log.info({ socket: path, commands, answer: answer.trim() }, 'told the local proxy');
          resolve(answer);
        }
      };
      const sock = net.createConnection(path);
      sock.setTimeout(TIMEOUT_MS, () => finish(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.write(`${commands.join('; ')}\n`));
      sock.on('data', (chunk: string) => {
        if (answer.length < MAX_ANSWER) answer += chunk;
      });
      sock.on('end', () => finish(null));
      sock.on('error', (err) => finish(err));
    });
  }
}
