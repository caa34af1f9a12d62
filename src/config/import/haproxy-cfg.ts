// `warren import haproxy.cfg`: reads a native HAProxy configuration and writes the equivalent
// warren YAML (same sections, same keywords; see config/haproxy.yaml).
//
// The file is parsed the way HAProxy parses it (doc/configuration.txt §2: one keyword per line,
// `#` comments, backslash escapes, weak "..." and strong '...' quoting; sections global,
// defaults, frontend, backend, listen). Every line ends up in one of three places:
//   - imported: written to the YAML, possibly under its modern name (contimeout -> timeout
//     connect, with a warning naming the modern keyword);
//   - ignored: harmless for warren (log, daemon, chroot, user, ...): a warning with the line;
//   - rejected: something warren does not do (TLS, HTTP routing, stick tables, ...) or does not
//     know: an error with the line, and a "did you mean" for a likely typo.
// The YAML is produced even when there are errors, so that an operator can see what did carry
// over; the CLI exits non-zero on any error. An import without errors is then run through the
// loader `warren proxy` uses: what it refuses is a gap in the importer, reported as an error at
// the haproxy.cfg line it came from, so that `warren import` never prints YAML that does not load.

import { closest, distance } from 'fastest-levenshtein';
import yaml from 'js-yaml';
import { parseDuration } from '../duration.js';
import { escapeChars } from '../escape.js';
import { ConfigError, formatPath, loadProxyConfigText } from '../load.js';
import { nameProblem, parseServerLine, parseServerParams, SERVER_KEYWORDS, ServerLineError } from '../server-line.js';

export interface ImportMessage {
  line: number;
  severity: 'warning' | 'error';
  message: string;
}

export interface ImportResult {
  yaml: string;
  warnings: ImportMessage[];
  errors: ImportMessage[];
}

// ---- messages and "did you mean" ---------------------------------------------------------------

/** The warnings and errors of one import, each with its line in the native file. */
export class Messages {
  readonly warnings: ImportMessage[] = [];
  readonly errors: ImportMessage[] = [];
  warn(line: number, message: string): void {
    this.warnings.push({ line, severity: 'warning', message });
  }
  error(line: number, message: string): void {
    this.errors.push({ line, severity: 'error', message });
  }
}

/**
 * Runs a loader on an import's YAML (`load`: the one `warren proxy` or `warren vrrp` runs) and
 * reports each of its problems as an error at the native line its YAML path came from (`lines`:
 * formatPath() of a path -> line; else the closest parent's; else line 1), unless an error is
 * already reported at that line. The loader is the one place that knows what warren accepts: the
 * importers translate, and leave it to the loader to refuse (an address, a status list, a file
 * without any proxy section). Shared by both importers.
 */
export function reportLoaderProblems(load: () => unknown, lines: ReadonlyMap<string, number>, msgs: Messages): void {
  try {
    load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const reported = new Set(msgs.errors.map((e) => e.line));
    for (const issue of err.issues) {
      let path = issue.path;
      let line = lines.get(path);
      while (line === undefined && path !== '') {
        const parent = path.replace(/(\.[^.[]*|\[\d+\])$/, '');
        path = parent === path ? '' : parent;
        line = lines.get(path);
      }
      line ??= 1;
      if (reported.has(line)) continue;
      msgs.error(line, issue.path ? `${issue.path}: ${issue.message}` : issue.message);
    }
  }
}

/** ` (did you mean 'x'?)` when a known word is a likely typo of `word`, else ''. */
function suggest(word: string, known: readonly string[]): string {
  if (known.length === 0 || word === '') return '';
  const best = closest(word, known);
  const d = distance(word, best);
  const limit = word.length <= 2 ? 1 : Math.max(2, Math.floor(word.length / 3));
  return d > 0 && d <= limit ? ` (did you mean '${best}'?)` : '';
}

// ---- tokenizer (doc/configuration.txt §2.2) ----------------------------------------------------

/**
 * Splits one line into words as HAProxy does: unquoted or weakly quoted backslash escapes
 * (`\ `, `\#`, `\\`, `\'`, `\"`, `\r`, `\n`, `\t`, `\xHH`), "weak" and 'strong' quotes, and an
 * unquoted `#` starting a comment. Returns null (after an error) on an unterminated quote.
 */
function tokenize(text: string, line: number, msgs: Messages): string[] | null {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  let envWarned = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
      continue;
    }
    if (c === '\\' && i + 1 < text.length) {
      const n = text[i + 1]!;
      inWord = true;
      if (n === ' ' || n === '#' || n === '\\' || n === "'" || n === '"' || n === '$') {
        cur += n;
        i++;
      } else if (n === 'r' || n === 'n' || n === 't') {
        cur += n === 'r' ? '\r' : n === 'n' ? '\n' : '\t';
        i++;
      } else if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
        cur += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
        i += 3;
      } else {
        cur += c; // other combinations are left unchanged (e.g. `\1` in a regex)
      }
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else {
        if (c === '$' && !envWarned && /^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_])/.test(text.slice(i))) {
          envWarned = true;
          msgs.warn(line, 'environment variables are not expanded by the importer: the text is kept as written, edit the result');
        }
        cur += c;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
      continue;
    }
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    cur += c;
    inWord = true;
  }
  if (quote !== null) {
    msgs.error(line, `unterminated ${quote === '"' ? 'double' : 'single'} quote`);
    return null;
  }
  if (inWord) words.push(cur);
  return words;
}

// ---- keyword tables ----------------------------------------------------------------------------

type ProxyKind = 'defaults' | 'frontend' | 'backend' | 'listen';
/** Which sections a keyword may appear in: d(efaults) f(rontend) l(isten) b(ackend). */
type Caps = string;

const WARREN_RUNS_UNDER_SYSTEMD = 'warren runs in the foreground under systemd';
const NO_TLS =
  'warren does not terminate or originate TLS: let RabbitMQ terminate TLS (port 5671) and proxy that port as plain TCP';

/** Section keywords, so that a misspelt section header gets a suggestion too. */
const SECTION_WORDS_ALL = ['global', 'defaults', 'frontend', 'backend', 'listen', 'userlist', 'peers', 'resolvers', 'mailers'];

/** Global keywords that have no meaning for warren: dropped with a warning giving the reason. */
const GLOBAL_IGNORED: Record<string, string> = {
  log: 'warren logs to stdout (journald under systemd)',
  'log-tag': 'warren logs to stdout (journald under systemd)',
  'log-send-hostname': 'warren logs to stdout (journald under systemd)',
  chroot: 'use the systemd unit (RootDirectory=, ProtectSystem=) instead',
  user: 'set User= in the systemd unit instead',
  group: 'set Group= in the systemd unit instead',
  uid: 'set User= in the systemd unit instead',
  gid: 'set Group= in the systemd unit instead',
  daemon: WARREN_RUNS_UNDER_SYSTEMD,
  'master-worker': WARREN_RUNS_UNDER_SYSTEMD,
  pidfile: 'systemd tracks the process',
  nbproc: "removed from HAProxy 2.5; warren's 'nbthread' runs worker processes",
  'cpu-map': 'warren does not pin its worker processes to CPUs',
  'ulimit-n': 'set LimitNOFILE= in the systemd unit instead',
  node: 'no equivalent in warren',
  description: 'no equivalent in warren',
  quiet: 'no equivalent in warren',
  debug: 'no equivalent in warren',
  'spread-checks': 'no equivalent in warren',
  'max-spread-checks': 'no equivalent in warren',
  maxconnrate: 'no equivalent in warren',
  maxsessrate: 'no equivalent in warren',
  maxpipes: 'no equivalent in warren',
  maxzlibmem: 'no equivalent in warren',
  maxcomprate: 'no equivalent in warren',
  maxcompcpuusage: 'no equivalent in warren',
  noepoll: 'no equivalent in warren',
  nokqueue: 'no equivalent in warren',
  nopoll: 'no equivalent in warren',
  nosplice: 'no equivalent in warren',
  nogetaddrinfo: 'no equivalent in warren',
  noreuseport: 'no equivalent in warren',
  'unix-bind': 'no equivalent in warren',
  'server-state-base': 'no equivalent in warren',
  'server-state-file': 'no equivalent in warren',
  'ca-base': 'warren does not use TLS',
  'crt-base': 'warren does not use TLS',
  maxsslconn: 'warren does not use TLS',
  maxsslrate: 'warren does not use TLS',
  'ssl-default-bind-ciphers': 'warren does not use TLS',
  'ssl-default-bind-ciphersuites': 'warren does not use TLS',
  'ssl-default-bind-options': 'warren does not use TLS',
  'ssl-default-server-ciphers': 'warren does not use TLS',
  'ssl-default-server-ciphersuites': 'warren does not use TLS',
  'ssl-default-server-options': 'warren does not use TLS',
  'ssl-dh-param-file': 'warren does not use TLS',
  'ssl-server-verify': 'warren does not use TLS',
  'ssl-engine': 'warren does not use TLS',
  'ssl-mode-async': 'warren does not use TLS',
  'issuers-chain-path': 'warren does not use TLS',
  setenv: 'environment variables are not expanded by the importer',
  presetenv: 'environment variables are not expanded by the importer',
  resetenv: 'environment variables are not expanded by the importer',
  unsetenv: 'environment variables are not expanded by the importer',
  'localpeer': 'warren has no peers sections',
  'insecure-fork-wanted': 'no equivalent in warren',
  'set-dumpable': 'no equivalent in warren',
  'strict-limits': 'no equivalent in warren',
  'busy-polling': 'no equivalent in warren',
  'mworker-max-reloads': WARREN_RUNS_UNDER_SYSTEMD,
  'h1-case-adjust': 'warren does not proxy HTTP',
  'h1-case-adjust-file': 'warren does not proxy HTTP',
};
const GLOBAL_ERRORS: Record<string, string> = {
  'lua-load': 'Lua scripts are not supported by warren',
  'lua-load-per-thread': 'Lua scripts are not supported by warren',
  'lua-prepend-path': 'Lua scripts are not supported by warren',
  'external-check': "external checks are not supported by warren (checks are tcp, 'amqp-check' or 'httpchk')",
};
const GLOBAL_KNOWN = ['maxconn', 'nbthread', 'hard-stop-after', 'stats', ...Object.keys(GLOBAL_IGNORED), ...Object.keys(GLOBAL_ERRORS), ...SECTION_WORDS_ALL];

