// The backends the subjects forward to, all on 127.0.0.1: nginx serving a small static file, an
// iperf3 server, an in-process pattern server (fast writer, N-MiB sender, half-close replier,
// greeter) and an in-process idle acceptor.
import { createHash } from 'node:crypto';
import { mkdirSync, openSync, closeSync, writeFileSync, chmodSync } from 'node:fs';
import * as net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../bench-util.js';
import { exited, startChild, stderrTail, stopChild, waitListening, withNofile } from './proc.js';

export interface Backend {
  port: number;
  stop(): Promise<void>;
}

// ---- nginx --------------------------------------------------------------------------------

/** nginx with its own prefix, config, pid file and logs under `dir`, serving `path` (1 KiB). */
export async function startNginx(dir: string, nofile: number): Promise<Backend & { path: string }> {
  const port = await freePort();
  const prefix = join(dir, `nginx-${port}`);
  const www = join(prefix, 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'small.txt'), `${'warren bench '.repeat(78)}\n`.slice(0, 1024));
  // Workers drop to `user`; as root, keep root so that they can read the scratch directory.
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `${root ? `user ${userInfo().username};\n` : ''}worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
worker_rlimit_nofile ${nofile};
events {
  worker_connections ${Math.min(nofile - 100, 16384)};
}
http {
  access_log off;
  default_type text/plain;
  sendfile on;
  keepalive_timeout 65s;
  keepalive_requests 100000000;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${www};
    location / { }
  }
}
`,
  );
  const [cmd, args] = withNofile(nofile, '/usr/sbin/nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')]);
  const child = startChild(cmd, args);
  try {
    await waitListening(port, 10_000, () => !exited(child));
  } catch (err) {
    await stopChild(child, 500);
    throw new Error(`nginx did not start: ${(err as Error).message}: ${stderrTail(child)}`);
  }
  return { port, path: '/small.txt', stop: () => stopChild(child, 3000) };
}

// ---- iperf3 -------------------------------------------------------------------------------

/** `iperf3 -s` on 127.0.0.1 (one test at a time, which is how the suite uses it). */
export async function startIperf3Server(dir: string): Promise<Backend> {
  const port = await freePort();
  const out = openSync(join(dir, `iperf3-server-${port}.log`), 'a');
  const child = startChild('/usr/bin/iperf3', ['-s', '-B', '127.0.0.1', '-p', String(port)], { stdout: out });
  closeSync(out);
  try {
    await waitListening(port, 10_000, () => !exited(child));
  } catch (err) {
    await stopChild(child, 500);
    throw new Error(`iperf3 -s did not start: ${(err as Error).message}: ${stderrTail(child)}`);
  }
  return { port, stop: () => stopChild(child, 2000) };
}

// ---- the pattern server -------------------------------------------------------------------

export const MiB = 1024 * 1024;

/** The block every stream of the pattern server repeats: 1 MiB of fixed pseudo-random bytes. */
export const BLOCK = ((): Buffer => {
  const b = Buffer.alloc(MiB);
  let x = 0x2545f491;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x | 0, i);
  }
  return b;
})();

/** sha1 of `mib` repetitions of BLOCK: what a client of `SEND mib` must have hashed. */
export function expectedSha1(mib: number): string {
  const h = createHash('sha1');
  for (let i = 0; i < mib; i++) h.update(BLOCK);
  return h.digest('hex');
}

/** How long the pattern server waits for a command before it takes the client for one that
 *  waits to be greeted (a server-speaks-first protocol). */
export const GREET_AFTER_MS = 300;

/**
 * A server whose behaviour the client picks with its first line:
 *   `FLOOD\n`        writes BLOCK as fast as the reader takes it, forever (the fast writer);
 *   `SEND <n>\n`     writes n MiB (BLOCK n times), then closes (FIN) as soon as it is written;
 *   `EOF-REPLY <n>\n` reads until the client's FIN, then replies `got <bytes> <sha1>\n` followed by
 *                    n MiB, then closes;
 *   (nothing within GREET_AFTER_MS) sends `HELLO\n` and echoes whatever comes.
 */
export async function startPatternServer(): Promise<Backend & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    state.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let head = Buffer.alloc(0);
    const greet = setTimeout(() => {
      s.removeListener('data', onHead);
      s.write('HELLO\n');
      s.pipe(s);
    }, GREET_AFTER_MS);
    const onHead = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const nl = head.indexOf(10);
      if (nl < 0) return;
      clearTimeout(greet);
      s.removeListener('data', onHead);
      const [cmd, arg] = head.subarray(0, nl).toString().trim().split(' ');
      const rest = head.subarray(nl + 1);
      if (cmd === 'FLOOD') flood(s);
      else if (cmd === 'SEND') send(s, Number(arg), () => s.end());
      else if (cmd === 'EOF-REPLY') eofReply(s, rest, Number(arg));
      else s.destroy();
    };
    s.on('data', onHead);
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function flood(s: net.Socket): void {
  s.resume(); // whatever else the client sends is dropped
  const pump = (): void => {
    while (!s.destroyed && s.write(BLOCK));
    if (!s.destroyed) s.once('drain', pump);
  };
  pump();
}

function send(s: net.Socket, mib: number, done: () => void): void {
  s.resume();
  let left = mib;
  const pump = (): void => {
    while (left > 0 && !s.destroyed) {
      left--;
      if (!s.write(BLOCK)) return void s.once('drain', pump);
    }
    if (!s.destroyed) done();
  };
  pump();
}

function eofReply(s: net.Socket, first: Buffer, mib: number): void {
  const h = createHash('sha1');
  let bytes = first.length;
  h.update(first);
  s.on('data', (d: Buffer) => {
    bytes += d.length;
    h.update(d);
  });
  s.once('end', () => {
    s.write(`got ${bytes} ${h.digest('hex')}\n`);
    send(s, mib, () => s.end());
  });
}

// ---- the idle acceptor --------------------------------------------------------------------

/** Accepts connections and holds them; counts those that delivered their first byte. */
export async function startIdleServer(): Promise<Backend & { ready: number; open: number }> {
  const sockets = new Set<net.Socket>();
  const state = { ready: 0 };
  const server = net.createServer({ pauseOnConnect: false }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => {
      state.ready++;
      s.pause();
    });
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get ready() {
      return state.ready;
    },
    set ready(v: number) {
      state.ready = v;
    },
    get open() {
      return sockets.size;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
