import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { type CommonFlags, commandConfig, commonOptions, withClient } from './config';

/**
 * Collection runs: `met collect SPEC` (with --dry-run, the plan and its cost); status, resume, cancel and runs of every kind of run are in cli/runs.ts.
 */

/** `met collect SPEC --dry-run`: the plan and its cost, from the spec, its prompts and the worker config's prices (and a pilot's usage with --pilot N). */
async function printPlan(spec: import('../config/runSpec').RunSpec, dataDir: string, opts: { config?: string; pilot?: number; json?: boolean }): Promise<void> {
  const { loadPrompts } = await import('../activities/collect');
  const { estimateRun } = await import('../collect/estimate');
  const { promptsDir } = await import('../datasets/paths');
  const { createDuckDB } = await import('../datasets');
  const { formatTable } = await import('./table');
  let prices: Record<string, { inputPerMillion: number; outputPerMillion: number } | undefined> = {};
  let roots: string[] = [];
  let providers: import('../config/workers').ProviderWorkerSpec[] = [];
  if (opts.config) {
    const { readWorkerConfig } = await import('../config/load');
    const workerConfig = await readWorkerConfig(opts.config);
    providers = workerConfig.providers;
    prices = Object.fromEntries(providers.map((p) => [p.name, p.prices]));
    roots = workerConfig.promptRoots ?? [];
  }
  const duck = await createDuckDB();
  try {
    const { rows } = await loadPrompts(duck, spec, [promptsDir(dataDir), ...roots]);
    const kept = spec.prompts.limit ? rows.slice(0, spec.prompts.limit) : rows;
    const prompts = kept.map((r) => r.text);
    let pilots = {};
    let tokenized = {};
    if (opts.pilot) {
      // Sent from this process with its environment's keys, to the endpoints the worker config names.
      const { ProviderGenerator } = await import('../providers/generator');
      const { countPrompts, runPilot } = await import('../collect/pilot');
      const generator = new ProviderGenerator({ env: process.env, providers });
      pilots = await runPilot(spec, kept, opts.pilot, generator, AbortSignal.timeout(10 * 60_000));
      tokenized = await countPrompts(spec, kept, generator);
    }
    const plan = estimateRun(spec, prompts, prices, pilots, tokenized);
    if (opts.json) {
      const { printJson } = await import('./output');
      printJson({ corpus: spec.corpus, prompts: prompts.length, samplesPerPrompt: spec.samplesPerPrompt, ...plan });
      return;
    }
    const usd = (v: number | null | undefined) => (v === null || v === undefined ? 'no price' : `$${v.toFixed(v < 1 ? 4 : 2)}`);
    console.log(
      `dry run: corpus ${spec.corpus}, ${prompts.length} prompts x ${spec.samplesPerPrompt} samples, maxTokens ${spec.sampling.maxTokens}; nothing started`,
    );
    const estimated = plan.sources.some((s) => s.estimate);
    console.log(
      formatTable(
        [
          'source',
          { header: 'requests', align: 'right' },
          { header: 'units', align: 'right' },
          { header: 'prompt tokens <=', align: 'right' },
          { header: 'completion tokens <=', align: 'right' },
          { header: 'cost <=', align: 'right' },
          ...(estimated
            ? [
                { header: 'est. prompt', align: 'right' as const },
                { header: 'est. completion', align: 'right' as const },
                { header: 'est. cost (95%)', align: 'right' as const },
              ]
            : []),
        ],
        plan.sources.map((s) => [
          `${s.model}/${s.source}`,
          String(s.requests),
          String(s.units),
          String(s.promptTokensBound),
          String(s.maxCompletionTokens),
          s.kind === 'local' ? 'local' : usd(s.maxCost),
          ...(estimated
            ? s.estimate
              ? [
                  String(s.estimate.promptTokens),
                  String(s.estimate.completionTokens),
                  s.estimate.cost === null ? 'no price' : `${usd(s.estimate.cost)} (${usd(s.estimate.costLow)}-${usd(s.estimate.costHigh)})`,
                ]
              : ['', '', s.kind === 'local' ? 'local' : '']
            : []),
        ]),
      ),
    );
    console.log(`total cost <= ${usd(plan.totalMaxCost)} (prompt tokens at most their UTF-8 bytes plus template tokens; completions at maxTokens)`);
    if (spec.budget) {
      const fits = plan.totalMaxCost !== null && plan.totalMaxCost <= spec.budget.usd;
      console.log(
        `budget ${usd(spec.budget.usd)}: ${fits ? 'the whole run fits even at the upper bound' : plan.totalMaxCost === null ? 'a source has no price: the run would fail at once' : 'the run stops before the budget, resumable, unless units cost less than their bound (they usually do)'}`,
      );
    }
    if (estimated) {
      const how = {
        tokenizer: "counted by the endpoint's tokenizer (/tokenize)",
        pilot: "as the provider counted the pilot's, scaled by bytes",
        bytes: 'at 4 bytes a token (no usage reported)',
      };
      console.log(`estimated total cost ${usd(plan.totalEstimate)} (completions at the pilot's mean)`);
      for (const s of plan.sources) if (s.estimate) console.log(`prompt tokens of ${s.model}/${s.source}: ${how[s.estimate.promptTokensFrom]}`);
      for (const s of plan.sources) {
        if (s.estimate)
          console.log(
            `pilot ${s.model}/${s.source}: ${s.estimate.pilot.requests} requests SENT (billed), ${s.estimate.pilot.promptTokens} prompt + ${s.estimate.pilot.completionTokens} completion tokens, ${usd(s.estimate.pilot.cost)}`,
          );
      }
    } else {
      console.log("no estimate without a pilot: --pilot N sends N of the run's requests per provider source and prices the run from what they used");
    }
  } finally {
    duck.closeSync();
  }
}

