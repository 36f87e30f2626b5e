import { DateValue, Decimal, Duration, Json, Timestamp } from '@dozer/core';
import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { checkServerSettings, type ServerSettings } from './catalog.js';
import {
  type ColumnInfo,
  mapColumn,
  parseTime,
  selectExpression,
  valueFromBinlog,
  valueFromText,
} from './types.js';

const col = (dataType: string, columnType = dataType, extra: Partial<ColumnInfo> = {}): ColumnInfo => ({
  name: 'c',
  dataType,
  columnType,
  nullable: false,
  precision: null,
  scale: null,
  isJson: false,
  ...extra,
});
const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

describe('mysql column mapping', () => {
  it('maps each MySQL type to the Dozer type that holds it without loss', () => {
    const cases: [ColumnInfo, string][] = [
      [col('tinyint', 'tinyint(1)'), 'int'],
      [col('bigint', 'bigint(20) unsigned'), 'uint'],
      [col('decimal', 'decimal(10,2)', { precision: 10, scale: 2 }), 'decimal'],
      [col('float'), 'float'],
      [col('double'), 'float'],
      [col('bit', 'bit(1)'), 'boolean'],
      [col('bit', 'bit(9)'), 'uint'],
      [col('varchar', 'varchar(10)'), 'string'],
      [col('enum', "enum('a','b')"), 'string'],
      [col('set', "set('a','b')"), 'string'],
      [col('mediumtext'), 'text'],
      [col('longtext', 'longtext', { isJson: true }), 'json'],
      [col('json'), 'json'],
      [col('varbinary', 'varbinary(3)'), 'binary'],
      [col('longblob'), 'binary'],
      [col('date'), 'date'],
      [col('datetime', 'datetime(6)'), 'timestamp'],
      [col('timestamp'), 'timestamp'],
      [col('time'), 'duration'],
      [col('year', 'year(4)'), 'int'],
    ];
    for (const [c, type] of cases) expect(mapColumn(c, 0)!.field.type, c.columnType).toBe(type);
    expect(mapColumn(col('decimal', 'decimal(10,2)', { precision: 10, scale: 2 }), 0)!.field).toEqual({
      name: 'c',
      type: 'decimal',
      nullable: false,
      precision: 10,
      scale: 2,
    });
  });

  it('makes temporal columns nullable because zero dates arrive as NULL', () => {
    expect(mapColumn(col('date'), 0)!.field.nullable).toBe(true);
    expect(mapColumn(col('int'), 0)!.field.nullable).toBe(false);
    const d = mapColumn(col('datetime'), 0)!;
    expect(valueFromText(d, text('0000-00-00 00:00:00'))).toBeNull();
    expect(valueFromBinlog(d, '0000-00-00 00:00:00')).toBeNull();
  });

  it('leaves spatial and other unknown types unmapped', () => {
    expect(mapColumn({ ...col('geometry'), name: 'shape' }, 3)).toBeNull();
    expect(mapColumn(col('point'), 0)).toBeNull();
    expect(mapColumn(col('vector', 'vector(3)'), 0)).toBeNull();
  });

  it('widens FLOAT to DOUBLE in the snapshot so the exact float32 value comes back', () => {
    expect(selectExpression(mapColumn({ ...col('float'), name: 'we`ird' }, 0)!)).toBe(
      'CAST(`we``ird` AS DOUBLE)',
    );
    expect(selectExpression(mapColumn(col('double'), 0)!)).toBe('`c`');
  });

  it('reads text-protocol and binlog values to the same Dozer values', () => {
    const same = (c: ColumnInfo, raw: string | Uint8Array, binlog: unknown, want: unknown) => {
      const m = mapColumn(c, 0)!;
      expect(valueFromText(m, typeof raw === 'string' ? text(raw) : raw)).toEqual(want);
      expect(valueFromBinlog(m, binlog)).toEqual(want);
    };
    same(
      col('bigint', 'bigint unsigned'),
      '18446744073709551615',
      '18446744073709551615',
      18446744073709551615n,
    );
    same(col('int'), '-5', -5, -5n);
    same(
      col('decimal', 'decimal(6,3)', { precision: 6, scale: 3 }),
      '1.500',
      '1.500',
      Decimal.parse('1.500'),
    );
    same(col('bit', 'bit(16)'), new Uint8Array([1, 2]), Buffer.from([1, 2]), 258n);
    same(col('bit', 'bit(1)'), new Uint8Array([1]), Buffer.from([1]), true);
    same(col('date'), '2024-02-29', '2024-02-29', DateValue.parse('2024-02-29'));
    same(
      col('timestamp'),
      '2024-01-01 00:00:00.5',
      '2024-01-01 00:00:00.5',
      Timestamp.parse('2024-01-01T00:00:00.5Z'),
    );
    same(col('time'), '-01:00:00.25', '-01:00:00.25', Duration.fromMicros(-3_600_250_000n));
    same(col('json'), '{"a":1}', '{"a":1}', new Json({ a: 1 }));
    same(col('varbinary'), new Uint8Array([0, 255]), Buffer.from([0, 255]), new Uint8Array([0, 255]));
    // YEAR 0000 is stored as 0 years after 1900; the binlog reader adds 1900 back.
    same(col('year'), '0000', 1900, 0n);
    same(col('year'), '1901', 1901, 1901n);
    // ENUM's invalid-value index 0 is '' in queries; the binlog reader has no label for it.
    same(col('enum', "enum('a')"), '', undefined, '');
    same(col('varchar'), 'héllo', 'héllo', 'héllo');
    // A text column in a charset the binlog reader does not know arrives as bytes.
    same(col('text'), 'héllo', Buffer.from('héllo'), 'héllo');
  });

  it('parses TIME over its whole range', () => {
    expect(parseTime('838:59:59.999999')).toEqual(Duration.fromMicros(3_020_399_999_999n));
    expect(parseTime('-838:59:59')).toEqual(Duration.fromMicros(-3_020_399_000_000n));
    expect(parseTime('00:00:00')).toEqual(Duration.fromMicros(0n));
    expect(() => parseTime('1 day')).toThrow('"1 day" is not a MySQL TIME value');
  });
});

