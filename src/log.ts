import type { LogLevel } from './config.ts';

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/**
 * Longest string written in a log line (message or field value, stacks included); longer ones are cut and say so.
 * Span text reaches the logs (model names, rejection reasons): a 1 MiB model name must not make a 1 MiB line.
 */
export const MAX_LOG_TEXT_LENGTH = 2048;
/** Items of an array field written, at most. */
const MAX_LOG_ARRAY_ITEMS = 32;
/** Lines of one kind (level + message) written per window; the rest are counted and summed up when it ends. */
export const LOG_LINES_PER_KIND = 10;
export const LOG_WINDOW_MS = 60_000;
/** Kinds tracked at once; messages are fixed texts, so this is only reached by a bug, and then the counts restart. */
const MAX_KINDS = 1000;

export interface LoggerOptions {
  readonly write?: (line: string) => void;
  readonly now?: () => number;
  /** Lines of one kind per window (LOG_LINES_PER_KIND). */
  readonly linesPerKind?: number;
  readonly windowMs?: number;
}

interface KindWindow {
  readonly message: string;
  startedMs: number;
  written: number;
  suppressed: number;
  readonly level: LogLevel;
}

/**
 * One JSON line per event on stderr; below `minimum` nothing is written. Never give it secrets. A kind is a level
 * and a message: keep messages fixed and put what varies in fields. Past `linesPerKind` lines of a kind within a
 * window, further ones are only counted, and one line per kind says how many were suppressed once the window ends.
 */
export function createLogger(minimum: LogLevel, options: LoggerOptions = {}): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? Date.now;
  const linesPerKind = options.linesPerKind ?? LOG_LINES_PER_KIND;
  const windowMs = options.windowMs ?? LOG_WINDOW_MS;
  const kinds = new Map<string, KindWindow>();
  let summaryTimer: NodeJS.Timeout | undefined;

  const summarise = (atMs: number, all: boolean) => {
    for (const [kind, window] of kinds) {
      if (!all && atMs - window.startedMs < windowMs) continue;
      if (window.suppressed > 0) {
        write(logLine(window.level, 'log lines suppressed', {
          suppressedMessage: window.message, suppressed: window.suppressed, windowSeconds: windowMs / 1000,
        }, atMs));
      }
      kinds.delete(kind);
    }
  };
  const scheduleSummary = () => {
    if (summaryTimer !== undefined) return;
    summaryTimer = setTimeout(() => {
      summaryTimer = undefined;
      summarise(now(), false);
      if ([...kinds.values()].some((window) => window.suppressed > 0)) scheduleSummary();
    }, windowMs);
    summaryTimer.unref();
  };

  return (level, message, fields) => {
    if (ORDER[level] < ORDER[minimum]) return;
    const atMs = now();
    const kind = `${level} ${message}`;
    let window = kinds.get(kind);
    if (window !== undefined && atMs - window.startedMs >= windowMs) {
      summarise(atMs, false);
      window = undefined;
    }
    if (window === undefined) {
      if (kinds.size >= MAX_KINDS) summarise(atMs, true);
      window = { message, startedMs: atMs, written: 0, suppressed: 0, level };
      kinds.set(kind, window);
    }
    if (window.written >= linesPerKind) {
      window.suppressed++;
      scheduleSummary();
      return;
    }
    window.written++;
    write(logLine(level, message, fields, atMs));
  };
}

/** The JSON line of one event, every string in it bounded (MAX_LOG_TEXT_LENGTH). Used by worker threads too. */
export function logLine(level: LogLevel, message: string, fields: Record<string, unknown> | undefined, atMs: number = Date.now()): string {
  return `${JSON.stringify({ time: new Date(atMs).toISOString(), level, message, ...fields }, boundValue)}\n`;
}

function boundValue(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return boundLogText(value);
  if (Array.isArray(value) && value.length > MAX_LOG_ARRAY_ITEMS) {
    return [...value.slice(0, MAX_LOG_ARRAY_ITEMS), `(${value.length - MAX_LOG_ARRAY_ITEMS} more items cut)`];
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/** `text`, or its start and a note of how long it was; never splits a surrogate pair. */
export function boundLogText(text: string): string {
  if (text.length <= MAX_LOG_TEXT_LENGTH) return text;
  let end = MAX_LOG_TEXT_LENGTH;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}... (cut from ${text.length} characters)`;
}

/**
 * Routes process warnings (Node's own, and the ledger threads' process.emitWarning) to JSON lines instead of Node's
 * plain-text printer. The kind is the message up to its first ": ", so that repeats of one failure with different
 * details are rate-limited together.
 */
export function routeWarnings(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error) => {
    const separator = warning.message.indexOf(': ');
    const message = separator > 0 ? warning.message.slice(0, separator) : warning.message;
    const fields: Record<string, unknown> = { warning: warning.name };
    if (separator > 0) fields.detail = warning.message.slice(separator + 2);
    log('warn', message, fields);
  });
}
