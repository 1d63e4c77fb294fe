import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../stats/rng';
import { type GgufTensor, type GgufValue, writeGguf } from './gguf';
import type { GgmlType } from './quantize';
import { TINY_CORPUS } from './tinyCorpus';

/**
 * met's tiny llama-architecture models, made from scratch: a SentencePiece-style `llama`
 * tokenizer (<unk>, <s>, </s>, the 256 byte tokens, the corpus's characters and its most frequent
 * merged pieces), and weights shaped so that the model continues text like a bigram model of the
 * embedded corpus: embeddings span the main directions of the token-transition log-probabilities
 * and the output matrix is their least-squares fit; attention and MLP weights are small random
 * perturbations that make the residual stream depend on context. Fixed seed, so the files are
 * byte-identical on every machine. The same F32 weights are then written as F16, Q8_0 and Q4_0 by
 * met's own encoders (1-D norm weights stay F32, as llama.cpp keeps them).
 */
export const TINY_PRECISIONS: { precision: 'fp32' | 'fp16' | 'int8' | 'nf4'; type: GgmlType; fileType: number }[] = [
  { precision: 'fp32', type: 'F32', fileType: 0 },
  { precision: 'fp16', type: 'F16', fileType: 1 },
  { precision: 'int8', type: 'Q8_0', fileType: 7 },
  { precision: 'nf4', type: 'Q4_0', fileType: 2 },
];

export interface TinyOptions {
  seed?: number;
  embedding?: number;
  layers?: number;
  heads?: number;
  feedForward?: number;
  merges?: number;
  /** Multiplies the fitted logits: larger is sharper (less random) text. */
  sharpness?: number;
  /** Scale of the random attention/MLP weights (the part quantization perturbs most visibly). */
  mixing?: number;
  /** A chat template (GGUF tokenizer.chat_template) to write into the files; none by default. */
  chatTemplate?: string;
}

const SPACE = '\u2581';

interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  /** Token ids of the content pieces (characters and merges). */
  index: Map<string, number>;
}

function buildVocab(text: string, merges: number): Vocab {
  const tokens = ['<unk>', '<s>', '</s>'];
  const scores = [0, 0, 0];
  const types = [2, 3, 3];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    scores.push(0);
    types.push(6);
  }
  const norm = text.replace(/ /g, SPACE).replace(/\n/g, '');
  const chars = [...new Set(norm)].sort();
  for (const c of chars) {
    tokens.push(c);
    scores.push(-1000);
    types.push(1);
  }
  // Merged pieces by frequency: bigrams, then extensions of the best bigrams into trigrams.
  const count = (n: number) => {
    const m = new Map<string, number>();
    const arr = [...norm];
    for (let i = 0; i + n <= arr.length; i++) {
      const s = arr.slice(i, i + n).join('');
      m.set(s, (m.get(s) ?? 0) + 1);
    }
    return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  };
  const bigrams = count(2).slice(0, Math.ceil(merges * 0.7));
  const bigramSet = new Set(bigrams.map(([s]) => s));
  const trigrams = count(3)
    .filter(([s]) => bigramSet.has([...s].slice(0, 2).join('')))
    .slice(0, merges - bigrams.length);
  for (const [s, n] of [...bigrams, ...trigrams]) {
    tokens.push(s);
    scores.push(Math.log(n));
    types.push(1);
  }
  const index = new Map<string, number>();
  tokens.forEach((t, i) => types[i] === 1 && index.set(t, i));
  return { tokens, scores, types, index };
}

/** SentencePiece-style merging: start from characters, repeatedly merge the best-scoring adjacent pair. */
export function spmTokenize(text: string, vocab: Vocab): number[] {
  let symbols = [...text.replace(/ /g, SPACE)];
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const id = vocab.index.get(symbols[i] + symbols[i + 1]);
      if (id !== undefined && vocab.scores[id] > bestScore) {
        bestScore = vocab.scores[id];
        best = i;
      }
    }
    if (best < 0) break;
    symbols = [...symbols.slice(0, best), symbols[best] + symbols[best + 1], ...symbols.slice(best + 2)];
  }
  return symbols.map((s) => vocab.index.get(s) ?? 0);
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float());
}

