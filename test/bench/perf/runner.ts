// The runner: each workload's backend is started once, then every round runs every subject in
// turn (A B C D E, A B C D E, ...), each on a fresh subject process; the results become
// markdown tables (min / median / max per subject, and warren's median over each subject's).
import { log, markdownTable, median, spread } from '../bench-util.js';
import type { RunningSubject, Subject, SubjectContext } from './subjects.js';

export interface Options {
  rounds: number;
  smoke: boolean;
  /** Seconds of a timed measurement (bulk per direction, wrk, slow reader, AMQP). */
  seconds: number;
  /** Seconds of warm-up before a timed measurement (not counted). */
  warmup: number;
  /** Idle connections of the idle workload. */
  idleConns: number;
  /** Slow-reader measurement, seconds. */
  slowSeconds: number;
  /** Stop the slow reader early when the proxy's RSS passes this (protects the machine). */
  rssCapMiB: number;
  /** wrk connections and threads. */
  wrkConns: number;
  wrkThreads: number;
  /** AMQP: message size (bytes) and publishes in flight (unconfirmed) at most. */
  amqpSize: number;
  amqpWindow: number;
  /** Size of the stream of the "backend sends N MiB then closes" check. */
  checkMiB: number;
}

export interface RabbitTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

export interface Env {
  opts: Options;
  ctx: SubjectContext;
  /** The RabbitMQ node (started on first use). */
  rabbit(): Promise<RabbitTarget>;
}

export interface Metric {
  key: string;
  label: string;
  better: 'higher' | 'lower' | 'none';
  digits: number;
  /** Show warren's median over each subject's. */
  ratio?: boolean;
  /** Column title in the summary table (omitted: not in the summary). */
  summary?: string;
}

export interface Measurement {
  values: Record<string, number>;
  /** Footnotes (e.g. "stopped at the RSS cap"). */
  notes?: string[];
}

export interface Prepared {
  backendPort: number;
  measure(s: RunningSubject): Promise<Measurement>;
  stop(): Promise<void>;
}

export interface Workload {
  id: string;
  title: string;
  /** What the table shows and how it was measured, printed under the title. */
  describe(opts: Options): string;
  metrics: Metric[];
  prepare(env: Env): Promise<Prepared>;
  /** Upper bound of one measurement, ms (it is an error past that). */
  timeoutMs(opts: Options): number;
}

export interface WorkloadResult {
  workload: Workload;
  /** subject id → metric key → one value per successful round. */
  values: Map<string, Map<string, number[]>>;
  /** subject id → error messages (one per failed round). */
  errors: Map<string, string[]>;
  notes: Map<string, Set<string>>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]);
}

export async function runWorkload(w: Workload, subjects: Subject[], env: Env): Promise<WorkloadResult> {
  const result: WorkloadResult = { workload: w, values: new Map(), errors: new Map(), notes: new Map() };
  for (const s of subjects) {
    result.values.set(s.id, new Map());
    result.errors.set(s.id, []);
    result.notes.set(s.id, new Set());
  }
  log(`workload ${w.id}: starting its backend`);
  let prepared: Prepared;
  try {
    prepared = await w.prepare(env);
  } catch (err) {
    const msg = `backend: ${(err as Error).message}`;
    log(`workload ${w.id}: ${msg}`);
    for (const s of subjects) result.errors.get(s.id)!.push(msg);
    return result;
  }
  try {
    for (let round = 1; round <= env.opts.rounds; round++) {
      for (const s of subjects) {
        let running: RunningSubject | null = null;
        try {
          running = await s.start(prepared.backendPort, env.ctx);
          const m = await withTimeout(prepared.measure(running), w.timeoutMs(env.opts), `${w.id} through ${s.id}`);
          if (!running.alive()) throw new Error(running.describeExit());
          for (const [k, v] of Object.entries(m.values)) {
            const series = result.values.get(s.id)!;
            if (!series.has(k)) series.set(k, []);
            series.get(k)!.push(v);
          }
          for (const n of m.notes ?? []) result.notes.get(s.id)!.add(n);
          log(`${w.id} round ${round} ${s.id}: ${w.metrics.map((mt) => `${mt.key}=${fmt(m.values[mt.key] ?? NaN, mt.digits)}`).join(' ')}`);
        } catch (err) {
          let msg = (err as Error).message;
          if (running && !running.alive() && !msg.includes('exited')) msg += `; ${running.describeExit()}`;
          result.errors.get(s.id)!.push(`round ${round}: ${msg}`);
          log(`${w.id} round ${round} ${s.id}: ERROR ${msg}`);
        } finally {
          await running?.stop().catch(() => {});
        }
      }
    }
  } finally {
    await prepared.stop().catch((err: unknown) => log(`workload ${w.id}: stopping the backend: ${(err as Error).message}`));
  }
  return result;
}

// ---- formatting -----------------------------------------------------------------------------

