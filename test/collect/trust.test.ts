import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { ErrorTypes } from '../../common/errors';
import { parseRunSpec, runIdOf, type RunSpecInput } from '../../config/runSpec';
import type { ProviderWorkerSpec } from '../../config/workers';
import { createCollectActivities } from '../../activities/collect';
import { createConsistencyActivities } from '../../activities/consistency';
import { createDuckDB, quotedString, withConnection } from '../../datasets/duck';
import { createEmbedder } from '../../models/embedding';
import { collectCorpus } from '../../workflows/collectCorpus';
import { cpuWorkerPlan } from '../../workers/cpu';
import { providerWorkerPlans } from '../../workers/provider';
import { uniqueName, type TestTemporal } from '../helpers/temporal';
import { useTestEnv } from '../helpers/env';

/**
 * Workers own where their keys go: a run spec names a provider, the worker config (or met's
 * registry) decides its endpoint and key variable. A listener on loopback stands in for whoever
 * wrote the spec and records every request it gets.
 */
interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
}
interface Listener {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function listen(): Promise<Listener> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      const model = (JSON.parse(body || '{}') as { model?: string }).model ?? 'm';
      res.setHeader('content-type', 'application/json');
      if (req.url?.endsWith('/embeddings')) {
        const base64 = (JSON.parse(body) as { encoding_format?: string }).encoding_format === 'base64';
        const embedding = base64 ? Buffer.from(new Float32Array([1, 0]).buffer).toString('base64') : [1, 0];
        res.end(JSON.stringify({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding }] }));
        return;
      }
      res.end(
        JSON.stringify({
          id: `cmpl-${seen.length}`,
          object: 'text_completion',
          created: 0,
          model,
          choices: [{ index: 0, text: ' ok', finish_reason: 'stop', logprobs: null }],
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

const SECRETS = {
  TOGETHER_API_KEY: 'sk-together-canary-0123456789',
  SECRET_DB_PASSWORD: 'db-password-canary-9876543210',
  OPEN_KEY: 'sk-open-canary-5555555555',
};
let temporal: TestTemporal;
let duck: DuckDBInstance;
const dataDir = useTestEnv('met-trust-', (env) => ({ temporal, duck } = env), {
  setUp: async () => {
    attacker = await listen();
    legit = await listen();
  },
});
let attacker: Listener;
let legit: Listener;

after(async () => {
  await attacker?.close();
  await legit?.close();
});

/** When the last run's workflow started (workers are up): failures are timed from here. */
let runStartedAt = 0;
async function collect(specInput: RunSpecInput, providers: ProviderWorkerSpec[]) {
  const spec = parseRunSpec(specInput);
  const taskQueue = uniqueName('trust-cpu');
  const plans = [cpuWorkerPlan({ dataDir, duck, taskQueue }), ...providerWorkerPlans({ dataDir, duck, providers, env: SECRETS })];
  const workers = await Promise.all(plans.map((p) => temporal.createWorker({ taskQueue: p.taskQueue, activities: p.activities, ...p.options })));
  const handle = await temporal.client.workflow.start(collectCorpus, { taskQueue, workflowId: uniqueName('trust'), args: [{ spec, runId: runIdOf(spec) }] });
  runStartedAt = Date.now();
  const run = async () => {
    try {
      return await handle.result();
    } finally {
      workers.forEach((w) => w.shutdown());
    }
  };
  const [outcome] = await Promise.allSettled([run(), ...workers.map((w) => w.run())]);
  if (outcome.status === 'rejected') throw outcome.reason;
  return outcome.value;
}

const spec = (corpus: string, source: Record<string, unknown>): RunSpecInput => ({
  corpus,
  prompts: { set: 'demo', limit: 2 },
  samplesPerPrompt: 2,
  sampling: { maxTokens: 4 },
  sources: [{ kind: 'provider', model: 'm1', ...source } as RunSpecInput['sources'][number]],
});

/** The run fails with MetForbidden, non-retryably, on the first attempt, naming the rule. */
async function refused(promise: Promise<unknown>, rule: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    assert.equal(err.cause.type, ErrorTypes.Forbidden);
    assert.equal(err.cause.nonRetryable, true);
    assert.match(err.cause.message, rule);
    for (const s of Object.values(SECRETS)) assert.ok(!JSON.stringify(err).includes(s));
    return true;
  });
  assert.ok(Date.now() - runStartedAt < 15_000, `failed ${Date.now() - runStartedAt} ms after the run started, not within seconds`);
}

function assertNoSecrets(seen: Seen[]) {
  for (const s of seen) {
    const all = JSON.stringify(s);
    for (const secret of Object.values(SECRETS)) assert.ok(!all.includes(secret), `a request carried ${secret}`);
  }
}

test("a spec's baseURL cannot take a registry provider's key (together), a configured provider's or one without config", { timeout: 90_000 }, async () => {
  const canary = uniqueName('canary');
  const faulty = uniqueName('faulty');
  const providers: ProviderWorkerSpec[] = [
    { name: 'together', concurrentUnits: 1, timeoutMs: 2000 },
    { name: canary, baseURL: legit.url, apiKeyEnv: 'TOGETHER_API_KEY', concurrentUnits: 1, timeoutMs: 2000 },
    { name: faulty, concurrentUnits: 1, timeoutMs: 2000 },
  ];
  const rule = /a run spec may give a baseURL only for a provider the worker config marks allowSpecBaseURL: true/;
  await refused(collect(spec('t1', { provider: 'together', baseURL: attacker.url }), providers), rule);
  await refused(collect(spec('t2', { provider: canary, baseURL: attacker.url }), providers), rule);
  await refused(collect(spec('t3', { provider: faulty, baseURL: attacker.url }), providers), rule);
  assert.equal(attacker.seen.length, 0, 'the listener got no request: no key, no prompt');
  assert.equal(legit.seen.length, 0);
});

test("a spec's apiKeyEnv cannot pick which variable is sent, not even to the configured endpoint", { timeout: 60_000 }, async () => {
  const faulty = uniqueName('faulty');
  const providers: ProviderWorkerSpec[] = [{ name: faulty, baseURL: legit.url, concurrentUnits: 1, timeoutMs: 2000 }];
  const rule = /a run spec may not choose which environment variable a worker sends as a key/;
  await refused(collect(spec('t4', { provider: faulty, apiKeyEnv: 'SECRET_DB_PASSWORD' }), providers), rule);
  const open = uniqueName('open');
  const openProviders: ProviderWorkerSpec[] = [{ name: open, allowSpecBaseURL: true, apiKeyEnv: 'OPEN_KEY', concurrentUnits: 1, timeoutMs: 2000 }];
  await refused(collect(spec('t5', { provider: open, baseURL: attacker.url, apiKeyEnv: 'SECRET_DB_PASSWORD' }), openProviders), rule);
  assert.equal(legit.seen.length, 0);
  assert.equal(attacker.seen.length, 0);
});

test('a provider open to spec endpoints samples there without any key; its configured endpoint gets its key', { timeout: 60_000 }, async () => {
  const open = uniqueName('open');
  const providers: ProviderWorkerSpec[] = [
    { name: open, allowSpecBaseURL: true, baseURL: legit.url, apiKeyEnv: 'OPEN_KEY', concurrentUnits: 1, timeoutMs: 2000 },
  ];
  const before = attacker.seen.length;
  const result = await collect(spec('t6', { provider: open, baseURL: attacker.url }), providers);
  assert.equal(result.rows, 4);
  const got = attacker.seen.slice(before);
  assert.equal(got.length, 4);
  assertNoSecrets(got);
  // Same provider, no spec endpoint: the worker's own endpoint gets the worker's key.
  const legitBefore = legit.seen.length;
  await collect(spec('t7', { provider: open }), providers);
  const legitGot = legit.seen.slice(legitBefore);
  assert.equal(legitGot.length, 4);
  assert.ok(legitGot.every((s) => s.headers.authorization === `Bearer ${SECRETS.OPEN_KEY}`));
});

test('a file:// or other non-http baseURL is refused by the run spec schema, naming the field', () => {
  for (const baseURL of ['file:///etc/passwd', 'ftp://127.0.0.1/v1', 'gopher://x']) {
    assert.throws(
      () => parseRunSpec(spec('t8', { provider: 'x', baseURL })),
      (err: Error) => {
        assert.match(err.message, /sources\.0\.baseURL: an http:\/\/ or https:\/\/ URL/);
        return true;
      },
    );
  }
});

// ---- Workers own which files they read -------------------------------------------------------

test("prompts.file: only under the data folder's prompts/ or the worker's promptRoots; no URL, glob, ../ or symlink out", { timeout: 60_000 }, async () => {
  const data = join(dataDir, 'files');
  const extra = join(dataDir, 'extra-root');
  mkdirSync(join(data, 'prompts'), { recursive: true });
  mkdirSync(extra, { recursive: true });
  const line = (id: string, text: string) => `${JSON.stringify({ id, text })}\n`;
  writeFileSync(join(data, 'prompts', 'ok.jsonl'), line('a', 'allowed prompt'));
  writeFileSync(join(data, 'prompts', 'named.jsonl'), line('n', 'a set by name'));
  writeFileSync(join(extra, 'extra.jsonl'), line('e', 'from a configured root'));
  const secret = join(dataDir, 'private-secret.jsonl');
  writeFileSync(secret, line('s', 'PRIVATE-CONTENT-canary'));
  symlinkSync(secret, join(data, 'prompts', 'link.jsonl'));
  const activities = createCollectActivities({ duck, dataDir: data, promptRoots: [extra] });
  const prepare = (prompts: Record<string, unknown>, corpus = uniqueName('pf')) =>
    activities.prepareRun({
      spec: parseRunSpec({ corpus, prompts, samplesPerPrompt: 1, sources: [{ kind: 'local', model: 'm', precision: 'fp32' }] }),
      runId: 'r',
    });

  assert.equal((await prepare({ file: 'ok.jsonl' })).promptCount, 1);
  assert.equal((await prepare({ file: join(data, 'prompts', 'ok.jsonl') })).promptCount, 1);
  assert.equal((await prepare({ file: 'extra.jsonl' })).promptCount, 1);
  assert.equal((await prepare({ set: 'named' })).promptSet, 'named');
  const cases: [string, RegExp][] = [
    [secret, /read only under the data folder's prompts\/ or a folder listed in the worker config's promptRoots/],
    ['../../private-secret.jsonl', /read only under/],
    ['link.jsonl', /symlinks out of them are not followed/],
    [`${attacker.url}/x.parquet`, /not a URL/],
    ['file:///etc/passwd.jsonl', /not a URL/],
    ['*.jsonl', /globs are not accepted/],
    [join(dataDir, '**', '*.parquet'), /globs are not accepted/],
    ['/etc/passwd', /use a .jsonl file/],
  ];
  for (const [file, rule] of cases) {
    await assert.rejects(prepare({ file }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, ErrorTypes.Forbidden, `${file}: ${err.message}`);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, rule, file);
      assert.ok(!err.message.includes(dataDir) || file.includes(dataDir), `${file}: the message shows a worker path: ${err.message}`);
      assert.ok(!err.message.includes('PRIVATE-CONTENT'));
      return true;
    });
  }
  // Bytes that are not UTF-8: refused with the line, not silently turned into U+FFFD; no worker path shown.
  writeFileSync(
    join(data, 'prompts', 'latin1.jsonl'),
    Buffer.concat([Buffer.from(line('a', 'fine')), Buffer.from('{"id": "b", "text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]),
  );
  await assert.rejects(prepare({ file: 'latin1.jsonl' }), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.type, ErrorTypes.BadInput);
    assert.equal(err.message, "prompts.file 'latin1.jsonl':2 is not valid UTF-8: save the prompt file as UTF-8");
    return true;
  });
  assert.equal(attacker.seen.length, attacker.seen.filter((s) => s.body.includes('model')).length, 'DuckDB fetched nothing from the listener');
  assert.ok(!attacker.seen.some((s) => JSON.stringify(s).includes('PRIVATE-CONTENT')));
});

