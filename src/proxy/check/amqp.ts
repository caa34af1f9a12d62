// AMQP 0-9-1 health check against a RabbitMQ node, with plain node:net (no client library).
//
// What it does:
//   - always: TCP connect, send the protocol header, and require a well-formed Connection.Start
//     method frame (type 1, channel 0, class 10 method 10, version 0-9, frame-end 0xCE);
//   - with credentials (cfg.user set): a full login (Start-Ok PLAIN, Tune-Ok, Open vhost), a probe
//     for resource alarms (see below), then a polite Connection.Close / Close-Ok.
//
// What RabbitMQ 3.10.8 logs for each way of ending the conversation (measured against a real node,
// log.file.level = debug; the lines at info and above are quoted, `<0.N.0>` and addresses elided):
//   (a) TCP connect, then close without sending anything: only [debug] lines
//       ("accepting AMQP connection", "closing AMQP connection ... connection_closed_with_no_data_received").
//       Quiet, but it does not prove that AMQP is served, so it is not used.
//   (b) header, read Connection.Start, then close (FIN or RST alike):
//       [info]    accepting AMQP connection <0.N.0> (127.0.0.1:P -> 127.0.0.1:5673)
//       [warning] closing AMQP connection <0.N.0> (127.0.0.1:P -> 127.0.0.1:5673):
//       [warning] client unexpectedly closed TCP connection
//   (c) header, Start, then Connection.Close before Start-Ok (and the broker closes 3 s later):
//       [error]   closing AMQP connection ...: {handshake_error,starting,0,{amqp_error,channel_error,
//                 "unexpected method in connection state starting",'connection.close'}}
//   (d) full login as guest, Connection.Close, wait for Close-Ok: nothing above [info]
//       ("accepting AMQP connection", "user 'guest' authenticated and granted access to vhost '/'",
//       "closing AMQP connection ... vhost: '/', user: 'guest'").
//   Other ways tried, all worse: waiting for the broker's handshake timeout ([error]
//   {handshake_timeout,frame_header} after 10 s), a wrong protocol header ([error] {bad_version,..}),
//   an AMQP 1.0 header ([error] amqp1_0_plugin_not_enabled), a partial header ([warning] as in b),
//   a Start-Ok with wrong credentials ([error] PLAIN login refused: user 'guest' - invalid credentials).
// So WITHOUT credentials there is no way to get a Connection.Start that RabbitMQ 3.10 does not log
// above info: the least noisy is (b), which this check uses, and it costs one [warning] entry
// ("client unexpectedly closed TCP connection") per check. Configure a user (variant d) for checks
// that leave nothing above [info] in the broker's log.
//
// Resource alarms: RabbitMQ sends Connection.Blocked only to a connection that PUBLISHES while an
// alarm is in effect (a login alone is not blocked, measured). So after login the check opens
// channel 1 and publishes one empty message to the default exchange with an empty routing key
// (routes nowhere: no queue can be named ""), then closes the channel. Either Channel.Close-Ok comes
// back (not blocked) or Connection.Blocked does. A blocked connection is no longer read by the broker
// (not even Connection.Close, nor the TCP close) until the alarm clears, so each blocked probe
// would leave a half-dead connection on the broker for the whole alarm. To avoid piling them up
// (during a memory alarm!), the first blocked connection to a target is kept open as a "sentinel":
// later checks of that target log in, see that the sentinel is still blocked, and skip the probe
// (they close politely: a connection that did not publish is not blocked). When the broker sends
// Connection.Unblocked the sentinel closes politely; it is dropped if the socket closes or goes
// silent (no heartbeat). The sentinel socket and timers are unref'ed; `dispose()` closes them.

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AmqpCheckConfig } from '../../config/types.js';
import type { CheckResult, CheckRunner } from './result.js';

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]); // "AMQP" 0 0 9 1
const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;
/** Cap on bytes read from the server by one check (Connection.Start is ~500 bytes). */
export const MAX_READ_BYTES = 64 * 1024;
const DEFAULT_HEARTBEAT_SEC = 15;
const DEFAULT_PROBE_SETTLE_MS = 10;

// class/method ids
const CONNECTION = 10;
const CHANNEL = 20;
const BASIC = 60;
const M = {
  start: 10,
  startOk: 11,
  secure: 20,
  tune: 30,
  tuneOk: 31,
  open: 40,
  openOk: 41,
  close: 50,
  closeOk: 51,
  blocked: 60,
  unblocked: 61,
  chOpen: 10,
  chOpenOk: 11,
  chClose: 40,
  chCloseOk: 41,
  publish: 40,
} as const;

