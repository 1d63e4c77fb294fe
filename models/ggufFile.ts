import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { commitFile } from '../common/files';
import { ErrorTypes, MetError } from '../common/errors';
import { checkGgufHeader } from './ggufHeader';
import { BLOCK, encodeTensor, fromHalf, GGML_TYPE_ID, type GgmlType } from './quantize';

/**
 * Reading GGUF files and re-encoding their weights (`met models quantize`), from the public block
 * formats of ggml (ggml-common.h / ggml-quants.c), written by met:
 *   F32, F16, BF16; Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (blocks of 32); Q4_K, Q5_K, Q6_K (super-blocks of
 *   256 with 6-bit sub-block scales). Every tensor is dequantized to float32 exactly as llama.cpp
 *   computes it, then 2-D weights are encoded at the target type and other tensors kept in F32.
 * Metadata is copied byte for byte except `general.file_type`.
 */

/** ggml tensor type ids met reads: name, elements per block, bytes per block. */
const TYPES: Record<number, { name: string; block: number; bytes: number }> = {
  0: { name: 'F32', block: 1, bytes: 4 },
  1: { name: 'F16', block: 1, bytes: 2 },
  2: { name: 'Q4_0', block: 32, bytes: 18 },
  3: { name: 'Q4_1', block: 32, bytes: 20 },
  6: { name: 'Q5_0', block: 32, bytes: 22 },
  7: { name: 'Q5_1', block: 32, bytes: 24 },
  8: { name: 'Q8_0', block: 32, bytes: 34 },
  12: { name: 'Q4_K', block: 256, bytes: 144 },
  13: { name: 'Q5_K', block: 256, bytes: 176 },
  14: { name: 'Q6_K', block: 256, bytes: 210 },
  30: { name: 'BF16', block: 1, bytes: 2 },
};

/** llama.cpp's LLAMA_FTYPE of a whole file at one of met's target types. */
const FILE_TYPE: Record<GgmlType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7 };

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  typeId: number;
  /** Offset from the start of the data section. */
  offset: number;
  count: number;
}

export interface GgufFileParts {
  bytes: Buffer;
  version: number;
  /** Each key-value entry's raw bytes (key, type, value), in file order. */
  entries: { key: string; raw: Buffer }[];
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
}

class Reader {
  at = 0;
  constructor(readonly b: Buffer) {}
  u32(): number {
    const v = this.b.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    const v = this.b.readBigUInt64LE(this.at);
    this.at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('a 64-bit count is too large');
    return Number(v);
  }
  str(): string {
    const n = this.u64();
    const s = this.b.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  /** Skips a value of GGUF type `type` (arrays recursively). */
  skip(type: number): void {
    const sizes: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
    if (type === 8) {
      this.str();
    } else if (type === 9) {
      const inner = this.u32();
      const n = this.u64();
      if (sizes[inner] !== undefined) this.at += sizes[inner] * n;
      else for (let i = 0; i < n; i++) this.skip(inner);
    } else if (sizes[type] !== undefined) {
      this.at += sizes[type];
    } else {
      throw new Error(`unknown GGUF value type ${type}`);
    }
  }
}

export function readGgufFile(path: string): GgufFileParts {
  // Counts and lengths bounded by the file before anything is allocated for them.
  checkGgufHeader(path);
  const bytes = readFileSync(path);
  if (bytes.toString('latin1', 0, 4) !== 'GGUF') throw new MetError(ErrorTypes.BadInput, `${path} is not a GGUF file`);
  const r = new Reader(bytes);
  r.at = 4;
  const version = r.u32();
  if (version < 2) throw new MetError(ErrorTypes.BadInput, `${path} is GGUF version ${version}; met reads version 2 and 3`);
  const tensorCount = r.u64();
  const kvCount = r.u64();
  const entries: { key: string; raw: Buffer }[] = [];
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const start = r.at;
    const key = r.str();
    const type = r.u32();
    if (key === 'general.alignment' && type === 4) alignment = bytes.readUInt32LE(r.at);
    r.skip(type);
    entries.push({ key, raw: bytes.subarray(start, r.at) });
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.str();
    const nDims = r.u32();
    const dims = Array.from({ length: nDims }, () => r.u64());
    const typeId = r.u32();
    const offset = r.u64();
    tensors.push({ name, dims, typeId, offset, count: dims.reduce((a, d) => a * d, 1) });
  }
  const dataStart = Math.ceil(r.at / alignment) * alignment;
  return { bytes, version, entries, tensors, alignment, dataStart };
}