/** Proxy keywords that have no effect in warren: dropped with a warning giving the reason. */
const PROXY_IGNORED: Record<string, string> = {
  log: 'warren logs to stdout (journald under systemd)',
  'log-format': "warren writes its own log line ('option tcplog')",
  'log-format-sd': "warren writes its own log line ('option tcplog')",
  'log-tag': 'warren logs to stdout (journald under systemd)',
  'error-log-format': "warren writes its own log line ('option tcplog')",
  description: 'no equivalent in warren',
  id: 'no equivalent in warren',
  'bind-process': 'warren runs one process',
  errorfile: 'HTTP error pages are not used by warren (it proxies TCP)',
  errorfiles: 'HTTP error pages are not used by warren (it proxies TCP)',
  errorloc: 'HTTP error pages are not used by warren (it proxies TCP)',
  errorloc302: 'HTTP error pages are not used by warren (it proxies TCP)',
  errorloc303: 'HTTP error pages are not used by warren (it proxies TCP)',
  grace: 'no equivalent in warren',
  fullconn: "no equivalent in warren (servers have no 'minconn')",
  'unique-id-format': 'no equivalent in warren',
  'unique-id-header': 'no equivalent in warren',
  'email-alert': 'no equivalent in warren',
  'load-server-state-from-file': 'no equivalent in warren',
  'server-state-file-name': 'no equivalent in warren',
  'http-reuse': 'warren does not proxy HTTP',
  'max-keep-alive-queue': 'warren does not proxy HTTP',
  compression: 'warren does not proxy HTTP',
  'rate-limit': 'no equivalent in warren',
  'monitor-net': "no equivalent in warren (use 'monitor-uri' on a stats section)",
};
const PROXY_ERRORS: Record<string, string> = {
  appsession: 'session persistence is not supported by warren',
  block: 'HTTP request filtering is not supported by warren',
  capture: 'HTTP captures are not supported by warren (it proxies TCP)',
  cookie: 'cookie persistence is not supported by warren (it proxies TCP)',
  'dynamic-cookie-key': 'cookie persistence is not supported by warren (it proxies TCP)',
  declare: 'captures are not supported by warren',
  dispatch: "'dispatch' is not supported by warren: declare the destination with 'server'",
  'external-check': "external checks are not supported by warren (checks are tcp, 'amqp-check' or 'httpchk')",
  filter: 'filters are not supported by warren',
  'force-persist': 'persistence rules are not supported by warren',
  'ignore-persist': 'persistence rules are not supported by warren',
  persist: 'persistence is not supported by warren',
  'http-request': 'HTTP request rules are not supported by warren (it proxies TCP)',
  'http-response': 'HTTP response rules are not supported by warren (it proxies TCP)',
  'http-after-response': 'HTTP response rules are not supported by warren (it proxies TCP)',
  'http-error': 'HTTP error pages are not supported by warren',
  'http-send-name-header': 'HTTP header rewriting is not supported by warren',
  monitor: "'monitor fail' is not supported by warren",
  redirect: 'HTTP redirects are not supported by warren (it proxies TCP)',
  source: "'source' (choosing the outgoing address) is not supported by warren",
  stick: 'stickiness rules are not supported by warren',
  'stick-table': "stick tables are not supported by warren (for client affinity use 'balance source')",
  'tcp-check': "tcp-check sequences are not supported by warren (use 'option amqp-check' or 'option httpchk')",
  'tcp-request': 'tcp-request rules are not supported by warren',
  'tcp-response': 'tcp-response rules are not supported by warren',
  transparent: 'transparent proxying is not supported by warren',
  'use-server': 'use-server rules are not supported by warren',
  'server-template': "'server-template' (DNS service discovery) is not supported by warren: list each 'server'",
  reqadd: 'HTTP header rewriting is not supported by warren',
  reqallow: 'HTTP request filtering is not supported by warren',
  reqdel: 'HTTP header rewriting is not supported by warren',
  reqdeny: 'HTTP request filtering is not supported by warren',
  reqiallow: 'HTTP request filtering is not supported by warren',
  reqidel: 'HTTP header rewriting is not supported by warren',
  reqideny: 'HTTP request filtering is not supported by warren',
  reqipass: 'HTTP request filtering is not supported by warren',
  reqirep: 'HTTP header rewriting is not supported by warren',
  reqitarpit: 'HTTP request filtering is not supported by warren',
  reqpass: 'HTTP request filtering is not supported by warren',
  reqrep: 'HTTP header rewriting is not supported by warren',
  reqtarpit: 'HTTP request filtering is not supported by warren',
  rspadd: 'HTTP header rewriting is not supported by warren',
  rspdel: 'HTTP header rewriting is not supported by warren',
  rspdeny: 'HTTP response filtering is not supported by warren',
  rspidel: 'HTTP header rewriting is not supported by warren',
  rspideny: 'HTTP response filtering is not supported by warren',
  rspirep: 'HTTP header rewriting is not supported by warren',
  rsprep: 'HTTP header rewriting is not supported by warren',
};

/** Keywords handled below, with the sections HAProxy accepts them in (§4.1 keyword matrix). */
const PROXY_CAPS: Record<string, Caps> = {
  acl: 'flb',
  backlog: 'dfl',
  balance: 'dlb',
  bind: 'fl',
  clitimeout: 'dfl',
  contimeout: 'dlb',
  srvtimeout: 'dlb',
  'default-server': 'dlb',
  default_backend: 'dfl',
  disabled: 'dflb',
  enabled: 'dflb',
  'hash-type': 'dlb',
  'http-check': 'dlb',
  maxconn: 'dfl',
  mode: 'dflb',
  'monitor-uri': 'dfl',
  option: 'dflb',
  redispatch: 'dlb',
  redisp: 'dlb',
  retries: 'dlb',
  server: 'lb',
  stats: 'dflb',
  timeout: 'dflb',
  use_backend: 'fl',
};
const PROXY_KNOWN = [...Object.keys(PROXY_CAPS), ...Object.keys(PROXY_IGNORED), ...Object.keys(PROXY_ERRORS), ...SECTION_WORDS_ALL];

const TIMEOUT_CAPS: Record<string, Caps> = {
  connect: 'dlb',
  client: 'dfl',
  server: 'dlb',
  check: 'dlb',
  queue: 'dlb',
  tunnel: 'dlb',
  'client-fin': 'dfl',
  'server-fin': 'dlb',
};
const TIMEOUT_DEPRECATED: Record<string, string> = { contimeout: 'connect', clitimeout: 'client', srvtimeout: 'server' };
const TIMEOUT_IGNORED: Record<string, string> = {
  'http-request': 'warren does not proxy HTTP',
  'http-keep-alive': 'warren does not proxy HTTP',
  tarpit: 'warren has no tarpit',
};
const TIMEOUT_KNOWN = [...Object.keys(TIMEOUT_CAPS), ...Object.keys(TIMEOUT_DEPRECATED), ...Object.keys(TIMEOUT_IGNORED)];

/** Options written to the YAML, with the sections they apply to. */
const OPTION_KEPT: Record<string, Caps> = {
  redispatch: 'dlb',
  tcplog: 'dflb',
  dontlognull: 'dfl',
  tcpka: 'dflb',
  allbackups: 'dlb',
  httpchk: 'dlb',
  'tcp-check': 'dlb',
};
const HTTP_ONLY = 'warren does not proxy HTTP';
const OPTION_IGNORED: Record<string, string> = {
  abortonclose: 'no equivalent in warren',
  'accept-invalid-http-request': HTTP_ONLY,
  'accept-invalid-http-response': HTTP_ONLY,
  checkcache: HTTP_ONLY,
  contstats: 'warren updates its counters continuously',
  'dontlog-normal': 'no equivalent in warren',
  forceclose: HTTP_ONLY,
  forwardfor: HTTP_ONLY,
  'http-buffer-request': HTTP_ONLY,
  'http-ignore-probes': HTTP_ONLY,
  'http-keep-alive': HTTP_ONLY,
  'http-no-delay': HTTP_ONLY,
  'http-pretend-keepalive': HTTP_ONLY,
  'http-server-close': HTTP_ONLY,
  'http-tunnel': HTTP_ONLY,
  'http-use-proxy-header': HTTP_ONLY,
  'http-use-htx': HTTP_ONLY,
  'http-restrict-req-hdr-names': HTTP_ONLY,
  'disable-h2-upgrade': HTTP_ONLY,
  'h1-case-adjust-bogus-client': HTTP_ONLY,
  'h1-case-adjust-bogus-server': HTTP_ONLY,
  httpclose: HTTP_ONLY,
  http_proxy: HTTP_ONLY,
  'idle-close-on-response': HTTP_ONLY,
  'independent-streams': 'no equivalent in warren',
  'log-health-checks': 'warren logs server state changes itself',
  'log-separate-errors': 'no equivalent in warren',
  logasap: 'no equivalent in warren',
  nolinger: 'no equivalent in warren',
  originalto: HTTP_ONLY,
  persist: 'no equivalent in warren',
  'prefer-last-server': 'no equivalent in warren',
  'socket-stats': 'no equivalent in warren',
  'splice-auto': 'no equivalent in warren',
  'splice-request': 'no equivalent in warren',
  'splice-response': 'no equivalent in warren',
  'tcp-smart-accept': 'no equivalent in warren',
  'tcp-smart-connect': 'no equivalent in warren',
};
const OTHER_CHECKS = "warren's health checks are TCP connect, 'option amqp-check' or 'option httpchk'";
const OPTION_ERRORS: Record<string, string> = {
  'external-check': OTHER_CHECKS,
  'ldap-check': OTHER_CHECKS,
  'mysql-check': OTHER_CHECKS,
  'pgsql-check': OTHER_CHECKS,
  'redis-check': OTHER_CHECKS,
  smtpchk: OTHER_CHECKS,
  'spop-check': OTHER_CHECKS,
  'ssl-hello-chk': OTHER_CHECKS,
  transparent: 'transparent proxying is not supported by warren',
};
const OPTION_KNOWN = [
  ...Object.keys(OPTION_KEPT),
  ...Object.keys(OPTION_IGNORED),
  ...Object.keys(OPTION_ERRORS),
  'httplog',
  'clitcpka',
  'srvtcpka',
];

