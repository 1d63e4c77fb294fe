import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * The one source of truth for met's process configuration (CLI, workers, API). Parsed once from
 * flags and the environment; tests pass their own `env` record instead of editing process.env.
 * API keys are not here: provider workers read them from their own environment (providers/).
 */
export const TemporalSettings = z.object({
  /** host:port of the Temporal frontend. Unset: the embedded dev server on 127.0.0.1:<port>. */
  address: z.string().min(1).optional(),
  namespace: z.string().min(1).default('met'),
  /** Port of the embedded dev server (gRPC); the web UI is on port + 1000. */
  embeddedPort: z.coerce.number().int().min(1).max(65535).default(7233),
  tls: z
    .object({
      serverNameOverride: z.string().optional(),
      serverRootCACertificatePath: z.string().optional(),
      clientCertPath: z.string().optional(),
      clientKeyPath: z.string().optional(),
    })
    .optional(),
  apiKey: z.string().optional(),
});
export type TemporalSettings = z.infer<typeof TemporalSettings>;

export const MetConfig = z.object({
  /** Where corpora, models, the embedded server's SQLite file and logs live. */
  dataDir: z.string().min(1),
  temporal: TemporalSettings,
});
export type MetConfig = z.infer<typeof MetConfig>;

export interface ConfigFlags {
  data?: string;
  address?: string;
  namespace?: string;
  port?: number | string;
}

/** Builds the config from flags, then the environment, then defaults. */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env): MetConfig {
  const tlsEnv = {
    serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME,
    serverRootCACertificatePath: env.TEMPORAL_TLS_CA,
    clientCertPath: env.TEMPORAL_TLS_CERT,
    clientKeyPath: env.TEMPORAL_TLS_KEY,
  };
  const anyTls = Object.values(tlsEnv).some(Boolean) || env.TEMPORAL_TLS === '1';
  return MetConfig.parse({
    dataDir: resolve(flags.data || env.MET_DATA || '.met'),
    temporal: {
      address: flags.address || env.TEMPORAL_ADDRESS || undefined,
      namespace: flags.namespace || env.TEMPORAL_NAMESPACE || undefined,
      embeddedPort: flags.port || env.MET_TEMPORAL_PORT || undefined,
      tls: anyTls ? tlsEnv : undefined,
      apiKey: env.TEMPORAL_API_KEY || undefined,
    },
  });
}

/** The address clients connect to: the configured cluster, or the embedded server. */
export function temporalAddress(config: MetConfig): string {
  return config.temporal.address ?? `127.0.0.1:${config.temporal.embeddedPort}`;
}

export function isEmbedded(config: MetConfig): boolean {
  return config.temporal.address === undefined;
}
