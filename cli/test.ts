import type { Command } from 'commander';
import { CPU_TASK_QUEUE } from '../temporal/queues';
import { commandConfig, commonOptions } from './config';

/**
 * `met test --x SEL --y SEL`: a two-sample test between corpus slices, run as the runTest workflow
 * on a CPU worker. A selector is CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT].
 */
/**
 * The options `met test` and `met identify` share: the statistic, its scorer, and what fixes the
 * p-value (b, seed, L, unit).
 */
export function testStatOptions(command: Command): Command {
  return command
    .option(
      '--stat <name>',
      'mmd_hamming | mmd_kspectrum | mmd_all_subsequences | two_sample_L1 | two_sample_L2 | two_sample_chi_squared | rut | one-sample: g_squared (g2) | chi_squared (chi2) | truncated_chi_squared | L1 | L2',
      'mmd_hamming',
    )
    .option(
      '--scorer <model/precision>',
      'rut and one-sample tests: the reference model and precision both slices were scored under (met score); X is the reference (its stored draws), Y the sample under test',
    )
    .option('--b <n>', 'permutations / bootstrap draws', '1000')
    .option('--seed <n>', 'seed of the p-value (and of subsampling)', '0')
    .option('--L <n>', 'completion length in characters / tokens', '1000')
    .option('--unit <unit>', 'char | token', 'char');
}

/** `model/precision` -> the rut scorer. */
export function parseScorer(text: string): { model: string; precision: string } {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (!m) throw new Error(`--scorer '${text}' must look like MODEL/PRECISION (e.g. tiny/fp32)`);
  return { model: m[1], precision: m[2] };
}