export interface AmqpCheckOptions {
  /** Heartbeat proposed in Tune-Ok, seconds (capped by the broker's; used to notice a dead sentinel). */
  heartbeatSec?: number;
  /** Product name sent in client-properties. */
  clientName?: string;
  /** Pause between the probe's Channel.Close-Ok and Connection.Close, ms (see the comment at its use). */
  probeSettleMs?: number;
}

/** A CheckRunner that may hold a blocked "sentinel" connection per target; dispose() closes them. */
export type AmqpCheckRunner = CheckRunner & {
  dispose(): void;
  /** Targets ("host:port") currently known blocked through a sentinel connection. */
  blockedTargets(): string[];
};

// ---------------------------------------------------------------------------------------------
// encoding

function u8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}
function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function shortstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > 255) throw new Error(`AMQP short string too long (${b.length} bytes): ${s.slice(0, 40)}...`);
  return Buffer.concat([u8(b.length), b]);
}
function longstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(b.length), b]);
}
type FieldValue = string | boolean | { [k: string]: FieldValue };
function table(t: Record<string, FieldValue>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(t)) {
    parts.push(shortstr(k));
    if (typeof v === 'string') parts.push(Buffer.from('S'), longstr(v));
    else if (typeof v === 'boolean') parts.push(Buffer.from('t'), u8(v ? 1 : 0));
    else parts.push(Buffer.from('F'), table(v));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}
function frame(type: number, channel: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(payload.length + 8);
  b.writeUInt8(type, 0);
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(payload.length, 3);
  payload.copy(b, 7);
  b.writeUInt8(FRAME_END, payload.length + 7);
  return b;
}
function method(channel: number, classId: number, methodId: number, ...args: Buffer[]): Buffer {
  return frame(FRAME_METHOD, channel, Buffer.concat([u16(classId), u16(methodId), ...args]));
}
const HEARTBEAT_FRAME = frame(FRAME_HEARTBEAT, 0, Buffer.alloc(0));

function connectionClose(): Buffer {
  return method(0, CONNECTION, M.close, u16(200), shortstr('warren health check done'), u16(0), u16(0));
}

// ---------------------------------------------------------------------------------------------
// decoding

class Malformed extends Error {}

/** Bounds-checked reader over one method payload. */
class Cursor {
  off = 0;
  constructor(private readonly b: Buffer) {}
  get length(): number {
    return this.b.length;
  }
  private need(n: number): void {
    if (this.off + n > this.b.length) throw new Malformed(`truncated method arguments (need ${n} bytes at ${this.off} of ${this.b.length})`);
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.off++);
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  shortstr(): string {
    return this.bytes(this.u8()).toString('utf8');
  }
  longstr(): Buffer {
    return this.bytes(this.u32());
  }
}

/** Parses a field table (best effort: values of unknown types end the parse). */
function parseTable(b: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const c = new Cursor(b);
  try {
    while (c.off < c.length) {
      const key = c.shortstr();
      out[key] = parseValue(c);
    }
  } catch {
    /* keep what was parsed */
  }
  return out;
}
function parseValue(c: Cursor): unknown {
  const t = String.fromCharCode(c.u8());
  switch (t) {
    case 't':
      return c.u8() !== 0;
    case 'b':
    case 'B':
      return c.u8();
    case 's':
    case 'u':
      return c.u16();
    case 'I':
    case 'i':
      return c.u32();
    case 'l':
    case 'L':
    case 'T':
    case 'd':
      return c.bytes(8);
    case 'f':
      return c.bytes(4);
    case 'D':
      return c.bytes(5);
    case 'S':
      return c.longstr().toString('utf8');
    case 'x':
      return c.longstr();
    case 'F':
      return parseTable(c.longstr());
    case 'A': {
      const inner = new Cursor(c.longstr());
      const arr: unknown[] = [];
      while (inner.off < inner.length) arr.push(parseValue(inner));
      return arr;
    }
    case 'V':
      return null;
    default:
      throw new Malformed(`unknown field type ${JSON.stringify(t)}`);
  }
}

interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
  classId: number; // method frames only (else -1)
  methodId: number;
}