export function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "min / median / max" of the finite values (bench-util's spread), or one value, or —. */
function cell(xs: number[] | undefined, digits: number): string {
  const finite = (xs ?? []).filter(Number.isFinite);
  if (finite.length === 0) return '—';
  if (finite.length === 1) return fmt(finite[0]!, digits);
  return spread(finite, digits).replace(/-?\d+(\.\d+)?/g, (n) => fmt(Number(n), digits));
}

export function medianOf(r: WorkloadResult, subject: string, key: string): number {
  const xs = (r.values.get(subject)?.get(key) ?? []).filter(Number.isFinite);
  return xs.length ? median(xs) : NaN;
}

function ratioCell(r: WorkloadResult, subject: string, m: Metric): string {
  if (subject === 'warren') return '1.00×';
  const w = medianOf(r, 'warren', m.key);
  const o = medianOf(r, subject, m.key);
  if (!Number.isFinite(w) || !Number.isFinite(o) || o === 0) return '—';
  return `${(w / o).toFixed(2)}×`;
}

export function workloadTable(r: WorkloadResult, subjects: Subject[], opts: Options): string {
  const w = r.workload;
  const rounds = opts.rounds > 1 ? ' (min / median / max)' : '';
  const ratioMetrics = subjects.some((s) => s.id === 'warren') ? w.metrics.filter((m) => m.ratio) : [];
  const header = [
    'subject',
    ...w.metrics.map((m) => `${m.label}${m.better === 'higher' ? ' ↑' : m.better === 'lower' ? ' ↓' : ''}${rounds}`),
    ...ratioMetrics.map((m) => `warren ÷ subject: ${m.label}`),
  ];
  const footnotes: string[] = [];
  const rows = subjects.map((s) => {
    const errs = r.errors.get(s.id) ?? [];
    const series = r.values.get(s.id);
    const ok = series !== undefined && series.size > 0;
    let name = s.label;
    if (errs.length) {
      footnotes.push(`${s.label}: ${errs.length} of ${opts.rounds} round(s) failed — ${errs.join(' | ')}`);
      name += ' ⚠';
    }
    for (const n of r.notes.get(s.id) ?? []) footnotes.push(`${s.label}: ${n}`);
    return [
      name,
      ...w.metrics.map((m) => (ok ? cell(series.get(m.key), m.digits) : 'error')),
      ...ratioMetrics.map((m) => ratioCell(r, s.id, m)),
    ];
  });
  return [
    `### ${w.title}`,
    '',
    w.describe(opts),
    '',
    markdownTable(header, rows),
    ...(footnotes.length ? ['', ...footnotes.map((f) => `- ${f}`)] : []),
  ].join('\n');
}

/** One row per subject, the medians of every workload's summary metrics (the issue's table). */
export function summaryTable(results: WorkloadResult[], subjects: Subject[]): string {
  const cols: { r: WorkloadResult; m: Metric }[] = [];
  for (const r of results) for (const m of r.workload.metrics) if (m.summary) cols.push({ r, m });
  const header = ['subject', ...cols.map(({ m }) => m.summary!)];
  const rows = subjects.map((s) => [s.label, ...cols.map(({ r, m }) => fmt(medianOf(r, s.id, m.key), m.digits))]);
  return markdownTable(header, rows);
}

/** The issue's targets: warren against HAProxy nbthread 1 (medians of this run). */
export function targetsTable(results: WorkloadResult[]): string | null {
  const get = (wid: string): WorkloadResult | undefined => results.find((r) => r.workload.id === wid);
  const rows: string[][] = [];
  const ratio = (wid: string, key: string, want: number, atLeast: boolean, label: string): void => {
    const r = get(wid);
    if (!r) return;
    const w = medianOf(r, 'warren', key);
    const h = medianOf(r, 'haproxy1', key);
    if (!Number.isFinite(w) || !Number.isFinite(h) || h === 0) return void rows.push([label, '—', 'n/a']);
    const x = w / h;
    const d = r.workload.metrics.find((m) => m.key === key)?.digits ?? 2;
    rows.push([label, `${x.toFixed(2)}× (${fmt(w, d)} vs ${fmt(h, d)})`, (atLeast ? x >= want : x <= want) ? 'met' : 'NOT met']);
  };
  const absolute = (wid: string, key: string, max: number, label: string, unit: string, extra?: (r: WorkloadResult) => string): void => {
    const r = get(wid);
    if (!r) return;
    const w = medianOf(r, 'warren', key);
    if (!Number.isFinite(w)) return void rows.push([label, '—', 'n/a']);
    rows.push([label, `${fmt(w, 1)} ${unit}${extra ? extra(r) : ''}`, w <= max ? 'met' : 'NOT met']);
  };
  ratio('bulk', 'fwd', 1.0, true, 'bulk client→server ≥ 1.0× HAProxy nbthread 1');
  ratio('bulk', 'rev', 1.0, true, 'bulk server→client ≥ 1.0× HAProxy nbthread 1');
  ratio('connrate', 'rate', 0.8, true, 'new connections/s ≥ 0.8× HAProxy nbthread 1');
  ratio('latency', 'p99', 1.2, false, 'keep-alive p99 ≤ 1.2× HAProxy nbthread 1');
  absolute('slowreader', 'peak', 64, 'slow reader: peak RSS ≤ 64 MiB', 'MiB', (r) => ` (growth during the run: ${fmt(medianOf(r, 'warren', 'growth'), 1)} MiB)`);
  absolute('idle', 'perConnSettled', 8, 'idle connections: ≤ 8 KiB each (settled)', 'KiB');
  if (rows.length === 0) return null;
  return markdownTable(['target (warren, medians)', 'measured', 'status'], rows);
}