describe('server settings check', () => {
  const good: ServerSettings = {
    version: '10.11.6-MariaDB',
    logBin: true,
    binlogFormat: 'ROW',
    binlogRowImage: 'FULL',
    serverId: 1,
  };
  const where = 'connection "shop" (mysql)';

  it('accepts a ROW binlog with full row images', () => {
    expect(checkServerSettings(good, 7, where)).toBeNull();
  });

  it('says how to switch the binlog to ROW format, and that it is not retryable', () => {
    const e = checkServerSettings({ ...good, binlogFormat: 'MIXED' }, 7, where);
    expect(e).toBeInstanceOf(ConnectorError);
    expect(e!.retryable).toBe(false);
    expect(e!.message).toBe(
      `connection "shop" (mysql): the server's binlog_format is MIXED, but the mysql connector needs ROW (statements cannot be turned into row changes): set it with SET GLOBAL binlog_format = 'ROW' and under [mysqld] in the server's my.cnf so it survives a restart`,
    );
  });

  it('explains a missing binlog, partial row images and a clashing server_id', () => {
    expect(checkServerSettings({ ...good, logBin: false }, 7, where)!.message).toMatch(
      /binary log is off \(log_bin = OFF\).*start the server with log_bin/,
    );
    expect(checkServerSettings({ ...good, binlogRowImage: 'MINIMAL' }, 7, where)!.message).toMatch(
      /binlog_row_image is MINIMAL, but the mysql connector needs FULL .*SET GLOBAL binlog_row_image = 'FULL'/,
    );
    expect(checkServerSettings(good, 1, where)!.message).toBe(
      `connection "shop" (mysql): server_id 1 is the server's own server_id; set "server_id" in the connection's config to a number no server or replica uses`,
    );
  });
});
