import { existsSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

/**
 * A unit's journal: samples already collected for a unit that has not written its shard yet, as
 * JSON lines appended and fsynced in batches. A retried unit (killed worker, timeout) reads it back
 * and continues from where the last one stopped instead of paying the provider again. A torn last
 * line from a crash is cut off. The journal is deleted once the shard is committed.
 */
export class UnitJournal<Row> {
  private handle: FileHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  private pending: string[] = [];

  constructor(readonly path: string) {}

  /** Rows durably recorded by earlier attempts (a torn tail is truncated away). */
  recover(): Row[] {
    if (!existsSync(this.path)) return [];
    const text = readFileSync(this.path, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end < Buffer.byteLength(text)) truncateSync(this.path, Buffer.byteLength(text.slice(0, end)));
    const rows: Row[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (!line) continue;
      try {
        rows.push(JSON.parse(line) as Row);
      } catch {
        break; // Anything after a corrupt line is not trusted.
      }
    }
    return rows;
  }

  append(row: Row): void {
    this.pending.push(`${JSON.stringify(row)}\n`);
  }

  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Writes the buffered rows and fdatasyncs them on the thread pool (a synchronous fsync would stall
   * every request in flight). Flushes run one after another; once the returned promise resolves,
   * every row appended before the call survives a crash.
   */
  flush(): Promise<void> {
    if (this.pending.length > 0) {
      const text = this.pending.join('');
      this.pending = [];
      this.chain = this.chain.then(async () => {
        this.handle ??= await open(this.path, 'a');
        await this.handle.appendFile(text);
        await this.handle.datasync();
      });
    }
    return this.chain;
  }

  /** Waits for the flushes in flight and closes the file. */
  async settle(): Promise<void> {
    try {
      await this.chain;
    } finally {
      await this.handle?.close();
      this.handle = undefined;
    }
  }

  /** Closes the file (after the flushes in flight) and deletes the journal: its rows are in a committed shard. */
  async remove(): Promise<void> {
    await this.settle();
    rmSync(this.path, { force: true });
  }
}