/** `bind` options (§5.1): harmless ones are dropped with a warning; value-taking ones listed with 1. */
const BIND_DROPPED: Record<string, number> = {
  name: 1,
  id: 1,
  process: 1,
  thread: 1,
  nice: 1,
  'defer-accept': 0,
  tfo: 0,
  v4v6: 0,
  v6only: 0,
  mss: 1,
  maxconn: 1,
  backlog: 1,
  user: 1,
  group: 1,
  uid: 1,
  gid: 1,
  mode: 1,
  level: 1,
  'severity-output': 1,
  'expose-fd': 1,
  'tcp-ut': 1,
  shards: 1,
};
const BIND_TLS = [
  'ssl', 'crt', 'crt-list', 'ca-file', 'ca-ignore-err', 'ca-sign-file', 'ca-sign-pass', 'ca-verify-file',
  'ciphers', 'ciphersuites', 'crl-file', 'crt-ignore-err', 'curves', 'ecdhe', 'force-sslv3', 'force-tlsv10',
  'force-tlsv11', 'force-tlsv12', 'force-tlsv13', 'generate-certificates', 'no-ca-names', 'no-sslv3',
  'no-tlsv10', 'no-tlsv11', 'no-tlsv12', 'no-tlsv13', 'no-tls-tickets', 'prefer-client-ciphers',
  'ssl-max-ver', 'ssl-min-ver', 'strict-sni', 'tls-ticket-keys', 'verify', 'alpn', 'npn', 'allow-0rtt',
  'sigalgs', 'client-sigalgs', 'no-alpn',
];
const BIND_ERRORS: Record<string, string> = {
  'accept-proxy': "receiving the PROXY protocol ('accept-proxy') is not supported by warren",
  'accept-netscaler-cip': 'receiving the NetScaler client IP protocol is not supported by warren',
  transparent: 'transparent binding is not supported by warren',
  namespace: 'network namespaces on bind are not supported by warren (run warren inside the namespace)',
  interface: "binding to an interface is not supported by warren: bind to that interface's address",
  proto: "'proto' (forcing a mux protocol) is not supported by warren",
};
const BIND_KNOWN = [...Object.keys(BIND_DROPPED), ...BIND_TLS, ...Object.keys(BIND_ERRORS)];

/** Server options (§5.2) warren does not have but which are harmless to drop, with their arity. */
const SERVER_DROPPED: Record<string, { args: number; why: string }> = {
  id: { args: 1, why: 'no equivalent in warren' },
  cookie: { args: 1, why: 'warren has no cookie persistence' },
  minconn: { args: 1, why: "warren has no dynamic maxconn; set 'maxconn'" },
  'non-stick': { args: 0, why: 'warren has no stick tables' },
  resolvers: { args: 1, why: 'warren resolves server names with the system resolver' },
  'resolve-prefer': { args: 1, why: 'warren resolves server names with the system resolver' },
  'resolve-net': { args: 1, why: 'warren resolves server names with the system resolver' },
  'resolve-opts': { args: 1, why: 'warren resolves server names with the system resolver' },
  'init-addr': { args: 1, why: 'warren resolves server names with the system resolver' },
};
const SERVER_TLS = [
  'ssl', 'check-ssl', 'no-check-ssl', 'verify', 'verifyhost', 'no-verifyhost', 'ca-file', 'crl-file', 'crt',
  'sni', 'check-sni', 'alpn', 'check-alpn', 'npn', 'ciphers', 'ciphersuites', 'curves', 'sigalgs',
  'force-sslv3', 'force-tlsv10', 'force-tlsv11', 'force-tlsv12', 'force-tlsv13', 'no-sslv3', 'no-tlsv10',
  'no-tlsv11', 'no-tlsv12', 'no-tlsv13', 'ssl-min-ver', 'ssl-max-ver', 'ssl-reuse', 'no-ssl-reuse',
  'tls-tickets', 'no-tls-tickets', 'allow-0rtt', 'no-ssl',
];
const SERVER_ERRORS: Record<string, string> = {
  'agent-check': 'agent checks are not supported by warren',
  'agent-port': 'agent checks are not supported by warren',
  'agent-inter': 'agent checks are not supported by warren',
  'agent-addr': 'agent checks are not supported by warren',
  'agent-send': 'agent checks are not supported by warren',
  track: "'track' (sharing another server's health) is not supported by warren: give this server its own 'check'",
  redir: 'HTTP redirects are not supported by warren',
  source: "'source' (choosing the outgoing address) is not supported by warren",
  usesrc: "'source' (choosing the outgoing address) is not supported by warren",
  namespace: 'network namespaces are not supported by warren',
  proto: "'proto' is not supported by warren",
  'check-proto': "'check-proto' is not supported by warren",
  'check-send-proxy': "'check-send-proxy' is not supported by warren",
  'check-via-socks4': 'SOCKS4 is not supported by warren',
  socks4: 'SOCKS4 is not supported by warren',
  'pool-max-conn': 'connection pooling is not supported by warren',
  'pool-low-conn': 'connection pooling is not supported by warren',
  'pool-purge-delay': 'connection pooling is not supported by warren',
  'max-reuse': 'connection pooling is not supported by warren',
  tfo: 'TCP fast open is not supported by warren',
  'tcp-ut': "'tcp-ut' is not supported by warren",
  'on-marked-up': "'on-marked-up' is not supported by warren",
  'proxy-v2-options': "'proxy-v2-options' is not supported by warren",
  ws: 'warren does not proxy HTTP',
};
const SERVER_KNOWN = [...SERVER_KEYWORDS, ...Object.keys(SERVER_DROPPED), ...SERVER_TLS, ...Object.keys(SERVER_ERRORS)];

/** How many arguments a server keyword that warren supports takes (0 for a flag). */
function warrenServerArity(keyword: string): number {
  try {
    parseServerParams([keyword]);
    return 0;
  } catch {
    return 1;
  }
}

const OTHER_SECTIONS: Record<string, string> = {
  userlist: "userlists are not supported by warren (use 'stats auth user:password')",
  peers: 'peers (stick-table replication) are not supported by warren',
  resolvers: 'resolvers sections are not supported by warren (it uses the system resolver)',
  mailers: 'mailers (email alerts) are not supported by warren',
  cache: 'HTTP caching is not supported by warren',
  program: 'program sections are not supported by warren (use systemd units)',
  'http-errors': 'HTTP error pages are not supported by warren',
  ring: 'ring buffers are not supported by warren',
  'log-forward': 'log forwarding is not supported by warren',
  'fcgi-app': 'FastCGI is not supported by warren',
  'crt-store': NO_TLS,
  traces: 'traces are not supported by warren',
};
const SECTION_WORDS = ['global', 'defaults', 'frontend', 'backend', 'listen'];

// ---- the model built while reading -------------------------------------------------------------

interface At<T> {
  value: T;
  line: number;
}

interface Acl {
  criterion: 'src' | 'dst' | 'dst_port';
  values: string[];
  line: number;
  used: boolean;
}

interface UseBackend {
  backend: string;
  line: number;
  /** Condition words after if/unless. */
  negate: boolean;
  cond: string[];
}

interface ServerDraft {
  name: string;
  address: string; // without port when the line had none
  hasPort: boolean;
  params: string[];
  line: number;
}

interface Proxy {
  kind: ProxyKind;
  name: string;
  line: number;
  defaults: Proxy | null;
  disabled: boolean;
  binds: At<string>[];
  mode?: At<'tcp' | 'http'>;
  balance?: At<string>;
  hashType?: At<string>;
  retries?: At<number>;
  maxconn?: At<number>;
  backlog?: At<number>;
  /** `option` entries in order; `no option` removes earlier ones and is remembered in `negated`. */
  options: { name: string; args: string[]; line: number; httplog?: boolean }[];
  negated: Map<string, number>;
  timeouts: Map<string, At<string>>;
  defaultServer?: At<string[]>;
  servers: ServerDraft[];
  defaultBackend?: At<string>;
  useBackends: UseBackend[];
  acls: Map<string, Acl>;
  stats: {
    line: number | null;
    enable?: boolean;
    uri?: string;
    refresh?: string;
    realm?: string;
    auth: string[];
    admin?: boolean;
    hideVersion?: boolean;
  };
  monitorUri?: At<string>;
  httpchk?: { method: string | null; uri: string | null; line: number };
  httpCheck: { expect?: At<string>; auth?: string; headers: Record<string, string>; line: number | null };
}

function newProxy(kind: ProxyKind, name: string, line: number, defaults: Proxy | null): Proxy {
  return {
    kind,
    name,
    line,
    defaults,
    disabled: false,
    binds: [],
    options: [],
    negated: new Map(),
    timeouts: new Map(),
    servers: [],
    useBackends: [],
    acls: new Map(),
    stats: { line: null, auth: [] },
    httpCheck: { headers: {}, line: null },
  };
}

const capOf: Record<ProxyKind, string> = { defaults: 'd', frontend: 'f', listen: 'l', backend: 'b' };
function allowed(caps: Caps, kind: ProxyKind): boolean {
  return caps.includes(capOf[kind]);
}

/** HAProxy durations in a `timeout:` value: a bare number gets its unit written out. */
function durationText(raw: string, bareUnit: 'ms' | 's'): string | null {
  if (parseDuration(raw) === null) return null;
  return /^\d+(\.\d+)?$/.test(raw) ? `${raw}${bareUnit}` : raw;
}

function intArg(raw: string | undefined, min: number): number | null {
  if (raw === undefined || !/^\d+$/.test(raw)) return null;
  const n = Number(raw);
  return n >= min ? n : null;
}

// ---- the importer ------------------------------------------------------------------------------

class Importer {
  readonly msgs = new Messages();
  private section: { kind: 'global' } | { kind: 'proxy'; proxy: Proxy } | { kind: 'skip' } | null = null;
  private currentDefaults: Proxy | null = null;
  readonly defaultsSections: Proxy[] = [];
  readonly proxies: Proxy[] = [];
  readonly global: { maxconn?: number; nbthread?: number; hardStopAfter?: string; statsSocket?: At<string> } = {};
  globalLine: number | null = null;
  /** YAML path (formatPath) -> haproxy.cfg line, filled by build(), for the loader's problems. */
  readonly lines = new Map<string, number>();

  /** Notes that the YAML at `path` comes from `line`. */
  mark(path: (string | number)[], line: number | null | undefined): void {
    if (line) this.lines.set(formatPath(path), line);
  }

  run(text: string): void {
    const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
    lines.forEach((raw, i) => {
      const no = i + 1;
      const words = tokenize(raw.replace(/\r$/, ''), no, this.msgs);
      if (!words || words.length === 0) return;
      this.line(words, no);
    });
  }

