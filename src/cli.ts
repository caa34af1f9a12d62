#!/usr/bin/env -S node --initial-old-space-size=64
// warren — one CLI for both daemons and their tools.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadProxyConfig } from './config/load.js';
import { createLogger, type Logger } from './lib/log.js';
import cluster from 'node:cluster';
import type { DaemonStatus } from './vrrp/status.js';

// Each command imports what only it needs when it runs: `warren proxy` (the long-lived process
// whose footprint counts) never loads the vrrp daemon, the importers, install or local; that
// code was ~half of its idle RSS (issue 6). The proxy itself is loaded by runProxy as well.

const USAGE = `usage: warren <command> [options]

commands:
  proxy -f FILE     run the TCP load balancer (the HAProxy role) with a YAML config
  vrrp -f FILE      run the VRRP daemon (the Keepalived role) with a YAML config
  local [-f FILE]   try it on one machine (as root): the proxy with FILE (default: the shipped
                    config/haproxy.yaml) in front of a local 3-node RabbitMQ cluster on its
                    127.0.0.1 servers (rabbitmq-server is installed with apt-get when missing);
                    Ctrl-C stops both
  status [-f FILE] [--url URL] [--json]
                    print the local vrrp daemon's state (its status API: status_listen in FILE,
                    default http://127.0.0.1:8889/status)
  check -f FILE     validate a proxy or vrrp config as 'haproxy -c' does: exit 0 if valid, 2 with every error
  import FILE       convert a native haproxy.cfg or keepalived.conf to warren YAML (on stdout)
  install [--root DIR] [--host a|b] [--prefix DIR]
                    install the app, both systemd units, /etc/warren configs and the VRRP key
  wait-ready (-f FILE | --url URL) [--timeout 30s] [--pid PID]
                    wait until a daemon serves HTTP (the units' readiness check)
  help              this text

options:
  -f, --file FILE   the config file
  -h, --help        this text
  -v, --version     print the version
`;

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function fail(message: string, code = 2): never {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  process.exit(code);
}

function configFile(values: { file?: string | undefined }, command: string): string {
  if (!values.file) fail(`warren ${command}: missing -f FILE\n\n${USAGE}`);
  return values.file;
}

function orExit<T>(file: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (err instanceof ConfigError) fail(`[ALERT] config: ${err.issues.length} error(s) in ${file}:\n${err.message}\nConfiguration file is invalid.`);
    throw err;
  }
}

function loadOrExit(file: string) {
  return orExit(file, () => loadProxyConfig(file));
}

/** `warren check` takes either kind of config; which one it is shows in its top-level keys. */
async function isVrrpFile(file: string): Promise<boolean> {
  const [{ default: yaml }, { isVrrpYaml }] = await Promise.all([import('js-yaml'), import('./config/vrrp-load.js')]);
  try {
    return isVrrpYaml(yaml.load(readFileSync(file, 'utf8')));
  } catch {
    return false; // unreadable or not YAML: the proxy loader reports it with the line
  }
}

/**
 * SIGTERM/SIGINT: log `message`, run `stop` once, exit 0 when it is done (1 if it failed).
 * Returns whether a stop has begun (a reload then makes no sense).
 */
function stopOnSignals(log: Logger, message: string, stop: () => Promise<void>): () => boolean {
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    stop().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.fatal({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return () => stopping;
}

async function runProxy(file: string): Promise<void> {
  const config = loadOrExit(file);
  const log = createLogger('proxy');
  (await import('./proxy/memory.js')).prepareProxyHeap(log);
  process.on('unhandledRejection', (err) => log.fatal({ err }, 'unhandled promise rejection'));
  // A SIGHUP while starting must not kill the proxy (node's default): it reloads once started.
  let hupWhileStarting = false;
  const earlyHup = (): void => void (hupWhileStarting = true);
  process.on('SIGHUP', earlyHup);
  const [{ Proxy }, { reloadFromFile }] = await Promise.all([import('./proxy/proxy.js'), import('./proxy/reload.js')]);
  // nbthread 1 is the single process as always: no primary, no workers, no IPC.
  const primary = config.global.nbthread > 1 ? new (await import('./proxy/workers.js')).Primary(config, log) : null;
  const proxy = primary ? primary.proxy : new Proxy(config, log);
  try {
    await (primary ?? proxy).start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    process.exit(1);
  }
  const stopping = stopOnSignals(log, 'stopping: no new connections, waiting for sessions', () => (primary ?? proxy).stop());
  // Reload in place (reload.ts): re-read and validate the file; an invalid one is logged and
  // changes nothing. Reloads never overlap; one asked for meanwhile runs after.
  process.on('SIGHUP', () => {
    if (!stopping()) void reloadFromFile(proxy, file, 'SIGHUP');
  });
  process.off('SIGHUP', earlyHup);
  if (hupWhileStarting) void reloadFromFile(proxy, file, 'SIGHUP');
}

async function runVrrp(file: string): Promise<void> {
  const [{ loadVrrpConfig }, { DaemonSetupError, VrrpDaemon }] = await Promise.all([import('./config/vrrp-load.js'), import('./vrrp/daemon.js')]);
  const config = orExit(file, () => loadVrrpConfig(file));
  const log = createLogger('vrrp');
  const daemon = new VrrpDaemon(config, log);
  process.on('unhandledRejection', (err) => log.fatal({ err }, 'unhandled promise rejection'));
  const stopping = stopOnSignals(log, 'stopping: resigning (priority 0) and handing the virtual addresses over', () => daemon.stop());
  // SIGHUP: reload in-process (re-read, validate, apply; an invalid file changes nothing). Set
  // before start so an early SIGHUP cannot kill the daemon: the reload waits for the start.
  process.on('SIGHUP', () => {
    if (!stopping()) void daemon.requestReload();
  });
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof DaemonSetupError) log.fatal({ exitCode: err.exitCode }, err.message);
    else log.fatal({ err }, 'cannot start');
    await daemon.stop().catch(() => undefined);
    process.exit(err instanceof DaemonSetupError ? err.exitCode : 1);
  }
}

