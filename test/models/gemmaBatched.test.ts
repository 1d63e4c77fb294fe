/**
 * met's batched generator on a real model (Gemma 3 270M Q4_K_M, .tools/gemma/, fetched by
 * scripts/ensure-gemma.sh as in gemma.test.ts): seeded samples do not depend on how many sequences
 * are decoded beside them, stored logprobs are single-sequence scores, the sampler chain is
 * node-llama-cpp's, and the batch-invariance check refuses a configuration that is not exact.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { checkGeneratorConfig, type GeneratorConfig } from '../../models/decodeCheck';
import { loadLlamaBackend, type LlamaBackend } from '../../models/llama';
import { NativeGenerator, type NativeGenerateRequest, type NativeGenerated } from '../../models/nativeGenerator';
import { NativeScorer } from '../../models/nativeScorer';
import { LocalGenerator } from '../../models/localGenerator';
import { SamplingSpec } from '../../config/runSpec';
import type { GeneratedSample } from '../../collect/sampleGenerator';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
const PROMPTS = [
  'The history of the city',
  'Once upon a time, in a small village,',
  'The recipe calls for',
  'In 1905, Einstein published',
  'My favourite animal is',
];
// One thread: llama.cpp's threads spin-wait on each other, and CI's two cores are shared.
const BASE = { threads: 1, contextSize: 256, batchSize: 128, flashAttention: 'off' as const };

let gemma: LlamaBackend;
let requests: NativeGenerateRequest[];

before(async () => {
  if (!existsSync(GEMMA)) {
    const run = spawnSync('bash', ['scripts/ensure-gemma.sh'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the real-model tests need ${GEMMA}; scripts/ensure-gemma.sh failed:\n${run.stdout}\n${run.stderr}`);
  }
  gemma = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma-3-270m', threads: 1, contextSize: 256, parallel: 4 });
  // Temperature 1 with the full vocabulary, and one request through every sampler of the chain.
  requests = PROMPTS.map((p, i) => ({
    prompt: [gemma.bosToken!, ...gemma.tokenize(p)],
    seed: 7000 + i,
    temperature: i === 4 ? 0.8 : 1,
    topK: i === 4 ? 40 : 0,
    topP: i === 4 ? 0.9 : 1,
    minP: i === 4 ? 0.02 : 0,
    maxTokens: 16,
    // And one with llama.cpp's penalties (node-llama-cpp starts them on the prompt's last 64 tokens).
    ...(i === 3 ? { repetitionPenalty: 1.3, presencePenalty: 0.4, frequencyPenalty: 0.2 } : {}),
  }));
});
after(async () => {
  await gemma?.close();
});

async function generateAll(options: { sequences: number; repack?: boolean }): Promise<NativeGenerated[]> {
  const generator = NativeGenerator.open(GEMMA, { ...BASE, ...options });
  try {
    return await Promise.all(requests.map((r) => generator.generate(r)));
  } finally {
    generator.close();
  }
}

test(
  'Gemma, batched generator: the same seeded requests give the same tokens, and the same logits, at 1 and 8 sequences per decode',
  { timeout: 300_000 },
  async () => {
    const one = await generateAll({ sequences: 1 });
    const eight = await generateAll({ sequences: 8 });
    for (let i = 0; i < requests.length; i++) {
      assert.ok(one[i].tokens.length > 0);
      assert.deepEqual(Array.from(eight[i].tokens), Array.from(one[i].tokens), `request ${i}`);
      // Bitwise: the logits a token was sampled from do not depend on the step's other rows.
      assert.deepEqual(Array.from(eight[i].logprobs), Array.from(one[i].logprobs), `request ${i}`);
    }
  },
);

test(
  'Gemma, batched backend: stored logprobs are single-sequence scores of the sampled tokens (1e-3 nats); the sampler record names the route',
  { timeout: 300_000 },
  async () => {
    assert.equal(gemma.parallel, 4);
    assert.match(gemma.samplerEngine, /met batched sampler: 4 sequences per decode/);
    const out = await Promise.all(
      requests.map((r) =>
        gemma.generate({
          prompt: '',
          promptTokens: [...r.prompt],
          seed: r.seed,
          temperature: r.temperature,
          topK: r.topK,
          topP: r.topP,
          minP: r.minP,
          repetitionPenalty: r.repetitionPenalty,
          presencePenalty: r.presencePenalty,
          frequencyPenalty: r.frequencyPenalty,
          maxTokens: r.maxTokens,
          logprobs: true,
        }),
      ),
    );
    const alone = await generateAll({ sequences: 1 });
    const scorer = NativeScorer.open(GEMMA, { ...BASE, sequences: 1, swaFull: false });
    try {
      for (let i = 0; i < requests.length; i++) {
        assert.deepEqual(out[i].tokenIds, Array.from(alone[i].tokens), `request ${i}`);
        const single = await scorer.score([{ tokens: [...requests[i].prompt, ...out[i].tokenIds], from: requests[i].prompt.length - 1 }]);
        assert.equal(out[i].tokenLogprobs!.length, out[i].tokenIds.length);
        out[i].tokenLogprobs!.forEach((lp, j) =>
          assert.ok(Math.abs(lp - single.logprobs[j]) <= 1e-3, `request ${i} token ${j}: ${lp} vs ${single.logprobs[j]}`),
        );
        // The logits a token was sampled from (one position per decode) are not the stored route's: not what is stored.
        assert.ok(alone[i].logprobs.some((lp, j) => lp !== out[i].tokenLogprobs![j]) || alone[i].logprobs.length < 4);
      }
      // A stop string: the sample ends at the first prefix whose stored text holds it, as at parallel 1.
      const full = out.find((o) => o.text.length >= 12)!;
      const r = requests[out.indexOf(full)];
      const stop = full.text.slice(6, 9);
      const cut = await gemma.generate({ ...r, prompt: '', promptTokens: [...r.prompt], stop: [stop] });
      let k = 1;
      while (!gemma.storedText(full.tokenIds.slice(0, k)).includes(stop)) k++;
      assert.deepEqual(cut.tokenIds, full.tokenIds.slice(0, k));
      assert.equal(cut.text, full.text.slice(0, full.text.indexOf(stop)));
      assert.equal(cut.finishReason, 'stop');
    } finally {
      scorer.close();
    }
  },
);

test(
  "Gemma, parallel 1: met's native sampler (one slot, weights repacked alike) draws node-llama-cpp's tokens, past a prefill batch too; one sampler record",
  { timeout: 300_000 },
  async () => {
    const loop = await loadLlamaBackend({
      path: GEMMA,
      precision: 'nf4',
      model: 'gemma-3-270m',
      threads: 1,
      contextSize: 256,
      oneSequenceSampler: 'node-llama-cpp',
    });
    const native = await loadLlamaBackend({ path: GEMMA, precision: 'nf4', model: 'gemma-3-270m', threads: 1, contextSize: 256 });
    // Beside the five requests: a prompt of more than one prefill batch (128 positions), and greedy decoding.
    const long = { ...requests[0], prompt: [gemma.bosToken!, ...gemma.tokenize(`${PROMPTS.join(' and ')}. `.repeat(6))], seed: 11 };
    assert.ok(long.prompt.length > 128, `${long.prompt.length} prompt tokens`);
    const all = [...requests, long, { ...requests[1], temperature: 0 }];
    try {
      assert.equal(native.samplerEngine, loop.samplerEngine);
      for (const [i, r] of all.entries()) {
        const request = {
          prompt: '',
          promptTokens: [...r.prompt],
          seed: r.seed,
          temperature: r.temperature,
          topK: r.topK,
          topP: r.topP,
          minP: r.minP,
          repetitionPenalty: r.repetitionPenalty,
          presencePenalty: r.presencePenalty,
          frequencyPenalty: r.frequencyPenalty,
          maxTokens: r.maxTokens,
        };
        const [a, b] = [await loop.generate(request), await native.generate(request)];
        assert.ok(a.tokenIds.length > 0);
        assert.deepEqual(b, a, `request ${i}`);
      }
    } finally {
      await loop.close();
      await native.close();
    }
  },
);

// That it passes the worker configuration (not repacked) exactly is the last test's, on the worker's start line.
test('Gemma, batched generator: the batch-invariance check refuses repacked weights', { timeout: 300_000 }, async () => {
  const config: GeneratorConfig = { ...BASE, sequences: 4, swaFull: false, repack: false };
  const repacked = await checkGeneratorConfig(GEMMA, { ...config, repack: true }, 256);
  assert.equal(repacked.passed, false, JSON.stringify(repacked));
  assert.ok(repacked.maxDiff > 1e-3);
});

test(
  "Gemma, batched worker: parallel 4 is checked at the worker's start, shown in its load line, and a unit's samples name the route",
  { timeout: 300_000 },
  async () => {
    const { loadCheckedLlamaBackend } = await import('../../workers/plans');
    const { ModelWorkerSpec } = await import('../../config/workers');
    const lines: string[] = [];
    const spec = ModelWorkerSpec.parse({ name: 'gemma-3-270m', precision: 'nf4', path: GEMMA, threads: 1, contextSize: 256, parallel: 4 });
    const backend = (await loadCheckedLlamaBackend(spec, (line) => lines.push(line))) as LlamaBackend;
    try {
      const log = lines.join('\n');
      assert.match(log, /4 sequences sampled at once/);
      // The worker configuration (4 slots, 1 thread, batch 128, flash attention off, weights not repacked) passes exactly.
      assert.match(
        log,
        /batched sampler check: 4 slots, 1 thread\(s\), batch 128, flash attention off, weights not repacked: .*0 with different tokens, max \|Δ logprob\| 0\.00e\+0 nats: pass/,
      );
      assert.equal(backend.parallel, 4);
      const samples: GeneratedSample[] = [];
      const sampling = SamplingSpec.parse({ maxTokens: 8, logprobs: true });
      const unit = [0, 1, 2, 3, 4, 5].map((i) => ({
        flat: i,
        promptId: `p${i % 2}`,
        promptIndex: i % 2,
        sampleIndex: i,
        prompt: PROMPTS[i % 2],
        seed: 100 + i,
      }));
      await new LocalGenerator(backend).sample(unit, {
        sampling,
        source: { kind: 'local', model: 'gemma-3-270m', precision: 'nf4' },
        signal: new AbortController().signal,
        onSample: (s) => samples.push(s),
      });
      assert.deepEqual(samples.map((s) => s.flat).sort(), [0, 1, 2, 3, 4, 5]);
      for (const s of samples) {
        assert.match(JSON.parse(s.sampler!).engine, /met batched sampler: 4 sequences per decode/);
        assert.equal(s.tokenLogprobs!.length, s.tokenIds!.length);
      }
    } finally {
      await backend.close();
    }
  },
);
