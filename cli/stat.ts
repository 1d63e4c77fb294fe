import type { Command } from 'commander';

/**
 * `met stat --input FILE.json`: statistics (and optionally a p-value) for samples given inline:
 *   {"L": 1000, "m": 2, "unit": "char"|"token", "x": {"prompts": [...], "completions": [...]}, "y": {...},
 *    "stats": ["mmd_hamming", ...], "k": 5, "cumulative": true,
 *    "pvalue": {"type": "permutation", "stat": "mmd_hamming", "b": 1000, "seed": 1}}
 * Output: {"mmd_hamming": 0.008, ..., "pvalue": ..., "b": ..., "seconds": ...} at full float64 precision.
 */
export function register(program: Command): void {
  program
    .command('stat')
    .description('compute MET statistics (and a p-value) for two samples given in a JSON file')
    .requiredOption('--input <file>', 'JSON input (see met stat --help)')
    .option('--json', 'print JSON (the default; kept for scripts)')
    .addHelpText(
      'after',
      `\nInput: {"L": 1000, "m": 2, "unit": "char", "x": {"prompts": [0,1], "completions": ["a","b"]}, "y": {...},\n       "stats": ["mmd_hamming"], "k": 5, "cumulative": true,\n       "pvalue": {"type": "permutation", "stat": "mmd_hamming", "b": 1000, "seed": 1}}`,
    )
    .action(async (opts: { input: string }) => {
      const { runStatInput } = await import('./statInput');
      const { readFileSync } = await import('node:fs');
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(opts.input, 'utf8'));
      } catch (err) {
        throw new Error(`cannot read ${opts.input} as JSON: ${(err as Error).message}`);
      }
      process.stdout.write(`${JSON.stringify(runStatInput(value), null, 2)}\n`);
    });
}
