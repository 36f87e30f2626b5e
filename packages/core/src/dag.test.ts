import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createDag, type Dag, DagError } from './dag.js';

interface Op {
  readonly sql?: string;
}

/** orders ─► filter ─► join.left ; customers ─► join.right ; join ─► sink, join ─► audit */
function shop(): Dag<Op> {
  const dag = createDag<Op>();
  dag.addNode({ id: 'orders', kind: 'source', outputs: ['out'], payload: {} });
  dag.addNode({ id: 'customers', kind: 'source', outputs: ['out'], payload: {} });
  dag.addNode({
    id: 'big',
    kind: 'filter',
    inputs: ['in'],
    outputs: ['out'],
    payload: { sql: 'amount > 100' },
  });
  dag.addNode({ id: 'join', kind: 'hash-join', inputs: ['left', 'right'], outputs: ['out'], payload: {} });
  dag.addNode({ id: 'sink', kind: 'sink', inputs: ['in'], payload: {} });
  dag.addNode({ id: 'audit', kind: 'sink', inputs: ['in'], payload: {} });
  dag.connect('orders', 'big');
  dag.connect('big', { node: 'join', port: 'left' });
  dag.connect({ node: 'customers', port: 'out' }, { node: 'join', port: 'right' });
  dag.connect('join', 'sink');
  dag.connect('join', 'audit');
  return dag;
}

