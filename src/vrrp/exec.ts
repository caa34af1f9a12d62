// Running check scripts and notify hooks as keepalived does: no shell (argv straight to exec),
// as a configured user, with a timeout that kills the whole process group, and keepalived's
// `enable_script_security` rule for who may have written the program.

import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import { access, lstat, realpath, stat } from 'node:fs/promises';
import { delimiter, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { CommandConfig, RunAs } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';

const execFileP = promisify(execFile);

/** A RunAs looked up in the user database. */
export interface ResolvedRunAs {
  uid: number;
  gid: number;
  user: string;
}

async function getent(db: 'passwd' | 'group', key: string): Promise<string[] | null> {
  try {
    const { stdout } = await execFileP('getent', [db, key], { timeout: 5000 });
    const line = stdout.split('\n')[0] ?? '';
    return line ? line.split(':') : null;
  } catch (err) {
    // getent exits 2 when the key is not in the database; anything else is a real problem.
    if ((err as { code?: unknown }).code === 2) return null;
    throw new Error(`getent ${db} ${key} failed: ${(err as Error).message}`);
  }
}

/**
 * Looks the user (and group, else the user's primary group) up with getent, so that NSS (LDAP,
 * sssd, ...) answers as it would for keepalived. null runAs: null (the daemon's own user).
 */
export async function resolveRunAs(runAs: RunAs | null): Promise<ResolvedRunAs | null> {
  if (runAs === null) return null;
  const pw = await getent('passwd', runAs.user);
  if (!pw || pw.length < 4) throw new Error(`user '${runAs.user}' does not exist (getent passwd ${runAs.user} found nothing)`);
  const uid = Number(pw[2]);
  let gid = Number(pw[3]);
  if (runAs.group !== null) {
    const gr = await getent('group', runAs.group);
    if (!gr || gr.length < 3) throw new Error(`group '${runAs.group}' does not exist (getent group ${runAs.group} found nothing)`);
    gid = Number(gr[2]);
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`getent returned a malformed entry for '${runAs.user}'`);
  return { uid, gid, user: pw[0]! };
}

/** Memoizes resolveRunAs per `user group` (each hook or script resolves once per daemon run). */
export function runAsResolver(): (runAs: RunAs | null) => Promise<ResolvedRunAs | null> {
  const cache = new Map<string, Promise<ResolvedRunAs | null>>();
  return (runAs) => {
    if (runAs === null) return Promise.resolve(null);
    const key = `${runAs.user} ${runAs.group ?? ''}`;
    let p = cache.get(key);
    if (!p) {
      p = resolveRunAs(runAs);
      cache.set(key, p);
      p.catch(() => cache.delete(key)); // a user created later is found on the next try
    }
    return p;
  };
}

// ---- enable_script_security ------------------------------------------------------------------

export class ScriptSecurityError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`script '${file}' refused: ${reason}`);
    this.name = 'ScriptSecurityError';
  }
}

/** The sticky bit: in such a directory only an entry's owner may rename or delete it. */
const S_ISVTX = 0o1000;

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

