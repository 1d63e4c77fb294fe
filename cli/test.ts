import type { Command } from 'commander';
import { loadConfig } from '../config/schema';

/**
 * `met test --x SEL --y SEL`: a two-sample test between corpus slices, run as the runTest workflow
 * on a CPU worker. A selector is CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT].
 */
/** `model/precision` -> the rut scorer. */
function parseScorer(text: string): { model: string; precision: string } {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (!m) throw new Error(`--scorer '${text}' must look like MODEL/PRECISION (e.g. tiny/fp32)`);
  return { model: m[1], precision: m[2] };
}

export function register(program: Command): void {
  program
    .command('test')
    .description('test whether two corpus slices come from the same model (runs the runTest workflow)')
    .requiredOption('--x <selector>', 'first sample: CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT]')
    .requiredOption('--y <selector>', 'second sample, same form')
    .option('--stat <name>', 'mmd_hamming | mmd_kspectrum | mmd_all_subsequences | two_sample_L1 | two_sample_L2 | two_sample_chi_squared | rut', 'mmd_hamming')
    .option('--scorer <model/precision>', 'rut: the reference model and precision both slices were scored under (workflow scoreCorpus); X is the reference (k per prompt), Y the target (1 per prompt unless @N)')
    .option('--score <name>', 'rut: sum_logprob | mean_logprob (default sum_logprob)')
    .option('--pvalue <method>', 'permutation | bootstrap (null samples drawn from --reference, default X\'s source)', 'permutation')
    .option('--reference <selector>', 'stored reference distribution for the bootstrap')
    .option('--b <n>', 'permutations / bootstrap draws', '1000')
    .option('--alpha <a>', 'significance level', '0.05')
    .option('--seed <n>', 'seed of the p-value (and of subsampling)', '0')
    .option('--L <n>', 'completion length in characters / tokens', '1000')
    .option('--unit <unit>', 'char | token', 'char')
    .option('--json', 'print JSON')
    .option('--data <dir>', 'data folder (default ./.met, or MET_DATA)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, else the embedded server)')
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { parseSelector, TestSpec } = await import('../config/testSpec');
      const { hashHex, canonicalJson } = await import('../common/hash');
      const { connectClient } = await import('../temporal/connect');
      const { newRunRecord, saveRunRecord, startOrAttach } = await import('../client/runs');
      const seed = Number(opts.seed);
      const base = {
        x: parseSelector(String(opts.x), seed),
        y: parseSelector(String(opts.y), seed),
        stat: opts.stat,
        ...(opts.scorer ? { scorer: parseScorer(String(opts.scorer)) } : {}),
        ...(opts.score ? { score: opts.score } : {}),
        pvalue: opts.pvalue,
        reference: opts.reference ? parseSelector(String(opts.reference), seed) : undefined,
        b: Number(opts.b),
        alpha: Number(opts.alpha),
        seed,
        L: Number(opts.L),
        unit: opts.unit,
      };
      const spec = TestSpec.parse({ ...base, testId: `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
      const config = loadConfig({ data: opts.data as string | undefined, address: opts.address as string | undefined });
      const client = await connectClient(config);
      try {
        const record = newRunRecord('runTest', spec.testId, spec, { corpus: spec.x.corpus });
        saveRunRecord(config.dataDir, record);
        await startOrAttach(client, record);
        const r = (await client.workflow.getHandle(record.workflowId).result()) as import('../activities/tests').TestOutcome;
        if (opts.json) {
          console.log(JSON.stringify(r, null, 2));
          return;
        }
        for (const w of r.warnings ?? []) console.error(`warning: ${w}`);
        if (r.rut) {
          console.log(`rut (${r.rut.score} under ${r.rut.scorer}): W² = ${r.value}  p = ${r.pvalue} (Cramér–von Mises)  ${r.reject ? 'REJECT' : 'do not reject'} at alpha = ${r.alpha}`);
          console.log(`reference X ${opts.x}: k = ${r.rut.k} per prompt; target Y ${opts.y}: ${r.rut.n} completions; ${r.m} prompts; ${r.seconds.toFixed(2)} s (test id ${spec.testId})`);
          return;
        }
        console.log(`${spec.stat} = ${r.value}  p = ${r.pvalue} (b = ${r.b}, ${spec.pvalue})  ${r.reject ? 'REJECT' : 'do not reject'} at alpha = ${r.alpha}`);
        console.log(`X ${opts.x}: ${r.n1} rows; Y ${opts.y}: ${r.n2} rows; ${r.m} prompts; ${r.seconds.toFixed(2)} s (test id ${spec.testId})`);
      } finally {
        await client.connection.close();
      }
    });
}
