import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { quotedString, withConnection } from '../datasets/duck';
import { shardDir, type Partition } from '../datasets/paths';
import { unitStatus, writeShard } from '../datasets/shards';
import type { ShardKind } from '../datasets/tables';

/**
 * The corpus store as the collection and scoring activities see it: shards by unit, a journal
 * path per unit, and prompt sets. Local folder here; a shared mount makes it shared across hosts.
 */
export interface PromptText {
  promptId: string;
  text: string;
}

export class CorpusStore {
  private promptCache = new Map<string, Promise<PromptText[]>>();

  constructor(
    readonly duck: DuckDBInstance,
    readonly root: string,
  ) {}

  /** Rows of the unit's committed shard, or undefined if it must be (re)done. Corrupt ones are quarantined. */
  async shardRows(corpus: string, kind: ShardKind, partition: Partition, unitId: string): Promise<number | undefined> {
    const status = await unitStatus(this.duck, this.root, { corpus, kind, partition, unitId });
    return status.state === 'valid' ? status.rows : undefined;
  }

  journalPath(corpus: string, kind: ShardKind, partition: Partition, unitId: string): string {
    return join(shardDir(this.root, corpus, kind, partition), `.journal-${unitId}.jsonl`);
  }

  writeShard(corpus: string, kind: ShardKind, partition: Partition, unitId: string, rows: object[]) {
    // Rows come from met's own sampler; the columnar copy still checks every type and null.
    return writeShard(this.duck, this.root, { corpus, kind, partition, unitId }, rows as Record<string, unknown>[], { validate: 'types' });
  }

  /** A prompt set file's prompts in order (cached per worker process). */
  prompts(file: string): Promise<PromptText[]> {
    let cached = this.promptCache.get(file);
    if (!cached) {
      cached = withConnection(this.duck, async (c) => {
        const reader = await c.runAndReadAll(`SELECT prompt_id, text FROM read_parquet(${quotedString(file)})`);
        return reader.getRowObjects().map((r) => ({ promptId: String(r.prompt_id), text: String(r.text) }));
      });
      this.promptCache.set(file, cached);
      cached.catch(() => this.promptCache.delete(file));
    }
    return cached;
  }
}
