import type { Command } from 'commander';
import { commandConfig, commonOptions } from './config';

/**
 * `met consistency --a SOURCE --b SOURCE --prompts SET --scorer M/P --embed ...`, or a spec file:
 * are two sources serving the same model? Similarity of answers, perplexities, MMD test, report.
 */
export function register(program: Command): void {
  commonOptions(program.command('consistency'))
    .argument('[spec]', 'consistency spec (YAML or JSON); flags below override or replace it')
    .description('compare two sources on the same prompts: answer similarity (embeddings), perplexity under one scorer, the MMD test; writes an HTML report')
    .option('--a <source>', 'side a: local:MODEL/PRECISION or PROVIDER:MODEL[@BASE_URL]')
    .option('--b <source>', 'side b, same forms')
    .option('--prompts <set>', 'prompt set name (datasets/prompts) or a .jsonl/.parquet file')
    .option('--limit <n>', 'first N prompts')
    .option('--samples <n>', 'samples per prompt per side')
    .option('--scorer <model/precision>', 'the model both sides are scored under (default: side a when it is local)')
    .option('--embed <model>', 'embedding model: a .gguf file (local) or MODEL@BASE_URL of an OpenAI-compatible /v1/embeddings')
    .option('--json', 'print the outcome as JSON')
    .action(async (specPath: string | undefined, opts: Record<string, string | boolean | undefined>) => {
      const { readSpecFile } = await import('../config/load');
      const { parseConsistencySpec } = await import('../config/consistencySpec');
      const { connectClient } = await import('../temporal/connect');
      const { launchConsistency } = await import('../client/consistency');
      const { watchRun } = await import('./watch');
      const base = (specPath ? readSpecFile(specPath) : {}) as Record<string, unknown>;
      const str = (k: string) => (typeof opts[k] === 'string' ? opts[k] : undefined);
      const merged: Record<string, unknown> = { ...base };
      if (str('a')) merged.a = parseSourceFlag(str('a')!);
      if (str('b')) merged.b = parseSourceFlag(str('b')!, 'b');
      if (str('prompts')) merged.prompts = /\.(jsonl|parquet)$/.test(str('prompts')!) ? { file: str('prompts') } : { set: str('prompts') };
      if (str('limit')) merged.prompts = { ...(merged.prompts as object), limit: Number(str('limit')) };
      if (str('samples')) merged.samplesPerPrompt = Number(str('samples'));
      if (str('scorer')) merged.scorer = str('scorer');
      else if (!merged.scorer && (merged.a as { kind?: string })?.kind === 'local') {
        const a = merged.a as { model: string; precision: string };
        merged.scorer = `${a.model}/${a.precision}`;
      }
      if (str('embed')) merged.embed = parseEmbedFlag(str('embed')!);
      const spec = parseConsistencySpec(merged, specPath ?? 'the flags');
      const config = await commandConfig(opts);
      const client = await connectClient(config);
      try {
        const { record, attached } = await launchConsistency(client, config, spec);
        console.error((await import('./output')).launchLine(attached, record.runId, 'consistency'));
        const outcome = (await watchRun(client, record)) as import('../workflows/consistencyReport').ConsistencyOutcome | undefined;
        if (!outcome) return;
        if (opts.json) console.log(JSON.stringify(outcome, null, 2));
        else {
          const { formatP, verdictOf } = await import('../report/tables');
          const c = outcome.comparison;
          const rows = [
            ['answer pairs', String(c.pairs)],
            ['identical answers', `${c.identicalPairs} (scores differ by ${c.identicalScoreGap})`],
            ['mean cosine similarity', c.meanSimilarity.toFixed(4)],
            [`perplexity of a under ${c.scorer}`, c.a.perplexity.toFixed(4)],
            [`perplexity of b under ${c.scorer}`, c.b.perplexity.toFixed(4)],
            [
              `MMD test (${outcome.mmd.statistic})`,
              `${verdictOf(outcome.mmd.reject)} at α = ${outcome.mmd.alpha}: ${formatP(outcome.mmd.pvalue, outcome.mmd.b, { showB: true })}`,
            ],
          ];
          const width = Math.max(...rows.map((r) => r[0].length));
          for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
          console.log(`Report: ${outcome.reportPath}`);
        }
      } finally {
        await client.connection.close();
      }
    });
}

/** local:MODEL/PRECISION or PROVIDER:MODEL[@BASE_URL] -> a source spec. */
export function parseSourceFlag(text: string, side = 'a'): Record<string, unknown> {
  const local = /^local:([^/]+)\/(fp32|fp16|int8|nf4)$/.exec(text);
  if (local) return { kind: 'local', model: local[1], precision: local[2] };
  const provider = /^([^:@]+):([^@]+)(?:@(.+))?$/.exec(text);
  if (provider)
    return { kind: 'provider', provider: provider[1], model: provider[2], ...(provider[3] ? { baseURL: provider[3] } : {}), source: `${provider[1]}-${side}` };
  throw new Error(`--${side} '${text}': use local:MODEL/PRECISION (e.g. local:tiny/fp32) or PROVIDER:MODEL[@BASE_URL] (e.g. together:llama-3.1-8b)`);
}

export function parseEmbedFlag(text: string): Record<string, unknown> {
  if (text.endsWith('.gguf')) return { kind: 'local', path: text };
  const m = /^([^@]+)@(https?:\/\/.+)$/.exec(text);
  if (m) return { kind: 'endpoint', model: m[1], baseURL: m[2] };
  return { kind: 'endpoint', provider: 'openai', model: text, apiKeyEnv: 'OPENAI_API_KEY' };
}