function preview(b: Buffer): string {
  const s = b.subarray(0, 24).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return JSON.stringify(s);
}

/** Splits the byte stream into frames; throws Malformed on anything that is not AMQP 0-9-1 framing. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private seen = 0;
  /** Whether the total byte cap applies (lifted for a long-lived sentinel). */
  capTotal = true;

  push(chunk: Buffer): Frame[] {
    this.seen += chunk.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.capTotal && this.seen > MAX_READ_BYTES) throw new Malformed(`server sent more than ${MAX_READ_BYTES} bytes`);
    if (this.buf.length > MAX_READ_BYTES) throw new Malformed(`server sent a frame larger than ${MAX_READ_BYTES} bytes`);
    const frames: Frame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length === 0) break;
      if (b[0] === 0x41 && b.length >= 4 && b.subarray(0, 4).toString('latin1') === 'AMQP') {
        // The broker rejected our protocol header and answered with the one it speaks.
        const v = b.length >= 8 ? `${b[4]}-${b[5]}-${b[6]}-${b[7]}` : '?';
        throw new Malformed(`server refused AMQP 0-9-1 and answered with protocol header AMQP ${v}`);
      }
      if (![FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT].includes(b[0]!)) {
        throw new Malformed(`not an AMQP 0-9-1 frame (server sent ${preview(b)})`);
      }
      if (b.length < 7) break;
      const size = b.readUInt32BE(3);
      if (size + 8 > MAX_READ_BYTES) throw new Malformed(`frame of ${size} bytes is too large (server sent ${preview(b)})`);
      if (b.length < size + 8) break;
      if (b[size + 7] !== FRAME_END) throw new Malformed(`bad frame-end octet 0x${b[size + 7]!.toString(16)} (server sent ${preview(b)})`);
      const payload = b.subarray(7, 7 + size);
      let classId = -1;
      let methodId = -1;
      if (b[0] === FRAME_METHOD) {
        if (size < 4) throw new Malformed('method frame shorter than 4 bytes');
        classId = payload.readUInt16BE(0);
        methodId = payload.readUInt16BE(2);
      }
      frames.push({ type: b[0]!, channel: b.readUInt16BE(1), payload: payload.subarray(b[0] === FRAME_METHOD ? 4 : 0), classId, methodId });
      this.buf = b.subarray(size + 8);
    }
    return frames;
  }
}

// ---------------------------------------------------------------------------------------------
// one connection

type Phase = 'connect' | 'start' | 'login' | 'probe' | 'closing';

class CheckFailure extends Error {
  constructor(
    readonly status: string,
    message: string,
    readonly code: number | null = null,
    readonly hard = false,
  ) {
    super(message);
  }
}

function phaseName(p: Phase): string {
  switch (p) {
    case 'connect':
      return 'while connecting';
    case 'start':
      return 'waiting for Connection.Start';
    case 'login':
      return 'during login';
    case 'probe':
      return 'during the publish probe';
    case 'closing':
      return 'waiting for Connection.Close-Ok';
  }
}

function rspStatus(p: Phase): string {
  return p === 'connect' || p === 'start' ? 'L6RSP' : 'L7RSP';
}

/**
 * A socket plus a frame queue. `next()` resolves with the next non-heartbeat frame or rejects with a
 * CheckFailure (timeout, reset, close, garbage). Every failure destroys the socket.
 */
class Conn {
  readonly sock: net.Socket;
  phase: Phase = 'connect';
  readonly connected: Promise<void>;
  private readonly reader = new FrameReader();
  private readonly queue: Frame[] = [];
  private waiter: { resolve: (f: Frame) => void; reject: (e: CheckFailure) => void } | null = null;
  private failure: CheckFailure | null = null;
  private timer: NodeJS.Timeout | null;
  /** When set, frames go here instead of the queue (sentinel mode). */
  onFrame: ((f: Frame) => void) | null = null;
  onFail: ((e: CheckFailure) => void) | null = null;
  lastRx = Date.now();

