// An AMQP client for the VRRP end-to-end tests and the chaos run: it runs in the lab's client
// namespace, talks to the VIP, and reconnects AT ONCE after any failure, printing one JSON line per
// event to stdout (parse them with parseClientEvents() in netns-lab.ts). Two roles:
//   - publisher (default): publishes with publisher confirms every N ms;
//   - consumer (--consume): consumes --queue with manual acks (prefetch --prefetch).
//
//   node dist/test/harness/lab-client.js [--url URL]... [--interval MS] [--heartbeat S]
//                                        [--queue NAME] [--connect-timeout MS]
//                                        [--quorum] [--consume] [--prefetch N] [--id NAME] [--record FILE]
//                                        [--confirm-timeout MS]
//   (the URL may also be given as the first positional argument)
//
// Several --url: each connect attempt takes the next one, round robin, as a client configured with
// every broker's address does (the chaos run's no-proxy control publishers).
//
// --quorum (the chaos run, test/harness/chaos.ts): --queue NAME is a durable quorum queue
// (x-queue-type quorum, no length limit: a dropped message would count as lost), messages are
// persistent and carry messageId `<id>-<seq>` (--id, default the pid). The publisher behaves as a
// well-written one must to lose nothing: every message stays in its own buffer until its confirm;
// a message whose connection closed before the confirm, or that was nacked, is published again
// (first thing) on the next connection, so it may arrive twice but is never dropped.
// A nack (--quorum publisher) drops the connection and makes a new one, the nacked and unconfirmed
// messages resent there; so does --confirm-timeout MS (default 0: none) without a single positive
// confirm for that long while messages are outstanding. RabbitMQ 3.10 needs both: a channel
// opened while a quorum queue elects a new leader can keep the dead leader, and then either nacks
// everything published on it (resending on the same channel was a nack storm: 23 000 nacks in
// 20 s) or never confirms at all (47 s, until the connection happened to close). A new channel
// finds the new leader.
// --consume implies --quorum's queue declaration. --record FILE appends one line per confirm
// (`c <t> <messageId>`, publisher) or per delivery (`m <t> <messageId> <0|1 redelivered>`,
// consumer, written before the ack), for the loss / duplicate / outage accounting.
//
// Defaults: amqp://guest:guest@198.51.100.100:5672, 20 ms, 5 s, a server-named exclusive queue,
// 2000 ms (0: none). With --queue NAME the queue is declared non-durable and auto-delete. Every queue gets
// x-max-length 10000, so a long run without consumers stays small.
//
// Events (t = Date.now() when it happened):
//   {"t","ev":"start","pid","url","intervalMs","heartbeatS","connectTimeoutMs"}
//   {"t","ev":"connected","conn":n,"to":"host:port","localPort":p,"connectMs":ms}   n counts successful connects from 1
//   {"t","ev":"first-confirm","conn":n}                             first confirm on connection n
//   {"t","ev":"closed","conn":n,"msg":...,"lastConfirmT":t|null}    connection closed (after an error too)
//   {"t","ev":"error","conn":n,"msg":...}                           connection or channel error
//   {"t","ev":"connect-failed","to":"host:port","msg":...,"ms":ms}                   a connect attempt failed (retried ~50 ms later)
//   {"t","ev":"stats","conn":n,"connected":bool,"published","confirmed","nacked","unconfirmed","pending"}   every second
//   {"t","ev":"exit","signal":...}                                  on SIGTERM/SIGINT, after a clean close
//   stats of a consumer: {"t","ev":"stats","conn","connected","consumed","redelivered"}
// Reconnects: 10 ms after a close/error, then every ~50 ms while connects fail.
import fs from 'node:fs';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';

interface Options {
  urls: string[];
  intervalMs: number;
  heartbeatS: number;
  queue: string | null;
  connectTimeoutMs: number;
  quorum: boolean;
  consume: boolean;
  prefetch: number;
  id: string;
  record: string | null;
  confirmTimeoutMs: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    urls: [],
    intervalMs: 20,
    heartbeatS: 5,
    queue: null,
    connectTimeoutMs: 2000,
    quorum: false,
    consume: false,
    prefetch: 50,
    id: String(process.pid),
    record: null,
    confirmTimeoutMs: 0,
  };
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
      case '--url': {
        const u = argv[++i];
        if (u) o.urls.push(u);
        break;
      }
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
      case '--quorum':
        o.quorum = true;
        break;
      case '--consume':
        o.consume = true;
        o.quorum = true;
        break;
      case '--prefetch':
        o.prefetch = Math.max(1, num(a, argv[++i]));
        break;
      case '--id':
        o.id = argv[++i] ?? o.id;
        break;
      case '--record':
        o.record = argv[++i] ?? null;
        break;
      case '--confirm-timeout':
        o.confirmTimeoutMs = num(a, argv[++i]);
        break;
      default:
        if (a.startsWith('amqp://') || a.startsWith('amqps://')) o.urls.push(a);
        else {
          process.stderr.write(`lab-client: unknown argument ${a}\n`);
          process.exit(2);
        }
    }
  }
  if (o.urls.length === 0) o.urls.push('amqp://guest:guest@198.51.100.100:5672');
  if (o.quorum && !o.queue) {
    process.stderr.write('lab-client: --quorum / --consume need --queue NAME\n');
    process.exit(2);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
// Synchronous appends: a record is on disk before the ack that follows it (consumer), and nothing
// is lost if the process is killed.
const recordFd = opts.record ? fs.openSync(opts.record, 'a') : null;
function record(line: string): void {
  if (recordFd !== null) fs.writeSync(recordFd, line + '\n');
}

function emit(ev: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ t: Date.now(), ev, ...fields }) + '\n');
}

