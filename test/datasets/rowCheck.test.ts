import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { compileRowCheck } from '../../datasets/rowCheck';
import { syntheticSamples } from '../../datasets/synthetic';
import { WRITE_SCHEMAS } from '../../datasets/tables';

/**
 * The compiled fast path must agree with zod: writeShard trusts it to say "valid" without asking
 * zod. Every mutation below is judged by both; any disagreement is a bug in rowCheck.ts.
 */
const base = syntheticSamples({ corpus: 'c', unitId: 'u', model: 'm', source: 's', prompts: 1, samplesPerPrompt: 1, seed: 3 })[0] as unknown as Record<
  string,
  unknown
>;

const BAD_VALUES: unknown[] = [
  undefined,
  null,
  '',
  'x',
  '\u{1F600}',
  0,
  -1,
  1.5,
  2 ** 53,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  [],
  ['a'],
  {},
  new Date(Number.NaN),
  new Date(0),
  'stop',
  'chat',
  2,
  0.5,
];

function mutations(row: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [row];
  for (const key of Object.keys(row)) {
    for (const v of BAD_VALUES) out.push({ ...row, [key]: v });
    const { [key]: _dropped, ...without } = row;
    out.push(without);
  }
  const sampling = row.sampling as Record<string, unknown>;
  for (const key of Object.keys(sampling)) {
    for (const v of BAD_VALUES) out.push({ ...row, sampling: { ...sampling, [key]: v } });
  }
  out.push({ ...row, sampling: { ...sampling, stop: ['a', 1] } }, { ...row, extra: 'ignored like zod does' });
  return out;
}

describe('compiled row checks', () => {
  test('agree with zod on every mutation of a sample row', () => {
    const check = compileRowCheck(WRITE_SCHEMAS.samples);
    assert.ok(check, 'the samples schema compiles');
    let rejected = 0;
    for (const row of mutations(base)) {
      const expected = WRITE_SCHEMAS.samples.safeParse(row).success;
      assert.equal(check(row), expected, `disagrees with zod on ${JSON.stringify(row, (_k, v) => (v === undefined ? '<undefined>' : v))}`);
      if (!expected) rejected++;
    }
    assert.ok(rejected > 100, `only ${rejected} mutations were invalid`);
    assert.equal(check([base]), false);
    assert.equal(check(null), false);
  });

  test('handle bounds, formats and enums as zod does', () => {
    const schema = z.object({
      a: z.number().int().min(-3).max(3),
      b: z.number().gt(0).lt(1).nullable(),
      c: z.string().min(2).max(3).optional(),
      d: z.enum(['x', 'y']),
      e: z.array(z.boolean()).default([]),
      f: z.date(),
    });
    const check = compileRowCheck(schema)!;
    const ok = { a: 3, b: null, d: 'x', f: new Date() };
    const cases = [
      ok,
      { ...ok, a: -3 },
      { ...ok, a: 4 },
      { ...ok, a: 2.5 },
      { ...ok, b: 0 },
      { ...ok, b: 1 },
      { ...ok, b: 0.5 },
      { ...ok, c: 'a' },
      { ...ok, c: 'abc' },
      { ...ok, c: 'abcd' },
      { ...ok, d: 'z' },
      { ...ok, e: [true, false] },
      { ...ok, e: [1] },
      { ...ok, f: '2026-01-01' },
    ];
    for (const row of cases) assert.equal(check(row), schema.safeParse(row).success, JSON.stringify(row));
  });

  test('refuse what they do not understand, so zod parses those rows', () => {
    assert.equal(compileRowCheck(z.object({ a: z.string().email() })), undefined);
    assert.equal(compileRowCheck(z.object({ a: z.string() }).refine(() => true)), undefined);
    assert.equal(compileRowCheck(z.object({ a: z.string().transform((s) => s.length) })), undefined);
    assert.equal(compileRowCheck(z.object({ a: z.string() }).strict()), undefined);
    for (const kind of ['samples', 'logprobs', 'prompts', 'tests'] as const) assert.ok(compileRowCheck(WRITE_SCHEMAS[kind]), `${kind} compiles`);
  });
});
