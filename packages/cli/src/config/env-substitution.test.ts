// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about ${VAR} references written in YAML text.
import { ConfigError } from '@dozer/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandEnv } from './env-substitution.js';
import { parseConfig } from './load-config.js';

const HEAD = 'version: 1\napp_name: a\n';
const PG = `${HEAD}connections:\n  - name: pg\n    kind: postgres\n    config:\n`;

function configOf(configLines: string, env: Record<string, string | undefined>): unknown {
  return parseConfig(`${PG}${configLines}`, 'dozer.yaml', { env }).connections[0]?.config;
}

function errorOf(text: string, env: Record<string, string | undefined>): string {
  try {
    parseConfig(text, 'dozer.yaml', { env });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('expandEnv', () => {
  it('replaces variables, applies defaults and unescapes $$', () => {
    const env = { USER: 'dozer', EMPTY: '' };
    expect(expandEnv('postgres://${USER}@host', env)).toEqual({
      ok: true,
      value: 'postgres://dozer@host',
      substituted: true,
    });
    expect(expandEnv('${HOST:-localhost}:${PORT:-5432}', env)).toMatchObject({ value: 'localhost:5432' });
    expect(expandEnv('${EMPTY:-fallback}', env)).toMatchObject({ value: 'fallback' });
    expect(expandEnv('[${EMPTY}]', env)).toMatchObject({ ok: true, value: '[]' });
    expect(expandEnv('cost: $$5, ${USER}$$', env)).toMatchObject({ value: 'cost: $5, dozer$' });
    expect(expandEnv('$$${USER}', env)).toMatchObject({ value: '$dozer' });
    expect(expandEnv('p@$w0rd $ x', env)).toEqual({ ok: true, value: 'p@$w0rd $ x', substituted: false });
  });

  it('gives back any text whose dollars are doubled, unchanged', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const result = expandEnv(text.replaceAll('$', '$$$$'), {});
        expect(result).toMatchObject({ ok: true, value: text });
      }),
    );
  });

  it('does not expand references inside values', () => {
    expect(expandEnv('${A}', { A: '${B}', B: 'no' })).toMatchObject({ value: '${B}' });
  });

  it('rejects unset variables, bad names and unterminated references', () => {
    expect(expandEnv('x ${NOPE}', {})).toEqual({
      ok: false,
      index: 2,
      message: 'environment variable NOPE is not set; set it, or give a default with ${NOPE:-default}',
    });
    expect(expandEnv('${1A}', {})).toMatchObject({ ok: false, index: 0 });
    expect(expandEnv('abc ${OPEN', {})).toMatchObject({
      ok: false,
      index: 4,
      message: 'unterminated "${": close it with "}", or write "$$" for a literal "$"',
    });
  });
});

describe('environment variables in dozer.yaml', () => {
  it('substitutes secrets in connector settings, keeping them strings', () => {
    expect(
      configOf(
        '      user: ${PG_USER:-postgres}\n      password: ${PG_PASSWORD}\n      url: "pg://$${literal}"\n',
        {
          PG_PASSWORD: '12345',
        },
      ),
    ).toEqual({ user: 'postgres', password: '12345', url: 'pg://${literal}' });
  });

  it('names the variable, the key path and the exact line and column when one is unset', () => {
    expect(errorOf(`${PG}      host: db\n      password: "pw-\${PG_PASSWORD}"\n`, {})).toBe(
      'dozer.yaml:8:21: connections[0].config.password: environment variable PG_PASSWORD is not set; set it, or give a default with ${PG_PASSWORD:-default}',
    );
  });

  it('reports every unset variable at once, and nothing else about those values', () => {
    const text = `${HEAD}api:\n  rest:\n    port: \${REST_PORT}\n  grpc:\n    port: \${GRPC_PORT}\n`;
    expect(errorOf(text, {}).split('\n')).toEqual([
      'dozer.yaml:5:11: api.rest.port: environment variable REST_PORT is not set; set it, or give a default with ${REST_PORT:-default}',
      'dozer.yaml:7:11: api.grpc.port: environment variable GRPC_PORT is not set; set it, or give a default with ${GRPC_PORT:-default}',
    ]);
  });

  it("turns whole numbers into numbers in Dozer's own numeric keys", () => {
    const text = `${HEAD}api:\n  rest:\n    port: \${PORT}\n  max_limit: "\${MAX:-100}"\n`;
    const config = parseConfig(text, 'dozer.yaml', { env: { PORT: '9000' } });
    expect(config.api.rest.port).toBe(9000);
    expect(config.api.max_limit).toBe(100);
    expect(errorOf(text, { PORT: 'http' })).toBe(
      'dozer.yaml:5:11: api.rest.port: expected a number, got string "http"',
    );
  });

  it('cannot change the structure of the file', () => {
    expect(configOf('      password: ${PW}\n', { PW: 'a: b\nc: [d]' })).toEqual({ password: 'a: b\nc: [d]' });
  });

  it('expands variables in home_dir and the SQL too, and leaves keys alone', () => {
    const config = parseConfig(
      `${HEAD}home_dir: \${STATE:-/var/dozer}\nsql: SELECT * FROM t INTO \${OUT}\n`,
      '/app/dozer.yaml',
      { env: { OUT: 'x' } },
    );
    expect(config.home_dir).toBe('/var/dozer');
    expect(config.sql).toBe('SELECT * FROM t INTO x');
    expect(errorOf(`${HEAD}\${KEY}: 1\n`, {})).toBe(
      'dozer.yaml:3:1: unknown key "${KEY}" at the top level; expected one of: version, app_name, home_dir, connections, sources, sql, threads, endpoints, api, nodes, checkpoint',
    );
  });

  it('reads process.env by default', () => {
    const name = 'DOZER_CONFIG_TEST_APP_NAME';
    process.env[name] = 'from-env';
    try {
      expect(parseConfig(`version: 1\napp_name: \${${name}}\n`, 'dozer.yaml').app_name).toBe('from-env');
    } finally {
      delete process.env[name];
    }
  });
});
