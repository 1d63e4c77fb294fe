import type { DuckDBInstance } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import { promptProblem } from '../common/text';
import { TRACKING_STATISTIC } from '../config/auditSpec';
import { TRACKING_LIMITS } from '../config/limits';
import type { AuditSpec } from '../config/auditSpec';
import type { RunSpec } from '../config/runSpec';
import { readAuditRows } from '../datasets';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { promptsDir } from '../datasets/paths';
import type { ProbeAnswers, ProviderGenerator } from '../providers/generator';
import { seededProbeIndices, trackingTest, type TopLogprobs } from '../stats/tracking';
import { loadPrompts } from './collect';
import type { TestOutcome } from './tests';
import { heartbeatingAll } from './heartbeat';

/**
 * The log-probability tracking tier of an audit (statistic logprob_tracking; stats/tracking.ts):
 * the probe set (CPU queue: the spec's prompts, a seeded draw of tracking.probes of them), the
 * probes sent to an endpoint (its provider's queue: keys stay in that worker), and the test of a
 * firing against the endpoint's own first firings, read back from the audit's `audits` rows.
 */
export interface Probe {
  id: string;
  text: string;
}

/** What a tracking row keeps (AuditRow.tracking, as JSON): the answers later firings compare with. */
export const TrackingRecord = z.object({
  /** baseline: one of the endpoint's first firings (no test); test: tested against them. */
  role: z.enum(['baseline', 'test']),
  topK: z.number().int().positive(),
  probes: z.array(z.string()),
  answers: z.array(z.array(z.tuple([z.string(), z.number()]))),
  /** A test: the baseline firings it compared with, and whether its p-value enumerated every labelling. */
  baseline: z.array(z.string()).optional(),
  exact: z.boolean().optional(),
  /**
   * What the probes were asked through: the spec's sampling.endpoint and system prompt (null: none).
   * Absent in records written before they were noted (those are not checked).
   */
  sampling: z.object({ endpoint: z.enum(['completions', 'chat']), systemPrompt: z.string().nullable() }).optional(),
});
export type TrackingRecord = z.infer<typeof TrackingRecord>;

export interface TrackingOutcomeInput {
  corpus: string;
  audit: string;
  endpoint: string;
  firingId: string;
  timeMs: number;
  testId: string;
  topK: number;
  probes: string[];
  answers: ProbeAnswers['answers'];
  baselineFirings: number;
  alpha: number;
  b: number;
  seed: number;
  /**
   * How the probes were asked (the spec's sampling.endpoint and systemPrompt, null for none): noted in
   * the record, and a firing asked otherwise than the baseline is refused. Absent from firings
   * started before the `tracking-sampling` patch.
   */
  sampling?: TrackingSampling;
}

export type TrackingSampling = NonNullable<TrackingRecord['sampling']>;

/** What checkTrackingSampling reads: the endpoint's baseline in the audit's rows, and how this firing will ask. */
export type TrackingSamplingCheck = Pick<TrackingOutcomeInput, 'corpus' | 'audit' | 'endpoint' | 'firingId' | 'timeMs' | 'baselineFirings'> & {
  sampling: TrackingSampling;
};

/** A text for an error message: quoted, and cut to its first 60 characters. */
const excerpt = (text: string | null) =>
  text === null ? 'none' : `${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text)} (${text.length} characters)`;

/**
 * Why a firing asked through `now` cannot be compared with baseline firings asked through their
 * noted sampling (a record without one predates the check and is taken as it is); undefined when it can.
 */
