import { ErrorTypes, MetError } from '../common/errors';
import { PROVIDERS } from './registry';

/**
 * Workers own where their keys go (docs/design.md, "Trust boundaries"). A run spec or request names a
 * provider; the worker config (or met's registry) fixes that provider's endpoint and key variable.
 * A spec may give its own baseURL only for a provider the worker config marks `allowSpecBaseURL`,
 * and no key is ever sent there. A spec may not pick which environment variable is sent as a key.
 */
export interface WorkerEndpoint {
  baseURL?: string;
  apiKeyEnv?: string;
  allowSpecBaseURL?: boolean;
}

export interface TrustedEndpoint {
  /** Base URL override for resolveProvider (undefined: the registry's). */
  baseURL?: string;
  /** Key variable override for resolveProvider. */
  apiKeyEnv?: string;
  /** False when the endpoint came from the spec: the client gets no key. */
  sendKey: boolean;
}

const sameURL = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export function trustedEndpoint(input: {
  provider: string;
  specBaseURL?: string;
  specKeyEnv?: string;
  worker?: WorkerEndpoint;
  /** Where the rule is configured, for messages ("the worker config", ...). */
  where?: string;
}): TrustedEndpoint {
  const { provider, specBaseURL, specKeyEnv, worker } = input;
  const where = input.where ?? `the ${provider} worker's config (providers[].baseURL / apiKeyEnv)`;
  const fixedURL = worker?.baseURL ?? PROVIDERS[provider]?.baseURL;
  const fixedKeyEnv = worker?.apiKeyEnv ?? PROVIDERS[provider]?.keyEnv;
  const specEndpoint = specBaseURL !== undefined && !(fixedURL !== undefined && sameURL(specBaseURL, fixedURL));
  if (specKeyEnv !== undefined && (specEndpoint || specKeyEnv !== fixedKeyEnv)) {
    throw new MetError(
      ErrorTypes.Forbidden,
      `apiKeyEnv ${specKeyEnv} for provider '${provider}' is refused: a run spec may not choose which environment variable a worker sends as a key. Keys and their endpoints are set in ${where}; remove apiKeyEnv from the spec.`,
    );
  }
  if (!specEndpoint) return { baseURL: worker?.baseURL, apiKeyEnv: fixedKeyEnv, sendKey: true };
  if (!worker?.allowSpecBaseURL) {
    throw new MetError(
      ErrorTypes.Forbidden,
      `baseURL for provider '${provider}' is refused: a run spec may give a baseURL only for a provider the worker config marks allowSpecBaseURL: true (and no key is ever sent there). Set the endpoint in ${where}, or remove baseURL from the spec.`,
    );
  }
  return { baseURL: specBaseURL, apiKeyEnv: undefined, sendKey: false };
}
