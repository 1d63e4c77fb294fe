import { NameRegistry, Parser } from 'pickleparser';

/**
 * Python pickles as the MET release wrote them: dicts, lists, tuples, strings, and numpy arrays
 * (`_reconstruct` + BUILD state, or protocol 5's `_frombuffer`), under numpy 1.x (`numpy.core`) and
 * 2.x (`numpy._core`) module names. pickleparser reads the protocol; this module teaches it numpy.
 */
export interface NdArray {
  dtype: string;
  shape: number[];
  /** Row-major values (numbers; int64 beyond 2^53 would lose precision and is refused). */
  data: number[];
}

/** A 2-D array as rows (or a 1-D array as one row); nested lists pass through. */
export function toRows(value: unknown): number[][] {
  if (isNdArray(value)) {
    if (value.shape.length === 1) return [value.data];
    if (value.shape.length !== 2) throw new Error(`expected a 1-D or 2-D array, got shape (${value.shape.join(', ')})`);
    const [rows, cols] = value.shape;
    return Array.from({ length: rows }, (_, r) => value.data.slice(r * cols, (r + 1) * cols));
  }
  if (Array.isArray(value)) return value.map((row) => (isNdArray(row) ? row.data : (row as number[]).map(Number)));
  throw new Error(`expected an array of token ids, got ${typeof value}`);
}

export function isNdArray(value: unknown): value is NdArray {
  return typeof value === 'object' && value !== null && (value as { __ndarray?: boolean }).__ndarray === true;
}

class Dtype {
  byteOrder = '<';
  constructor(readonly kind: string) {}
  __setstate__(state: unknown[]) {
    if (typeof state[1] === 'string') this.byteOrder = state[1];
  }
}

class Array_ implements NdArray {
  readonly __ndarray = true;
  dtype = '';
  shape: number[] = [];
  data: number[] = [];
  __setstate__(state: unknown[]) {
    // (version, shape, dtype, is_fortran, raw bytes or a list of objects)
    const [, shape, dtype, fortran, raw] = state as [number, number[], Dtype, boolean, Uint8Array | string | unknown[]];
    if (fortran && shape.length > 1) throw new Error('Fortran-ordered arrays are not supported');
    fill(this, dtype, shape.map(Number), raw);
  }
}

function fill(target: Array_, dtype: Dtype, shape: number[], raw: Uint8Array | string | unknown[]) {
  target.shape = shape;
  target.dtype = `${dtype.byteOrder}${dtype.kind}`;
  if (Array.isArray(raw)) {
    target.data = raw.map(Number);
    return;
  }
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  target.data = decode(bytes, dtype);
}

function decode(bytes: Buffer, dtype: Dtype): number[] {
  const little = dtype.byteOrder !== '>';
  const readers: Record<string, [number, (o: number) => number]> = {
    i1: [1, (o) => bytes.readInt8(o)],
    u1: [1, (o) => bytes.readUInt8(o)],
    i2: [2, (o) => (little ? bytes.readInt16LE(o) : bytes.readInt16BE(o))],
    u2: [2, (o) => (little ? bytes.readUInt16LE(o) : bytes.readUInt16BE(o))],
    i4: [4, (o) => (little ? bytes.readInt32LE(o) : bytes.readInt32BE(o))],
    u4: [4, (o) => (little ? bytes.readUInt32LE(o) : bytes.readUInt32BE(o))],
    i8: [8, (o) => safe(little ? bytes.readBigInt64LE(o) : bytes.readBigInt64BE(o))],
    u8: [8, (o) => safe(little ? bytes.readBigUInt64LE(o) : bytes.readBigUInt64BE(o))],
    f4: [4, (o) => (little ? bytes.readFloatLE(o) : bytes.readFloatBE(o))],
    f8: [8, (o) => (little ? bytes.readDoubleLE(o) : bytes.readDoubleBE(o))],
  };
  const reader = readers[dtype.kind];
  if (!reader) throw new Error(`numpy dtype '${dtype.kind}' is not supported (integers and floats are)`);
  const [size, read] = reader;
  if (bytes.length % size !== 0) throw new Error(`array data of ${bytes.length} bytes is not a multiple of ${size}`);
  return Array.from({ length: bytes.length / size }, (_, i) => read(i * size));
}

function safe(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new Error(`integer ${v} does not fit a double exactly`);
  return Number(v);
}

function numpyRegistry(): NameRegistry {
  const registry = new NameRegistry();
  for (const core of ['numpy.core', 'numpy._core']) {
    registry.register(`${core}.multiarray`, '_reconstruct', () => new Array_());
    // Protocol 5 in-band: _frombuffer(bytes, dtype, shape, order)
    registry.register(`${core}.numeric`, '_frombuffer', (buf: Uint8Array, dtype: Dtype, shape: number[], order: string) => {
      if (order === 'F' && shape.length > 1) throw new Error('Fortran-ordered arrays are not supported');
      const a = new Array_();
      fill(a, dtype, shape.map(Number), buf);
      return a;
    });
    registry.register(
      `${core}.multiarray`,
      'scalar',
      (dtype: Dtype, raw: Uint8Array | string) => decode(typeof raw === 'string' ? Buffer.from(raw, 'latin1') : Buffer.from(raw), dtype)[0],
    );
  }
  registry.register('numpy', 'ndarray', function ndarray() {
    return undefined;
  });
  registry.register('numpy', 'dtype', (kind: string) => new Dtype(kind));
  // Protocol 2 pickles of bytes from Python 3: _codecs.encode(latin-1 text, 'latin1').
  registry.register('_codecs', 'encode', (text: string) => Buffer.from(text, 'latin1'));
  return registry;
}

/** Unpickles a buffer; dicts become Maps (the logprob files key them by tuples of token ids). */
export function unpickle(buffer: Uint8Array): unknown {
  return new Parser({ nameResolver: numpyRegistry(), unpicklingTypeOfDictionary: 'Map' }).parse(buffer);
}
