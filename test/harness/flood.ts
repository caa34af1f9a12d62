// Idle-connection floods (issue 7, "a connection flood at maxconn"): TCP connections that connect
// and never send a byte, each recording whether it got established, when the peer closed it (FIN
// or reset) and how it failed. Used in-process by test/integration/security-flood.test.ts, and by
// flood-client.ts inside the lab's client namespace for test/e2e/flood-vrrp.test.ts.

import * as net from 'node:net';

export interface FloodSocket {
  sock: net.Socket;
  connected: boolean;
  /** The peer closed it (FIN or reset) without the client doing anything; or the client did. */
  closedAt: number | null;
  error: string | null;
}

/** Opens one idle connection, added to `into` at once (so the caller's cleanup can destroy it
 *  even when the flood fails half-way). Resolves once it is established, refused, reset or closed. */
export function openIdle(into: FloodSocket[], host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const f: FloodSocket = { sock: net.connect({ host, port }), connected: false, closedAt: null, error: null };
    into.push(f);
    f.sock.on('connect', () => {
      f.connected = true;
      resolve();
    });
    // An idle client: it never sends; when the proxy closes, it closes too.
    f.sock.on('end', () => f.sock.destroy());
    f.sock.on('error', (err: NodeJS.ErrnoException) => {
      f.error = err.code ?? err.message;
      resolve();
    });
    f.sock.on('close', () => {
      f.closedAt ??= Date.now();
      resolve();
    });
  });
}

/** `count` idle connections, `batch` at a time: each batch settles before the next starts, so a
 *  burst stays the size of a kernel backlog (all at once, SYNs past the backlog would be dropped
 *  and retried a second later, which measures the client's retry timer, not the proxy). */
export async function openFlood(into: FloodSocket[], host: string, port: number, count: number, batch = 250): Promise<void> {
  for (let i = 0; i < count; i += batch) await Promise.all(Array.from({ length: Math.min(batch, count - i) }, () => openIdle(into, host, port)));
}

/** The q-quantile (0..1) of xs, nearest rank; xs must not be empty. */
export const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
