import { Context } from '@temporalio/activity';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import type { TextScore } from '../config/perplexitySpec';
import type { TextBackend } from '../models/backend';
import { sumOf } from '../stats/perplexity';
import { heartbeatingAll } from './heartbeat';

/**
 * Scoring given texts (not a stored corpus) under the model this worker has loaded: the model
 * side of `ensembledPerplexity` and of the HTTP API's /v1/perplexity. Runs on the model's queue.
 */
export interface ScoreTextsInput {
  model: string;
  precision: string;
  texts: string[];
  prompts?: string[];
}

export interface ScoreTextsResult {
  model: string;
  precision: string;
  texts: TextScore[];
}

const utf8Bytes = (text: string) => Buffer.byteLength(text, 'utf8');

export function createTextScoringActivities(deps: { backend: TextBackend }) {
  const { backend } = deps;
  return heartbeatingAll({
    async scoreTexts(input: ScoreTextsInput): Promise<ScoreTextsResult> {
      try {
        if (input.model !== backend.model || input.precision !== backend.precision) {
          throw new MetError(ErrorTypes.BadInput, `this worker scores with ${backend.model}/${backend.precision}, not ${input.model}/${input.precision}`);
        }
        // Refuse what cannot be scored before evaluating anything: a clear error, not a hung request.
        input.texts.forEach((text, i) => {
          if (!text) throw new MetError(ErrorTypes.BadInput, `texts[${i}] is empty: perplexity needs at least one token`);
          if (backend.contextSize && backend.countTokens) {
            const tokens = 1 + backend.countTokens(input.prompts?.[i] ?? '') + backend.countTokens(text);
            if (tokens > backend.contextSize) {
              throw new MetError(
                ErrorTypes.BadInput,
                `texts[${i}] needs ${tokens} tokens with its prompt, more than ${backend.model}/${backend.precision}'s context of ${backend.contextSize}: split it`,
              );
            }
          }
        });
        const ctx = Context.current();
        const texts: TextScore[] = [];
        for (let i = 0; i < input.texts.length; i++) {
          ctx.cancellationSignal.throwIfAborted();
          const scored = await backend.score(input.prompts?.[i] ?? '', input.texts[i]);
          if (scored.tokenIds.length === 0) throw new MetError(ErrorTypes.BadInput, `texts[${i}] has no tokens under ${backend.model}`);
          texts.push({ sum: sumOf(scored.tokenLogprobs), tokens: scored.tokenIds.length, bytes: utf8Bytes(input.texts[i]) });
          if (i % 16 === 15) ctx.heartbeat({ scored: i + 1 });
        }
        return { model: backend.model, precision: backend.precision, texts };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type TextScoringActivities = ReturnType<typeof createTextScoringActivities>;
