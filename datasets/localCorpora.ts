import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { writeFileAtomic } from '../common/files';
import type { Corpora, ShardRef } from './corporaTypes';
import { listShards, type Partition } from './paths';
import { shardStatus, type ShardTarget, type UnitStatus, unitStatus, writeShard, type WriteShardOptions, type WrittenShard } from './shards';
import type { ShardKind } from './tables';

/** Corpora in a local folder: the data folder's tree, read and written in place. */
export class LocalCorpora implements Corpora {
  readonly kind = 'local' as const;
  readonly url: string;
  constructor(
    readonly duck: DuckDBInstance,
    readonly writeRoot: string,
  ) {
    this.url = writeRoot;
  }
  unitStatus(target: ShardTarget & { partition: Partition }): Promise<UnitStatus> {
    return unitStatus(this.duck, this.writeRoot, target);
  }
  writeShard(target: ShardTarget & { partition: Partition }, rows: readonly Record<string, unknown>[], options?: WriteShardOptions): Promise<WrittenShard> {
    return writeShard(this.duck, this.writeRoot, target, rows, options);
  }
  readRoot(): Promise<string> {
    return Promise.resolve(this.writeRoot);
  }
  localFile(ref: string): Promise<string> {
    if (ref.startsWith('s3://'))
      throw new MetError(ErrorTypes.BadInput, `${ref} is in a bucket but this worker's data is the folder ${this.writeRoot}: start it with --data s3://...`);
    return Promise.resolve(ref);
  }
  async listShards(corpus: string, kind: ShardKind): Promise<ShardRef[]> {
    const out: ShardRef[] = [];
    for (const s of listShards(this.writeRoot, corpus, kind)) {
      const status = await shardStatus(this.duck, s.path, kind, false);
      if (status.state !== 'valid')
        throw new MetError(
          ErrorTypes.ShardCorrupt,
          `${s.path} is not a readable met shard (${status.state === 'corrupt' ? status.reason : status.state}): run 'met corpus verify' to quarantine it`,
        );
      out.push({ ref: s.path, kind, partition: s.partition, name: s.name, rows: status.rows });
    }
    return out;
  }
  writeJson(relPath: string, value: unknown): Promise<string> {
    const path = join(this.writeRoot, ...relPath.split('/'));
    writeFileAtomic(path, JSON.stringify(value, null, 2));
    return Promise.resolve(path);
  }
  readJson(relPath: string): Promise<unknown> {
    const path = join(this.writeRoot, ...relPath.split('/'));
    if (!existsSync(path)) return Promise.resolve(undefined);
    return Promise.resolve(JSON.parse(readFileSync(path, 'utf8')) as unknown);
  }
  listJson(relDir: string): Promise<string[]> {
    const dir = join(this.writeRoot, ...relDir.split('/'));
    if (!existsSync(dir)) return Promise.resolve([]);
    return Promise.resolve(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    );
  }
  publishFiles(_relDir: string, localDir: string): Promise<string> {
    return Promise.resolve(localDir);
  }
}