  constructor(target: { host: string; port: number }, timeoutMs: number) {
    this.sock = net.connect({ host: target.host, port: target.port });
    this.sock.setNoDelay(true);
    // The verdict waits for the poll phase after the timer (see tcp.ts): an answer the kernel
    // already holds is read first. A check that ended meanwhile has cleared the timer.
    this.timer = setTimeout(() => setImmediate(() => this.timer !== null && this.fail(this.timeoutFailure())), Math.max(1, timeoutMs));
    this.connected = new Promise<void>((resolve, reject) => {
      this.sock.once('connect', () => {
        if (this.phase === 'connect') this.phase = 'start';
        resolve();
      });
      this.waitConnect = reject;
    });
    this.connected.catch(() => {}); // observed by the caller; never an unhandled rejection
    this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sock.on('error', (err: NodeJS.ErrnoException) => this.fail(this.errorFailure(err)));
    this.sock.on('close', () => {
      this.fail(new CheckFailure(rspStatus(this.phase), `connection closed by server ${phaseName(this.phase)}`));
    });
  }

  private waitConnect: ((e: CheckFailure) => void) | null = null;

  private timeoutFailure(): CheckFailure {
    switch (this.phase) {
      case 'connect':
        return new CheckFailure('L4TOUT', 'connection timeout');
      case 'start':
        return new CheckFailure('L6TOUT', 'timeout waiting for Connection.Start');
      default:
        return new CheckFailure('L7TOUT', `timeout ${phaseName(this.phase)}`);
    }
  }

  private errorFailure(err: NodeJS.ErrnoException): CheckFailure {
    const code = err.code ?? '';
    const where = phaseName(this.phase);
    if (code === 'ECONNREFUSED') return new CheckFailure('L4CON', 'connection refused', null, true);
    if (code === 'ECONNRESET' || code === 'EPIPE') return new CheckFailure('L4CON', `connection reset by server ${where}`, null, true);
    if (code === 'ETIMEDOUT') return new CheckFailure(this.phase === 'connect' ? 'L4TOUT' : 'L4CON', `${err.message} ${where}`);
    return new CheckFailure('L4CON', `${err.message} ${where}`);
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    this.lastRx = Date.now();
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.fail(new CheckFailure(rspStatus(this.phase), (e as Error).message));
      return;
    }
    for (const f of frames) {
      if (f.type === FRAME_HEARTBEAT) continue;
      if (this.onFrame) this.onFrame(f);
      else if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve(f);
      } else this.queue.push(f);
    }
  }

  /** Ends the connection with a failure (first one wins); destroys the socket. */
  fail(e: CheckFailure): void {
    if (this.failure) return;
    this.failure = e;
    this.clearTimer();
    this.sock.destroy();
    this.waitConnect?.(e);
    this.waitConnect = null;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(e);
    }
    this.onFail?.(e);
  }

  get failed(): boolean {
    return this.failure !== null;
  }

  next(): Promise<Frame> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Frame>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  write(b: Buffer): void {
    if (!this.failure) this.sock.write(b);
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Normal end: stop the timer and destroy the socket without reporting anything. */
  destroy(): void {
    this.failure ??= new CheckFailure('L7RSP', 'closed by the check');
    this.clearTimer();
    this.sock.destroy();
    this.waiter = null;
  }

  /** Sentinel mode: no deadline, no total byte cap, does not keep the process alive. */
  detach(): void {
    this.clearTimer();
    this.reader.capTotal = false;
    this.sock.unref();
  }
}

function describeClose(f: Frame): { code: number; text: string } {
  try {
    const c = new Cursor(f.payload);
    const code = c.u16();
    const text = c.shortstr();
    return { code, text };
  } catch {
    return { code: 0, text: '(unparseable Connection.Close)' };
  }
}

function isMethod(f: Frame, classId: number, methodId: number): boolean {
  return f.type === FRAME_METHOD && f.classId === classId && f.methodId === methodId;
}

function unexpected(f: Frame, phase: Phase, expected: string): CheckFailure {
  const what = f.type === FRAME_METHOD ? `method ${f.classId}.${f.methodId} on channel ${f.channel}` : `frame type ${f.type}`;
  return new CheckFailure(rspStatus(phase), `unexpected ${what} ${phaseName(phase)} (expected ${expected})`);
}

// ---------------------------------------------------------------------------------------------
// sentinels (one blocked connection kept per target)