export function tensorTypeName(typeId: number): string {
  return TYPES[typeId]?.name ?? `type ${typeId}`;
}

/** The 6-bit scale and min of sub-block j of a K-quant super-block (ggml's get_scale_min_k4). */
function scaleMin(q: Buffer, at: number, j: number): [number, number] {
  if (j < 4) return [q[at + j] & 63, q[at + j + 4] & 63];
  return [(q[at + j + 4] & 0xf) | ((q[at + j - 4] >> 6) << 4), (q[at + j + 4] >> 4) | ((q[at + j] >> 6) << 4)];
}

/** A tensor's values as float32, as llama.cpp dequantizes them. */
export function dequantize(file: GgufFileParts, tensor: GgufTensorInfo): Float32Array {
  const type = TYPES[tensor.typeId];
  if (!type)
    throw new MetError(
      ErrorTypes.BadInput,
      `tensor ${tensor.name} has ggml type ${tensor.typeId}, which met cannot read (it reads ${Object.values(TYPES)
        .map((t) => t.name)
        .join(', ')})`,
    );
  const b = file.bytes;
  const base = file.dataStart + tensor.offset;
  const n = tensor.count;
  const y = new Float32Array(n);
  const h = (at: number) => fromHalf(b.readUInt16LE(at));
  switch (type.name) {
    case 'F32':
      for (let i = 0; i < n; i++) y[i] = b.readFloatLE(base + 4 * i);
      return y;
    case 'F16':
      for (let i = 0; i < n; i++) y[i] = h(base + 2 * i);
      return y;
    case 'BF16': {
      const u = new Uint32Array(y.buffer);
      for (let i = 0; i < n; i++) u[i] = b.readUInt16LE(base + 2 * i) << 16;
      return y;
    }
  }
  const blocks = n / type.block;
  for (let k = 0; k < blocks; k++) {
    const at = base + k * type.bytes;
    const out = k * type.block;
    switch (type.name) {
      case 'Q4_0': {
        const d = h(at);
        for (let j = 0; j < 16; j++) {
          y[out + j] = d * ((b[at + 2 + j] & 0xf) - 8);
          y[out + j + 16] = d * ((b[at + 2 + j] >> 4) - 8);
        }
        break;
      }
      case 'Q4_1': {
        const d = h(at);
        const m = h(at + 2);
        for (let j = 0; j < 16; j++) {
          y[out + j] = d * (b[at + 4 + j] & 0xf) + m;
          y[out + j + 16] = d * (b[at + 4 + j] >> 4) + m;
        }
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const one = type.name === 'Q5_1';
        const d = h(at);
        const m = one ? h(at + 2) : 0;
        const qh = b.readUInt32LE(at + (one ? 4 : 2));
        const qs = at + (one ? 8 : 6);
        for (let j = 0; j < 16; j++) {
          const x0 = (b[qs + j] & 0xf) | (((qh >>> j) << 4) & 0x10);
          const x1 = (b[qs + j] >> 4) | ((qh >>> (j + 12)) & 0x10);
          y[out + j] = one ? x0 * d + m : (x0 - 16) * d;
          y[out + j + 16] = one ? x1 * d + m : (x1 - 16) * d;
        }
        break;
      }
      case 'Q8_0': {
        const d = h(at);
        for (let j = 0; j < 32; j++) y[out + j] = d * b.readInt8(at + 2 + j);
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        const five = type.name === 'Q5_K';
        const d = h(at);
        const dmin = h(at + 2);
        const scales = at + 4;
        const qh = at + 16;
        let ql = at + (five ? 48 : 16);
        let i = out;
        let u1 = 1;
        let u2 = 2;
        for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
          const [sc1, m1] = scaleMin(b, scales, is);
          const [sc2, m2] = scaleMin(b, scales, is + 1);
          const d1 = d * sc1;
          const d2 = d * sc2;
          const min1 = dmin * m1;
          const min2 = dmin * m2;
          for (let l = 0; l < 32; l++) y[i++] = d1 * ((b[ql + l] & 0xf) + (five && b[qh + l] & u1 ? 16 : 0)) - min1;
          for (let l = 0; l < 32; l++) y[i++] = d2 * ((b[ql + l] >> 4) + (five && b[qh + l] & u2 ? 16 : 0)) - min2;
          ql += 32;
          u1 <<= 2;
          u2 <<= 2;
        }
        break;
      }
      case 'Q6_K': {
        let ql = at;
        let qh = at + 128;
        let sc = at + 192;
        const d = h(at + 208);
        let i = out;
        for (let half = 0; half < 2; half++) {
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
            const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
            const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
            const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
            y[i + l] = d * b.readInt8(sc + is) * q1;
            y[i + l + 32] = d * b.readInt8(sc + is + 2) * q2;
            y[i + l + 64] = d * b.readInt8(sc + is + 4) * q3;
            y[i + l + 96] = d * b.readInt8(sc + is + 6) * q4;
          }
          i += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
        break;
      }
    }
  }
  return y;
}

