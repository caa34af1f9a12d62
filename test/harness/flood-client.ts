// The flooding client of test/e2e/flood-vrrp.test.ts, run inside the lab's client namespace
// (lab.spawn('client', ...)). It plays two parts, so that the flood never reaches a broker:
//   - the sink: the server of the flooded proxy section. It holds every connection open and
//     silent, and closes its side when the proxy closes (a session's end reaches it as a FIN);
//   - the flood: on a first SIGUSR2, --count idle connections to --target (the VIP's flood port),
//     opened with openFlood() (flood.ts), held until a second SIGUSR2 closes them all (the
//     clients going away).
//   node dist/test/harness/flood-client.js --sink ADDR:PORT --target ADDR:PORT --count N
// SIGTERM ends it. Events, one JSON line each on stdout (t = Date.now()):
//   {"t","ev":"ready","nofile"}                                         the sink listens
//   {"t","ev":"flooded","count","connected","reset","ms"}               every connect attempt settled
//   {"t","ev":"stats","open","closedByPeer","reset","sinkOpen","sinkMax","sinkTotal"}   every 250 ms
//   {"t","ev":"released","closed"}                                      every flood socket closed
// closedByPeer: flood connections the proxy closed (FIN or reset) while the flood was held.
// The sink counts health checks too (lbA's and lbB's tcp checks: one short connection each per
// `inter`), so sinkMax may exceed the sessions by those few.

import * as fs from 'node:fs';
import * as net from 'node:net';
import { openFlood, type FloodSocket } from './flood.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) {
    process.stderr.write(`flood-client: --${name} is required\n`);
    process.exit(2);
  }
  return v;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const emit = (ev: string, fields: Record<string, unknown> = {}): void => void process.stdout.write(JSON.stringify({ t: Date.now(), ev, ...fields }) + '\n');

const sinkAt = hostPort(arg('sink'));
const target = hostPort(arg('target'));
const count = Number(arg('count'));

// Every flood socket and every sink connection is a descriptor here: fail loudly rather than let
// EMFILE pass for resets by the proxy.
const nofile = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
if (nofile < 2 * count + 256) {
  process.stderr.write(`flood-client: RLIMIT_NOFILE ${nofile} is too low for ${count} connections and their sink side (need ${2 * count + 256})\n`);
  process.exit(1);
}

let sinkOpen = 0;
let sinkMax = 0;
let sinkTotal = 0;
const sinkSockets = new Set<net.Socket>();
const sink = net.createServer({ allowHalfOpen: true }, (s) => {
  sinkOpen++;
  sinkTotal++;
  sinkMax = Math.max(sinkMax, sinkOpen);
  sinkSockets.add(s);
  s.on('error', () => {}); // a tcp health check may reset its connection
  s.on('end', () => s.end()); // the proxy finished: finish too
  s.on('close', () => {
    sinkOpen--;
    sinkSockets.delete(s);
  });
});
sink.on('error', (err) => {
  process.stderr.write(`flood-client: sink: ${err.message}\n`);
  process.exit(1);
});

const flood: FloodSocket[] = [];
/** When SIGUSR2 closed the flood (null: still held). */
let releasedAt: number | null = null;

const stats = (): Record<string, number> => ({
  open: flood.filter((f) => f.connected && f.closedAt === null).length,
  closedByPeer: flood.filter((f) => f.connected && f.closedAt !== null && (releasedAt === null || f.closedAt < releasedAt)).length,
  reset: flood.filter((f) => f.error !== null).length,
  sinkOpen,
  sinkMax,
  sinkTotal,
});

/** SIGUSR2 steps through: (nothing) → flooding → released. (Not SIGUSR1: node starts its
 *  inspector on that one.) */
let flooding = false;
function openTheFlood(): void {
  flooding = true;
  const t0 = Date.now();
  void openFlood(flood, target.host, target.port, count).then(() => {
    emit('flooded', { count, connected: flood.filter((f) => f.connected).length, reset: flood.filter((f) => f.error !== null).length, ms: Date.now() - t0 });
  });
}
function release(): void {
  releasedAt = Date.now();
  // destroy(): the kernel sends a FIN (nothing unread is pending on an idle socket).
  for (const f of flood) f.sock.destroy();
  emit('released', { closed: flood.length });
}
process.on('SIGUSR2', () => {
  if (!flooding) openTheFlood();
  else if (releasedAt === null) release();
});
process.on('SIGTERM', () => {
  for (const f of flood) f.sock.destroy();
  for (const s of sinkSockets) s.destroy();
  sink.close();
  process.exit(0);
});

sink.listen(sinkAt.port, sinkAt.host, () => {
  emit('ready', { nofile });
  setInterval(() => emit('stats', stats()), 250);
});
