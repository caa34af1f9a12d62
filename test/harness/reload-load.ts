// The load of the reload-under-load test and bench (test/integration/reload-rabbit.test.ts,
// test/bench/reload.ts): raw TCP connects, new AMQP connections and long-lived publishers with
// confirms, each counting what a reload must never cause (refusals, failures, drops).

import * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';

export interface LoopResult {
  ok: number;
  refused: number;
  failed: string[];
  /** AMQP loops: ms from connect to an open channel, per connection. */
  times: number[];
}

/** Raw TCP connects (paced), counting refusals: a closed listener shows here first. */
export function tcpLoop(port: number): { stop(): Promise<LoopResult> } {
  let stopped = false;
  const r: LoopResult = { ok: 0, refused: 0, failed: [], times: [] };
  const loop = (async () => {
    while (!stopped) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ port, host: '127.0.0.1' });
        s.once('connect', () => {
          r.ok++;
          s.destroy();
          resolve();
        });
        s.once('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNREFUSED') r.refused++;
          else r.failed.push(e.message);
          resolve();
        });
      });
      await sleep(4);
    }
  })();
  return { stop: async () => ((stopped = true), await loop, r) };
}

/** New AMQP connections, one after the other: connect (full handshake), open a channel, close. */
export function amqpLoop(url: string): { stop(): Promise<LoopResult> } {
  let stopped = false;
  const r: LoopResult = { ok: 0, refused: 0, failed: [], times: [] };
  const loop = (async () => {
    while (!stopped) {
      try {
        const t0 = performance.now();
        const c = await amqp.connect(url);
        c.on('error', () => {});
        await c.createChannel();
        r.times.push(performance.now() - t0);
        await c.close();
        r.ok++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') r.refused++;
        else r.failed.push((err as Error).message);
      }
    }
  })();
  return { stop: async () => ((stopped = true), await loop, r) };
}

export interface Publisher {
  queue: string;
  confirmed: number;
  failed: number;
  /** Why the connection ended early, or null. */
  dropped: string | null;
  /** Stop publishing (the connection stays open). */
  stop(): Promise<void>;
  /** The messages in the queue (to compare with `confirmed`; -1 if the connection was dropped),
   *  then delete the queue and close. */
  finish(): Promise<number>;
  /** Close the connection, whatever its state (clean-up after a failure). */
  close(): Promise<void>;
}

/** One connection publishing with confirms to `queue` (declared and purged first), one message
 *  at a time, every 5 ms. */
export async function publisher(url: string, queue: string): Promise<Publisher> {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(queue, { durable: false, autoDelete: false });
  await ch.purgeQueue(queue);
  let stopping = false;
  const p: Publisher = {
    queue,
    confirmed: 0,
    failed: 0,
    dropped: null,
    async stop() {
      stopping = true;
      await loop;
    },
    async finish() {
      if (p.dropped !== null) return -1;
      const q = await ch.checkQueue(queue);
      await ch.deleteQueue(queue);
      await conn.close();
      return q.messageCount;
    },
    async close() {
      await conn.close().catch(() => {});
    },
  };
  conn.on('close', () => {
    if (!stopping) p.dropped ??= 'connection closed';
  });
  conn.on('error', (e: Error) => void (p.dropped ??= e.message));
  const loop = (async () => {
    let i = 0;
    while (!stopping && p.dropped === null) {
      await new Promise<void>((resolve) => {
        try {
          ch.sendToQueue(queue, Buffer.from(`m${i++}`), {}, (err) => {
            if (err) p.failed++;
            else p.confirmed++;
            resolve();
          });
        } catch {
          p.failed++;
          resolve();
        }
      });
      await sleep(5);
    }
  })();
  return p;
}
