import { CPU_TASK_QUEUE } from '../temporal/queues';
import { PROGRESS_QUERY } from '../common/progress';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { formatPowerTable, formatVerdictTable } from './table';
import { powerTable } from '../report/tables';
import { PowerSection } from '../report/schemas';
import { followProgress } from './progress';
import { type Job, type JobName, resultOf, toStages } from '../jobs';
import { type MetConfig, isEmbedded } from '../config/schema';
import { parseRunSpec } from '../config/runSpec';
import { TestSpec } from '../config/testSpec';
import { ErrorTypes, MetError } from '../common/errors';
import { createDuckDB } from '../datasets/duck';
import type { TestResult } from '../report/schemas';
import { writeReport } from '../report/html';
import { startServe, type RunningServe } from '../serve/server';
import { existsSync } from 'node:fs';
import { GGUF_TYPE } from '../models/backend';
import { loadLlamaBackend } from '../models/llama';
import { precisionLabel } from '../models/ggufType';
import { TINY_PRECISIONS, writeTinyModels } from '../models/tiny';
import { PowerSpec } from '../config/powerSpec';
import { powerSection } from '../jobs/powerReport';
import { connectClient } from '../temporal/connect';
import { startDevServer, stopDevServer } from '../temporal/devServer';
import { buildWorkerPlans } from '../workers/plans';
import { runWorkers } from '../workers/run';
import type { TestOutcome } from '../activities/tests';
import { launchCollection } from '../client/collect';
import { newRunRecord, saveRunRecord, startOrAttach } from '../client/runs';

/**
 * `met demo`: "which model is this endpoint serving?" answered end to end on the embedded default.
 * met makes its tiny GGUF model (F32, Q8_0, Q4_0) if missing and serves it through two
 * OpenAI-compatible endpoints on loopback: endpoint-a honestly serves F32; endpoint-b claims to
 * serve F32 but serves Q4_0. Both inject 429s so retries show. met collects a corpus from the local
 * model at F32, Q8_0 and Q4_0 and from both endpoints, scores every completion under the F32
 * reference, tests each endpoint against local F32 (MMD-Hamming, permutation p-value), runs a
 * small power grid over the local precisions, prints the verdicts and writes the HTML report.
 * Every step is a workflow with a deterministic id, so an interrupted demo continues where it stopped.
 */
export interface DemoOptions {
  config: MetConfig;
  samplesPerPrompt: number;
  prompts: number;
  b: number;
  headless?: boolean;
  keepUp?: boolean;
  /** First of the two endpoint ports (default: the Temporal port + 2100). */
  endpointPort?: number;
  /** Where the verdict table goes (stderr when stdout carries JSON). */
  out?: NodeJS.WritableStream;
  log: (line: string) => void;
}

export interface DemoResult {
  results: TestOutcome[];
  reportPath: string;
  uiUrl?: string;
}

const REFERENCE = 'fp32';

/**
 * How the demo names a source everywhere it prints one (progress, verdicts, power table, report):
 * a local precision with the GGUF type the demo made it at, `tiny nf4 (Q4_0)`; an endpoint by name.
 */
const TINY_TYPES: Record<string, string> = Object.fromEntries(TINY_PRECISIONS.map((p) => [p.precision, p.type]));
export function demoLabel(model: string, source: string): string {
  return TINY_TYPES[source] ? `${model} ${precisionLabel(source, TINY_TYPES[source])}` : source;
}
/** A slice's `model/source` name (progress, power grids) in the demo's words. */
function cellLabel(name: string): string {
  const slash = name.indexOf('/');
  return slash > 0 ? demoLabel(name.slice(0, slash), name.slice(slash + 1)) : name;
}

