import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { createDuckDB, quotedString, readSlice, withConnection } from '../../datasets';
import { kindGlob } from '../../datasets/views';
import { convertRelease, parseReleaseName } from '../../download/release';
import { unpickle } from '../../download/pickle';
import { encodeChars, encodeTokens, twoSampleTest } from '../../stats';

/**
 * The MET release converter, on a fixture in the release's exact layout written by Python's own
 * pickle and numpy (scripts/make-release-fixture.py; numpy is installed into .tools/numpy by
 * scripts/ensure-pyarrow.sh, which .ci/run runs).
 */
const root = mkdtempSync(join(tmpdir(), 'met-release-'));
const fixture = join(root, 'release');
const dataDir = join(root, 'data');
let duck: DuckDBInstance;
interface Expected {
  model: string;
  files: {
    name: string;
    kind: 'api' | 'local';
    dataset: string;
    prompt: number;
    source: string;
    completions?: string[];
    tokenIds?: number[][];
    logprobs?: number[][];
  }[];
}
let expected: Expected;

before(async () => {
  const numpy = join(process.cwd(), '.tools', 'numpy');
  assert.ok(existsSync(numpy), 'numpy is missing from .tools/numpy: run bash scripts/ensure-pyarrow.sh');
  execFileSync(process.env.MET_PYTHON ?? 'python3', ['scripts/make-release-fixture.py', fixture], {
    env: { ...process.env, PYTHONPATH: numpy },
    stdio: 'pipe',
  });
  expected = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8'));
  duck = await createDuckDB();
});
after(() => {
  duck?.closeSync();
  rmSync(root, { recursive: true, force: true });
});

test('release file names parse from the right (model names contain dashes)', () => {
  assert.deepEqual(parseReleaseName('/x/meta-llama-Meta-Llama-3-8B-Instruct-wikipedia_ru-nf4-L=1000-17.pkl'), {
    path: '/x/meta-llama-Meta-Llama-3-8B-Instruct-wikipedia_ru-nf4-L=1000-17.pkl',
    name: 'meta-llama-Meta-Llama-3-8B-Instruct-wikipedia_ru-nf4-L=1000-17',
    model: 'meta-llama-Meta-Llama-3-8B-Instruct',
    dataset: 'wikipedia_ru',
    source: 'nf4',
    L: 1000,
    promptIndex: 17,
  });
  assert.equal(parseReleaseName('/x/notes.pkl'), undefined);
});

test('the release layout converts to Parquet: every string, token id and logprob as Python wrote it; a rerun skips converted files', async () => {
  const first = await convertRelease({ duck, dataDir, root: fixture, corpus: 'release' });
  assert.equal(first.files, expected.files.length);
  assert.equal(
    first.samples,
    expected.files.reduce((n, f) => n + (f.completions?.length ?? f.tokenIds!.length), 0),
  );
  assert.equal(
    first.logprobs,
    expected.files.reduce((n, f) => n + (f.logprobs?.length ?? 0), 0),
  );
  const again = await convertRelease({ duck, dataDir, root: fixture, corpus: 'release' });
  assert.deepEqual({ files: again.files, skipped: again.skipped }, { files: 0, skipped: expected.files.length });

  const rows = await withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        `SELECT source, prompt_id, sample_index, completion, token_ids FROM read_parquet(${quotedString(kindGlob(dataDir, 'release', 'samples'))}, hive_partitioning = true) ORDER BY ALL`,
      )
    ).getRowObjects(),
  );
  for (const f of expected.files) {
    const mine = rows.filter((r) => r.source === f.source && r.prompt_id === `${f.dataset}-${f.prompt}`);
    if (f.kind === 'api')
      assert.deepEqual(
        mine.map((r) => r.completion),
        f.completions,
      );
    else {
      assert.deepEqual(
        mine.map((r) => (r.token_ids as { items: number[] }).items.map(Number)),
        f.tokenIds,
      );
      assert.ok(
        mine.every((r) => r.completion === null),
        'no tokenizer given: text marked missing',
      );
    }
  }
  const lps = await withConnection(duck, async (c) =>
    (
      await c.runAndReadAll(
        `SELECT prompt_id, sample_index, token_logprobs FROM read_parquet(${quotedString(kindGlob(dataDir, 'release', 'logprobs'))}, hive_partitioning = true) ORDER BY ALL`,
      )
    ).getRowObjects(),
  );
  const withLogprobs = expected.files.filter((f) => f.logprobs);
  for (const f of withLogprobs) {
    const mine = lps.filter((r) => r.prompt_id === `${f.dataset}-${f.prompt}`).map((r) => (r.token_logprobs as { items: number[] }).items.map(Number));
    assert.deepEqual(mine, f.logprobs);
  }
});

test('statistics on the converted corpus equal those on the same strings and token ids given directly', async () => {
  await convertRelease({ duck, dataDir, root: fixture, corpus: 'release' });
  const promptIds = [...new Set(expected.files.map((f) => `${f.dataset}-${f.prompt}`))].sort();
  const direct = (source: string, unit: 'char' | 'token', L: number) => {
    const prompts: number[] = [];
    const completions: (string | number[])[] = [];
    promptIds.forEach((id, p) => {
      const f = expected.files.find((e) => e.source === source && `${e.dataset}-${e.prompt}` === id)!;
      for (const c of f.completions ?? f.tokenIds!) {
        prompts.push(p);
        completions.push(c);
      }
    });
    return unit === 'char'
      ? encodeChars(prompts, completions as string[], L, promptIds.length)
      : encodeTokens(prompts, completions as number[][], L, { m: promptIds.length });
  };
  const stored = async (source: string, unit: 'char' | 'token', L: number) =>
    (await readSlice(duck, dataDir, { corpus: 'release', sources: [source], unit, L, promptIds })).sample;

  for (const [x, y, unit, L, stat] of [
    ['together', 'amazon', 'char', 1000, 'mmd_hamming'],
    ['together', 'amazon', 'char', 1000, 'mmd_kspectrum'],
    ['fp32', 'int8', 'token', 10, 'mmd_hamming'],
  ] as const) {
    const fromCorpus = twoSampleTest({ x: await stored(x, unit, L), y: await stored(y, unit, L), stat, pvalue: 'permutation', b: 200, seed: 3 });
    const fromStrings = twoSampleTest({ x: direct(x, unit, L), y: direct(y, unit, L), stat, pvalue: 'permutation', b: 200, seed: 3 });
    assert.equal(fromCorpus.statistic, fromStrings.statistic, `${stat} ${x} vs ${y}`);
    assert.equal(fromCorpus.pvalue, fromStrings.pvalue);
    assert.ok(Number.isFinite(fromCorpus.statistic) && fromCorpus.statistic !== 0, `${stat}: ${fromCorpus.statistic}`);
  }
});

test('a corrupt pickle fails its file with the path and the reason; the files converted before it stay', async () => {
  const broken = join(root, 'broken');
  execFileSync('cp', ['-r', fixture, broken]);
  const names = expected.files.map((f) => f.name).sort();
  writeFileSync(join(broken, 'samples', `${names[names.length - 1]}.pkl`), Buffer.from([0x80, 0x04, 0x95, 0xff]));
  await assert.rejects(
    convertRelease({ duck, dataDir, root: broken, corpus: 'broken' }),
    new RegExp(`${names[names.length - 1]}\\.pkl: not a readable pickle`),
  );
  const kept = await convertRelease({ duck, dataDir, root: fixture, corpus: 'broken' });
  assert.equal(kept.skipped, names.length - 1, 'every file before the corrupt one was kept');
  assert.throws(() => unpickle(Buffer.from('not a pickle')));
});