  private line(words: string[], no: number): void {
    const kw = words[0]!;
    if (kw.startsWith('.')) {
      // HAProxy 2.4+ conditional blocks and diagnostics (.if/.elif/.else/.endif, .notice, ...)
      this.msgs.error(no, `'${kw}' (conditional blocks and diagnostics) is not supported by the importer: resolve it by hand`);
      return;
    }
    if (SECTION_WORDS.includes(kw)) return this.startSection(kw, words, no);
    if (kw in OTHER_SECTIONS) {
      this.msgs.error(no, `'${kw}' section: ${OTHER_SECTIONS[kw]}`);
      this.section = { kind: 'skip' };
      return;
    }
    if (this.section === null) {
      this.msgs.error(no, `'${kw}' outside of any section: expected global, defaults, frontend, backend or listen first`);
      return;
    }
    if (this.section.kind === 'skip') return;
    if (this.section.kind === 'global') return this.globalKeyword(words, no);
    this.proxyKeyword(this.section.proxy, words, no);
  }

  private startSection(kw: string, words: string[], no: number): void {
    if (kw === 'global') {
      if (words.length > 1) this.msgs.warn(no, `'global' takes no argument: '${words.slice(1).join(' ')}' ignored`);
      this.section = { kind: 'global' };
      this.globalLine ??= no;
      return;
    }
    const kind = kw as ProxyKind;
    const name = words[1] ?? '';
    const fromAt = words.indexOf('from');
    if (fromAt > 0) {
      this.msgs.error(no, `'${kw} ... from <defaults>' (named defaults) is not supported: warren has a single defaults section`);
    }
    if (kind === 'defaults') {
      const d = newProxy('defaults', name, no, null);
      this.defaultsSections.push(d);
      this.currentDefaults = d;
      this.section = { kind: 'proxy', proxy: d };
      return;
    }
    if (!name) {
      this.msgs.error(no, `'${kw}' needs a name`);
      this.section = { kind: 'skip' };
      return;
    }
    const badName = nameProblem(kw, name);
    if (badName) this.msgs.error(no, badName);
    const clash = this.proxies.find(
      (p) => p.name === name && !(p.kind === 'frontend' && kind === 'backend') && !(p.kind === 'backend' && kind === 'frontend'),
    );
    if (clash) this.msgs.error(no, `${kw} '${name}' has the same name as the ${clash.kind} at line ${clash.line}`);
    const proxy = newProxy(kind, name, no, this.currentDefaults);
    this.proxies.push(proxy);
    this.section = { kind: 'proxy', proxy };
    // Old syntax: `listen NAME ADDR:PORT` / `frontend NAME ADDR:PORT` carries the bind address.
    const rest = words.slice(2, fromAt > 0 ? fromAt : undefined);
    if (rest.length > 0) {
      if (kind === 'backend') {
        this.msgs.error(no, `a backend takes no address: '${rest.join(' ')}'`);
      } else {
        this.msgs.warn(no, `'${kw} ${name} ${rest.join(' ')}' is the old syntax: imported as 'bind ${rest.join(' ')}'`);
        this.bind(proxy, rest, no);
      }
    }
  }

  // ---- global ----

  private globalKeyword(words: string[], no: number): void {
    const [kw, ...args] = words as [string, ...string[]];
    if (kw === 'maxconn') {
      const n = intArg(args[0], 1);
      if (n === null) this.msgs.error(no, `'maxconn' expects a positive integer, got '${args[0] ?? ''}'`);
      else this.global.maxconn = n;
      return;
    }
    if (kw === 'nbthread') {
      // HAProxy's threads become warren's worker processes (src/proxy/workers.ts).
      const n = intArg(args[0], 1);
      if (n === null || n > 64) this.msgs.error(no, `'nbthread' expects a number from 1 to 64, got '${args[0] ?? ''}'`);
      else this.global.nbthread = n;
      return;
    }
    if (kw === 'hard-stop-after') {
      const d = args[0] === undefined ? null : durationText(args[0], 'ms');
      if (d === null) this.msgs.error(no, `'hard-stop-after' expects a duration (e.g. 30s), got '${args[0] ?? ''}'`);
      else this.global.hardStopAfter = d;
      return;
    }
    if (kw === 'stats') {
      const sub = args[0];
      if (sub === 'socket') {
        if (args.length < 2) {
          this.msgs.error(no, "'stats socket' expects an address or a path");
        } else if (this.global.statsSocket) {
          this.msgs.warn(no, `a second 'stats socket' is ignored: warren serves one (kept the one at line ${this.global.statsSocket.line})`);
        } else {
          this.global.statsSocket = { value: args.slice(1).join(' '), line: no };
        }
        return;
      }
      if (sub === 'timeout' || sub === 'maxconn' || sub === 'bind-process') {
        this.msgs.warn(no, `'stats ${sub}' ignored: no equivalent in warren`);
        return;
      }
      if (sub === undefined) return this.msgs.error(no, "'stats' expects socket, timeout or maxconn");
      this.msgs.error(no, `unknown keyword 'stats ${sub}' in global section${suggest(sub, ['socket', 'timeout', 'maxconn', 'bind-process'])}`);
      return;
    }
    if (kw in GLOBAL_ERRORS) return this.msgs.error(no, `'${kw}': ${GLOBAL_ERRORS[kw]}`);
    if (kw in GLOBAL_IGNORED) return this.msgs.warn(no, `'${kw}' ignored: ${GLOBAL_IGNORED[kw]}`);
    if (/^(tune|ssl|profiling|httpclient|51degrees|deviceatlas|wurfl|lua|ocsp)[.-]/.test(kw)) {
      return this.msgs.warn(no, `'${kw}' ignored: no equivalent in warren`);
    }
    this.msgs.error(no, `unknown keyword '${kw}' in global section${suggest(kw, GLOBAL_KNOWN)}`);
  }

  // ---- proxies ----