describe('DAG', () => {
  it('keeps nodes with their ports and payloads, and edges between ports', () => {
    const dag = shop();
    expect(dag.node('big')).toEqual({
      id: 'big',
      kind: 'filter',
      inputs: ['in'],
      outputs: ['out'],
      payload: { sql: 'amount > 100' },
    });
    expect(dag.nodes().map((n) => n.id)).toEqual(['orders', 'customers', 'big', 'join', 'sink', 'audit']);
    expect(dag.edges()).toHaveLength(5);
    expect(dag.incoming('join').map((e) => `${e.from.node}.${e.from.port}->${e.to.port}`)).toEqual([
      'big.out->left',
      'customers.out->right',
    ]);
    expect(dag.outgoing('join').map((e) => e.to.node)).toEqual(['sink', 'audit']);
    expect(dag.has('join')).toBe(true);
    expect(dag.has('nope')).toBe(false);
  });

  it('finds sources and sinks', () => {
    const dag = shop();
    expect(dag.sources().map((n) => n.id)).toEqual(['orders', 'customers']);
    expect(dag.sinks().map((n) => n.id)).toEqual(['sink', 'audit']);
  });

  it('orders nodes after their inputs, earlier-added first among equals', () => {
    expect(
      shop()
        .topologicalOrder()
        .map((n) => n.id),
    ).toEqual(['orders', 'customers', 'big', 'join', 'sink', 'audit']);
    // Added in reverse dependency order, still topological.
    const dag = createDag();
    dag.addNode({ id: 'c', kind: 'sink', inputs: ['in'], payload: null });
    dag.addNode({ id: 'b', kind: 'map', inputs: ['in'], outputs: ['out'], payload: null });
    dag.addNode({ id: 'a', kind: 'source', outputs: ['out'], payload: null });
    dag.connect('b', 'c');
    dag.connect('a', 'b');
    expect(dag.topologicalOrder().map((n) => n.id)).toEqual(['a', 'b', 'c']);
  });

  it('puts every node after its upstream nodes in random DAGs', () => {
    // Edges only from lower to higher numbers, added in a shuffled order.
    const arb = fc.integer({ min: 1, max: 25 }).chain((n) =>
      fc.record({
        n: fc.constant(n),
        nodeOrder: fc.shuffledSubarray(
          Array.from({ length: n }, (_, i) => i),
          { minLength: n, maxLength: n },
        ),
        edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 60 }).map((pairs) => {
          const unique = new Map<string, [number, number]>();
          for (const [x, y] of pairs) {
            const [a, b] = x < y ? [x, y] : [y, x];
            if (a !== b) unique.set(`${a}-${b}`, [a, b]);
          }
          return [...unique.values()];
        }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ n, nodeOrder, edges }) => {
        const dag = createDag<number>();
        for (const i of nodeOrder) {
          dag.addNode({
            id: `n${i}`,
            kind: 'op',
            inputs: Array.from({ length: n }, (_, j) => `from${j}`),
            outputs: ['out'],
            payload: i,
          });
        }
        for (const [a, b] of edges) dag.connect(`n${a}`, { node: `n${b}`, port: `from${a}` });
        const topo = dag.topologicalOrder().map((node) => node.payload);
        expect(topo).toHaveLength(n);
        for (const [a, b] of edges) expect(topo.indexOf(a)).toBeLessThan(topo.indexOf(b));
        // Closing any of these edges backwards is a cycle.
        for (const [a, b] of edges.slice(0, 3)) {
          expect(() => dag.connect(`n${b}`, { node: `n${a}`, port: `from${b}` })).toThrow(
            /would close a cycle/,
          );
        }
      }),
    );
  });

  it('rejects an edge that closes a cycle, naming the nodes on it', () => {
    const dag = createDag();
    for (const id of ['a', 'b', 'c'])
      dag.addNode({ id, kind: 'op', inputs: ['in', 'loop'], outputs: ['out'], payload: null });
    dag.connect('a', { node: 'b', port: 'in' });
    dag.connect('b', { node: 'c', port: 'in' });
    expect(() => dag.connect('c', { node: 'a', port: 'loop' })).toThrowError(
      new DagError('connect: c.out -> a.loop would close a cycle: c -> a -> b -> c'),
    );
    expect(() => dag.connect('a', { node: 'a', port: 'loop' })).toThrow('would close a cycle: a -> a');
    // A rejected edge leaves the DAG unchanged.
    expect(dag.edges()).toHaveLength(2);
    expect(dag.topologicalOrder().map((n) => n.id)).toEqual(['a', 'b', 'c']);
  });

  it('rejects unknown nodes and ports, listing what exists', () => {
    const dag = shop();
    expect(() => dag.connect('nope', 'sink')).toThrow(
      'connect (from): no node "nope" (known nodes: orders, customers, big, join, sink, audit)',
    );
    expect(() => dag.connect({ node: 'orders', port: 'rows' }, 'sink')).toThrow(
      'connect (from): node "orders" (source) has no output port "rows"; its output ports are: out',
    );
    expect(() => dag.connect('orders', 'join')).toThrow(
      'connect (to): node "join" has 2 input ports (left, right), so name the port',
    );
    expect(() => dag.connect('sink', 'audit')).toThrow('node "sink" has 0 output ports (none)');
    expect(() => dag.node('x')).toThrow(DagError);
    try {
      dag.node('x');
    } catch (e) {
      expect((e as DagError).code).toBe('INTERNAL');
    }
  });

  it('rejects a second edge into an input port', () => {
    const dag = shop();
    expect(() => dag.connect('customers', { node: 'join', port: 'left' })).toThrow(
      'connect: input port join.left is already fed by big.out, so it cannot also take customers.out',
    );
  });

  it('rejects duplicate node ids and port names', () => {
    const dag = shop();
    expect(() => dag.addNode({ id: 'join', kind: 'union', payload: {} })).toThrow(
      'addNode: a node "join" already exists (kind hash-join)',
    );
    expect(() => dag.addNode({ id: 'u', kind: 'union', inputs: ['a', 'a'], payload: {} })).toThrow(
      'declares input port "a" twice',
    );
    expect(() => dag.addNode({ id: '', kind: 'x', payload: {} })).toThrow('non-empty string');
  });

  it('validates that every input port is connected', () => {
    const dag = shop();
    expect(() => dag.validate()).not.toThrow();
    dag.addNode({ id: 'u', kind: 'union', inputs: ['a', 'b'], outputs: ['out'], payload: {} });
    dag.connect('orders', { node: 'u', port: 'a' });
    expect(() => dag.validate()).toThrowError(
      new DagError(
        'the DAG has 1 unconnected input port: u.b (union); connect each input port to an output port',
      ),
    );
  });

  it('renders a readable text form in topological order', () => {
    const dag = shop();
    dag.addNode({ id: 'u', kind: 'union', inputs: ['a', 'b'], outputs: ['out'], payload: {} });
    expect(dag.toText((n) => n.payload.sql)).toBe(
      [
        'DAG: 7 nodes, 5 edges',
        'orders (source)',
        '  out -> big.in',
        'customers (source)',
        '  out -> join.right',
        'big (filter): amount > 100',
        '  in  <- orders.out',
        '  out -> join.left',
        'join (hash-join)',
        '  left  <- big.out',
        '  right <- customers.out',
        '  out   -> sink.in, audit.in',
        'sink (sink)',
        '  in <- join.out',
        'audit (sink)',
        '  in <- join.out',
        'u (union)',
        '  a   <- (not connected)',
        '  b   <- (not connected)',
        '  out -> (not used)',
      ].join('\n'),
    );
  });
});
