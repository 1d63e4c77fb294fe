import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * A bounded walk over a GGUF file's header (magic, version, metadata, tensor infos) before anything
 * else reads it: every count and length is checked against the bytes the file has left, so a
 * malformed or hostile file (88 bytes claiming 2^50 entries made `met models ls` hang past 2 GB,
 * issue #28) fails at once with the file and the field named. Reads through a small window, never
 * the whole header at once. Run before node-llama-cpp or met's own reader sees a file.
 */
export interface GgufHeaderSummary {
  version: number;
  tensorCount: number;
  kvCount: number;
  /** Bytes of the header (metadata and tensor infos), before alignment. */
  headerBytes: number;
}

/** Strings a header holds (a key, a tokenizer entry, a chat template): no real one comes near this. */
const MAX_STRING_BYTES = 16 * 1024 * 1024;
/** Nesting of arrays in metadata (real files nest at most once). */
const MAX_DEPTH = 4;
const SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function checkGgufHeader(path: string): GgufHeaderSummary {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const name = basename(path);
    const bad = (field: string, why: string) =>
      new MetError(ErrorTypes.BadInput, `${name} is not a valid GGUF file: ${field} ${why} (the file has ${size.toLocaleString('en-US')} bytes)`);
    let at = 0;
    const window = Buffer.alloc(64 * 1024);
    let windowStart = -1;
    let windowEnd = -1;
    const bytes = (n: number, field: string): Buffer => {
      if (n > size - at) throw bad(field, `needs ${n.toLocaleString('en-US')} bytes at offset ${at.toLocaleString('en-US')}, past the end`);
      if (at < windowStart || at + n > windowEnd) {
        if (n > window.length) {
          const big = Buffer.alloc(n);
          readSync(fd, big, 0, n, at);
          at += n;
          return big;
        }
        windowStart = at;
        windowEnd = at + readSync(fd, window, 0, Math.min(window.length, size - at), at);
      }
      const out = window.subarray(at - windowStart, at - windowStart + n);
      at += n;
      return out;
    };
    const u32 = (field: string) => bytes(4, field).readUInt32LE(0);
    const u64 = (field: string) => {
      const v = bytes(8, field).readBigUInt64LE(0);
      if (v > BigInt(size)) throw bad(field, `is ${v.toLocaleString('en-US')}, more than the file's bytes`);
      return Number(v);
    };
    const skipBytes = (n: number, field: string) => {
      if (n > size - at) throw bad(field, `needs ${n.toLocaleString('en-US')} bytes at offset ${at.toLocaleString('en-US')}, past the end`);
      at += n;
    };
    const str = (field: string, keep = false): string => {
      const n = u64(`${field} (its length)`);
      if (n > MAX_STRING_BYTES) throw bad(field, `is ${n.toLocaleString('en-US')} bytes long (at most ${MAX_STRING_BYTES.toLocaleString('en-US')})`);
      if (!keep) {
        skipBytes(n, field);
        return '';
      }
      return bytes(n, field).toString('utf8');
    };
    const skipValue = (type: number, field: string, depth: number): void => {
      if (type === 8) return void str(field);
      if (type === 9) {
        if (depth >= MAX_DEPTH) throw bad(field, `nests arrays deeper than ${MAX_DEPTH}`);
        const inner = u32(`${field} (array type)`);
        const count = u64(`${field} (array length)`);
        if (SIZES[inner] !== undefined) return skipBytes(SIZES[inner] * count, `${field} (${count.toLocaleString('en-US')} elements)`);
        // Every element takes at least 8 bytes (a string's length, an array's header): a count the file cannot hold fails here.
        if (count * 8 > size - at) throw bad(field, `claims ${count.toLocaleString('en-US')} elements, more than the file can hold`);
        for (let i = 0; i < count; i++) skipValue(inner, field, depth + 1);
        return;
      }
      if (SIZES[type] === undefined) throw bad(field, `has unknown value type ${type}`);
      skipBytes(SIZES[type], field);
    };

    if (size < 24 || bytes(4, 'magic').toString('latin1') !== 'GGUF') throw bad('magic', 'is not "GGUF"');
    const version = u32('version');
    if (version < 2 || version > 3) throw bad('version', `is ${version} (met reads 2 and 3)`);
    const tensorCount = u64('tensor count');
    const kvCount = u64('metadata entry count');
    // The smallest entry: a key length (8), one byte of key, a type (4), a one-byte value; a tensor info: 8 + 1 + 4 + 8 + 4 + 8.
    if (kvCount * 14 > size - at) throw bad('metadata entry count', `claims ${kvCount.toLocaleString('en-US')} entries, more than the file can hold`);
    if (tensorCount * 33 > size - at) throw bad('tensor count', `claims ${tensorCount.toLocaleString('en-US')} tensors, more than the file can hold`);
    for (let i = 0; i < kvCount; i++) {
      const key = str(`metadata entry ${i} key`, true);
      skipValue(u32(`metadata ${JSON.stringify(key.slice(0, 80))} type`), `metadata ${JSON.stringify(key.slice(0, 80))}`, 0);
    }
    for (let i = 0; i < tensorCount; i++) {
      str(`tensor ${i} name`);
      const dims = u32(`tensor ${i} dimension count`);
      if (dims > 8) throw bad(`tensor ${i} dimension count`, `is ${dims} (at most 8)`);
      for (let d = 0; d < dims; d++) u64(`tensor ${i} dimension ${d}`);
      u32(`tensor ${i} type`);
      u64(`tensor ${i} offset`);
    }
    return { version, tensorCount, kvCount, headerBytes: at };
  } finally {
    closeSync(fd);
  }
}
