import type { LogLevel } from './config.ts';

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

/** One JSON line per event on stderr; below `minimum` nothing is written. Never give it secrets. */
export function createLogger(minimum: LogLevel, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  return (level, message, fields) => {
    if (ORDER[level] < ORDER[minimum]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
  };
}
