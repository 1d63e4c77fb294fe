import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server';
import { runStatInput } from '../../cli/statInput';
import { MetError } from '../../common/errors';
import { mulberry32 } from '../../datasets/synthetic';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * Bounded fuzzing of the HTTP API and of met stat's input: valid bodies, mutated at random (keys
 * dropped, values replaced by other types, huge or negative numbers, long or odd strings, extra
 * keys), and random bytes. Every answer must be a 2xx or a 4xx/503 whose body names the field; never
 * a 500, a crash or a hang. Seeded, so a failure replays; the seed and the body are in the message.
 */
let temporal: TestTemporal;
let app: FastifyInstance;
const dataDir = mkdtempSync(join(tmpdir(), 'met-fuzz-'));
// No worker polls this queue: requests that get through validation start workflows that wait (terminated after).
const taskQueue = uniqueName('fuzz-cpu');
const started: string[] = [];

before(async () => {
  temporal = await startTestTemporal();
  app = await buildApi({ client: temporal.client, dataDir, address: temporal.address, namespace: temporal.namespace, taskQueue, requestTimeoutMs: 2000 });
});
after(async () => {
  for (const id of started)
    await temporal.client.workflow
      .getHandle(id)
      .terminate('fuzz test done')
      .catch(() => undefined);
  await app?.close();
  await temporal?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const BASES: Record<string, Json> = {
  '/v1/runs': {
    corpus: 'fz',
    prompts: { set: 'demo', limit: 2 },
    samplesPerPrompt: 2,
    sampling: { maxTokens: 8, temperature: 1 },
    sources: [
      { kind: 'local', model: 'm', precision: 'fp32' },
      { kind: 'provider', provider: 'p', model: 'm' },
    ],
    unitSize: 10,
  },
  '/v1/tests?wait=false': {
    testId: 't1',
    x: { corpus: 'c', model: 'm', source: 'a' },
    y: { corpus: 'c', model: 'm', source: 'b' },
    stat: 'mmd_hamming',
    b: 100,
    L: 50,
  },
  '/v1/perplexity': { texts: ['hello there', 'general kenobi'], models: ['tiny/fp32', { model: 'tiny', precision: 'int8' }] },
  '/v1/consistency': {
    a: { kind: 'local', model: 'm', precision: 'fp32' },
    b: { kind: 'local', model: 'm', precision: 'nf4' },
    prompts: { set: 'demo', limit: 2 },
    samplesPerPrompt: 2,
    scorer: 'm/fp32',
    embed: { kind: 'endpoint', baseURL: 'http://127.0.0.1:9/v1', model: 'e' },
  },
};

function randomValue(rnd: () => number, depth = 0): Json {
  const pick = Math.floor(rnd() * 16);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rnd() < 0.5;
    case 2:
      return [1e308, -1e308, 1e12, -1, 0, 0.5, 2 ** 53 + 1, -0][Math.floor(rnd() * 8)];
    case 3:
      return Math.floor(rnd() * 2000) - 1000;
    case 4:
      return '';
    case 5:
      return 'x'.repeat(Math.floor(rnd() * 20_000));
    case 6:
      return [
        '../../etc/passwd',
        '/etc/passwd',
        'file:///etc/passwd',
        'http://127.0.0.1:1/x',
        '*.parquet',
        'a\u0000b',
        '\ud800',
        'Ω≈ç√',
        '%2e%2e%2f',
        '__proto__',
        'constructor',
      ][Math.floor(rnd() * 11)];
    case 7:
      return depth < 3 ? Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(rnd, depth + 1)) : [];
    case 8:
      return depth < 3 ? { [randomKey(rnd)]: randomValue(rnd, depth + 1) } : {};
    case 9:
      return Array.from({ length: 3000 }, (_, i) => i);
    default:
      return Math.floor(rnd() * 10);
  }
}

function randomKey(rnd: () => number): string {
  return ['extra', 'apiKey', 'key', '__proto__', 'constructor', 'baseURL', 'file', 'set', 'b', 'L', '', 'x'][Math.floor(rnd() * 12)];
}

/** Paths to every value in a JSON value. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function mutate(base: Json, rnd: () => number): Json {
  let v: Json = structuredClone(base);
  const rounds = 1 + Math.floor(rnd() * 3);
  for (let r = 0; r < rounds; r++) {
    const all = paths(v);
    const path = all[Math.floor(rnd() * all.length)];
    if (path.length === 0) {
      if (rnd() < 0.2) v = randomValue(rnd);
      continue;
    }
    let parent: Json = v;
    for (const k of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k];
    const last = path[path.length - 1];
    const op = rnd();
    if (op < 0.3) {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete (parent as Record<string, Json>)[last as string];
    } else if (op < 0.85) {
      (parent as Record<string | number, Json>)[last] = randomValue(rnd);
    } else if (parent && typeof parent === 'object' && !Array.isArray(parent)) {
      (parent as Record<string, Json>)[randomKey(rnd)] = randomValue(rnd);
    }
  }
  return v;
}

/** A 4xx names what to fix: a field path (or the body/parameter/header it is about) first. */
function namesTheField(body: { message?: unknown; issues?: { path: string }[] }): boolean {
  if (typeof body.message !== 'string' || body.message.length === 0) return false;
  if (body.issues) return body.issues.every((i) => typeof i.path === 'string' && i.path.length > 0 && (body.message as string).includes(i.path));
  return /^(\(body\)|\(request\)|[A-Za-z_][\w]*(\.[\w]+)*): /.test(body.message);
}

