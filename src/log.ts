// The process logger: pino, one JSON object per line on stdout.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { component: 'tenant-proxy' }, timestamp: pino.stdTimeFunctions.isoTime });
}