export function trackingSamplingProblem(audit: string, now: TrackingSampling, baseline: { firingId: string; record: TrackingRecord }[]): string | undefined {
  const changes: string[] = [];
  const fixes: string[] = [];
  const noted = baseline.flatMap((b) => (b.record.sampling ? [{ firingId: b.firingId, sampling: b.record.sampling }] : []));
  if (noted.length === 0) return undefined;
  const differing = (pick: (s: TrackingSampling) => unknown) => noted.filter((b) => pick(b.sampling) !== pick(now)).map((b) => b.firingId);
  const endpointMoved = differing((s) => s.endpoint);
  if (endpointMoved.length) {
    const was = noted.find((b) => b.sampling.endpoint !== now.endpoint)!.sampling.endpoint;
    changes.push(`sampling.endpoint is ${now.endpoint}, but the baseline firings (${endpointMoved.join(', ')}) asked the ${was} endpoint`);
    fixes.push(`sampling.endpoint: ${was}`);
  }
  const promptMoved = differing((s) => s.systemPrompt);
  if (promptMoved.length) {
    const was = noted.find((b) => b.sampling.systemPrompt !== now.systemPrompt)!.sampling.systemPrompt;
    changes.push(`the system prompt is ${excerpt(now.systemPrompt)}, but the baseline firings (${promptMoved.join(', ')}) were asked with ${excerpt(was)}`);
    fixes.push(was === null ? 'no sampling.systemPrompt' : 'the system prompt they were asked with');
  }
  if (changes.length === 0) return undefined;
  return (
    `audit ${audit} changed since its baseline: ${changes.join('; ')}. Log probabilities asked another way are not comparable with the baseline's, ` +
    `so this firing is not tested. Put the spec back (${fixes.join(', ')}) and create the audit again with it (met audit delete ${audit}, then met audit create SPEC), ` +
    `or start a new baseline: create the edited spec under a new audit name (its first firings are its baseline)`
  );
}

export interface TrackingOutcome {
  outcome: TestOutcome;
  /** What the row says it was compared with. */
  reference: string;
  /** TrackingRecord as JSON. */
  record: string;
}

