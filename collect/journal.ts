import { closeSync, existsSync, fsyncSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from 'node:fs';

/**
 * A unit's journal: samples already collected for a unit that has not written its shard yet, as
 * JSON lines appended and fsynced in batches. A retried unit (killed worker, timeout) reads it back
 * and continues from where the last one stopped instead of paying the provider again. A torn last
 * line from a crash is cut off. The journal is deleted once the shard is committed.
 */
export class UnitJournal<Row> {
  private fd: number | undefined;
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

  /** Writes buffered rows and fsyncs: after this returns, they survive a crash. */
  flush(): void {
    if (this.pending.length === 0) return;
    this.fd ??= openSync(this.path, 'a');
    writeSync(this.fd, this.pending.join(''));
    fsyncSync(this.fd);
    this.pending = [];
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  remove(): void {
    this.close();
    rmSync(this.path, { force: true });
  }
}