/** `warren local` (src/local.ts): the shipped config unless -f. */
async function runLocalProfile(file: string | undefined): Promise<void> {
  const config = loadOrExit(file ?? fileURLToPath(new URL('../../config/haproxy.yaml', import.meta.url)));
  const { runLocal } = await import('./local.js');
  const log = createLogger('local');
  (await import('./proxy/memory.js')).prepareProxyHeap(log);
  process.on('unhandledRejection', (err) => log.fatal({ err }, 'unhandled promise rejection'));
  process.exit(await runLocal(config, log));
}

async function runStatus(values: { file?: string | undefined; url?: string | undefined; json?: boolean | undefined }): Promise<void> {
  const [{ loadVrrpConfig }, { formatStatus }] = await Promise.all([import('./config/vrrp-load.js'), import('./vrrp/status-format.js')]);
  let url = values.url;
  if (!url) {
    const listen = values.file ? orExit(values.file, () => loadVrrpConfig(values.file!)).global.statusListen : { host: '127.0.0.1', port: 8889 };
    if (!listen) fail(`warren status: ${values.file} has status_listen: none`);
    url = `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}/status`;
  }
  let status: DaemonStatus;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) fail(`warren status: ${url}: HTTP ${res.status}`, 1);
    status = (await res.json()) as DaemonStatus;
  } catch (err) {
    const e = err as Error;
    fail(`warren status: cannot read ${url}: ${e.cause instanceof Error ? e.cause.message : e.message} (is 'warren vrrp' running?)`, 1);
  }
  process.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
}

async function runImport(file: string): Promise<void> {
  const [{ importHaproxyCfg }, { importKeepalivedConf, looksLikeKeepalivedConf }] = await Promise.all([
    import('./config/import/haproxy-cfg.js'),
    import('./config/import/keepalived-conf.js'),
  ]);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(`warren import: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // Both importers load the YAML they wrote with the loader `warren proxy` / `warren vrrp` use
  // (haproxy-cfg.ts reportLoaderProblems()): what it refuses is among the errors, at the native
  // line, and nothing is printed. YAML on stdout is YAML that `warren check` accepts.
  const result = looksLikeKeepalivedConf(text) ? importKeepalivedConf(text, file) : importHaproxyCfg(text, file);
  for (const m of [...result.warnings, ...result.errors].sort((a, b) => a.line - b.line)) {
    process.stderr.write(`${file}:${m.line}: ${m.severity}: ${m.message}\n`);
  }
  if (result.errors.length > 0) fail(`warren import: ${result.errors.length} error(s); nothing written.`);
  process.stdout.write(result.yaml);
}

async function main(argv: string[]): Promise<void> {
  // nbthread > 1: a worker process (src/proxy/workers.ts) of `warren proxy` or `warren local`
  // (node:cluster runs this file again); it gets its config from the primary, not from argv.
  // (workers.ts isWorkerProcess(), tested here without loading the proxy code)
  if (cluster.isWorker && process.env.WARREN_WORKER === '1') return (await import('./proxy/workers.js')).runWorker(createLogger('proxy'));
  // install and wait-ready parse their own options (src/install.ts).
  if (argv[0] === 'install' || argv[0] === 'wait-ready') {
    const { runInstallCommand } = await import('./install.js');
    return runInstallCommand(argv[0], argv.slice(1));
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      url: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) return void process.stdout.write(`warren ${VERSION}\n`);
  if (values.help || command === undefined || command === 'help') return void process.stdout.write(USAGE);
  switch (command) {
    case 'proxy':
      return runProxy(configFile(values, command));
    case 'vrrp':
      return runVrrp(configFile(values, command));
    case 'local':
      return runLocalProfile(values.file);
    case 'status':
      return runStatus(values);
    case 'check': {
      const file = configFile(values, command);
      if (await isVrrpFile(file)) {
        const { loadVrrpConfig } = await import('./config/vrrp-load.js');
        orExit(file, () => loadVrrpConfig(file));
      } else loadOrExit(file);
      process.stdout.write('Configuration file is valid\n');
      return;
    }
    case 'import':
      if (rest.length !== 1) fail(`warren import: expected one FILE\n\n${USAGE}`);
      return runImport(rest[0]!);
    default:
      fail(`warren: unknown command '${command}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) fail(`warren: ${err.message}\n\n${USAGE}`);
  process.stderr.write(`warren: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
