import type { GenerateRequest, GeneratedCompletion, Precision, ScoredCompletion, TextBackend } from '../models/backend';
import { seededRandom } from './faults';

/**
 * A deterministic stand-in model for tests and benchmarks when no GGUF is given: words drawn from
 * a fixed vocabulary with a seeded generator whose distribution depends on the prompt and on a
 * `skew` (two endpoints with different skews serve measurably different "models"). Costs
 * microseconds per sample, so it measures met's pipeline, not a model.
 */
const WORDS =
  'the of and to in a is that it was for on are as with his they at be this from have or by one had not but what all were when we there can an your which their said if do will each about how up out them then she many some so these would other into has more her two like him see time could no make than first been its who now people my made over did down only way find use may water long little very after words called just where most know'.split(
    ' ',
  );

export class TextGeneratorBackend implements TextBackend {
  constructor(
    readonly model = 'met-text-generator',
    readonly precision: Precision = 'fp32',
    private readonly skew = 0,
  ) {}

  private distribution(prompt: string): number[] {
    let h = 0;
    for (const ch of prompt) h = (Math.imul(h, 31) + ch.codePointAt(0)!) >>> 0;
    // Zipf-like weights, rotated by the prompt and sharpened by the skew.
    return WORDS.map((_, i) => 1 / (1 + ((i + h) % WORDS.length)) ** (1 + this.skew));
  }

  async generate(request: GenerateRequest): Promise<GeneratedCompletion> {
    const random = seededRandom(request.seed);
    const weights = this.distribution(request.prompt);
    const total = weights.reduce((a, b) => a + b, 0);
    const ids: number[] = [];
    const logprobs: number[] = [];
    const n = Math.max(1, Math.min(request.maxTokens, 4 + Math.floor(random() * 12)));
    for (let t = 0; t < n; t++) {
      let r = random() * total;
      let k = 0;
      while (k < weights.length - 1 && r >= weights[k]) r -= weights[k++];
      ids.push(k);
      logprobs.push(Math.log(weights[k] / total));
    }
    const text = ids.map((id) => ` ${WORDS[id]}`).join('');
    return {
      text,
      tokenIds: ids,
      tokenLogprobs: request.logprobs ? logprobs : null,
      finishReason: n < request.maxTokens ? 'stop' : 'length',
      promptTokens: request.prompt.split(/\s+/).length,
    };
  }

  async score(prompt: string, completion: string): Promise<ScoredCompletion> {
    const weights = this.distribution(prompt);
    const total = weights.reduce((a, b) => a + b, 0);
    const words = completion.split(' ').filter(Boolean);
    const ids = words.map((w) => WORDS.indexOf(w));
    return {
      tokenIds: ids,
      tokenTexts: words.map((w) => ` ${w}`),
      tokenLogprobs: ids.map((id) => (id < 0 ? -30 : Math.log(weights[id] / total))),
    };
  }

  async close(): Promise<void> {}
}
