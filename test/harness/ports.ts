// Ports for test servers that something else binds later (haproxy, a proxy in a child process)
// or that must stay dead.

import * as net from 'node:net';

/**
 * Ports handed out below the kernel's ephemeral range (ip_local_port_range, 32768.. by default)
 * and clear of the RabbitMQ harness' fixed ports (5673.., 15673.., 25673..). A port from
 * `listen(0)` is an ephemeral one: between its close and the moment another process binds it
 * (haproxy, a proxy in a child process), any outgoing connection may take it as its local port
 * (seen in CI: "cannot bind socket (Address already in use)" after a health check got it), and a
 * connect to a dead ephemeral port may even connect to itself. Nothing picks these on its own.
 */
const PORT_POOL = { from: 16_000, to: 25_000 };
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 where nothing listens now, for a server to bind later or to stay dead. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = PORT_POOL.from + Math.floor(Math.random() * (PORT_POOL.to - PORT_POOL.from));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${PORT_POOL.from}-${PORT_POOL.to} after 200 tries`);
}
