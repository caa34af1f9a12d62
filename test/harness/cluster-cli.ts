// node dist/test/harness/cluster-cli.js start STATEFILE [--no-pp] [--base-port N] [--epmd-port N] [--name-prefix P] [--dir DIR] [--data-dir DIR]
// node dist/test/harness/cluster-cli.js stop STATEFILE [--keep]
// node dist/test/harness/cluster-cli.js status STATEFILE
// `start` boots the 3-node cluster (and the proxy_protocol node) and writes the ClusterInfo JSON;
// tests find it through WARREN_RABBIT_STATE=STATEFILE (see loadCluster()).

import fs from 'node:fs';
import { allNodes, clusterStatus, nodePid, readCluster, saveCluster, startCluster, stopCluster } from './rabbit-cluster.js';

function usage(): never {
  process.stderr.write('usage: cluster-cli.js start|stop|status STATEFILE [--no-pp] [--base-port N] [--epmd-port N] [--name-prefix P] [--dir DIR] [--data-dir DIR] [--keep]\n');
  process.exit(2);
}

function opt(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(): Promise<void> {
  const [cmd, file, ...rest] = process.argv.slice(2);
  if (!cmd || !file) usage();
  const log = (m: string) => process.stderr.write(`[rabbit-cluster] ${m}\n`);
  switch (cmd) {
    case 'start': {
      const basePort = opt(rest, '--base-port');
      const dir = opt(rest, '--dir');
      const dataDir = opt(rest, '--data-dir');
      const epmdPort = opt(rest, '--epmd-port');
      const namePrefix = opt(rest, '--name-prefix');
      // Finish starting even on Ctrl-C (the caller's trap then stops the cluster); the state file
      // is written before any process starts and again when the cluster runs.
      process.on('SIGINT', () => log('SIGINT ignored while starting; stop the cluster afterwards'));
      const info = await startCluster({
        onInfo: (i) => saveCluster(i, file),
        proxyProtocolNode: !rest.includes('--no-pp'),
        ...(basePort ? { basePort: Number(basePort), baseMgmtPort: Number(basePort) + 10000, baseDistPort: Number(basePort) + 20000 } : {}),
        ...(dir ? { dir } : {}),
        ...(dataDir ? { dataDir } : {}),
        ...(epmdPort ? { epmdPort: Number(epmdPort) } : {}),
        ...(namePrefix ? { namePrefix } : {}),
        log,
      });
      saveCluster(info, file);
      for (const n of allNodes(info)) {
        log(`${n.name}: amqp ${n.amqpPort} mgmt ${n.mgmtPort} pid ${n.pid} log ${n.logFile}`);
      }
      return;
    }
    case 'stop': {
      if (!fs.existsSync(file)) {
        log(`no state file ${file}: nothing to stop`);
        return;
      }
      const info = readCluster(file);
      await stopCluster(info, { keepDir: rest.includes('--keep') });
      const left = allNodes(info).filter((n) => nodePid(info, n) !== null);
      if (left.length) throw new Error(`still running: ${left.map((n) => n.name).join(', ')}`);
      log(rest.includes('--keep') && info.ownsDir ? `stopped (files kept in ${info.dir})` : 'stopped');
      return;
    }
    case 'status': {
      const info = readCluster(file);
      for (const n of allNodes(info)) log(`${n.name}: pid ${nodePid(info, n) ?? 'not running'}`);
      process.stdout.write(JSON.stringify(await clusterStatus(info, 0), null, 2) + '\n');
      return;
    }
    default:
      usage();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`[rabbit-cluster] ERROR: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
