/**
 * ggml tensor encodings, written by met itself from the public block formats:
 *   F32  little-endian float32
 *   F16  IEEE half, round to nearest even
 *   Q8_0 blocks of 32: f16 scale d = amax / 127, then 32 int8 q = round(x / d)
 *   Q4_0 blocks of 32: f16 scale d = max / -8 (max: the value of largest magnitude, with its sign),
 *        then 16 bytes: q = min(15, trunc(x / d + 8.5)), element j in the low nibble of byte j and
 *        element j + 16 in its high nibble (llama.cpp's reference quantize_row_q4_0)
 */
export type GgmlType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';
export const GGML_TYPE_ID: Record<GgmlType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 };
export const BLOCK = 32;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half bits, round to nearest even (handles subnormals, inf, NaN). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function encodeTensor(values: Float32Array, type: GgmlType): Uint8Array {
  if (type === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  if (type === 'F16') {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = toHalf(values[i]);
    return new Uint8Array(out.buffer);
  }
  if (values.length % BLOCK !== 0) throw new Error(`${type} needs a multiple of ${BLOCK} values, got ${values.length}`);
  const blocks = values.length / BLOCK;
  const size = type === 'Q8_0' ? 34 : 18;
  const out = new Uint8Array(blocks * size);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x = values.subarray(b * BLOCK, (b + 1) * BLOCK);
    const at = b * size;
    if (type === 'Q8_0') {
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      view.setUint16(at, toHalf(d), true);
      for (let j = 0; j < BLOCK; j++) view.setInt8(at + 2 + j, Math.round(x[j] * id));
    } else {
      let amax = 0;
      let max = 0;
      for (const v of x) {
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = max / -8;
      const id = d ? 1 / d : 0;
      view.setUint16(at, toHalf(d), true);
      for (let j = 0; j < BLOCK / 2; j++) {
        const x0 = Math.min(15, Math.trunc(Math.fround(x[j] * id) + 8.5));
        const x1 = Math.min(15, Math.trunc(Math.fround(x[j + 16] * id) + 8.5));
        out[at + 2 + j] = x0 | (x1 << 4);
      }
    }
  }
  return out;
}

/** Decodes a tensor back to float32 (what llama.cpp computes with). */
export function decodeTensor(bytes: Uint8Array, type: GgmlType, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === 'F32') return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * 4));
  if (type === 'F16') {
    for (let i = 0; i < count; i++) out[i] = fromHalf(view.getUint16(i * 2, true));
    return out;
  }
  const size = type === 'Q8_0' ? 34 : 18;
  for (let b = 0; b < count / BLOCK; b++) {
    const at = b * size;
    const d = fromHalf(view.getUint16(at, true));
    for (let j = 0; j < BLOCK; j++) {
      if (type === 'Q8_0') out[b * BLOCK + j] = d * view.getInt8(at + 2 + j);
      else {
        const byte = bytes[at + 2 + (j % 16)];
        const q = j < 16 ? byte & 0x0f : byte >>> 4;
        out[b * BLOCK + j] = d * (q - 8);
      }
    }
  }
  return out;
}
