import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { TextScoringActivities } from '../activities/perplexity';
import { ErrorTypes, NON_RETRYABLE_TYPES } from '../common/errors';
import { withRootCause } from '../common/failures';
import { issueLine } from '../common/issues';
import { combinePerplexities, PerplexityRequest, type PerplexityRequestInput, type PerplexityResult } from '../config/perplexitySpec';
import { modelTaskQueue } from '../temporal/queues';

/**
 * ensembledPerplexity: the same texts scored by several models at once, each on its own (model,
 * precision) queue (so each on the GPU its worker is pinned to), then combined: the mean of the
 * models' log-perplexities per text, per byte when tokenizers may differ.
 */
async function ensembledPerplexitySteps(input: PerplexityRequestInput): Promise<PerplexityResult> {
  const parsed = PerplexityRequest.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.create({
      type: ErrorTypes.BadInput,
      message: parsed.error.issues.map((i) => issueLine(i, '(request)')).join('; '),
      nonRetryable: true,
    });
  }
  const request = parsed.data;
  const scores = await Promise.all(
    request.models.map(({ model, precision }) => {
      const { scoreTexts } = proxyActivities<TextScoringActivities>({
        taskQueue: modelTaskQueue(model, precision),
        // No worker for this model: fail in minutes rather than wait for ever.
        scheduleToStartTimeout: '5m',
        startToCloseTimeout: '10m',
        heartbeatTimeout: '2m',
        retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_TYPES },
      });
      return scoreTexts({ model, precision, texts: request.texts, prompts: request.prompts });
    }),
  );
  return combinePerplexities(request, scores);
}

/** The workflow: its steps, failing with their root cause (type and message) rather than "Activity task failed". */
export async function ensembledPerplexity(input: Parameters<typeof ensembledPerplexitySteps>[0]): ReturnType<typeof ensembledPerplexitySteps> {
  return withRootCause(() => ensembledPerplexitySteps(input));
}