test('fuzzing the HTTP API: no 500, no crash, no hang; every 4xx names the field', { timeout: 120_000 }, async () => {
  const rnd = mulberry32(16);
  const deadline = Date.now() + 60_000;
  const PER_ENDPOINT = 300;
  const counts: Record<number, number> = {};
  for (const [url, base] of Object.entries(BASES)) {
    for (let i = 0; i < PER_ENDPOINT && Date.now() < deadline; i++) {
      const raw = rnd() < 0.08;
      const body = raw
        ? Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256))).toString('latin1')
        : JSON.stringify(i === 0 ? base : mutate(base, rnd));
      const t0 = Date.now();
      const r = await app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json' } });
      const what = `POST ${url} #${i} (${Date.now() - t0} ms) ${body.slice(0, 300)} -> ${r.statusCode} ${r.body.slice(0, 300)}`;
      counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
      assert.ok(Date.now() - t0 < 5000, `slow: ${what}`);
      assert.ok(r.statusCode < 500 || r.statusCode === 503, what);
      const json = r.json();
      if (r.statusCode >= 400) {
        assert.equal(typeof json.error, 'string', what);
        assert.ok(typeof json.message === 'string' && json.message.length > 0, what);
        if (r.statusCode < 500) assert.ok(namesTheField(json), `the message names no field: ${what}`);
      } else if (json.workflowId) {
        started.push(json.workflowId);
      }
    }
  }
  for (let i = 0; i < 100; i++) {
    const id =
      encodeURIComponent(
        String(randomValue(rnd))
          .slice(0, 300)
          .replace(/[\ud800-\udfff]/g, '\ufffd'),
      ) || 'x';
    for (const url of [`/v1/runs/${id}`, `/v1/runs/${id}/report`]) {
      const r = await app.inject({ method: 'GET', url });
      const what = `GET ${url} -> ${r.statusCode} ${r.body.slice(0, 300)}`;
      assert.ok(r.statusCode < 500, what);
      if (r.statusCode >= 400) assert.ok(namesTheField(r.json()) || r.statusCode === 404, what);
    }
  }
  assert.ok((counts[400] ?? 0) > 200, `mutations reached validation: ${JSON.stringify(counts)}`);
  console.log(`# fuzz statuses: ${JSON.stringify(counts)}`);
});

const STAT_BASE: Json = {
  L: 4,
  m: 2,
  unit: 'char',
  x: { prompts: [0, 0, 1, 1], completions: ['abc', 'abd', 'xy', 'xy'] },
  y: { prompts: [0, 0, 0, 1, 1], completions: ['abc', 'b', 'abc', 'xz', 'x'] },
  stats: ['mmd_hamming', 'two_sample_L1'],
  pvalue: { type: 'permutation', stat: 'mmd_hamming', b: 50, seed: 1 },
};

test('fuzzing met stat input: numbers, or an error that names the field; never a crash or a raw RangeError', { timeout: 120_000 }, async () => {
  const rnd = mulberry32(61);
  const deadline = Date.now() + 60_000;
  let ok = 0;
  let refused = 0;
  for (let i = 0; i < 400 && Date.now() < deadline; i++) {
    const input = i === 0 ? STAT_BASE : mutate(STAT_BASE, rnd);
    const t0 = Date.now();
    try {
      const out = await runStatInput(input);
      const { errors, ...values } = out;
      for (const v of Object.values(values)) assert.equal(typeof v, 'number');
      for (const m of Object.values(errors ?? {})) assert.equal(typeof m, 'string');
      ok++;
    } catch (err) {
      const what = `#${i} ${JSON.stringify(input).slice(0, 300)} -> ${String(err).slice(0, 400)}`;
      assert.ok(err instanceof MetError, `not a MetError: ${what}`);
      // Either zod's list ("  - x.prompts.1: ...") or a message that names the sample or field.
      assert.match(err.message, /(^|\n) {2}- [^\n]+: |\b(x|y|reference|prompt \d+|L|k|b|m|stats?|pvalue)\b/, what);
      refused++;
    }
    assert.ok(Date.now() - t0 < 10_000, `#${i} took ${Date.now() - t0} ms`);
  }
  assert.ok(ok > 0 && refused > 50, `ok ${ok}, refused ${refused}`);
});
