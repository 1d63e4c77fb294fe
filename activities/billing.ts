import { Context } from '@temporalio/activity';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import { toApplicationFailure } from '../common/failures';
import { type Corpora, LocalCorpora } from '../datasets/corpora';
import { readBilledCompletions } from '../datasets/reader';
import type { TextBackend } from '../models/backend';
import { heartbeatingAll } from './heartbeat';

/**
 * The billing audit's count (model side, on the claimed model's queue): the completion tokens an
 * endpoint billed for a slice against what the claimed model's own tokenizer counts in the same
 * completions. Only samples with a billed count take part: a provider that reports none is not judged.
 */
export interface CountBilledInput {
  corpus: string;
  model: string;
  source: string;
  tokenizer: { model: string; precision: string };
}

export interface BilledTokens {
  /** Samples in the slice, and those whose request reported completion tokens. */
  samples: number;
  reported: number;
  /** Sums over the reported samples: billed by the endpoint, and counted by the tokenizer. */
  reportedCompletionTokens: number;
  countedCompletionTokens: number;
}

export function createBillingActivities(deps: { duck: DuckDBInstance; dataDir: string; backend: TextBackend; corpora?: Corpora }) {
  const corpora = deps.corpora ?? new LocalCorpora(deps.duck, deps.dataDir);
  const { backend } = deps;
  // Tokenizing alone where the backend can; else score() tokenizes the completion the same way (slower).
  const count = async (text: string) => (!text ? 0 : backend.countTokens ? backend.countTokens(text) : (await backend.score('', text)).tokenIds.length);
  return heartbeatingAll({
    async countBilledTokens(input: CountBilledInput): Promise<BilledTokens> {
      try {
        if (input.tokenizer.model !== backend.model || input.tokenizer.precision !== backend.precision)
          throw new MetError(
            ErrorTypes.BadInput,
            `this worker tokenizes with ${backend.model}/${backend.precision}, not ${input.tokenizer.model}/${input.tokenizer.precision}`,
          );
        const root = await corpora.readRoot(input.corpus, ['samples'], { model: input.model, source: input.source });
        const rows = await readBilledCompletions(deps.duck, root, input);
        const ctx = Context.current();
        const out: BilledTokens = { samples: rows.length, reported: 0, reportedCompletionTokens: 0, countedCompletionTokens: 0 };
        for (const [i, r] of rows.entries()) {
          if (r.completionTokens === null) continue;
          out.reported++;
          out.reportedCompletionTokens += r.completionTokens;
          out.countedCompletionTokens += await count(r.completion);
          if (i % 256 === 255) ctx.heartbeat({ counted: i + 1 });
        }
        return out;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  });
}
export type BillingActivities = ReturnType<typeof createBillingActivities>;

/** Billed over counted completion tokens; null when nothing was reported or counted. */
export function billingRatio(b: BilledTokens): number | null {
  return b.reported > 0 && b.countedCompletionTokens > 0 ? b.reportedCompletionTokens / b.countedCompletionTokens : null;
}
