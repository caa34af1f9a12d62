// The subjects: what sits between the client and the backend. Each is started fresh for one
// measurement (so that peak RSS, CPU time and retained buffers belong to that measurement alone),
// on a free port of 127.0.0.1, forwarding to one backend port, and stopped afterwards.
//
//   direct          no proxy: the client talks to the backend (the limit)
//   haproxy1/2      Debian's HAProxy, mode tcp, nbthread 1 / 2 (haproxy -db -f <generated cfg>)
//   node-tcp-proxy  the npm package, as its own CLI would run it (createProxy, quiet)
//   warren          node PROXY_NODE_FLAGS dist/src/cli.js proxy -f <generated yaml> (as installed)
//   warren2         the same with `nbthread: 2` (a primary and 2 worker processes; CPU time and
//                   RSS are summed over the three, see proc.ts)
//
// HAProxy and warren get the same configuration: one listen section, one server, no health
// check, maxconn and backlog (the same number) raised for the idle-connection workload, timeouts of 5 s / 1 h,
// `option tcplog` only with --tcplog (then both log every session to a file, else neither logs
// sessions), hard-stop-after 1 s (a stop does not wait for sessions). Every subject runs with
// RLIMIT_NOFILE raised (prlimit: same PID) so that 5,000 idle connections fit.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PROXY_NODE_FLAGS } from '../../../src/proxy/memory.js';
import { freePort } from '../bench-util.js';
import { exited, startChild, stderrTail, stopChild, waitListening, withNofile } from './proc.js';

export interface SubjectContext {
  /** Scratch directory for configs and logs. */
  dir: string;
  /** `option tcplog` (HAProxy and warren alike). */
  tcplog: boolean;
  /** maxconn for HAProxy and warren (global; the listen backlog follows it, up to somaxconn). */
  maxconn: number;
  /** RLIMIT_NOFILE of the subject processes. */
  nofile: number;
  /** Repository root (dist/src/cli.js, node_modules). */
  root: string;
}

export interface RunningSubject {
  id: string;
  /** Where clients connect. */
  port: number;
  /** The proxy process (RSS, CPU), or null for `direct`. */
  pid: number | null;
  /** False once the process has exited (a crash shows as an error, not as a slow result). */
  alive(): boolean;
  /** Exit status and the end of stderr, for error messages. */
  describeExit(): string;
  stop(): Promise<void>;
}

export interface Subject {
  id: string;
  label: string;
  /** Known to fail behaviour checks (reported, but not a failure of the suite). */
  knownBroken: boolean;
  start(backendPort: number, ctx: SubjectContext): Promise<RunningSubject>;
}

let seq = 0;

/** A proxy in a child process, ready once its port is listening. */
async function startProcess(id: string, port: number, cmd: string, args: string[], ctx: SubjectContext, logFile: string): Promise<RunningSubject> {
  const out = openSync(logFile, 'a');
  const [c, a] = withNofile(ctx.nofile, cmd, args);
  let child: ChildProcess;
  try {
    child = startChild(c, a, { cwd: ctx.root, stdout: out });
  } finally {
    closeSync(out); // the child has its own copy
  }
  const describeExit = (): string => {
    const tail = stderrTail(child).replace(/\s*\n\s*/g, ' ⏎ ').slice(-600);
    return `${id} exited (${child.exitCode ?? child.signalCode ?? 'spawn failed'})${tail ? `: ${tail}` : ''}`;
  };
  try {
    await waitListening(port, 15_000, () => !exited(child));
  } catch (err) {
    await stopChild(child, 500);
    throw new Error(`${id} did not start: ${(err as Error).message}; ${describeExit()}`);
  }
  return {
    id,
    port,
    pid: child.pid!,
    alive: () => !exited(child),
    describeExit,
    stop: () => stopChild(child, 2000),
  };
}

function haproxyVersion(): string {
  try {
    const m = /HAProxy version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8' }));
    return m ? m[1]!.replace(/-.*/, '') : '?';
  } catch {
    return '(not installed)';
  }
}

const HAPROXY_VERSION = haproxyVersion();

