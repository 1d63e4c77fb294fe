import { readFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TLSConfig } from '@temporalio/client';
import { ErrorTypes, MetError } from '../common/errors';
import { type MetConfig, temporalAddress } from '../config/schema';

function tlsConfig(config: MetConfig): TLSConfig | undefined {
  const tls = config.temporal.tls;
  if (!tls) return config.temporal.apiKey ? {} : undefined;
  return {
    serverNameOverride: tls.serverNameOverride,
    serverRootCACertificate: tls.serverRootCACertificatePath ? readFileSync(tls.serverRootCACertificatePath) : undefined,
    clientCertPair:
      tls.clientCertPath && tls.clientKeyPath
        ? { crt: readFileSync(tls.clientCertPath), key: readFileSync(tls.clientKeyPath) }
        : undefined,
  };
}

function unreachable(config: MetConfig, err: unknown): MetError {
  const address = temporalAddress(config);
  const hint = config.temporal.address
    ? 'check TEMPORAL_ADDRESS, TLS settings and that the cluster is up'
    : "start the embedded server with 'met server start' (or 'met up')";
  return new MetError(ErrorTypes.TemporalUnavailable, `cannot reach Temporal at ${address}: ${(err as Error).message}. ${hint}.`);
}

/** A client for the CLI, the API and tests. Caller closes `client.connection`. */
export async function connectClient(config: MetConfig): Promise<Client> {
  try {
    const connection = await Connection.connect({
      address: temporalAddress(config),
      tls: tlsConfig(config),
      apiKey: config.temporal.apiKey,
      connectTimeout: '5s',
    });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (err) {
    throw unreachable(config, err);
  }
}

/** The native connection workers poll on. Caller closes it. */
export async function connectWorker(config: MetConfig): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({
      address: temporalAddress(config),
      tls: tlsConfig(config),
      apiKey: config.temporal.apiKey,
    });
  } catch (err) {
    throw unreachable(config, err);
  }
}
