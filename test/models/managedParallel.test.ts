/**
 * A managed server with the worker's `parallel: N` (issue #27): the llama.cpp profile starts
 * llama-server with N slots (`-np N`), the backend keeps N sampling requests in flight, and the
 * sampler record's engine names N, so a slice never mixes one request at a time with N unnoticed.
 *
 * No llama-server here (CI does not build one; docs/decoding.md shows a run against the real
 * binary): the argument building is checked as is, and the requests in flight against a stand-in
 * that answers `/completion` in groups of N, once it holds N. A backend that kept fewer in flight
 * would never be answered (the test fails at its timeout); one that sent more is caught when an
 * extra request is read before the group is answered (with the limit removed, 2 runs of 3 failed).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManagedServerBackend, serverCommand } from '../../models/managedServer';

const AT = { modelRef: '/models/gemma-3-270m-Q4_K_M.gguf', model: 'gemma', precision: 'nf4' as const, gpu: 'cpu' as const, port: 8123 };

test('the llama.cpp profile gives llama-server one slot per request in flight: -np 1 by default, -np N at parallel N; other profiles get no -np', () => {
  const llama = { command: '.tools/llama-server/bin/llama-server' };
  const base = ['-m', AT.modelRef, '--host', '127.0.0.1', '--port', '8123', '--alias', 'gemma'];
  assert.deepEqual(serverCommand(llama, AT).args, [...base, '-np', '1']);
  assert.deepEqual(serverCommand(llama, { ...AT, parallel: 1 }).args, [...base, '-np', '1']);
  assert.deepEqual(serverCommand(llama, { ...AT, parallel: 8 }).args, [...base, '-np', '8']);
  // vLLM batches by itself: its command line does not change with N.
  assert.deepEqual(serverCommand({ command: 'vllm' }, { ...AT, parallel: 8 }).args, serverCommand({ command: 'vllm' }, AT).args);
  assert.doesNotMatch(serverCommand({ command: 'vllm' }, { ...AT, parallel: 8 }).args.join(' '), /-np/);
  // Args of the config's own: {parallel} is filled in where they use it, and nothing is added where they do not.
  assert.deepEqual(serverCommand({ command: 'llama-server', args: ['-m', '{model}', '--parallel', '{parallel}'] }, { ...AT, parallel: 3 }).args, [
    '-m',
    AT.modelRef,
    '--parallel',
    '3',
  ]);
  assert.deepEqual(serverCommand({ command: 'llama-server', args: ['-m', '{model}'] }, { ...AT, parallel: 3 }).args, ['-m', AT.modelRef]);
});

test('the sampler record names the managed route with N above one request in flight, and stays as it was at one', () => {
  const options = { model: 'gemma', modelRef: AT.modelRef, precision: 'nf4' as const, gpu: 'cpu' as const };
  const one = new ManagedServerBackend({ ...options, server: { command: 'llama-server', scoring: 'none' } });
  assert.equal(one.parallel, 1);
  // LocalGenerator records `${model} backend` for a backend without an engine: what managed samples always recorded.
  assert.equal(one.samplerEngine, undefined);
  const four = new ManagedServerBackend({ ...options, server: { command: 'llama-server', scoring: 'none' }, parallel: 4 });
  assert.equal(four.parallel, 4);
  assert.equal(
    four.samplerEngine,
    'llama.cpp server (managed; 4 requests in flight, 4 server slots: a sample can depend on what the server decodes beside it)',
  );
  const vllm = new ManagedServerBackend({ ...options, server: { command: 'vllm', scoring: 'none' }, parallel: 4 });
  assert.equal(vllm.samplerEngine, 'vllm server (managed; 4 requests in flight: a sample can depend on what the server decodes beside it)');
});

/** A stand-in llama-server: /health, /props, and /completion answered in groups of `slots` (argv: port, slots); /held says the most it held at once. */
const STAND_IN = `
const http = require('node:http');
const [port, slots] = process.argv.slice(1).map(Number);
let held = [];
let most = 0;
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('{}');
  if (req.url === '/held') return res.end(JSON.stringify({ most }));
  if (req.url !== '/completion') return res.end('{}');
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    held.push({ res, prompt: JSON.parse(body).prompt });
    most = Math.max(most, held.length);
    if (held.length !== slots) return;
    // After the requests that have already arrived are read (setImmediate runs after pending I/O): a fifth would be counted.
    setImmediate(() => {
      const group = held.splice(0, slots);
      for (const h of group) h.res.end(JSON.stringify({ content: ' ' + h.prompt, tokens: [7], stop_type: 'limit', tokens_evaluated: 1 }));
    });
  });
}).listen(port, '127.0.0.1');
`;

test('a managed backend at parallel 4 keeps 4 sampling requests in flight, and no fifth', { timeout: 60_000 }, async () => {
  const backend = await ManagedServerBackend.start({
    server: { command: process.execPath, profile: 'llama.cpp', args: ['-e', STAND_IN, '{port}', '{parallel}'], scoring: 'none', startTimeoutMs: 30_000 },
    modelRef: 'stand-in',
    model: 'stand-in',
    precision: 'fp32',
    gpu: 'cpu',
    parallel: 4,
  });
  try {
    const prompts = Array.from({ length: 12 }, (_, i) => `p${i}`);
    const done = await Promise.all(prompts.map((prompt, seed) => backend.generate({ prompt, seed, maxTokens: 1, temperature: 1, topP: 1 })));
    assert.deepEqual(
      done.map((d) => d.text),
      prompts.map((p) => ` ${p}`),
    );
    const url = backend.stats().url!;
    // Answered in groups of 4: the stand-in held exactly 4 at a time, never a fifth.
    assert.deepEqual(await (await fetch(`${url}/held`)).json(), { most: 4 });
  } finally {
    await backend.close();
  }
});
