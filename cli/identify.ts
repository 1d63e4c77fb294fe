import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';
import { parseScorer, testStatOptions } from './test';

/**
 * `met identify --y CORPUS:MODEL/SOURCE --candidates MODEL/SOURCE,...`: which model is it really
 * serving? The endpoint's slice is tested against every candidate slice of the same corpus with the
 * same statistic (client/identify.ts: one runTest workflow each, like met test), and the p-values are
 * corrected for the number of candidates (Holm): the candidates not rejected are the ones the data
 * cannot tell apart from the endpoint. Exit 0 when some candidate is not rejected, 3 when every one is.
 */
export function register(program: Command): void {
  testStatOptions(
    commonOptions(program.command('identify'))
      .description(
        'which model is this endpoint serving? test its slice against each candidate slice (Holm-corrected); exits 3 when every candidate is rejected',
      )
      .requiredOption('--y <selector>', "the endpoint's slice: CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT]")
      .requiredOption(
        '--candidates <list>',
        'candidate slices of the same corpus, comma-separated MODEL/SOURCE (e.g. tiny/fp32,tiny/int8,tiny/nf4; at most 32)',
      ),
  )
    .option('--alpha <a>', 'family-wise significance level over the candidates', '0.05')
    .option('--json', 'print JSON')
    .option('--html', 'also write a page of the result under <data>/reports/identify-ID/')
    .option('--queue <name>', 'task queue of the CPU workers that run the tests', CPU_TASK_QUEUE)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { parseSelector, testStatName } = await import('../config/testSpec');
      const { IdentifySpec } = await import('../config/identifySpec');
      const { connectClient } = await import('../temporal/connect');
      const { runIdentify } = await import('../client/identify');
      const { formatP } = await import('../report/tables');
      const { VERDICT_EXIT } = await import('./output');
      const { formatIssues } = await import('../common/issues');
      const seed = Number(opts.seed);
      const y = parseSelector(String(opts.y), seed);
      const candidates = String(opts.candidates)
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean)
        .map((c) => {
          const { model, source, samplesPerPrompt } = parseSelector(`${y.corpus}:${c}`, seed);
          return { model, source, ...(samplesPerPrompt !== undefined ? { samplesPerPrompt } : {}) };
        });
      const parsed = IdentifySpec.safeParse({
        y,
        candidates,
        stat: testStatName(String(opts.stat)),
        ...(opts.scorer ? { scorer: parseScorer(String(opts.scorer)) } : {}),
        alpha: Number(opts.alpha),
        b: Number(opts.b),
        seed,
        L: Number(opts.L),
        unit: opts.unit,
      });
      if (!parsed.success) throw new Error(formatIssues(parsed.error, 'met identify: invalid options'));
      const spec = parsed.data;
      const config = await commandConfig({
        data: opts.data as string | undefined,
        address: opts.address as string | undefined,
        namespace: opts.namespace as string | undefined,
      });
      const client = await connectClient(config);
      try {
        const result = await runIdentify(client, config, spec, { taskQueue: String(opts.queue) });
        process.exitCode = result.notRejected.length ? VERDICT_EXIT.consistent : VERDICT_EXIT.differs;
        let page: string | undefined;
        if (opts.html) {
          const { writeIdentifyPage, identifyPageId } = await import('../report/identify');
          const { join } = await import('node:path');
          page = await writeIdentifyPage(join(config.dataDir, 'reports', `identify-${identifyPageId(result)}`), result);
        }
        if (opts.json) return void console.log(JSON.stringify({ ...result, y: String(opts.y), ...(page ? { reportPath: page } : {}) }, null, 2));
        const rows = result.candidates;
        const kept = rows.filter((r) => !r.rejected).sort((a, b) => b.adjusted - a.adjusted);
        const rejected = rows.filter((r) => r.rejected).sort((a, b) => a.adjusted - b.adjusted);
        const shown = (r: (typeof rows)[number]) => `${r.candidate} ${formatP(r.adjusted, r.b)}`;
        console.log(`${String(opts.y)} against ${rows.length} candidates, ${spec.stat}, Holm-corrected at α = ${spec.alpha}:`);
        console.log(`  not rejected: ${kept.length ? kept.map(shown).join('; ') : 'none (the endpoint matches no candidate)'}`);
        console.log(`  rejected: ${rejected.length ? rejected.map(shown).join('; ') : 'none'}`);
        if (kept.length > 1)
          console.log(
            `  ${kept.length} candidates cannot be told apart from the endpoint with these samples: collect more, or compare them with each other (met test)`,
          );
        if (page) console.log(`page: ${page}`);
      } finally {
        await client.connection.close();
      }
    });
}