function haproxy(nbthread: number): Subject {
  const id = `haproxy${nbthread}`;
  return {
    id,
    label: `HAProxy ${HAPROXY_VERSION} nbthread ${nbthread}`,
    knownBroken: false,
    async start(backendPort, ctx) {
      const port = await freePort();
      const n = ++seq;
      const cfg = join(ctx.dir, `${id}-${n}.cfg`);
      writeFileSync(
        cfg,
        [
          'global',
          `    maxconn ${ctx.maxconn}`,
          `    nbthread ${nbthread}`,
          '    hard-stop-after 1s',
          ...(ctx.tcplog ? ['    log stdout format raw local0'] : []),
          'defaults',
          '    mode tcp',
          ...(ctx.tcplog ? ['    log global', '    option tcplog'] : []),
          '    timeout connect 5s',
          '    timeout client 1h',
          '    timeout server 1h',
          'listen bench',
          `    bind 127.0.0.1:${port}`,
          `    backlog ${ctx.maxconn}`,
          `    server b 127.0.0.1:${backendPort}`,
          '',
        ].join('\n'),
      );
      return startProcess(id, port, '/usr/sbin/haproxy', ['-db', '-f', cfg], ctx, join(ctx.dir, `${id}.log`));
    },
  };
}

const direct: Subject = {
  id: 'direct',
  label: 'direct (no proxy)',
  knownBroken: false,
  async start(backendPort) {
    return { id: 'direct', port: backendPort, pid: null, alive: () => true, describeExit: () => '', stop: async () => {} };
  },
};

const nodeTcpProxy: Subject = {
  id: 'node-tcp-proxy',
  label: `node-tcp-proxy ${packageVersion('node-tcp-proxy')}`,
  knownBroken: true,
  async start(backendPort, ctx) {
    const port = await freePort();
    const main = createRequire(join(ctx.root, 'package.json')).resolve('node-tcp-proxy');
    // What its CLI does (tcp-proxy-cli.js), without commander: createProxy(port, host, port,
    // {hostname, quiet}). The CLI answers an uncaught exception with proxy.end(), i.e. it stops
    // serving; here it is logged and the proxy keeps going, so that one bad session does not
    // turn every later measurement into an error.
    const script = [
      `const proxy = require(${JSON.stringify(main)}).createProxy(${port}, '127.0.0.1', ${backendPort}, { hostname: '127.0.0.1', quiet: true });`,
      `process.on('uncaughtException', (err) => console.error('uncaught:', err && err.stack || err));`,
      `process.on('SIGTERM', () => { proxy.end(); process.exit(0); });`,
    ].join('\n');
    return startProcess('node-tcp-proxy', port, process.execPath, ['-e', script], ctx, join(ctx.dir, 'node-tcp-proxy.log'));
  },
};

function warrenSubject(nbthread: number): Subject {
  const id = nbthread === 1 ? 'warren' : `warren${nbthread}`;
  return {
  id,
  label: nbthread === 1 ? 'warren' : `warren nbthread ${nbthread}`,
  knownBroken: false,
  async start(backendPort, ctx) {
    const port = await freePort();
    const n = ++seq;
    const cfg = join(ctx.dir, `${id}-${n}.yaml`);
    writeFileSync(
      cfg,
      [
        'global:',
        `  maxconn: ${ctx.maxconn}`,
        ...(nbthread > 1 ? [`  nbthread: ${nbthread}`] : []),
        '  hard-stop-after: 1s',
        'defaults:',
        '  mode: tcp',
        ...(ctx.tcplog ? ['  option: [tcplog]'] : []),
        '  timeout: {connect: 5s, client: 1h, server: 1h}',
        'listen:',
        '  bench:',
        `    bind: 127.0.0.1:${port}`,
        `    backlog: ${ctx.maxconn}`,
        `    server: [b 127.0.0.1:${backendPort}]`,
        '',
      ].join('\n'),
    );
    return startProcess(id, port, process.execPath, [...PROXY_NODE_FLAGS, join(ctx.root, 'dist/src/cli.js'), 'proxy', '-f', cfg], ctx, join(ctx.dir, `${id}.log`));
  },
  };
}

function packageVersion(name: string): string {
  try {
    const req = createRequire(import.meta.url);
    return (req(`${name}/package.json`) as { version: string }).version;
  } catch {
    return '';
  }
}

/** Every subject, in the order of the tables and of each round. */
export const SUBJECTS: Subject[] = [direct, haproxy(1), haproxy(2), nodeTcpProxy, warrenSubject(1), warrenSubject(2)];

export function subjectById(id: string): Subject {
  const s = SUBJECTS.find((x) => x.id === id);
  if (!s) throw new Error(`unknown subject '${id}' (known: ${SUBJECTS.map((x) => x.id).join(', ')})`);
  return s;
}