/** The daemon's own identity, for "run as nobody in particular". */
function self(): { uid: number; gid: number } {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/**
 * Permission bit `bit` (one of 4 read, 2 write, 1 exec) for uid/gid, as the kernel decides it for
 * a process with no supplementary groups (libuv drops them when it switches uid/gid). root may
 * search any directory and run any file with at least one x bit.
 */
function permits(st: { mode: number; uid: number; gid: number; isDirectory(): boolean }, who: { uid: number; gid: number }, bit: number): boolean {
  if (who.uid === 0) return bit !== 1 || st.isDirectory() || (st.mode & 0o111) !== 0;
  if (st.uid === who.uid) return (st.mode & (bit << 6)) !== 0;
  if (st.gid === who.gid) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

/** argv[0] as exec would find it: as written when it has a slash, else the first executable in PATH. */
export async function findProgram(name: string, path = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'): Promise<string | null> {
  if (name.includes('/')) return resolve(name);
  for (const dir of path.split(delimiter)) {
    const candidate = resolve(dir || '.', name);
    try {
      const st = await stat(candidate);
      if (st.isFile()) {
        await access(candidate, fsc.X_OK);
        return candidate;
      }
    } catch {
      // not here: next PATH entry
    }
  }
  return null;
}

/** Every prefix of an absolute path: '/', '/a', '/a/b', ... */
function prefixes(abs: string): string[] {
  const out: string[] = [sep];
  let cur = '';
  for (const part of abs.split(sep)) {
    if (!part) continue;
    cur += sep + part;
    out.push(cur);
  }
  return out;
}

/**
 * keepalived's enable_script_security, per path component (the path as written and the path
 * after symbolic links): refused when the owner is neither root nor the run-as user, or when a
 * regular file or a directory without the sticky bit is writable by its group (unless that group
 * is root) or by others. keepalived only applies this to scripts run as root (a script run as an
 * unprivileged user cannot gain anything); we apply it to every script, because a file someone
 * else can rewrite runs that someone's code as the run-as user. Also refused: a missing file, a
 * file that is not a regular file, and one the run-as user cannot execute or reach.
 * Returns the absolute path of the program (argv[0] looked up in PATH when it has no slash).
 */
export async function checkScriptSecurity(program: string, runAs: ResolvedRunAs | { uid: number; gid: number } | null): Promise<string> {
  try {
    return await checkPaths(program, runAs);
  } catch (err) {
    if (err instanceof ScriptSecurityError) throw err;
    // A file that vanished or became unreadable between two steps.
    throw new ScriptSecurityError(program, `cannot be checked: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function checkPaths(program: string, runAs: ResolvedRunAs | { uid: number; gid: number } | null): Promise<string> {
  const who = runAs ?? self();
  const whoName = runAs && 'user' in runAs ? `user '${runAs.user}'` : `uid ${who.uid}`;
  const found = await findProgram(program);
  if (!found) throw new ScriptSecurityError(program, `not found in PATH (${process.env['PATH'] ?? ''})`);
  let real: string;
  try {
    real = await realpath(found);
  } catch (err) {
    throw new ScriptSecurityError(found, `cannot be accessed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const file = await stat(real);
  if (!file.isFile()) throw new ScriptSecurityError(found, 'is not a regular file');
  if (!permits(file, who, 1)) throw new ScriptSecurityError(found, `is not executable by ${whoName} (mode ${octal(file.mode)}, owner uid ${file.uid} gid ${file.gid})`);

  const checked = new Set<string>();
  for (const [abs, follow] of [[found, false], [real, true]] as const) {
    for (const p of prefixes(abs)) {
      if (checked.has(p)) continue;
      checked.add(p);
      const st = follow ? await stat(p) : await lstat(p);
      const what = st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symbolic link' : 'file';
      if (st.uid !== 0 && st.uid !== who.uid) {
        throw new ScriptSecurityError(found, `${what} '${p}' is owned by uid ${st.uid}, neither root nor the run-as ${whoName}`);
      }
      const guarded = st.isFile() || (st.isDirectory() && (st.mode & S_ISVTX) === 0);
      if (guarded && st.gid !== 0 && (st.mode & 0o020) !== 0) {
        throw new ScriptSecurityError(found, `${what} '${p}' is writable by its group (gid ${st.gid}, mode ${octal(st.mode)})`);
      }
      if (guarded && (st.mode & 0o002) !== 0) {
        throw new ScriptSecurityError(found, `${what} '${p}' is writable by everyone (mode ${octal(st.mode)})`);
      }
      if (st.isDirectory() && !permits(st, who, 1)) {
        throw new ScriptSecurityError(found, `directory '${p}' cannot be searched by ${whoName} (mode ${octal(st.mode)})`);
      }
    }
  }
  return found;
}

// ---- running ----------------------------------------------------------------------------------

/** Bytes of stdout and of stderr kept (the end: that is where scripts say what went wrong). */
export const OUTPUT_TAIL_BYTES = 4096;
/** Between SIGTERM and SIGKILL when a program overruns (keepalived waits 2 s; checks are short). */
export const KILL_GRACE_MS = 1000;
/** After the program exits, how long to wait for pipes that its own children may still hold. */
const PIPE_LINGER_MS = 200;

export interface RunResult {
  /** Exit status, null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Aborted through opts.signal (the daemon is stopping). */
  aborted: boolean;
  /** The program could not be started (ENOENT, EACCES, EPERM ...), else null. */
  error: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** null: as the daemon's own user. */
  runAs: ResolvedRunAs | null;
  /** Default: the daemon's environment. */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /** Kills the program (as a timeout does) when aborted. */
  signal?: AbortSignal;
}

/** Keeps the last `limit` bytes of a stream in at most ~2*limit bytes of memory. */
class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    if (chunk.length >= this.limit) {
      this.chunks = [chunk.subarray(chunk.length - this.limit)];
      this.size = this.limit;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    const all = Buffer.concat(this.chunks, this.size);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** One line describing how a run ended: 'exit 0', 'exit 1', 'timeout after 400 ms', 'signal SIGSEGV', ... */
export function describeRun(r: RunResult, timeoutMs: number): string {
  if (r.error !== null) return r.error;
  if (r.timedOut) return `timeout after ${timeoutMs} ms`;
  if (r.aborted) return 'aborted';
  if (r.signal !== null) return `signal ${r.signal}`;
  return `exit ${r.code}`;
}

/**
 * Runs argv (plus extraArgs) without a shell and resolves when it ended; never rejects. The
 * program leads its own process group, so a timeout (SIGTERM, then SIGKILL after KILL_GRACE_MS)
 * also ends whatever it started, as keepalived's kill(-pid) does: a `sleep` left behind would
 * otherwise hold the output pipes open. uid/gid are only switched when they differ from ours
 * (libuv then also drops the supplementary groups).
 */
export function runCommand(cmd: CommandConfig | readonly string[], extraArgs: readonly string[], opts: RunOptions): Promise<RunResult> {
  const argv: readonly string[] = isArgv(cmd) ? cmd : cmd.argv;
  const started = performance.now();
  const me = self();
  const ids: { uid?: number; gid?: number } = {};
  if (opts.runAs && opts.runAs.uid !== me.uid) ids.uid = opts.runAs.uid;
  if (opts.runAs && opts.runAs.gid !== me.gid) ids.gid = opts.runAs.gid;

  return new Promise<RunResult>((resolvePromise) => {
    const out = new Tail(OUTPUT_TAIL_BYTES);
    const err = new Tail(OUTPUT_TAIL_BYTES);
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const timers: NodeJS.Timeout[] = [];

    const finish = (error: string | null): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      const r: RunResult = {
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        timedOut,
        aborted,
        error,
        stdout: out.toString(),
        stderr: err.toString(),
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      opts.log?.debug({ argv: [...argv, ...extraArgs], ...r }, 'program ended');
      resolvePromise(r);
    };
    const onAbort = (): void => {
      aborted = true;
      stop();
    };

    let child: ChildProcessByStdio<null, Readable, Readable>;
    try {
      child = spawn(argv[0]!, [...argv.slice(1), ...extraArgs], {
        ...ids,
        env: opts.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group, see above
      });
    } catch (e) {
      // spawn throws (instead of emitting 'error') for e.g. EPERM when switching users.
      finish(`cannot run '${argv[0]}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    function stop(): void {
      if (settled) return;
      killGroup('SIGTERM');
      timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS));
    }
    timers.push(
      setTimeout(() => {
        timedOut = true;
        stop();
      }, opts.timeoutMs),
    );
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Spawn failures (ENOENT, EACCES) arrive here; kill errors are caught in killGroup.
      finish(`cannot run '${argv[0]}': ${e.code ?? e.message}`);
    });
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Killed on purpose: make sure what it started dies too (keepalived does the same).
      if (timedOut || aborted) killGroup('SIGKILL');
      // Something it started in the background may hold the pipes open: stop waiting for them
      // (without killing it: a notify hook may start things on purpose).
      timers.push(
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, PIPE_LINGER_MS),
      );
    });
    child.on('close', (code, signal) => {
      exit ??= { code, signal };
      finish(null);
    });
  });
}

function isArgv(cmd: CommandConfig | readonly string[]): cmd is readonly string[] {
  return Array.isArray(cmd);
}
