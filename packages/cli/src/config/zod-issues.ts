import type * as z from 'zod';
import {
  type ConfigIssue,
  type ConfigPath,
  closestMatch,
  describeValue,
  didYouMean,
  formatPath,
} from './issues.js';
import { allowedKeysAt } from './schema.js';
import type { YamlLocator } from './yaml-locator.js';

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
};

/** Turns zod's issues into located, user-facing config issues. */
export function zodIssuesToConfigIssues(
  zodIssues: readonly z.core.$ZodIssue[],
  data: unknown,
  locator: YamlLocator,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  // A misspelt key shows up twice: as unknown, and its intended key as missing. Say it once.
  const renamed = new Set<string>();
  for (const issue of zodIssues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    for (const key of issue.keys) {
      const meant = closestMatch(key, allowedKeysAt(path));
      if (meant !== undefined) renamed.add(formatPath([...path, meant]));
    }
  }
  for (const issue of zodIssues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const value = valueAt(data, path);
    const where = formatPath(path);
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const allowed = allowedKeysAt(path);
          const hint = didYouMean(key, allowed) || `; expected one of: ${allowed.join(', ')}`;
          const inWhat = path.length === 0 ? 'at the top level' : `in ${where}`;
          out.push({
            file: locator.file,
            ...locator.positionOfKey(path, key),
            path: [...path, key],
            message: `unknown key ${JSON.stringify(key)} ${inWhat}${hint}`,
          });
        }
        break;
      case 'invalid_type': {
        const missing = value === undefined && isPlainObject(valueAt(data, path.slice(0, -1)));
        if (missing && renamed.has(where)) break;
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        const message = missing
          ? 'required key is missing'
          : `expected ${expected}, got ${describeValue(value)}`;
        out.push(locator.issueAt(path, `${where}: ${message}`));
        break;
      }
      case 'custom':
        out.push(locator.issueAt(path, `${where}: ${issue.message}`));
        break;
      default:
        // Every other check in schema.ts carries its own message saying what was expected.
        out.push(locator.issueAt(path, `${where}: ${issue.message}, got ${describeValue(value)}`));
    }
  }
  return out;
}

/** The value at `path` in plain parsed data, or undefined. */
export function valueAt(data: unknown, path: ConfigPath): unknown {
  let v = data;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isPlainObject(v) && typeof seg === 'string' && Object.hasOwn(v, seg)) v = v[seg];
    else return undefined;
  }
  return v;
}

/** A YAML map, as plain data. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
