// Pure helpers of the runtime API (HAProxy's CLI): splitting an input line into commands and
// words, and the "help" / "Unknown command" texts with HAProxy's fuzzy suggestions. No I/O.

/** Longest accepted input line (bytes before the newline). HAProxy's own limit is its 16 KiB buffer. */
export const MAX_LINE = 16 * 1024;

/**
 * Split one input line into commands (`;`-separated) of words (blank-separated), as HAProxy's
 * CLI does: a backslash makes the next character literal (`\;`, `\ `), a trailing CR is dropped,
 * repeated blanks collapse. An empty command (an empty line, or `;;`) is kept as `[]`.
 */
export function splitCommands(line: string): string[][] {
  if (line.endsWith('\r')) line = line.slice(0, -1);
  const commands: string[][] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (ch === ';') {
      if (inWord) words.push(word);
      commands.push(words);
      words = [];
      word = '';
      inWord = false;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  commands.push(words);
  return commands;
}

/** A command known to the CLI: its keywords and its `help` line (HAProxy's 40-column layout). */
export interface CommandSpec {
  words: readonly string[];
  usage: string;
}

/** The three lines HAProxy always appends to help and unknown-command answers. */
export const ALWAYS_SHOWN =
  '  help [<command>]                        : list matching or all commands\n' +
  '  prompt                                  : toggle interactive mode with prompt\n' +
  '  quit                                    : disconnect\n';

/**
 * HAProxy's word fingerprint (a 32x32 table indexed from*32+to): transitions between character
 * classes (1..26 letters, 27 digits, 28 anything else and the word's begin and end), plus
 * row 0 marking which classes occur at all.
 */
export function updateWordFingerprint(fp: Uint8Array, word: string): void {
  let from = 28; // begin
  for (const raw of word) {
    const c = raw.toLowerCase();
    let to: number;
    if (c >= 'a' && c <= 'z') to = c.charCodeAt(0) - 96;
    else if (c >= '0' && c <= '9') to = 27;
    else to = 28;
    fp[to] = 1;
    fp[32 * from + to]!++;
    from = to;
  }
  fp[32 * from + 28]!++; // end
}

export function wordFingerprintDistance(a: Uint8Array, b: Uint8Array): number {
  let dist = 0;
  for (let i = 0; i < 1024; i++) dist += Math.abs(a[i]! - b[i]!);
  return dist;
}

const MAX_MATCHES = 5;

/**
 * HAProxy's cli_gen_usage_msg(): the answer to `help [words]` (`isHelp`) or to an unknown
 * command. Words matching a command's keywords exactly narrow the list; the first word that
 * matches nothing is compared with the remaining keywords by fingerprint distance, and the
 * closest ones (at most 5) are proposed.
 */
export function usageMessage(commands: readonly CommandSpec[], args: readonly string[], isHelp: boolean): string {
  // The number of leading words that exactly match some command.
  let length = 0;
  for (const cmd of commands) {
    for (let i = 0; i < cmd.words.length && i < args.length && args[i]; i++) {
      if (cmd.words[i] !== args[i]) break;
      if (i + 1 > length) length = i + 1;
    }
  }
  let out: string;
  if (isHelp) out = 'The following commands are valid at this level:\n';
  else if (length === 0 && (args.length === 0 || !args[0])) out = 'Unknown command. Please enter one of the following commands only:\n';
  else out = 'Unknown command, but maybe one of the following ones is a better match:\n';

  const prefixMatches = (cmd: CommandSpec): number => {
    let i = 0;
    for (; i < length; i++) {
      if (i >= cmd.words.length || i >= args.length || !args[i]) break;
      if (cmd.words[i] !== args[i]) break;
    }
    return i;
  };

  const matches: { cmd: CommandSpec; dist: number }[] = [];
  if (length < args.length && args[length]) {
    for (const cmd of commands) {
      const idx = prefixMatches(cmd);
      if (idx !== length) continue;
      const wordSig = new Uint8Array(1024);
      const listSig = new Uint8Array(1024);
      let totlen = 0;
      for (let i = idx; i < args.length && args[i]; i++) {
        updateWordFingerprint(wordSig, args[i]!);
        totlen += args[i]!.length;
      }
      for (let i = idx; i < cmd.words.length; i++) {
        updateWordFingerprint(listSig, cmd.words[i]!);
        totlen += cmd.words[i]!.length;
      }
      const dist = wordFingerprintDistance(wordSig, listSig);
      if (dist < Math.trunc((5 * totlen) / 2)) {
        matches.push({ cmd, dist });
      }
    }
    // Stable by distance, first registered first, as HAProxy's insertion keeps them.
    matches.sort((a, b) => a.dist - b.dist);
    matches.splice(MAX_MATCHES);
  }

  let entries: CommandSpec[] = [];
  if (matches.length > 0) {
    const best = matches[0]!.dist;
    for (const m of matches) {
      if (m.dist > Math.trunc((5 * best) / 2)) break;
      entries.push(m.cmd);
    }
  } else {
    entries = commands.filter((cmd) => prefixMatches(cmd) === length);
  }
  entries.sort((a, b) => (a.usage < b.usage ? -1 : a.usage > b.usage ? 1 : 0));
  for (const e of entries) out += `  ${e.usage}\n`;
  return out + ALWAYS_SHOWN;
}

/** HAProxy's parse_time_err() for the CLI: a number with an optional unit, default seconds. Null if invalid. */
export function parseCliTime(text: string): number | null {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = { us: n / 1000, ms: n, s: n * 1000, m: n * 60_000, h: n * 3_600_000, d: n * 86_400_000 }[unit]!;
  return Number.isFinite(ms) && ms <= 2147483647 ? ms : null;
}

export type WeightChange = { weight: number } | { error: string };

/**
 * HAProxy's server_parse_weight_change_request(): `N` (0..256) or `N%` of the initial weight.
 * Messages are HAProxy's, including the two that have no trailing newline.
 */
export function parseWeightChange(text: string | undefined, initialWeight: number, dynamic: boolean): WeightChange {
  if (!text) return { error: 'Require <weight> or <weight%>.\n' };
  const m = /^[ \t]*([+-]?\d+)(.*)$/.exec(text);
  if (!m) return { error: 'Empty weight string empty or preceded by garbage' };
  let w = parseInt(m[1]!, 10);
  const rest = m[2]!;
  if (rest === '%') {
    if (w < 0) return { error: 'Relative weight must be positive.\n' };
    if (w > 25600) w = 25600;
    w = Math.trunc((initialWeight * w) / 100);
    if (w > 256) w = 256;
  } else if (w < 0 || w > 256) {
    return { error: 'Absolute weight can only be between 0 and 256 inclusive.\n' };
  } else if (rest !== '') {
    return { error: 'Trailing garbage in weight string' };
  }
  if (w !== 0 && w !== initialWeight && !dynamic) {
    return { error: "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n" };
  }
  return { weight: w };
}

/** HAProxy's atoi(): leading integer, 0 when none. */
export function atoi(text: string | undefined): number {
  const m = /^[ \t]*([+-]?\d+)/.exec(text ?? '');
  return m ? parseInt(m[1]!, 10) : 0;
}
