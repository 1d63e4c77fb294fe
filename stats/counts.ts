import { ErrorTypes, MetError } from '../common/errors';
import type { EncodedSample } from './types';

/**
 * Count statistics on unique joint rows u = (prompt, whole padded completion), with c1_u, c2_u the
 * counts in X and Y and N1, N2 their sizes:
 *   two_sample_L1          = sum_u |c1/N1 - c2/N2|
 *   two_sample_L2          = sum_u (c1/N1 - c2/N2)^2
 *   two_sample_chi_squared = sum_u [(N2 c1 - N1 c2)^2 - N2^2 c1 - N1^2 c2] / (c1 + c2)
 * Rows get integer ids once (RowIndex); a permutation or a bootstrap draw only recounts ids.
 */
export type CountStatistic = 'two_sample_L1' | 'two_sample_L2' | 'two_sample_chi_squared';

/**
 * Exact ids of joint rows: a hash of (prompt, L values) picks the slot, and a candidate is
 * accepted only if its prompt and every value are equal, so a hash collision never merges rows.
 */
export class RowIndex {
  private slots: Int32Array;
  private mask: number;
  private hashes: Int32Array;
  private prompts: Int32Array;
  private refs: { tokens: Int32Array; at: number }[] = [];

  constructor(
    readonly L: number,
    capacity = 1024,
  ) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.hashes = new Int32Array(capacity);
    this.prompts = new Int32Array(capacity);
  }

  get size(): number {
    return this.refs.length;
  }

  /** The id of row `row` of `sample`; a new id when unseen and `insert`, else -1. */
  id(sample: EncodedSample, row: number, insert = true): number {
    const L = this.L;
    const tokens = sample.tokens;
    const at = row * L;
    const prompt = sample.prompts[row];
    let h = Math.imul(prompt ^ 0x27d4eb2d, 0x9e3779b1);
    for (let l = 0; l < L; l++) {
      h = Math.imul(h ^ tokens[at + l], 0x85ebca6b);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
    let s = h & this.mask;
    for (;;) {
      const id = this.slots[s] - 1;
      if (id < 0) break;
      if (this.hashes[id] === h && this.prompts[id] === prompt && this.sameRow(id, tokens, at)) return id;
      s = (s + 1) & this.mask;
    }
    if (!insert) return -1;
    const id = this.refs.length;
    if (id === this.hashes.length) {
      const hashes = new Int32Array(id * 2);
      hashes.set(this.hashes);
      this.hashes = hashes;
      const prompts = new Int32Array(id * 2);
      prompts.set(this.prompts);
      this.prompts = prompts;
    }
    this.hashes[id] = h;
    this.prompts[id] = prompt;
    this.refs.push({ tokens, at });
    this.slots[s] = id + 1;
    if (this.refs.length * 2 > this.mask + 1) this.grow();
    return id;
  }

  private sameRow(id: number, tokens: Int32Array, at: number): boolean {
    const ref = this.refs[id];
    for (let l = 0; l < this.L; l++) if (ref.tokens[ref.at + l] !== tokens[at + l]) return false;
    return true;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    for (let id = 0; id < this.refs.length; id++) {
      let s = this.hashes[id] & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = id + 1;
    }
  }
}

/** Integer ids of the unique joint rows over several samples, in order. */
export function uniqueRowIds(samples: readonly EncodedSample[]): { ids: Int32Array[]; unique: number; index: RowIndex } {
  const L = samples[0].L;
  const index = new RowIndex(
    L,
    samples.reduce((a, s) => a + s.prompts.length, 0),
  );
  const ids = samples.map((s) => {
    if (s.L !== L) throw new MetError(ErrorTypes.BadInput, `samples are encoded with L = ${L} and L = ${s.L}: encode both samples with the same L`);
    const out = new Int32Array(s.prompts.length);
    for (let i = 0; i < out.length; i++) out[i] = index.id(s, i);
    return out;
  });
  return { ids, unique: index.size, index };
}

/** The statistic from counts per unique row (entries with c1 = c2 = 0 are skipped). */
export function countStatistic(name: CountStatistic, c1: Float64Array | Int32Array, c2: Float64Array | Int32Array, n1: number, n2: number): number {
  let s = 0;
  if (name === 'two_sample_L1') {
    for (let u = 0; u < c1.length; u++) s += Math.abs(c1[u] / n1 - c2[u] / n2);
  } else if (name === 'two_sample_L2') {
    for (let u = 0; u < c1.length; u++) {
      const d = c1[u] / n1 - c2[u] / n2;
      s += d * d;
    }
  } else {
    for (let u = 0; u < c1.length; u++) {
      const a = c1[u];
      const b = c2[u];
      if (a + b === 0) continue;
      const d = n2 * a - n1 * b;
      s += (d * d - n2 * n2 * a - n1 * n1 * b) / (a + b);
    }
  }
  return s;
}

/**
 * Count statistic under relabelling: pooled rows X then Y with their ids; `order[0 .. n1)` are X*.
 * Cost per labelling: n1 + (number of unique rows).
 */
export class PermutationCounts {
  private readonly total: Int32Array;
  private readonly c1: Int32Array;
  private readonly c2: Int32Array;

  constructor(
    readonly name: CountStatistic,
    private readonly pooledIds: Int32Array,
    unique: number,
    readonly n1: number,
    readonly n2: number,
  ) {
    this.total = new Int32Array(unique);
    for (let i = 0; i < pooledIds.length; i++) this.total[pooledIds[i]]++;
    this.c1 = new Int32Array(unique);
    this.c2 = new Int32Array(unique);
  }

  value(order: Int32Array): number {
    const { c1, c2, total, pooledIds, n1 } = this;
    c1.fill(0);
    for (let t = 0; t < n1; t++) c1[pooledIds[order[t]]]++;
    for (let u = 0; u < c1.length; u++) c2[u] = total[u] - c1[u];
    return countStatistic(this.name, c1, c2, n1, this.n2);
  }
}
