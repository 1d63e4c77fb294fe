import type { RunSpec } from '../config/runSpec';
import { sourceLabel } from '../config/runSpec';
import { type PilotSample, pilotPositions } from './estimate';
import { itemAt, sampleSeed } from './plan';
import type { PromptText } from '../datasets/corpusStore';
import type { SampleGenerator, SampleRequest } from './sampleGenerator';

/** What can count a source's prompt tokens exactly (providers/generator.ts countPromptTokens). */
export interface PromptTokenizer {
  countPromptTokens(source: RunSpec['sources'][number], sampling: RunSpec['sampling'], texts: string[]): Promise<number[] | undefined>;
}

/** Exact prompt token counts per provider source whose endpoint has a tokenizer route (at most 50,000 prompts). */
export async function countPrompts(spec: RunSpec, prompts: PromptText[], tokenizer: PromptTokenizer): Promise<Record<number, number[]>> {
  const out: Record<number, number[]> = {};
  if (prompts.length > 50_000) return out;
  for (const [index, source] of spec.sources.entries()) {
    if (source.kind !== 'provider') continue;
    const counts = await tokenizer.countPromptTokens(
      source,
      spec.sampling,
      prompts.map((p) => p.text),
    );
    if (counts) out[index] = counts;
  }
  return out;
}

/**
 * A dry run's pilot (`met collect SPEC --dry-run --pilot N`): N of the run's own requests per
 * provider source, actually sent (they are billed), spread evenly over the run's prompts and sample
 * indices and carrying the seeds the run will send. What the provider reports for them prices the
 * run (collect/estimate.ts). Local sources get no pilot: they cost nothing.
 */
export async function runPilot(
  spec: RunSpec,
  prompts: PromptText[],
  n: number,
  generator: SampleGenerator,
  signal: AbortSignal,
): Promise<Record<number, PilotSample[]>> {
  const total = prompts.length * spec.samplesPerPrompt;
  const out: Record<number, PilotSample[]> = {};
  for (const [index, source] of spec.sources.entries()) {
    if (source.kind !== 'provider') continue;
    const requests: SampleRequest[] = pilotPositions(total, n).map((flat) => {
      const { promptIndex, sampleIndex } = itemAt(flat, spec.samplesPerPrompt);
      const prompt = prompts[promptIndex];
      return {
        flat,
        promptId: prompt.promptId,
        promptIndex,
        sampleIndex,
        prompt: prompt.text,
        seed: sampleSeed(spec.sampling, source.model, sourceLabel(source), prompt.promptId, sampleIndex),
      };
    });
    const byFlat = new Map(requests.map((r) => [r.flat, r]));
    const samples: PilotSample[] = [];
    await generator.sample(requests, {
      sampling: spec.sampling,
      // One sample per request (the positions are spread anyway): its usage is one request's prompt and one completion.
      source: { ...source, n: undefined },
      signal,
      onSample: (s) =>
        samples.push({ promptIndex: byFlat.get(s.flat)!.promptIndex, promptTokens: s.promptTokens ?? null, completionTokens: s.completionTokens ?? null }),
    });
    out[index] = samples;
  }
  return out;
}
