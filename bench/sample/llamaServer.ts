/**
 * llama.cpp's own server for the sampling benches (bench/sample/gemma.ts, oneSequence.ts): started
 * on a free loopback port, waited for, and timed on seeded /completion requests with `inFlight` at
 * once, so every bench measures llama-server the same way.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from '../../temporal/devServer';

export const LLAMA_SERVER = resolve('.tools/llama-server/bin/llama-server');

export interface CompletionJob {
  prompt: string;
  seed: number;
}

/**
 * Starts llama-server on `model` with `args` (slots, context, threads...), sends `jobs` (temperature
 * 1, no top-k/top-p/min-p, no prompt cache) with `inFlight` at once, stops it; generated tokens per second.
 */
export async function llamaServerTokensPerSecond(model: string, args: string[], jobs: CompletionJob[], tokens: number, inFlight: number): Promise<number> {
  const port = await freePort();
  const child = spawn(LLAMA_SERVER, ['-m', model, '--host', '127.0.0.1', '--port', String(port), ...args], { stdio: 'ignore' });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 600) throw new Error('llama-server did not start');
      await new Promise((r) => setTimeout(r, 200));
    }
    let next = 0;
    let generated = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++];
          const res = await fetch(`http://127.0.0.1:${port}/completion`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              prompt: job.prompt,
              n_predict: tokens,
              temperature: 1,
              top_p: 1,
              top_k: 0,
              min_p: 0,
              seed: job.seed,
              ignore_eos: false,
              cache_prompt: false,
            }),
          });
          const body = (await res.json()) as { timings?: { predicted_n?: number }; tokens_predicted?: number };
          generated += body.timings?.predicted_n ?? body.tokens_predicted ?? 0;
        }
      }),
    );
    return generated / ((performance.now() - t0) / 1000);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
