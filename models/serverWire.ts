import { z } from 'zod';
import { ErrorTypes, MetError } from '../common/errors';
import { PROFILES, type ServerProfileName } from '../config/serverProfiles';

/**
 * What the wire protocols of a managed server (llamaServerWire.ts: llama-server's native routes;
 * openaiServerWire.ts: the OpenAI API as vLLM and others serve it) need to know of the server they
 * talk to, and the token routes they share: /tokenize and /detokenize, in vLLM's or llama-server's
 * shape as the profile says. Process supervision is managedServer.ts's.
 */
export interface ServerWire {
  /** The served model's name ({name}; vLLM's --served-model-name). */
  readonly model: string;
  readonly profile: ServerProfileName;
  /** Whether the config named the profile (else it was inferred from the command), for messages. */
  readonly profileGiven: boolean;
  readonly requestTimeoutMs: number;
}

const TokenizeResponse = z.object({ tokens: z.array(z.number().int()) });

/**
 * Token ids of a text through the server's /tokenize, in the profile's protocol. No tokens for a
 * non-empty text is an error (a server that does not speak this protocol answers `[]`), never data.
 */
export async function tokenizeAt(wire: ServerWire, url: string, text: string, special: boolean): Promise<number[]> {
  const protocol = PROFILES[wire.profile].tokenizer;
  if (protocol === 'none') throw new MetError(ErrorTypes.BadInput, `profile ${wire.profile} has no tokenizer route`);
  // llama.cpp: parse_special false, as in-process llama.cpp tokenizes ("<s>" in a text is text).
  const body =
    protocol === 'vllm' ? { model: wire.model, prompt: text, add_special_tokens: special } : { content: text, add_special: special, parse_special: false };
  const res = await fetch(`${url}/tokenize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(wire.requestTimeoutMs),
  });
  if (!res.ok) throw new MetError(ErrorTypes.ProviderRequest, `${url}/tokenize answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const tokens = TokenizeResponse.parse(await res.json()).tokens;
  if (text.length > 0 && tokens.length === 0) throw noTokens(wire, `${url}/tokenize`, text);
  return tokens;
}

export function noTokens(wire: ServerWire, where: string, text: string): MetError {
  return new MetError(
    ErrorTypes.ProviderRequest,
    `${where} gave no tokens for a non-empty text (${text.length} characters): the server does not speak profile ${wire.profile}'s protocol${wire.profileGiven ? '' : ' (inferred from the command)'}; set the managed server's profile to the server it runs. Nothing was stored.`,
  );
}

/** Text of token ids through the server's /detokenize, in the profile's protocol. */
export async function detokenizeAt(wire: ServerWire, url: string, ids: number[]): Promise<string> {
  const protocol = PROFILES[wire.profile].tokenizer;
  if (protocol === 'none') throw new MetError(ErrorTypes.BadInput, `profile ${wire.profile} has no detokenize route`);
  const res = await fetch(`${url}/detokenize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(protocol === 'vllm' ? { model: wire.model, tokens: ids } : { tokens: ids }),
    signal: AbortSignal.timeout(wire.requestTimeoutMs),
  });
  if (!res.ok) throw new MetError(ErrorTypes.ProviderRequest, `${url}/detokenize answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const json = (await res.json()) as { prompt?: unknown; content?: unknown };
  const text = protocol === 'vllm' ? json.prompt : json.content;
  if (typeof text !== 'string')
    throw new MetError(ErrorTypes.ProviderRequest, `${url}/detokenize answered without ${protocol === 'vllm' ? 'prompt' : 'content'}`);
  return text;
}