export function createTrackingActivities(deps: { duck: DuckDBInstance; dataDir: string; promptRoots?: string[]; corpora?: Corpora }) {
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  const promptRoots = [promptsDir(deps.dataDir), ...(deps.promptRoots ?? [])];
  /** The endpoint's baseline: its first `baselineFirings` tracking rows before this firing (a retry's own row left out). */
  const baselineOf = async (input: Pick<TrackingOutcomeInput, 'corpus' | 'audit' | 'endpoint' | 'firingId' | 'timeMs' | 'baselineFirings'>) => {
    const root = await corpora.readRoot(input.corpus, ['audits']);
    const earlier = (await readAuditRows(deps.duck, root, input.corpus, input.audit)).filter(
      (r) => r.endpoint === input.endpoint && r.firingId !== input.firingId && r.time.getTime() <= input.timeMs && r.tracking,
    );
    return earlier
      .map((r) => ({ firingId: r.firingId, record: TrackingRecord.parse(JSON.parse(r.tracking!)) }))
      .filter((r) => r.record.role === 'baseline')
      .slice(0, input.baselineFirings);
  };
  return heartbeatingAll({
    /** The probe set of a firing: the spec's prompts, `count` of them drawn with `seed` (the same set at every firing). */
    async planTrackingProbes(input: { prompts: RunSpec['prompts']; count: number; seed: number }): Promise<Probe[]> {
      try {
        const { rows: all } = await loadPrompts(deps.duck, { prompts: input.prompts }, promptRoots);
        const rows = input.prompts.limit ? all.slice(0, input.prompts.limit) : all;
        if (rows.length === 0) throw new MetError(ErrorTypes.BadRunSpec, 'the tracking probe set is empty: give prompts');
        const probes = seededProbeIndices(rows.length, Math.min(input.count, TRACKING_LIMITS.probes), input.seed).map((i) => ({
          id: rows[i].promptId,
          text: rows[i].text,
        }));
        for (const p of probes) {
          const problem =
            promptProblem(p.id, p.text) ??
            (p.text.length > TRACKING_LIMITS.probeChars
              ? `probe '${p.id}' has ${p.text.length} characters: a probe has at most ${TRACKING_LIMITS.probeChars} (short inputs)`
              : undefined);
          if (problem) throw new MetError(ErrorTypes.BadRunSpec, problem);
        }
        return probes;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /**
     * The firing's test against the endpoint's baseline: its first `baselineFirings` tracking rows.
     * Until there are that many, the firing is one of them (p = 1, no rejection). Idempotent: this
     * firing's own row (a retry) and later ones are left out.
     */
    /**
     * Before any probe is sent: refuses a firing that would ask otherwise than the endpoint's
     * baseline (trackingOutcome would refuse its answers), so an edited spec's schedule does not
     * spend a request per probe on every tick only to be refused.
     */
    async checkTrackingSampling(input: TrackingSamplingCheck): Promise<void> {
      try {
        const problem = trackingSamplingProblem(input.audit, input.sampling, await baselineOf(input));
        if (problem) throw new MetError(ErrorTypes.BadInput, `${problem} (no probe was sent)`);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    async trackingOutcome(input: TrackingOutcomeInput): Promise<TrackingOutcome> {
      try {
        const started = performance.now();
        const baseline = await baselineOf(input);
        // Asked another way than the baseline (an edited spec): the logprobs are not comparable; refused before anything is recorded.
        const problem = input.sampling ? trackingSamplingProblem(input.audit, input.sampling, baseline) : undefined;
        if (problem) throw new MetError(ErrorTypes.BadInput, problem);
        const noted = input.sampling ? { sampling: input.sampling } : {};
        const common = { testId: input.testId, statistic: TRACKING_STATISTIC, alpha: input.alpha, undefinedNulls: 0, n2: 1, m: input.probes.length };
        const seconds = () => (performance.now() - started) / 1000;
        if (baseline.length < input.baselineFirings) {
          const record: TrackingRecord = { role: 'baseline', topK: input.topK, probes: input.probes, answers: input.answers, ...noted };
          return {
            outcome: {
              ...common,
              value: 0,
              pvalue: 1,
              reject: false,
              b: 0,
              n1: baseline.length + 1,
              seconds: seconds(),
              warnings: [`baseline firing ${baseline.length + 1} of ${input.baselineFirings}: recorded, not tested`],
            },
            reference: `${input.endpoint}: baseline (firing ${baseline.length + 1} of ${input.baselineFirings})`,
            record: JSON.stringify(record),
          };
        }
        // Probes answered at every baseline firing and now (a probe set edited since the baseline keeps the common ones).
        const index = baseline.map((b) => new Map(b.record.probes.map((id, i) => [id, b.record.answers[i]])));
        const common2 = input.probes.flatMap((id, i) => (index.every((m) => m.has(id)) ? [{ id, i }] : []));
        if (common2.length === 0)
          throw new MetError(
            ErrorTypes.BadInput,
            `no probe of this firing was answered at the baseline firings (${baseline.map((b) => b.firingId).join(', ')}): the probe set changed; start a new audit for the new probes`,
          );
        // A top-k raised since the baseline would align tokens the baseline never listed against its floor: a
        // change made by met, not the endpoint. Every list is compared at the smallest k (a top-k list's first
        // k' entries are its top-k'), and the row says so.
        const k = Math.min(input.topK, ...baseline.map((b) => b.record.topK));
        const atK = (answer: TopLogprobs) => answer.slice(0, k);
        const result = trackingTest(
          index.map((m) => common2.map(({ id }) => atK(m.get(id)!))),
          common2.map(({ i }) => atK(input.answers[i])),
          { b: input.b, seed: input.seed },
        );
        const warnings = [
          ...(common2.length < input.probes.length
            ? [`${input.probes.length - common2.length} probes were not answered at the baseline firings and are left out`]
            : []),
          ...(k < input.topK ? [`the baseline firings listed top-${k} logprobs: this firing's top-${input.topK} are compared at top-${k}`] : []),
          ...(input.sampling && baseline.some((b) => !b.record.sampling)
            ? ['the baseline firings were recorded before the endpoint kind and system prompt were noted: a change of either since then is not checked']
            : []),
        ];
        const record: TrackingRecord = {
          role: 'test',
          topK: input.topK,
          probes: input.probes,
          answers: input.answers,
          baseline: baseline.map((b) => b.firingId),
          exact: result.exact,
          ...noted,
        };
        Context.current().heartbeat();
        return {
          outcome: {
            ...common,
            m: common2.length,
            value: result.value,
            pvalue: result.pvalue,
            reject: result.pvalue <= input.alpha,
            b: result.b,
            n1: baseline.length,
            seconds: seconds(),
            ...(warnings.length ? { warnings } : {}),
          },
          reference: `${input.endpoint}: its first ${baseline.length} firings (${baseline[0].firingId} ...)`,
          record: JSON.stringify(record),
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type TrackingActivities = ReturnType<typeof createTrackingActivities>;

export interface ProbeLogprobsInput {
  source: AuditSpec['endpoints'][number];
  probes: Probe[];
  topK: number;
  endpoint: 'completions' | 'chat';
  systemPrompt?: string;
}

/** On the endpoint's provider queue: the probes sent with this worker's key (never in workflow history). */
export function createTrackingProbeActivities(deps: { generator: ProviderGenerator }) {
  return heartbeatingAll({
    async probeLogprobs(input: ProbeLogprobsInput): Promise<ProbeAnswers> {
      try {
        return await deps.generator.probeTopLogprobs(input.source, { ...input, signal: Context.current().cancellationSignal });
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type TrackingProbeActivities = ReturnType<typeof createTrackingProbeActivities>;
