import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import yauzl from 'yauzl';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Streaming extraction of zip and tar(.gz) archives into a folder. Every entry is checked before a
 * byte is written: absolute paths, `..` segments, or anything resolving outside the target are
 * refused (the zip-slip attack), and so are links and devices.
 */
export function safeTarget(root: string, entryName: string, archive: string): string {
  const name = entryName.replace(/\\/g, '/');
  const target = resolve(root, name);
  const rel = relative(resolve(root), target);
  if (isAbsolute(name) || name.split('/').includes('..') || rel.startsWith('..') || isAbsolute(rel)) {
    throw new MetError(ErrorTypes.UnsafeArchive, `${archive}: entry '${entryName}' would be written outside ${root}; refusing to extract this archive`);
  }
  return target;
}

export async function extractZip(archive: string, root: string): Promise<number> {
  const zip = await new Promise<yauzl.ZipFile>((ok, fail) =>
    yauzl.open(archive, { lazyEntries: true, autoClose: true }, (err, z) => (err ? fail(err) : ok(z))),
  );
  // First pass over the central directory: refuse the archive before writing anything.
  const entries: yauzl.Entry[] = [];
  await new Promise<void>((ok, fail) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        safeTarget(root, entry.fileName, archive);
        const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
        if (mode === 0o120000)
          throw new MetError(ErrorTypes.UnsafeArchive, `${archive}: entry '${entry.fileName}' is a symbolic link; refusing to extract this archive`);
        entries.push(entry);
        zip.readEntry();
      } catch (err) {
        zip.close();
        fail(err);
      }
    });
    zip.on('end', () => ok());
    // yauzl checks names itself ("invalid relative path: ../x"): the same refusal, in met's words.
    zip.on('error', (err: Error) => {
      const name = /(?:invalid relative path|absolute path): (.*)$/.exec(err.message)?.[1];
      fail(
        name ? new MetError(ErrorTypes.UnsafeArchive, `${archive}: entry '${name}' would be written outside ${root}; refusing to extract this archive`) : err,
      );
    });
    zip.readEntry();
  });
  const reopened = await new Promise<yauzl.ZipFile>((ok, fail) =>
    yauzl.open(archive, { lazyEntries: true, autoClose: true }, (err, z) => (err ? fail(err) : ok(z))),
  );
  let files = 0;
  await new Promise<void>((ok, fail) => {
    reopened.on('entry', (entry: yauzl.Entry) => {
      const target = safeTarget(root, entry.fileName, archive);
      if (entry.fileName.endsWith('/')) {
        mkdirSync(target, { recursive: true });
        reopened.readEntry();
        return;
      }
      mkdirSync(dirname(target), { recursive: true });
      reopened.openReadStream(entry, (err, stream) => {
        if (err) return fail(err);
        pipeline(stream, createWriteStream(target)).then(() => {
          files++;
          reopened.readEntry();
        }, fail);
      });
    });
    reopened.on('end', () => ok());
    reopened.on('error', fail);
    reopened.readEntry();
  });
  return files;
}

/**
 * ustar/pax tar, optionally gzipped, read as a stream of 512-byte blocks. All or nothing, like zip:
 * a first pass checks every entry (names, types, a complete last entry) and writes nothing; only
 * then a second pass writes.
 */
export async function extractTar(archive: string, root: string, gzip: boolean): Promise<number> {
  await walkTar(archive, root, gzip, false);
  return walkTar(archive, root, gzip, true);
}

async function walkTar(archive: string, root: string, gzip: boolean, write: boolean): Promise<number> {
  const input = gzip ? createReadStream(archive).pipe(createGunzip()) : createReadStream(archive);
  let buffer = Buffer.alloc(0);
  let files = 0;
  let current: { remaining: number; padding: number; out?: import('node:fs').WriteStream } | undefined;
  let paxPath: string | undefined;
  let paxBuffer: Buffer[] | undefined;
  const field = (h: Buffer, at: number, len: number) =>
    h
      .subarray(at, at + len)
      .toString('utf8')
      .replace(/\0.*$/s, '');
  for await (const chunk of input) {
    buffer = Buffer.concat([buffer, chunk as Buffer]);
    while (true) {
      if (current) {
        const take = Math.min(current.remaining, buffer.length);
        if (take > 0) {
          const piece = buffer.subarray(0, take);
          if (current.out && !current.out.write(piece)) await new Promise<void>((r) => current!.out!.once('drain', () => r()));
          paxBuffer?.push(Buffer.from(piece));
          buffer = buffer.subarray(take);
          current.remaining -= take;
        }
        if (current.remaining > 0) break;
        if (buffer.length < current.padding) break;
        buffer = buffer.subarray(current.padding);
        if (current.out) {
          const out = current.out;
          await new Promise<void>((ok, fail) => out.end((err?: Error | null) => (err ? fail(err) : ok())));
          files++;
        }
        if (paxBuffer) {
          paxPath = /\d+ path=([^\n]*)\n/.exec(Buffer.concat(paxBuffer).toString('utf8'))?.[1];
          paxBuffer = undefined;
        }
        current = undefined;
      }
      if (buffer.length < 512) break;
      const header = buffer.subarray(0, 512);
      buffer = buffer.subarray(512);
      if (header.every((b) => b === 0)) continue; // end-of-archive blocks
      const name = paxPath ?? [field(header, 345, 155), field(header, 0, 100)].filter(Boolean).join('/');
      const size = parseInt(field(header, 124, 12).trim() || '0', 8);
      const type = String.fromCharCode(header[156] || 48);
      const padding = (512 - (size % 512)) % 512;
      if (type === 'x' || type === 'g') {
        paxBuffer = type === 'x' ? [] : undefined;
        current = { remaining: size, padding };
        continue;
      }
      paxPath = undefined;
      const target = safeTarget(root, name, archive);
      if (type === '5') {
        if (write) mkdirSync(target, { recursive: true });
        current = { remaining: size, padding };
      } else if (type === '0' || type === '7') {
        if (write) mkdirSync(dirname(target), { recursive: true });
        else files++;
        current = { remaining: size, padding, out: write ? createWriteStream(target) : undefined };
      } else {
        throw new MetError(
          ErrorTypes.UnsafeArchive,
          `${archive}: entry '${name}' is a ${type === '2' ? 'symbolic link' : type === '1' ? 'hard link' : `type '${type}' entry`}; refusing to extract this archive`,
        );
      }
    }
  }
  if (current) throw new MetError(ErrorTypes.BadInput, `${archive} ends in the middle of an entry: the download is incomplete`);
  return files;
}

export type ArchiveKind = 'zip' | 'tar' | 'tar.gz' | 'none';

export async function extract(archive: string, root: string, kind: ArchiveKind): Promise<number> {
  mkdirSync(root, { recursive: true });
  if (kind === 'zip') return extractZip(archive, root);
  if (kind === 'tar' || kind === 'tar.gz') return extractTar(archive, root, kind === 'tar.gz');
  return 0;
}
