import type { Command } from 'commander';

/** `met serve`: an OpenAI-compatible server on loopback, with fault injection, for tests and demos. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('serve a local model (or the deterministic text generator) through an OpenAI-compatible API on 127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one; the default is off 8000, where the endpoint you audit likely listens)', '8765')
    .option('--model <file.gguf>', 'a GGUF model to serve with llama.cpp (default: the deterministic text generator)')
    .option('--precision <p>', 'precision label of the served model (fp32|fp16|int8|nf4)', 'fp32')
    .option(
      '--api-style <style>',
      "whose routes and body shapes to answer: vllm (OpenAI's plus echo, prompt_logprobs, token ids, /tokenize) or llama.cpp (llama-server's /completion, /tokenize, /detokenize, /props; no echo)",
      'vllm',
    )
    .option('--claim-model <name>', 'model name to report (a dishonest endpoint claims another model)')
    .option('--gpu <n>', 'pin to one GPU (sets CUDA_VISIBLE_DEVICES before the model loads)')
    .option('--threads <n>', 'CPU threads of --model (default: every core; 1 for a file under 64 MB)', (v) => parseInt(v, 10))
    .option('--context-size <n>', 'tokens per sequence of --model (default 2048)', (v) => parseInt(v, 10))
    .option('--fail-429 <rate>', 'fraction of requests answered 429', parseFloat, 0)
    .option('--retry-after <seconds>', 'Retry-After sent with injected 429s', parseFloat, 1)
    .option('--fail-500 <rate>', 'fraction of requests answered 500', parseFloat, 0)
    .option('--hang <rate>', 'fraction of requests never answered', parseFloat, 0)
    .option('--malformed <rate>', 'fraction of requests answered with malformed JSON', parseFloat, 0)
    .option('--truncate <rate>', 'fraction of responses cut off mid-body', parseFloat, 0)
    .option('--latency <ms>', 'added latency per request', parseFloat, 0)
    .option('--rps <limit>', 'requests per second accepted; more get 429 with Retry-After', parseFloat)
    .option('--seed <n>', 'seed of the fault injection', (v) => parseInt(v, 10), 1)
    .option('--refuse-n', "answer requests with n > 1 with 400 naming 'n' (an endpoint without n, for the n = 1 fallback)")
    .option(
      '--inflate-completion-tokens <fraction>',
      'report this fraction more completion tokens in usage than were generated (0.2: 20% more; a dishonest bill, for the billing audit)',
      parseFloat,
      0,
    )
    .option('--batch-latency <ms>', 'Batch API (/v1/files, /v1/batches): wait this long before processing a batch', parseFloat, 0)
    .action(async (opts: Record<string, string | number | undefined>) => {
      if (opts.gpu !== undefined) process.env.CUDA_VISIBLE_DEVICES = String(opts.gpu);
      const { API_STYLES, startServe } = await import('../serve/server');
      const { z } = await import('zod');
      const apiStyle = z.enum(API_STYLES).safeParse(opts.apiStyle);
      if (!apiStyle.success) throw new Error(`--api-style must be one of ${API_STYLES.join(', ')}, not '${String(opts.apiStyle)}'`);
      const faults = await faultOptions(opts);
      const backend = await loadBackend(opts.model as string | undefined, opts.precision as string, opts.gpu !== undefined, {
        threads: opts.threads as number | undefined,
        contextSize: opts.contextSize as number | undefined,
      });
      const { listenError } = await import('../common/net');
      const server = await startServe({
        backend,
        port: Number(opts.port),
        claimModel: opts.claimModel as string | undefined,
        apiStyle: apiStyle.data,
        seed: opts.seed as number,
        refuseN: Boolean(opts.refuseN),
        batch: { latencyMs: opts.batchLatency as number },
        faults,
      }).catch(async (err: unknown) => {
        await backend.close();
        throw listenError(err, 'met serve', '127.0.0.1', Number(opts.port));
      });
      const routes =
        apiStyle.data === 'llama.cpp'
          ? "llama-server's routes: /health, /props, /v1/models, /completion, /v1/completions, /v1/chat/completions, /v1/embeddings, /tokenize, /detokenize"
          : '/health, /v1/models, /v1/completions (echo, logprobs, prompt_logprobs, n), /v1/chat/completions (n), /v1/embeddings, /v1/files, /v1/batches, /tokenize, /detokenize';
      console.log(`met serve: ${backend.model} (${backend.precision}) at ${server.url} — ${routes}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
      await backend.close();
    });
}

async function loadBackend(model: string | undefined, precision: string, gpu: boolean, sizes: { threads?: number; contextSize?: number } = {}) {
  const { z } = await import('zod');
  const p = z.enum(['fp32', 'fp16', 'int8', 'nf4']).parse(precision);
  if (!model) {
    const { TextGeneratorBackend } = await import('../serve/textGenerator');
    return new TextGeneratorBackend('met-text-generator', p);
  }
  const { loadLlamaBackend } = await import('../models/llama');
  return loadLlamaBackend({ path: model, precision: p, gpu, ...sizes, log: (line) => console.error(line) });
}

/** The fault flags each setting of serve/faults.ts comes from: a refused value names the flag, not the field. */
const FAULT_FLAGS = {
  fail429: ['fail429', '--fail-429'],
  retryAfter: ['retryAfter', '--retry-after'],
  fail500: ['fail500', '--fail-500'],
  hang: ['hang', '--hang'],
  malformed: ['malformed', '--malformed'],
  truncate: ['truncate', '--truncate'],
  rps: ['rps', '--rps'],
  latencyMs: ['latency', '--latency'],
  inflateCompletionTokens: ['inflateCompletionTokens', '--inflate-completion-tokens'],
} as const;

/** The fault flags checked before a model loads; a bad value fails naming its flag (`--inflate-completion-tokens -1`). */
export async function faultOptions(opts: Record<string, string | number | undefined>) {
  const { FaultOptions } = await import('../serve/faults');
  const input = Object.fromEntries(Object.entries(FAULT_FLAGS).map(([field, [opt]]) => [field, opts[opt]]));
  const parsed = FaultOptions.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const [opt, flag] = FAULT_FLAGS[issue.path[0] as keyof typeof FAULT_FLAGS] ?? [undefined, String(issue.path[0])];
  throw new Error(
    `${flag} ${String(opt === undefined ? '' : opts[opt])}: ${issue.message.replace(/^Too (small|big): expected number to be /, 'must be ').replace(/^Invalid input: expected number.*/, 'must be a number')}`,
  );
}
