import { createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';
import { commitFile } from '../common/files';
import { ErrorTypes, MetError } from '../common/errors';
import { parseDataLocation } from '../common/location';
import { checkCorpusName, corpusDir, isShardFile, listShards } from './paths';
import { headShard, putShard, type ShardHead } from './s3objects';
import { shardStatus } from './shards';
import { SHARD_KINDS, type ShardKind } from './tables';

/**
 * Corpus locations: a local folder, or `s3://bucket/prefix` so workers on different hosts share
 * one corpus. S3 holds the same tree as a local root (`<prefix>/corpus/<name>/<kind>/...`).
 * Shards are always written locally first (atomic rename), then uploaded whole: a PUT is atomic
 * too, so a remote shard is complete or absent. Reading pulls shards into a local folder (a cache)
 * and lets DuckDB read them there; DuckDB's own S3 support would need its httpfs extension, which
 * is a download, not part of the npm package.
 */
export type CorpusLocation = { kind: 'local'; root: string } | { kind: 's3'; bucket: string; prefix: string };

export function parseLocation(value: string, what = 'location'): CorpusLocation {
  const parsed = parseDataLocation(value, what);
  return parsed.kind === 'local' ? parsed : { kind: 's3', bucket: parsed.bucket, prefix: parsed.prefix };
}

export interface RemoteObject {
  key: string;
  size: number;
  etag: string;
}

export class S3CorpusStore {
  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {}

  static at(client: S3Client, location: CorpusLocation): S3CorpusStore {
    if (location.kind !== 's3') throw new MetError(ErrorTypes.BadInput, 'not an s3:// location');
    return new S3CorpusStore(client, location.bucket, location.prefix);
  }

  /** The object key of a local path under a local root. */
  keyOf(localRoot: string, localPath: string): string {
    const rel = relative(localRoot, localPath).split(sep).join('/');
    if (rel.startsWith('..')) throw new Error(`${localPath} is not under ${localRoot}`);
    return this.prefix ? `${this.prefix}/${rel}` : rel;
  }

  private localPathOf(localRoot: string, key: string): string {
    const rel = this.prefix ? key.slice(this.prefix.length + 1) : key;
    if (rel.split('/').some((part) => part === '..' || part === '')) throw new MetError(ErrorTypes.BadInput, `refusing object key '${key}'`);
    return join(localRoot, ...rel.split('/'));
  }

  /** Remote state of one shard: missing, foreign (no met metadata), or its row count and checksum from the object metadata. */
  head(key: string): Promise<ShardHead> {
    return headShard(this.client, this.bucket, key);
  }

  /**
   * Uploads a completed local shard (verified first: a corrupt file is never uploaded). An object
   * with the same checksum is left as is, so a retried upload is a no-op.
   */
  async uploadShard(duck: DuckDBInstance, localRoot: string, path: string, kind: ShardKind): Promise<{ key: string; uploaded: boolean }> {
    const status = await shardStatus(duck, path, kind, true);
    if (status.state !== 'valid' || status.compactedInto)
      throw new MetError(
        ErrorTypes.ShardCorrupt,
        `${path} is not a valid shard (${status.state === 'corrupt' ? status.reason : status.state}); not uploading it`,
      );
    const key = this.keyOf(localRoot, path);
    const remote = await this.head(key);
    if (remote.state === 'present' && remote.checksum === status.checksum && remote.rows === status.rows) return { key, uploaded: false };
    await putShard(this.client, this.bucket, key, path, status);
    return { key, uploaded: true };
  }

  /** Every object under the store's prefix (optionally below a sub-path), paginated. */
  async list(subPath = ''): Promise<RemoteObject[]> {
    const prefix = [this.prefix, subPath].filter(Boolean).join('/');
    const out: RemoteObject[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix ? `${prefix}/` : undefined, ContinuationToken: token }));
      for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: Number(o.Size ?? 0), etag: o.ETag ?? '' });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async listCorpora(): Promise<string[]> {
    const names = new Set<string>();
    for (const o of await this.list('corpus')) {
      const rel = this.prefix ? o.key.slice(this.prefix.length + 1) : o.key;
      const name = rel.split('/')[1];
      if (name) names.add(name);
    }
    return [...names].sort();
  }

  /** Downloads one object to a local path atomically (temp file + fsync + rename). */
  async download(key: string, path: string, expectedSize?: number): Promise<void> {
    mkdirSync(dirname(path), { recursive: true });
    const temp = join(dirname(path), `.tmp-download-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      await pipeline(r.Body as Readable, createWriteStream(temp));
      const size = statSync(temp).size;
      if (expectedSize !== undefined && size !== expectedSize)
        throw new MetError(ErrorTypes.ShardCorrupt, `download of ${key} has ${size} bytes, expected ${expectedSize}`);
      commitFile(temp, path);
    } finally {
      rmSync(temp, { force: true });
    }
  }

  /** Uploads every valid local shard of a corpus that the remote lacks. */
  async push(duck: DuckDBInstance, localRoot: string, corpus: string): Promise<{ uploaded: number; unchanged: number }> {
    checkCorpusName(corpus);
    let uploaded = 0;
    let unchanged = 0;
    for (const kind of SHARD_KINDS) {
      for (const shard of listShards(localRoot, corpus, kind)) {
        const r = await this.uploadShard(duck, localRoot, shard.path, kind);
        if (r.uploaded) uploaded++;
        else unchanged++;
      }
    }
    return { uploaded, unchanged };
  }

  /**
   * Brings a corpus's shards into a local root: downloads what is missing or differs in size and,
   * with `mirror`, removes local shards the remote no longer has (e.g. compacted away). Downloaded
   * shards are read back through their footer; a corrupt one fails the pull.
   */
  async pull(
    duck: DuckDBInstance,
    localRoot: string,
    corpus: string,
    options: { mirror?: boolean } = {},
  ): Promise<{ downloaded: number; unchanged: number; removed: number }> {
    checkCorpusName(corpus);
    const objects = (await this.list(`corpus/${corpus}`)).filter(
      (o) => isShardFile(o.key.slice(o.key.lastIndexOf('/') + 1)) && !o.key.includes('/quarantine/'),
    );
    if (objects.length === 0) throw new MetError(ErrorTypes.NotFound, `no corpus '${corpus}' at s3://${this.bucket}/${this.prefix}`);
    let downloaded = 0;
    let unchanged = 0;
    const wanted = new Set<string>();
    for (const o of objects) {
      const path = this.localPathOf(localRoot, o.key);
      wanted.add(path);
      if (existsSync(path) && statSync(path).size === o.size) {
        unchanged++;
        continue;
      }
      await this.download(o.key, path, o.size);
      const kind = o.key.split('/').find((part) => (SHARD_KINDS as readonly string[]).includes(part)) as ShardKind;
      const status = await shardStatus(duck, path, kind, false);
      if (status.state !== 'valid') {
        rmSync(path, { force: true });
        throw new MetError(
          ErrorTypes.ShardCorrupt,
          `s3://${this.bucket}/${o.key} is not a valid shard (${status.state === 'corrupt' ? status.reason : status.state})`,
        );
      }
      downloaded++;
    }
    let removed = 0;
    if (options.mirror) {
      for (const kind of SHARD_KINDS) {
        for (const shard of listShards(localRoot, corpus, kind)) {
          if (!wanted.has(shard.path)) {
            rmSync(shard.path);
            removed++;
          }
        }
      }
    }
    if (!existsSync(corpusDir(localRoot, corpus))) mkdirSync(corpusDir(localRoot, corpus), { recursive: true });
    return { downloaded, unchanged, removed };
  }
}
