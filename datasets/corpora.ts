import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseDataLocation } from '../common/location';
import { BucketCorpora } from './bucketCorpora';
import type { Corpora } from './corporaTypes';
import { LocalCorpora } from './localCorpora';

/**
 * Where corpora live, as workers and readers see it (the `Corpora` interface, corporaTypes.ts): a
 * local folder (localCorpora.ts), or a bucket `s3://bucket/prefix` that hosts sharing no disk write
 * to and read from (bucketCorpora.ts; its small JSON documents, bucketDocuments.ts). This module
 * opens the one a process's config names, and is the import path for all of them.
 */
export type { Corpora, ShardRef } from './corporaTypes';
export { LocalCorpora } from './localCorpora';
export { BucketCorpora } from './bucketCorpora';
export { BucketDocuments } from './bucketDocuments';

/** An S3 client from the AWS SDK's standard environment (AWS_ENDPOINT_URL, AWS_REGION, credentials chain). */
export function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): S3Client {
  // MET_S3_ENDPOINT is the name met used before AWS_ENDPOINT_URL; the SDK reads AWS_ENDPOINT_URL(_S3) itself.
  const endpoint = env.MET_S3_ENDPOINT || undefined;
  const custom = endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  // S3-compatible servers (MinIO, moto, Ceph) on an address of their own expect path-style requests.
  return new S3Client({ region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1', endpoint, forcePathStyle: custom ? true : undefined });
}

/** The corpora of a process's config: its data folder, or the bucket of `--data s3://...` with local scratch and cache. */
export function openCorpora(duck: DuckDBInstance, config: { dataDir: string; corpora?: string; cacheDir?: string }, client?: S3Client): Corpora {
  if (!config.corpora) return new LocalCorpora(duck, config.dataDir);
  const location = parseDataLocation(config.corpora);
  if (location.kind !== 's3') return new LocalCorpora(duck, location.root);
  return new BucketCorpora(duck, client ?? s3ClientFromEnv(), location, config.dataDir, config.cacheDir ?? join(config.dataDir, 'cache'));
}
