// HAProxy 2.6's CSV stats format (`show stat`, and the stats page's `;csv`): a header line
// `# pxname,svname,...,` then one line per row, every line ending with a comma. Empty cells are
// nulls of the model; numbers are integers. The runtime API adds the blank line that ends every
// CLI answer; the HTTP `;csv` output has none.

import { STAT_FIELDS, type StatRow, type StatValue } from './model.js';

export const CSV_HEADER = `# ${STAT_FIELDS.join(',')},\n`;

/** HAProxy's csv_enc(): quote a string holding a comma, a quote, CR/LF, or edge spaces. */
export function csvCell(v: StatValue): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(Math.trunc(v)) : '';
  if (/[",\r\n]/.test(v) || /^\s|\s$/.test(v)) return `"${v.replace(/"/g, '""')}"`;
  return v;
}

export function csvLine(row: StatRow): string {
  let out = '';
  for (const f of STAT_FIELDS) out += csvCell(row[f]) + ',';
  return out + '\n';
}

export function renderCsv(rows: readonly StatRow[]): string {
  let out = CSV_HEADER;
  for (const r of rows) out += csvLine(r);
  return out;
}

/** Parse CSV as HAProxy writes it (for tests and tools): header fields and rows as objects. */
export function parseCsv(text: string): { fields: string[]; rows: Record<string, string>[] } {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const header = lines.shift() ?? '';
  const fields = splitCsvLine(header.replace(/^# /, ''));
  if (fields[fields.length - 1] === '') fields.pop();
  const rows = lines.map((line) => {
    const cells = splitCsvLine(line);
    const row: Record<string, string> = {};
    fields.forEach((f, i) => (row[f] = cells[i] ?? ''));
    return row;
  });
  return { fields, rows };
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}
