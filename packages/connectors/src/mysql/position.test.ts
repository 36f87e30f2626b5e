import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import {
  type BinlogPosition,
  binlogFileName,
  boundary,
  compareBinlogPositions,
  formatPosition,
  parsePosition,
} from './position.js';

const at = (seq: number, offset: number, extra: Partial<BinlogPosition> = {}): BinlogPosition => ({
  base: 'mysql-bin',
  seq,
  offset,
  skip: 0,
  snapshotRows: null,
  gtid: null,
  ...extra,
});

describe('binlog positions', () => {
  it('round-trips every form through its string', () => {
    for (const p of [
      at(1, 4),
      at(12, 4711, { gtid: '0-1-15' }),
      at(12, 4711, { skip: 500 }),
      at(12, 4711, { skip: 500, gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:27' }),
      at(3, 256, { snapshotRows: 1000 }),
      at(1_000_000, 4_294_967_295),
    ]) {
      expect(parsePosition(formatPosition(p), 'here')).toEqual(p);
    }
    expect(formatPosition(at(12, 4711, { skip: 500, gtid: '0-1-15' }))).toBe(
      'mysql-bin.0000000012/000000004711/0000000500#0-1-15',
    );
  });

  it('orders snapshot progress, then boundaries, then positions inside the next transaction', () => {
    const ordered = [
      at(1, 100),
      at(1, 4000, { snapshotRows: 0 }),
      at(1, 4000, { snapshotRows: 999 }),
      at(1, 4000, { gtid: '0-1-9' }),
      at(1, 4000, { skip: 2 }),
      at(1, 4000, { skip: 10, gtid: '0-1-10' }),
      at(1, 4100),
      at(2, 4),
      at(10, 4),
      at(1_000_000, 4),
    ];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect(Math.sign(compareBinlogPositions(ordered[i]!, ordered[j]!)), `${i} vs ${j}`).toBe(
          Math.sign(i - j),
        );
      }
    }
    // Binlog positions (not snapshot progress) also sort as strings.
    const binlog = ordered.filter((p) => p.snapshotRows === null).map(formatPosition);
    expect([...binlog].sort()).toEqual(binlog);
  });

  it('maps file names to and from sequence numbers', () => {
    expect(boundary('mysql-bin.000012', 4711)).toEqual(at(12, 4711));
    expect(boundary('host.name-bin.1234567', 4)).toMatchObject({ base: 'host.name-bin', seq: 1234567 });
    expect(binlogFileName(at(12, 0))).toBe('mysql-bin.000012');
    expect(binlogFileName({ base: 'b', seq: 1234567 })).toBe('b.1234567');
  });

  it('rejects what it did not write, saying what it expected', () => {
    expect(() => parsePosition('0/16B3748', 'connection "m" (mysql)')).toThrow(ConnectorError);
    expect(() => parsePosition('mysql-bin.12/4711', 'connection "m" (mysql)')).toThrow(
      'connection "m" (mysql): "mysql-bin.12/4711" is not a mysql connector position (expected e.g. "mysql-bin.0000000012/000000004711")',
    );
  });
});
