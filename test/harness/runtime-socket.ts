// A client of a runtime API unix socket (warren's or HAProxy's), as socat is used by hand.

import * as net from 'node:net';

/** Send `text` on a fresh connection and collect everything until the server closes. */
export function ask(sock: string, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no close from ${sock} after ${JSON.stringify(text)}; got ${JSON.stringify(out.slice(0, 200))}`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('error', () => {});
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    c.on('connect', () => c.write(text));
  });
}