test('a run whose prompts.file is outside the roots fails in seconds, and no provider sees its content', { timeout: 60_000 }, async () => {
  const secret = join(dataDir, 'private2.jsonl');
  writeFileSync(secret, `${JSON.stringify({ id: 's', text: 'PRIVATE-CONTENT-2' })}\n`);
  const open = uniqueName('open');
  const before = attacker.seen.length;
  const input = spec('t9', { provider: open, baseURL: attacker.url });
  input.prompts = { file: secret };
  await refused(
    collect(input, [{ name: open, allowSpecBaseURL: true, concurrentUnits: 1, timeoutMs: 2000 }]),
    /prompts.file .* is refused: files are read only under/,
  );
  assert.equal(attacker.seen.length, before);
});

test("a worker's DuckDB reads only its allowed folders: no other file, no URL, no extension auto-install", async () => {
  const allowed = join(dataDir, 'duck-allowed');
  const other = join(dataDir, 'duck-other');
  mkdirSync(allowed, { recursive: true });
  mkdirSync(other, { recursive: true });
  const locked = await createDuckDB({ allowedDirectories: [allowed] });
  try {
    await withConnection(duck, (c) => c.run(`COPY (SELECT 42 AS x) TO ${quotedString(join(other, 'x.parquet'))} (FORMAT parquet)`));
    await withConnection(locked, async (c) => {
      await c.run(`COPY (SELECT 7 AS x) TO ${quotedString(join(allowed, 'y.parquet'))} (FORMAT parquet)`);
      assert.deepEqual((await c.runAndReadAll(`SELECT x FROM read_parquet(${quotedString(join(allowed, 'y.parquet'))})`)).getRowObjects(), [{ x: 7 }]);
      for (const path of [join(other, 'x.parquet'), join(allowed, '..', 'duck-other', 'x.parquet'), `${attacker.url}/x.parquet`]) {
        await assert.rejects(c.run(`SELECT * FROM read_parquet(${quotedString(path)})`), /disabled by configuration|Permission Error/, path);
      }
    });
    // Even an unlocked instance never auto-installs httpfs for an http:// path.
    await withConnection(duck, async (c) => {
      const settings = (
        await c.runAndReadAll(
          `SELECT name, value FROM duckdb_settings() WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions') ORDER BY name`,
        )
      ).getRowObjects();
      assert.deepEqual(settings, [
        { name: 'autoinstall_known_extensions', value: 'false' },
        { name: 'autoload_known_extensions', value: 'false' },
      ]);
    });
  } finally {
    locked.closeSync();
  }
  assert.ok(!attacker.seen.some((s) => s.body === ''), 'no GET of a parquet reached the listener');
});

