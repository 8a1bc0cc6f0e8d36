// The process logger: pino, one JSON object per line on stdout.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { component: 'tenant-proxy' }, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * Query parameters whose values are safe to log: list, watch, write and streaming options. Anything else
 * (continue tokens, exec commands, unknown parameters) is logged by name only.
 */
const LOGGED_QUERY_VALUES = new Set([
  'labelSelector', 'fieldSelector', 'watch', 'resourceVersion', 'resourceVersionMatch', 'limit', 'timeoutSeconds', 'allowWatchBookmarks',
  'sendInitialEvents', 'includeObject', 'dryRun', 'fieldManager', 'fieldValidation', 'force', 'gracePeriodSeconds', 'propagationPolicy',
  'orphanDependents', 'pretty', 'verbose', 'container', 'follow', 'previous', 'tailLines', 'timestamps', 'sinceSeconds', 'sinceTime',
  'limitBytes', 'stdin', 'stdout', 'stderr', 'tty', 'ports',
]);

/** A request URL for the log: the path, and the query with the values that may carry secrets replaced. */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const pairs = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq < 0) return pair;
    let name: string;
    try {
      name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
    } catch {
      name = '';
    }
    return LOGGED_QUERY_VALUES.has(name) ? pair : `${pair.slice(0, eq)}=redacted`;
  });
  return `${url.slice(0, q)}?${pairs.join('&')}`;
}
