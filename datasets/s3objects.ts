import { createReadStream, statSync } from 'node:fs';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';

/**
 * Shards as S3 objects, for both S3 corpus layers (datasets/s3.ts: push and pull; datasets/bucketCorpora.ts:
 * bucket corpora): one HEAD that reads met's object metadata, one PUT that writes it. A shard is
 * committed with its row count and content checksum as user metadata, so "is this unit done?"
 * is one HEAD and never a download.
 */
export const SHARD_CONTENT_TYPE = 'application/vnd.apache.parquet';

/** The object metadata met commits a shard with (S3 user metadata: lower-case names, string values). */
const ShardObjectMetadata = z.object({
  'met-rows': z
    .string()
    .regex(/^[0-9]{1,15}$/, 'a row count')
    .transform(Number),
  'met-checksum': z.string().regex(/^[0-9]{1,20}$/, "met's decimal content checksum"),
});

export interface ShardObject {
  key: string;
  etag: string;
  size: number;
  rows: number;
  checksum: string;
}

/** missing; foreign: an object without met's metadata (not a shard met committed, never counted); present: a committed shard. */
export type ShardHead = { state: 'missing' } | { state: 'foreign'; etag: string } | ({ state: 'present' } & ShardObject);

export async function headShard(client: S3Client, bucket: string, key: string): Promise<ShardHead> {
  try {
    const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    const etag = r.ETag ?? '';
    const meta = ShardObjectMetadata.safeParse(r.Metadata ?? {});
    if (!meta.success) return { state: 'foreign', etag };
    return { state: 'present', key, etag, size: Number(r.ContentLength ?? 0), rows: meta.data['met-rows'], checksum: meta.data['met-checksum'] };
  } catch (err) {
    if (isNotFound(err)) return { state: 'missing' };
    throw err;
  }
}

/**
 * One PUT of a local shard file with met's metadata. `ifAbsent`: only when no object has the key
 * (false: another writer won). The object's ETag ('' when the store gives none).
 */
export async function putShard(
  client: S3Client,
  bucket: string,
  key: string,
  path: string,
  shard: { rows: number; checksum: string },
  options: { ifAbsent?: boolean } = {},
): Promise<string | false> {
  try {
    const put = await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: createReadStream(path),
        ContentLength: statSync(path).size,
        ContentType: SHARD_CONTENT_TYPE,
        Metadata: { 'met-rows': String(shard.rows), 'met-checksum': shard.checksum },
        ...(options.ifAbsent ? { IfNoneMatch: '*' } : {}),
      }),
    );
    return put.ETag ?? '';
  } catch (err) {
    if (options.ifAbsent && isPreconditionFailed(err)) return false;
    throw err;
  }
}

/** The SDK's ways of saying 404 (HEAD answers NotFound, GET NoSuchKey). */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}
