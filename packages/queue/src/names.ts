import { QueueError } from './errors.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function badName(name: unknown): boolean {
  return typeof name !== 'string' || name.length === 0 || name.length > 200 || CONTROL.test(name);
}

/** Log names: 1..200 characters, no control characters. */
export function validateLogName(name: string): void {
  if (badName(name)) {
    throw new QueueError(
      `invalid log name ${JSON.stringify(name)}: expected 1 to 200 characters without control characters`,
    );
  }
}

/** Reader names: 1..200 characters, no control characters. */
export function validateReaderName(reader: string): void {
  if (badName(reader)) {
    throw new QueueError(
      `invalid reader name ${JSON.stringify(reader)}: expected 1 to 200 characters without control characters`,
      { code: 'INVALID_QUERY' },
    );
  }
}

/** A log name as one object key segment (percent-encoded; never starting with "."). */
export function logKey(name: string): string {
  const encoded = encodeURIComponent(name);
  return encoded.startsWith('.') ? `%2E${encoded.slice(1)}` : encoded;
}
