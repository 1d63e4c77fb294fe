import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PowerSpec } from '../../config/powerSpec';

/** A grid spec picks how much work a grid is: its size is bounded where the spec is read. */
const base = { corpus: 'c', reference: { model: 'm', source: 'ref' }, promptSubsets: { size: 4 }, samplesPerPrompt: [2] };

test('a grid over the cell limit is refused with its cell count and what to do; nulls count as sources', () => {
  const alternatives = Array.from({ length: 99 }, (_, i) => ({ model: 'm', source: `s${i}` }));
  assert.ok(
    PowerSpec.safeParse({ ...base, alternatives, nulls: [{ model: 'm', source: 'n0' }], promptSubsets: { size: 4, draws: 100 } }).success,
    '(101 sources + the control) x 100 draws = 10,200 cells',
  );
  const r = PowerSpec.safeParse({
    ...base,
    alternatives,
    nulls: [{ model: 'm', source: 'n0' }],
    samplesPerPrompt: [2, 4],
    promptSubsets: { size: 4, draws: 100 },
  });
  assert.equal(r.success, false);
  assert.match(r.error.issues[0].message, /the grid has 20,400 cells \(sources and the control x samplesPerPrompt .* over 20,000: split it into several grids/);
});

test('a mixture has at most 16 components, and a null may not also be an alternative', () => {
  const mix = Array.from({ length: 17 }, (_, i) => ({ source: `s${i}`, weight: i === 0 ? 1 : 0 }));
  assert.equal(PowerSpec.safeParse({ ...base, alternatives: [{ mix }] }).success, false);
  assert.equal(PowerSpec.safeParse({ ...base, alternatives: [{ mix: mix.slice(0, 16) }] }).success, true);
  const both = PowerSpec.safeParse({ ...base, alternatives: [{ model: 'm', source: 'b1' }], nulls: [{ model: 'm', source: 'b1' }] });
  assert.match(both.error!.issues[0].message, /m\.b1 is already a reference or an alternative/);
});
