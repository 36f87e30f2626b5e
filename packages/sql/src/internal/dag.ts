import { createDag, type Dag, type Schema } from '@dozer/core';
import { describeNode, formatSchema, type PlanNode, planInputs, type StatementPlan } from './logical-plan.js';
import { isStateless } from './operators.js';

/** What a node of the SQL DAG carries: a readable description and the schema of what it emits. */
export interface SqlDagPayload {
  readonly description: string;
  readonly schema: Schema;
  /** Whether the operator keeps state (and is saved by a snapshot). */
  readonly stateful: boolean;
}

const KINDS: { readonly [k in PlanNode['kind']]: string } = {
  scan: 'scan',
  'one-row': 'one-row',
  filter: 'filter-project',
  project: 'filter-project',
  aggregate: 'aggregate',
  join: 'hash-join',
  union: 'union',
  'top-n': 'top-n',
  window: 'window',
  ttl: 'ttl',
};

/**
 * The statements as one `@dozer/core` DAG, the graph the executor runs:
 * a `source` node per input table, the operators of every statement (each
 * chain of filters and projections fused into one `filter-project` node),
 * and an `output` node per INTO table, which feeds the statements that read
 * it. Joins have ports `left` and `right`, unions `in1`…`inN`.
 */
export function planDag(statements: readonly StatementPlan[], inputs: readonly string[]): Dag<SqlDagPayload> {
  const dag = createDag<SqlDagPayload>();
  const producers = new Map<string, string>();
  const schemas = new Map<string, Schema>();
  for (const s of statements) schemas.set(s.into, s.root.schema);
  const sourceSchema = (table: string, node: PlanNode): Schema => schemas.get(table) ?? node.schema;
  for (const t of inputs) {
    producers.set(t, `source:${t}`);
  }
  const sourceNodes = new Set<string>();
  for (const s of statements) {
    let n = 0;
    const build = (node: PlanNode): string => {
      if (node.kind === 'scan') {
        const id = producers.get(node.table) ?? `source:${node.table}`;
        if (id.startsWith('source:') && !sourceNodes.has(id)) {
          sourceNodes.add(id);
          dag.addNode({
            id,
            kind: 'source',
            outputs: ['out'],
            payload: {
              description: `source ${node.table}`,
              schema: sourceSchema(node.table, node),
              stateful: false,
            },
          });
        }
        return id;
      }
      if (isStateless(node)) {
        const parts: string[] = [];
        let base: PlanNode = node;
        while (isStateless(base)) {
          parts.push(describeNode(base));
          base = base.input;
        }
        const from = build(base);
        const id = `${s.into}/${++n}:filter-project`;
        dag.addNode({
          id,
          kind: 'filter-project',
          inputs: ['in'],
          outputs: ['out'],
          payload: { description: parts.reverse().join(' → '), schema: node.schema, stateful: false },
        });
        dag.connect(from, id);
        return id;
      }
      const ins = planInputs(node);
      const ports =
        node.kind === 'join'
          ? ['left', 'right']
          : node.kind === 'union'
            ? ins.map((_, i) => `in${i + 1}`)
            : ins.map(() => 'in');
      const froms = ins.map(build);
      const kind = node.kind === 'top-n' && node.rowNumber ? 'row-number' : KINDS[node.kind];
      const id = `${s.into}/${++n}:${kind}`;
      dag.addNode({
        id,
        kind,
        inputs: ports,
        outputs: ['out'],
        payload: {
          description: describeNode(node),
          schema: node.schema,
          stateful:
            node.kind === 'aggregate' || node.kind === 'join' || node.kind === 'top-n' || node.kind === 'ttl',
        },
      });
      froms.forEach((f, i) => {
        dag.connect(f, { node: id, port: ports[i]! });
      });
      return id;
    };
    const top = build(s.root);
    const out = `output:${s.into}`;
    dag.addNode({
      id: out,
      kind: 'output',
      inputs: ['in'],
      outputs: ['out'],
      payload: {
        description: `${s.into} ${formatSchema(s.root.schema)}`,
        schema: s.root.schema,
        stateful: false,
      },
    });
    dag.connect(top, out);
    producers.set(s.into, out);
  }
  return dag;
}
