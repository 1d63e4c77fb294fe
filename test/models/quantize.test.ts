/**
 * `met models quantize` on a real file: Gemma 3 270M Q4_K_M (K-quants Q4_K and Q6_K, plus Q5_0,
 * Q8_0 and F32 tensors), fetched by scripts/ensure-gemma.sh. met's dequantization is checked
 * against the `gguf` package's (llama.cpp's own Python reference, installed by the same script),
 * and a re-encoded file loads in llama.cpp under its new type.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dequantize, readGgufFile, tensorTypeName } from '../../models/ggufFile';
import { loadLlamaBackend } from '../../models/llama';
import { perplexity } from '../../stats/perplexity';

const GEMMA = '.tools/gemma/gemma-3-270m-q4_k_m.gguf';
const dir = mkdtempSync(join(tmpdir(), 'met-quantize-'));

before(() => {
  if (!existsSync(GEMMA) || !existsSync('.tools/gguf')) {
    const run = spawnSync('bash', ['scripts/ensure-gemma.sh'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`these tests need ${GEMMA} and the gguf package; scripts/ensure-gemma.sh failed:\n${run.stdout}\n${run.stderr}`);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test("met's dequantization of every tensor type in the Gemma file equals the gguf package's, bit for bit", { timeout: 120_000 }, () => {
  const file = readGgufFile(GEMMA);
  // The first tensor of each type (Q4_K, Q6_K, Q5_0, Q8_0, F32), and a second K-quant one.
  const picked = new Map<string, string>();
  for (const t of file.tensors) if (!picked.has(tensorTypeName(t.typeId)) && t.count <= 2_000_000) picked.set(tensorTypeName(t.typeId), t.name);
  picked.set('Q4_K (2)', file.tensors.filter((t) => tensorTypeName(t.typeId) === 'Q4_K')[3].name);
  assert.deepEqual([...picked.keys()].filter((k) => !k.includes('(')).sort(), ['F32', 'Q4_K', 'Q5_0', 'Q6_K', 'Q8_0']);
  for (const name of picked.values()) {
    const tensor = file.tensors.find((t) => t.name === name)!;
    writeFileSync(join(dir, `${name}.met.f32`), dequantize(file, tensor));
  }
  const script = `
import sys, numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
names, folder = sys.argv[2].split(','), sys.argv[3]
for t in GGUFReader(sys.argv[1]).tensors:
    if t.name in names:
        dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1).tofile(f"{folder}/{t.name}.ref.f32")
`;
  const py = spawnSync('python3', ['-c', script, GEMMA, [...picked.values()].join(','), dir], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: '.tools/gguf:.tools/numpy' },
  });
  assert.equal(py.status, 0, py.stderr);
  for (const [type, name] of picked) {
    const mine = readFileSync(join(dir, `${name}.met.f32`));
    const reference = readFileSync(join(dir, `${name}.ref.f32`));
    assert.ok(mine.length > 0 && mine.equals(reference), `${type} (${name}) differs from the gguf package's dequantization`);
  }
});

test(
  'met models quantize: Gemma at Q4_0 loads in llama.cpp as a Q4_0 file and scores English to a plausible, different perplexity',
  { timeout: 300_000 },
  async () => {
    const out = join(dir, 'gemma-Q4_0.gguf');
    const run = spawnSync(process.execPath, ['bin/met.js', 'models', 'quantize', GEMMA, '--to', 'Q4_0', '--out', out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /tensors at Q4_0/);
    const listed = spawnSync(process.execPath, ['bin/met.js', 'models', 'ls', '--dir', dir, '--json'], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { file: string; type: string; precision: string }[]).map((r) => [r.file, r.type, r.precision]),
      [['gemma-Q4_0.gguf', 'Q4_0', 'nf4']],
    );
    const text = 'The history of the city begins in the early Middle Ages, when a small group of farmers settled on the banks of the river.';
    const ppl: Record<string, number> = {};
    for (const [path, precision] of [
      [GEMMA, 'nf4'],
      [out, 'nf4'],
    ] as const) {
      const b = await loadLlamaBackend({ path, precision, threads: 1 });
      ppl[b.ggufType] = perplexity((await b.scoreSequence([b.bosToken!, ...b.tokenize(text)])).logprobs);
      await b.close();
    }
    assert.deepEqual(Object.keys(ppl).sort(), ['Q4_0', 'Q4_K_M']);
    assert.ok(ppl.Q4_0 > 2 && ppl.Q4_0 < 60, `Q4_0 perplexity ${ppl.Q4_0}`);
    assert.notEqual(ppl.Q4_0, ppl.Q4_K_M);
  },
);
