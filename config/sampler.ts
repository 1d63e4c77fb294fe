import { canonicalJson } from '../common/hash';
import type { SamplingSpec } from './runSpec';

/**
 * The exact sampler a sample was drawn with, stored as JSON in each sample row (`sampler`): the
 * settings sent (or applied locally), the request fields passed through (`extraBody`), and what
 * the source reported back or is (`engine`, `reported`, `ggufType`, `chatTemplate`). Two slices are
 * comparable only when their `settings` agree; `samplerSettingsKey` is what tests compare.
 * Pure (no Node built-ins).
 */
export interface SamplerRecord {
  settings: SamplerSettings;
  /** Who applied the settings: `llama.cpp (in-process)`, `provider:<name>`, or a managed server. */
  engine: string;
  /** The GGUF type of a local model file (Q4_K_M, F32, ...). */
  ggufType?: string;
  /** How a chat prompt was rendered: `gguf` (the model's own template) or `plain` (no template). */
  chatTemplate?: 'gguf' | 'plain';
  /** What the provider answered about itself (model, system_fingerprint), when it did. */
  reported?: Record<string, string>;
}

export interface SamplerSettings {
  temperature: number;
  topP: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  maxTokens: number;
  stop: string[];
  endpoint: 'completions' | 'chat';
  systemPrompt?: string;
  extraBody?: Record<string, unknown>;
}

/** The settings of a run spec's sampling section (and a source's extraBody); neutral values dropped. */
export function samplerSettings(sampling: SamplingSpec, extraBody?: Record<string, unknown>): SamplerSettings {
  const settings: SamplerSettings = {
    temperature: sampling.temperature,
    topP: sampling.topP,
    maxTokens: sampling.maxTokens,
    stop: sampling.stop,
    endpoint: sampling.endpoint,
  };
  if (sampling.topK) settings.topK = sampling.topK;
  if (sampling.minP) settings.minP = sampling.minP;
  if (sampling.repetitionPenalty !== undefined && sampling.repetitionPenalty !== 1) settings.repetitionPenalty = sampling.repetitionPenalty;
  if (sampling.presencePenalty) settings.presencePenalty = sampling.presencePenalty;
  if (sampling.frequencyPenalty) settings.frequencyPenalty = sampling.frequencyPenalty;
  if (sampling.systemPrompt) settings.systemPrompt = sampling.systemPrompt;
  if (extraBody && Object.keys(extraBody).length) settings.extraBody = extraBody;
  return settings;
}

export function samplerJson(record: SamplerRecord): string {
  return canonicalJson(record);
}

/** A comparable key of a stored sampler JSON's settings (null for rows written before the column). */
export function samplerSettingsKey(json: string | null | undefined): string | null {
  if (!json) return null;
  try {
    return canonicalJson((JSON.parse(json) as SamplerRecord).settings ?? null);
  } catch {
    return null;
  }
}
