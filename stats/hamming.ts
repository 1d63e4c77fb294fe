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

/**
 * Dense ids for the symbols of a block (content positions only), so buckets are array slots.
 * Returns the remapped n x maxLen matrix (row-major) and the number of distinct symbols.
 */
function denseSymbols(tokens: Int32Array, n: number, L: number, lengths: Int32Array, maxLen: number): { sym: Int32Array; distinct: number } {
  let min = 2147483647;
  let max = -2147483648;
  for (let i = 0; i < n; i++) {
    const base = i * L;
    for (let l = 0; l < lengths[i]; l++) {
      const v = tokens[base + l];
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const sym = new Int32Array(n * maxLen);
  let distinct = 0;
  if (max < min) return { sym, distinct };
  if (max - min < 1 << 22) {
    const table = new Int32Array(max - min + 1).fill(-1);
    for (let i = 0; i < n; i++) {
      const base = i * L;
      const out = i * maxLen;
      for (let l = 0; l < lengths[i]; l++) {
        const v = tokens[base + l] - min;
        let id = table[v];
        if (id < 0) table[v] = id = distinct++;
        sym[out + l] = id;
      }
    }
  } else {
    const table = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const base = i * L;
      const out = i * maxLen;
      for (let l = 0; l < lengths[i]; l++) {
        const v = tokens[base + l];
        let id = table.get(v);
        if (id === undefined) table.set(v, (id = distinct++));
        sym[out + l] = id;
      }
    }
  }
  return { sym, distinct };
}

/** Hamming Gram block (raw match counts, symmetric, diagonal L) of the n x L row-major `tokens`. */
export function hammingGram(tokens: Int32Array, n: number, L: number, pad: number, out?: CountGram): CountGram {
  const G: CountGram = out ?? (L <= 65535 ? new Uint16Array(n * n) : new Uint32Array(n * n));
  const lengths = contentLengths(tokens, n, L, pad);
  let maxLen = 0;
  for (let i = 0; i < n; i++) if (lengths[i] > maxLen) maxLen = lengths[i];
  const { sym, distinct } = denseSymbols(tokens, n, L, lengths, maxLen);

  const head = new Int32Array(distinct).fill(-1);
  const next = new Int32Array(n);
  const touched = new Int32Array(Math.max(distinct, 1));
  const members = new Int32Array(n);
  const padRows = new Int32Array(n);
  for (let l = 0; l < maxLen; l++) {
    let nTouched = 0;
    let nPad = 0;
    for (let i = n - 1; i >= 0; i--) {
      if (l >= lengths[i]) continue;
      const s = sym[i * maxLen + l];
      if (head[s] < 0) touched[nTouched++] = s;
      next[i] = head[s];
      head[s] = i;
      if (tokens[i * L + l] === pad) padRows[nPad++] = i;
    }
    for (let t = 0; t < nTouched; t++) {
      const s = touched[t];
      let size = 0;
      for (let i = head[s]; i >= 0; i = next[i]) members[size++] = i;
      head[s] = -1;
      for (let a = 0; a < size - 1; a++) {
        const base = members[a] * n;
        for (let b = a + 1; b < size; b++) G[base + members[b]]++;
      }
    }
    // Content pads against rows already in their padded tail at l.
    for (let p = 0; p < nPad; p++) {
      const i = padRows[p];
      for (let j = 0; j < n; j++) {
        if (lengths[j] > l) continue;
        if (i < j) G[i * n + j]++;
        else G[j * n + i]++;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    G[i * n + i] = L;
    const li = lengths[i];
    for (let j = i + 1; j < n; j++) {
      const tail = L - (li > lengths[j] ? li : lengths[j]);
      const v = G[i * n + j] + tail;
      G[i * n + j] = v;
      G[j * n + i] = v;
    }
  }
  return G;
}