export class DemoInterrupted extends Error {
  constructor() {
    super('interrupted: run met demo again to continue where it stopped');
  }
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { config, log } = options;
  // Ctrl-C stops waiting and cleans up; every step has a deterministic id, so a rerun continues.
  const interrupted = new AbortController();
  const onSigint = () => {
    if (interrupted.signal.aborted) process.exit(130); // a second Ctrl-C does not wait for cleanup
    log('Interrupted: stopping workers and endpoints (Ctrl-C again to quit at once)');
    interrupted.abort();
  };
  process.on('SIGINT', onSigint);
  const untilInterrupted = <T>(promise: Promise<T>): Promise<T> =>
    Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        const fail = () => reject(new DemoInterrupted());
        if (interrupted.signal.aborted) fail();
        else interrupted.signal.addEventListener('abort', fail, { once: true });
      }),
    ]);
  let uiUrl: string | undefined;
  let startedServer = false;
  if (isEmbedded(config)) {
    log(`Starting the embedded Temporal server (127.0.0.1:${config.temporal.embeddedPort}, data ${config.dataDir})`);
    const { state, alreadyRunning } = await startDevServer({ dataDir: config.dataDir, port: config.temporal.embeddedPort, headless: options.headless, log });
    startedServer = !alreadyRunning;
    if (state.uiPort) uiUrl = `http://${state.ip}:${state.uiPort}/namespaces/${state.namespace}/workflows`;
    log(`Temporal ${alreadyRunning ? 'already running' : 'started'} at ${state.ip}:${state.port}${uiUrl ? `; UI ${uiUrl}` : ''}`);
  }
  // A set-up step that fails (a busy port, say) stops what the demo started so far: no endpoint and
  // no Temporal server is left running behind an error. After set-up, the finally below does it.
  const endpoints: { name: string; serve: RunningServe; close: () => Promise<void> }[] = [];
  const closeEndpoints = async () => {
    for (const e of endpoints.splice(0)) {
      await e.serve.close();
      await e.close();
    }
  };
  const setUp = async () => {
    const modelsDir = join(config.dataDir, 'models');
    if (!existsSync(join(modelsDir, 'tiny-Q4_0.gguf'))) {
      log(`Making the tiny GGUF models in ${modelsDir}`);
      writeTinyModels(modelsDir);
    }
    const gguf = (type: string) => join(modelsDir, `tiny-${type}.gguf`);
    // Two endpoints that both claim to serve tiny at F32; endpoint-b really serves Q4_0.
    // Fixed ports (derived from the Temporal port): a rerun serves the same URLs, so a collection
    // still running from an interrupted demo finds its endpoints again.
    const base = config.temporal.embeddedPort + 2100 <= 65534 ? config.temporal.embeddedPort + 2100 : config.temporal.embeddedPort - 2100;
    log(
      `Serving two endpoints that both claim tiny F32 on 127.0.0.1:${options.endpointPort ?? base} and :${(options.endpointPort ?? base) + 1} (endpoint-b really serves Q4_0)`,
    );
    for (const [name, precision] of [
      ['endpoint-a', 'fp32'],
      ['endpoint-b', 'nf4'],
    ] as const) {
      const backend = await loadLlamaBackend({ path: gguf(GGUF_TYPE[precision]), precision, model: 'tiny' });
      const port = (options.endpointPort ?? base) + endpoints.length;
      const serve = await startServe({ backend, port, claimModel: 'tiny-F32', faults: { fail429: 0.05, retryAfter: 0.1 }, seed: endpoints.length + 1 }).catch(
        (err: Error) => {
          throw new MetError(
            ErrorTypes.BadInput,
            `cannot serve ${name} on 127.0.0.1:${port} (${err.message}): free that port or pass --endpoint-port N (uses N and N+1)`,
          );
        },
      );
      endpoints.push({ name, serve, close: () => backend.close() });
    }

    const duck = await createDuckDB();
    const abort = new AbortController();
    const providers = endpoints.map((e) => ({ name: `demo-${e.name}`, baseURL: e.serve.url, concurrentUnits: 2, timeoutMs: 30_000 }));
    const localModels = (['fp32', 'int8', 'nf4'] as const).map((precision) => ({
      name: 'tiny',
      precision,
      path: gguf(GGUF_TYPE[precision]),
      gpu: 'cpu' as const,
      concurrentUnits: 1,
    }));
    log(`Loading the local models (${localModels.map((m) => demoLabel('tiny', m.precision)).join(', ')}) and starting workers`);
    const { plans, close } = await buildWorkerPlans({ config, queues: [CPU_TASK_QUEUE], workerConfig: { providers, models: localModels }, env: {} });
    return { duck, abort, localModels, plans, close };
  };
  let set: Awaited<ReturnType<typeof setUp>>;
  try {
    set = await setUp();
  } catch (err) {
    await closeEndpoints();
    if (startedServer && !options.keepUp) await stopDevServer(config.dataDir);
    throw err;
  }
  const { duck, abort, localModels, plans, close } = set;
  const workers = runWorkers(config, plans, abort.signal, () => {});
  let client: Client | undefined;
  let lastQuery: Promise<unknown> = Promise.resolve();
  try {
    client = await connectClient(config);
    const corpus = `demo-${options.prompts}x${options.samplesPerPrompt}`;
    const spec = parseRunSpec({
      corpus,
      runId: `${corpus}-v2`,
      prompts: { set: 'demo', limit: options.prompts },
      samplesPerPrompt: options.samplesPerPrompt,
      sampling: { maxTokens: 16, temperature: 1, logprobs: true },
      sources: [
        ...localModels.map((m) => ({ kind: 'local' as const, model: 'tiny', precision: m.precision })),
        ...endpoints.map((e) => ({
          kind: 'provider' as const,
          provider: `demo-${e.name}`,
          model: 'tiny',
          source: e.name,
          baseURL: e.serve.url,
          concurrency: 4,
        })),
      ],
      unitSize: 100,
      window: 2,
    });
    log(
      `Collecting ${spec.samplesPerPrompt} samples x ${options.prompts} prompts from local ${localModels.map((m) => demoLabel('tiny', m.precision)).join(', ')} and ${endpoints.length} endpoints (run ${spec.runId})`,
    );
    const { record } = await launchCollection(client, config.dataDir, spec);
    const handle = client.workflow.getHandle(record.workflowId);
    const done = handle.result();
    done.catch(() => {});
    await followProgress({
      poll: async () => {
        // Bounded (the client's retries stop at the deadline), and remembered: the connection closes
        // only after the last one ends, or a retry timer would fire on a closed channel and crash.
        lastQuery = client!.withDeadline(Date.now() + 2000, () => handle.query(PROGRESS_QUERY)).catch(() => undefined);
        const { stages } = toStages('collectCorpus', await lastQuery);
        return { stages: stages.map((st) => ({ ...st, name: cellLabel(st.name) })) };
      },
      until: done,
      signal: interrupted.signal,
      handleSigint: false,
    });
    await untilInterrupted(done);

    const run = async <K extends JobName>(job: Job<K>, runId: string) => {
      // Job<K> is one member of Job; TypeScript cannot see that for a generic K.
      const rec = newRunRecord(job as Job, runId);
      await saveRunRecord(config.dataDir, rec);
      await startOrAttach(client!, rec);
      return untilInterrupted(resultOf(client!, { ...job, workflowId: rec.workflowId }));
    };

    const reference = demoLabel('tiny', REFERENCE);
    log(`Scoring every completion under the reference, ${reference}`);
    const scored = await run<'scoreCorpus'>(
      { job: 'scoreCorpus', input: { corpus, scorer: { model: 'tiny', precision: 'fp32' }, window: 2 } },
      `${corpus}-score-fp32`,
    );
    log(`  ${scored.rowsDone} completions scored`);

    log(`Testing each endpoint against local ${reference} (mmd_hamming, permutation p-value, b = ${options.b}, seed 1, L 64, unit char)`);
    const results = await Promise.all(
      endpoints.map((e) =>
        run<'runTest'>(
          {
            job: 'runTest',
            input: TestSpec.parse({
              testId: `${corpus}-${e.name}-vs-${REFERENCE}`,
              x: { corpus, model: 'tiny', source: REFERENCE },
              y: { corpus, model: 'tiny', source: e.name },
              stat: 'mmd_hamming',
              b: options.b,
              seed: 1,
              L: 64,
            }),
          },
          `${corpus}-${e.name}-vs-${REFERENCE}`,
        ),
      ),
    );
    const rows: TestResult[] = results.map((r, i) => ({
      endpoint: endpoints[i].name,
      reference,
      statistic: r.statistic,
      value: r.value,
      pValue: r.pvalue,
      b: r.b,
      decision: r.reject ? 'reject' : 'fail_to_reject',
      n1: r.n1,
      n2: r.n2,
    }));
    (options.out ?? process.stdout).write(`\n${formatVerdictTable(rows)}\n`);

    log(`Power grid: how often does MMD-Hamming detect ${demoLabel('tiny', 'int8')} and ${demoLabel('tiny', 'nf4')} against ${reference}?`);
    const grid = PowerSpec.parse({
      corpus,
      runId: `${corpus}-power`,
      reference: { model: 'tiny', source: REFERENCE },
      alternatives: [
        { model: 'tiny', source: 'int8' },
        { model: 'tiny', source: 'nf4' },
      ],
      samplesPerPrompt: [2, 4, 6].filter((n) => n * 4 <= options.samplesPerPrompt),
      promptSubsets: { size: Math.min(options.prompts, 8), draws: 1 },
      sims: 50,
      b: 200,
      L: 64,
    });
    const power = await run<'powerSimulation'>({ job: 'powerSimulation', input: { spec: grid, runId: grid.runId! } }, grid.runId!);
    const stored = await powerSection(duck, config.dataDir, { spec: grid, runId: grid.runId! });
    const section = { ...stored, cells: stored.cells.map((c) => ({ ...c, reference: cellLabel(c.reference), alternative: cellLabel(c.alternative) })) };
    (options.out ?? process.stdout).write(`\n${formatPowerTable(powerTable(PowerSection.parse(section)))}\n`);
    const dir = join(config.dataDir, 'reports', corpus);
    mkdirSync(dir, { recursive: true });
    const report = await writeReport(dir, {
      title: 'met demo: which model is each endpoint serving?',
      meta: {
        runId: spec.runId!,
        createdAt: new Date().toISOString(),
        seeds: { sampling: spec.sampling.seed, permutations: 1, grid: grid.seed },
        spec,
        temporalUiUrl: uiUrl,
        notes: [
          "Both endpoints are met serve instances on loopback claiming to serve tiny at F32; endpoint-b serves Q4_0 (GGUF Q4_0 is met's nearest analogue of nf4).",
          `${scored.rowsDone} completions were scored under the F32 reference; ${power.length} power cells were simulated (the grid keeps n at most a quarter of each stored pool, since resampling a small pool inflates power).`,
        ],
      },
      sections: [{ kind: 'test', results: rows }, section],
    });
    log(`Report: ${report.htmlPath}`);
    // The UI lives as long as the server: one the demo started stops with it (history is kept).
    if (uiUrl)
      log(
        startedServer && !options.keepUp
          ? `Temporal UI: ${uiUrl} once the server runs again (met server start; the demo stops the server it started)`
          : `Temporal UI: ${uiUrl}`,
      );
    return { results, reportPath: report.htmlPath, uiUrl };
  } finally {
    process.removeListener('SIGINT', onSigint);
    abort.abort();
    await workers.catch(() => {});
    await close();
    // An interrupted run still has a result long-poll in flight: the process exit ends it.
    await lastQuery;
    if (!interrupted.signal.aborted) await client?.connection.close();
    duck.closeSync();
    await closeEndpoints();
    if (startedServer && !options.keepUp) await stopDevServer(config.dataDir);
  }
}
