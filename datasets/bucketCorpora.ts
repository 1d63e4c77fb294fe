import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { commitFile, writeFileAtomic } from '../common/files';
import { hashHex } from '../common/hash';
import type { DataLocation } from '../common/location';
import { BucketDocuments } from './bucketDocuments';
import type { Corpora, ShardRef } from './corporaTypes';
import { checkCorpusName, corpusDir, decodePathValue, encodePathValue, isShardFile, listShards, type Partition, shardPath } from './paths';
import { S3CorpusStore } from './s3';
import { headShard, putShard, type ShardHead } from './s3objects';
import { shardStatus, type ShardTarget, type UnitStatus, writeShard, type WriteShardOptions, type WrittenShard } from './shards';
import { PARTITION_COLUMNS, SHARD_KINDS, type ShardKind } from './tables';

interface RemoteShard {
  key: string;
  etag: string;
  size: number;
  rows: number;
  checksum: string;
}

/** Requests to the store at once per listing or sync (HEADs, downloads). */
const STORE_CONCURRENCY = 8;

/** fn over items, at most `limit` at a time; results in item order. */
async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * Corpora in a bucket (`s3://bucket/prefix`). A worker writes each shard to its local staging
 * folder exactly as it would write a local corpus (temporary name, fsync, rename), then uploads it
 * to the same relative key under the prefix with its row count and content checksum as object
 * metadata. The upload is a single PUT (atomic: an object is complete or absent) made with
 * `If-None-Match: *`, so of two hosts that finish the same unit the first one wins and the other
 * keeps the winner's shard: one deterministic key per unit, one complete shard.
 * "Is this unit done?" is one HEAD: done when the object exists *with* met's metadata; an object
 * without it (a foreign upload, a hand copy) is never counted, and is overwritten by the next
 * worker that completes the unit.
 *
 * Readers bring a corpus into a local cache: each object's bytes are downloaded once into
 * `<cache>/blobs/<kind>/<checksum>-<rows>.parquet` (checked row by row against its metadata),
 * and `<cache>/trees/<bucket>/<prefix>/` holds the bucket's tree as hard links to those blobs,
 * mirrored on every sync (objects gone from the bucket leave the tree). Every existing reader then
 * runs on that tree unchanged.
 */
