import type { Command } from 'commander';

/**
 * `met stat --input FILE.json [--json]`: statistics (and optionally a p-value) for two samples given
 * inline (format in cli/statInput.ts and `met stat --help`). Values are printed at full float64
 * precision (shortest round-trip form).
 */
export function register(program: Command): void {
  program
    .command('stat')
    .description('compute MET statistics (and a p-value) for two samples, or the rank-based uniformity test, given in a JSON file')
    .requiredOption('--input <file>', 'JSON input (format below)')
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText(
      'after',
      `
Input:
  {"L": 1000, "m": 2, "unit": "char",
   "x": {"prompts": [0, 0, 1, 1], "completions": ["abc", "abd", "xy", "xy"]},
   "y": {"prompts": [0, 0, 1, 1], "completions": ["abc", "b", "xz", "x"]},
   "stats": ["mmd_hamming", "mmd_kspectrum", "two_sample_L1"], "k": 5, "cumulative": true,
   "pvalue": {"type": "permutation", "stat": "mmd_hamming", "b": 1000, "seed": 1}}
  char unit: completions are strings (Unicode code points, truncated to L, padded with -1);
  token unit: arrays of token ids, optional "eos" and "pad" ids (everything after the first EOS pads).
  "pvalue": {"type": "bootstrap", ...} draws null samples from a "reference" sample given like x.
Statistics: mmd_hamming, mmd_kspectrum, mmd_all_subsequences, two_sample_L1, two_sample_L2,
  two_sample_chi_squared.
Output (--json): {"mmd_hamming": 0.0375, ..., "pvalue": 0.21, "b": 1000, "undefinedNulls": 0, "seconds": 0.004}
  undefinedNulls: null statistics with a zero denominator (never counted as >= the observed one).
  "errors": {"<stat>": "why"} lists statistics undefined for this input, beside the others.
Bounds: L <= 32,768, k <= 64, b <= 100,000, at most 200,000 completions per side,
  completions x L <= 50,000,000 and b x completions <= 2,000,000,000.

Rank-based uniformity test (RUT, one target completion per prompt vs k reference completions):
  {"test": "rut", "score": "sum_logprob" | "mean_logprob" | "log_rank", "seed": 0,
   "target": [{"logprobs": [-1.2, -0.3], "ranks": [2, 1]}, ...],
   "reference": [[{"logprobs": [...], "ranks": [...]}, ...], ...]}
  token logprobs (and 1-based ranks, for log_rank) under the reference model; or plain numbers as
  precomputed scores. Output: {"statistic": W², "pvalue", "n", "k", "score", "seconds"}.

One-sample (goodness of fit against the reference model's own probabilities):
  {"test": "one_sample", "L": 1000, "unit": "char", "stats": ["g_squared", "chi_squared"],
   "reference": {"prompts": [0, 0, 1], "completions": ["a", "b", "c"], "logprobs": [-0.7, -0.7, 0]},
   "sample": {"prompts": [0, 1], "completions": ["a", "c"]},
   "pvalue": {"stat": "g_squared", "b": 1000, "seed": 0}}
  reference: the null's support, each completion with log P(completion | prompt) (natural log);
  every sample row must be in it. "pool" (optional, default the support): reference draws the
  bootstrap resamples. Statistics: g_squared, chi_squared, truncated_chi_squared, L1, L2.`,
    )
    .action(async (opts: { input: string; json?: boolean }) => {
      const { readFileSync } = await import('node:fs');
      const { ErrorTypes, MetError } = await import('../common/errors');
      const { runStatInput } = await import('./statInput');
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(opts.input, 'utf8'));
      } catch (err) {
        throw new MetError(ErrorTypes.BadInput, `cannot read ${opts.input} as JSON: ${(err as Error).message}`);
      }
      const out = await runStatInput(value);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      const { errors, ...values } = out;
      const width = Math.max(...[...Object.keys(values), ...Object.keys(errors ?? {})].map((k) => k.length));
      // Statistics at full precision; the p-value as met prints p-values everywhere (the JSON keeps the number).
      const { formatP } = await import('../report/tables');
      for (const [name, v] of Object.entries(values)) {
        const text = name === 'pvalue' && typeof v === 'number' && typeof values.b === 'number' ? formatP(v, values.b) : String(v);
        process.stdout.write(`${name.padEnd(width)}  ${text}\n`);
      }
      for (const [name, message] of Object.entries(errors ?? {})) process.stdout.write(`${name.padEnd(width)}  undefined: ${message}\n`);
    });
}
