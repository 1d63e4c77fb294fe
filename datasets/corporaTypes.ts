import type { ShardKind } from './tables';
import type { Partition } from './paths';
import type { ShardTarget, UnitStatus, WriteShardOptions, WrittenShard } from './shards';

/**
 * Where corpora live, as workers and readers see it: a local folder (what met always had,
 * localCorpora.ts), or a bucket (`s3://bucket/prefix`) that hosts sharing no disk write to and
 * read from (bucketCorpora.ts). corpora.ts opens the one a process's config names.
 */
export interface ShardRef {
  /** A local path, or `s3://bucket/key` for a bucket corpus. */
  ref: string;
  kind: ShardKind;
  partition: Partition;
  name: string;
  rows: number;
}

export interface Corpora {
  /** The location as the user gave it (a folder or s3://bucket/prefix), for messages. */
  readonly url: string;
  readonly kind: 'local' | 's3';
  /** The local root shards are written under (the data folder; for a bucket, its staging folder). */
  readonly writeRoot: string;
  unitStatus(target: ShardTarget & { partition: Partition }): Promise<UnitStatus>;
  /** Writes a unit's shard and makes it visible to every host (exactly once per unit). */
  writeShard(target: ShardTarget & { partition: Partition }, rows: readonly Record<string, unknown>[], options?: WriteShardOptions): Promise<WrittenShard>;
  /**
   * A local root whose tree holds the corpus as it is now (a bucket corpus: synced into the cache).
   * `within`: only the shards of this partition (leading partition fields, e.g. a slice's model and
   * source) are brought up to date; the rest of the cached tree is left as it was.
   */
  readRoot(corpus: string, kinds?: readonly ShardKind[], within?: Partition): Promise<string>;
  /** A local file for a shard reference (a local path as is; an s3:// one through the cache). */
  localFile(ref: string): Promise<string>;
  /** The committed shards of a kind with their row counts (from footers, or object metadata). */
  listShards(corpus: string, kind: ShardKind): Promise<ShardRef[]>;
  /** Small JSON documents (run manifests, run records) at a path relative to the location. */
  writeJson(relPath: string, value: unknown): Promise<string>;
  readJson(relPath: string): Promise<unknown>;
  /** Names of the `.json` documents directly under a relative folder. */
  listJson(relDir: string): Promise<string[]>;
  /**
   * Makes a folder written on this host (a report: HTML, figures, data) visible where the corpora
   * live: a bucket gets a copy of every file under `relDir` (the HTML last, so a reader never finds
   * a page without its figures); a local location already holds it. Returns where it is.
   */
  publishFiles(relDir: string, localDir: string): Promise<string>;
}
