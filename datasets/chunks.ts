import duckdb from '@duckdb/node-bindings';
import { DuckDBDataChunk, type DuckDBAppender, type DuckDBType } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import type { Column, ColumnType } from './tables';

/**
 * Columnar transfer between JS and DuckDB data chunks, without one DuckDB value object per cell.
 *
 * Writing: rows (plain objects from the sampler) are checked against their column types and copied
 * column by column into a chunk's vectors: numbers into typed arrays copied in one call, token lists
 * into one flat child array per chunk, strings one call each (a chunk of identical strings, e.g.
 * the corpus or run id, becomes one constant). This is the write path's hot loop; the generic
 * `DuckDBDataChunk.setColumns` boxes every list as a `DuckDBListValue` and is about 1.3x slower.
 *
 * Reading: string and list columns of result chunks are read straight from vector memory:
 * completions decode from UTF-8 into code points and token lists copy from the child vector, so a
 * slice becomes typed arrays without building a JS string or array per row.
 *
 * @duckdb/node-bindings is @duckdb/node-api's own low-level layer (pinned by it to the same version).
 */
const VECTOR_SIZE = duckdb.vector_size();

/** Sets a string element. The plain C call stops at a NUL character, so strings holding one go by length. */
function assignString(vector: duckdb.Vector, index: number, value: string): void {
  if (value.includes('\u0000')) duckdb.vector_assign_string_element_len(vector, index, Buffer.from(value, 'utf8'));
  else duckdb.vector_assign_string_element(vector, index, value);
}

class RowError extends MetError {
  constructor(row: number, path: string, message: string) {
    super(ErrorTypes.BadInput, `row ${row}: ${path} ${message}`);
  }
}

/** Validity mask: one bit per row, set = valid. Written only when some row is null. */
function writeValidity(vector: duckdb.Vector, nulls: Uint8Array, n: number): void {
  let any = false;
  for (let i = 0; i < n; i++) if (nulls[i]) any = true;
  if (!any) return;
  const words = new Uint32Array(Math.ceil(n / 64) * 2).fill(0xffffffff);
  for (let i = 0; i < n; i++) if (nulls[i]) words[i >>> 5] &= ~(1 << (i & 31));
  duckdb.vector_ensure_validity_writable(vector);
  duckdb.copy_data_to_vector_validity(vector, 0, words.buffer, 0, words.byteLength);
}

type Get = (i: number) => unknown;

const TWO_32 = 4294967296;

/** A safe integer as a little-endian two's-complement int64 at `words[2i]`, `words[2i + 1]`. */
function setInt64(words: Uint32Array, i: number, value: number): void {
  const high = Math.floor(value / TWO_32);
  words[2 * i] = value - high * TWO_32;
  words[2 * i + 1] = high >>> 0;
}

function checkNull(value: unknown, column: Column, row: number, path: string): boolean {
  if (value === null || value === undefined) {
    if (!column.nullable) throw new RowError(row, path, 'is missing (null is not allowed)');
    return true;
  }
  return false;
}

