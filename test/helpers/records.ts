import { newRunRecord, type RunRecord } from '../../client/runs';
import { PowerSpec } from '../../config/powerSpec';
import { parseRunSpec } from '../../config/runSpec';

/** Run records with small valid inputs, for tests that need a record but not its run (a record's input is checked like any other). */
export function collectionRecord(runId: string, corpus = 'c', extra: { taskQueue?: string } = {}): RunRecord {
  const spec = parseRunSpec({
    corpus,
    prompts: { inline: [{ id: 'p0', text: 'prompt 0' }] },
    samplesPerPrompt: 1,
    sources: [{ kind: 'provider', provider: 'nobody', model: 'm' }],
  });
  return newRunRecord({ job: 'collectCorpus', input: { spec, runId } }, runId, extra);
}

export function powerRecord(runId: string, corpus = 'c'): RunRecord {
  const spec = PowerSpec.parse({
    corpus,
    reference: { model: 'm', source: 'a' },
    alternatives: [{ model: 'm', source: 'b' }],
    samplesPerPrompt: [2],
    promptSubsets: { size: 2 },
    sims: 10,
    b: 10,
  });
  return newRunRecord({ job: 'powerSimulation', input: { spec, runId } }, runId);
}
