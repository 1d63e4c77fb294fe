import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { quotedString, withConnection } from '../../datasets/duck';
import { kindDir } from '../../datasets/paths';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * The unit journal keeps what a retry needs, not a copy of the prompt per sample: three samples of
 * a 1 MB prompt made a 3 MB journal. A unit that stops mid-way keeps a small journal, and the run
 * resumed from it still stores every sample with its full prompt.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-journal-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    mkdirSync(join(dataDir, 'prompts'), { recursive: true });
    writeFileSync(
      join(dataDir, 'prompts', 'big.jsonl'),
      `${JSON.stringify({ id: 'p0', text: `${BIG} zero` })}\n${JSON.stringify({ id: 'p1', text: `${BIG} one` })}\n`,
    );
  },
});
const BIG = 'x'.repeat(200_000);

/** Completions for the first `ok` requests, then 400s (non-retryable) until `healed()`. */
async function provider(ok: number) {
  let n = 0;
  let healed = false;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      n += 1;
      res.setHeader('content-type', 'application/json');
      if (n > ok && !healed) {
        res.writeHead(400);
        res.end(JSON.stringify({ error: { message: 'bad request (injected)' } }));
        return;
      }
      res.end(
        JSON.stringify({
          id: `c${n}`,
          object: 'text_completion',
          created: 0,
          model: 'm',
          choices: [{ index: 0, text: ` s${n}`, finish_reason: 'stop', logprobs: null }],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    heal: () => (healed = true),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function run(spec: ReturnType<typeof parseRunSpec>, name: string, url: string) {
  const taskQueue = uniqueName('journal-cpu');
  const plans = [
    cpuWorkerPlan({ dataDir, duck, taskQueue }),
    ...providerWorkerPlans({ dataDir, duck, providers: [{ name, baseURL: url, concurrentUnits: 1, timeoutMs: 2000 }], env: {} }),
  ];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const handle = await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: uniqueName('journal'), args: [{ spec, runId: runIdOf(spec) }] });
  const go = async () => {
    try {
      return await handle.result();
    } finally {
      workers.forEach((w) => w.shutdown());
    }
  };
  const [outcome] = await Promise.allSettled([go(), ...workers.map((w) => w.run())]);
  return outcome;
}

function journals(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.startsWith('.journal-')) out.push(join(e.parentPath, e.name));
  return out;
}

test('a unit stopped mid-way journals its samples without copies of a 200 KB prompt; resuming stores full prompts', { timeout: 60_000 }, async () => {
  const server = await provider(3);
  const name = uniqueName('journaled');
  try {
    const spec = parseRunSpec({
      corpus: 'journaled',
      prompts: { file: 'big.jsonl' },
      samplesPerPrompt: 3,
      sampling: { maxTokens: 4 },
      sources: [{ kind: 'provider', provider: name, model: 'm', concurrency: 1 }],
    });
    const first = await run(spec, name, server.url);
    assert.equal(first.status, 'rejected', 'the 400 stops the unit');
    const [journal] = journals(kindDir(dataDir, 'journaled', 'samples'));
    assert.ok(journal, 'the stopped unit left its journal');
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    assert.equal(lines.length, 3);
    assert.ok(statSync(journal).size < 5_000, `journal of 3 samples is ${statSync(journal).size} bytes`);
    server.heal();
    const second = await run(spec, name, server.url);
    assert.equal(second.status, 'fulfilled', String((second as PromiseRejectedResult).reason));
    const rows = await withConnection(duck, async (c) =>
      (
        await c.runAndReadAll(
          `SELECT prompt_id, length(prompt) AS n, completion FROM read_parquet(${quotedString(join(kindDir(dataDir, 'journaled', 'samples'), '*', '*', 'part-*.parquet'))}) ORDER BY prompt_id, sample_index`,
        )
      ).getRowObjects(),
    );
    assert.equal(rows.length, 6);
    assert.deepEqual(
      rows.slice(0, 3).map((r) => r.completion),
      [' s1', ' s2', ' s3'],
      'the journaled samples were kept, not paid again',
    );
    for (const r of rows) assert.equal(Number(r.n), BIG.length + (r.prompt_id === 'p0' ? 5 : 4));
  } finally {
    await server.close();
  }
});
