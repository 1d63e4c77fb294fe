import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { GeneratedSample, SampleRequest } from '../../collect/sampleGenerator';
import { SamplingSpec } from '../../config/runSpec';
import { ProviderGenerator } from '../../providers/generator';
import { boundedLines } from '../../providers/transport';

/**
 * Issue #28: a provider's answer is bounded. A 300 MB body and a body that never ends fail the
 * request at the worker's maxResponseBytes (16 MiB by default) without the worker holding more than
 * that, and a completion longer than max_tokens allows is refused; both non-retryable, naming the provider.
 */
let server: http.Server;
let base = '';
/** Bytes the stand-in wrote into the last body, until the client hung up. */
let written = 0;
const MB = 1024 * 1024;

function completion(text: string, usage?: object, tokenIds?: number[]) {
  return JSON.stringify({
    id: 'c1',
    object: 'text_completion',
    created: 1,
    model: 'm',
    choices: [{ index: 0, text, finish_reason: 'length', ...(tokenIds ? { token_ids: tokenIds } : {}) }],
    ...(usage ? { usage } : {}),
  });
}

before(async () => {
  const chunk = Buffer.alloc(MB, 0x61);
  server = http.createServer((req, res) => {
    req.resume();
    const path = req.url ?? '';
    written = 0;
    const pump = (limit: number, tail: string) => {
      res.on('close', () => (limit = 0));
      const go = () => {
        while (written < limit) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', go);
        }
        if (limit > 0) res.end(tail);
      };
      go();
    };
    if (path.startsWith('/huge/')) {
      // 300 MB of completion text, chunked (no content-length): the size shows only while reading.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"choices":[{"index":0,"text":"');
      return pump(300 * MB, '"}]}');
    }
    if (path.startsWith('/forever/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"choices":[{"index":0,"text":"');
      return pump(Infinity, '');
    }
    if (path.startsWith('/slow/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 50);
      return res.on('close', () => clearInterval(t));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (path.startsWith('/long-text/')) return res.end(completion('x'.repeat(100_000)));
    if (path.startsWith('/long-usage/')) return res.end(completion('short', { prompt_tokens: 3, completion_tokens: 500, total_tokens: 503 }));
    // 16 tokens returned (max_tokens 16), 20 billed.
    const ids = Array.from({ length: 16 }, (_, i) => i + 3);
    if (path.startsWith('/inflated/')) return res.end(completion('x'.repeat(16), { prompt_tokens: 3, completion_tokens: 20, total_tokens: 23 }, ids));
    res.end(completion('fine', { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const request: SampleRequest = { flat: 0, promptId: 'p0', promptIndex: 0, sampleIndex: 0, prompt: 'hello', seed: 1 };
const sampling = SamplingSpec.parse({ maxTokens: 16 });

async function sampleFrom(
  kind: string,
  timeoutMs = 30_000,
  onSample: (s: GeneratedSample) => void = () => undefined,
): Promise<{ error: unknown; ms: number; rssGrowthMB: number }> {
  const provider = `hostile-${kind}`;
  const generator = new ProviderGenerator({
    env: {},
    providers: [{ name: provider, baseURL: `${base}/${kind}/v1`, concurrentUnits: 1, timeoutMs }],
    attemptsPerSample: 1,
  });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const error = await generator
    .sample([request], {
      sampling,
      source: { kind: 'provider', provider, model: 'm', concurrency: 1 },
      signal: new AbortController().signal,
      onSample,
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  // ru_maxrss: the process's peak, in KiB; what it grew past the RSS before the request bounds what the request held.
  const rssGrowthMB = (process.resourceUsage().maxRSS * 1024 - rssBefore) / MB;
  return { error, ms: performance.now() - started, rssGrowthMB };
}

test('a 300 MB answer fails at 16 MiB, non-retryable, naming the provider; peak RSS grows by far less than the body', { timeout: 60_000 }, async () => {
  const { error, ms, rssGrowthMB } = await sampleFrom('huge');
  console.log(`300 MB body: failed after ${ms.toFixed(0)} ms, ${(written / MB).toFixed(0)} MB written by the stand-in, peak RSS +${rssGrowthMB.toFixed(0)} MB`);
  assert.ok(error instanceof ApplicationFailure, String(error));
  assert.equal(error.type, 'MetProviderRequest');
  assert.equal(error.nonRetryable, true);
  assert.match(
    error.message,
    /hostile-huge answered more than the worker accepts: the response from http:\/\/127\.0\.0\.1:\d+ is larger than 16,777,216 bytes/,
  );
  assert.ok(rssGrowthMB < 100, `peak RSS grew by ${rssGrowthMB.toFixed(0)} MB`);
  assert.ok(written < 300 * MB, `the stand-in wrote ${written} bytes: the client read it all`);
});

test('an answer that never ends fails the same way, within seconds and bounded memory', { timeout: 60_000 }, async () => {
  const { error, ms, rssGrowthMB } = await sampleFrom('forever');
  console.log(`endless body: failed after ${ms.toFixed(0)} ms, peak RSS +${rssGrowthMB.toFixed(0)} MB`);
  assert.ok(error instanceof ApplicationFailure && error.nonRetryable && /hostile-forever .*larger than 16,777,216 bytes/.test(error.message), String(error));
  assert.ok(ms < 20_000 && rssGrowthMB < 100);
});

test('an answer that trickles forever ends at the worker timeout (retryable: the provider may recover)', { timeout: 30_000 }, async () => {
  const { error, ms } = await sampleFrom('slow', 1500);
  assert.ok(error instanceof ApplicationFailure && !error.nonRetryable && /hostile-slow timed out/.test(error.message), String(error));
  assert.ok(ms < 10_000, `${ms} ms`);
});

test('a completion longer than max_tokens allows is refused, by characters and by the usage count, naming the provider', async () => {
  const text = await sampleFrom('long-text');
  assert.ok(text.error instanceof ApplicationFailure, String(text.error));
  assert.equal(text.error.nonRetryable, true);
  assert.match(
    text.error.message,
    /hostile-long-text ignored max_tokens: a completion of 100,000 characters for max_tokens 16 \(at most 1,024 characters are accepted\)/,
  );
  const usage = await sampleFrom('long-usage');
  assert.ok(usage.error instanceof ApplicationFailure && usage.error.nonRetryable, String(usage.error));
  assert.match(usage.error.message, /hostile-long-usage ignored max_tokens: a completion of 500 tokens \(by its own count\) for max_tokens 16/);
  assert.equal((await sampleFrom('ok')).error, undefined, 'an answer within bounds is taken');
});

test('a bill above the returned tokens is recorded as billed, not refused: the billing audit judges it (issue #30)', async () => {
  const samples: GeneratedSample[] = [];
  const { error } = await sampleFrom('inflated', 30_000, (s) => samples.push(s));
  assert.equal(error, undefined);
  assert.equal(samples.length, 1);
  assert.deepEqual([samples[0].tokenIds?.length, samples[0].completionTokens], [16, 20]);
});

test('a Batch API output file is read a line at a time, within its bounds', async () => {
  const stream = (parts: string[]) =>
    new ReadableStream<Uint8Array>({ start: (c) => (parts.forEach((p) => c.enqueue(new TextEncoder().encode(p))), c.close()) });
  const lines: string[] = [];
  for await (const l of boundedLines(stream(['{"a":1}\n{"b"', ':2}\n', 'é\n']), 1000, 100, (w) => new Error(w))) lines.push(l);
  assert.deepEqual(lines, ['{"a":1}', '{"b":2}', 'é']);
  const consume = async (parts: string[], max: number, line: number) => {
    for await (const _ of boundedLines(stream(parts), max, line, (w) => new Error(w))) void _;
  };
  await assert.rejects(
    consume(
      Array.from({ length: 20 }, () => 'x'.repeat(99) + '\n'),
      1000,
      200,
    ),
    /more than 1,000 bytes/,
  );
  await assert.rejects(consume(['y'.repeat(150), 'y'.repeat(150)], 10_000, 200), /a line longer than 200 bytes/);
});

test("a provider's odd arrays: a null or positive logprob, out-of-range token ids, mismatched lengths are left out, not fatal; duplicate choice indices are named", async () => {
  const { samplesFromResponse } = await import('../../providers/generator');
  const source = { kind: 'provider' as const, provider: 'odd', model: 'm', concurrency: 1 };
  const context = { source, sampling: SamplingSpec.parse({ maxTokens: 16, logprobs: true }), latencyMs: null };
  const choice = (extra: object) => ({ index: 0, text: 'ab', finish_reason: 'stop', ...extra });
  const one = (c: object) => samplesFromResponse({ choices: [c] }, null, [request], context)[0];
  assert.deepEqual(one(choice({ token_ids: [5, 6], logprobs: { token_logprobs: [-0.5, -1] } })).tokenLogprobs, [-0.5, -1]);
  assert.equal(one(choice({ token_ids: [5, 6], logprobs: { token_logprobs: [null, -1] } })).tokenLogprobs, null);
  assert.equal(one(choice({ token_ids: [5, 6], logprobs: { token_logprobs: [0.5, -1] } })).tokenLogprobs, null);
  assert.equal(one(choice({ token_ids: [5, 6], logprobs: { token_logprobs: [-1] } })).tokenLogprobs, null, 'lengths differ');
  assert.equal(one(choice({ token_ids: [-1, 2 ** 40] })).tokenIds, null);
  const chat = { ...context, sampling: SamplingSpec.parse({ maxTokens: 16, logprobs: true, endpoint: 'chat' }) };
  assert.equal(
    samplesFromResponse({ choices: [{ index: 0, message: { content: 'ab' }, logprobs: { content: [{ logprob: null }] } }] }, null, [request], chat)[0]
      .tokenLogprobs,
    null,
  );
  const two = [request, { ...request, flat: 1, sampleIndex: 1 }];
  assert.throws(
    () => samplesFromResponse({ choices: [choice({}), choice({})] }, null, two, context),
    /choices have indices \[0,0\] \(each of 0\.\.1 once expected\)/,
  );
});
