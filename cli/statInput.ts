import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { encodeChars, encodeTokens, permutationTest, statistic, TWO_SAMPLE_STATISTICS, type EncodedSample } from '../stats';

const Side = z.object({ prompts: z.array(z.number().int().nonnegative()), completions: z.array(z.union([z.string(), z.array(z.number().int())])) });
const Stat = z.enum(TWO_SAMPLE_STATISTICS);

export const StatInput = z
  .object({
    L: z.number().int().positive().default(1000),
    m: z.number().int().positive().optional(),
    unit: z.enum(['char', 'token']).default('char'),
    eos: z.number().int().optional(),
    x: Side,
    y: Side,
    stats: z.array(Stat).min(1),
    k: z.number().int().positive().default(5),
    cumulative: z.boolean().default(true),
    pvalue: z.object({ type: z.literal('permutation'), stat: Stat, b: z.number().int().positive().default(1000), seed: z.number().int().default(0) }).optional(),
  })
  .strict();

function encode(side: z.infer<typeof Side>, input: z.infer<typeof StatInput>, which: string): EncodedSample {
  if (input.unit === 'char') {
    if (!side.completions.every((c) => typeof c === 'string')) throw new MetError(ErrorTypes.BadInput, `${which}.completions must be strings in char unit`);
    return encodeChars(side.prompts, side.completions as string[], input.L, input.m);
  }
  if (!side.completions.every((c) => Array.isArray(c))) throw new MetError(ErrorTypes.BadInput, `${which}.completions must be arrays of token ids in token unit`);
  return encodeTokens(side.prompts, side.completions as number[][], input.L, { eos: input.eos, m: input.m });
}

export function runStatInput(value: unknown): Record<string, number> {
  const parsed = StatInput.safeParse(value);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new MetError(ErrorTypes.BadInput, `invalid met stat input:\n${lines.join('\n')}`);
  }
  const input = parsed.data;
  const x = encode(input.x, input, 'x');
  const y = encode(input.y, input, 'y');
  const out: Record<string, number> = {};
  for (const name of input.stats) out[name] = statistic(name, x, y, { k: input.k, cumulative: input.cumulative });
  if (input.pvalue) {
    const t0 = performance.now();
    const r = permutationTest(input.pvalue.stat, x, y, { k: input.k, cumulative: input.cumulative, b: input.pvalue.b, seed: input.pvalue.seed });
    out.pvalue = r.pvalue;
    out.b = input.pvalue.b;
    out.seconds = (performance.now() - t0) / 1000;
  }
  return out;
}