test('noWorkerTimeoutSeconds: a run whose provider no worker serves fails in seconds, naming the queue', { timeout: 60_000 }, async () => {
  const nobody = uniqueName('nobody');
  const input = { ...spec('t10', { provider: nobody }), noWorkerTimeoutSeconds: 2 };
  await assert.rejects(collect(input, []), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
    assert.equal(err.cause.type, 'MetNoWorker');
    assert.match(err.cause.message, new RegExp(`no worker took a unit of m1/${nobody} from task queue met-provider-${nobody} within 2 s: start the worker`));
    return true;
  });
  assert.ok(Date.now() - runStartedAt < 15_000, `failed ${Date.now() - runStartedAt} ms after the run started`);
});

test('embedding endpoints named by URL get no key; a request cannot pick the key variable', { timeout: 30_000 }, async () => {
  const env = { ...SECRETS, OPENAI_API_KEY: 'sk-openai-canary-777777777777' };
  const before = attacker.seen.length;
  const embedder = await createEmbedder({ kind: 'endpoint', provider: 'openai', baseURL: attacker.url, model: 'e', batchSize: 8 }, env);
  assert.deepEqual(await embedder.embed(['hello']), [[1, 0]]);
  const got = attacker.seen.slice(before);
  assert.equal(got.length, 1);
  assert.ok(!JSON.stringify(got).includes(env.OPENAI_API_KEY), 'the OpenAI key went to a URL the request named');
  await assert.rejects(
    createEmbedder({ kind: 'endpoint', provider: 'custom', baseURL: attacker.url, model: 'e', apiKeyEnv: 'SECRET_DB_PASSWORD', batchSize: 8 }, env),
    (err: Error) => {
      assert.equal((err as { type?: string }).type, ErrorTypes.Forbidden);
      assert.match(err.message, /may not choose which environment variable a worker sends as a key/);
      return true;
    },
  );
  assert.equal(attacker.seen.length, before + 1);
});

