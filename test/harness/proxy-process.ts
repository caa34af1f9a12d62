// `warren proxy -f FILE` as a child process (as an operator runs it), with its JSON log lines
// collected: for tests of what only a real process shows (signals, exit, worker processes).

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** A pino line of the proxy. */
export interface LogLine {
  msg: string;
  pid: number;
  time: number;
  [k: string]: unknown;
}

export interface ProxyProcess {
  child: ChildProcess;
  /** Every JSON log line so far, in order. */
  lines: LogLine[];
  /** The first line from index `from` on that matches (already logged or future); rejects after
   *  `timeoutMs` or when the process exits first. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number, from?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export function spawnProxy(file: string): ProxyProcess {
  const child = spawn(process.execPath, [CLI, 'proxy', '-f', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(line)) waiters.splice(i, 1)[0]!.resolve(line);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  const waitLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000, from = 0): Promise<LogLine> => {
    const found = lines.slice(from).find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms`)), timeoutMs);
      waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(() => setTimeout(() => reject(new Error('the proxy exited before logging a matching line')), 50));
    });
  };
  return { child, lines, waitLog, exited };
}
