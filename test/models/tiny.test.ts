import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { perplexity } from '../../stats/perplexity';
import { decodeTensor, encodeTensor, fromHalf, toHalf } from '../../models/quantize';
import { writeTinyModels } from '../../models/tiny';
import { encodeChars, permutationTest, Rng } from '../../stats';

const dir = mkdtempSync(join(tmpdir(), 'met-tiny-'));
let paths: Record<string, string>;
const backends: Record<string, LlamaBackend> = {};

before(async () => {
  paths = writeTinyModels(dir);
  for (const [precision, path] of Object.entries(paths)) backends[precision] = await loadLlamaBackend({ path, precision: precision as 'fp32' });
});
after(async () => {
  for (const b of Object.values(backends)) await b.close();
  rmSync(dir, { recursive: true, force: true });
});

test('half floats round to nearest even; Q8_0 and Q4_0 blocks round-trip within their step', () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00, 'a tie rounds to even');
  assert.equal(fromHalf(toHalf(0.1)), 0.0999755859375);
  const rng = new Rng(1);
  const x = Float32Array.from({ length: 64 }, () => rng.float() * 2 - 1);
  for (const [type, levels] of [
    ['Q8_0', 127],
    ['Q4_0', 8],
  ] as const) {
    const y = decodeTensor(encodeTensor(x, type), type, x.length);
    for (let b = 0; b < 2; b++) {
      const block = x.subarray(b * 32, b * 32 + 32);
      const amax = Math.max(...block.map(Math.abs));
      for (let j = 0; j < 32; j++) assert.ok(Math.abs(y[b * 32 + j] - block[j]) <= (amax / levels) * 1.01, `${type} error at ${j}`);
    }
  }
  assert.equal(encodeTensor(x, 'Q4_0').length, 2 * 18);
  assert.equal(encodeTensor(x, 'Q8_0').length, 2 * 34);
});

test('make-tiny is deterministic: the same seed writes byte-identical files', () => {
  const again = writeTinyModels(join(dir, 'again'));
  for (const precision of Object.keys(paths)) assert.ok(readFileSync(paths[precision]).equals(readFileSync(again[precision])), precision);
});

test('every precision loads and samples reproducibly from its seed', async () => {
  for (const [precision, b] of Object.entries(backends)) {
    const a = await b.generate({ prompt: 'Once upon a time', maxTokens: 16, temperature: 1, topP: 0.95, seed: 5 });
    const c = await b.generate({ prompt: 'Once upon a time', maxTokens: 16, temperature: 1, topP: 0.95, seed: 5 });
    assert.deepEqual(a.tokenIds, c.tokenIds, precision);
    assert.ok(a.tokenIds.length > 0 && a.text.length > 0, precision);
  }
});

test("at parallel 1 met's native sampler draws node-llama-cpp's tokens: every precision, every sampler, long prompts, stops", async () => {
  // A prompt longer than a prefill batch (8 positions here), so both loops split it.
  const long = 'the king and the queen went to the river and the castle and the forest, and then '.repeat(3);
  const requests = [
    { prompt: 'Once upon a time', temperature: 1, topP: 1 },
    { prompt: 'The king', temperature: 0.7, topP: 0.9, topK: 12, minP: 0.02 },
    { prompt: 'In the morning we', temperature: 0, topP: 1 },
    { prompt: 'A cat', temperature: 1.2, topP: 1, repetitionPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.2 },
    { prompt: long, temperature: 1, topP: 1 },
  ];
  for (const [precision, path] of Object.entries(paths)) {
    const loop = await loadLlamaBackend({ path, precision: precision as 'fp32', batchSize: 8, oneSequenceSampler: 'node-llama-cpp' });
    const native = await loadLlamaBackend({ path, precision: precision as 'fp32', batchSize: 8 });
    try {
      assert.equal(native.samplerEngine, loop.samplerEngine, 'one route, one sampler record');
      // The model's training context (512) bounds both, though only the loop loads the weights.
      assert.deepEqual([native.contextSize, loop.contextSize], [512, 512]);
      for (const [i, r] of requests.entries()) {
        for (const seed of [1, 2, 3]) {
          const request = { ...r, maxTokens: 24, seed, logprobs: true };
          const [a, b] = [await loop.generate(request), await native.generate(request)];
          assert.ok(a.tokenIds.length > 0, `${precision} request ${i}`);
          assert.deepEqual(b, a, `${precision} request ${i} seed ${seed}`);
          // A stop string cuts both at the same token.
          const stop = a.text.slice(3, 5);
          if (stop.trim()) assert.deepEqual(await native.generate({ ...request, stop: [stop] }), await loop.generate({ ...request, stop: [stop] }));
        }
      }
    } finally {
      await loop.close();
      await native.close();
    }
  }
});

