import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DataLocation } from '../common/location';
import { S3CorpusStore } from './s3';
import { isNotFound } from './s3objects';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.csv': 'text/csv',
};

/** Every file under `dir`, relative, with '/' separators. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : e.isFile() ? [`${prefix}${e.name}`] : [],
  );
}

/** Small JSON documents under a bucket prefix (run records, run manifests): one PUT each, read by any host. */
export class BucketDocuments {
  readonly store: S3CorpusStore;
  constructor(
    readonly client: S3Client,
    readonly location: Extract<DataLocation, { kind: 's3' }>,
  ) {
    this.store = new S3CorpusStore(client, location.bucket, location.prefix);
  }
  private urlOf(key: string): string {
    return `s3://${this.location.bucket}/${key}`;
  }

  async writeJson(relPath: string, value: unknown): Promise<string> {
    const key = [this.location.prefix, relPath].filter(Boolean).join('/');
    await this.client.send(
      new PutObjectCommand({ Bucket: this.location.bucket, Key: key, Body: JSON.stringify(value, null, 2), ContentType: 'application/json' }),
    );
    return this.urlOf(key);
  }

  async publishFiles(relDir: string, localDir: string): Promise<string> {
    const base = [this.location.prefix, relDir].filter(Boolean).join('/');
    const files = filesUnder(localDir).sort((a, b) => Number(a.endsWith('.html')) - Number(b.endsWith('.html')) || a.localeCompare(b));
    for (const file of files) {
      const ext = file.slice(file.lastIndexOf('.'));
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: `${base}/${file}`,
          Body: readFileSync(join(localDir, ...file.split('/'))),
          ContentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
        }),
      );
    }
    return this.urlOf(base);
  }

  /** A text object at a path relative to the location (a published report page), or undefined. */
  async readText(relPath: string): Promise<string | undefined> {
    const key = [this.location.prefix, relPath].filter(Boolean).join('/');
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key }));
      return await r.Body!.transformToString('utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async readJson(relPath: string): Promise<unknown> {
    const key = [this.location.prefix, relPath].filter(Boolean).join('/');
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: key }));
      return JSON.parse(await r.Body!.transformToString('utf8')) as unknown;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async listJson(relDir: string): Promise<string[]> {
    const base = `${[this.location.prefix, relDir].filter(Boolean).join('/')}/`;
    return (await this.store.list(relDir))
      .map((o) => o.key.slice(base.length))
      .filter((name) => name.endsWith('.json') && !name.includes('/'))
      .sort();
  }
}
