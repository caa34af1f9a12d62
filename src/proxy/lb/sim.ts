// A plain, mutable LbServer and a replayer that drives a balancer through a scenario of
// sequential client connections and runtime changes. The unit tests use it, and the HAProxy
// comparison (test/harness/haproxy-sequence.ts) replays the very same scenario through the real
// HAProxy. Handy too to preview what an algorithm does with given weights.

import type { BalanceAlgorithm, HashType } from '../../config/types.js';
import { createBalancer } from './index.js';
import type { Balancer, LbServer } from './types.js';

export class SimServer implements LbServer {
  usable = true;
  sessions = 0;
  queued = 0;
  constructor(
    readonly index: number,
    readonly name: string,
    public weight = 1,
    readonly backup = false,
    public maxconn = 0,
  ) {}
}

export interface SimServerSpec {
  name: string;
  weight?: number;
  backup?: boolean;
  maxconn?: number;
  /** Starts unusable (like HAProxy's `disabled`, maintenance). */
  disabled?: boolean;
  /** Connecting to it fails (the session is redispatched when `redispatch` is on). */
  dead?: boolean;
}

export function simServers(specs: readonly SimServerSpec[]): SimServer[] {
  return specs.map((s, i) => {
    const srv = new SimServer(i, s.name, s.weight ?? 1, s.backup ?? false, s.maxconn ?? 0);
    if (s.disabled) srv.usable = false;
    return srv;
  });
}

/** A step: N sequential connections (closed at once, or held open until a `release`), close all
 *  held connections, or a runtime command in HAProxy's CLI syntax (backend `lb`):
 *  `set weight lb/S W`, `disable server lb/S`, `enable server lb/S`. */
export type SimStep = { connections: number; hold?: boolean } | { release: true } | { command: string };

export interface SimScenario {
  balance: BalanceAlgorithm;
  hashType?: HashType;
  allbackups?: boolean;
  /** A failed connect is retried on another server (pick with `avoid`). */
  redispatch?: boolean;
  servers: SimServerSpec[];
  /** A number of connections, or a list of steps. */
  steps: number | SimStep[];
}

/** Open one session on `s` (sessions++ then loadChanged, as the runtime must do). */
function take(b: Balancer, s: SimServer): void {
  s.sessions++;
  b.loadChanged(s);
}

function drop(b: Balancer, s: SimServer): void {
  s.sessions--;
  b.loadChanged(s);
}

/** The server name each connection of the scenario reaches (null: none), from `clientKey`. */
export function replay(sc: SimScenario, clientKey = '127.0.0.1'): (string | null)[] {
  const servers = simServers(sc.servers);
  const b = createBalancer(sc.balance, sc.hashType ?? 'map-based', servers, { allbackups: sc.allbackups ?? false });
  const dead = new Set(sc.servers.filter((s) => s.dead).map((s) => s.name));
  const byName = (name: string): SimServer => {
    const s = servers.find((x) => x.name === name);
    if (!s) throw new Error(`unknown server ${name}`);
    return s;
  };
  const steps: SimStep[] = typeof sc.steps === 'number' ? [{ connections: sc.steps }] : sc.steps;
  const out: (string | null)[] = [];
  const held: SimServer[] = [];
  for (const step of steps) {
    if ('command' in step) {
      let m: RegExpMatchArray | null;
      if ((m = step.command.match(/^set weight lb\/(\S+) (\d+)$/))) byName(m[1]!).weight = Number(m[2]);
      else if ((m = step.command.match(/^disable server lb\/(\S+)$/))) byName(m[1]!).usable = false;
      else if ((m = step.command.match(/^enable server lb\/(\S+)$/))) byName(m[1]!).usable = true;
      else throw new Error(`unsupported command: ${step.command}`);
      b.update();
      continue;
    }
    if ('release' in step) {
      for (const s of held.splice(0)) drop(b, s);
      continue;
    }
    for (let i = 0; i < step.connections; i++) {
      let s = b.pick(clientKey, null) as SimServer | null;
      if (s && dead.has(s.name)) {
        // the connect fails: the session leaves that server and is redispatched, avoiding it
        take(b, s);
        drop(b, s);
        s = sc.redispatch ? (b.pick(clientKey, s) as SimServer | null) : null;
        if (s && dead.has(s.name)) s = null;
      }
      out.push(s ? s.name : null);
      if (!s) continue;
      take(b, s);
      if (step.hold) held.push(s);
      else drop(b, s);
    }
  }
  return out;
}

/** Names picked by `count` sequential short connections from `clientKey`. */
export function sequence(b: Balancer, count: number, clientKey = '127.0.0.1'): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    const s = b.pick(clientKey, null) as SimServer | null;
    out.push(s ? s.name : null);
    if (s) {
      take(b, s);
      drop(b, s);
    }
  }
  return out;
}