class Sentinel {
  blocked = true;
  reason: string;
  private hbTimer: NodeJS.Timeout | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    readonly key: string,
    private readonly conn: Conn,
    reason: string,
    heartbeatSec: number,
    private readonly settleMs: number,
    private readonly onGone: (s: Sentinel) => void,
  ) {
    this.reason = reason;
    conn.detach();
    conn.onFrame = (f) => this.frame(f);
    conn.onFail = () => this.gone();
    if (heartbeatSec > 0) {
      this.hbTimer = setInterval(() => {
        if (Date.now() - conn.lastRx > heartbeatSec * 3 * 1000) {
          conn.fail(new CheckFailure('L7TOUT', 'sentinel: broker silent')); // -> gone()
          return;
        }
        conn.write(HEARTBEAT_FRAME);
      }, heartbeatSec * 1000);
      this.hbTimer.unref();
    }
  }

  get alive(): boolean {
    return !this.conn.failed;
  }

  private frame(f: Frame): void {
    if (isMethod(f, CONNECTION, M.unblocked)) {
      this.blocked = false;
      // The broker now reads again: it answers the probe's pending Channel.Close first. Close the
      // connection after that Close-Ok (plus the settle pause), or after 2 s without it.
      this.closeTimer = setTimeout(() => this.sendClose(), 2_000);
      this.closeTimer.unref();
    } else if (isMethod(f, CHANNEL, M.chCloseOk) && !this.blocked) {
      if (this.closeTimer) clearTimeout(this.closeTimer);
      this.closeTimer = setTimeout(() => this.sendClose(), this.settleMs);
      this.closeTimer.unref();
    } else if (isMethod(f, CONNECTION, M.blocked)) {
      this.blocked = true;
      try {
        this.reason = new Cursor(f.payload).shortstr();
      } catch {
        /* keep the old reason */
      }
    } else if (isMethod(f, CONNECTION, M.closeOk)) {
      this.close();
    } else if (isMethod(f, CONNECTION, M.close)) {
      this.conn.write(method(0, CONNECTION, M.closeOk));
      this.close();
    }
    // Channel.Open-Ok of the old probe: ignored.
  }

  private sendClose(): void {
    if (this.closing || !this.alive) return;
    this.closing = true;
    this.conn.write(connectionClose());
    // Give the broker a moment for Close-Ok, then drop the socket whatever happens.
    this.closeTimer = setTimeout(() => this.close(), 5_000);
    this.closeTimer.unref();
  }

  close(): void {
    this.conn.destroy();
    this.gone();
  }

  private gone(): void {
    this.blocked = false;
    if (this.hbTimer) clearInterval(this.hbTimer);
    this.hbTimer = null;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.onGone(this);
  }
}

// ---------------------------------------------------------------------------------------------
// the check

interface StartInfo {
  product: string;
  mechanisms: string[];
  locale: string;
}

function parseStart(f: Frame): StartInfo {
  const c = new Cursor(f.payload);
  const major = c.u8();
  const minor = c.u8();
  if (major !== 0 || minor !== 9) throw new Malformed(`Connection.Start announces AMQP ${major}-${minor}, expected 0-9`);
  const props = parseTable(c.longstr());
  const mechanisms = c.longstr().toString('utf8').split(/\s+/).filter(Boolean);
  const locales = c.longstr().toString('utf8').split(/\s+/).filter(Boolean);
  const product = [props['product'], props['version']].filter((v) => typeof v === 'string').join(' ') || 'unknown AMQP server';
  return { product, mechanisms, locale: locales[0] ?? 'en_US' };
}

function result(t0: number, r: Omit<CheckResult, 'durationMs'>): CheckResult {
  return { ...r, durationMs: Math.max(0, Date.now() - t0) };
}

