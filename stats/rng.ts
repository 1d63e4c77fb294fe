import { ErrorTypes, MetError } from '../common/errors';

/**
 * Seeded random numbers: xoshiro128** (Blackman and Vigna; 128-bit state, 32-bit outputs, period
 * 2^128 - 1), so every p-value and power cell is reproducible from its recorded seed on any machine.
 *
 * Seeding (a seed is an integer in [0, 2^53)): the four state words are four successive outputs of
 * splitmix32 (x += 0x9e3779b9, then the murmur3 finalizer) started at the low 32 bits of the seed;
 * the high 21 bits, when not zero, go through the finalizer with four constants and are XORed into
 * the four words (seeds below 2^32 never touch this step).
 *
 * Independent streams: a job of many draws (permutation t, bootstrap draw t, simulation s) seeds
 * draw t with `deriveSeed(seed, t)`, so the result of draw t does not depend on how the draws are
 * split across worker threads.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    let x = seed >>> 0;
    const splitmix = () => {
      x = (x + 0x9e3779b9) >>> 0;
      return fmix32(x);
    };
    this.s0 = splitmix();
    this.s1 = splitmix();
    this.s2 = splitmix();
    this.s3 = splitmix();
    const high = Math.floor(seed / 4294967296) >>> 0;
    if (high !== 0) {
      this.s0 = (this.s0 ^ fmix32(high)) >>> 0;
      this.s1 = (this.s1 ^ fmix32((high + 0x6a09e667) >>> 0)) >>> 0;
      this.s2 = (this.s2 ^ fmix32((high + 0xbb67ae85) >>> 0)) >>> 0;
      this.s3 = (this.s3 ^ fmix32((high + 0x3c6ef372) >>> 0)) >>> 0;
      if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s3 = 1;
    }
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  float(): number {
    return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^32, unbiased (rejection sampling). */
  int(n: number): number {
    if (!(n > 0 && n <= 4294967296)) throw new Error(`Rng.int needs 0 < n <= 2^32, got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** In-place Fisher-Yates shuffle (i from the end down to 1, j = int(i + 1)). */
  shuffle(a: Int32Array): Int32Array {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A derived seed, for handing independent streams to sub-tasks. */
  fork(): number {
    return this.nextUint32();
  }
}

/** murmur3's 32-bit finalizer (a bijection on 32-bit words; fmix32(0) = 0). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The seed of draw `index` of a job seeded with `seed`: a 53-bit integer, a fixed function of both
 * (low word = fmix32(seedLow ^ fmix32(index + golden)), high 21 bits mix the seed's high bits in).
 */
export function deriveSeed(seed: number, index: number): number {
  const seedLow = seed >>> 0;
  const seedHigh = Math.floor(seed / 4294967296) >>> 0;
  const indexLow = index >>> 0;
  const indexHigh = Math.floor(index / 4294967296) >>> 0;
  const low = fmix32((seedLow ^ fmix32((indexLow + 0x9e3779b9) >>> 0)) >>> 0);
  const high = fmix32((seedHigh ^ fmix32((low ^ indexHigh ^ 0x85ebca6b) >>> 0)) >>> 0) & 0x1fffff;
  return high * 4294967296 + low;
}

/** Seeds are integers in [0, 2^53): checked where a caller hands one in. */
export function checkSeed(seed: number, what = 'seed'): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new MetError(ErrorTypes.BadInput, `${what} must be an integer in [0, 2^53), got ${seed}`);
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
