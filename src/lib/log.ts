// Structured logs for both daemons: pino JSON on stdout, so journald keeps them under systemd.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(daemon: string, destination?: DestinationStream): Logger {
  const options = {
    name: `warren-${daemon}`,
    level: process.env.WARREN_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