export class BucketCorpora implements Corpora {
  readonly kind = 's3' as const;
  readonly url: string;
  readonly store: S3CorpusStore;
  readonly documents: BucketDocuments;
  /** Where this host writes shards before uploading them. */
  readonly writeRoot: string;
  readonly treeRoot: string;
  private readonly blobsDir: string;
  /** Per object: the ETag whose downloaded bytes this host checked against the object's metadata (see blobOf). */
  private readonly verifiedDir: string;
  /** Objects whose bytes disagree with their metadata: left out of every read, url -> why (a warning, not a failed corpus). */
  readonly quarantined = new Map<string, string>();
  /** key -> what its last HEAD said, while the ETag stays the same (the tree sync HEADs only new objects). */
  private readonly known = new Map<string, RemoteShard>();
  /** What the last sync did: shards in the tree, downloaded into the cache, found there, removed from the tree. */
  lastSync = { shards: 0, downloaded: 0, cached: 0, removed: 0 };
  /** Shard-named objects the last listings skipped because they carry no met metadata (never counted). */
  readonly uncounted = new Set<string>();
  /** Syncs of one tree run one after another (a sync removes what the bucket no longer has). */
  private syncChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly duck: DuckDBInstance,
    readonly client: S3Client,
    readonly location: Extract<DataLocation, { kind: 's3' }>,
    scratch: string,
    cache: string,
  ) {
    this.url = location.url;
    this.store = new S3CorpusStore(client, location.bucket, location.prefix);
    this.documents = new BucketDocuments(client, location);
    const under = [location.bucket, ...location.prefix.split('/').filter(Boolean)];
    this.writeRoot = join(scratch, 'staging', 's3', ...under);
    this.treeRoot = join(cache, 'trees', ...under);
    this.blobsDir = join(cache, 'blobs');
    this.verifiedDir = join(cache, 'verified');
  }

  /*
   * The cache keeps one blob per (checksum, rows), which is what an object's metadata claims: a
   * forged object whose metadata copies another shard's would be served that shard's cached bytes
   * (issue #28). So a blob is used for an object only when this host has checked that object's own
   * bytes (at its first download, or at its commit here) and its ETag has not changed since.
   */
  private verifiedFile(key: string): string {
    return join(this.verifiedDir, `${hashHex(this.location.bucket, key)}.json`);
  }
  private isVerified(shard: RemoteShard): boolean {
    try {
      const v = JSON.parse(readFileSync(this.verifiedFile(shard.key), 'utf8')) as Partial<RemoteShard>;
      return v.key === shard.key && v.etag === shard.etag && v.checksum === shard.checksum && v.rows === shard.rows;
    } catch {
      return false;
    }
  }
  private markVerified(shard: Pick<RemoteShard, 'key' | 'etag' | 'checksum' | 'rows'>): void {
    if (!shard.etag) return;
    writeFileAtomic(this.verifiedFile(shard.key), JSON.stringify({ key: shard.key, etag: shard.etag, checksum: shard.checksum, rows: shard.rows }));
  }

  private keyOfTarget(target: ShardTarget & { partition: Partition }): string {
    return this.store.keyOf(this.writeRoot, shardPath(this.writeRoot, target.corpus, target.kind, target.partition, target.unitId));
  }
  private urlOf(key: string): string {
    return `s3://${this.location.bucket}/${key}`;
  }
  private keyOfUrl(ref: string): string {
    const head = `s3://${this.location.bucket}/`;
    if (!ref.startsWith(head)) throw new MetError(ErrorTypes.BadInput, `${ref} is not in ${this.url}`);
    const key = ref.slice(head.length);
    if (this.location.prefix && !key.startsWith(`${this.location.prefix}/`)) throw new MetError(ErrorTypes.BadInput, `${ref} is not under ${this.url}`);
    return key;
  }
  private relOf(key: string): string[] {
    const rel = this.location.prefix ? key.slice(this.location.prefix.length + 1) : key;
    const parts = rel.split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new MetError(ErrorTypes.BadInput, `refusing object key '${key}'`);
    return parts;
  }
  private blobPath(kind: ShardKind, checksum: string, rows: number): string {
    if (!/^[0-9]+$/.test(checksum)) throw new MetError(ErrorTypes.ShardCorrupt, `checksum '${checksum}' is not met's`);
    return join(this.blobsDir, kind, `${checksum}-${rows}.parquet`);
  }

  async head(key: string): Promise<ShardHead> {
    const h = await headShard(this.client, this.location.bucket, key);
    // An object without met's row count and checksum (foreign) is not a shard met committed: never counted.
    if (h.state === 'present') this.known.set(key, { key, etag: h.etag, size: h.size, rows: h.rows, checksum: h.checksum });
    return h;
  }

  async unitStatus(target: ShardTarget & { partition: Partition }): Promise<UnitStatus> {
    const key = this.keyOfTarget(target);
    const h = await this.head(key);
    return h.state === 'present' ? { state: 'valid', rows: h.rows, checksum: h.checksum, path: this.urlOf(key) } : { state: 'missing' };
  }

  async writeShard(
    target: ShardTarget & { partition: Partition },
    rows: readonly Record<string, unknown>[],
    options?: WriteShardOptions,
  ): Promise<WrittenShard> {
    const key = this.keyOfTarget(target);
    const before = await this.head(key);
    if (before.state === 'present') {
      // A shard this host staged before a crash, committed meanwhile by another host: not needed any more.
      rmSync(shardPath(this.writeRoot, target.corpus, target.kind, target.partition, target.unitId), { force: true });
      return { path: this.urlOf(key), rows: before.rows, checksum: before.checksum, bytes: before.size, alreadyDone: true };
    }
    // Local first, as for a folder corpus: a crash before the upload leaves a valid staged shard that the retry uploads.
    const local = await writeShard(this.duck, this.writeRoot, target, rows, options);
    const uploaded = await this.upload(key, local.path, target.kind, local.rows, local.checksum, before.state === 'missing');
    if (uploaded === false) {
      // Another host committed this unit first: its shard is the unit's shard; ours is dropped.
      rmSync(local.path, { force: true });
      const after = await this.head(key);
      if (after.state !== 'present')
        throw new MetError(ErrorTypes.ShardCorrupt, `${this.urlOf(key)} was committed by another writer but has no met metadata now`);
      return { path: this.urlOf(key), rows: after.rows, checksum: after.checksum, bytes: after.size, alreadyDone: true };
    }
    this.keepAsBlob(local.path, target.kind, local.checksum, local.rows);
    // This host wrote these bytes: the object at this ETag is known to match its metadata.
    this.markVerified({ key, etag: uploaded, checksum: local.checksum, rows: local.rows });
    return { path: this.urlOf(key), rows: local.rows, checksum: local.checksum, bytes: local.bytes, alreadyDone: false };
  }

  /** One PUT with the metadata; `ifAbsent`: only when no object has the key (false: another writer won). The object's ETag ('' when the store gives none). */
  private async upload(key: string, path: string, kind: ShardKind, rows: number, checksum: string, ifAbsent: boolean): Promise<string | false> {
    const status = await shardStatus(this.duck, path, kind, true);
    if (status.state !== 'valid' || status.rows !== rows || status.checksum !== checksum) {
      throw new MetError(
        ErrorTypes.ShardCorrupt,
        `${path} did not verify before its upload (${status.state === 'corrupt' ? status.reason : status.state}); not uploading it`,
      );
    }
    return putShard(this.client, this.location.bucket, key, path, { rows, checksum }, { ifAbsent });
  }

  /** A committed staged shard becomes the cache's copy of its bytes (or is dropped). */
  private keepAsBlob(path: string, kind: ShardKind, checksum: string, rows: number): void {
    const blob = this.blobPath(kind, checksum, rows);
    try {
      if (!existsSync(blob)) {
        mkdirSync(dirname(blob), { recursive: true });
        renameSync(path, blob);
        return;
      }
    } catch {
      // another file system: the cache downloads it when a reader needs it
    }
    rmSync(path, { force: true });
  }

  /** The local blob of a remote shard, downloaded and checked against its metadata when missing. */
  private async blobOf(shard: RemoteShard, kind: ShardKind): Promise<string> {
    const blob = this.blobPath(kind, shard.checksum, shard.rows);
    if (existsSync(blob) && this.isVerified(shard)) {
      this.lastSync.cached++;
      return blob;
    }
    this.lastSync.downloaded++;
    mkdirSync(dirname(blob), { recursive: true });
    const temp = join(dirname(blob), `.tmp-blob-${process.pid}-${randomBytes(4).toString('hex')}.parquet`);
    try {
      await this.store.download(shard.key, temp, shard.size);
      const status = await shardStatus(this.duck, temp, kind, true);
      if (status.state !== 'valid' || status.rows !== shard.rows || status.checksum !== shard.checksum) {
        throw new MetError(
          ErrorTypes.ShardCorrupt,
          `${this.urlOf(shard.key)} does not match its metadata (${status.state === 'corrupt' ? status.reason : status.state === 'valid' ? `${status.rows} rows, checksum ${status.checksum}` : status.state}): delete it so that its unit is redone`,
        );
      }
      // Bytes with this checksum and row count are the blob's bytes: an existing blob stays.
      if (!existsSync(blob)) commitFile(temp, blob);
      this.markVerified(shard);
      return blob;
    } finally {
      rmSync(temp, { force: true });
    }
  }

  async localFile(ref: string): Promise<string> {
    if (!ref.startsWith('s3://')) throw new MetError(ErrorTypes.BadInput, `${ref} is a local path, but this worker's corpora are in ${this.url}`);
    const key = this.keyOfUrl(ref);
    const h = await this.head(key);
    if (h.state !== 'present')
      throw new MetError(
        ErrorTypes.NotFound,
        `${ref} is ${h.state === 'missing' ? 'not in the bucket' : 'not a committed met shard (no row count and checksum metadata)'}`,
      );
    const kind = this.relOf(key).find((p) => (SHARD_KINDS as readonly string[]).includes(p)) as ShardKind | undefined;
    if (!kind) throw new MetError(ErrorTypes.BadInput, `${ref} is not under a corpus kind folder`);
    return this.blobOf(h, kind);
  }

  /** Committed shards of one kind: listed, then HEADed for metadata (once per ETag). */
  private async remoteShards(corpus: string, kind: ShardKind, levels: string[] = []): Promise<(RemoteShard & { partition: Partition; name: string })[]> {
    checkCorpusName(corpus);
    const out: (RemoteShard & { partition: Partition; name: string })[] = [];
    const cols = PARTITION_COLUMNS[kind];
    const candidates: { key: string; etag: string; size: number; partition: Partition; name: string }[] = [];
    for (const o of await this.store.list([`corpus/${corpus}/${kind}`, ...levels].join('/'))) {
      const parts = this.relOf(o.key);
      const name = parts[parts.length - 1];
      // corpus/<name>/<kind>/<col>=<value>.../part-*.parquet, nothing else (quarantine, journals, runs).
      if (!isShardFile(name) || parts.length !== 4 + cols.length) continue;
      const partition: Partition = {};
      let ok = true;
      cols.forEach((col, i) => {
        const level = parts[3 + i];
        if (!level.startsWith(`${col.name}=`)) ok = false;
        else partition[col.field] = decodePathValue(level.slice(col.name.length + 1));
      });
      if (ok) candidates.push({ ...o, partition, name });
    }
    // HEADs (metadata) of objects not seen with this ETag before, several at a time.
    const found = await inParallel(candidates, STORE_CONCURRENCY, async (c) => {
      const known = this.known.get(c.key);
      if (known && known.etag === c.etag && known.size === c.size) return known;
      const h = await this.head(c.key);
      if (h.state === 'foreign') this.uncounted.add(this.urlOf(c.key));
      return h.state === 'present' ? h : undefined;
    });
    candidates.forEach((c, i) => {
      const shard = found[i];
      if (shard) out.push({ ...shard, partition: c.partition, name: c.name });
    });
    return out;
  }

  async listShards(corpus: string, kind: ShardKind): Promise<ShardRef[]> {
    return (await this.remoteShards(corpus, kind)).map((s) => ({ ref: this.urlOf(s.key), kind, partition: s.partition, name: s.name, rows: s.rows }));
  }

  readRoot(corpus: string, kinds: readonly ShardKind[] = SHARD_KINDS, within?: Partition): Promise<string> {
    const run = this.syncChain.then(() => this.sync(corpus, kinds, within));
    this.syncChain = run.catch(() => undefined);
    return run;
  }

  private async sync(corpus: string, kinds: readonly ShardKind[], within?: Partition): Promise<string> {
    this.lastSync = { shards: 0, downloaded: 0, cached: 0, removed: 0 };
    let any = false;
    for (const kind of kinds) {
      const levels = partitionLevels(kind, within);
      const subtree = join(corpusDir(this.treeRoot, corpus), kind, ...levels) + '/';
      // Only files in the tree before the listing may be removed: another process sharing this
      // cache may link a newer shard meanwhile, which this listing does not know yet.
      const before = new Set(
        listShards(this.treeRoot, corpus, kind)
          .filter((s) => s.path.startsWith(subtree))
          .map((s) => s.path),
      );
      const remote = await this.remoteShards(corpus, kind, levels);
      any ||= remote.length > 0;
      const wanted = new Set<string>();
      // Downloads (and their checks) several at a time; the links are made in order afterwards.
      // An object whose bytes disagree with its metadata is quarantined (left out, with a warning): one bad object does not fail the corpus.
      const blobs = await inParallel(remote, STORE_CONCURRENCY, (shard) =>
        this.blobOf(shard, kind).catch((err: unknown) => {
          if (!(err instanceof MetError) || err.type !== ErrorTypes.ShardCorrupt) throw err;
          const url = this.urlOf(shard.key);
          if (!this.quarantined.has(url)) console.warn(`met: warning: left out ${err.message}`);
          this.quarantined.set(url, err.message);
          return undefined;
        }),
      );
      remote.forEach((shard, i) => {
        const blob = blobs[i];
        if (blob === undefined) return;
        this.quarantined.delete(this.urlOf(shard.key));
        const path = join(this.treeRoot, ...this.relOf(shard.key));
        wanted.add(path);
        this.lastSync.shards++;
        if (existsSync(path) && statSync(path).ino === statSync(blob).ino) return;
        mkdirSync(dirname(path), { recursive: true });
        const temp = join(dirname(path), `.tmp-link-${process.pid}-${randomBytes(4).toString('hex')}`);
        try {
          linkSync(blob, temp);
        } catch {
          copyFileSync(blob, temp);
        }
        commitFile(temp, path);
      });
      for (const path of before) {
        if (wanted.has(path)) continue;
        rmSync(path, { force: true });
        this.lastSync.removed++;
      }
    }
    // A sync limited to one partition asks about a slice, and an empty slice of a new corpus is just empty.
    if (!any && !within && !existsSync(corpusDir(this.treeRoot, corpus))) {
      const others = await this.store.listCorpora();
      if (!others.includes(corpus))
        throw new MetError(ErrorTypes.NotFound, `no corpus '${corpus}' at ${this.url}${others.length ? ` (there: ${others.join(', ')})` : ''}`);
    }
    mkdirSync(corpusDir(this.treeRoot, corpus), { recursive: true });
    return this.treeRoot;
  }

  /** Corpora with at least one object under the prefix. */
  listCorpora(): Promise<string[]> {
    return this.store.listCorpora();
  }

  writeJson(relPath: string, value: unknown): Promise<string> {
    return this.documents.writeJson(relPath, value);
  }
  readJson(relPath: string): Promise<unknown> {
    return this.documents.readJson(relPath);
  }
  listJson(relDir: string): Promise<string[]> {
    return this.documents.listJson(relDir);
  }
  publishFiles(relDir: string, localDir: string): Promise<string> {
    return this.documents.publishFiles(relDir, localDir);
  }
}

/**
 * The `<column>=<value>` folder levels of a partition's leading fields (a prefix of the kind's
 * partition columns); none for no partition. A field out of order is refused: a prefix listing
 * could not honour it.
 */
function partitionLevels(kind: ShardKind, within: Partition | undefined): string[] {
  if (!within) return [];
  const cols = PARTITION_COLUMNS[kind];
  const given = Object.keys(within).filter((k) => within[k] !== undefined);
  const levels: string[] = [];
  for (const col of cols) {
    const value = within[col.field];
    if (value === undefined) break;
    levels.push(`${col.name}=${encodePathValue(value)}`);
  }
  if (levels.length !== given.length)
    throw new MetError(
      ErrorTypes.BadInput,
      `a ${kind} sync can be limited to leading partition fields (${cols.map((c) => c.field).join(', ')}), not ${given.join(', ')}`,
    );
  return levels;
}
