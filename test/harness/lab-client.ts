// An AMQP publisher for the VRRP end-to-end tests: it runs in the lab's client namespace, talks to
// the VIP, publishes with publisher confirms every N ms and reconnects AT ONCE after any failure,
// printing one JSON line per event to stdout (parse them with parseClientEvents() in netns-lab.ts).
//
//   node dist/test/harness/lab-client.js [--url URL] [--interval MS] [--heartbeat S]
//                                        [--queue NAME] [--connect-timeout MS]
//   (the URL may also be given as the first positional argument)
//
// Defaults: amqp://guest:guest@198.51.100.100:5672, 20 ms, 5 s, a server-named exclusive queue,
// 2000 ms (0: none). With --queue NAME the queue is declared non-durable and auto-delete. Every queue gets
// x-max-length 10000, so a long run without consumers stays small.
//
// Events (t = Date.now() when it happened):
//   {"t","ev":"start","pid","url","intervalMs","heartbeatS","connectTimeoutMs"}
//   {"t","ev":"connected","conn":n,"localPort":p,"connectMs":ms}   n counts successful connects from 1
//   {"t","ev":"first-confirm","conn":n}                             first confirm on connection n
//   {"t","ev":"closed","conn":n,"msg":...,"lastConfirmT":t|null}    connection closed (after an error too)
//   {"t","ev":"error","conn":n,"msg":...}                           connection or channel error
//   {"t","ev":"connect-failed","msg":...,"ms":ms}                   a connect attempt failed (retried ~50 ms later)
//   {"t","ev":"stats","conn":n,"connected":bool,"published","confirmed","nacked","unconfirmed","pending"}   every second
//   {"t","ev":"exit","signal":...}                                  on SIGTERM/SIGINT, after a clean close
// Reconnects: 10 ms after a close/error, then every ~50 ms while connects fail.
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel } from 'amqplib';

interface Options {
  url: string;
  intervalMs: number;
  heartbeatS: number;
  queue: string | null;
  connectTimeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { url: 'amqp://guest:guest@198.51.100.100:5672', intervalMs: 20, heartbeatS: 5, queue: null, connectTimeoutMs: 2000 };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) {
      process.stderr.write(`lab-client: ${flag} needs a non-negative number, got ${v}\n`);
      process.exit(2);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '--url':
        o.url = argv[++i] ?? o.url;
        break;
      case '--interval':
        o.intervalMs = Math.max(1, num(a, argv[++i]));
        break;
      case '--heartbeat':
        o.heartbeatS = num(a, argv[++i]);
        break;
      case '--queue':
        o.queue = argv[++i] ?? null;
        break;
      case '--connect-timeout':
        o.connectTimeoutMs = num(a, argv[++i]);
        break;
      default:
        if (a.startsWith('amqp://') || a.startsWith('amqps://')) o.url = a;
        else {
          process.stderr.write(`lab-client: unknown argument ${a}\n`);
          process.exit(2);
        }
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

function emit(ev: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ t: Date.now(), ev, ...fields }) + '\n');
}

function withHeartbeat(url: string, s: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(s));
  return u.toString();
}

const url = withHeartbeat(opts.url, opts.heartbeatS);
let connNo = 0;
let conn: ChannelModel | null = null;
let channel: ConfirmChannel | null = null;
let current = 0; // connNo of the live connection, 0 when none
let stopping = false;
let reconnectTimer: NodeJS.Timeout | null = null;
let publishTimer: NodeJS.Timeout | null = null;
let lastConfirmT: number | null = null;
let firstConfirmSeen = true;
const totals = { published: 0, confirmed: 0, nacked: 0, unconfirmed: 0 };
/** Publishes of the live connection still waiting for their confirm. */
let pending = 0;

function scheduleConnect(delayMs: number): void {
  if (stopping || reconnectTimer) return;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    void connect();
  }, delayMs);
}