function fillScalar(
  vector: duckdb.Vector,
  column: Column,
  type: Exclude<ColumnType, object>,
  n: number,
  get: Get,
  base: number,
  path: string,
  topLevel: boolean,
): void {
  const nulls = new Uint8Array(n);
  switch (type) {
    case 'varchar': {
      // Constant vectors only at the top level: a struct's children must stay flat like the struct.
      const first = get(0);
      let constant = topLevel && typeof first === 'string';
      for (let i = 1; constant && i < n; i++) constant = get(i) === first;
      if (constant && !(first as string).includes('\u0000')) {
        duckdb.vector_reference_value(vector, duckdb.create_varchar(first as string));
        return;
      }
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (checkNull(v, column, base + i, path)) nulls[i] = 1;
        else if (typeof v !== 'string') throw new RowError(base + i, path, `must be a string, got ${typeof v}`);
        else assignString(vector, i, v);
      }
      break;
    }
    case 'int32':
    case 'float32':
    case 'float64': {
      const arr = type === 'int32' ? new Int32Array(n) : type === 'float32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (checkNull(v, column, base + i, path)) nulls[i] = 1;
        else if (typeof v !== 'number') throw new RowError(base + i, path, `must be a number, got ${typeof v}`);
        else if (type === 'int32' && !(Number.isInteger(v) && v >= -2147483648 && v <= 2147483647))
          throw new RowError(base + i, path, `must be a 32-bit integer, got ${v}`);
        else arr[i] = v;
      }
      duckdb.copy_data_to_vector(vector, 0, arr.buffer, 0, arr.byteLength);
      break;
    }
    case 'int64':
    case 'timestamptz': {
      // Written as two 32-bit words per value: no BigInt allocated per row.
      const words = new Uint32Array(n * 2);
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (checkNull(v, column, base + i, path)) nulls[i] = 1;
        else if (type === 'int64') {
          if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RowError(base + i, path, `must be a safe integer, got ${String(v)}`);
          setInt64(words, i, v);
        } else {
          if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new RowError(base + i, path, 'must be a valid Date');
          const micros = v.getTime() * 1000;
          if (Number.isSafeInteger(micros)) setInt64(words, i, micros);
          else new BigInt64Array(words.buffer, i * 8, 1)[0] = BigInt(v.getTime()) * 1000n;
        }
      }
      duckdb.copy_data_to_vector(vector, 0, words.buffer, 0, words.byteLength);
      break;
    }
    case 'boolean': {
      const arr = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = get(i);
        if (checkNull(v, column, base + i, path)) nulls[i] = 1;
        else if (typeof v !== 'boolean') throw new RowError(base + i, path, `must be a boolean, got ${typeof v}`);
        else arr[i] = v ? 1 : 0;
      }
      duckdb.copy_data_to_vector(vector, 0, arr.buffer, 0, arr.byteLength);
      break;
    }
  }
  writeValidity(vector, nulls, n);
}

function fillList(
  vector: duckdb.Vector,
  column: Column,
  of: 'int32' | 'float32' | 'float64' | 'varchar',
  n: number,
  get: Get,
  base: number,
  path: string,
): void {
  const nulls = new Uint8Array(n);
  // list_entry_t { uint64 offset; uint64 length } as 32-bit words (no BigInt per row).
  const entries = new Uint32Array(n * 4);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const v = get(i);
    setInt64(entries, 2 * i, total);
    if (checkNull(v, column, base + i, path)) {
      nulls[i] = 1;
      continue;
    }
    if (!Array.isArray(v)) throw new RowError(base + i, path, 'must be an array');
    setInt64(entries, 2 * i + 1, v.length);
    total += v.length;
  }
  duckdb.list_vector_reserve(vector, total);
  duckdb.list_vector_set_size(vector, total);
  const child = duckdb.list_vector_get_child(vector);
  if (of === 'varchar') {
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (nulls[i]) continue;
      for (const s of get(i) as unknown[]) {
        if (typeof s !== 'string') throw new RowError(base + i, path, 'must be an array of strings');
        assignString(child, k++, s);
      }
    }
  } else if (total > 0) {
    const flat = of === 'int32' ? new Int32Array(total) : of === 'float32' ? new Float32Array(total) : new Float64Array(total);
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (nulls[i]) continue;
      const list = get(i) as unknown[];
      for (let j = 0; j < list.length; j++) {
        const x = list[j];
        if (typeof x !== 'number' || !(of === 'int32' ? Number.isInteger(x) && x >= -2147483648 && x <= 2147483647 : Number.isFinite(x))) {
          throw new RowError(base + i, `${path}[${j}]`, `must be ${of === 'int32' ? 'a 32-bit integer' : 'a finite number'}, got ${String(x)}`);
        }
        flat[k++] = x;
      }
    }
    duckdb.copy_data_to_vector(child, 0, flat.buffer, 0, flat.byteLength);
  }
  duckdb.copy_data_to_vector(vector, 0, entries.buffer, 0, entries.byteLength);
  writeValidity(vector, nulls, n);
}

function fillColumn(vector: duckdb.Vector, column: Column, n: number, get: Get, base: number, path: string, topLevel = false): void {
  const type = column.type;
  if (typeof type === 'string') return fillScalar(vector, column, type, n, get, base, path, topLevel);
  if ('list' in type) return fillList(vector, column, type.list, n, get, base, path);
  const nulls = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (checkNull(v, column, base + i, path)) nulls[i] = 1;
    else if (typeof v !== 'object') throw new RowError(base + i, path, 'must be an object');
  }
  type.struct.forEach((field, f) => {
    // A null struct's fields are never read; give them a placeholder that passes the field check.
    const fieldGet: Get = (i) => (nulls[i] ? placeholder(field) : (get(i) as Record<string, unknown>)[field.field]);
    fillColumn(duckdb.struct_vector_get_child(vector, f), field, n, fieldGet, base, `${path}.${field.field}`);
  });
  writeValidity(vector, nulls, n);
}

