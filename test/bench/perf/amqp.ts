// Workload 6: AMQP publishing with publisher confirms (amqplib) through each subject to a real
// RabbitMQ node: one connection, one confirm channel, at most `amqpWindow` messages unconfirmed,
// to an exclusive queue capped at 10,000 messages (drop-head) so that a long run stays small.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import type { ConfirmChannel } from 'amqplib';
import { cpuWindow } from './proc.js';
import type { Workload } from './runner.js';

/** Publishes for `ms`; how many were confirmed (and nacked) in that time. */
async function publishFor(ch: ConfirmChannel, queue: string, body: Buffer, window: number, ms: number): Promise<{ confirmed: number; nacked: number }> {
  let inflight = 0;
  let confirmed = 0;
  let nacked = 0;
  let running = true;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const pump = (): void => {
    while (running && inflight < window) {
      inflight++;
      ch.publish('', queue, body, {}, (err) => {
        inflight--;
        if (!running) return;
        if (err) nacked++;
        else confirmed++;
        pump();
      });
    }
  };
  const onError = (err: Error): void => {
    failure = err;
    wake?.();
  };
  const onClose = (): void => onError(new Error('the channel closed'));
  ch.once('error', onError);
  ch.once('close', onClose);
  pump();
  await new Promise<void>((resolve) => {
    wake = resolve;
    setTimeout(resolve, ms);
  });
  running = false;
  ch.removeListener('error', onError);
  ch.removeListener('close', onClose);
  if (failure) throw failure;
  return { confirmed, nacked };
}

export const amqpPublish: Workload = {
  id: 'amqp',
  title: '6. AMQP publishing with confirms (amqplib → RabbitMQ)',
  describe: (o) =>
    `amqplib, one connection and one confirm channel, ${o.amqpSize}-byte messages to an exclusive queue (x-max-length 10000), ` +
    `at most ${o.amqpWindow} unconfirmed, for ${o.seconds} s${o.warmup ? ` after ${o.warmup} s of warm-up` : ''}; ` +
    'confirmed messages/s. Proxy CPU per message, µs.',
  metrics: [
    { key: 'rate', label: 'confirmed msg/s', better: 'higher', digits: 0, ratio: true, summary: 'AMQP msg/s' },
    { key: 'nacked', label: 'nacked', better: 'lower', digits: 0 },
    { key: 'cpuPerMsg', label: 'proxy CPU µs/msg', better: 'lower', digits: 1 },
    { key: 'cpuPct', label: 'proxy CPU %', better: 'none', digits: 0 },
  ],
  timeoutMs: (o) => (o.seconds + o.warmup + 60) * 1000,
  async prepare(env) {
    const node = await env.rabbit();
    const o = env.opts;
    const body = randomBytes(o.amqpSize);
    return {
      backendPort: node.port,
      stop: async () => {},
      async measure(s) {
        const url = `amqp://${encodeURIComponent(node.user)}:${encodeURIComponent(node.password)}@127.0.0.1:${s.port}/`;
        const conn = await amqp.connect(url, { timeout: 10_000 });
        conn.on('error', () => {}); // surfaces as a channel error or a close in publishFor
        try {
          const ch = await conn.createConfirmChannel();
          const { queue } = await ch.assertQueue('', { exclusive: true, arguments: { 'x-max-length': 10_000, 'x-overflow': 'drop-head' } });
          if (o.warmup > 0) await publishFor(ch, queue, body, o.amqpWindow, o.warmup * 1000);
          await ch.waitForConfirms();
          const cpu = cpuWindow(s.pid);
          const r = await publishFor(ch, queue, body, o.amqpWindow, o.seconds * 1000);
          const { cpuMs, wallMs } = cpu.end();
          await ch.waitForConfirms();
          return {
            values: {
              rate: r.confirmed / (wallMs / 1000),
              nacked: r.nacked,
              cpuPerMsg: (cpuMs * 1000) / r.confirmed,
              cpuPct: (cpuMs / wallMs) * 100,
            },
          };
        } finally {
          await conn.close().catch(() => {});
        }
      },
    };
  },
};
