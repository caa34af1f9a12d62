// keepalived's notify hooks of one vrrp_instance (vrrp_notify.c: send_instance_notifies()):
// on a transition to MASTER, BACKUP, FAULT or STOP, first notify_master / notify_backup /
// notify_fault / notify_stop as written, then the generic `notify` with
// `INSTANCE <name> <STATE> <priority>` appended.
//
// keepalived forks the hooks and forgets them, so two quick transitions can run their hooks
// concurrently and finish out of order. Here the hooks of one instance run one at a time, in order
// (a hook that moves a route for MASTER cannot overtake the one for BACKUP), each with a timeout.
// A failing or hanging hook is logged and killed, never thrown: it must not stop the daemon.

import type { CommandConfig, NotifyConfig, RunAs } from '../config/vrrp-types.js';
import type { Logger } from '../lib/log.js';
import { checkScriptSecurity, describeRun, KILL_GRACE_MS, runAsResolver, runCommand, type ResolvedRunAs } from './exec.js';

export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

/** Default limit of one hook's run (keepalived has none but for notify_stop; a queue needs one). */
export const NOTIFY_TIMEOUT_MS = 10_000;
/** Hooks waiting at most; past it the oldest waiting one is dropped: the latest state matters most. */
export const NOTIFY_MAX_QUEUE = 64;

export interface NotifierOptions {
  log: Logger;
  /** How a hook's `user` becomes uid/gid; default: getent, memoized (exec.ts runAsResolver). */
  resolveRunAs?: (runAs: RunAs | null) => Promise<ResolvedRunAs | null>;
  timeoutMs?: number;
  /** global_defs.enable_script_security: refuse hooks that others could have rewritten. */
  scriptSecurity?: boolean;
  maxQueue?: number;
}

interface Job {
  /** 'notify_master', ..., or 'notify'. */
  hook: string;
  cmd: CommandConfig;
  args: string[];
  state: NotifyState;
}

const SPECIFIC: Record<NotifyState, keyof Omit<NotifyConfig, 'any'>> = {
  MASTER: 'master',
  BACKUP: 'backup',
  FAULT: 'fault',
  STOP: 'stop',
};

export class Notifier {
  private readonly log: Logger;
  private readonly resolveUser: (runAs: RunAs | null) => Promise<ResolvedRunAs | null>;
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly queue: Job[] = [];
  /** The loop working through the queue, null while idle. */
  private worker: Promise<void> | null = null;
  /** Kills the running hook (drain's bound). */
  private current: AbortController | null = null;
  /** Checked program path per command (enable_script_security), checked once like keepalived. */
  private readonly programs = new Map<CommandConfig, string>();

  constructor(
    readonly instance: string,
    private readonly cfg: NotifyConfig,
    private readonly opts: NotifierOptions,
  ) {
    this.log = opts.log.child({ instance });
    this.resolveUser = opts.resolveRunAs ?? runAsResolver();
    this.timeoutMs = opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
    this.maxQueue = opts.maxQueue ?? NOTIFY_MAX_QUEUE;
  }

  /** Queues the hooks of a transition to `state`; returns at once. */
  notify(state: NotifyState, priority: number): void {
    const key = SPECIFIC[state];
    const specific = this.cfg[key];
    if (specific) this.enqueue({ hook: `notify_${key}`, cmd: specific, args: [], state });
    if (this.cfg.any) this.enqueue({ hook: 'notify', cmd: this.cfg.any, args: ['INSTANCE', this.instance, state, String(priority)], state });
    this.pump();
  }

  /**
   * Resolves once every queued hook has run, or after maxWaitMs: then the running hook is killed
   * and the waiting ones are dropped (logged). For shutdown, after notify('STOP', ...).
   */
  async drain(maxWaitMs = 2 * this.timeoutMs + KILL_GRACE_MS): Promise<void> {
    if (!this.worker) return;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<true>((resolve) => (timer = setTimeout(resolve, maxWaitMs, true)));
    const done = await Promise.race([this.worker.then(() => false as const), expired]);
    clearTimeout(timer);
    if (!done) return;
    const dropped = this.queue.splice(0).map((j) => `${j.hook} ${j.state}`);
    this.log.warn({ dropped }, `notify hooks of ${this.instance} still running after ${maxWaitMs} ms: killing the running one${dropped.length ? `, dropping ${dropped.length} waiting` : ''}`);
    this.current?.abort();
    await this.worker; // the kill takes at most KILL_GRACE_MS
  }

  private enqueue(job: Job): void {
    if (this.queue.length >= this.maxQueue) {
      const old = this.queue.shift()!;
      this.log.warn({ hook: old.hook, state: old.state }, `too many notify hooks waiting for ${this.instance}: dropped ${old.hook} for ${old.state}`);
    }
    this.queue.push(job);
  }

  private pump(): void {
    if (this.worker || this.queue.length === 0) return;
    this.worker = this.work().finally(() => {
      this.worker = null;
      this.pump(); // hooks queued in the meantime (none can be: work() empties the queue; cheap insurance)
    });
  }

  private async work(): Promise<void> {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) {
      try {
        await this.run(job);
      } catch (err) {
        this.log.error({ err, hook: job.hook }, `notify hook ${job.hook} of ${this.instance}: ${(err as Error).message}`);
      }
    }
  }

  private async run(job: Job): Promise<void> {
    const fields = { hook: job.hook, state: job.state, command: job.cmd.text, args: job.args };
    let runAs: ResolvedRunAs | null;
    let program = job.cmd.argv[0]!;
    try {
      runAs = await this.resolveUser(job.cmd.user);
      if (this.opts.scriptSecurity) {
        const known = this.programs.get(job.cmd);
        program = known ?? (await checkScriptSecurity(program, runAs));
        this.programs.set(job.cmd, program);
      }
    } catch (err) {
      this.log.error(fields, `notify hook ${job.hook} of ${this.instance} not run: ${(err as Error).message}`);
      return;
    }
    this.current = new AbortController();
    const r = await runCommand([program, ...job.cmd.argv.slice(1)], job.args, {
      timeoutMs: this.timeoutMs,
      runAs,
      log: this.log,
      signal: this.current.signal,
    });
    this.current = null;
    const detail = describeRun(r, this.timeoutMs);
    const result = { ...fields, detail, durationMs: r.durationMs };
    if (r.error === null && !r.timedOut && !r.aborted && r.code === 0) {
      this.log.info(result, `notify hook ${job.hook} of ${this.instance} for ${job.state}: ${detail}`);
    } else {
      this.log.warn({ ...result, stdout: r.stdout, stderr: r.stderr }, `notify hook ${job.hook} of ${this.instance} for ${job.state} failed: ${detail}`);
    }
  }
}
