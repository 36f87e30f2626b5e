import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from './load-config.js';
import { scanSqlOutputs } from './sql-outputs.js';
import { renderInitTemplate } from './template.js';
import type { ConnectionValidator } from './types.js';

describe('renderInitTemplate', () => {
  it('is a valid config that serves the output of its SQL', () => {
    const seen: unknown[] = [];
    const generator: ConnectionValidator = (config) => {
      seen.push(config);
      return [];
    };
    const config = parseConfig(renderInitTemplate(), '/tmp/app/dozer.yaml', {
      env: {},
      connectionValidators: new Map([['generator', generator]]),
    });
    expect(config.app_name).toBe('dozer-app');
    expect(config.home_dir).toBe('/tmp/app/.dozer');
    expect(seen).toEqual([{ seed: 42, rate: 20, tables: [{ name: 'trips', rows: 1000 }] }]);
    expect(config.sources.map((s) => s.name)).toEqual(['trips']);
    const outputs = scanSqlOutputs(config.sql ?? '');
    expect(outputs).toEqual(['big_trips']);
    expect(config.endpoints.map((e) => [e.path, e.table_name])).toEqual([['/big-trips', 'big_trips']]);
    expect(config.sql).toMatch(/SELECT .+\s+FROM trips\s+WHERE .+\s+INTO big_trips;/s);
  });

  it('explains every key with a comment', () => {
    const lines = renderInitTemplate().split('\n');
    for (const [i, line] of lines.entries()) {
      const key = /^\s*(?:- )?([a-z_]+):/.exec(line)?.[1];
      if (key === undefined || line.trimStart().startsWith('#')) continue;
      // Keys of the connector's own config are the connector's to explain; the rest must be explained here.
      const previous = lines[i - 1]?.trim() ?? '';
      const explained = previous.startsWith('#') || line.includes('#');
      const insideTablesList = /^\s{8,}/.test(line);
      if (!insideTablesList) expect({ key, explained }).toEqual({ key, explained: true });
    }
  });

  it('sets the app name, quoting it when YAML would read it as something else', () => {
    expect(parseConfig(renderInitTemplate('my-app'), 'dozer.yaml', { env: {} }).app_name).toBe('my-app');
    expect(renderInitTemplate('my-app')).toContain('\napp_name: my-app\n');
    for (const name of ['true', '1234', 'a: b', '# x', 'it\'s "quoted"']) {
      expect(parse(renderInitTemplate(name)).app_name).toBe(name);
    }
  });
});
