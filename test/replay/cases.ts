import type { Workflow } from '@temporalio/common';
import { parseAuditSpec } from '../../config/auditSpec';
import { parseConsistencySpec, planConsistency } from '../../config/consistencySpec';
import { PowerSpec } from '../../config/powerSpec';
import { parseRunSpec, runIdOf } from '../../config/runSpec';
import { TestSpec } from '../../config/testSpec';
import { modelTaskQueue, providerTaskQueue } from '../../temporal/queues';
import * as workflows from '../../workflows';

/**
 * The runs whose histories test/replay/replay.test.ts replays: one or more per workflow in
 * workflows/index.ts, with tiny inputs. scripts/record-histories.ts runs each against a real
 * Temporal server, on workers with stand-in activities (fixed, small results: the history records
 * the workflow's commands and the results it got, which is all a replay needs), and saves its
 * history as test/replay/histories/<name>.json. Record again after a deliberate change.
 */
export interface ReplayCase {
  /** File name (without .json) and, prefixed with `replay-`, the workflow id. */
  name: string;
  workflow: keyof typeof workflows;
  args: unknown[];
  /** How the run should end: most succeed; some record a failure path. */
  expect: 'completed' | 'failed';
}

/** The queue the recorded workflows (and their CPU activities and children) run on. */
export const REPLAY_TASK_QUEUE = 'met-replay';
export const REPLAY_PROVIDER = 'replay';
export const REPLAY_MODEL = { model: 'tiny', precision: 'fp32' } as const;
export const REPLAY_MODEL_2 = { model: 'tiny2', precision: 'fp16' } as const;

const runSpec = parseRunSpec({
  corpus: 'replay',
  prompts: {
    inline: [
      { id: 'p0', text: 'a' },
      { id: 'p1', text: 'b' },
    ],
  },
  samplesPerPrompt: 3,
  unitSize: 2,
  window: 2,
  sampling: { maxTokens: 4, temperature: 1 },
  sources: [
    { kind: 'provider', provider: REPLAY_PROVIDER, model: 'm1', baseURL: 'http://127.0.0.1:9/v1' },
    { kind: 'local', model: REPLAY_MODEL.model, precision: REPLAY_MODEL.precision },
  ],
});

const consistencyPlan = planConsistency(
  parseConsistencySpec({
    id: 'replay-consistency',
    a: { kind: 'provider', provider: REPLAY_PROVIDER, model: 'm1', baseURL: 'http://127.0.0.1:9/v1' },
    b: { kind: 'local', model: REPLAY_MODEL.model, precision: REPLAY_MODEL.precision },
    prompts: { inline: [{ id: 'p0', text: 'a' }] },
    samplesPerPrompt: 2,
    scorer: REPLAY_MODEL,
    embed: { kind: 'local', path: '/models/embed.gguf' },
  }),
);

const auditSpec = parseAuditSpec({
  name: 'replay-audit',
  corpus: 'replay',
  reference: { kind: 'corpus', corpus: 'replay', model: REPLAY_MODEL.model, source: REPLAY_MODEL.precision },
  endpoints: [{ kind: 'provider', provider: REPLAY_PROVIDER, model: 'm1' }],
  prompts: {
    inline: [
      { id: 'p0', text: 'a' },
      { id: 'p1', text: 'b' },
    ],
  },
  samplesPerPrompt: 3,
  sampling: { maxTokens: 4, temperature: 1 },
  b: 10,
  unitSize: 3,
  schedule: { interval: '1h' },
});

/** A tracking audit asking through the chat endpoint with a system prompt (the cases since 'tracking-sampling'). */
const chatTrackingSpec = (name: string) =>
  parseAuditSpec({
    name,
    corpus: 'replay',
    endpoints: auditSpec.endpoints,
    prompts: auditSpec.prompts,
    sampling: { endpoint: 'chat', systemPrompt: 'You are terse.' },
    statistic: 'logprob_tracking',
    tracking: { probes: 2, topK: 2 },
    schedule: { interval: '1h' },
  });

