import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { classifyProviderError } from '../../providers/errors';
import { keepAliveFetch, openaiClient } from '../../providers/transport';

// met's keep-alive transport under the official openai client: the client must see exactly what it
// sees on Node's fetch (answers, request ids, errors and their classification), faults included.

const completion = {
  id: 'cmpl-1',
  object: 'text_completion',
  created: 1,
  model: 'served-model',
  choices: [{ index: 0, text: 'héllo 👋', finish_reason: 'stop', logprobs: null }],
};
const seen: { path: string; auth?: string; body: string }[] = [];
let server: http.Server;
let other: http.Server;
let base = '';
let otherBase = '';

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const path = req.url ?? '';
    seen.push({ path, auth: req.headers.authorization, body });
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(value));
    };
    if (path.endsWith('/ok/completions')) return json(200, completion, { 'x-request-id': 'req-42' });
    if (path.endsWith('/limited/completions')) return json(429, { error: { message: 'slow down' } }, { 'retry-after': '2' });
    if (path.endsWith('/denied/completions')) return json(401, { error: { message: 'Incorrect API key provided' } });
    if (path.endsWith('/malformed/completions')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"id": "cmpl-1", "choices": [');
    }
    if (path.endsWith('/truncated/completions')) {
      const text = JSON.stringify(completion);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length + 50) });
      res.write(text.slice(0, 20));
      return setTimeout(() => res.socket?.destroy(), 20);
    }
    if (path.endsWith('/hang/completions')) return; // never answers
    if (path.endsWith('/moved/completions')) {
      res.writeHead(307, { location: `${otherBase}/v1/ok/completions` });
      return res.end();
    }
    if (path.endsWith('/here/completions')) {
      res.writeHead(308, { location: '/v1/ok/completions' });
      return res.end();
    }
    if (path.endsWith('/stream/chat/completions')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const piece of ['one ', 'two']) {
        res.write(
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\n\n`,
        );
      }
      return res.end('data: [DONE]\n\n');
    }
    if (path === '/empty') {
      res.writeHead(204);
      return res.end();
    }
    json(404, { error: { message: `no route ${path}` } });
  });
}

async function listen(s: http.Server): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

before(async () => {
  server = http.createServer(handler);
  other = http.createServer(handler);
  base = await listen(server);
  otherBase = await listen(other);
});
after(() => {
  server.closeAllConnections();
  other.closeAllConnections();
  server.close();
  other.close();
});

const client = (path: string, timeout = 5_000) => openaiClient({ apiKey: 'sk-transport-test-key', baseURL: `${base}/v1/${path}`, maxRetries: 0, timeout });
const params = { model: 'm', prompt: 'say hi', max_tokens: 4 };
const fault = async (path: string, timeout?: number) => {
  try {
    await client(path, timeout).completions.create(params);
  } catch (err) {
    return classifyProviderError(err, { provider: 'test', keyEnv: 'TEST_KEY', secrets: ['sk-transport-test-key'] });
  }
  assert.fail(`expected ${path} to fail`);
};

test('answers parse as on fetch: body, non-BMP text, request id, and the body sent', async () => {
  const viaMet = await client('ok').completions.create(params).withResponse();
  const viaFetch = await new OpenAI({ apiKey: 'sk-transport-test-key', baseURL: `${base}/v1/ok`, maxRetries: 0 }).completions.create(params).withResponse();
  assert.deepEqual(viaMet.data, viaFetch.data);
  assert.equal(viaMet.data.choices[0].text, 'héllo 👋');
  assert.equal(viaMet.request_id, 'req-42');
  const sent = seen.filter((s) => s.path === '/v1/ok/completions');
  assert.equal(sent.at(-1)!.body, sent.at(-2)!.body, 'the same JSON body on both transports');
  assert.equal(sent.at(-2)!.auth, 'Bearer sk-transport-test-key');
});

test('faults classify as on fetch: 429 with Retry-After, 401, malformed, truncated, hang, refused', async () => {
  const limited = await fault('limited');
  assert.equal(limited.kind, 'rate_limited');
  assert.equal(limited.retryAfterMs, 2000);
  const denied = await fault('denied');
  assert.equal(denied.kind, 'auth');
  assert.equal(denied.retryable, false);
  assert.match(denied.message, /set TEST_KEY/);
  assert.equal((await fault('malformed')).kind, 'malformed');
  const truncated = await fault('truncated');
  assert.equal(truncated.kind, 'malformed');
  assert.equal(truncated.retryable, true);
  assert.equal((await fault('hang', 300)).kind, 'timeout');
  const closed = http.createServer();
  const closedBase = await listen(closed);
  await new Promise((resolve) => closed.close(resolve));
  try {
    await openaiClient({ apiKey: 'x', baseURL: closedBase, maxRetries: 0 }).completions.create(params);
    assert.fail('expected a refused connection');
  } catch (err) {
    assert.equal(classifyProviderError(err, { provider: 'test', secrets: [] }).kind, 'connection');
  }
});

test('a caller abort rejects at once with an AbortError', async () => {
  const abort = new AbortController();
  const pending = keepAliveFetch()(`${base}/v1/hang/completions`, { method: 'POST', body: '{}', signal: abort.signal });
  setTimeout(() => abort.abort(), 50);
  await assert.rejects(pending, (err: Error) => err.name === 'AbortError');
});

test('redirects: followed; the key goes along within the origin and is dropped when it leaves', async () => {
  seen.length = 0;
  const same = await client('here').completions.create(params);
  assert.equal(same.model, 'served-model');
  assert.equal(seen.at(-1)!.auth, 'Bearer sk-transport-test-key');
  const moved = await client('moved').completions.create(params);
  assert.equal(moved.model, 'served-model');
  assert.equal(seen.at(-1)!.path, '/v1/ok/completions');
  assert.equal(seen.at(-1)!.auth, undefined, 'no credentials to another origin');
  assert.equal(seen.at(-1)!.body, JSON.stringify(params), '307 keeps the method and body');
});

test('streams: server-sent events arrive through the client as chunks; 204 has no body', async () => {
  const stream = await client('stream').chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'one two');
  const empty = await keepAliveFetch()(`${base}/empty`);
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), '');
});
