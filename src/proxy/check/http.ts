// HTTP health check (HAProxy's `option httpchk` + `http-check expect`), typically against the
// RabbitMQ management API on the server line's `port 15672`.
//
// Each check uses its own undici Client on a fresh connection that carries exactly one request
// (`reset: true` => `connection: close`) and is destroyed when the check ends, on every path:
// like HAProxy, which opens a new connection per check, and nothing is left to leak between
// checks. The response body is discarded with a bounded read.
//
// Results: L7OK (status accepted), L7STS (status refused; code = HTTP status), L7TOUT (connected
// but no complete answer in time), L7RSP (garbage or connection closed/reset mid-exchange),
// L4CON (could not connect; hardFailure when refused), L4TOUT (connect did not complete in time).
// Without an expect rule, 2xx and 3xx pass (HAProxy's httpchk default).

import { STATUS_CODES } from 'node:http';
import type { Client as UndiciClient } from 'undici';

// undici is ~20 MiB of RSS once loaded: imported by the first HTTP check, so that a proxy
// without `option httpchk` never pays for it (issue 6: the proxy's idle footprint).
let undici: Promise<{ Client: typeof UndiciClient }> | null = null;
import type { HttpCheckConfig } from '../../config/types.js';
import type { CheckResult, CheckRunner } from './result.js';

/** How much of a response body is read (and thrown away) before the connection is dropped. */
const BODY_LIMIT = 64 * 1024;

export function httpCheck(cfg: HttpCheckConfig): CheckRunner {
  const accepts = statusMatcher(cfg);
  const method = (cfg.method || 'GET').toUpperCase();
  const path = cfg.uri ? (cfg.uri.startsWith('/') ? cfg.uri : `/${cfg.uri}`) : '/';
  const headers: Record<string, string> = { 'user-agent': 'warren-check', accept: '*/*' };
  for (const [k, v] of Object.entries(cfg.headers ?? {})) headers[k.toLowerCase()] = v;
  if (cfg.auth) headers['authorization'] = `Basic ${Buffer.from(cfg.auth, 'utf8').toString('base64')}`;

  return async (target, timeoutMs) => {
    const { Client } = await (undici ??= import('undici'));
    const start = performance.now();
    const elapsed = (): number => Math.round(performance.now() - start);
    const budget = Math.max(1, timeoutMs);
    const client = new Client(`http://${urlHost(target.host)}:${target.port}`, {
      connect: { timeout: budget },
      headersTimeout: budget,
      bodyTimeout: budget,
      keepAliveTimeout: 1,
      pipelining: 1,
    });
    let connected = false;
    client.on('connect', () => {
      connected = true;
    });
    client.on('connectionError', () => {});
    client.on('disconnect', () => {});

    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort(new Error('check timeout'));
    }, budget);

    try {
      const res = await client.request({
        path,
        method,
        headers,
        signal: abort.signal,
        reset: true,
        headersTimeout: budget,
        bodyTimeout: budget,
      });
      const code = res.statusCode;
      const durationMs = elapsed();
      const phrase = STATUS_CODES[code] ?? '';
      // discard the body, bounded in size and by the check deadline; its fate does not matter
      await res.body.dump({ limit: BODY_LIMIT, signal: abort.signal }).catch(() => {});
      if (accepts(code)) {
        return { ok: true, status: 'L7OK', code, desc: phrase, durationMs, warning: null, hardFailure: false };
      }
      return { ok: false, status: 'L7STS', code, desc: phrase || `HTTP status ${code}`, durationMs, warning: null, hardFailure: false };
    } catch (err) {
      return { ...classifyError(err, timedOut, connected, timeoutMs), durationMs: elapsed(), warning: null, code: null };
    } finally {
      clearTimeout(timer);
      await client.destroy().catch(() => {});
    }
  };
}

/** The `http-check expect` rule as a predicate: status list, status regex, or 2xx/3xx. */
export function statusMatcher(cfg: Pick<HttpCheckConfig, 'expectStatus' | 'expectStatusRegex'>): (code: number) => boolean {
  const list = cfg.expectStatus ?? [];
  const re = cfg.expectStatusRegex ? new RegExp(cfg.expectStatusRegex) : null;
  if (list.length === 0 && re === null) return (code) => code >= 200 && code < 400;
  return (code) => list.includes(code) || (re !== null && re.test(String(code)));
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function errCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (e && typeof e.code === 'string') {
    // undici wraps socket errors; the errno is on the cause
    if (e.code === 'UND_ERR_SOCKET' && e.cause && typeof e.cause.code === 'string') return e.cause.code;
    return e.code;
  }
  if (e && e.cause && typeof e.cause.code === 'string') return e.cause.code;
  return undefined;
}

function classifyError(
  err: unknown,
  timedOut: boolean,
  connected: boolean,
  timeoutMs: number,
): Pick<CheckResult, 'ok' | 'status' | 'desc' | 'hardFailure'> {
  const code = errCode(err);
  const fail = (status: string, desc: string, hardFailure = false) => ({ ok: false, status, desc, hardFailure });
  if (timedOut) {
    return connected ? fail('L7TOUT', `no complete response within ${timeoutMs}ms`) : fail('L4TOUT', `connect timeout after ${timeoutMs}ms`);
  }
  switch (code) {
    case 'ECONNREFUSED':
      return fail('L4CON', 'Connection refused', true);
    case 'ECONNRESET':
      return connected ? fail('L7RSP', 'Connection reset by peer', true) : fail('L4CON', 'Connection reset by peer', true);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return fail('L4TOUT', `connect timeout after ${timeoutMs}ms`);
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return fail('L7TOUT', `no complete response within ${timeoutMs}ms`);
    case 'EHOSTUNREACH':
      return fail('L4CON', 'No route to host');
    case 'ENETUNREACH':
      return fail('L4CON', 'Network is unreachable');
    case 'UND_ERR_SOCKET':
      return connected ? fail('L7RSP', 'connection closed by server without a response') : fail('L4CON', errMessage(err));
    case 'UND_ERR_HEADERS_OVERFLOW':
      return fail('L7RSP', 'response headers too large');
    case 'UND_ERR_INVALID_ARG':
      return fail('SOCKERR', `bad check request: ${errMessage(err)}`);
  }
  if (code?.startsWith('HPE_') || (err as Error | null)?.name === 'HTTPParserError') {
    return fail('L7RSP', 'Invalid HTTP response');
  }
  return connected ? fail('L7RSP', errMessage(err)) : fail('L4CON', errMessage(err));
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
