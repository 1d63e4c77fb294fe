import type { Command } from 'commander';
import { commandConfig } from './config';

/**
 * `met test --x SEL --y SEL`: a two-sample test between corpus slices, run as the runTest workflow
 * on a CPU worker. A selector is CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT].
 */
export function register(program: Command): void {
  program
    .command('test')
    .description('test whether two corpus slices come from the same model (runs the runTest workflow)')
    .requiredOption('--x <selector>', 'first sample: CORPUS:MODEL/SOURCE[@SAMPLES_PER_PROMPT]')
    .requiredOption('--y <selector>', 'second sample, same form')
    .option('--stat <name>', 'mmd_hamming | mmd_kspectrum | mmd_all_subsequences | two_sample_L1 | two_sample_L2 | two_sample_chi_squared', 'mmd_hamming')
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
        pvalue: opts.pvalue,
        reference: opts.reference ? parseSelector(String(opts.reference), seed) : undefined,
        b: Number(opts.b),
        alpha: Number(opts.alpha),
        seed,
        L: Number(opts.L),
        unit: opts.unit,
      };
      const spec = TestSpec.parse({ ...base, testId: `test-${hashHex(canonicalJson(base)).slice(0, 12)}` });
      const config = await commandConfig({ data: opts.data as string | undefined, address: opts.address as string | undefined });
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
        console.log(`${spec.stat} = ${r.value}  p = ${r.pvalue} (b = ${r.b}, ${spec.pvalue})  ${r.reject ? 'REJECT' : 'do not reject'} at alpha = ${r.alpha}`);
        console.log(`X ${opts.x}: ${r.n1} rows; Y ${opts.y}: ${r.n2} rows; ${r.m} prompts; ${r.seconds.toFixed(2)} s (test id ${spec.testId})`);
      } finally {
        await client.connection.close();
      }
    });
}
