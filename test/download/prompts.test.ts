import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { buildPromptSet, PromptBuildSpec } from '../../download/prompts';

const dir = mkdtempSync(join(tmpdir(), 'met-prompts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('met prompts build: word bounds, language, a seeded sample; the file reads as a met prompt set', async () => {
  const input = join(dir, 'src.jsonl');
  const lines = Array.from({ length: 60 }, (_, i) => JSON.stringify({ message_id: `m${i}`, text: Array.from({ length: i + 1 }, () => 'word').join(' '), lang: i % 2 ? 'en' : 'de' }));
  writeFileSync(input, `${lines.join('\n')}\n`);
  const duck = await createDuckDB();
  try {
    const spec = (seed: number, out: string) => PromptBuildSpec.parse({ inputs: [input], set: 'oasst-en', out: join(dir, out), idColumn: 'message_id', language: 'en', langColumn: 'lang', minWords: 10, maxWords: 40, count: 8, seed });
    const r = await buildPromptSet(duck, spec(1, 'a.parquet'));
    assert.deepEqual(r, { rows: 8, considered: 60 });
    const read = (f: string) => withConnection(duck, async (c) => (await c.runAndReadAll(`SELECT prompt_set, prompt_id, language, text FROM read_parquet(${quotedString(join(dir, f))}) ORDER BY prompt_id`)).getRowObjects());
    const a = await read('a.parquet');
    for (const row of a) {
      const words = String(row.text).split(' ').length;
      assert.ok(words >= 10 && words <= 40 && words % 2 === 0, `${words} words, English rows only`);
      assert.equal(row.prompt_set, 'oasst-en');
      assert.equal(row.language, 'en');
    }
    await buildPromptSet(duck, spec(1, 'b.parquet'));
    assert.deepEqual(await read('b.parquet'), a, 'same seed, same set');
    await buildPromptSet(duck, spec(2, 'c.parquet'));
    assert.notDeepEqual(await read('c.parquet'), a, 'another seed, another sample');
    await assert.rejects(buildPromptSet(duck, PromptBuildSpec.parse({ inputs: [input], set: 's', out: join(dir, 'd.parquet'), textColumn: 'body' })), /no column 'body'.*columns: message_id, text, lang/);
  } finally {
    duck.closeSync();
  }
});
