import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { type Corpora, LocalCorpora } from './corpora';
import { quotedString, withConnection } from './duck';
import { shardDir, type Partition } from './paths';
import { heldKeys, sliceName, sliceSamplers } from './sliceKeys';
import { ErrorTypes, MetError } from '../common/errors';
import type { ShardKind } from './tables';

/**
 * The corpus store as the collection and scoring activities see it: shards by unit, a journal
 * path per unit, and prompt sets. A local folder, or a bucket (datasets/bucketCorpora.ts) that workers
 * on hosts sharing no disk commit their shards to; journals always stay on this host's disk.
 */
export interface PromptText {
  promptId: string;
  text: string;
}

export class CorpusStore {
  private promptCache = new Map<string, Promise<PromptText[]>>();
  readonly corpora: Corpora;

  constructor(
    readonly duck: DuckDBInstance,
    readonly root: string,
    corpora?: Corpora,
  ) {
    this.corpora = corpora ?? new LocalCorpora(duck, root);
  }

  /** Rows of the unit's committed shard, or undefined if it must be (re)done. Corrupt local ones are quarantined. */
  async shardRows(corpus: string, kind: ShardKind, partition: Partition, unitId: string): Promise<number | undefined> {
    const status = await this.corpora.unitStatus({ corpus, kind, partition, unitId });
    return status.state === 'valid' ? status.rows : undefined;
  }

  journalPath(corpus: string, kind: ShardKind, partition: Partition, unitId: string): string {
    return join(shardDir(this.corpora.writeRoot, corpus, kind, partition), `.journal-${unitId}.jsonl`);
  }

  async writeShard(corpus: string, kind: ShardKind, partition: Partition, unitId: string, rows: object[]) {
    if (kind === 'samples') await this.refuseHeldKeys(corpus, partition, unitId, rows as { promptId: string; sampleIndex: number }[]);
    // Rows come from met's own sampler; the columnar copy still checks every type and null.
    return this.corpora.writeShard({ corpus, kind, partition, unitId }, rows as Record<string, unknown>[], { validate: 'types' });
  }

  /**
   * A slice is a set of sample keys: a unit whose rows hold a key the slice already has in another
   * shard is never committed (docs/slices.md). Runs plan around what a slice holds, so this fires
   * only when something else wrote there: a concurrent run into the same slice, or a planted shard.
   */
  private async refuseHeldKeys(
    corpus: string,
    partition: Partition,
    unitId: string,
    rows: readonly { promptId: string; sampleIndex: number }[],
  ): Promise<void> {
    const slice = { corpus, model: partition.model, source: partition.source };
    // Only this slice's shards are synced (a bucket): a commit does not wait on the rest of the corpus.
    const root = await this.corpora.readRoot(corpus, ['samples'], { model: slice.model, source: slice.source });
    const held = await heldKeys(this.duck, root, slice, unitId, rows);
    if (held.length === 0) return;
    const shown = held.slice(0, 3).map((k) => `${k.promptId}#${k.sampleIndex} (in ${k.file.slice(k.file.lastIndexOf('/') + 1)})`);
    throw new MetError(
      ErrorTypes.DuplicateSamples,
      `unit ${unitId} was not committed: ${held.length} of its ${rows.length} sample keys are already in slice ${sliceName(slice)}, e.g. ${shown.join(', ')}. Another run or a hand-copied shard wrote them; 'met corpus verify ${corpus}' lists the slice's shards, and a new source label keeps the two collections apart`,
    );
  }

  /** The sampler records (JSON) of a samples slice's shards other than the unit's own. */
  async sliceSamplers(corpus: string, partition: Partition, unitId: string): Promise<string[]> {
    const slice = { corpus, model: partition.model, source: partition.source };
    const root = await this.corpora.readRoot(corpus, ['samples'], { model: slice.model, source: slice.source });
    return sliceSamplers(this.duck, root, slice, unitId);
  }

  /** A prompt set file's prompts in order (cached per worker process); an s3:// one through the cache. */
  prompts(file: string): Promise<PromptText[]> {
    let cached = this.promptCache.get(file);
    if (!cached) {
      cached = this.corpora.localFile(file).then((local) =>
        withConnection(this.duck, async (c) => {
          const reader = await c.runAndReadAll(`SELECT prompt_id, text FROM read_parquet(${quotedString(local)})`);
          return reader.getRowObjects().map((r) => ({ promptId: String(r.prompt_id), text: String(r.text) }));
        }),
      );
      this.promptCache.set(file, cached);
      cached.catch(() => this.promptCache.delete(file));
    }
    return cached;
  }
}
