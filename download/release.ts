import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { ErrorTypes, MetError } from '../common/errors';
import type { LogprobRow, SampleRow } from '../datasets/schemas';
import { unitStatus, writeShard } from '../datasets/shards';
import { isNdArray, toRows, unpickle } from './pickle';

/**
 * The MET release (Gao, Liang, Guestrin 2024) into met corpora. Its layout:
 *   samples/{model}-{dataset}-{source}-L={L}-{prompt id}.pkl
 *     local sources (fp32, fp16, int8, nf4, watermark): a numpy int array of token ids per sample
 *     API sources: a dict whose "samples" carry the API's string as "full_completion"
 *   logprobs/{same name}.pkl: {tuple of token ids: logprobs under the fp32 model} (dev set)
 * One pkl file becomes one shard (its unit id is the file name), so a rerun skips converted files.
 * Token-id samples keep their ids; their text is filled in only when a detokenizer is given.
 */
export const LOCAL_SOURCES = ['fp32', 'fp16', 'int8', 'nf4', 'watermark'];

export interface ReleaseFile {
  path: string;
  name: string;
  model: string;
  dataset: string;
  source: string;
  L: number;
  promptIndex: number;
}

/** Parses `{model}-{dataset}-{source}-L={L}-{id}.pkl`; the model name may itself contain '-'. */
export function parseReleaseName(path: string): ReleaseFile | undefined {
  const name = basename(path, '.pkl');
  const m = /^(.+)-([^-]+)-([^-]+)-L=(\d+)-(\d+)$/.exec(name);
  if (!m) return undefined;
  return { path, name, model: m[1], dataset: m[2], source: m[3], L: Number(m[4]), promptIndex: Number(m[5]) };
}

export interface ConvertOptions {
  duck: DuckDBInstance;
  dataDir: string;
  /** The extracted release folder (holding samples/ and optionally logprobs/). */
  root: string;
  corpus: string;
  /** Token ids -> text, for the release's local sources (the model's tokenizer). */
  detokenize?: (model: string, ids: number[]) => string;
  onFile?: (done: number, total: number) => void;
}

export interface ConvertResult {
  files: number;
  skipped: number;
  samples: number;
  logprobs: number;
  /** Files whose names do not follow the release pattern (left alone, listed). */
  unrecognized: string[];
}

const SAMPLING = { temperature: 1, topP: 1, stop: [], endpoint: 'completions' as const };

export async function convertRelease(options: ConvertOptions): Promise<ConvertResult> {
  const samplesDir = join(options.root, 'samples');
  if (!existsSync(samplesDir))
    throw new MetError(ErrorTypes.BadInput, `${options.root} has no samples/ folder: point at the extracted MET release (samples/*.pkl, logprobs/*.pkl)`);
  const names = readdirSync(samplesDir)
    .filter((f) => f.endsWith('.pkl'))
    .sort();
  const result: ConvertResult = { files: 0, skipped: 0, samples: 0, logprobs: 0, unrecognized: [] };
  for (const [i, fileName] of names.entries()) {
    options.onFile?.(i, names.length);
    const file = parseReleaseName(join(samplesDir, fileName));
    if (!file) {
      result.unrecognized.push(fileName);
      continue;
    }
    const partition = { model: file.model, source: file.source };
    const target = { corpus: options.corpus, kind: 'samples' as const, partition, unitId: file.name };
    if ((await unitStatus(options.duck, options.dataDir, target)).state === 'valid') {
      result.skipped++;
      continue;
    }
    const rows = readSamples(file, options);
    await writeShard(options.duck, options.dataDir, target, rows);
    result.files++;
    result.samples += rows.length;

    const logprobPath = join(options.root, 'logprobs', fileName);
    if (existsSync(logprobPath)) {
      const lp = readLogprobs(file, logprobPath, rows, options.corpus);
      const lpTarget = { corpus: options.corpus, kind: 'logprobs' as const, partition: { scorerModel: file.model, ...partition }, unitId: `${file.name}.fp32` };
      await writeShard(options.duck, options.dataDir, lpTarget, lp);
      result.logprobs += lp.length;
    }
  }
  options.onFile?.(names.length, names.length);
  return result;
}

function fail(file: ReleaseFile, why: string): never {
  throw new MetError(ErrorTypes.BadInput, `${file.path}: ${why}`);
}

function readSamples(file: ReleaseFile, options: ConvertOptions): SampleRow[] {
  let value: unknown;
  try {
    value = unpickle(readFileSync(file.path));
  } catch (err) {
    fail(file, `not a readable pickle (${(err as Error).message})`);
  }
  const createdAt = statSync(file.path).mtime;
  const base = {
    corpus: options.corpus,
    runId: 'met-release',
    unitId: file.name,
    model: file.model,
    source: file.source,
    promptSet: 'met-release',
    promptId: `${file.dataset}-${file.promptIndex}`,
    prompt: '',
    tokenLogprobs: null,
    finishReason: 'unknown' as const,
    sampling: { ...SAMPLING, maxTokens: file.L },
    seed: null,
    requestId: null,
    latencyMs: null,
    createdAt,
  };
  if (value instanceof Map) {
    const samples: unknown = value.get('samples');
    if (!Array.isArray(samples)) fail(file, 'an API sample file must be a dict with a "samples" list');
    const providerModel = typeof value.get('model') === 'string' ? (value.get('model') as string) : null;
    return samples.map((s: unknown, sampleIndex: number) => {
      const text: unknown = s instanceof Map ? s.get('full_completion') : typeof s === 'string' ? s : undefined;
      if (typeof text !== 'string') fail(file, `samples[${sampleIndex}] has no "full_completion" string`);
      return { ...base, sampleIndex, completion: text, tokenIds: null, providerModel };
    });
  }
  if (isNdArray(value) || Array.isArray(value)) {
    if (!LOCAL_SOURCES.includes(file.source))
      fail(file, `source '${file.source}' holds token ids, but only local sources (${LOCAL_SOURCES.join(', ')}) should`);
    return toRows(value).map((ids, sampleIndex) => ({
      ...base,
      sampleIndex,
      tokenIds: ids,
      completion: options.detokenize ? options.detokenize(file.model, ids) : null,
      providerModel: null,
    }));
  }
  fail(file, 'expected a numpy array of token ids (local sources) or a dict with "samples" (API sources)');
}

function readLogprobs(file: ReleaseFile, path: string, samples: SampleRow[], corpus: string): LogprobRow[] {
  const value = unpickle(readFileSync(path));
  if (!(value instanceof Map)) fail(file, 'a logprob file must be a dict {token ids: logprobs}');
  const byKey = new Map<string, number[]>();
  for (const [k, v] of value) {
    const ids = (Array.isArray(k) ? k : []).map(Number);
    const lps = isNdArray(v) ? v.data : Array.isArray(v) ? v.map(Number) : fail(file, 'logprobs must be arrays of numbers');
    byKey.set(ids.join(','), lps);
  }
  return samples.flatMap((s) => {
    const lps = byKey.get(s.tokenIds!.join(','));
    if (!lps) return [];
    const sum = lps.reduce((a, b) => a + b, 0);
    return [
      {
        corpus,
        model: s.model,
        source: s.source,
        promptId: s.promptId,
        sampleIndex: s.sampleIndex,
        scorerModel: s.model,
        scorerPrecision: 'fp32',
        tokenIds: s.tokenIds!,
        tokenLogprobs: lps,
        sum,
        count: lps.length,
      },
    ];
  });
}
