// wrk (Debian's 4.1): one run, its report parsed.
import { startNginx } from './backends.js';
import { cpuWindow, run } from './proc.js';
import type { Env, Prepared } from './runner.js';

export interface WrkResult {
  requests: number;
  rps: number;
  /** Latency percentiles, ms (with --latency). */
  p50: number;
  p99: number;
  /** Socket errors (connect + read + write + timeout) and non-2xx/3xx responses. */
  errors: number;
  non2xx: number;
}

/** A duration as wrk prints it (`812.00us`, `1.95ms`, `2.01s`, `1.00m`) in ms. */
export function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? wrkMs(m[1]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0;
  const requests = num(/(\d+) requests in /);
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!Number.isFinite(rps)) throw new Error(`cannot read wrk's report: ${out.slice(0, 500)}`);
  return { requests, rps, p50: pct('50'), p99: pct('99'), errors, non2xx: num(/Non-2xx or 3xx responses: (\d+)/) || 0 };
}

export async function wrk(url: string, o: { seconds: number; conns: number; threads: number; close: boolean; latency: boolean }): Promise<WrkResult> {
  const args = ['-t', String(o.threads), '-c', String(o.conns), '-d', `${o.seconds}s`, '--timeout', '5s'];
  if (o.close) args.push('-H', 'Connection: close');
  if (o.latency) args.push('--latency');
  args.push(url);
  return parseWrk(await run('/usr/bin/wrk', args, (o.seconds + 30) * 1000));
}

/**
 * Workloads 2 and 3: nginx serving a 1 KiB file behind each subject, driven by wrk (warm-up
 * first if asked); `values` turns wrk's result and the proxy's CPU time into the table's numbers.
 */
export async function prepareWrkWorkload(
  env: Env,
  mode: { close: boolean; latency: boolean },
  values: (r: WrkResult, cpu: { cpuMs: number; wallMs: number }) => Record<string, number>,
): Promise<Prepared> {
  const nginx = await startNginx(env.ctx.dir, env.ctx.nofile);
  const o = env.opts;
  return {
    backendPort: nginx.port,
    stop: () => nginx.stop(),
    async measure(s) {
      const url = `http://127.0.0.1:${s.port}${nginx.path}`;
      const base = { conns: o.wrkConns, threads: o.wrkThreads, ...mode };
      if (o.warmup > 0) await wrk(url, { ...base, seconds: o.warmup });
      const cpu = cpuWindow(s.pid);
      const r = await wrk(url, { ...base, seconds: o.seconds });
      return { values: values(r, cpu.end()) };
    },
  };
}