export function amqpCheck(cfg: AmqpCheckConfig, opts: AmqpCheckOptions = {}): AmqpCheckRunner {
  const sentinels = new Map<string, Sentinel>();
  const heartbeatWanted = opts.heartbeatSec ?? DEFAULT_HEARTBEAT_SEC;
  const clientName = opts.clientName ?? 'warren';
  const probeSettleMs = opts.probeSettleMs ?? DEFAULT_PROBE_SETTLE_MS;

  const run = async (target: { host: string; port: number }, timeoutMs: number): Promise<CheckResult> => {
    const t0 = Date.now();
    const key = `${target.host}:${target.port}`;
    const conn = new Conn(target, timeoutMs);
    let keep = false; // socket handed over to a sentinel
    try {
      await conn.connected;
      conn.phase = 'start';
      conn.write(PROTOCOL_HEADER);
      const startFrame = await conn.next();
      if (startFrame.channel !== 0 || !isMethod(startFrame, CONNECTION, M.start)) throw unexpected(startFrame, 'start', 'Connection.Start');
      let start: StartInfo;
      try {
        start = parseStart(startFrame);
      } catch (e) {
        throw new CheckFailure('L6RSP', `malformed Connection.Start: ${(e as Error).message}`);
      }

      if (cfg.user === null) {
        // No credentials: variant (b) above; RabbitMQ logs one [warning] for this close.
        return result(t0, {
          ok: true,
          status: 'L6OK',
          code: null,
          desc: `AMQP 0-9-1 Connection.Start received from ${start.product} (no login)`,
          warning: null,
          hardFailure: false,
        });
      }

      // ---- login
      conn.phase = 'login';
      if (!start.mechanisms.includes('PLAIN')) {
        throw new CheckFailure('L7STS', `server does not offer SASL PLAIN (offers: ${start.mechanisms.join(' ') || 'none'})`);
      }
      const clientProps = table({
        product: clientName,
        platform: `Node.js ${process.version}`,
        information: 'warren AMQP health check',
        connection_name: `${clientName} health check`,
        capabilities: { 'connection.blocked': true, authentication_failure_close: true },
      });
      const response = Buffer.from(`\0${cfg.user}\0${cfg.password ?? ''}`, 'utf8');
      conn.write(method(0, CONNECTION, M.startOk, clientProps, shortstr('PLAIN'), longstr(response), shortstr(start.locale)));

      const closedByServer = (f: Frame, what: string): CheckFailure => {
        const { code, text } = describeClose(f);
        conn.write(method(0, CONNECTION, M.closeOk));
        return new CheckFailure('L7STS', `${what}: ${code} ${text}`, code);
      };

      const tune = await conn.next();
      if (isMethod(tune, CONNECTION, M.close)) throw closedByServer(tune, 'login refused');
      if (isMethod(tune, CONNECTION, M.secure)) throw new CheckFailure('L7RSP', 'server asked for a SASL challenge (Connection.Secure), unsupported');
      if (!isMethod(tune, CONNECTION, M.tune)) throw unexpected(tune, 'login', 'Connection.Tune');
      let channelMax: number, frameMax: number, serverHb: number;
      try {
        const c = new Cursor(tune.payload);
        channelMax = c.u16();
        frameMax = c.u32();
        serverHb = c.u16();
      } catch (e) {
        throw new CheckFailure('L7RSP', `malformed Connection.Tune: ${(e as Error).message}`);
      }
      const heartbeat = serverHb === 0 ? 0 : Math.min(serverHb, heartbeatWanted);
      const ourFrameMax = frameMax === 0 ? 131072 : Math.min(frameMax, 131072);
      conn.write(
        Buffer.concat([
          method(0, CONNECTION, M.tuneOk, u16(channelMax), u32(ourFrameMax), u16(heartbeat)),
          method(0, CONNECTION, M.open, shortstr(cfg.vhost), shortstr(''), u8(0)),
        ]),
      );
      let openOk = await conn.next();
      while (isMethod(openOk, CONNECTION, M.blocked) || isMethod(openOk, CONNECTION, M.unblocked)) openOk = await conn.next();
      if (isMethod(openOk, CONNECTION, M.close)) throw closedByServer(openOk, `access to vhost '${cfg.vhost}' refused`);
      if (!isMethod(openOk, CONNECTION, M.openOk)) throw unexpected(openOk, 'login', 'Connection.Open-Ok');
      const loggedIn = `logged in as ${cfg.user} to vhost '${cfg.vhost}' on ${start.product}`;

      // ---- alarm probe
      let blockedReason: string | null = null;
      let warning: string | null = null;
      const sentinel = sentinels.get(key);
      if (sentinel && sentinel.alive && sentinel.blocked) {
        blockedReason = sentinel.reason;
      } else {
        conn.phase = 'probe';
        const contentHeader = Buffer.concat([u16(BASIC), u16(0), Buffer.alloc(8) /* body size 0 */, u16(0) /* no properties */]);
        conn.write(
          Buffer.concat([
            method(1, CHANNEL, M.chOpen, shortstr('')),
            method(1, BASIC, M.publish, u16(0), shortstr(''), shortstr(''), u8(0)),
            frame(FRAME_HEADER, 1, contentHeader),
            method(1, CHANNEL, M.chClose, u16(200), shortstr(''), u16(0), u16(0)),
          ]),
        );
        for (;;) {
          const f = await conn.next();
          if (isMethod(f, CHANNEL, M.chOpenOk)) continue;
          if (isMethod(f, CHANNEL, M.chCloseOk)) {
            // Not blocked. RabbitMQ 3.10 sometimes logs an [error] supervisor report
            // (rabbit_channel_sup_sup, shutdown_error) when Connection.Close follows a channel's
            // Close-Ok immediately: its channel supervisor is still terminating (measured: 3-6 in
            // 1000 checks). A short pause before closing the connection avoids it (0 in 6000).
            if (probeSettleMs > 0) await sleep(probeSettleMs);
            break;
          }
          if (isMethod(f, CONNECTION, M.unblocked)) continue;
          if (isMethod(f, CONNECTION, M.blocked)) {
            try {
              blockedReason = new Cursor(f.payload).shortstr() || 'blocked';
            } catch {
              blockedReason = 'blocked';
            }
            break;
          }
          if (isMethod(f, CHANNEL, M.chClose)) {
            // The broker refused the probe (e.g. no write permission on amq.default).
            const { code, text } = describeClose(f);
            conn.write(method(1, CHANNEL, M.chCloseOk));
            warning = `cannot probe for resource alarms (publish refused: ${code} ${text})`;
            if (probeSettleMs > 0) await sleep(probeSettleMs);
            break;
          }
          if (isMethod(f, CONNECTION, M.close)) throw closedByServer(f, 'connection closed by server');
          if (f.type === FRAME_METHOD && f.classId === BASIC) continue; // e.g. Basic.Return: ignore
          throw unexpected(f, 'probe', 'Channel.Close-Ok or Connection.Blocked');
        }
      }

      let res: CheckResult;
      if (blockedReason !== null) {
        const desc = `${loggedIn}, but the connection is blocked: ${blockedReason}`;
        res =
          cfg.onBlocked === 'warn'
            ? result(t0, { ok: true, status: 'L7OKC', code: null, desc, warning: `connection blocked: ${blockedReason}`, hardFailure: false })
            : result(t0, { ok: false, status: 'L7STS', code: null, desc, warning: null, hardFailure: false });
        if (conn.phase === 'probe') {
          // This connection published and is blocked: the broker reads nothing more from it.
          const existing = sentinels.get(key);
          if (!existing || !existing.alive) {
            sentinels.set(key, new Sentinel(key, conn, blockedReason, heartbeat, probeSettleMs, (s) => {
              if (sentinels.get(key) === s) sentinels.delete(key);
            }));
            keep = true;
          } else {
            conn.write(connectionClose()); // processed if and when the alarm clears
          }
          return res;
        }
      } else {
        res = result(t0, { ok: true, status: warning ? 'L7OKC' : 'L7OK', code: null, desc: loggedIn, warning, hardFailure: false });
      }

      // ---- polite close
      conn.phase = 'closing';
      conn.write(connectionClose());
      try {
        for (;;) {
          const f = await conn.next();
          if (isMethod(f, CONNECTION, M.closeOk)) break;
          if (isMethod(f, CONNECTION, M.close)) {
            conn.write(method(0, CONNECTION, M.closeOk));
            break;
          }
        }
      } catch (e) {
        // The verdict is made; only note that the close was not clean.
        const why = e instanceof CheckFailure ? e.message : String(e);
        res = { ...res, warning: res.warning ?? `no Connection.Close-Ok (${why})`, durationMs: Math.max(0, Date.now() - t0) };
        return res;
      }
      return { ...res, durationMs: Math.max(0, Date.now() - t0) };
    } catch (e) {
      if (e instanceof CheckFailure) {
        return result(t0, { ok: false, status: e.status, code: e.code, desc: e.message, warning: null, hardFailure: e.hard });
      }
      return result(t0, { ok: false, status: rspStatus(conn.phase), code: null, desc: `check error: ${(e as Error).message}`, warning: null, hardFailure: false });
    } finally {
      if (!keep) conn.destroy();
    }
  };

  const runner = run as AmqpCheckRunner;
  runner.dispose = () => {
    for (const s of [...sentinels.values()]) s.close();
    sentinels.clear();
  };
  runner.blockedTargets = () => [...sentinels.values()].filter((s) => s.alive && s.blocked).map((s) => s.key);
  return runner;
}
