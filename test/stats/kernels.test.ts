import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RowIndex } from '../../stats/counts';
import { hammingGram } from '../../stats/hamming';
import { automatonSpectrumGram, HASHED_MAX_K, hashedSpectrumGram } from '../../stats/kspectrum';
import { Rng } from '../../stats/rng';
import { naiveHamming, naiveSpectrum } from './naive';

/** Random padded rows over a tiny alphabet (many repeats), sometimes with the pad inside the content. */
function randomRows(rng: Rng) {
  const n = 1 + rng.int(7);
  const L = 1 + rng.int(16);
  const pad = rng.int(3) === 0 ? 1 : -1; // pad 1 is also a content symbol: the token-unit case
  const V = 1 + rng.int(3);
  const tokens = new Int32Array(n * L).fill(pad);
  for (let i = 0; i < n; i++) {
    const len = rng.int(L + 1);
    for (let l = 0; l < len; l++) tokens[i * L + l] = rng.int(V);
  }
  return { n, L, pad, tokens };
}

test('Hamming Gram by per-position buckets equals pairwise comparison (pads in tails and inside content)', () => {
  const rng = new Rng(1);
  for (let trial = 0; trial < 400; trial++) {
    const { n, L, pad, tokens } = randomRows(rng);
    const G = hammingGram(tokens, n, L, pad);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const expected = naiveHamming(tokens.subarray(i * L, (i + 1) * L), tokens.subarray(j * L, (j + 1) * L));
        assert.equal(G[i * n + j], expected, `trial ${trial} (${i}, ${j})`);
      }
    }
  }
});

test('k-spectrum Gram: hashed k-grams and suffix automata both equal string-keyed counting, every k and mode', () => {
  const rng = new Rng(2);
  for (let trial = 0; trial < 150; trial++) {
    const { n, L, tokens } = randomRows(rng);
    const spectra = (k: number, cumulative: boolean) => Array.from({ length: n }, (_, i) => naiveSpectrum(tokens.subarray(i * L, (i + 1) * L), k, cumulative));
    for (const k of [1, 2, 3, 5, Math.min(L, HASHED_MAX_K), L, L + 3]) {
      for (const cumulative of [true, false]) {
        const s = spectra(k, cumulative);
        const automaton = automatonSpectrumGram(tokens, n, L, k, cumulative);
        const hashed = k <= HASHED_MAX_K ? hashedSpectrumGram(tokens, n, L, k, cumulative) : undefined;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let expected = 0;
            for (const [key, c] of s[i]) expected += c * (s[j].get(key) ?? 0);
            assert.equal(automaton[i * n + j], expected, `automaton trial ${trial} k=${k} ${cumulative}`);
            if (hashed) assert.equal(hashed[i * n + j], expected, `hashed trial ${trial} k=${k} ${cumulative}`);
          }
        }
      }
    }
  }
});

test('k-spectrum on long text rows: hashed and automaton agree at L = 300 with long pad runs', () => {
  const rng = new Rng(3);
  const n = 6;
  const L = 300;
  const tokens = new Int32Array(n * L).fill(-1);
  for (let i = 0; i < n; i++) {
    const len = 50 + rng.int(200);
    for (let l = 0; l < len; l++) tokens[i * L + l] = 97 + (l % 7 === 0 ? rng.int(26) : (l * 3) % 5);
  }
  for (const k of [3, 8, 12]) {
    assert.deepEqual(Array.from(hashedSpectrumGram(tokens, n, L, k, true)), Array.from(automatonSpectrumGram(tokens, n, L, k, true)), `k=${k}`);
    assert.deepEqual(Array.from(hashedSpectrumGram(tokens, n, L, k, false)), Array.from(automatonSpectrumGram(tokens, n, L, k, false)), `k=${k} exact`);
  }
});

test('row ids are exact: equal rows share an id, different rows never do', () => {
  const rng = new Rng(4);
  const L = 5;
  const n = 3000;
  const prompts = new Int32Array(n);
  const tokens = new Int32Array(n * L);
  for (let i = 0; i < n; i++) {
    prompts[i] = rng.int(3);
    for (let l = 0; l < L; l++) tokens[i * L + l] = rng.int(3) - 1;
  }
  const sample = { L, m: 3, prompts, tokens };
  const index = new RowIndex(L, 4);
  const byKey = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const id = index.id(sample, i);
    const key = `${prompts[i]}|${tokens.subarray(i * L, (i + 1) * L).join(',')}`;
    if (!byKey.has(key)) byKey.set(key, id);
    assert.equal(id, byKey.get(key), `row ${i}`);
  }
  assert.equal(index.size, byKey.size);
  assert.equal(new Set(byKey.values()).size, byKey.size);
});
