import type { FileHandle } from 'node:fs/promises';
import { ConnectorError } from '@dozer/connectors';

/** One complete line of the file: its text (without the newline) and where it ends. */
export interface Line {
  readonly text: string;
  /** Byte offset just after the line's newline: where the next line starts. */
  readonly end: number;
  /** 1-based line number, for messages. */
  readonly number: number;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * Reads complete lines from a file that is being appended to. A last line
 * without its newline yet is kept back until the newline arrives, so a
 * writer caught mid-line is never read half.
 */
export class LineReader {
  private carry: Buffer = Buffer.alloc(0);
  private lines = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  /** Byte offset just after the last complete line returned. */
  private offset = 0;

  constructor(
    private readonly handle: FileHandle,
    /** The file's name, for messages. */
    private readonly name: string,
  ) {}

  /** Where the next complete line starts. */
  get position(): number {
    return this.offset;
  }

  /** Bytes read past `position` that do not end in a newline yet. */
  get pendingBytes(): number {
    return this.carry.length;
  }

  /**
   * The complete lines appended since the last call, at most about one
   * chunk's worth; an empty list when there is none (yet).
   */
  async read(): Promise<Line[]> {
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await this.handle.read(chunk, 0, CHUNK, this.offset + this.carry.length);
      if (bytesRead === 0) return [];
      const data =
        this.carry.length === 0
          ? chunk.subarray(0, bytesRead)
          : Buffer.concat([this.carry, chunk.subarray(0, bytesRead)]);
      const out: Line[] = [];
      let start = 0;
      for (let nl = data.indexOf(NEWLINE, start); nl >= 0; nl = data.indexOf(NEWLINE, start)) {
        let text: string;
        try {
          text = this.decoder.decode(data.subarray(start, nl));
        } catch (e) {
          throw new ConnectorError(
            `${this.name}:${this.lines + 1}: the line is not UTF-8 text; the changelog must be UTF-8 JSON, one record a line`,
            { cause: e },
          );
        }
        if (text.endsWith('\r')) text = text.slice(0, -1);
        out.push({ text, end: this.offset + nl + 1, number: ++this.lines });
        start = nl + 1;
      }
      this.offset += start;
      // Copied so that a short remainder does not keep the whole chunk alive.
      this.carry = Buffer.from(data.subarray(start));
      if (out.length > 0) return out;
    }
  }
}