  private proxyKeyword(p: Proxy, words: string[], no: number): void {
    let negate = false;
    let reset = false;
    if (words[0] === 'no' || words[0] === 'default') {
      negate = words[0] === 'no';
      reset = words[0] === 'default';
      words = words.slice(1);
      if (words.length === 0) return this.msgs.error(no, `'${negate ? 'no' : 'default'}' needs a keyword`);
    }
    const [kw, ...args] = words as [string, ...string[]];
    const where = p.kind === 'defaults' ? 'defaults section' : `${p.kind} '${p.name}'`;

    if (negate || reset) {
      if (kw === 'option') return this.option(p, args, no, true);
      if (kw === 'log') return this.msgs.warn(no, "'no log' ignored: warren logs to stdout (journald under systemd)");
      return this.msgs.error(no, `'${negate ? 'no' : 'default'} ${kw}' is not supported by the importer`);
    }

    if (kw in PROXY_ERRORS) return this.msgs.error(no, `'${kw}': ${PROXY_ERRORS[kw]}`);
    if (kw in PROXY_IGNORED) return this.msgs.warn(no, `'${kw}' ignored: ${PROXY_IGNORED[kw]}`);
    const caps = PROXY_CAPS[kw];
    if (caps === undefined) {
      return this.msgs.error(no, `unknown keyword '${kw}' in ${where}${suggest(kw, PROXY_KNOWN)}`);
    }
    if (!allowed(caps, p.kind)) {
      if (p.kind === 'defaults') return this.msgs.error(no, `'${kw}' is not allowed in a defaults section`);
      // HAProxy warns and ignores a keyword a section has no use for (e.g. 'balance' in a frontend).
      return this.msgs.warn(no, `'${kw}' ignored: it has no effect in a ${p.kind} section`);
    }

    switch (kw) {
      case 'bind':
        return this.bind(p, args, no);
      case 'mode': {
        const m = args[0];
        if (m === 'tcp' || m === 'http') p.mode = { value: m, line: no };
        else if (m === 'health') this.msgs.error(no, "'mode health' is not supported by warren (use 'monitor-uri' on a stats section)");
        else this.msgs.error(no, `'mode' expects tcp or http, got '${m ?? ''}'${suggest(m ?? '', ['tcp', 'http'])}`);
        return;
      }
      case 'balance': {
        const alg = args[0] ?? '';
        const known = ['roundrobin', 'static-rr', 'leastconn', 'first', 'source'];
        if (known.includes(alg)) {
          if (args.length > 1) this.msgs.warn(no, `'balance ${alg}' takes no argument: '${args.slice(1).join(' ')}' ignored`);
          p.balance = { value: alg, line: no };
        } else if (/^(uri|url_param|hdr\(|random|rdp-cookie|hash)/.test(alg)) {
          this.msgs.error(no, `'balance ${alg}' is not supported by warren: expected one of ${known.join(', ')}`);
        } else {
          this.msgs.error(no, `unknown balance algorithm '${alg}': expected one of ${known.join(', ')}${suggest(alg, known)}`);
        }
        return;
      }
      case 'hash-type': {
        const t = args[0] ?? '';
        if (t !== 'map-based' && t !== 'consistent') {
          this.msgs.error(no, `'hash-type' expects map-based or consistent, got '${t}'${suggest(t, ['map-based', 'consistent'])}`);
          return;
        }
        if (args.length > 1) this.msgs.warn(no, `'hash-type ${t}': the hash function '${args.slice(1).join(' ')}' is ignored (warren uses its own)`);
        p.hashType = { value: t, line: no };
        return;
      }
      case 'retries': {
        const n = intArg(args[0], 0);
        if (n === null) this.msgs.error(no, `'retries' expects an integer, got '${args[0] ?? ''}'`);
        else p.retries = { value: n, line: no };
        return;
      }
      case 'maxconn':
      case 'backlog': {
        const n = intArg(args[0], 1);
        if (n === null) this.msgs.error(no, `'${kw}' expects a positive integer, got '${args[0] ?? ''}'`);
        else p[kw] = { value: n, line: no };
        return;
      }
      case 'option':
        return this.option(p, args, no, false);
      case 'timeout':
        return this.timeout(p, args[0] ?? '', args.slice(1), no, null);
      case 'contimeout':
      case 'clitimeout':
      case 'srvtimeout':
        return this.timeout(p, TIMEOUT_DEPRECATED[kw]!, args, no, kw);
      case 'redispatch':
      case 'redisp':
        this.msgs.warn(no, `'${kw}' is a deprecated keyword: imported as 'option redispatch'`);
        this.addOption(p, 'redispatch', [], no);
        return;
      case 'server':
        return this.server(p, args, no);
      case 'default-server': {
        const params = this.serverParams(args, no);
        if (params) {
          try {
            parseServerParams(params);
            p.defaultServer = { value: [...(p.defaultServer?.value ?? []), ...params], line: no };
          } catch (err) {
            if (!(err instanceof ServerLineError)) throw err;
            this.msgs.error(no, err.message);
          }
        }
        return;
      }
      case 'default_backend':
        if (args.length !== 1) return this.msgs.error(no, "'default_backend' expects one backend name");
        if (args[0]!.includes('%[')) return this.msgs.error(no, 'dynamic backend names are not supported by warren');
        p.defaultBackend = { value: args[0]!, line: no };
        return;
      case 'use_backend':
        return this.useBackend(p, args, no);
      case 'acl':
        return this.acl(p, args, no);
      case 'stats':
        return this.stats(p, args, no);
      case 'monitor-uri':
        if (!args[0]?.startsWith('/')) return this.msgs.error(no, `'monitor-uri' expects a path starting with '/', got '${args[0] ?? ''}'`);
        p.monitorUri = { value: args[0], line: no };
        return;
      case 'http-check':
        return this.httpCheck(p, args, no);
      case 'disabled':
        if (p.kind === 'defaults') {
          this.msgs.error(no, "'disabled' in a defaults section is not supported: disable the sections themselves");
        } else {
          p.disabled = true;
          this.msgs.warn(no, `${p.kind} '${p.name}' is disabled: not imported`);
        }
        return;
      case 'enabled':
        return; // the default
    }
  }

  private bind(p: Proxy, args: string[], no: number): void {
    if (args.length === 0) return this.msgs.error(no, "'bind' expects an address");
    for (const addr of args[0]!.split(',').filter(Boolean)) {
      const out = this.bindAddress(addr, no);
      if (out !== null) p.binds.push({ value: out, line: no });
    }
    const dropped: string[] = [];
    for (let i = 1; i < args.length; i++) {
      const opt = args[i]!;
      if (BIND_TLS.includes(opt)) return this.msgs.error(no, `bind option '${opt}': ${NO_TLS}`);
      if (opt in BIND_ERRORS) return this.msgs.error(no, `bind option '${opt}': ${BIND_ERRORS[opt]}`);
      const arity = BIND_DROPPED[opt];
      if (arity === undefined) return this.msgs.error(no, `unknown bind option '${opt}'${suggest(opt, BIND_KNOWN)}`);
      dropped.push(args.slice(i, i + 1 + arity).join(' '));
      i += arity;
    }
    if (dropped.length) this.msgs.warn(no, `bind options ignored (no equivalent in warren): ${dropped.map((d) => `'${d}'`).join(', ')}`);
  }

  /** A bind address in the YAML's form (`host:port`, `:port`, `[v6]:port`), or null after an error. */
  private bindAddress(text: string, no: number): string | null {
    let addr = text;
    const proto = /^([a-z0-9]+)@/.exec(addr);
    if (proto) {
      if (['ipv4', 'ipv6', 'tcp', 'tcp4', 'tcp6'].includes(proto[1]!)) addr = addr.slice(proto[0].length);
      else {
        this.msgs.error(no, `bind address '${text}': only TCP addresses are supported by warren, not '${proto[1]}@'`);
        return null;
      }
    }
    if (addr.startsWith('/')) {
      this.msgs.error(no, `bind address '${text}': UNIX sockets are not supported by warren, only TCP addresses`);
      return null;
    }
    let host: string;
    let port: string;
    if (addr.startsWith('[')) {
      const end = addr.indexOf(']');
      if (end < 0 || addr[end + 1] !== ':') {
        this.msgs.error(no, `bind address '${text}': expected [IPv6]:port`);
        return null;
      }
      host = addr.slice(1, end);
      port = addr.slice(end + 2);
    } else {
      const colon = addr.lastIndexOf(':');
      if (colon < 0) {
        this.msgs.error(no, `bind address '${text}' has no port: expected address:port`);
        return null;
      }
      host = addr.slice(0, colon);
      port = addr.slice(colon + 1);
    }
    if (/^\d+-\d+$/.test(port)) {
      this.msgs.error(no, `bind address '${text}': port ranges are not supported by warren, bind each port`);
      return null;
    }
    const n = Number(port);
    if (!/^\d+$/.test(port) || n < 1 || n > 65535) {
      this.msgs.error(no, `bind address '${text}': bad port '${port}', expected 1-65535`);
      return null;
    }
    if (host.includes(':')) return `[${host}]:${port}`;
    return `${host}:${port}`;
  }

  private addOption(p: Proxy, name: string, args: string[], no: number): void {
    p.options = p.options.filter((o) => o.name !== name);
    p.options.push({ name, args, line: no });
    p.negated.delete(name);
  }

  private option(p: Proxy, args: string[], no: number, negate: boolean): void {
    const [name = '', ...rest] = args;
    if (name === '') return this.msgs.error(no, "'option' expects an option name");
    if (negate) {
      if (name in OPTION_KEPT || name === 'clitcpka' || name === 'srvtcpka' || name === 'httplog') {
        const target = name === 'clitcpka' || name === 'srvtcpka' ? 'tcpka' : name === 'httplog' ? 'tcplog' : name;
        p.options = p.options.filter((o) => o.name !== target);
        if (target === 'httpchk') p.httpchk = undefined;
        if (p.kind !== 'defaults') p.negated.set(target, no);
        return;
      }
      if (name in OPTION_IGNORED) return this.msgs.warn(no, `'no option ${name}' ignored: ${OPTION_IGNORED[name]}`);
      return this.msgs.error(no, `unknown option '${name}'${suggest(name, OPTION_KNOWN)}`);
    }
    if (name in OPTION_ERRORS) return this.msgs.error(no, `'option ${name}': ${OPTION_ERRORS[name]}`);
    if (name in OPTION_IGNORED) return this.msgs.warn(no, `'option ${name}' ignored: ${OPTION_IGNORED[name]}`);
    if (name === 'httplog') {
      // HAProxy itself falls back to tcplog when the proxy is not in HTTP mode. Whether this
      // section is a stats page is only known at the end: the warning is given there.
      this.addOption(p, 'tcplog', [], no);
      p.options[p.options.length - 1]!.httplog = true;
      return;
    }
    if (name === 'clitcpka' || name === 'srvtcpka') {
      // clitcpka: defaults, frontend, listen; srvtcpka: defaults, listen, backend (§4.1).
      if (!allowed(name === 'clitcpka' ? 'dfl' : 'dlb', p.kind)) {
        return this.msgs.warn(no, `'option ${name}' ignored: it has no effect in a ${p.kind} section`);
      }
      this.msgs.warn(no, `'option ${name}' imported as 'option tcpka': warren enables keep-alive on both sides`);
      this.addOption(p, 'tcpka', [], no);
      return;
    }
    const caps = OPTION_KEPT[name];
    if (caps === undefined) return this.msgs.error(no, `unknown option '${name}'${suggest(name, OPTION_KNOWN)}`);
    if (!allowed(caps, p.kind)) {
      return this.msgs.warn(no, `'option ${name}' ignored: it has no effect in a ${p.kind} section`);
    }
    switch (name) {
      case 'redispatch':
        if (rest.length > 1 || (rest[0] !== undefined && !/^-?\d+$/.test(rest[0]))) {
          return this.msgs.error(no, `'option redispatch' takes an optional integer interval, got '${rest.join(' ')}'`);
        }
        return this.addOption(p, name, rest, no);
      case 'httpchk':
        return this.httpchk(p, rest, no);
      default:
        if (rest.length) this.msgs.warn(no, `'option ${name}' takes no argument: '${rest.join(' ')}' ignored`);
        return this.addOption(p, name, [], no);
    }
  }

  /** `option httpchk [<method>] <uri> [<version>]`, where the version may carry headers (`HTTP/1.1\r\nHost:\ x`). */
  private httpchk(p: Proxy, args: string[], no: number): void {
    let method: string | null = null;
    let uri: string | null = null;
    let version: string | null = null;
    if (args.length === 1) uri = args[0]!;
    else if (args.length >= 2) [method, uri, version] = [args[0]!, args[1]!, args.slice(2).join(' ') || null];
    this.addOption(p, 'httpchk', [], no);
    p.httpchk = { method, uri, line: no };
    if (version !== null) this.httpHeaders(p, version.split(/\r?\n/).slice(1), no);
  }

  private httpHeaders(p: Proxy, lines: string[], no: number): void {
    for (const h of lines) {
      if (h.trim() === '') continue;
      const colon = h.indexOf(':');
      if (colon <= 0) {
        this.msgs.error(no, `bad HTTP header '${h}' in the check request: expected 'Name: value'`);
        continue;
      }
      this.httpHeader(p, h.slice(0, colon).trim(), h.slice(colon + 1).trim(), no);
    }
  }

  private httpHeader(p: Proxy, name: string, value: string, no: number): void {
    p.httpCheck.line ??= no;
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value);
    if (name.toLowerCase() === 'authorization' && basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      if (decoded.includes(':')) {
        p.httpCheck.auth = decoded;
        return;
      }
    }
    p.httpCheck.headers[name] = value;
  }

  /** http-check expect|send|send-state|disable-on-404|connect|comment (§4.2). */
  private httpCheck(p: Proxy, args: string[], no: number): void {
    const [sub = '', ...rest] = args;
    if (sub === '') return this.msgs.error(no, "'http-check' expects expect or send");
    switch (sub) {
      case 'expect': {
        if (rest[0] === '!') return this.msgs.error(no, "negated 'http-check expect !' is not supported by warren: expect the good status instead");
        const [match = '', ...pattern] = rest;
        if ((match === 'status' || match === 'rstatus') && pattern.length === 1) {
          p.httpCheck.expect = { value: `${match} ${pattern[0]}`, line: no };
          p.httpCheck.line ??= no;
          return;
        }
        if (match === 'status' || match === 'rstatus') return this.msgs.error(no, `'http-check expect ${match}' expects one pattern`);
        return this.msgs.error(no, `'http-check expect ${match}' is not supported by warren: expected 'status <code>' or 'rstatus <regex>'`);
      }
      case 'send': {
        // HAProxy 2.2+: http-check send [meth <m>] [uri <u>] [ver <v>] [hdr <name> <value>]*
        for (let i = 0; i < rest.length; i++) {
          const w = rest[i]!;
          const v = rest[i + 1];
          if (v === undefined) return this.msgs.error(no, `'http-check send ${w}' expects a value`);
          if (w === 'meth' || w === 'uri') {
            p.httpchk ??= { method: null, uri: null, line: no };
            if (!p.options.some((o) => o.name === 'httpchk')) this.addOption(p, 'httpchk', [], no);
            if (w === 'meth') p.httpchk.method = v;
            else p.httpchk.uri = v;
            i++;
          } else if (w === 'ver') {
            i++;
          } else if (w === 'hdr') {
            const value = rest[i + 2];
            if (value === undefined) return this.msgs.error(no, "'http-check send hdr' expects a name and a value");
            this.httpHeader(p, v, value, no);
            i += 2;
          } else {
            return this.msgs.error(no, `'http-check send ${w}' is not supported by warren: expected meth, uri, ver or hdr`);
          }
        }
        return;
      }
      case 'send-state':
        return this.msgs.warn(no, "'http-check send-state' ignored: no equivalent in warren");
      case 'comment':
        return;
      case 'disable-on-404':
        return this.msgs.error(no, "'http-check disable-on-404' is not supported by warren");
      case 'connect':
        return this.msgs.error(no, "'http-check connect' is not supported by warren: use 'port'/'addr' on the server line");
      default:
        return this.msgs.error(
          no,
          `unknown keyword 'http-check ${sub}'${suggest(sub, ['expect', 'send', 'send-state', 'disable-on-404', 'connect', 'comment'])}`,
        );
    }
  }

