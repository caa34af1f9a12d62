// `warren import keepalived.conf`: reads a native keepalived configuration and writes the
// equivalent `warren vrrp` YAML (same sections, same keywords; see config/keepalived-a.yaml).
//
// The file is read the way keepalived reads it (keepalived.conf(5)): blocks delimited by `{` and
// `}` (on the keyword's line or the next), `#` and `!` comments anywhere on a line, "quoted
// strings". Every keyword ends up in one of three places:
//   - imported: written to the YAML, converted where warren differs (auth_type PASS becomes
//     HMAC-SHA256 with the same secret, with a warning);
//   - ignored: harmless for warren (smtp_alert, vrrp_strict, use_vmac, ...): a warning with the line;
//   - rejected: something that would change who holds the VIP and that warren does not do (LVS
//     virtual_server, sync groups, track files, virtual_routes, ...) or does not know: an error
//     with the line, and a "did you mean" for a likely typo.
// The YAML is then run through the loader, and whatever it refuses (priority 300, a bad address,
// a track_script naming no vrrp_script) is reported at the keepalived.conf line it came from.
// The YAML is produced even when there are errors; the CLI exits non-zero on any error.

import yaml from 'js-yaml';
import { didYouMean } from '../did-you-mean.js';
import { formatPath } from '../load.js';
import { loadVrrpConfigText } from '../vrrp-load.js';
import { haproxyScriptHint, unsupportedAt, vrrpNameProblem, type Path } from '../vrrp-schema.js';
import { importResult, Messages, reportLoaderProblems, type ImportMessage, type ImportResult } from './haproxy-cfg.js';

export type { ImportMessage, ImportResult };

/** Where `warren import` points instances that had no authentication at all. */
export const DEFAULT_SECRET_FILE = '/etc/warren/vrrp.key';

// ---- tokens and blocks -----------------------------------------------------------------------

interface Token {
  text: string;
  quoted: boolean;
  line: number;
}

interface Stmt {
  line: number;
  words: Token[];
  /** The statements inside `{ ... }`, or null when the keyword has no block. */
  block: Stmt[] | null;
}

/** Splits a line into words: "quoted strings", `{` and `}` on their own, `#`/`!` comments. */
function tokenize(text: string, line: number, msgs: Messages): (Token | '{' | '}')[] {
  const out: (Token | '{' | '}')[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#' || c === '!') {
      break;
    } else if (c === '{' || c === '}') {
      out.push(c);
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) {
        msgs.error(line, 'unterminated double quote');
        out.push({ text: text.slice(i + 1), quoted: true, line });
        break;
      }
      out.push({ text: text.slice(i + 1, end), quoted: true, line });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t\r{}#!"'.includes(text[j]!)) j++;
      out.push({ text: text.slice(i, j), quoted: false, line });
      i = j;
    }
  }
  return out;
}

