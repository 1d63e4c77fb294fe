import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';
import { parseScorer, testStatOptions } from './test';

/** One runTest workflow per candidate: a bounded number of them. */
const MAX_CANDIDATES = 32;

/**
 * `met identify --y CORPUS:MODEL/SOURCE --candidates MODEL/SOURCE,...`: which model is it really
 * serving? The endpoint's slice is tested against every candidate slice of the same corpus with the
 * same statistic (one runTest workflow each, like met test), and the p-values are corrected for the
 * number of candidates (Holm): the candidates not rejected are the ones the data cannot tell apart
 * from the endpoint. Exit 0 when some candidate is not rejected, 3 when every one is.
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
        `candidate slices of the same corpus, comma-separated MODEL/SOURCE (e.g. tiny/fp32,tiny/int8,tiny/nf4; at most ${MAX_CANDIDATES})`,
      ),
  )
    .option('--alpha <a>', 'family-wise significance level over the candidates', '0.05')
    .option('--json', 'print JSON')
    .option('--queue <name>', 'task queue of the CPU workers that run the tests', CPU_TASK_QUEUE)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { parseSelector, TestSpec, isOneSampleTestStatistic, testStatName } = await import('../config/testSpec');
      const { hashHex, canonicalJson } = await import('../common/hash');
      const { connectClient } = await import('../temporal/connect');
      const { newRunRecord, saveRunRecord, startOrAttach, rootCauseText } = await import('../client/runs');
      const { holmAdjust } = await import('../stats/multiple');
      const { formatP } = await import('../report/tables');
      const { VERDICT_EXIT } = await import('./output');
      const seed = Number(opts.seed);
      const y = parseSelector(String(opts.y), seed);
      const candidates = String(opts.candidates)
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean)
        .map((c) => parseSelector(`${y.corpus}:${c}`, seed));
      if (candidates.length < 2) throw new Error('--candidates: give at least two MODEL/SOURCE slices to choose between');
      if (candidates.length > MAX_CANDIDATES) throw new Error(`--candidates: ${candidates.length} slices, at most ${MAX_CANDIDATES} (each is a test run)`);
      const stat = testStatName(String(opts.stat));
      const specs = candidates.map((x) => {
        const base = {
          x,
          y,
          stat,
          ...(opts.scorer ? { scorer: parseScorer(String(opts.scorer)) } : {}),
          pvalue: isOneSampleTestStatistic(stat) ? 'bootstrap' : 'permutation',
          b: Number(opts.b),
          alpha: Number(opts.alpha),
          seed,
          L: Number(opts.L),
          unit: opts.unit,
        };
        return TestSpec.parse({ ...base, testId: `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
      });
      const config = await commandConfig({
        data: opts.data as string | undefined,
        address: opts.address as string | undefined,
        namespace: opts.namespace as string | undefined,
      });
      const client = await connectClient(config);
      try {
        const outcomes = await Promise.all(
          specs.map(async (spec) => {
            const record = newRunRecord({ job: 'runTest', input: spec }, spec.testId, { taskQueue: String(opts.queue) });
            await saveRunRecord(config, record);
            await startOrAttach(client, record);
            try {
              return (await client.workflow.getHandle(record.workflowId).result()) as import('../activities/tests').TestOutcome;
            } catch (err) {
              const { WorkflowFailedError } = await import('@temporalio/client');
              if (!(err instanceof WorkflowFailedError)) throw err;
              throw new Error(`the test against ${spec.x.model}/${spec.x.source} (run ${record.runId}) failed: ${rootCauseText(err)}`);
            }
          }),
        );
        const alpha = Number(opts.alpha);
        const adjusted = holmAdjust(outcomes.map((o) => o.pvalue));
        const rows = candidates.map((c, i) => ({
          candidate: `${c.model}/${c.source}`,
          statistic: outcomes[i].statistic,
          value: outcomes[i].value,
          pvalue: outcomes[i].pvalue,
          adjusted: adjusted[i],
          b: outcomes[i].b,
          rejected: adjusted[i] <= alpha,
          testId: outcomes[i].testId,
        }));
        const kept = rows.filter((r) => !r.rejected).sort((a, b) => b.adjusted - a.adjusted);
        const rejected = rows.filter((r) => r.rejected).sort((a, b) => a.adjusted - b.adjusted);
        process.exitCode = kept.length ? VERDICT_EXIT.consistent : VERDICT_EXIT.differs;
        if (opts.json)
          return void console.log(
            JSON.stringify({ y: String(opts.y), alpha, correction: 'holm', candidates: rows, notRejected: kept.map((r) => r.candidate) }, null, 2),
          );
        const shown = (r: (typeof rows)[number]) => `${r.candidate} ${formatP(r.adjusted, r.b)}`;
        console.log(`${String(opts.y)} against ${rows.length} candidates, ${stat}, Holm-corrected at α = ${alpha}:`);
        console.log(`  not rejected: ${kept.length ? kept.map(shown).join('; ') : 'none (the endpoint matches no candidate)'}`);
        console.log(`  rejected: ${rejected.length ? rejected.map(shown).join('; ') : 'none'}`);
        if (kept.length > 1)
          console.log(
            `  ${kept.length} candidates cannot be told apart from the endpoint with these samples: collect more, or compare them with each other (met test)`,
          );
      } finally {
        await client.connection.close();
      }
    });
}