  private timeout(p: Proxy, name: string, args: string[], no: number, oldKeyword: string | null): void {
    let key = name;
    if (key === '') return this.msgs.error(no, "'timeout' expects a name (connect, client, server, ...) and a duration");
    if (oldKeyword !== null) {
      this.msgs.warn(no, `'${oldKeyword}' is a deprecated keyword: imported as 'timeout ${key}'`);
    } else if (key in TIMEOUT_DEPRECATED) {
      this.msgs.warn(no, `'timeout ${key}' is a deprecated keyword: imported as 'timeout ${TIMEOUT_DEPRECATED[key]}'`);
      key = TIMEOUT_DEPRECATED[key]!;
    }
    if (key in TIMEOUT_IGNORED) return this.msgs.warn(no, `'timeout ${key}' ignored: ${TIMEOUT_IGNORED[key]}`);
    const caps = TIMEOUT_CAPS[key];
    if (caps === undefined) return this.msgs.error(no, `unknown timeout '${key}'${suggest(key, TIMEOUT_KNOWN)}`);
    const raw = args[0];
    const value = raw === undefined ? null : durationText(raw, 'ms');
    if (value === null) {
      return this.msgs.error(no, `'timeout ${key}' expects a duration such as 5s or 5000 (milliseconds), got '${raw ?? ''}'`);
    }
    if (!allowed(caps, p.kind)) return this.msgs.warn(no, `'timeout ${key}' ignored: it has no effect in a ${p.kind} section`);
    p.timeouts.set(key, { value, line: no });
  }

  /** The parameters of a server/default-server line that warren keeps, or null after an error. */
  private serverParams(words: string[], no: number): string[] | null {
    const kept: string[] = [];
    const dropped: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (SERVER_KEYWORDS.includes(w)) {
        const n = warrenServerArity(w);
        kept.push(...words.slice(i, i + 1 + n));
        i += n;
        continue;
      }
      if (SERVER_TLS.includes(w)) {
        this.msgs.error(no, `server option '${w}': ${NO_TLS}`);
        return null;
      }
      if (w in SERVER_ERRORS) {
        this.msgs.error(no, `server option '${w}': ${SERVER_ERRORS[w]}`);
        return null;
      }
      const drop = SERVER_DROPPED[w];
      if (drop) {
        dropped.push(`'${words.slice(i, i + 1 + drop.args).join(' ')}' (${drop.why})`);
        i += drop.args;
        continue;
      }
      this.msgs.error(no, `unknown server option '${w}'${suggest(w, SERVER_KNOWN)}`);
      return null;
    }
    if (dropped.length) this.msgs.warn(no, `server options ignored: ${dropped.join(', ')}`);
    return kept;
  }

  private server(p: Proxy, args: string[], no: number): void {
    const [name, address, ...rest] = args;
    if (!name || !address) return this.msgs.error(no, "'server' expects a name and an address");
    // Checked here with HAProxy's own words: a quoted name with a blank ("a b") would otherwise
    // be read as two words of the YAML server line, and reported as a bad address.
    const badName = nameProblem('server', name);
    if (badName) return this.msgs.error(no, badName);
    const existing = p.servers.find((s) => s.name === name);
    if (existing) return this.msgs.error(no, `duplicate server name '${name}' (first at line ${existing.line})`);
    let addr = address;
    const proto = /^([a-z0-9]+)@/.exec(addr);
    if (proto) {
      if (['ipv4', 'ipv6', 'tcp', 'tcp4', 'tcp6'].includes(proto[1]!)) addr = addr.slice(proto[0].length);
      else return this.msgs.error(no, `server address '${address}': only TCP addresses are supported by warren`);
    }
    if (addr.startsWith('/')) return this.msgs.error(no, `server address '${address}': UNIX sockets are not supported by warren`);
    // host, host:port, [v6], [v6]:port, or a bare IPv6 whose last group is the port (HAProxy's reading)
    let host = addr;
    let port: string | null = null;
    if (addr.startsWith('[')) {
      const end = addr.indexOf(']');
      if (end < 0) return this.msgs.error(no, `server address '${address}': expected [IPv6]:port`);
      host = addr.slice(1, end);
      if (addr[end + 1] === ':') port = addr.slice(end + 2);
    } else {
      const colon = addr.lastIndexOf(':');
      if (colon >= 0) {
        host = addr.slice(0, colon);
        port = addr.slice(colon + 1);
      }
    }
    if (port !== null && /^[+-]/.test(port)) return this.msgs.error(no, `server address '${address}': port offsets are not supported by warren`);
    if (port !== null && /^\d+-\d+$/.test(port)) return this.msgs.error(no, `server address '${address}': port ranges are not supported by warren`);
    if (port === '') port = null;
    const params = this.serverParams(rest, no);
    if (params === null) return;
    const hostText = host.includes(':') ? `[${host}]` : host;
    p.servers.push({ name, address: port === null ? hostText : `${hostText}:${port}`, hasPort: port !== null, params, line: no });
  }

  private useBackend(p: Proxy, args: string[], no: number): void {
    const [backend, how, ...cond] = args;
    if (!backend) return this.msgs.error(no, "'use_backend' expects a backend name");
    if (backend.includes('%[')) return this.msgs.error(no, 'dynamic backend names are not supported by warren');
    if (how === undefined) {
      return this.msgs.error(no, `'use_backend ${backend}' without a condition: write 'default_backend ${backend}' instead`);
    }
    if (how !== 'if' && how !== 'unless') return this.msgs.error(no, `'use_backend ${backend}' expects 'if' or 'unless', got '${how}'`);
    if (cond.length === 0) return this.msgs.error(no, `'use_backend ${backend} ${how}' expects a condition`);
    p.useBackends.push({ backend, line: no, negate: how === 'unless', cond });
  }

  private acl(p: Proxy, args: string[], no: number): void {
    const [name, criterion, ...values] = args;
    if (!name || !criterion) return this.msgs.error(no, "'acl' expects a name, a criterion and values");
    if (criterion !== 'src' && criterion !== 'dst' && criterion !== 'dst_port') {
      return this.msgs.error(
        no,
        `acl '${name}': criterion '${criterion}' is not supported by warren: its TCP routing (use_backend) understands src, dst and dst_port`,
      );
    }
    const flag = values.find((v) => v.startsWith('-'));
    if (flag) return this.msgs.error(no, `acl '${name}': flag '${flag}' is not supported by warren: list the values`);
    if (values.length === 0) return this.msgs.error(no, `acl '${name}' needs at least one value`);
    const prev = p.acls.get(name);
    if (prev) {
      // HAProxy ORs the lines of an ACL declared several times.
      if (prev.criterion !== criterion) {
        return this.msgs.error(no, `acl '${name}' mixes '${prev.criterion}' (line ${prev.line}) and '${criterion}': not supported by warren`);
      }
      prev.values.push(...values);
      return;
    }
    p.acls.set(name, { criterion, values: [...values], line: no, used: false });
  }

  private stats(p: Proxy, args: string[], no: number): void {
    const [sub = '', ...rest] = args;
    if (sub === '') return this.msgs.error(no, "'stats' expects a keyword such as enable, uri, refresh, realm, auth, admin or hide-version");
    const s = p.stats;
    const mark = (): void => {
      s.line ??= no;
    };
    switch (sub) {
      case 'enable':
        mark();
        s.enable = true;
        return;
      case 'uri':
        if (!rest[0]?.startsWith('/')) return this.msgs.error(no, `'stats uri' expects a path starting with '/', got '${rest[0] ?? ''}'`);
        mark();
        s.uri = rest[0];
        return;
      case 'refresh': {
        // HAProxy reads a bare number here as seconds, unlike timeouts.
        const d = rest[0] === undefined ? null : durationText(rest[0], 's');
        if (d === null) return this.msgs.error(no, `'stats refresh' expects a delay such as 10s, got '${rest[0] ?? ''}'`);
        mark();
        s.refresh = d;
        return;
      }
      case 'realm':
        if (rest.length === 0) return this.msgs.error(no, "'stats realm' expects a realm");
        mark();
        s.realm = rest.join(' ');
        return;
      case 'auth':
        if (rest.length !== 1 || !/^[^:]+:.*$/.test(rest[0]!)) {
          return this.msgs.error(no, `'stats auth' expects user:password, got '${rest.join(' ')}'`);
        }
        mark();
        s.auth.push(rest[0]!);
        return;
      case 'admin': {
        if (p.kind === 'defaults') return this.msgs.error(no, "'stats admin' is not allowed in a defaults section");
        mark();
        const cond = rest.join(' ');
        if (cond === 'if TRUE' || cond === 'unless FALSE') s.admin = true;
        else if (cond === 'if FALSE' || cond === 'unless TRUE') s.admin = false;
        else {
          this.msgs.warn(
            no,
            `'stats admin ${cond}': warren's admin switch is all-or-nothing for authenticated users ('if TRUE'); imported as disabled, set 'admin: true' to enable it`,
          );
        }
        return;
      }
      case 'hide-version':
        mark();
        s.hideVersion = true;
        return;
      case 'show-legends':
      case 'show-node':
      case 'show-desc':
      case 'show-modules':
      case 'scope':
        mark();
        return this.msgs.warn(no, `'stats ${sub}' ignored: no equivalent in warren`);
      case 'http-request':
        return this.msgs.error(no, "'stats http-request' rules are not supported by warren (use 'stats auth')");
      case 'bind-process':
        return this.msgs.warn(no, "'stats bind-process' ignored: warren runs one process");
      case 'socket':
      case 'timeout':
      case 'maxconn':
        return this.msgs.error(no, `'stats ${sub}' belongs in the global section`);
      default:
        return this.msgs.error(
          no,
          `unknown keyword 'stats ${sub}'${suggest(sub, ['enable', 'uri', 'refresh', 'realm', 'auth', 'admin', 'hide-version', 'show-legends', 'show-node', 'show-desc', 'scope'])}`,
        );
    }
  }
}

