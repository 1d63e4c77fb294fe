import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { TLSConfig } from '@temporalio/client';
import { ErrorTypes, MetError } from '../common/errors';
import { type MetConfig, temporalAddress } from '../config/schema';

function tlsConfig(config: MetConfig): TLSConfig | undefined {
  const tls = config.temporal.tls;
  if (!tls) return config.temporal.apiKey ? {} : undefined;
  return {
    serverNameOverride: tls.serverNameOverride,
    serverRootCACertificate: tls.serverRootCACertificatePath ? readFileSync(tls.serverRootCACertificatePath) : undefined,
    clientCertPair: tls.clientCertPath && tls.clientKeyPath ? { crt: readFileSync(tls.clientCertPath), key: readFileSync(tls.clientKeyPath) } : undefined,
  };
}

function unreachable(config: MetConfig, err: unknown): MetError {
  const address = temporalAddress(config);
  const source = config.temporal.addressSource;
  const hint = config.temporal.address
    ? `check ${source === '--address' ? 'the address' : 'TEMPORAL_ADDRESS'}, TLS settings and that the cluster is up`
    : source.startsWith('the embedded server recorded')
      ? "that server no longer answers: see 'met server status', or restart it with 'met server stop' and 'met server start' (or 'met up')"
      : `start the embedded server with 'met server start' or 'met up' (same --data), or give the address of a running one with --address or TEMPORAL_ADDRESS`;
  return new MetError(ErrorTypes.TemporalUnavailable, `cannot reach Temporal at ${address} (address from ${source}): ${(err as Error).message}. ${hint}.`);
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

/**
 * A client when Temporal answers, else undefined, within about `timeoutMs`: commands that can
 * say something from the data folder alone (met runs, met status) ask this instead of failing.
 * A TCP probe first, so a stopped server costs milliseconds, not the client's connect timeout.
 */
export async function connectClientIfReachable(config: MetConfig, timeoutMs = 1500): Promise<Client | undefined> {
  if (!(await tcpReachable(temporalAddress(config), Math.min(timeoutMs, 500)))) return undefined;
  try {
    const connection = await Connection.connect({
      address: temporalAddress(config),
      tls: tlsConfig(config),
      apiKey: config.temporal.apiKey,
      connectTimeout: timeoutMs,
    });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch {
    return undefined;
  }
}

/** Whether host:port (or [v6]:port) accepts a TCP connection within timeoutMs. */
export function tcpReachable(address: string, timeoutMs: number): Promise<boolean> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) return Promise.resolve(true); // An address form we don't parse: let the client decide.
  return new Promise((resolve) => {
    const socket = connect({ host: m[1], port: Number(m[2]) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The native connection workers poll on. Caller closes it. */
export async function connectWorker(config: MetConfig): Promise<NativeConnection> {
  // Loaded here: clients (the CLI's run commands) never need the worker's native module.
  const { NativeConnection } = await import('@temporalio/worker');
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
