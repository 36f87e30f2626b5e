import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closestMatch, editDistance, formatPath } from './issues.js';

describe('did-you-mean', () => {
  it('counts a swap of neighbouring letters as one edit', () => {
    expect(editDistance('gne', 'gen')).toBe(1);
    expect(editDistance('conection', 'connection')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('is a distance: zero only for equal strings, symmetric, bounded by the longer length', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        expect(d === 0).toBe(a === b);
        expect(editDistance(b, a)).toBe(d);
        expect(d).toBeLessThanOrEqual(Math.max(a.length, b.length));
      }),
    );
  });

  it('suggests only close candidates, ignoring case', () => {
    expect(closestMatch('gne', ['postgres', 'gen'])).toBe('gen');
    expect(closestMatch('Connection', ['name', 'connection'])).toBe('connection');
    expect(closestMatch('xyz', ['gen', 'pg'])).toBeUndefined();
    expect(closestMatch('b', ['a'])).toBeUndefined();
  });

  it('writes paths the way the file nests them', () => {
    expect(formatPath(['sources', 0, 'connection'])).toBe('sources[0].connection');
    expect(formatPath(['connections', 1, 'config', 'my-key', 2])).toBe('connections[1].config["my-key"][2]');
  });
});