test('prompts given inline are collected (what the HTTP API takes instead of a worker path)', { timeout: 30_000 }, async () => {
  const open = uniqueName('open');
  const before = attacker.seen.length;
  const input = spec('t11', { provider: open, baseURL: attacker.url });
  input.prompts = {
    inline: [
      { id: 'q1', text: 'inline prompt one' },
      { id: 'q2', text: 'inline prompt two' },
    ],
    name: 'mine',
  };
  const result = await collect(input, [{ name: open, allowSpecBaseURL: true, concurrentUnits: 1, timeoutMs: 2000 }]);
  assert.equal(result.rows, 4);
  const prompts = attacker.seen
    .slice(before)
    .map((s) => (JSON.parse(s.body) as { prompt: string }).prompt)
    .sort();
  assert.deepEqual(prompts, ['inline prompt one', 'inline prompt one', 'inline prompt two', 'inline prompt two']);
  assert.throws(
    () =>
      parseRunSpec({
        ...input,
        prompts: {
          inline: [
            { id: 'a', text: 'x' },
            { id: 'a', text: 'y' },
          ],
        },
      }),
    /prompts\.inline\.1\.id: duplicate prompt id 'a'/,
  );
});

test("a spec's local embedding model is read only under the data folder's models/ or the worker's modelRoots", async () => {
  const data = join(dataDir, 'embed-data');
  mkdirSync(join(data, 'models'), { recursive: true });
  const outside = join(dataDir, 'outside.gguf');
  writeFileSync(outside, 'not really a model');
  const activities = createConsistencyActivities({ duck, dataDir: data });
  const compare = (path: string) =>
    activities.compareSides({
      corpus: 'none',
      a: { model: 'm', source: 'a' },
      b: { model: 'm', source: 'b' },
      scorer: { model: 'm', precision: 'fp32' },
      embed: { kind: 'local', path, batchSize: 8 },
    });
  for (const [path, rule] of [
    [
      outside,
      /embed\.path '.*outside\.gguf' is refused: files are read only under the data folder's models\/ or a folder listed in the worker config's modelRoots/,
    ],
    ['../../outside.gguf', /is refused: files are read only under/],
    ['/etc/passwd', /is refused: a local embedding model is a \.gguf file/],
    ['http://127.0.0.1:1/m.gguf', /is refused: a file is a path under .*, not a URL/],
  ] as const) {
    await assert.rejects(compare(path), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, ErrorTypes.Forbidden, err.message);
      assert.match(err.message, rule);
      return true;
    });
  }
  // Under the data folder's models/: allowed (and then the missing corpus is what fails).
  writeFileSync(join(data, 'models', 'e.gguf'), 'x');
  await assert.rejects(compare('e.gguf'), (err: unknown) => err instanceof ApplicationFailure && err.type === ErrorTypes.NotFound);
});