test('scoring returns the logprobs the sampler reported (1e-4); perplexity is exp(-mean)', async () => {
  const b = backends.fp32;
  for (let seed = 0; seed < 5; seed++) {
    const g = await b.generate({ prompt: 'The king and the queen', maxTokens: 20, temperature: 1, topP: 1, seed, logprobs: true });
    const scored = await b.scoreTokens('The king and the queen', g.tokenIds);
    scored.forEach((v, i) => assert.ok(Math.abs(v - g.tokenLogprobs![i]) < 1e-4, `token ${i}: ${v} vs ${g.tokenLogprobs![i]}`));
    const mean = scored.reduce((a, v) => a + v, 0) / scored.length;
    assert.ok(Math.abs(perplexity(scored) - Math.exp(-mean)) < 1e-9);
  }
});

test('precisions differ as quantization makes them differ: F16 ~ F32, Q4_0 furthest', async () => {
  const g = await backends.fp32.generate({ prompt: 'In the morning we', maxTokens: 24, temperature: 1, topP: 1, seed: 3, logprobs: true });
  const delta = async (p: string) => {
    const s = await backends[p].scoreTokens('In the morning we', g.tokenIds);
    return s.reduce((a, v, i) => a + Math.abs(v - g.tokenLogprobs![i]), 0) / s.length;
  };
  const [f16, q8, q4] = [await delta('fp16'), await delta('int8'), await delta('nf4')];
  assert.ok(f16 < 0.01 && f16 < q8 && q8 < q4, `mean |delta logprob| F16 ${f16}, Q8_0 ${q8}, Q4_0 ${q4}`);
});

test('power check: MMD-Hamming rejects F32 vs Q4_0 in >= 80% of repeats and F32 vs F32 in <= 10%', async () => {
  const prompts = [
    'Once upon a time',
    'The old man said',
    'In the morning we',
    'She opened the door and',
    'The river was',
    'When the rain stopped,',
    'He looked at the sky',
    'The king and the queen',
    'A small bird',
    'There was a house',
  ];
  const draw = async (b: LlamaBackend, seed0: number) => {
    const p: number[] = [];
    const c: string[] = [];
    for (let q = 0; q < prompts.length; q++) {
      for (let s = 0; s < 20; s++) {
        p.push(q);
        c.push((await b.generate({ prompt: prompts[q], maxTokens: 16, temperature: 1, topP: 1, seed: seed0 + 1000 * q + s })).text);
      }
    }
    return encodeChars(p, c, 48, prompts.length);
  };
  const repeats = 5;
  let q4 = 0;
  let same = 0;
  for (let r = 0; r < repeats; r++) {
    const x = await draw(backends.fp32, 1e6 * r + 1);
    if (permutationTest('mmd_hamming', x, await draw(backends.nf4, 1e6 * r + 300_000), { b: 200, seed: r }).pvalue <= 0.05) q4++;
    if (permutationTest('mmd_hamming', x, await draw(backends.fp32, 1e6 * r + 600_000), { b: 200, seed: r }).pvalue <= 0.05) same++;
  }
  assert.ok(q4 / repeats >= 0.8, `F32 vs Q4_0 rejected in ${q4}/${repeats}`);
  assert.ok(same / repeats <= 0.1, `F32 vs F32 rejected in ${same}/${repeats}`);
});
