import { ConfigError, type Schema } from '@dozer/core';
import { defaultSecondaryIndexes, type SecondaryIndexDefinition } from '@dozer/store';
import type { EndpointConfig } from '../config/index.js';

/**
 * The store indexes of an endpoint from `index.secondary`, as in Dozer: the
 * default one per field minus `skip_default`, plus `create`.
 */
export function secondaryIndexesOf(ep: EndpointConfig, schema: Schema): SecondaryIndexDefinition[] {
  const { skip_default, create } = ep.index.secondary;
  const where = `endpoint "${ep.name}": index.secondary`;
  const names = schema.fields.map((f) => f.name);
  const check = (field: string, key: string) => {
    if (!names.includes(field)) {
      throw new ConfigError(
        `${where}.${key} names "${field}", not a field of "${ep.table_name}" (fields: ${names.join(', ')})`,
      );
    }
  };
  for (const f of skip_default) check(f, 'skip_default');
  const defaults = defaultSecondaryIndexes(schema, ep.index.primary_key).filter(
    (ix) => !skip_default.includes(ix.fields[0]!),
  );
  const extra = create.map((c, i): SecondaryIndexDefinition => {
    if ('sorted_inverted' in c) {
      for (const f of c.sorted_inverted.fields) check(f, `create[${i}].sorted_inverted.fields`);
      return { kind: 'sorted', fields: c.sorted_inverted.fields };
    }
    check(c.full_text.field, `create[${i}].full_text.field`);
    const type = schema.fields.find((f) => f.name === c.full_text.field)!.type;
    if (type !== 'string' && type !== 'text') {
      throw new ConfigError(
        `${where}.create[${i}].full_text.field: "${c.full_text.field}" is ${type}; full-text indexes need a string or text field`,
      );
    }
    return { kind: 'full_text', field: c.full_text.field };
  });
  return [...defaults, ...extra];
}