/** Statements and their blocks; a `{` alone on a line opens the block of the line before. */
function parse(text: string, msgs: Messages): Stmt[] {
  const root: Stmt = { line: 0, words: [], block: [] };
  const stack: Stmt[] = [root];
  const lines = text.split('\n');
  let last: Stmt | null = null; // the statement that ended the previous line, for `{` on the next line
  lines.forEach((raw, n) => {
    const line = n + 1;
    const trimmed = raw.trimStart();
    if (trimmed.startsWith('@')) {
      msgs.error(line, "conditional configuration ('@id ...') is not supported by the importer: keep this host's lines, without the '@id' prefix, and import again");
      return;
    }
    if (/^\$[A-Za-z_][A-Za-z0-9_]*=/.test(trimmed)) {
      msgs.error(line, "parameter definitions ('$NAME=...') are not supported by the importer: substitute them, then import again");
      return;
    }
    let cur: Stmt | null = null;
    for (const tok of tokenize(raw, line, msgs)) {
      const top = stack[stack.length - 1]!;
      if (tok === '{') {
        const opener: Stmt | null = cur ?? (last && last.block === null ? last : null);
        if (!opener) {
          msgs.error(line, "'{' without a keyword before it");
          const orphan: Stmt = { line, words: [], block: [] };
          stack.push(orphan);
        } else {
          opener.block = [];
          stack.push(opener);
        }
        cur = null;
        last = null;
      } else if (tok === '}') {
        if (stack.length === 1) msgs.error(line, "unexpected '}': no block is open");
        else stack.pop();
        cur = null;
        last = null;
      } else {
        if (!cur) {
          cur = { line, words: [], block: null };
          top.block!.push(cur);
        }
        cur.words.push(tok);
      }
    }
    if (cur) last = cur;
    else if (raw.trim() !== '' && !/^\s*[#!]/.test(raw)) last = null;
  });
  for (const open of stack.slice(1)) {
    const what = open.words.map((w) => w.text).join(' ') || '{';
    msgs.error(open.line, `'${what}' opens a block that is never closed: missing '}'`);
  }
  return root.block!;
}

// ---- keyword tables --------------------------------------------------------------------------

type Kind = 'value' | 'values' | 'flag' | 'block' | 'command';

const GLOBAL_KEYS: Record<string, Kind> = {
  router_id: 'value',
  script_user: 'values',
  enable_script_security: 'flag',
  vrrp_mcast_group4: 'value',
  vrrp_mcast_group6: 'value',
  vrrp_garp_master_delay: 'value',
  vrrp_garp_master_repeat: 'value',
  vrrp_garp_master_refresh: 'value',
  vrrp_garp_master_refresh_repeat: 'value',
};

const SCRIPT_KEYS: Record<string, Kind> = {
  script: 'command',
  interval: 'value',
  timeout: 'value',
  weight: 'values',
  rise: 'value',
  fall: 'value',
  user: 'values',
  init_fail: 'flag',
};

const INSTANCE_KEYS: Record<string, Kind> = {
  state: 'value',
  interface: 'value',
  virtual_router_id: 'value',
  priority: 'value',
  advert_int: 'value',
  nopreempt: 'flag',
  preempt: 'flag',
  preempt_delay: 'value',
  unicast_src_ip: 'value',
  mcast_src_ip: 'value',
  unicast_peer: 'block',
  authentication: 'block',
  virtual_ipaddress: 'block',
  virtual_ipaddress_excluded: 'block',
  track_script: 'block',
  track_interface: 'block',
  dont_track_primary: 'flag',
  notify_master: 'command',
  notify_backup: 'command',
  notify_fault: 'command',
  notify_stop: 'command',
  notify: 'command',
  garp_master_delay: 'value',
  garp_master_repeat: 'value',
  garp_master_refresh: 'value',
  garp_master_refresh_repeat: 'value',
};

const TOP_KEYS = ['global_defs', 'vrrp_script', 'vrrp_instance'];

// ---- the importer ----------------------------------------------------------------------------

type Obj = Record<string, unknown>;

/** A number when the word is one (keepalived's values are numbers or words), else the word. */
function scalar(word: string): string | number {
  return /^-?\d+(\.\d+)?$/.test(word) ? Number(word) : word;
}

/** Words back into one command line, quoting a word that was quoted and holds spaces. */
function joinWords(words: Token[]): string {
  if (words.length === 1) return words[0]!.text;
  return words.map((w) => (w.quoted && /\s/.test(w.text) ? `"${w.text}"` : w.text)).join(' ');
}

class Importer {
  readonly msgs = new Messages();
  readonly doc: { global_defs: Obj; vrrp_script: Record<string, Obj>; vrrp_instance: Record<string, Obj> } = {
    global_defs: {},
    vrrp_script: {},
    vrrp_instance: {},
  };
  /** YAML path (formatPath) -> keepalived.conf line, to report the loader's problems. */
  readonly lines = new Map<string, number>();
  needsSecretFile = false;

  set(path: Path, value: unknown, line: number): void {
    let o = this.doc as unknown as Obj;
    for (const seg of path.slice(0, -1)) o = o[seg] as Obj;
    o[path[path.length - 1] as string] = value;
    this.lines.set(formatPath(path), line);
  }

  push(path: Path, value: unknown, line: number): void {
    let o = this.doc as unknown as Obj;
    for (const seg of path.slice(0, -1)) o = o[seg] as Obj;
    const key = path[path.length - 1] as string;
    const list = (o[key] ??= []) as unknown[];
    if (list.length === 0) this.lines.set(formatPath(path), line);
    this.lines.set(formatPath([...path, list.length]), line);
    list.push(value);
  }

  run(text: string): void {
    for (const s of parse(text, this.msgs)) this.top(s);
    if (Object.keys(this.doc.vrrp_instance).length === 0 && this.msgs.errors.length === 0) {
      this.msgs.error(1, 'no vrrp_instance: nothing to import');
    }
  }

  /** What to do with a keyword that is not a warren keyword: warning, error, or null (unknown). */
  private unsupported(at: Path, s: Stmt, where: string): boolean {
    const key = s.words[0]!.text;
    const why = unsupportedAt(at, key);
    if (!why) return false;
    if (why.harmless) this.msgs.warn(s.line, `'${key}' ignored: ${why.reason}`);
    else this.msgs.error(s.line, `'${key}'${where} is not supported by warren: ${why.reason}`);
    return true;
  }

  private top(s: Stmt): void {
    const key = s.words[0]?.text;
    if (key === undefined) return; // an orphan `{ }`: already reported
    if (key === 'global_defs') {
      if (!this.needBlock(s)) return;
      this.section(s.block!, ['global_defs'], GLOBAL_KEYS, 'global_defs');
      return;
    }
    if (key === 'vrrp_script' || key === 'vrrp_instance') {
      const name = s.words[1]?.text;
      if (name === undefined || s.words.length > 2) {
        this.msgs.error(s.line, `expected '${key} NAME {'`);
        return;
      }
      if (!this.needBlock(s)) return;
      // keepalived takes a "quoted name" with blanks; warren does not (vrrp-schema.ts says why).
      const badName = vrrpNameProblem(key, name);
      if (badName) {
        this.msgs.error(s.line, badName);
        return;
      }
      const table = key === 'vrrp_script' ? this.doc.vrrp_script : this.doc.vrrp_instance;
      if (Object.hasOwn(table, name)) {
        this.msgs.error(s.line, `${key} '${name}' is already defined (keepalived skips this one)`);
        return;
      }
      this.set([key, name], {}, s.line);
      if (key === 'vrrp_script') this.script(name, s);
      else this.instance(name, s);
      return;
    }
    if (this.unsupported([], s, '')) return;
    this.msgs.error(s.line, `unknown keyword '${key}'${didYouMean(key, [...TOP_KEYS, 'virtual_server', 'vrrp_sync_group', 'static_ipaddress', 'static_routes'])}`);
  }

  private needBlock(s: Stmt): boolean {
    if (s.block !== null) return true;
    this.msgs.error(s.line, `'${s.words.map((w) => w.text).join(' ')}' expects a block: { ... }`);
    return false;
  }

  /**
   * The keywords of one block, in order: those that map one to one (value, values, flag,
   * command) here, those of kind 'block' through `onBlock`. Duplicates: the last wins (notify:
   * the first), as keepalived.
   */
  private section(stmts: Stmt[], at: Path, keys: Record<string, Kind>, where: string, onBlock: (s: Stmt) => void = () => {}): void {
    const seen = new Map<string, number>();
    for (const s of stmts) {
      const key = s.words[0]?.text;
      if (key === undefined) continue;
      const kind = keys[key];
      if (kind === undefined) {
        if (TOP_KEYS.includes(key) && s.block !== null) {
          this.msgs.error(s.line, `'${key}' inside ${where}: a '}' is missing before this line`);
          continue;
        }
        if (this.unsupported(at, s, ` in ${where}`)) continue;
        this.msgs.error(s.line, `unknown keyword '${key}' in ${where}${didYouMean(key, [...Object.keys(keys), ...unsupportedKeys(at)])}`);
        continue;
      }
      if (kind === 'block') {
        if (this.needBlock(s)) onBlock(s);
        continue;
      }
      if (s.block !== null) {
        this.msgs.error(s.line, `'${key}' expects ${kind === 'flag' ? 'no value' : 'a value'}, not a block`);
        continue;
      }
      const prev = seen.get(key);
      if (prev !== undefined) {
        if (key.startsWith('notify')) {
          this.msgs.warn(s.line, `'${key}' is already given at line ${prev}: this one is ignored (as keepalived does)`);
          continue;
        }
        this.msgs.warn(s.line, `'${key}' is already given at line ${prev}: the last one wins`);
      }
      seen.set(key, s.line);
      const args = s.words.slice(1);
      this.keyword(at, key, kind, args, s.line);
    }
  }

  private keyword(at: Path, key: string, kind: Kind, args: Token[], line: number): void {
    const path = [...at, key];
    switch (kind) {
      case 'flag':
        if (args.length > 0) {
          // keepalived's on|off|true|false|yes|no on the few flags that take one.
          const b = { on: true, true: true, yes: true, off: false, false: false, no: false }[args[0]!.text.toLowerCase()];
          if (args.length > 1 || b === undefined) return this.msgs.error(line, `'${key}' takes no value, got '${joinWords(args)}'`);
          this.set(path, b, line);
        } else this.set(path, true, line);
        return;
      case 'value':
        if (args.length !== 1) return this.msgs.error(line, args.length ? `'${key}' expects one value, got '${joinWords(args)}'` : `'${key}' expects a value`);
        this.set(path, scalar(args[0]!.text), line);
        return;
      case 'values':
        if (args.length === 0) return this.msgs.error(line, `'${key}' expects a value`);
        if (key === 'weight') {
          if (args.length > 1) {
            return this.msgs.error(line, args[1]!.text === 'reverse' ? "'weight ... reverse' is not supported by warren: use the opposite weight" : `'weight' expects one value, got '${joinWords(args)}'`);
          }
          this.set(path, scalar(args[0]!.text), line);
          return;
        }
        if (args.length > 2) return this.msgs.error(line, `'${key}' expects USER [GROUP], got '${joinWords(args)}'`);
        this.set(path, args.map((a) => a.text).join(' '), line);
        return;
      case 'command': {
        if (args.length === 0) return this.msgs.error(line, `'${key}' expects a command`);
        if (key === 'script') {
          // vrrp_script's `script` takes the whole rest of the line.
          const command = joinWords(args);
          this.set(path, command, line);
          const hint = haproxyScriptHint(command);
          if (hint) this.msgs.warn(line, hint);
          return;
        }
        // notify*: `SCRIPT [USER [GROUP]]`, the script quoted when it has arguments.
        const [script, ...user] = args;
        if (user.length > 2) return this.msgs.error(line, `'${key}' expects "COMMAND" [USER [GROUP]] (quote a command that has arguments), got '${joinWords(args)}'`);
        if (user.length > 0) {
          if (!script!.quoted) {
            this.msgs.warn(
              line,
              `'${user.map((u) => u.text).join(' ')}' is taken as the user (and group) to run ${script!.text} as (keepalived's syntax: ${key} SCRIPT [USER [GROUP]]); quote the command line if these are its arguments`,
            );
          }
          this.set(path, { script: script!.text, user: user.map((u) => u.text).join(' ') }, line);
        } else this.set(path, script!.text, line);
        return;
      }
      case 'block':
        return;
    }
  }

  private script(name: string, s: Stmt): void {
    const at: Path = ['vrrp_script', name];
    this.section(s.block!, at, SCRIPT_KEYS, `vrrp_script ${name}`);
    if (this.doc.vrrp_script[name]!['script'] === undefined) {
      this.msgs.error(s.line, `vrrp_script '${name}' has no 'script' (keepalived drops it)`);
    }
  }

  private instance(name: string, s: Stmt): void {
    const at: Path = ['vrrp_instance', name];
    const where = `vrrp_instance ${name}`;
    const inst = this.doc.vrrp_instance[name]!;
    this.section(s.block!, at, INSTANCE_KEYS, where, (b) => {
      const key = b.words[0]!.text;
      if (b.words.length > 1) this.msgs.error(b.line, `'${key}' takes no value before its block, got '${joinWords(b.words.slice(1))}'`);
      const items = b.block!.filter((x) => x.words.length > 0);
      for (const x of b.block!) if (x.block !== null) this.msgs.error(x.line, `unexpected block inside '${key}'`);
      switch (key) {
        case 'authentication':
          this.authentication(at, b);
          break;
        case 'unicast_peer':
          for (const x of items) {
            if (x.words.length > 1) this.msgs.warn(x.line, `'${joinWords(x.words.slice(1))}' ignored: warren checks every advert's HMAC, not its TTL`);
            this.push([...at, 'unicast_peer'], x.words[0]!.text, x.line);
          }
          break;
        case 'virtual_ipaddress':
        case 'virtual_ipaddress_excluded':
          if (key === 'virtual_ipaddress_excluded' && items.length) {
            this.msgs.warn(b.line, "'virtual_ipaddress_excluded' imported into virtual_ipaddress: they move with the instance the same way, and warren's adverts list them too");
          }
          for (const x of items) this.push([...at, 'virtual_ipaddress'], joinWords(x.words), x.line);
          break;
        case 'track_script':
        case 'track_interface':
          for (const x of items) {
            // A quoted name with a blank would read as 'NAME weight N' in the YAML.
            const badName = key === 'track_script' && x.words[0]!.quoted ? vrrpNameProblem('vrrp_script', x.words[0]!.text) : null;
            if (badName) this.msgs.error(x.line, `track_script: ${badName}`);
            else this.push([...at, key], joinWords(x.words), x.line);
          }
          break;
      }
      if (items.length === 0 && key !== 'authentication') this.msgs.warn(b.line, `'${key}' is empty`);
    });

    // keepalived: `preempt` is the default; nopreempt/preempt_delay need an initial BACKUP state.
    const line = (k: string): number => this.lines.get(formatPath([...at, k])) ?? s.line;
    if ('preempt' in inst) {
      const l = line('preempt');
      delete inst['preempt'];
      // The later of preempt/nopreempt wins, as in keepalived.
      if (inst['nopreempt'] !== undefined && line('nopreempt') < l) delete inst['nopreempt'];
      this.msgs.warn(l, "'preempt' is the default: nothing to import");
    }
    if (inst['state'] === 'MASTER') {
      for (const k of ['nopreempt', 'preempt_delay']) {
        if (inst[k] !== undefined && inst[k] !== false && inst[k] !== 0) {
          this.msgs.warn(line(k), `'${k}' ignored: it needs 'state BACKUP' (keepalived clears it when the initial state is MASTER)`);
          delete inst[k];
        }
      }
    }
    if (inst['authentication'] === undefined) {
      this.msgs.warn(
        s.line,
        `${where} has no authentication: warren authenticates every advert with HMAC-SHA256; imported with global_defs.auth_secret_file ${DEFAULT_SECRET_FILE}: put the same random secret there on every host (head -c 32 /dev/urandom | base64 > ${DEFAULT_SECRET_FILE})`,
      );
      this.needsSecretFile = true;
    }
  }

  private authentication(at: Path, b: Stmt): void {
    const path = [...at, 'authentication'];
    this.set(path, {}, b.line);
    let type: Token[] | null = null;
    let typeLine = b.line;
    let pass: { text: string; line: number } | null = null;
    for (const x of b.block!) {
      const key = x.words[0]?.text;
      if (key === undefined) continue;
      const args = x.words.slice(1);
      if (key !== 'auth_type' && key !== 'auth_pass') {
        this.msgs.error(x.line, `unknown keyword '${key}' in authentication${didYouMean(key, ['auth_type', 'auth_pass'])}`);
        continue;
      }
      if (args.length !== 1) {
        this.msgs.error(x.line, `'${key}' expects one value${args.length ? `, got '${joinWords(args)}'` : ''}`);
        continue;
      }
      if (key === 'auth_type') {
        type = args;
        typeLine = x.line;
        continue;
      }
      pass = { text: args[0]!.text, line: x.line };
      if (pass.text.length > 8) {
        this.msgs.warn(
          x.line,
          `keepalived uses only the first 8 characters of auth_pass ('${pass.text.slice(0, 8)}'); warren uses all ${pass.text.length}: make sure the whole secret is the same on every host`,
        );
      }
    }
    const t = type?.[0]?.text;
    if (t === 'PASS' || t === 'AH') {
      this.msgs.warn(
        typeLine,
        `auth_type ${t} imported as HMAC-SHA256 with the same secret (${t === 'PASS' ? 'PASS sends the password in clear in every advert' : 'warren does not do IPsec AH'}); a short password can be guessed from one captured advert: use a long random secret on every host (32 random bytes in global_defs.auth_secret_file)`,
      );
      this.set([...path, 'auth_type'], 'HMAC-SHA256', typeLine);
    } else if (t !== undefined) {
      this.set([...path, 'auth_type'], scalar(t), typeLine);
    }
    if (pass) this.set([...path, 'auth_pass'], pass.text, pass.line);
  }
}

/** Keywords keepalived knows at `at` that warren does not, for "did you mean". */
function unsupportedKeys(at: Path): string[] {
  const probe = ['smtp_alert', 'use_vmac', 'vrrp_strict', 'notification_email', 'virtual_routes', 'track_file', 'debug', 'version', 'accept', 'no_accept', 'promote_secondaries'];
  return probe.filter((k) => unsupportedAt(at, k) !== null);
}

/** The YAML of an imported config, for the output and for the loader. */
function dump(imp: Importer): string {
  const out: Obj = {};
  const g = { ...imp.doc.global_defs };
  if (imp.needsSecretFile && g['auth_secret_file'] === undefined) g['auth_secret_file'] = DEFAULT_SECRET_FILE;
  if (Object.keys(g).length) out['global_defs'] = g;
  if (Object.keys(imp.doc.vrrp_script).length) out['vrrp_script'] = imp.doc.vrrp_script;
  if (Object.keys(imp.doc.vrrp_instance).length) out['vrrp_instance'] = imp.doc.vrrp_instance;
  return Object.keys(out).length ? yaml.dump(out, { lineWidth: -1, noRefs: true }) : '{}\n';
}

export function importKeepalivedConf(text: string, file: string): ImportResult {
  const imp = new Importer();
  imp.run(text);
  const body = dump(imp);
  // The loader's problems with the imported YAML (priority 300, a bad address, a track_script
  // naming no vrrp_script), at the keepalived.conf lines they come from.
  reportLoaderProblems(() => loadVrrpConfigText(body, file), imp.lines, imp.msgs);
  return importResult(file, body, imp.msgs);
}

const KEEPALIVED_BLOCK =
  /^[ \t]*(global_defs|vrrp_instance|vrrp_script|vrrp_sync_group|vrrp_track_file|vrrp_track_process|virtual_server|virtual_server_group|static_ipaddress|static_routes|static_rules|garp_group|bfd_instance)\b[^:\n]*$/m;

/**
 * True when `text` reads as a native keepalived.conf (for `warren import` to pick the importer):
 * a keepalived top-level block keyword at the start of a line, not followed by a YAML colon,
 * and a `{` somewhere.
 */
export function looksLikeKeepalivedConf(text: string): boolean {
  const code = text
    .split('\n')
    .map((l) => l.replace(/[#!].*$/, ''))
    .join('\n');
  return KEEPALIVED_BLOCK.test(code) && code.includes('{');
}
