/**
 * The k-spectrum kernel over the padded rows (runs of the pad count as substrings, as in the
 * original): k(x, y) = sum over contiguous substrings s of length 1..k (cumulative) or exactly k of
 * c_s(x) c_s(y), then cosine-normalised: k(x, y) / (sqrt k(x, x) sqrt k(y, y)), a zero self-kernel
 * counting as 1 (the original's rule).
 *
 * Two exact algorithms, chosen by k (both integer arithmetic until the normalisation):
 *   - small k (<= HASHED_MAX_K): every k-gram of Int32 values gets a dense id by interning
 *     (prefix id, next value) pairs in an open-addressing table that compares the full key, so a
 *     hash collision can never merge two different k-grams. Each row becomes sparse counts; an
 *     inverted list per k-gram adds c_i c_j to G[i][j] for the rows that share it.
 *   - large k (all_subsequences is k = L): a suffix automaton of each row and, per pair, a walk of the
 *     other row through it (automaton.ts): O(L) per pair instead of O(L^2) substrings per row.
 */
import { automatonKernelRow, slot, SuffixAutomaton } from './automaton';

export const HASHED_MAX_K = 12;

/** Exact (prefix id, value) -> id interning; ids start at 1 (0 is the empty prefix). */
class GramTable {
  private keysA: Int32Array;
  private keysB: Int32Array;
  private ids: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 12) {
    let cap = 1;
    while (cap < capacity * 2) cap <<= 1;
    this.keysA = new Int32Array(cap);
    this.keysB = new Int32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
  }

  intern(prefix: number, value: number): number {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const mask = this.mask;
    let h = slot(prefix, value) & mask;
    for (;;) {
      const id = this.ids[h];
      if (id === 0) {
        this.keysA[h] = prefix;
        this.keysB[h] = value;
        this.ids[h] = ++this.size;
        return this.size;
      }
      if (this.keysA[h] === prefix && this.keysB[h] === value) return id;
      h = (h + 1) & mask;
    }
  }

  private grow(): void {
    const { keysA, keysB, ids } = this;
    const cap = (this.mask + 1) * 2;
    this.keysA = new Int32Array(cap);
    this.keysB = new Int32Array(cap);
    this.ids = new Int32Array(cap);
    this.mask = cap - 1;
    for (let h = 0; h < ids.length; h++) {
      if (ids[h] === 0) continue;
      let s = slot(keysA[h], keysB[h]) & this.mask;
      while (this.ids[s] !== 0) s = (s + 1) & this.mask;
      this.keysA[s] = keysA[h];
      this.keysB[s] = keysB[h];
      this.ids[s] = ids[h];
    }
  }
}

/** Raw (unnormalised) k-spectrum Gram of n x L row-major rows by interned k-grams; symmetric. */
export function hashedSpectrumGram(tokens: Int32Array, n: number, L: number, k: number, cumulative: boolean): Float64Array {
  const table = new GramTable(Math.min(1 << 20, n * L));
  const minLen = cumulative ? 1 : k;
  // (row, gram id, count) triples in row order.
  let cap = 1 << 12;
  let tRow = new Int32Array(cap);
  let tId = new Int32Array(cap);
  let tCount = new Int32Array(cap);
  let triples = 0;
  let countOf = new Int32Array(1 << 12);
  const touched: number[] = [];
  for (let i = 0; i < n; i++) {
    const base = i * L;
    for (let p = 0; p < L; p++) {
      let id = 0;
      const top = Math.min(k, L - p);
      for (let t = 1; t <= top; t++) {
        id = table.intern(id, tokens[base + p + t - 1]);
        if (t < minLen) continue;
        if (id >= countOf.length) {
          const grown = new Int32Array(Math.max(id + 1, countOf.length * 2));
          grown.set(countOf);
          countOf = grown;
        }
        if (countOf[id]++ === 0) touched.push(id);
      }
    }
    if (triples + touched.length > cap) {
      while (triples + touched.length > cap) cap *= 2;
      const r = new Int32Array(cap);
      const d = new Int32Array(cap);
      const c = new Int32Array(cap);
      r.set(tRow.subarray(0, triples));
      d.set(tId.subarray(0, triples));
      c.set(tCount.subarray(0, triples));
      tRow = r;
      tId = d;
      tCount = c;
    }
    for (const id of touched) {
      tRow[triples] = i;
      tId[triples] = id;
      tCount[triples] = countOf[id];
      triples++;
      countOf[id] = 0;
    }
    touched.length = 0;
  }
  // Inverted lists: counting sort of the triples by gram id (stable, so rows stay increasing).
  const grams = table.size + 1;
  const start = new Int32Array(grams + 1);
  for (let t = 0; t < triples; t++) start[tId[t] + 1]++;
  for (let g = 0; g < grams; g++) start[g + 1] += start[g];
  const fill = start.slice(0, grams);
  const postRow = new Int32Array(triples);
  const postCount = new Float64Array(triples);
  for (let t = 0; t < triples; t++) {
    const at = fill[tId[t]]++;
    postRow[at] = tRow[t];
    postCount[at] = tCount[t];
  }
  const G = new Float64Array(n * n);
  for (let g = 0; g < grams; g++) {
    const from = start[g];
    const to = start[g + 1];
    for (let a = from; a < to; a++) {
      const ca = postCount[a];
      const base = postRow[a] * n;
      G[base + postRow[a]] += ca * ca;
      for (let b = a + 1; b < to; b++) G[base + postRow[b]] += ca * postCount[b];
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) G[j * n + i] = G[i * n + j];
  return G;
}

/** Raw k-spectrum Gram by suffix automata (any k, meant for large k). */
export function automatonSpectrumGram(tokens: Int32Array, n: number, L: number, k: number, cumulative: boolean): Float64Array {
  const G = new Float64Array(n * n);
  const sam = new SuffixAutomaton(L);
  for (let i = 0; i < n; i++) {
    sam.build(tokens, i * L, L);
    automatonKernelRow(sam, tokens, n, L, i, k, cumulative, G);
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) G[j * n + i] = G[i * n + j];
  return G;
}

/** Cosine normalisation in place, as the original: G / outer(d, d) with d = sqrt(diag), 0 -> 1. */
export function normalizeGram(G: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.sqrt(G[i * n + i]);
    d[i] = s === 0 ? 1 : s;
  }
  for (let i = 0; i < n; i++) {
    const di = d[i];
    const base = i * n;
    for (let j = 0; j < n; j++) G[base + j] = G[base + j] / (di * d[j]);
  }
  return G;
}

/** Normalised k-spectrum Gram block of n x L row-major rows. */
export function spectrumGram(tokens: Int32Array, n: number, L: number, k: number, cumulative: boolean): Float64Array {
  const raw = k <= HASHED_MAX_K ? hashedSpectrumGram(tokens, n, L, k, cumulative) : automatonSpectrumGram(tokens, n, L, k, cumulative);
  return normalizeGram(raw, n);
}