export const REPLAY_CASES: ReplayCase[] = [
  { name: 'systemCheck', workflow: 'systemCheck', args: [{ pause: '10ms' }], expect: 'completed' },
  { name: 'collectCorpus', workflow: 'collectCorpus', args: [{ spec: runSpec, runId: runIdOf(runSpec) }], expect: 'completed' },
  {
    name: 'collectCorpus-unitFails',
    workflow: 'collectCorpus',
    args: [{ spec: { ...runSpec, corpus: 'replay-fails' }, runId: 'replay-fails' }],
    expect: 'failed',
  },
  // A budget of 1.8 USD: one unit is on disk (0.5), the next fits (bound 1), the one after waits for it
  // (spent 1.4) and still does not fit: the run ends "budget reached" with the local source done.
  {
    name: 'collectCorpus-budget',
    workflow: 'collectCorpus',
    args: [{ spec: { ...runSpec, corpus: 'replay-budget', budget: { usd: 1.8 } }, runId: 'replay-budget' }],
    expect: 'completed',
  },
  // Paged plans (issue #28): the same runs recorded since units are computed a page at a time (scanPage).
  {
    name: 'collectCorpus-paged',
    workflow: 'collectCorpus',
    args: [{ spec: { ...runSpec, corpus: 'replay-paged' }, runId: 'replay-paged' }],
    expect: 'completed',
  },
  {
    name: 'collectCorpus-paged-budget',
    workflow: 'collectCorpus',
    args: [{ spec: { ...runSpec, corpus: 'replay-paged-budget', budget: { usd: 1.8 } }, runId: 'replay-paged-budget' }],
    expect: 'completed',
  },
  // The Batch API: the provider source's units are batchUnit children (submit, poll twice on timers, collect, write).
  {
    name: 'collectCorpus-batch',
    workflow: 'collectCorpus',
    args: [
      {
        spec: { ...runSpec, corpus: 'replay-batch', sources: [{ ...runSpec.sources[0], batch: { pollSeconds: 0.1, maxPollSeconds: 0.2 } }] },
        runId: 'replay-batch',
      },
    ],
    expect: 'completed',
  },
  {
    name: 'batchUnit',
    workflow: 'batchUnit',
    args: [
      {
        unit: {
          corpus: 'replay-batch-unit',
          runId: 'replay-batch-unit',
          promptSet: 'inline',
          promptsFile: '/data/replay/prompts.parquet',
          samplesPerPrompt: 3,
          sampling: runSpec.sampling,
          source: { ...runSpec.sources[0], batch: { pollSeconds: 0.1, maxPollSeconds: 0.2 } },
          unit: { unitId: '000000-replay', sourceIndex: 0, model: 'm1', source: REPLAY_PROVIDER, start: 0, end: 2 },
        },
        taskQueue: providerTaskQueue(REPLAY_PROVIDER),
        heartbeatTimeoutSeconds: 60,
        pollSeconds: 0.1,
        maxPollSeconds: 0.2,
      },
    ],
    expect: 'completed',
  },
  { name: 'scoreCorpus', workflow: 'scoreCorpus', args: [{ corpus: 'replay', scorer: REPLAY_MODEL, window: 2 }], expect: 'completed' },
  {
    name: 'runTest',
    workflow: 'runTest',
    args: [
      TestSpec.parse({
        testId: 'replay-test',
        x: { corpus: 'replay', model: 'm1', source: 'replay' },
        y: { corpus: 'replay', model: 'tiny', source: 'fp32' },
        b: 10,
      }),
    ],
    expect: 'completed',
  },
  {
    name: 'runTest-rut',
    workflow: 'runTest',
    args: [
      TestSpec.parse({
        testId: 'replay-rut',
        stat: 'rut',
        scorer: REPLAY_MODEL,
        x: { corpus: 'replay', model: 'tiny', source: 'fp32' },
        y: { corpus: 'replay', model: 'm1', source: 'replay' },
      }),
    ],
    expect: 'completed',
  },
  {
    name: 'powerSimulation',
    workflow: 'powerSimulation',
    args: [
      {
        spec: PowerSpec.parse({
          corpus: 'replay',
          reference: { model: 'tiny', source: 'fp32' },
          alternatives: [{ model: 'tiny', source: 'nf4' }],
          samplesPerPrompt: [2],
          promptSubsets: { size: 2 },
          sims: 2,
          b: 10,
          window: 2,
        }),
        runId: 'replay-power',
      },
    ],
    expect: 'completed',
  },
  {
    name: 'ensembledPerplexity',
    workflow: 'ensembledPerplexity',
    args: [{ texts: ['hello', 'world'], models: [REPLAY_MODEL, REPLAY_MODEL_2] }],
    expect: 'completed',
  },
  // One firing whose verdict changed: collect, test, record, one alert.
  { name: 'auditFiring', workflow: 'auditFiring', args: [{ spec: auditSpec }], expect: 'completed' },
  // An audit with a budget its endpoint's slice cannot fit: the endpoint is skipped, nothing tested.
  {
    name: 'auditFiring-budget',
    workflow: 'auditFiring',
    args: [{ spec: { ...auditSpec, name: 'replay-audit-budget', budget: { usd: 0.5 } } }],
    expect: 'completed',
  },
  // Since alerts have a workflow of their own (issue #28): the firing starts deliverAuditAlert and does not wait for it.
  { name: 'auditFiring-alerts', workflow: 'auditFiring', args: [{ spec: { ...auditSpec, name: 'replay-audit-alerts' } }], expect: 'completed' },
  // Since the stamp takes the run id's random tail (issue #28: two firings in one second shared a stamp).
  { name: 'auditFiring-stamp', workflow: 'auditFiring', args: [{ spec: { ...auditSpec, name: 'replay-audit-stamp' } }], expect: 'completed' },
  // A one-sample statistic (patched 'audit-one-sample'): the fresh slice is scored (child scoreCorpus) before the test.
  {
    name: 'auditFiring-oneSample',
    workflow: 'auditFiring',
    args: [{ spec: parseAuditSpec({ ...auditSpec, name: 'replay-audit-g2', statistic: 'g_squared', scorer: REPLAY_MODEL }) }],
    expect: 'completed',
  },
  // A billing check (patched 'audit-billing'): each endpoint's completions counted on the tokenizer model's queue beside its test.
  {
    name: 'auditFiring-billing',
    workflow: 'auditFiring',
    args: [{ spec: parseAuditSpec({ ...auditSpec, name: 'replay-audit-billing', billing: { tokenizer: REPLAY_MODEL } }) }],
    expect: 'completed',
  },
  // Attribution (patched 'audit-identify'): the verdict turns to differs, so the endpoint's slice is tested against two candidates (child runTest each).
  {
    name: 'auditFiring-identify',
    workflow: 'auditFiring',
    args: [
      {
        spec: parseAuditSpec({
          ...auditSpec,
          name: 'replay-audit-identify',
          identify: {
            candidates: [
              { model: REPLAY_MODEL.model, source: 'fp32' },
              { model: REPLAY_MODEL.model, source: 'nf4' },
            ],
          },
        }),
      },
    ],
    expect: 'completed',
  },
  // The tracking tier (patched 'audit-tracking'): no slices; probes on the provider's queue, the test against the endpoint's baseline, one alert.
  {
    name: 'auditFiring-tracking',
    workflow: 'auditFiring',
    args: [
      {
        spec: parseAuditSpec({
          name: 'replay-audit-tracking',
          corpus: 'replay',
          endpoints: auditSpec.endpoints,
          prompts: auditSpec.prompts,
          statistic: 'logprob_tracking',
          tracking: { probes: 2, topK: 2 },
          schedule: { interval: '1h' },
        }),
      },
    ],
    expect: 'completed',
  },
  // The tracking tier since the record notes how the probes were asked (patched 'tracking-sampling'): chat, with a system prompt.
  {
    name: 'auditFiring-tracking-sampling',
    workflow: 'auditFiring',
    args: [{ spec: chatTrackingSpec('replay-audit-tracking-sampling') }],
    expect: 'completed',
  },
  // Since a firing asked otherwise than its baseline is refused before its probes (patched 'tracking-precheck').
  {
    name: 'auditFiring-tracking-precheck',
    workflow: 'auditFiring',
    args: [{ spec: chatTrackingSpec('replay-audit-tracking-precheck') }],
    expect: 'completed',
  },
  {
    name: 'deliverAuditAlert',
    workflow: 'deliverAuditAlert',
    args: [
      {
        alert: {
          alertId: 'replay-audit/f1/m1/replay',
          audit: 'replay-audit',
          corpus: 'replay',
          endpoint: 'm1/replay',
          firingId: 'f1',
          time: '2026-01-01T00:00:00.000Z',
          from: 'consistent',
          to: 'differs',
          pValue: 0.001,
          alpha: 0.05,
          statistic: 'mmd_hamming',
          value: 0.3,
          confirmations: 2,
        },
      },
    ],
    expect: 'completed',
  },
  { name: 'consistencyReport', workflow: 'consistencyReport', args: [consistencyPlan], expect: 'completed' },
  {
    name: 'downloadDataset',
    workflow: 'downloadDataset',
    args: [
      {
        entry: {
          name: 'replay',
          description: 'two files, the first verified on its second download',
          files: [{ url: 'http://127.0.0.1:9/a.zip' }, { url: 'http://127.0.0.1:9/b.zip' }],
          archive: 'zip',
          converter: 'met-release',
        },
        dir: '/data/downloads',
      },
    ],
    expect: 'completed',
  },
];

export function workflowOf(c: ReplayCase): Workflow {
  return workflows[c.workflow] as Workflow;
}

export const REPLAY_QUEUES = {
  cpu: REPLAY_TASK_QUEUE,
  provider: providerTaskQueue(REPLAY_PROVIDER),
  model: modelTaskQueue(REPLAY_MODEL.model, REPLAY_MODEL.precision),
  model2: modelTaskQueue(REPLAY_MODEL_2.model, REPLAY_MODEL_2.precision),
};