function withHeartbeat(url: string, s: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(s));
  return u.toString();
}

const urls = opts.urls.map((u) => withHeartbeat(u, opts.heartbeatS));
let attempts = 0;
let connNo = 0;
let conn: ChannelModel | null = null;
let channel: ConfirmChannel | Channel | null = null;
let current = 0; // connNo of the live connection, 0 when none
let stopping = false;
let reconnectTimer: NodeJS.Timeout | null = null;
let publishTimer: NodeJS.Timeout | null = null;
let lastConfirmT: number | null = null;
let firstConfirmSeen = true;
const totals = { published: 0, confirmed: 0, nacked: 0, unconfirmed: 0, republished: 0, consumed: 0, redelivered: 0 };
/** Publishes of the live connection still waiting for their confirm. */
let pending = 0;
/** --quorum publisher: next sequence number; messages (by seq) published and not yet confirmed,
 *  on the live connection; messages to publish again (their connection died, or a nack). */
let seq = 0;
const inflight = new Set<number>();
/** When the live connection last made progress: connected, or a positive confirm. */
let progressT = 0;
const resend: number[] = [];

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
  // Their confirm will never come: publish them again, in order, on the next connection.
  resend.push(...inflight);
  resend.sort((a, b) => a - b);
  inflight.clear();
  if (publishTimer) clearInterval(publishTimer);
  publishTimer = null;
  const c = conn;
  conn = null;
  channel = null;
  if (c) c.close().catch(() => {});
  scheduleConnect(10);
}

/** The queue: the test's own (server-named, exclusive, or named and auto-delete), or with --quorum
 *  the chaos run's durable quorum queue (the same arguments as its creator, or the declare fails). */