/** Solves (A^T A + lambda I) X = A^T B for X (d x k), A: n x d, B: n x k. */
function ridge(A: Float64Array, n: number, d: number, B: Float64Array, k: number, lambda: number): Float64Array {
  const M = new Float64Array(d * d);
  const R = new Float64Array(d * k);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const x = A[i * d + a];
      for (let b = 0; b < d; b++) M[a * d + b] += x * A[i * d + b];
      for (let c = 0; c < k; c++) R[a * k + c] += x * B[i * k + c];
    }
  }
  for (let a = 0; a < d; a++) M[a * d + a] += lambda;
  // Gaussian elimination with partial pivoting on [M | R].
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(M[r * d + col]) > Math.abs(M[pivot * d + col])) pivot = r;
    if (pivot !== col) {
      for (let c = 0; c < d; c++) [M[col * d + c], M[pivot * d + c]] = [M[pivot * d + c], M[col * d + c]];
      for (let c = 0; c < k; c++) [R[col * k + c], R[pivot * k + c]] = [R[pivot * k + c], R[col * k + c]];
    }
    const p = M[col * d + col];
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = M[r * d + col] / p;
      if (f === 0) continue;
      for (let c = col; c < d; c++) M[r * d + c] -= f * M[col * d + c];
      for (let c = 0; c < k; c++) R[r * k + c] -= f * R[col * k + c];
    }
  }
  for (let a = 0; a < d; a++) for (let c = 0; c < k; c++) R[a * k + c] /= M[a * d + a];
  return R;
}

export interface TinyModel {
  metadata: Record<string, GgufValue>;
  /** F32 weights; the writer encodes the 2-D ones at each precision. */
  tensors: GgufTensor[];
  vocab: Vocab;
}

