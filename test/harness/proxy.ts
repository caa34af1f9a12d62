// Runs a warren proxy in-process from YAML text, with its log lines captured for assertions.
import { Writable } from 'node:stream';
import * as net from 'node:net';
import { loadProxyConfigText } from '../../src/config/load.js';
import type { ProxyConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/lib/log.js';
import { Proxy } from '../../src/proxy/proxy.js';

export interface RunningProxy {
  proxy: Proxy;
  /** The first bound port of each frontend, by name. */
  port(frontend: string): number;
  logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `pred` (already logged or future). */
  waitLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Names the loader refuses (HAProxy's rule, src/config/server-line.ts), for the tests that check
 * a name never reaches the stats page as markup: each proxy, server or backend reference named
 * like a key of `rename` in the YAML gets the value after loading.
 */
function renameAfterLoading(config: ProxyConfig, rename: Record<string, string>): void {
  const to = (name: string): string => (Object.hasOwn(rename, name) ? rename[name]! : name);
  for (const fe of config.frontends) {
    fe.name = to(fe.name);
    if (fe.defaultBackend !== null) fe.defaultBackend = to(fe.defaultBackend);
    for (const rule of fe.useBackend) rule.backend = to(rule.backend);
  }
  for (const be of config.backends) {
    be.name = to(be.name);
    for (const sv of be.servers) sv.name = to(sv.name);
  }
  for (const st of config.stats) st.name = to(st.name);
}

export async function startProxy(yaml: string, rename: Record<string, string> = {}): Promise<RunningProxy> {
  const logs: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        const line = JSON.parse(text) as Record<string, unknown>;
        logs.push(line);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pred(line)) waiters.splice(i, 1)[0]!.resolve(line);
        }
      }
      cb();
    },
  });
  const config = loadProxyConfigText(yaml, 'test.yaml');
  renameAfterLoading(config, rename);
  const proxy = new Proxy(config, createLogger('proxy', sink));
  await proxy.start();
  return {
    proxy,
    logs,
    port(name) {
      const fe = proxy.frontends.find((f) => f.config.name === name);
      if (!fe) throw new Error(`no frontend ${name}`);
      return fe.addresses()[0]!.port;
    },
    waitLog(pred, timeoutMs = 10_000) {
      const found = logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    stop: (graceMs = 0) => proxy.stop(graceMs),
  };
}

/** A TCP server on 127.0.0.1 with an ephemeral port; `onConn` handles each connection. */
export async function tcpServer(onConn: (s: net.Socket) => void, opts: net.ServerOpts = {}): Promise<{ server: net.Server; port: number; close(): Promise<void> }> {
  const server = net.createServer(opts, onConn);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('error', () => {}); // health checks reset their connections; that is not a test failure
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens, for a server to bind later or to stay dead. */
export { freePort as deadPort } from './ports.js';

/** A client that may half-close (allowHalfOpen) but, like most clients, closes when the other
 *  side has finished. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    sock.on('end', () => sock.end());
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });
}

/** Everything the socket sends until it ends. */
export function readAll(sock: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('end', () => resolve(Buffer.concat(chunks)));
    sock.once('error', reject);
  });
}

export const TIMEOUTS = 'timeout: {connect: 1s, client: 30s, server: 30s, queue: 2s}';

/** Sends `text` and resolves with the echo (exactly that many bytes), from an echo backend. */
export function roundTrip(sock: net.Socket, text: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => done(new Error(`no echo of '${text}' within ${timeoutMs} ms (got '${got}')`)), timeoutMs);
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) done(null);
    };
    const onClose = (): void => done(new Error(`closed before the echo of '${text}'`));
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (err) reject(err);
      else resolve(got);
    };
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.write(text);
  });
}
