import { type Document, isMap, isNode, isScalar, isSeq, type Node, type Scalar } from 'yaml';
import { type ConfigIssue, type ConfigPath, formatPath } from './issues.js';
import type { YamlLocator } from './yaml-locator.js';

/** Environment variables as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Result of expanding one string. */
export type ExpandResult =
  | { readonly ok: true; readonly value: string; readonly substituted: boolean }
  | { readonly ok: false; readonly index: number; readonly message: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${VAR}` and `${VAR:-default}` (default when VAR is unset or empty,
 * as in POSIX shells) and turns `$$` into `$`. A `$` followed by anything else
 * is kept as it is, so passwords with a lone `$` need no escaping.
 */
export function expandEnv(text: string, env: Env): ExpandResult {
  let out = '';
  let substituted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      substituted = true;
      i += 2;
      continue;
    }
    if (next !== '{') {
      out += ch;
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 2);
    if (close < 0) {
      return {
        ok: false,
        index: i,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the message quotes the syntax.
        message: 'unterminated "${": close it with "}", or write "$$" for a literal "$"',
      };
    }
    const body = text.slice(i + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      return {
        ok: false,
        index: i,
        message:
          `invalid environment variable name ${JSON.stringify(name)} in "\${${body}}": ` +
          'use letters, digits and _ (not starting with a digit), or write "$$" for a literal "$"',
      };
    }
    const value = env[name];
    if (value !== undefined && value !== '') out += value;
    else if (sep >= 0) out += body.slice(sep + 2);
    else if (value === '') out += value;
    else {
      return {
        ok: false,
        index: i,
        message: `environment variable ${name} is not set; set it, or give a default with \${${name}:-default}`,
      };
    }
    substituted = true;
    i = close + 1;
  }
  return { ok: true, value: out, substituted };
}

/**
 * Expands environment references in every string scalar of the document, in
 * place, after parsing: a variable's value can never change the structure of
 * the file. Keys are left alone. Returns the scalars that changed.
 */
export function substituteEnv(
  doc: Document.Parsed,
  env: Env,
  source: string,
  locator: YamlLocator,
  issues: ConfigIssue[],
): Set<Scalar> {
  const changed = new Set<Scalar>();
  const visit = (node: Node | null | undefined, path: ConfigPath): void => {
    if (node == null) return;
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (isNode(pair.value)) visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        if (isNode(item)) visit(item, [...path, i]);
      });
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
      const result = expandEnv(node.value, env);
      if (result.ok) {
        if (result.substituted) {
          node.value = result.value;
          changed.add(node);
        }
        return;
      }
      issues.push({
        file: locator.file,
        ...locator.positionOfOffset(referenceOffset(node, source, node.value, result.index)),
        path,
        message: `${formatPath(path)}: ${result.message}`,
      });
    }
  };
  visit(doc.contents, []);
  return changed;
}

/**
 * Offset of the failing `${` in the source text. The scalar's source may
 * differ from its value (quotes, escapes, folding), so search the raw text for
 * the reference and fall back to the scalar's start.
 */
function referenceOffset(node: Scalar, source: string, value: string, index: number): number {
  const start = node.range?.[0] ?? 0;
  const end = node.range?.[1] ?? start;
  const raw = source.slice(start, end);
  const closing = value.indexOf('}', index);
  const ref = value.slice(index, closing < 0 ? undefined : closing + 1);
  const occurrence = value.slice(0, index).split(ref).length - 1;
  let at = -1;
  for (let k = 0; k <= occurrence; k++) {
    at = raw.indexOf(ref, at + 1);
    if (at < 0) return start;
  }
  return start + at;
}
