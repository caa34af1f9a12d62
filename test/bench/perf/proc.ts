// Process plumbing for the performance suite: child processes it starts (and only those are ever
// signalled, by PID), /proc readings of a proxy's memory and CPU time, commands with a deadline.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { sleep } from '../bench-util.js';

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const CLK_TCK = ((): number => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/** The process and its children (warren with nbthread > 1: the primary and its workers), so
 *  that CPU time and RSS cover every process of a subject. */
function tree(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    return [pid, ...kids.flatMap((k) => tree(k))];
  } catch {
    return [pid];
  }
}

/** CPU time (user + system, every thread) the process and its children have used so far, ms
 *  (a child that exited meanwhile is no longer counted). */
export function cpuMs(pid: number): number {
  return tree(pid).reduce((sum, p) => sum + (p === pid ? cpuMs1(p) : safe(() => cpuMs1(p))), 0);
}

function safe(f: () => number): number {
  try {
    return f();
  } catch {
    return 0;
  }
}

function cpuMs1(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...). */
function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Summed over the process tree (for the peak: the sum of each process's own peak). */
export const rssKiB = (pid: number): number => tree(pid).reduce((s, p) => s + (p === pid ? statusKiB(p, 'VmRSS') : safe(() => statusKiB(p, 'VmRSS'))), 0);
/** The anonymous part of the RSS: memory the process itself allocated (heap, buffers), without
 *  the pages of its executable and libraries (a Node binary maps ~40 MiB of them). */
export const anonKiB = (pid: number): number => tree(pid).reduce((s, p) => s + (p === pid ? statusKiB(p, 'RssAnon') : safe(() => statusKiB(p, 'RssAnon'))), 0);
export const hwmKiB = (pid: number): number => tree(pid).reduce((s, p) => s + (p === pid ? statusKiB(p, 'VmHWM') : safe(() => statusKiB(p, 'VmHWM'))), 0);

/** Resets the process's peak RSS (VmHWM) to its current RSS (Linux: `5` to clear_refs). */
export function resetPeakRss(pid: number): boolean {
  try {
    for (const p of tree(pid)) writeFileSync(`/proc/${p}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU used by a process over a window: start it, do the work, `end()`. pid null: no process. */
export function cpuWindow(pid: number | null): { end(): { cpuMs: number; wallMs: number } } {
  const t0 = performance.now();
  const c0 = pid === null ? NaN : cpuMs(pid);
  return {
    end() {
      const wallMs = performance.now() - t0;
      return { cpuMs: pid === null ? NaN : cpuMs(pid) - c0, wallMs };
    },
  };
}

// ---- children -------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

/** What a child wrote to stderr (the last few KiB), for error messages. */
const stderrTails = new WeakMap<ChildProcess, string>();

/**
 * Starts a long-running child (a subject or a backend). Tracked, so that `killAll()` (on exit or
 * a signal) ends it; stderr is kept (tail) for errors, stdout goes to `stdout` (a file descriptor,
 * 'ignore' or 'pipe').
 */
export function startChild(cmd: string, args: string[], opts: { cwd?: string; stdout?: number | 'ignore' | 'pipe'; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const spawnOpts: SpawnOptions = { stdio: ['ignore', opts.stdout ?? 'ignore', 'pipe'] };
  if (opts.cwd) spawnOpts.cwd = opts.cwd;
  if (opts.env) spawnOpts.env = opts.env;
  const child = spawn(cmd, args, spawnOpts);
  children.add(child);
  stderrTails.set(child, '');
  child.stderr!.on('data', (d: Buffer) => stderrTails.set(child, (stderrTails.get(child)! + d.toString()).slice(-4000)));
  child.once('exit', () => children.delete(child));
  child.on('error', () => {}); // spawn failures show up as an exit / a missing pid
  return child;
}

export function stderrTail(child: ChildProcess): string {
  return (stderrTails.get(child) ?? '').trim();
}

/** Has the child exited (or failed to start)? */
export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null || child.pid === undefined;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => {
    if (!exited(child)) child.kill('SIGKILL');
  }, graceMs);
  await gone;
  clearTimeout(t);
}

/** Ends every child still running (synchronously: usable from an exit handler). */
export function killAll(): void {
  for (const c of children) if (!exited(c)) c.kill('SIGKILL');
}

/**
 * Runs a command to completion and returns its stdout; rejects on a non-zero exit or after
 * `timeoutMs` (the command is then killed).
 */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = startChild(cmd, args, { stdout: 'pipe' });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}: ${stderrTail(child) || out.slice(-2000)}`));
    });
  });
}

/** `cmd args` run with RLIMIT_NOFILE raised to `nofile` (prlimit execs the command: same PID). */
export function withNofile(nofile: number, cmd: string, args: string[]): [string, string[]] {
  if (existsSync('/usr/bin/prlimit')) return ['/usr/bin/prlimit', [`--nofile=${nofile}:${nofile}`, '--', cmd, ...args]];
  // Fallback: the shell raises what it may (the soft limit up to the hard one), then execs.
  return ['/bin/sh', ['-c', `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, cmd, ...args]];
}

/** This process's RLIMIT_NOFILE, soft and hard (NaN when prlimit cannot tell). */
export function ownNofile(): { soft: number; hard: number } {
  try {
    const out = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--raw', '--noheadings', '--output=SOFT,HARD'], { encoding: 'utf8' });
    const [soft, hard] = out.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return { soft: soft ?? NaN, hard: hard ?? NaN };
  } catch {
    return { soft: NaN, hard: NaN };
  }
}

/** Raises this process's own RLIMIT_NOFILE towards `want` (past the hard limit only with
 *  CAP_SYS_RESOURCE); the limits then in effect. */
export function raiseOwnNofile(want: number): { soft: number; hard: number } {
  const now = ownNofile();
  const target = now.hard >= want ? `${want}:${now.hard}` : `${want}:${want}`;
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}`], { stdio: 'ignore' });
  } catch {
    // Not allowed past the hard limit: take the hard limit.
    try {
      if (Number.isFinite(now.hard)) execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${now.hard}:${now.hard}`], { stdio: 'ignore' });
    } catch {
      /* keep what we have */
    }
  }
  return ownNofile();
}

/** Is something listening on 127.0.0.1:port (or the wildcard)? Read from /proc/net/tcp{,6}: no
 *  connection is made, so a proxy is never sent a probe session (an iperf3 server, for one,
 *  would take a bare connect-and-close for a failed test). */
export function listening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const cols = line.trim().split(/\s+/);
      // sl local_address rem_address st ...; st 0A = LISTEN
      if (cols[3] === '0A' && cols[1]?.endsWith(`:${hex}`)) return true;
    }
  }
  return false;
}

/** Resolves once `listening(port)`; rejects when `alive()` turns false or after `timeoutMs`. */
export async function waitListening(port: number, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!listening(port)) {
    if (!alive()) throw new Error(`the process meant to listen on ${port} exited`);
    if (Date.now() > end) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await sleep(20);
  }
}