function placeholder(column: Column): unknown {
  if (column.nullable) return null;
  const t = column.type;
  if (typeof t !== 'string') return 'list' in t ? [] : {};
  return t === 'varchar' ? '' : t === 'boolean' ? false : t === 'timestamptz' ? new Date(0) : 0;
}

/** Appends rows (objects keyed by `column.field`) to an appender whose table has exactly `columns`. */
export function appendRows(appender: DuckDBAppender, columns: Column[], rows: readonly Record<string, unknown>[]): void {
  const types: DuckDBType[] = columns.map((_, i) => appender.columnType(i));
  if (appender.columnCount !== columns.length) throw new Error(`appender has ${appender.columnCount} columns, expected ${columns.length}`);
  for (let start = 0; start < rows.length; start += VECTOR_SIZE) {
    const n = Math.min(VECTOR_SIZE, rows.length - start);
    const chunk = DuckDBDataChunk.create(types, n);
    columns.forEach((column, c) => {
      fillColumn(duckdb.data_chunk_get_vector(chunk.chunk, c), column, n, (i) => rows[start + i][column.field], start, column.field, true);
    });
    appender.appendDataChunk(chunk);
  }
}

// ---- reading ----

/** A result chunk's column as raw vector memory. */
export function chunkVector(chunk: DuckDBDataChunk, column: number): duckdb.Vector {
  return duckdb.data_chunk_get_vector(chunk.chunk, column);
}

/** Row validity of a vector (true = null), or undefined when no row is null. */
export function readNulls(vector: duckdb.Vector, n: number): ((i: number) => boolean) | undefined {
  const bytes = duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8);
  if (!bytes) return undefined;
  const words = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + Math.ceil(n / 64) * 8));
  return (i) => (words[i >>> 5] & (1 << (i & 31))) === 0;
}

export function readInt32(vector: duckdb.Vector, n: number): Int32Array {
  const bytes = duckdb.vector_get_data(vector, n * 4);
  return new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 4));
}

export function readFloat64(vector: duckdb.Vector, n: number): Float64Array {
  const bytes = duckdb.vector_get_data(vector, n * 8);
  return new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + n * 8));
}

/** UTF-8 bytes of each string of a VARCHAR vector (views; copy before the chunk is released). */
export function readStringBytes(vector: duckdb.Vector, n: number): (i: number) => Uint8Array {
  const data = duckdb.vector_get_data(vector, n * 16);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return (i) => {
    const offset = i * 16;
    const length = view.getUint32(offset, true);
    if (length <= 12) return new Uint8Array(data.buffer, data.byteOffset + offset + 4, length);
    return duckdb.get_data_from_pointer(data.buffer as ArrayBuffer, data.byteOffset + offset + 8, length);
  };
}

/**
 * Decodes UTF-8 into Unicode code points, at most `limit`, written to `out` from `offset`.
 * Returns how many were written. Input comes from DuckDB, which only stores valid UTF-8.
 */
export function decodeCodePoints(bytes: Uint8Array, out: Int32Array, offset: number, limit: number): number {
  let i = 0;
  let k = 0;
  const len = bytes.length;
  while (i < len && k < limit) {
    const b = bytes[i];
    let cp: number;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b < 0xe0) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      i += 2;
    } else if (b < 0xf0) {
      cp = ((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      i += 3;
    } else {
      cp = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      i += 4;
    }
    out[offset + k++] = cp;
  }
  return k;
}

/** An INTEGER[] vector: per-row (offset, length) into one flat Int32Array of all elements. */
export function readInt32Lists(vector: duckdb.Vector, n: number): { offset: (i: number) => number; length: (i: number) => number; values: Int32Array } {
  const entryBytes = duckdb.vector_get_data(vector, n * 16);
  const entries = new BigUint64Array(entryBytes.buffer.slice(entryBytes.byteOffset, entryBytes.byteOffset + n * 16));
  const child = duckdb.list_vector_get_child(vector);
  const size = duckdb.list_vector_get_size(vector);
  const values = size > 0 ? readInt32(child, size) : new Int32Array(0);
  return { offset: (i) => Number(entries[2 * i]), length: (i) => Number(entries[2 * i + 1]), values };
}
