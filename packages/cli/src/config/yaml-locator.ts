import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
} from 'yaml';
import type { ConfigIssue, ConfigPath } from './issues.js';

/** Where a path points in the file. */
export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Maps key paths of the parsed config back to lines and columns of the YAML
 * source, so every issue can point at the exact spot to edit.
 */
export class YamlLocator {
  constructor(
    readonly file: string,
    private readonly doc: Document.Parsed,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Position of a source offset. */
  positionOfOffset(offset: number): SourcePosition {
    const { line, col } = this.lineCounter.linePos(offset);
    return { line, column: col };
  }

  /**
   * Position of the value at `path`; when the path does not exist (a missing
   * key), the position of the deepest object on the path that does.
   */
  positionOf(path: ConfigPath): SourcePosition {
    const found = this.walk(path);
    return this.positionOfOffset(found.offset);
  }

  /** Position of the key `key` of the map at `mapPath` (for unknown-key issues). */
  positionOfKey(mapPath: ConfigPath, key: string): SourcePosition {
    const found = this.walk(mapPath);
    if (found.depth === mapPath.length && isMap(found.node)) {
      const pair = findPair(found.node.items, key);
      const start = pair && isNode(pair.key) ? pair.key.range?.[0] : undefined;
      if (start !== undefined) return this.positionOfOffset(start);
    }
    return this.positionOfOffset(found.offset);
  }

  /** The YAML node at `path` if it exists. */
  nodeAt(path: ConfigPath): Node | undefined {
    const found = this.walk(path);
    return found.depth === path.length ? found.node : undefined;
  }

  /** An issue located at the value of `path` (or its deepest existing ancestor). */
  issueAt(path: ConfigPath, message: string): ConfigIssue {
    return { file: this.file, ...this.positionOf(path), path, message };
  }

  private walk(path: ConfigPath): { node: Node | undefined; offset: number; depth: number } {
    let node = this.resolve(this.doc.contents ?? undefined);
    let offset = node?.range?.[0] ?? 0;
    let depth = 0;
    for (const seg of path) {
      if (node === undefined) break;
      let next: Node | undefined;
      let nextOffset: number | undefined;
      if (isMap(node)) {
        const pair = findPair(node.items, String(seg));
        if (pair === undefined) break;
        next = this.resolve(isNode(pair.value) ? pair.value : undefined);
        nextOffset = next?.range?.[0];
        // An empty value (`kind:`) has no text of its own: point at its key.
        const empty = next === undefined || (isScalar(next) && next.value === null && next.source === '');
        if ((empty || nextOffset === undefined) && isNode(pair.key)) nextOffset = pair.key.range?.[0];
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (!isNode(item)) break;
        next = this.resolve(item);
        nextOffset = item.range?.[0];
      } else {
        break;
      }
      node = next;
      if (nextOffset !== undefined) offset = nextOffset;
      depth++;
    }
    return { node, offset, depth };
  }

  private resolve(node: Node | undefined): Node | undefined {
    if (node !== undefined && isAlias(node)) return node.resolve(this.doc) ?? undefined;
    return node;
  }
}

function findPair(items: readonly Pair<unknown, unknown>[], key: string): Pair<unknown, unknown> | undefined {
  return items.find((p) => {
    const k = isScalar(p.key) ? p.key.value : p.key;
    return String(k) === key;
  });
}