// ---- from the model to the YAML ----------------------------------------------------------------

type Obj = Record<string, unknown>;

function optionText(p: Proxy, o: { name: string; args: string[] }): string {
  if (o.name === 'httpchk' && p.httpchk) {
    const { method, uri } = p.httpchk;
    if (method !== null && uri !== null) return `httpchk ${method} ${uri}`;
    if (uri !== null) return `httpchk ${uri}`;
    if (method !== null) return `httpchk ${method} /`;
    return 'httpchk';
  }
  return [o.name, ...o.args].join(' ');
}

/** The lines of a section and of its keywords that carry one, for the loader's problems. */
function markKeys(imp: Importer, p: Proxy, at: string[]): void {
  imp.mark(at, p.line);
  p.binds.forEach((b, i) => {
    imp.mark([...at, 'bind', i], b.line);
    if (i === 0) imp.mark([...at, 'bind'], b.line);
  });
  for (const [key, v] of [['mode', p.mode], ['maxconn', p.maxconn], ['backlog', p.backlog], ['balance', p.balance], ['hash-type', p.hashType], ['retries', p.retries], ['default-server', p.defaultServer], ['monitor-uri', p.monitorUri]] as const) {
    imp.mark([...at, key], v?.line);
  }
  for (const [key, v] of p.timeouts) imp.mark([...at, 'timeout', key], v.line);
  imp.mark([...at, 'stats'], p.stats.line);
  imp.mark([...at, 'http-check'], p.httpCheck.line);
  imp.mark([...at, 'http-check', 'expect'], p.httpCheck.expect?.line);
}

/** The keys a defaults section and a proxy section share, in the order an operator reads them. */
function commonKeys(p: Proxy, out: Obj, options: string[], isStats: boolean): void {
  if (p.maxconn) out['maxconn'] = p.maxconn.value;
  if (p.backlog) out['backlog'] = p.backlog.value;
  if (!isStats) {
    if (p.balance) out['balance'] = p.balance.value;
    if (p.hashType) out['hash-type'] = p.hashType.value;
    if (p.retries) out['retries'] = p.retries.value;
  }
  if (options.length) out['option'] = options;
  if (p.timeouts.size) out['timeout'] = Object.fromEntries([...p.timeouts].map(([k, v]) => [k, v.value]));
  if (!isStats) {
    if (p.defaultServer?.value.length) out['default-server'] = p.defaultServer.value.join(' ');
    const hc = p.httpCheck;
    if (hc.expect || hc.auth !== undefined || Object.keys(hc.headers).length) {
      const h: Obj = {};
      if (hc.expect) h['expect'] = hc.expect.value;
      if (hc.auth !== undefined) h['auth'] = hc.auth;
      if (Object.keys(hc.headers).length) h['headers'] = hc.headers;
      out['http-check'] = h;
    }
  }
}

function statsObject(p: Proxy, d: Proxy | null): Obj {
  // `stats` lines in defaults apply to every stats page; the section's own lines win.
  const s = p.stats;
  const ds = d?.stats;
  const out: Obj = { enable: true };
  const uri = s.uri ?? ds?.uri;
  const refresh = s.refresh ?? ds?.refresh;
  const realm = s.realm ?? ds?.realm;
  const auth = [...(ds?.auth ?? []), ...s.auth];
  const hide = s.hideVersion ?? ds?.hideVersion;
  if (uri !== undefined) out['uri'] = uri;
  if (refresh !== undefined) out['refresh'] = refresh;
  if (realm !== undefined) out['realm'] = realm;
  if (auth.length) out['auth'] = auth;
  if (s.admin) out['admin'] = true;
  if (hide) out['hide-version'] = true;
  return out;
}

function build(imp: Importer): Obj {
  const { msgs } = imp;
  const live = imp.proxies.filter((p) => !p.disabled);

  // One defaults section in warren: fine when every proxy section sees the same one.
  const usedDefaults = [...new Set(live.map((p) => p.defaults).filter((x): x is Proxy => x !== null))];
  if (usedDefaults.length > 1) {
    msgs.error(
      usedDefaults[1]!.line,
      `a second defaults section (the first is at line ${usedDefaults[0]!.line}) applies to other sections: warren has a single defaults section; merge them, or move their settings into the sections`,
    );
  }
  const d: Proxy | null = usedDefaults[0] ?? imp.defaultsSections[imp.defaultsSections.length - 1] ?? null;
  for (const other of imp.defaultsSections) {
    if (other !== d && !usedDefaults.includes(other)) msgs.warn(other.line, 'this defaults section applies to no section after it: not imported');
  }
  if (d) {
    for (const p of live) {
      if (p.defaults === null) {
        msgs.warn(p.line, `${p.kind} '${p.name}' comes before the defaults section (line ${d.line}): HAProxy does not apply those defaults to it, warren does`);
      }
    }
  }

  const modeOf = (p: Proxy): { mode: 'tcp' | 'http'; line: number | null; inherited: boolean } =>
    p.mode
      ? { mode: p.mode.value, line: p.mode.line, inherited: false }
      : d?.mode
        ? { mode: d.mode.value, line: d.mode.line, inherited: true }
        : { mode: 'tcp', line: null, inherited: false };
  const hasStats = (p: Proxy): boolean => p.stats.line !== null;
  const routes = (p: Proxy): boolean => p.defaultBackend !== undefined || p.useBackends.length > 0;

  // Classify: a stats page (mode http, stats/monitor-uri, no proxying) or a TCP proxy.
  const isStats = new Map<Proxy, boolean>();
  for (const p of live) {
    const m = modeOf(p);
    const proxying = p.servers.length > 0 || routes(p);
    // `stats` lines in defaults make every HTTP-mode section a stats page.
    const statsLike = hasStats(p) || p.monitorUri !== undefined || (m.mode === 'http' && d !== null && d.stats.line !== null);
    if (p.kind === 'backend') {
      if (hasStats(p)) msgs.error(p.stats.line!, `stats in backend '${p.name}': warren serves the stats page from a listen or frontend section; move the 'stats' lines there`);
      else if (m.mode === 'http') {
        msgs.error(m.inherited ? p.line : m.line!, `backend '${p.name}' is in mode http${m.inherited ? ` (from defaults, line ${m.line})` : ''}: warren proxies TCP only; use 'mode tcp' if this backend has no HTTP rules`);
      }
      isStats.set(p, false);
      continue;
    }
    if (m.mode === 'http') {
      if (statsLike && !proxying) {
        isStats.set(p, true);
        continue;
      }
      msgs.error(
        m.inherited ? p.line : m.line!,
        `${p.kind} '${p.name}' proxies in mode http${m.inherited ? ` (from defaults, line ${m.line})` : ''}: warren proxies TCP only and serves HTTP only for a stats page; use 'mode tcp' if this section has no HTTP rules (e.g. the management UI on 15672)`,
      );
      isStats.set(p, false);
      continue;
    }
    if (hasStats(p) && proxying) {
      msgs.warn(p.stats.line!, `'stats' ignored in ${p.kind} '${p.name}': it needs mode http (HAProxy ignores it in mode tcp); put the stats page in its own listen section`);
    } else if (hasStats(p)) {
      msgs.warn(p.stats.line!, `${p.kind} '${p.name}': 'stats' needs mode http (HAProxy ignores it in mode tcp): imported as a stats page with 'mode: http'`);
      isStats.set(p, true);
      continue;
    }
    if (p.monitorUri) msgs.warn(p.monitorUri.line, "'monitor-uri' ignored: it needs mode http (a stats section)");
    isStats.set(p, false);
  }

  // Every use_backend/default_backend names a TCP backend or listen section.
  const targets = live.filter((p) => (p.kind === 'backend' || p.kind === 'listen') && !isStats.get(p)).map((p) => p.name);
  const defaultBackendOf = (p: Proxy): At<string> | undefined => p.defaultBackend ?? (p.kind === 'frontend' ? d?.defaultBackend : undefined);
  for (const p of live) {
    if (isStats.get(p)) continue;
    const db = defaultBackendOf(p);
    if (db && p.kind !== 'backend' && !targets.includes(db.value)) {
      msgs.error(db.line, `no backend named '${db.value}'${suggest(db.value, targets)}`);
    }
    if (p.kind === 'listen' && p.defaultBackend) {
      msgs.error(p.defaultBackend.line, `'default_backend' in listen '${p.name}' is not supported by warren: a listen section forwards to its own servers (split it into a frontend and a backend)`);
    }
    for (const u of p.useBackends) {
      if (!targets.includes(u.backend)) msgs.error(u.line, `no backend named '${u.backend}'${suggest(u.backend, targets)}`);
    }
  }

  // use_backend conditions: inline `{ src ... }`, or a named ACL of this section.
  const useBackendText = new Map<UseBackend, string>();
  for (const p of live) {
    for (const u of p.useBackends) {
      const text = conditionText(p, u, msgs);
      if (text !== null) useBackendText.set(u, text);
    }
    for (const [name, acl] of p.acls) {
      if (!acl.used) msgs.warn(acl.line, `acl '${name}' ignored: not used by any use_backend`);
    }
  }

  // Missing essentials that HAProxy only warns about but warren requires.
  const timeoutOf = (p: Proxy, k: string): boolean => p.timeouts.has(k) || (d?.timeouts.has(k) ?? false);
  for (const p of live) {
    if (isStats.get(p)) {
      if (p.binds.length === 0) msgs.error(p.line, `${p.kind} '${p.name}' has no 'bind': a stats page needs an address`);
      continue;
    }
    if (p.kind !== 'backend') {
      if (p.binds.length === 0) msgs.error(p.line, `${p.kind} '${p.name}' has no 'bind' address`);
      if (!timeoutOf(p, 'client')) {
        msgs.error(p.line, `${p.kind} '${p.name}' has no 'timeout client' (here or in defaults): HAProxy only warns, warren requires it (e.g. 'timeout client 3h' for AMQP)`);
      }
    }
    if (p.kind === 'frontend' && !defaultBackendOf(p) && p.useBackends.length === 0) {
      msgs.error(p.line, `frontend '${p.name}' has no 'default_backend' or 'use_backend'`);
    }
    if (p.kind !== 'frontend') {
      for (const k of ['connect', 'server']) {
        if (!timeoutOf(p, k)) {
          msgs.error(p.line, `${p.kind} '${p.name}' has no 'timeout ${k}' (here or in defaults): HAProxy only warns, warren requires it`);
        }
      }
    }
  }

  // Servers without a port: in a listen section HAProxy uses the port the client connected to.
  const serverText = new Map<ServerDraft, string>();
  for (const p of live) {
    for (const s of p.servers) {
      let address = s.address;
      if (!s.hasPort) {
        const ports = new Set(p.binds.map((b) => b.value.slice(b.value.lastIndexOf(':') + 1)));
        if (p.kind === 'listen' && ports.size === 1) {
          const port = [...ports][0]!;
          address = `${s.address}:${port}`;
          msgs.warn(s.line, `server '${s.name}' has no port: it gets the client's destination port, imported as ${address}`);
        } else {
          msgs.error(s.line, `server '${s.name}' has no port: warren needs one (address:port)`);
          continue;
        }
      }
      const text = [s.name, address, ...s.params].join(' ');
      try {
        parseServerLine(text);
        serverText.set(s, text);
      } catch (err) {
        if (!(err instanceof ServerLineError)) throw err;
        msgs.error(s.line, `server '${s.name}': ${err.message}`);
      }
    }
  }

  // Duplicate listening addresses.
  const bound = new Map<string, { proxy: Proxy; line: number }>();
  for (const p of live) {
    for (const b of p.binds) {
      const key = b.value.startsWith(':') || b.value.startsWith('*:') ? `0.0.0.0${b.value.slice(b.value.indexOf(':'))}` : b.value;
      const other = bound.get(key);
      if (other) msgs.error(b.line, `${b.value} is already bound by ${other.proxy.kind} '${other.proxy.name}' (line ${other.line})`);
      else bound.set(key, { proxy: p, line: b.line });
    }
  }

  // http-check without option httpchk has no effect.
  const hasHttpchk = (p: Proxy): boolean =>
    p.options.some((o) => o.name === 'httpchk') || (!p.negated.has('httpchk') && (d?.options.some((o) => o.name === 'httpchk') ?? false));
  for (const p of [...(d ? [d] : []), ...live]) {
    if (p.httpCheck.line === null || isStats.get(p)) continue;
    const effective = p === d ? d.options.some((o) => o.name === 'httpchk') || live.some((x) => hasHttpchk(x)) : hasHttpchk(p);
    if (!effective) {
      msgs.warn(p.httpCheck.line, "'http-check' ignored: it has no effect without 'option httpchk'");
      p.httpCheck = { headers: {}, line: null };
    }
  }

  // Options: a `no option X` in a section cancels X from defaults there. warren's YAML adds a
  // section's options to the defaults', so such an X moves from defaults into every other section.
  const httplogFallback = (line: number): void =>
    msgs.warn(line, "'option httplog' needs HTTP proxying: imported as 'option tcplog' (HAProxy's own fallback in TCP mode)");
  const defaultsOptions = d?.options ?? [];
  for (const o of defaultsOptions) if (o.httplog) httplogFallback(o.line);
  const movedOut = defaultsOptions.filter((o) => live.some((p) => p.negated.has(o.name)));
  const optionsOf = (p: Proxy, stats: boolean): string[] => {
    const list: string[] = [];
    for (const o of movedOut) {
      if (stats && !['tcplog', 'dontlognull', 'tcpka'].includes(o.name)) continue;
      if (!p.negated.has(o.name) && !p.options.some((x) => x.name === o.name) && allowed(OPTION_KEPT[o.name]!, p.kind)) {
        list.push(optionText(d!, o));
      }
    }
    for (const o of p.options) {
      if (o.httplog) {
        if (stats) {
          msgs.warn(o.line, "'option httplog' ignored: it has no effect in a stats section");
          continue;
        }
        httplogFallback(o.line);
      }
      if (stats && o.name !== 'tcplog' && o.name !== 'dontlognull' && o.name !== 'tcpka') {
        msgs.warn(o.line, `'option ${o.name}' ignored: it has no effect in a stats section`);
        continue;
      }
      list.push(optionText(p, o));
    }
    return list;
  };

  const doc: Obj = {};
  const g: Obj = {};
  if (imp.global.maxconn !== undefined) g['maxconn'] = imp.global.maxconn;
  if (imp.global.nbthread !== undefined && imp.global.nbthread > 1) g['nbthread'] = imp.global.nbthread;
  if (imp.global.hardStopAfter !== undefined) g['hard-stop-after'] = imp.global.hardStopAfter;
  if (imp.global.statsSocket) g['stats-socket'] = imp.global.statsSocket.value;
  if (Object.keys(g).length) doc['global'] = g;
  imp.mark(['global'], imp.globalLine);
  imp.mark(['global', 'stats-socket'], imp.global.statsSocket?.line);

  if (d) {
    markKeys(imp, d, ['defaults']);
    const out: Obj = {};
    if (d.mode) out['mode'] = d.mode.value;
    commonKeys(
      d,
      out,
      defaultsOptions.filter((o) => !movedOut.includes(o)).map((o) => optionText(d!, o)),
      false,
    );
    if (Object.keys(out).length) doc['defaults'] = out;
  }

  for (const kind of ['listen', 'frontend', 'backend'] as const) {
    const sections: Obj = {};
    for (const p of live.filter((x) => x.kind === kind)) {
      const at = [kind, p.name];
      markKeys(imp, p, at);
      const stats = isStats.get(p) ?? false;
      const out: Obj = {};
      if (p.binds.length === 1) out['bind'] = p.binds[0]!.value;
      else if (p.binds.length > 1) out['bind'] = p.binds.map((b) => b.value);
      if (stats) out['mode'] = 'http';
      else if (p.mode) out['mode'] = p.mode.value;
      commonKeys(p, out, optionsOf(p, stats), stats);
      if (stats) {
        if (hasStats(p) || d?.stats.line != null) out['stats'] = statsObject(p, d);
        const monitor = p.monitorUri ?? d?.monitorUri;
        if (monitor) out['monitor-uri'] = monitor.value;
      } else {
        const kept = p.servers.filter((s) => serverText.has(s));
        kept.forEach((s, i) => imp.mark([...at, 'server', i], s.line));
        if (kept.length) out['server'] = kept.map((s) => serverText.get(s)!);
        const db = defaultBackendOf(p);
        if (db && p.kind === 'frontend') out['default_backend'] = db.value;
        imp.mark([...at, 'default_backend'], db?.line);
        const ub = p.useBackends.filter((u) => useBackendText.has(u));
        ub.forEach((u, i) => imp.mark([...at, 'use_backend', i], u.line));
        if (ub.length) out['use_backend'] = ub.map((u) => useBackendText.get(u)!);
      }
      sections[p.name] = out;
    }
    if (Object.keys(sections).length) doc[kind] = sections;
  }
  return doc;
}

