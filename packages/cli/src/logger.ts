import { ConfigError } from '@dozer/core';

/** Log lines of the CLI: to stderr, with a time and a level; the status line is redrawn around them. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * How log lines look: `text` (default), `12:04:05.123 INFO  message`; or
 * `json`, one object a line, `{"time":"2026-12-03T12:04:05.123Z","level":"info","message":"…"}`,
 * for log collectors. Chosen with the environment variable DOZER_LOG_FORMAT.
 */
export type LogFormat = 'text' | 'json';

/** The log format DOZER_LOG_FORMAT asks for; throws a ConfigError for anything but `text` or `json`. */
export function logFormatFromEnv(env: NodeJS.ProcessEnv = process.env): LogFormat {
  const v = env.DOZER_LOG_FORMAT;
  if (v === undefined || v === '' || v === 'text') return 'text';
  if (v === 'json') return 'json';
  throw new ConfigError(`DOZER_LOG_FORMAT must be "text" or "json", got ${JSON.stringify(v)}`);
}

/** One log line (without its newline) in `format`. */
export function formatLogLine(
  format: LogFormat,
  level: 'info' | 'warn' | 'error' | 'progress',
  message: string,
  now: Date = new Date(),
): string {
  if (format === 'json') return JSON.stringify({ time: now.toISOString(), level, message });
  const tag = { info: 'INFO ', warn: 'WARN ', error: 'ERROR', progress: 'PROG ' }[level];
  return `${now.toISOString().slice(11, 23)} ${tag} ${message}`;
}

export function createLogger(
  write: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  format: LogFormat = logFormatFromEnv(),
): Logger {
  return {
    info: (m) => write(formatLogLine(format, 'info', m)),
    warn: (m) => write(formatLogLine(format, 'warn', m)),
    error: (m) => write(formatLogLine(format, 'error', m)),
  };
}
