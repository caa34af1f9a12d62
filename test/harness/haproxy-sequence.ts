// Ground truth from the real HAProxy: start /usr/sbin/haproxy in the foreground (-db) with a
// tiny `mode tcp` config in a temp dir, put N node:net servers behind it (each writes its name,
// then closes when the client does), and record which server answers each client connection.
// Connections can be closed at once or held open (to load servers), runtime API commands
// (`set weight lb/s1 5`, `disable server lb/s2`, ...) can be interleaved, and a server can be
// "dead" (connection refused) to exercise redispatch. warrenSequence() replays the very same
// scenario through src/proxy/lb. Only 127.0.0.1 is used; HAProxy is stopped by its PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort } from './proxy.js';
import { replay, type SimScenario, type SimServerSpec, type SimStep } from '../../src/proxy/lb/sim.js';

export const HAPROXY_BIN = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

export interface HaproxyServerSpec extends SimServerSpec {
  /** Explicit numeric id (`id N`), which feeds HAProxy's consistent-hash ring. Not replayed
   *  by warrenSequence (warren's ids are index + 1). */
  id?: number;
}

/** A step (see SimStep): sequential connections, held connections, `release`, or a CLI command. */
export type HaproxyStep = SimStep;

/** A scenario (see SimScenario) plus how to run HAProxy. `disabled` servers start in
 *  maintenance; `dead` servers have nothing listening; `redispatch` adds `retries 1` and
 *  `option redispatch`. */
export interface HaproxySequenceOptions extends SimScenario {
  servers: HaproxyServerSpec[];
  /** Pause between connections (ms): lets HAProxy release the previous stream (leastconn). */
  gapMs?: number;
  haproxyBin?: string;
}

export interface HaproxySequenceResult {
  /** Server name per connection, in order (`null` when HAProxy closed without a server). */
  sequence: (string | null)[];
  /** Output of each runtime API command, in order. */
  commandOutputs: string[];
  version: string;
}

export function haproxyAvailable(bin: string = HAPROXY_BIN): boolean {
  return existsSync(bin);
}

function nameServer(name: string): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    // Write the name at once; close when the client closes (so a client can hold a session).
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.on('end', () => sock.end());
      sock.write(name);
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({ server, port: typeof addr === 'object' && addr ? addr.port : 0 });
    });
  });
}

/** One connection through the proxy: the name of the server that answered (null if none).
 *  Unless `held` is given, the client closes as soon as it has the name and waits for the close. */
function oneConnection(port: number, held?: net.Socket[]): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const finish = (v: string | null): void => {
      if (!done) {
        done = true;
        resolve(v);
      }
    };
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => sock.destroy(), 5000);
    sock.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (held) {
        clearTimeout(timer);
        held.push(sock);
        finish(text);
      } else {
        sock.end();
      }
    });
    sock.on('end', () => sock.end());
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      finish(text.length > 0 ? text : null);
    });
  });
}

function cliCommand(sockPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(sockPath);
    sock.on('connect', () => sock.write(command + '\n'));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

async function waitForSocket(sockPath: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr()}`);
    try {
      await cliCommand(sockPath, 'show info');
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export function haproxyConfig(opts: HaproxySequenceOptions, frontPort: number, ports: number[], sockPath: string): string {
  const lines = [
    'global',
    '  nbthread 1',
    `  stats socket ${sockPath} level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 5s',
    '  timeout server 5s',
    'listen lb',
    `  bind 127.0.0.1:${frontPort}`,
    `  balance ${opts.balance}`,
  ];
  if (opts.hashType) lines.push(`  hash-type ${opts.hashType}`);
  if (opts.allbackups) lines.push('  option allbackups');
  if (opts.redispatch) lines.push('  retries 1', '  option redispatch');
  opts.servers.forEach((s, i) => {
    let line = `  server ${s.name} 127.0.0.1:${ports[i]}`;
    if (s.weight !== undefined) line += ` weight ${s.weight}`;
    if (s.backup) line += ' backup';
    if (s.disabled) line += ' disabled';
    if (s.maxconn !== undefined) line += ` maxconn ${s.maxconn}`;
    if (s.id !== undefined) line += ` id ${s.id}`;
    lines.push(line);
  });
  return lines.join('\n') + '\n';
}

/** Run the real HAProxy and record which server each sequential connection reached. */
export async function recordHaproxySequence(opts: HaproxySequenceOptions): Promise<HaproxySequenceResult> {
  const bin = opts.haproxyBin ?? HAPROXY_BIN;
  const dir = await mkdtemp(join(tmpdir(), 'warren-haproxy-'));
  const backends: net.Server[] = [];
  let child: ChildProcess | null = null;
  try {
    const ports: number[] = [];
    for (const s of opts.servers) {
      if (s.dead) {
        ports.push(await deadPort()); // bound then closed: connections are refused
        continue;
      }
      const { server, port } = await nameServer(s.name);
      backends.push(server);
      ports.push(port);
    }
    const frontPort = await deadPort();
    const sockPath = join(dir, 'admin.sock');
    const cfgPath = join(dir, 'haproxy.cfg');
    await writeFile(cfgPath, haproxyConfig(opts, frontPort, ports, sockPath));

    let err = '';
    child = spawn(bin, ['-db', '-f', cfgPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    await waitForSocket(sockPath, child, () => err);
    const version = (await cliCommand(sockPath, 'show info')).match(/^Version: (.*)$/m)?.[1] ?? 'unknown';

    const steps: HaproxyStep[] = typeof opts.steps === 'number' ? [{ connections: opts.steps }] : opts.steps;
    const sequence: (string | null)[] = [];
    const commandOutputs: string[] = [];
    const held: net.Socket[] = [];
    const pause = (): Promise<void> => new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
    for (const step of steps) {
      if ('command' in step) {
        commandOutputs.push(await cliCommand(sockPath, step.command));
        continue;
      }
      if ('release' in step) {
        await Promise.all(held.splice(0).map((h) => new Promise<void>((r) => (h.closed ? r() : (h.once('close', () => r()), h.end())))));
        await pause();
        continue;
      }
      for (let i = 0; i < step.connections; i++) {
        sequence.push(await oneConnection(frontPort, step.hold ? held : undefined));
        if (opts.gapMs) await pause();
      }
    }
    for (const h of held) h.destroy();
    return { sequence, commandOutputs, version };
  } finally {
    if (child && child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      process.kill(child.pid, 'SIGTERM'); // our own child, by PID
      const t = setTimeout(() => {
        if (child!.exitCode === null && child!.pid !== undefined) process.kill(child!.pid, 'SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(t);
    }
    await Promise.all(backends.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await rm(dir, { recursive: true, force: true });
  }
}

/** The same scenario through warren's balancer (client 127.0.0.1), for side-by-side comparison. */
export function warrenSequence(opts: HaproxySequenceOptions, clientKey = '127.0.0.1'): (string | null)[] {
  return replay(opts, clientKey);
}
