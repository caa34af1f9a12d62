// The result every health-check runner (tcp, amqp, http) returns, and the runner's signature.
// Status codes follow HAProxy's check status names so that stats pages/CSV can show them as is.

export type CheckStatus =
  | 'L4OK' // layer 4 ok (tcp check)
  | 'L4TOUT' // layer 4 (connect) timeout
  | 'L4CON' // layer 4 connection problem (refused, reset, unreachable)
  | 'L6OK' // layer 6 (protocol handshake) ok
  | 'L6TOUT' // layer 6 timeout
  | 'L6RSP' // layer 6 invalid response (garbage, wrong protocol)
  | 'L7OK' // layer 7 ok
  | 'L7OKC' // layer 7 ok, conditionally (a warning)
  | 'L7TOUT' // layer 7 timeout
  | 'L7RSP' // layer 7 invalid response
  | 'L7STS'; // layer 7 response error (bad status, refused login, blocked connection)

export interface CheckResult {
  ok: boolean;
  /** HAProxy check status code: L4OK, L4TOUT, L4CON, L6OK, L6TOUT, L6RSP, L7OK, L7OKC, L7TOUT, L7RSP, L7STS. */
  status: CheckStatus | string;
  /** Protocol-level code when there is one (HTTP status, AMQP reply code), else null. */
  code: number | null;
  /** Human-readable description (HAProxy's "check_desc"). */
  desc: string;
  durationMs: number;
  /** Set when the check passed but something deserves attention (e.g. a blocked AMQP connection with onBlocked 'warn'). */
  warning: string | null;
  /** refused or reset by the server: the scheduler re-checks at once */
  hardFailure: boolean;
}

export type CheckRunner = (target: { host: string; port: number }, timeoutMs: number) => Promise<CheckResult>;