/** `be if { src 10.0.0.0/8 }` for the YAML, or null after an error. */
function conditionText(p: Proxy, u: UseBackend, msgs: Messages): string | null {
  let negate = u.negate;
  let words = [...u.cond];
  let criterion: string;
  let values: string[];
  if (words[0] === '!' || (words[0]?.startsWith('!') && words[0] !== '!')) {
    negate = !negate;
    words = words[0] === '!' ? words.slice(1) : [words[0]!.slice(1), ...words.slice(1)];
  }
  const compound = (): null => {
    msgs.error(u.line, `use_backend condition '${u.cond.join(' ')}': warren understands one ACL or '{ src|dst|dst_port <values> }', not combinations`);
    return null;
  };
  if (words[0] === '{') {
    const end = words.indexOf('}');
    if (end < 0) {
      msgs.error(u.line, "use_backend condition: missing '}'");
      return null;
    }
    if (end !== words.length - 1) return compound();
    [criterion = '', ...values] = words.slice(1, end);
    if (criterion !== 'src' && criterion !== 'dst' && criterion !== 'dst_port') {
      msgs.error(u.line, `use_backend condition '${criterion}' is not supported by warren: its TCP routing understands src, dst and dst_port`);
      return null;
    }
    if (values.length === 0 || values.some((v) => v.startsWith('-'))) {
      msgs.error(u.line, `use_backend condition '{ ${words.slice(1, end).join(' ')} }': expected '${criterion}' followed by values`);
      return null;
    }
  } else if (words.length === 1) {
    const name = words[0]!;
    const acl = p.acls.get(name);
    if (acl) {
      acl.used = true;
      criterion = acl.criterion;
      values = acl.values;
    } else if (name === 'LOCALHOST') {
      criterion = 'src';
      values = ['127.0.0.1/8', '::1'];
    } else {
      msgs.error(u.line, `use_backend condition: no acl named '${name}' in this section${suggest(name, [...p.acls.keys()])}`);
      return null;
    }
  } else {
    return compound();
  }
  return `${u.backend} ${negate ? 'unless' : 'if'} { ${criterion} ${values.join(' ')} }`;
}

export function importHaproxyCfg(text: string, file: string): ImportResult {
  const imp = new Importer();
  imp.run(text);
  const doc = build(imp);
  const body = Object.keys(doc).length ? yaml.dump(doc, { lineWidth: -1, noRefs: true }) : '{}\n';
  // With errors, parts are missing on purpose and the loader would only repeat them.
  if (imp.msgs.errors.length === 0) {
    reportLoaderProblems(() => loadProxyConfigText(body, file), imp.lines, imp.msgs);
  }
  return importResult(file, body, imp.msgs);
}

/**
 * Text for one comment line of the header. Messages quote the native file's words, which may hold
 * any character: a lone CR would end the comment (what follows would be YAML), and NUL, other
 * control characters or a lone surrogate make js-yaml refuse the whole file. Those are written as
 * \uXXXX; a CRLF or LF becomes a blank, as before.
 */
function commentText(s: string): string {
  return escapeChars(
    s.replace(/\r?\n/g, ' '),
    /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
  );
}

/** The imported YAML under a header that lists every message with its line in `file`. Shared by
 *  both importers. */
export function importResult(file: string, body: string, msgs: { warnings: ImportMessage[]; errors: ImportMessage[] }): ImportResult {
  const { warnings, errors } = msgs;
  const byLine = (a: ImportMessage, b: ImportMessage): number => a.line - b.line;
  warnings.sort(byLine);
  errors.sort(byLine);
  const header = [`# Imported from ${commentText(file)} by 'warren import'.`];
  const all = [...errors, ...warnings].sort(byLine);
  if (all.length) {
    header.push(`# ${errors.length} error(s), ${warnings.length} warning(s) (line numbers are in ${commentText(file)}):`);
    for (const m of all) header.push(`#   line ${m.line}: ${m.severity}: ${commentText(m.message)}`);
  }
  return { yaml: `${header.join('\n')}\n${body}`, warnings, errors };
}