async function declare(ch: Channel): Promise<string> {
  if (opts.quorum) {
    await ch.assertQueue(opts.queue!, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    return opts.queue!;
  }
  const q = await ch.assertQueue(opts.queue ?? '', {
    durable: false,
    autoDelete: opts.queue !== null,
    exclusive: opts.queue === null,
    arguments: { 'x-max-length': 10_000 },
  });
  return q.queue;
}

function startPublishing(n: number, ch: ConfirmChannel, queue: string): void {
  progressT = Date.now();
  const body = Buffer.alloc(64, 'x');
  const publishOne = (s: number | null): void => {
    totals.published++;
    pending++;
    if (s !== null) inflight.add(s);
    const props = s === null ? {} : { persistent: true, messageId: `${opts.id}-${s}` };
    ch.sendToQueue(queue, body, props, (err) => {
      if (current !== n) return; // counted as unconfirmed (and queued for resending) when the connection went
      pending--;
      if (s !== null) inflight.delete(s);
      if (err) {
        // amqplib fails every outstanding callback with 'channel closed' just before the close
        // event: that is a lost connection (lost() follows), not a broker nack.
        if (s !== null) resend.push(s);
        if (err.message !== 'message nacked') {
          totals.unconfirmed++;
          return;
        }
        totals.nacked++;
        if (opts.quorum) lost(n, 'error', 'message nacked: reconnecting');
        return;
      }
      totals.confirmed++;
      lastConfirmT = Date.now();
      progressT = lastConfirmT;
      if (s !== null) record(`c ${lastConfirmT} ${opts.id}-${s}`);
      if (!firstConfirmSeen) {
        firstConfirmSeen = true;
        emit('first-confirm', { conn: n });
      }
    });
  };
  publishTimer = setInterval(() => {
    if (current !== n || !channel) return;
    try {
      if (!opts.quorum) return publishOne(null);
      if (opts.confirmTimeoutMs > 0 && inflight.size > 0 && Date.now() - progressT > opts.confirmTimeoutMs) {
        return lost(n, 'error', `no confirm within ${opts.confirmTimeoutMs} ms`);
      }
      // Unconfirmed messages of a lost connection first (a real publisher keeps them in order),
      // then one new message per tick.
      while (resend.length) {
        totals.republished++;
        publishOne(resend.shift()!);
      }
      publishOne(++seq);
    } catch (err) {
      lost(n, 'error', `publish: ${(err as Error).message}`);
    }
  }, opts.intervalMs);
}

async function startConsuming(n: number, ch: Channel, queue: string): Promise<void> {
  await ch.prefetch(opts.prefetch);
  await ch.consume(
    queue,
    (msg: ConsumeMessage | null) => {
      // null: the broker cancelled the consumer (e.g. the queue was deleted): start over.
      if (!msg) return lost(n, 'closed', 'consumer cancelled by the broker');
      if (current !== n) return;
      totals.consumed++;
      if (msg.fields.redelivered) totals.redelivered++;
      record(`m ${Date.now()} ${String(msg.properties.messageId)} ${msg.fields.redelivered ? 1 : 0}`);
      try {
        ch.ack(msg);
      } catch (err) {
        lost(n, 'error', `ack: ${(err as Error).message}`);
      }
    },
    { noAck: false },
  );
}

async function connect(): Promise<void> {
  if (stopping) return;
  const t0 = Date.now();
  const target = urls[attempts++ % urls.length]!;
  let c: ChannelModel | null = null;
  try {
    c = await amqp.connect(target, { timeout: opts.connectTimeoutMs, noDelay: true });
    // Errors before the setup is done must not crash the process (amqplib emits 'error').
    c.on('error', () => {});
    const model = c;
    // The channel and queue setup gets the connect timeout too (amqplib's only covers the
    // connection handshake): a broker that went away mid-setup must not stall the loop.
    let setupTimer: NodeJS.Timeout | undefined;
    const setup = (async () => {
      const ch = opts.consume ? await model.createChannel() : await model.createConfirmChannel();
      ch.on('error', () => {});
      return { ch, queue: await declare(ch) };
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
    emit('connected', { conn: n, to: new URL(target).host, localPort: stream?.localPort ?? null, connectMs: Date.now() - t0, queue });
    c.removeAllListeners('error');
    c.on('error', (err: Error) => lost(n, 'error', err.message));
    c.on('close', (err?: Error) => lost(n, 'closed', err?.message ?? 'closed'));
    ch.removeAllListeners('error');
    ch.on('error', (err: Error) => lost(n, 'error', `channel: ${err.message}`));
    ch.on('close', () => lost(n, 'closed', 'channel closed'));
    if (opts.consume) {
      // basic.consume is part of the setup: a connection that cannot consume is a failed one.
      await startConsuming(n, ch, queue).catch((err: Error) => lost(n, 'error', `consume: ${err.message}`));
    } else startPublishing(n, ch as ConfirmChannel, queue);
  } catch (err) {
    emit('connect-failed', { to: new URL(target).host, msg: (err as Error).message, ms: Date.now() - t0 });
    if (c) c.close().catch(() => {});
    scheduleConnect(50);
  }
}

function stats(): Record<string, unknown> {
  if (opts.consume) return { conn: current, connected: current !== 0, consumed: totals.consumed, redelivered: totals.redelivered };
  const { consumed: _c, redelivered: _r, ...pub } = totals;
  return { conn: current, connected: current !== 0, ...pub, pending, ...(opts.quorum ? { resend: resend.length } : {}) };
}

const statsTimer = setInterval(() => emit('stats', stats()), 1000);

async function shutdown(sig: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (reconnectTimer) clearTimeout(reconnectTimer);
  if (publishTimer) clearInterval(publishTimer);
  clearInterval(statsTimer);
  // A --quorum publisher first waits (up to 3 s) for the confirms still on the way, so that the
  // final figures have as few "published, fate unknown" messages as possible.
  if (opts.quorum && !opts.consume) {
    const end = Date.now() + 3000;
    while (current !== 0 && pending > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }
  const c = conn;
  current = 0;
  conn = null;
  if (c) {
    await Promise.race([c.close().catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
  }
  emit('stats', stats());
  emit('exit', { signal: sig });
  process.stdout.write('', () => process.exit(0));
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

emit('start', {
  pid: process.pid,
  url: opts.urls.join(' '),
  intervalMs: opts.intervalMs,
  heartbeatS: opts.heartbeatS,
  connectTimeoutMs: opts.connectTimeoutMs,
  ...(opts.quorum ? { role: opts.consume ? 'consumer' : 'publisher', id: opts.id, queue: opts.queue } : {}),
});
void connect();
