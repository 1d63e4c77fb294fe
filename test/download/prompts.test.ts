import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { buildPromptSet, PromptBuildSpec } from '../../download/prompts';

const dir = mkdtempSync(join(tmpdir(), 'met-prompts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('met prompts build: word bounds, language, a seeded sample; the file reads as a met prompt set', async () => {
  const input = join(dir, 'src.jsonl');
  const lines = Array.from({ length: 60 }, (_, i) =>
    JSON.stringify({ message_id: `m${i}`, text: Array.from({ length: i + 1 }, () => 'word').join(' '), lang: i % 2 ? 'en' : 'de' }),
  );
  writeFileSync(input, `${lines.join('\n')}\n`);
  const duck = await createDuckDB();
  try {
    const spec = (seed: number, out: string) =>
      PromptBuildSpec.parse({
        inputs: [input],
        set: 'oasst-en',
        out: join(dir, out),
        idColumn: 'message_id',
        language: 'en',
        langColumn: 'lang',
        minWords: 10,
        maxWords: 40,
        count: 8,
        seed,
      });
    const r = await buildPromptSet(duck, spec(1, 'a.parquet'));
    assert.deepEqual(r, { rows: 8, considered: 60 });
    const read = (f: string) =>
      withConnection(duck, async (c) =>
        (
          await c.runAndReadAll(`SELECT prompt_set, prompt_id, language, text FROM read_parquet(${quotedString(join(dir, f))}) ORDER BY prompt_id`)
        ).getRowObjects(),
      );
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
    await assert.rejects(
      buildPromptSet(duck, PromptBuildSpec.parse({ inputs: [input], set: 's', out: join(dir, 'd.parquet'), textColumn: 'body' })),
      /no column 'body'.*columns: message_id, text, lang/,
    );
  } finally {
    duck.closeSync();
  }
});

test('met prompts build: oasst1 trees (gzipped JSONL, nested prompt.text/lang/message_id) and UltraChat messages become chat messages', async () => {
  // The oasst1 trees layout: one tree per line, the prompt's fields under "prompt".
  const trees = join(dir, 'oasst1-trees.jsonl.gz');
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
  const tree = (id: string, n: number, lang: string) =>
    JSON.stringify({ message_tree_id: id, tree_state: 'ready_for_export', prompt: { message_id: id, text: words(n), lang, role: 'prompter', replies: [] } });
  writeFileSync(
    trees,
    gzipSync(`${[tree('a', 1200, 'en'), tree('b', 900, 'en'), tree('c', 5000, 'en'), tree('d', 2000, 'de'), tree('e', 4096, 'en')].join('\n')}\n`),
  );
  const ultra = join(dir, 'ultrachat.jsonl');
  writeFileSync(
    ultra,
    `${JSON.stringify({
      prompt_id: 'u1',
      prompt: 'How do tides work?',
      messages: [
        { content: 'How do tides work?', role: 'user' },
        { content: 'The moon.', role: 'assistant' },
      ],
    })}\n`,
  );
  const duck = await createDuckDB();
  try {
    const oasst = PromptBuildSpec.parse({
      inputs: [trees],
      set: 'oasst-long',
      out: join(dir, 'oasst.parquet'),
      textColumn: 'prompt.text',
      idColumn: 'prompt.message_id',
      langColumn: 'prompt.lang',
      language: 'en',
      minWords: 1000,
      maxWords: 4096,
      sourceDataset: 'oasst1',
    });
    assert.deepEqual(await buildPromptSet(duck, oasst), { rows: 2, considered: 5 });
    const rows = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(`SELECT prompt_id, source_dataset, language, text, messages FROM read_parquet(${quotedString(oasst.out)}) ORDER BY prompt_id`)
      ).getRowObjects(),
    );
    assert.deepEqual(
      rows.map((r) => r.prompt_id),
      ['a', 'e'],
      '1,000 to 4,096 words, English only',
    );
    assert.equal(rows[0].source_dataset, 'oasst1');
    assert.deepEqual(JSON.parse(String(rows[0].messages)), [{ role: 'user', content: words(1200) }]);

    const chat = PromptBuildSpec.parse({
      inputs: [ultra],
      set: 'ultra',
      out: join(dir, 'ultra.parquet'),
      textColumn: 'prompt',
      idColumn: 'prompt_id',
      messagesColumn: 'messages',
    });
    await buildPromptSet(duck, chat);
    const [u] = await withConnection(duck, async (c) =>
      (await c.runAndReadAll(`SELECT prompt_id, text, messages FROM read_parquet(${quotedString(chat.out)})`)).getRowObjects(),
    );
    assert.equal(u.text, 'How do tides work?');
    assert.deepEqual(JSON.parse(String(u.messages)), [
      { content: 'How do tides work?', role: 'user' },
      { content: 'The moon.', role: 'assistant' },
    ]);
    await assert.rejects(buildPromptSet(duck, PromptBuildSpec.parse({ ...oasst, idColumn: 'id' })), /no column 'id'.*pass --id-column/);
  } finally {
    duck.closeSync();
  }
});
