// Plain TCP connect check (HAProxy's default `check` without any option): the server passes
// when the TCP handshake completes. Nothing is sent. The socket is destroyed on every path;
// after a successful connect it is closed with a RST (socket.resetAndDestroy) like HAProxy does
// for pure TCP checks, so the checking host does not pile up TIME_WAIT sockets.

import net from 'node:net';
import type { CheckResult, CheckRunner } from './result.js';

const HARD_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET']);

export function tcpCheck(): CheckRunner {
  return (target, timeoutMs) =>
    new Promise<CheckResult>((resolve) => {
      const start = performance.now();
      let done = false;
      let timer: ReturnType<typeof setTimeout> | null = null;
      let socket: net.Socket | null = null;

      const finish = (r: Omit<CheckResult, 'durationMs' | 'warning'>, reset = false): void => {
        if (done) return;
        done = true;
        if (timer !== null) clearTimeout(timer);
        if (socket !== null) {
          socket.removeAllListeners('connect');
          socket.removeAllListeners('timeout');
          // keep an error listener: a late error on a destroyed socket must not crash the process
          socket.on('error', () => {});
          if (reset && typeof socket.resetAndDestroy === 'function') {
            try {
              socket.resetAndDestroy();
            } catch {
              socket.destroy();
            }
          } else {
            socket.destroy();
          }
        }
        resolve({ ...r, durationMs: Math.round(performance.now() - start), warning: null });
      };

      // Timers run before the loop's poll phase: after the loop was held up (a burst of accepts
      // on the data path), a connect the kernel completed in time would count as a timeout.
      // setImmediate runs after that poll, so a pending 'connect' is seen first.
      const timedOut = (): void =>
        finish({ ok: false, status: 'L4TOUT', code: null, desc: `connect timeout after ${timeoutMs}ms`, hardFailure: false });
      timer = setTimeout(() => setImmediate(timedOut), Math.max(0, timeoutMs));

      try {
        socket = net.connect({ host: target.host, port: target.port });
      } catch (err) {
        finish({ ok: false, status: 'L4CON', code: null, desc: describe(err), hardFailure: false });
        return;
      }
      socket.setNoDelay(true);
      socket.once('connect', () => finish({ ok: true, status: 'L4OK', code: null, desc: '', hardFailure: false }, true));
      socket.once('error', (err: NodeJS.ErrnoException) => {
        finish({
          ok: false,
          status: 'L4CON',
          code: null,
          desc: describe(err),
          hardFailure: err.code !== undefined && HARD_ERRORS.has(err.code),
        });
      });
      // a server closing before 'connect' fires (should not happen; belt and braces)
      socket.once('close', () => finish({ ok: false, status: 'L4CON', code: null, desc: 'connection closed', hardFailure: false }));
    });
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'Connection refused';
    case 'ECONNRESET':
      return 'Connection reset by peer';
    case 'EHOSTUNREACH':
      return 'No route to host';
    case 'ENETUNREACH':
      return 'Network is unreachable';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    default:
      return e instanceof Error ? e.message : String(err);
  }
}