/** Bytes of `count` values encoded at a met target type. */
function encodedSize(type: GgmlType, count: number): number {
  return type === 'F32' ? 4 * count : type === 'F16' ? 2 * count : (count / BLOCK) * (type === 'Q8_0' ? 34 : 18);
}

/**
 * Writes IN at type TO: every weight of 2 or more dimensions whose rows are whole blocks is
 * encoded at TO (F32, F16, Q8_0 or Q4_0, from any type met reads, K-quants included); other
 * tensors (norms, biases) are written as F32. Atomic (a temporary name, fsync, rename).
 */
export function quantizeGguf(inPath: string, to: GgmlType, outPath: string, log: (line: string) => void = () => {}): { tensors: number; converted: number } {
  const file = readGgufFile(inPath);
  const targets = file.tensors.map((t) => (t.dims.length >= 2 && t.dims[0] % BLOCK === 0 ? to : 'F32'));
  const header: Buffer[] = [];
  const u32 = (v: number) => {
    const x = Buffer.alloc(4);
    x.writeUInt32LE(v);
    header.push(x);
  };
  const u64 = (v: number) => {
    const x = Buffer.alloc(8);
    x.writeBigUInt64LE(BigInt(v));
    header.push(x);
  };
  const str = (s: string) => {
    const x = Buffer.from(s, 'utf8');
    u64(x.length);
    header.push(x);
  };
  header.push(Buffer.from('GGUF', 'latin1'));
  u32(3);
  u64(file.tensors.length);
  const entries = file.entries.filter((e) => e.key !== 'general.file_type');
  u64(entries.length + 1);
  for (const e of entries) header.push(e.raw);
  str('general.file_type');
  u32(4);
  u32(FILE_TYPE[to]);
  const align = (n: number) => Math.ceil(n / file.alignment) * file.alignment;
  let offset = 0;
  file.tensors.forEach((t, i) => {
    str(t.name);
    u32(t.dims.length);
    t.dims.forEach(u64);
    u32(GGML_TYPE_ID[targets[i]]);
    u64(offset);
    offset += align(encodedSize(targets[i], t.count));
  });
  const head = Buffer.concat(header);
  const tmp = `${outPath}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.alloc(align(head.length) - head.length));
    file.tensors.forEach((t, i) => {
      const data = encodeTensor(dequantize(file, t), targets[i]);
      writeSync(fd, data);
      writeSync(fd, Buffer.alloc(align(data.length) - data.length));
      if (i % 50 === 0) log(`${i + 1}/${file.tensors.length} ${t.name} ${tensorTypeName(t.typeId)} -> ${targets[i]}`);
    });
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
  commitFile(tmp, outPath);
  return { tensors: file.tensors.length, converted: targets.filter((t) => t === to).length };
}