export function register(program: Command): void {
  testStatOptions(
    commonOptions(program.command('test'))
      .description(
        'test whether two corpus slices come from the same model (runs the runTest workflow); exits 0 when consistent, 3 when they differ, 1 on failure',
      )
      .requiredOption('--x <selector>', 'first sample: CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT]')
      .requiredOption('--y <selector>', 'second sample, same form'),
  )
    .option('--score <name>', 'rut: sum_logprob | mean_logprob (default sum_logprob)')
    .option('--pvalue <method>', "permutation | bootstrap (null samples drawn from --reference, default X's source)", 'permutation')
    .option('--reference <selector>', 'stored reference distribution for the bootstrap')
    .option('--alpha <a>', 'significance level', '0.05')
    .option('--json', 'print JSON')
    .option('--queue <name>', 'task queue of the CPU workers that run the test', CPU_TASK_QUEUE)
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { isOneSampleTestStatistic, parseSelector, TestSpec, testStatName } = await import('../config/testSpec');
      const { hashHex, canonicalJson } = await import('../common/hash');
      const { connectClient } = await import('../temporal/connect');
      const { newRunRecord, saveRunRecord, startOrAttach } = await import('../client/runs');
      const seed = Number(opts.seed);
      const base = {
        x: parseSelector(String(opts.x), seed),
        y: parseSelector(String(opts.y), seed),
        stat: testStatName(String(opts.stat)),
        ...(opts.scorer ? { scorer: parseScorer(String(opts.scorer)) } : {}),
        ...(opts.score ? { score: opts.score } : {}),
        // One-sample tests draw their null samples from the reference (a parametric bootstrap).
        pvalue: isOneSampleTestStatistic(testStatName(String(opts.stat))) ? 'bootstrap' : opts.pvalue,
        reference: opts.reference ? parseSelector(String(opts.reference), seed) : undefined,
        b: Number(opts.b),
        alpha: Number(opts.alpha),
        seed,
        L: Number(opts.L),
        unit: opts.unit,
      };
      const spec = TestSpec.parse({ ...base, testId: `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
      const config = await commandConfig({
        data: opts.data as string | undefined,
        address: opts.address as string | undefined,
        namespace: opts.namespace as string | undefined,
      });
      (await import('../client/checks')).checkSlices(config.dataDir, config.corpora, [spec.x, spec.y, ...(spec.reference ? [spec.reference] : [])]);
      const client = await connectClient(config);
      try {
        const record = newRunRecord({ job: 'runTest', input: spec }, spec.testId, { taskQueue: String(opts.queue) });
        await saveRunRecord(config, record);
        const { attached } = await startOrAttach(client, record);
        // With --json, stdout holds the result alone; the run id goes to stderr.
        const say = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
        say((await import('./output')).launchLine(attached, record.runId, 'test'));
        let r: import('../activities/tests').TestOutcome;
        try {
          r = (await client.workflow.getHandle(record.workflowId).result()) as import('../activities/tests').TestOutcome;
        } catch (err) {
          const { WorkflowFailedError } = await import('@temporalio/client');
          if (!(err instanceof WorkflowFailedError)) throw err;
          const { rootCauseText } = await import('../client/runs');
          throw new Error(`test run ${record.runId} failed: ${rootCauseText(err)}`);
        }
        const { formatNumber, formatP, verdictOf } = await import('../report/tables');
        const verdict = verdictOf(r.reject);
        const reproduce = testCommandLine(spec);
        const { VERDICT_EXIT } = await import('./output');
        process.exitCode = r.reject ? VERDICT_EXIT.differs : VERDICT_EXIT.consistent;
        if (opts.json) {
          console.log(JSON.stringify({ ...r, verdict, p: formatP(r.pvalue, r.b), settings: testSettings(spec), reproduce }, null, 2));
          return;
        }
        for (const w of r.warnings ?? []) console.error(`warning: ${w}`);
        if (r.rut) {
          console.log(
            `${verdict} at α = ${r.alpha}: ${formatP(r.pvalue)}, rut W² = ${formatNumber(r.value)} (Cramér–von Mises, ${r.rut.score} under ${r.rut.scorer})`,
          );
          console.log(
            `reference X ${opts.x}: k = ${r.rut.k} per prompt; target Y ${opts.y}: ${r.rut.n} completions; ${r.m} prompts; ${r.seconds.toFixed(2)} s`,
          );
          console.log(`reproduce: ${reproduce}`);
          return;
        }
        console.log(`${verdict} at α = ${r.alpha}: ${formatP(r.pvalue, r.b, { showB: true })}, ${spec.stat} = ${formatNumber(r.value)} (${spec.pvalue})`);
        console.log(`X ${opts.x}: ${r.n1} rows; Y ${opts.y}: ${r.n2} rows; ${r.m} prompts; ${r.seconds.toFixed(2)} s`);
        if (r.ownLogprobs) {
          const g = r.ownLogprobs;
          console.log(
            `Y's own logprobs vs ${spec.scorer?.model}/${spec.scorer?.precision}'s on the same tokens: mean |difference| ${g.meanAbs.toFixed(3)} nats per token, largest ${g.maxAbs.toFixed(3)}, over ${g.tokens} tokens of ${g.completions} completions${g.lengthMismatches ? ` (${g.lengthMismatches} with other token counts not compared)` : ''}`,
          );
        }
        console.log(
          `settings: ${Object.entries(testSettings(spec))
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
        console.log(`reproduce: ${reproduce}`);
      } finally {
        await client.connection.close();
      }
    });
}

/** What fixes a test's result besides the data: statistic, p-value method, b, seed, L, unit, n per side. */
function testSettings(spec: import('../config/testSpec').TestSpec): Record<string, string | number> {
  const n = (s: import('../config/testSpec').Selector) => s.samplesPerPrompt ?? 'all';
  return {
    statistic: spec.stat,
    pvalue: spec.pvalue,
    b: spec.b,
    seed: spec.seed,
    L: spec.L,
    unit: spec.unit,
    'n per prompt (x/y)': `${n(spec.x)}/${n(spec.y)}`,
  };
}

/** The met test command that runs the same test again (same settings, same selectors). */
export function testCommandLine(spec: import('../config/testSpec').TestSpec): string {
  const sel = (s: import('../config/testSpec').Selector) => `${s.corpus}:${s.model}/${s.source}${s.samplesPerPrompt ? `@${s.samplesPerPrompt}` : ''}`;
  const parts = ['met test', `--x ${sel(spec.x)}`, `--y ${sel(spec.y)}`, `--stat ${spec.stat}`, `--pvalue ${spec.pvalue}`];
  if (spec.reference) parts.push(`--reference ${sel(spec.reference)}`);
  parts.push(`--b ${spec.b}`, `--alpha ${spec.alpha}`, `--seed ${spec.seed}`, `--L ${spec.L}`, `--unit ${spec.unit}`);
  return parts.join(' ');
}