export function buildTinyModel(options: TinyOptions = {}): TinyModel {
  const seed = options.seed ?? 42;
  const d = options.embedding ?? 64;
  const layers = options.layers ?? 2;
  const heads = options.heads ?? 4;
  const ff = options.feedForward ?? 128;
  const sharpness = options.sharpness ?? 8;
  const mixing = options.mixing ?? 0.02;
  const vocab = buildVocab(TINY_CORPUS, options.merges ?? 90);
  const V = vocab.tokens.length;
  const rng = new Rng(seed);

  // Token-transition log-probabilities of the corpus (add-0.1 smoothing; </s> after a full stop).
  const counts = new Float64Array(V * V).fill(0);
  for (const line of TINY_CORPUS.split('\n').filter(Boolean)) {
    for (const sentence of line.split(/(?<=\.)\s*/).filter(Boolean)) {
      const ids = [1, ...spmTokenize(sentence, vocab), 2];
      for (let i = 0; i + 1 < ids.length; i++) counts[ids[i] * V + ids[i + 1]]++;
    }
  }
  const content = vocab.tokens.map((_, i) => vocab.types[i] === 1 || i === 2);
  const target = new Float64Array(V * V);
  for (let v = 0; v < V; v++) {
    let total = 0;
    for (let u = 0; u < V; u++) if (content[u]) total += counts[v * V + u] + 0.1;
    let mean = 0;
    for (let u = 0; u < V; u++) {
      const lp = content[u] ? Math.log((counts[v * V + u] + 0.1) / total) : -12;
      target[v * V + u] = lp * sharpness;
      mean += target[v * V + u] / V;
    }
    for (let u = 0; u < V; u++) target[v * V + u] -= mean;
  }

  // Embeddings: random directions plus one constant component (rms 1), so the fit can give every
  // token a context-independent offset (byte and control tokens far down); the output matrix fits
  // the targets by ridge regression.
  const E = new Float64Array(V * d);
  for (let v = 0; v < V; v++) {
    let ss = 0;
    for (let a = 0; a < d; a++) ss += (E[v * d + a] = a === 0 ? 3 : gaussian(rng)) ** 2;
    const s = Math.sqrt(ss / d);
    for (let a = 0; a < d; a++) E[v * d + a] /= s;
  }
  const W = ridge(E, V, d, target, V, 1.0); // d x V: logits_u = sum_a E_a W[a, u]

  const f32 = (n: number, fill: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => fill(i));
  const noise = (n: number, scale: number) => f32(n, () => gaussian(rng) * scale);
  const tensors: GgufTensor[] = [
    { name: 'token_embd.weight', dims: [d, V], type: 'F32', values: f32(V * d, (i) => E[i]) },
    { name: 'output_norm.weight', dims: [d], type: 'F32', values: f32(d, () => 1) },
    // output.weight is [d, V] in ggml order: row u (contiguous d values) is W[:, u].
    { name: 'output.weight', dims: [d, V], type: 'F32', values: f32(V * d, (i) => W[(i % d) * V + Math.floor(i / d)]) },
  ];
  for (let l = 0; l < layers; l++) {
    tensors.push(
      { name: `blk.${l}.attn_norm.weight`, dims: [d], type: 'F32', values: f32(d, () => 1) },
      { name: `blk.${l}.attn_q.weight`, dims: [d, d], type: 'F32', values: noise(d * d, 0.3) },
      { name: `blk.${l}.attn_k.weight`, dims: [d, d], type: 'F32', values: noise(d * d, 0.3) },
      { name: `blk.${l}.attn_v.weight`, dims: [d, d], type: 'F32', values: noise(d * d, mixing) },
      { name: `blk.${l}.attn_output.weight`, dims: [d, d], type: 'F32', values: noise(d * d, mixing) },
      { name: `blk.${l}.ffn_norm.weight`, dims: [d], type: 'F32', values: f32(d, () => 1) },
      { name: `blk.${l}.ffn_gate.weight`, dims: [d, ff], type: 'F32', values: noise(d * ff, 0.1) },
      { name: `blk.${l}.ffn_up.weight`, dims: [d, ff], type: 'F32', values: noise(d * ff, 0.1) },
      { name: `blk.${l}.ffn_down.weight`, dims: [ff, d], type: 'F32', values: noise(ff * d, mixing) },
    );
  }
  const metadata: Record<string, GgufValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'general.name': { type: 'string', value: 'met-tiny' },
    'general.alignment': { type: 'u32', value: 32 },
    'llama.context_length': { type: 'u32', value: 512 },
    'llama.embedding_length': { type: 'u32', value: d },
    'llama.block_count': { type: 'u32', value: layers },
    'llama.feed_forward_length': { type: 'u32', value: ff },
    'llama.attention.head_count': { type: 'u32', value: heads },
    'llama.attention.head_count_kv': { type: 'u32', value: heads },
    'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
    'llama.rope.dimension_count': { type: 'u32', value: d / heads },
    'llama.vocab_size': { type: 'u32', value: V },
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'strings', value: vocab.tokens },
    'tokenizer.ggml.scores': { type: 'f32s', value: vocab.scores },
    'tokenizer.ggml.token_type': { type: 'i32s', value: vocab.types },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: 1 },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: 2 },
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    'tokenizer.ggml.add_space_prefix': { type: 'bool', value: false },
    ...(options.chatTemplate === undefined ? {} : { 'tokenizer.chat_template': { type: 'string', value: options.chatTemplate } }),
  };
  return { metadata, tensors, vocab };
}

/** Writes tiny-F32.gguf, tiny-F16.gguf, tiny-Q8_0.gguf and tiny-Q4_0.gguf; returns their paths by precision. */
export function writeTinyModels(dir: string, options: TinyOptions = {}): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const model = buildTinyModel(options);
  const paths: Record<string, string> = {};
  for (const { precision, type, fileType } of TINY_PRECISIONS) {
    const path = join(dir, `tiny-${type}.gguf`);
    const tensors = model.tensors.map((t) => ({ ...t, type: t.dims.length === 2 ? type : ('F32' as const) }));
    writeGguf(path, { ...model.metadata, 'general.file_type': { type: 'u32', value: fileType } }, tensors);
    paths[precision] = path;
  }
  return paths;
}
