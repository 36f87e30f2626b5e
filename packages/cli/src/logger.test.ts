import { describe, expect, it } from 'vitest';
import { createLogger, formatLogLine, logFormatFromEnv } from './logger.js';

describe('log lines', () => {
  const at = new Date('2026-12-03T12:04:05.123Z');

  it('are text by default and JSON objects with DOZER_LOG_FORMAT=json', () => {
    expect(formatLogLine('text', 'warn', 'slow "disk"', at)).toBe('12:04:05.123 WARN  slow "disk"');
    expect(formatLogLine('text', 'progress', 'trips: 5 ops', at)).toBe('12:04:05.123 PROG  trips: 5 ops');
    expect(JSON.parse(formatLogLine('json', 'error', 'slow "disk"\nnext', at))).toEqual({
      time: '2026-12-03T12:04:05.123Z',
      level: 'error',
      message: 'slow "disk"\nnext',
    });
    const lines: string[] = [];
    createLogger((l) => lines.push(l), 'json').info('started');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', message: 'started' });
  });

  it('refuses a format it does not know, saying which it knows', () => {
    expect(logFormatFromEnv({})).toBe('text');
    expect(logFormatFromEnv({ DOZER_LOG_FORMAT: 'json' })).toBe('json');
    expect(() => logFormatFromEnv({ DOZER_LOG_FORMAT: 'JSON ' })).toThrow(
      'DOZER_LOG_FORMAT must be "text" or "json", got "JSON "',
    );
  });
});
