import { ErrorTypes, MetError } from '../common/errors';
import { type CountStatistic, countStatistic, rowKey } from './counts';
import { gramBlock, rowSet } from './kernels';
import type { Rng } from './rng';
import { kernelOf, type StatisticOptions, type TwoSampleStatistic } from './statistics';
import type { EncodedSample } from './types';

/**
 * Drawing samples from stored distributions. Two of them (the reference P and an alternative Q, each a pool of
 * rows per prompt) are joined once: per prompt, one Gram over P's and Q's rows together (or one id
 * per unique row for count statistics). Every simulated sample is then a set of indices into that
 * pool, so a statistic costs index sums, never a kernel evaluation.
 *   nulls:   b statistics of (X*, Y*) both drawn from P (cache per reference, subset, n, statistic)
 *   a cell:  sims statistics of (X ~ P, Y ~ Q), each turned into a p-value against the nulls
 * Drawing a sample of size n: prompt counts ~ Multinomial(n, uniform), rows uniformly with
 * replacement within each prompt.
 */
export class DrawSampler {
  private readonly m: number;
  /** Per prompt: pool row ids of P then Q. */
  private readonly pRows: number[][];
  private readonly qRows: number[][];
  private readonly grams?: Float64Array[];
  private readonly sizes: number[];
  private readonly ids?: Int32Array[];
  private readonly unique: number;

  constructor(
    readonly name: TwoSampleStatistic,
    p: EncodedSample,
    q: EncodedSample | undefined,
    options: StatisticOptions = {},
  ) {
    if (q && q.L !== p.L) throw new MetError(ErrorTypes.BadInput, `the reference uses L = ${p.L} and the alternative L = ${q.L}: use one L`);
    this.m = p.m;
    const L = p.L;
    const both = q ? p.prompts.length + q.prompts.length : p.prompts.length;
    const tokens = new Int32Array(both * L);
    tokens.set(p.tokens, 0);
    if (q) tokens.set(q.tokens, p.prompts.length * L);
    this.pRows = Array.from({ length: this.m }, () => []);
    this.qRows = Array.from({ length: this.m }, () => []);
    const local: number[][] = Array.from({ length: this.m }, () => []);
    p.prompts.forEach((r, i) => local[r].push(i));
    q?.prompts.forEach((r, i) => local[r].push(p.prompts.length + i));
    for (let r = 0; r < this.m; r++) {
      local[r].forEach((row, k) => (row < p.prompts.length ? this.pRows : this.qRows)[r].push(k));
      if (this.pRows[r].length === 0) throw new MetError(ErrorTypes.TooFewSamples, `the reference has no completion for prompt ${r}: every prompt needs stored completions to draw from`);
      if (q && this.qRows[r].length === 0) throw new MetError(ErrorTypes.TooFewSamples, `the alternative has no completion for prompt ${r}: every prompt needs stored completions to draw from`);
    }
    this.sizes = local.map((l) => l.length);
    const kernel = kernelOf(name, options, L);
    if (kernel) {
      const set = rowSet({ L, tokens });
      this.grams = local.map((rows) => gramBlock(set, Int32Array.from(rows), kernel));
      this.unique = 0;
    } else {
      const keys = new Map<string, number>();
      const all = { L, m: this.m, prompts: Int32Array.from([...p.prompts, ...(q?.prompts ?? [])]), tokens };
      this.ids = local.map((rows) =>
        Int32Array.from(rows, (row) => {
          const key = rowKey(all, row);
          let id = keys.get(key);
          if (id === undefined) keys.set(key, (id = keys.size));
          return id;
        }),
      );
      this.unique = keys.size;
    }
  }

  /** One statistic of X (n1 rows from P) against Y (n2 rows from Q, or from P when `yFromP`). */
  draw(rng: Rng, n1: number, n2: number, yFromP: boolean): number {
    const m = this.m;
    const a = new Int32Array(m);
    const b = new Int32Array(m);
    for (let i = 0; i < n1; i++) a[rng.int(m)]++;
    for (let i = 0; i < n2; i++) b[rng.int(m)]++;
    const pick = (from: number[], count: number) => {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = from[rng.int(from.length)];
      return out;
    };
    if (this.grams) {
      let sxx = 0, syy = 0, sxy = 0, dxx = 0, dyy = 0, dxy = 0;
      for (let r = 0; r < m; r++) {
        const g = this.grams[r];
        const size = this.sizes[r];
        const xs = pick(this.pRows[r], a[r]);
        const ys = pick(yFromP ? this.pRows[r] : this.qRows[r], b[r]);
        dxx += xs.length * (xs.length - 1);
        dyy += ys.length * (ys.length - 1);
        dxy += xs.length * ys.length;
        for (let i = 0; i < xs.length; i++) {
          const off = xs[i] * size;
          for (let j = i + 1; j < xs.length; j++) sxx += g[off + xs[j]];
          for (let j = 0; j < ys.length; j++) sxy += g[off + ys[j]];
        }
        for (let i = 0; i < ys.length; i++) {
          const off = ys[i] * size;
          for (let j = i + 1; j < ys.length; j++) syy += g[off + ys[j]];
        }
      }
      if (dxx === 0 || dyy === 0 || dxy === 0) {
        throw new MetError(ErrorTypes.TooFewSamples, `a draw of ${n1} and ${n2} rows over ${m} prompts left a prompt-pair denominator at zero: draw more samples per side`);
      }
      return (2 * sxx) / dxx - (2 * sxy) / dxy + (2 * syy) / dyy;
    }
    const c1 = new Float64Array(this.unique);
    const c2 = new Float64Array(this.unique);
    for (let r = 0; r < m; r++) {
      const ids = this.ids![r];
      for (const k of pick(this.pRows[r], a[r])) c1[ids[k]]++;
      for (const k of pick(yFromP ? this.pRows[r] : this.qRows[r], b[r])) c2[ids[k]]++;
    }
    return countStatistic(this.name as CountStatistic, c1, c2, n1, n2);
  }
}

