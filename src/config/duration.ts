// HAProxy's time format: a number with an optional unit; a bare number is milliseconds.
// (doc/configuration.txt §2.5: us, ms, s, m, h, d.)

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$/;

/** Milliseconds, or null when `text` is not a duration. */
export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : null;
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}

export const DURATION_HINT = 'a duration such as 500ms, 2s, 1m, 3h (a bare number is milliseconds)';

/** The shortest exact HAProxy spelling of a duration, for generated configs and messages. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const n = ms / UNIT_MS[unit]!;
    if (n >= 1 && Number.isInteger(n)) return `${n}${unit}`;
  }
  return Number.isInteger(ms) ? `${ms}ms` : `${Math.round(ms * 1000)}us`;
}
