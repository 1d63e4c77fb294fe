/**
 * Gram block of the Hamming kernel over n rows of one prompt: G[i][j] = #{l : x_il = x_jl}, the raw
 * match count (the statistic divides by L once at the end, so sums over the block stay exact
 * integers).
 *
 * Instead of comparing every pair of rows position by position (n^2 L / 2 compares), rows are
 * grouped by their symbol at each position and only rows that share a symbol are touched:
 *   - content positions: at position l, the rows whose content reaches l are bucketed by symbol
 *     (a linked list per symbol, built in decreasing row order so members come out increasing) and
 *     every pair in a bucket gets +1. The work is the number of matching pairs, not of compared pairs:
 *     text from different completions agrees at a few percent of positions.
 *   - padded tails: row i is padding from len_i on, so rows i and j both pad at the
 *     L - max(len_i, len_j) last positions: added in closed form.
 *   - a pad value inside a row's content (possible in token unit, where the pad id can be a real
 *     token) matches the padded tails of shorter rows at that position: added explicitly.
 * Rows of identical text degrade to n^2 / 2 increments per position, no worse than comparing.
 */
export type CountGram = Uint16Array | Uint32Array;

/** Content length of each row: 1 + the last position that is not the pad. */
export function contentLengths(tokens: Int32Array, n: number, L: number, pad: number): Int32Array {
  const lengths = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let l = L;
    const base = i * L;
    while (l > 0 && tokens[base + l - 1] === pad) l--;
    lengths[i] = l;
  }
  return lengths;
}

/** Hamming Gram block (raw match counts, symmetric, diagonal L) of the n x L row-major `tokens`. */
export function hammingGram(tokens: Int32Array, n: number, L: number, pad: number, out?: CountGram): CountGram {
  const G: CountGram = out ?? (L <= 65535 ? new Uint16Array(n * n) : new Uint32Array(n * n));
  const lengths = contentLengths(tokens, n, L, pad);
  // Work in rank space: rows sorted by decreasing content length, so the rows with content at
  // position l are always the ranks [0, active(l)), and symbols are stored position-major.
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const lenR = Int32Array.from(order, (i) => lengths[i]);
  const maxLen = n > 0 ? lenR[0] : 0;
  const { symbols, distinct, contentPads } = positionMajorSymbols(tokens, L, pad, order, lenR, maxLen);
  const R: CountGram = L <= 65535 ? new Uint16Array(n * n) : new Uint32Array(n * n);
  const head = new Int32Array(distinct).fill(-1);
  const next = new Int32Array(n);
  const touched = new Int32Array(Math.max(distinct, 1));
  const members = new Int32Array(n);
  let active = n;
  for (let l = 0; l < maxLen; l++) {
    while (active > 0 && lenR[active - 1] <= l) active--;
    const base = l * n;
    let nTouched = 0;
    for (let r = active - 1; r >= 0; r--) {
      const s = symbols[base + r];
      if (head[s] < 0) touched[nTouched++] = s;
      next[r] = head[s];
      head[s] = r;
    }
    for (let t = 0; t < nTouched; t++) {
      const s = touched[t];
      let size = 0;
      for (let r = head[s]; r >= 0; r = next[r]) members[size++] = r;
      head[s] = -1;
      for (let a = 0; a < size - 1; a++) {
        const row = members[a] * n;
        for (let b = a + 1; b < size; b++) R[row + members[b]]++;
      }
    }
    if (contentPads) {
      // A pad value inside a row's content matches the rows already in their padded tail at l.
      for (let r = 0; r < active; r++) {
        if (tokens[order[r] * L + l] !== pad) continue;
        for (let t = active; t < n; t++) R[r * n + t]++;
      }
    }
  }
  for (let a = 0; a < n; a++) {
    const oa = order[a];
    G[oa * n + oa] = L;
    const tail = L - lenR[a]; // lenR[a] >= lenR[b]: both rows pad from lenR[a] on
    for (let b = a + 1; b < n; b++) {
      const ob = order[b];
      const v = R[a * n + b] + tail;
      G[oa * n + ob] = v;
      G[ob * n + oa] = v;
    }
  }
  return G;
}

/** Dense symbol ids of the content positions, position-major in rank order: symbols[l * n + r]. */
function positionMajorSymbols(tokens: Int32Array, L: number, pad: number, order: Int32Array, lenR: Int32Array, maxLen: number) {
  const n = order.length;
  let min = 2147483647;
  let max = -2147483648;
  let contentPads = false;
  for (let r = 0; r < n; r++) {
    const base = order[r] * L;
    for (let l = 0; l < lenR[r]; l++) {
      const v = tokens[base + l];
      if (v < min) min = v;
      if (v > max) max = v;
      if (v === pad) contentPads = true;
    }
  }
  const symbols = new Int32Array(maxLen * n);
  let distinct = 0;
  if (max >= min && max - min < 1 << 22) {
    const table = new Int32Array(max - min + 1).fill(-1);
    for (let r = 0; r < n; r++) {
      const base = order[r] * L;
      for (let l = 0; l < lenR[r]; l++) {
        const v = tokens[base + l] - min;
        let id = table[v];
        if (id < 0) table[v] = id = distinct++;
        symbols[l * n + r] = id;
      }
    }
  } else if (max >= min) {
    const table = new Map<number, number>();
    for (let r = 0; r < n; r++) {
      const base = order[r] * L;
      for (let l = 0; l < lenR[r]; l++) {
        const v = tokens[base + l];
        let id = table.get(v);
        if (id === undefined) table.set(v, (id = distinct++));
        symbols[l * n + r] = id;
      }
    }
  }
  return { symbols, distinct, contentPads };
}
