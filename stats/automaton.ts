/**
 * Suffix automaton of one padded row (Int32 symbols), for the k-spectrum kernel at large k.
 *
 * Each state v stands for the substrings of lengths (len(link v), len v] sharing one set of end
 * positions; occ(v) is how often they occur. Walking another row y through the automaton finds, at
 * each position p of y, the longest suffix of y[..p] that occurs in x (length l, state v); the
 * substrings of y ending at p contribute occ_x of each of their lengths:
 *   lengths 1..l:  W(v, l) = (l - len(link v)) occ(v) + W(link v),  W(u) = sum over u and its
 *                  ancestors of (len - len(link)) occ
 * Summed over p this is sum_s c_s(y) c_s(x), the cumulative spectrum kernel. A cap k (lengths 1..k,
 * or exactly k) keeps a second state `a` holding the length-k suffix, advanced in O(1) per step.
 * Transitions live in an open-addressing table keyed by the full (state, symbol) pair: exact.
 */
export class SuffixAutomaton {
  size = 0;
  len: Int32Array;
  link: Int32Array;
  occ: Float64Array;
  cum: Float64Array;
  private firstEdge: Int32Array;
  private edgeFrom: Int32Array;
  private edgeSym: Int32Array;
  private edgeTo: Int32Array;
  private edgeNext: Int32Array;
  private edges = 0;
  private slots: Int32Array;
  private mask: number;
  private order: Int32Array;
  private bucket: Int32Array;

  constructor(maxLength: number) {
    const states = 2 * maxLength + 2;
    const edges = 3 * maxLength + 4;
    this.len = new Int32Array(states);
    this.link = new Int32Array(states);
    this.occ = new Float64Array(states);
    this.cum = new Float64Array(states);
    this.firstEdge = new Int32Array(states);
    this.edgeFrom = new Int32Array(edges);
    this.edgeSym = new Int32Array(edges);
    this.edgeTo = new Int32Array(edges);
    this.edgeNext = new Int32Array(edges);
    let cap = 1;
    while (cap < edges * 2) cap <<= 1;
    this.slots = new Int32Array(cap);
    this.mask = cap - 1;
    this.order = new Int32Array(states);
    this.bucket = new Int32Array(maxLength + 2);
  }

  /** The state reached from `state` by `symbol`, or -1. */
  next(state: number, symbol: number): number {
    let h = slot(state, symbol) & this.mask;
    for (;;) {
      const e = this.slots[h] - 1;
      if (e < 0) return -1;
      if (this.edgeFrom[e] === state && this.edgeSym[e] === symbol) return this.edgeTo[e];
      h = (h + 1) & this.mask;
    }
  }

  private edgeIndex(state: number, symbol: number): number {
    let h = slot(state, symbol) & this.mask;
    for (;;) {
      const e = this.slots[h] - 1;
      if (e < 0 || (this.edgeFrom[e] === state && this.edgeSym[e] === symbol)) return e;
      h = (h + 1) & this.mask;
    }
  }

  private addEdge(state: number, symbol: number, to: number): void {
    const e = this.edges++;
    this.edgeFrom[e] = state;
    this.edgeSym[e] = symbol;
    this.edgeTo[e] = to;
    this.edgeNext[e] = this.firstEdge[state];
    this.firstEdge[state] = e;
    let h = slot(state, symbol) & this.mask;
    while (this.slots[h] !== 0) h = (h + 1) & this.mask;
    this.slots[h] = e + 1;
  }

  private newState(length: number, occ: number): number {
    const s = this.size++;
    this.len[s] = length;
    this.link[s] = -1;
    this.occ[s] = occ;
    this.firstEdge[s] = -1;
    return s;
  }

  /** Builds the automaton of tokens[offset .. offset + length). */
  build(tokens: Int32Array, offset: number, length: number): void {
    this.size = 0;
    this.edges = 0;
    this.slots.fill(0);
    this.newState(0, 0);
    let last = 0;
    for (let p = 0; p < length; p++) {
      const c = tokens[offset + p];
      const cur = this.newState(this.len[last] + 1, 1);
      let s = last;
      while (s !== -1 && this.next(s, c) < 0) {
        this.addEdge(s, c, cur);
        s = this.link[s];
      }
      if (s === -1) this.link[cur] = 0;
      else {
        const q = this.next(s, c);
        if (this.len[s] + 1 === this.len[q]) this.link[cur] = q;
        else {
          const clone = this.newState(this.len[s] + 1, 0);
          for (let e = this.firstEdge[q]; e >= 0; e = this.edgeNext[e]) this.addEdge(clone, this.edgeSym[e], this.edgeTo[e]);
          this.link[clone] = this.link[q];
          while (s !== -1) {
            const e = this.edgeIndex(s, c);
            if (e < 0 || this.edgeTo[e] !== q) break;
            this.edgeTo[e] = clone;
            s = this.link[s];
          }
          this.link[q] = clone;
          this.link[cur] = clone;
        }
      }
      last = cur;
    }
    // Occurrence counts up the suffix-link tree (longest states first), then prefix weights W.
    const { len, link, occ, cum, order, bucket } = this;
    bucket.fill(0, 0, length + 2);
    for (let v = 0; v < this.size; v++) bucket[len[v] + 1]++;
    for (let t = 0; t <= length; t++) bucket[t + 1] += bucket[t];
    for (let v = 0; v < this.size; v++) order[bucket[len[v]]++] = v;
    for (let t = this.size - 1; t > 0; t--) {
      const v = order[t];
      occ[link[v]] += occ[v];
    }
    cum[0] = 0;
    for (let t = 1; t < this.size; t++) {
      const v = order[t];
      const u = link[v];
      cum[v] = cum[u] + (len[v] - len[u]) * occ[v];
    }
  }
}

/** Hash of a pair of 32-bit ints, for the open-addressing tables here and in kspectrum.ts. */
export function slot(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ b;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** sum_s c_s(x) c_s(y) over substrings of lengths 1..k (cumulative) or exactly k; x is `sam`'s row. */
export function automatonKernel(sam: SuffixAutomaton, tokens: Int32Array, offset: number, length: number, k: number, cumulative: boolean): number {
  const { len, link, occ, cum } = sam;
  let v = 0;
  let l = 0;
  let a = -1;
  let total = 0;
  for (let p = 0; p < length; p++) {
    const c = tokens[offset + p];
    let nx = sam.next(v, c);
    while (nx < 0 && v !== 0) {
      v = link[v];
      l = len[v];
      nx = sam.next(v, c);
    }
    if (nx < 0) {
      v = 0;
      l = 0;
      continue;
    }
    const before = l;
    v = nx;
    l = before + 1;
    if (l > k) {
      // a held the length-k suffix ending at p - 1 (before >= k); extend it by c and drop one symbol.
      a = sam.next(a, c);
      if (len[link[a]] >= k) a = link[a];
    } else if (l === k) a = v;
    if (cumulative) {
      if (l <= k) total += (l - len[link[v]]) * occ[v] + cum[link[v]];
      else total += (k - len[link[a]]) * occ[a] + cum[link[a]];
    } else if (l >= k) total += occ[a];
  }
  return total;
}

/** Fills G[i][j] for j >= i (the upper triangle of row i) with kernels of row i (the automaton) and rows j. */
export function automatonKernelRow(
  sam: SuffixAutomaton,
  tokens: Int32Array,
  n: number,
  L: number,
  i: number,
  k: number,
  cumulative: boolean,
  G: Float64Array,
): void {
  for (let j = i; j < n; j++) G[i * n + j] = automatonKernel(sam, tokens, j * L, L, k, cumulative);
}