/** The live connection is gone (close or error): count what it left unconfirmed, reconnect. */
function lost(n: number, ev: 'closed' | 'error', msg: string): void {
  if (n !== current) return; // a late event of an old connection
  if (ev === 'error') emit('error', { conn: n, msg });
  emit('closed', { conn: n, msg, lastConfirmT });
  current = 0;
  totals.unconfirmed += pending;
  pending = 0;
  if (publishTimer) clearInterval(publishTimer);
  publishTimer = null;
  const c = conn;
  conn = null;
  channel = null;
  if (c) c.close().catch(() => {});
  scheduleConnect(10);
}

async function connect(): Promise<void> {
  if (stopping) return;
  const t0 = Date.now();
  let c: ChannelModel | null = null;
  try {
    c = await amqp.connect(url, { timeout: opts.connectTimeoutMs, noDelay: true });
    // Errors before the setup is done must not crash the process (amqplib emits 'error').
    c.on('error', () => {});
    const model = c;
    // The channel and queue setup gets the connect timeout too (amqplib's only covers the
    // connection handshake): a broker that went away mid-setup must not stall the loop.
    let setupTimer: NodeJS.Timeout | undefined;
    const setup = (async () => {
      const ch = await model.createConfirmChannel();
      ch.on('error', () => {});
      const q = await ch.assertQueue(opts.queue ?? '', {
        durable: false,
        autoDelete: opts.queue !== null,
        exclusive: opts.queue === null,
        arguments: { 'x-max-length': 10_000 },
      });
      return { ch, queue: q.queue };
    })();
    const timeout = new Promise<never>((_, reject) => {
      if (opts.connectTimeoutMs > 0) setupTimer = setTimeout(() => reject(new Error('channel/queue setup ETIMEDOUT')), opts.connectTimeoutMs);
    });
    setup.catch(() => {});
    const { ch, queue } = await Promise.race([setup, timeout]).finally(() => clearTimeout(setupTimer));
    if (stopping) {
      await c.close().catch(() => {});
      return;
    }
    const n = ++connNo;
    current = n;
    conn = c;
    channel = ch;
    firstConfirmSeen = false;
    const stream = (c as unknown as { connection: { stream?: { localPort?: number } } }).connection.stream;
    emit('connected', { conn: n, localPort: stream?.localPort ?? null, connectMs: Date.now() - t0, queue });
    c.removeAllListeners('error');
    c.on('error', (err: Error) => lost(n, 'error', err.message));
    c.on('close', (err?: Error) => lost(n, 'closed', err?.message ?? 'closed'));
    ch.removeAllListeners('error');
    ch.on('error', (err: Error) => lost(n, 'error', `channel: ${err.message}`));
    ch.on('close', () => lost(n, 'closed', 'channel closed'));
    const body = Buffer.alloc(64, 'x');
    publishTimer = setInterval(() => {
      if (current !== n || !channel) return;
      totals.published++;
      pending++;
      try {
        channel.sendToQueue(queue, body, {}, (err) => {
          if (current !== n) return; // counted as unconfirmed when the connection went
          pending--;
          if (err) {
            totals.nacked++;
            return;
          }
          totals.confirmed++;
          lastConfirmT = Date.now();
          if (!firstConfirmSeen) {
            firstConfirmSeen = true;
            emit('first-confirm', { conn: n });
          }
        });
      } catch (err) {
        lost(n, 'error', `publish: ${(err as Error).message}`);
      }
    }, opts.intervalMs);
  } catch (err) {
    emit('connect-failed', { msg: (err as Error).message, ms: Date.now() - t0 });
    if (c) c.close().catch(() => {});
    scheduleConnect(50);
  }
}

const statsTimer = setInterval(() => {
  emit('stats', { conn: current, connected: current !== 0, ...totals, pending });
}, 1000);

async function shutdown(sig: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (reconnectTimer) clearTimeout(reconnectTimer);
  if (publishTimer) clearInterval(publishTimer);
  clearInterval(statsTimer);
  const c = conn;
  current = 0;
  conn = null;
  if (c) {
    await Promise.race([c.close().catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
  }
  emit('stats', { conn: 0, connected: false, ...totals, pending });
  emit('exit', { signal: sig });
  process.stdout.write('', () => process.exit(0));
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

emit('start', { pid: process.pid, url: opts.url, intervalMs: opts.intervalMs, heartbeatS: opts.heartbeatS, connectTimeoutMs: opts.connectTimeoutMs });
void connect();
