import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { commitFile } from '../common/files';
import { encodeTensor, GGML_TYPE_ID, type GgmlType } from './quantize';

/**
 * A GGUF v3 writer (the format llama.cpp loads): magic "GGUF", version 3, tensor and metadata
 * counts, typed key-value metadata, tensor infos (name, dims with the fastest-varying first, type,
 * offset), then tensor data aligned to `general.alignment` (32). Written to a temporary name and
 * renamed, so a model file is complete or absent.
 */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] }
  | { type: 'f32s'; value: number[] | Float32Array }
  | { type: 'i32s'; value: number[] | Int32Array };

export interface GgufTensor {
  name: string;
  /** ggml order: ne[0] is the contiguous (row) dimension. */
  dims: number[];
  type: GgmlType;
  values: Float32Array;
}

const ALIGNMENT = 32;
const VT = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

class Buffer8 {
  private chunks: Uint8Array[] = [];
  length = 0;
  push(bytes: Uint8Array) {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  i32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v, true);
    this.push(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  str(s: string) {
    const bytes = new TextEncoder().encode(s);
    this.u64(bytes.length);
    this.push(bytes);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function writeValue(b: Buffer8, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      b.u32(VT.u32);
      b.u32(v.value);
      break;
    case 'i32':
      b.u32(VT.i32);
      b.i32(v.value);
      break;
    case 'f32':
      b.u32(VT.f32);
      b.f32(v.value);
      break;
    case 'bool':
      b.u32(VT.bool);
      b.push(Uint8Array.of(v.value ? 1 : 0));
      break;
    case 'string':
      b.u32(VT.string);
      b.str(v.value);
      break;
    case 'strings':
      b.u32(VT.array);
      b.u32(VT.string);
      b.u64(v.value.length);
      v.value.forEach((s) => b.str(s));
      break;
    case 'f32s':
      b.u32(VT.array);
      b.u32(VT.f32);
      b.u64(v.value.length);
      v.value.forEach((x) => b.f32(x));
      break;
    case 'i32s':
      b.u32(VT.array);
      b.u32(VT.i32);
      b.u64(v.value.length);
      v.value.forEach((x) => b.i32(x));
      break;
  }
}

export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): void {
  const header = new Buffer8();
  header.push(new TextEncoder().encode('GGUF'));
  header.u32(3);
  header.u64(tensors.length);
  header.u64(Object.keys(metadata).length);
  for (const [key, value] of Object.entries(metadata)) {
    header.str(key);
    writeValue(header, value);
  }
  const data = tensors.map((t) => encodeTensor(t.values, t.type));
  let offset = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    header.str(t.name);
    header.u32(t.dims.length);
    t.dims.forEach((d) => header.u64(d));
    header.u32(GGML_TYPE_ID[t.type]);
    header.u64(offset);
    offset += Math.ceil(data[i].length / ALIGNMENT) * ALIGNMENT;
  }
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const head = header.bytes();
    writeSync(fd, head);
    writeSync(fd, new Uint8Array((ALIGNMENT - (head.length % ALIGNMENT)) % ALIGNMENT));
    for (const d of data) {
      writeSync(fd, d);
      writeSync(fd, new Uint8Array((ALIGNMENT - (d.length % ALIGNMENT)) % ALIGNMENT));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  commitFile(tmp, path);
}