export function register(program: Command): void {
  commonOptions(
    program
      .command('collect')
      .argument('<spec>', 'run spec file (YAML or JSON)')
      .description('launch a collection run (attaches if the same spec already runs); prints the run id')
      .option('--wait', 'show live progress per source until the run ends')
      .option('--json', 'print the run (and with --wait its outcome) as JSON on stdout; messages go to stderr')
      .option('--queue <name>', 'task queue of the CPU workers that run the workflow and write shards', CPU_TASK_QUEUE)
      .option('--dry-run', 'print the plan (requests, units, tokens, cost per source) and start nothing')
      .option(
        '--config <file>',
        'the worker config: with --dry-run its provider prices (USD per million tokens) price the plan; its promptRoots are where a prompt set may be',
      )
      .option('--pilot <n>', "with --dry-run: send N of the run's requests per provider source (billed) and estimate the cost from their usage", parsePilot),
  ).action(
    async (specPath: string, opts: CommonFlags & { wait?: boolean; json?: boolean; queue: string; dryRun?: boolean; config?: string; pilot?: number }) => {
      const { readSpecFile } = await import('../config/load');
      const { parseRunSpec } = await import('../config/runSpec');
      const { launchCollection } = await import('../client/collect');
      const spec = parseRunSpec(readSpecFile(specPath), specPath);
      if (opts.pilot !== undefined && !opts.dryRun) throw new Error('--pilot goes with --dry-run (it prices a plan; a run needs no pilot)');
      if (opts.dryRun) return printPlan(spec, (await commandConfig(opts)).dataDir, opts);
      const { checkPromptSet } = await import('../client/checks');
      const promptRoots = opts.config ? ((await (await import('../config/load')).readWorkerConfig(opts.config)).promptRoots ?? []) : [];
      checkPromptSet(spec, (await commandConfig(opts)).dataDir, promptRoots);
      await withClient(opts, async (client, _dataDir, config) => {
        const { launchLine, printJson } = await import('./output');
        const { record, attached } = await launchCollection(client, config, spec, opts.queue);
        const say = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
        say(launchLine(attached, record.runId, undefined, `workflow ${record.workflowId}`));
        if (opts.wait) await waitFor(client, record.runId, config, say);
        if (opts.json) {
          const { runState } = await import('../client/runs');
          const state = opts.wait ? await runState(client, record) : undefined;
          printJson({ runId: record.runId, workflowId: record.workflowId, corpus: record.corpus, attached, status: state?.status, failure: state?.failure });
        }
      });
    },
  );
}

function parsePilot(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`--pilot takes a number of requests from 1 to 10000 (got '${value}')`);
  return n;
}

/** cli/watch.ts's waitForRun, loaded when a command waits (it brings the Temporal client). */
async function waitFor(...args: Parameters<typeof import('./watch').waitForRun>): Promise<void> {
  const { waitForRun } = await import('./watch');
  return waitForRun(...args);
}
