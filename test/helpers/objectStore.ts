import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from '../../temporal/devServer';
import { PROJECT, startMoto } from '../datasets/helpers';

/**
 * An S3-compatible server on loopback for the bucket tests: moto (Python, an emulation that accepts
 * any credentials; where faults are injected) or SeaweedFS's `weed` (a real object store, built by
 * scripts/ensure-seaweedfs.sh into .tools/seaweedfs/, checking SigV4 signatures against the keys
 * given here).
 */
export type ObjectStoreKind = 'moto' | 'seaweedfs';

export interface ObjectStore {
  kind: ObjectStoreKind;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A client for this store (path-style, its credentials). */
  client(): S3Client;
  stop(): Promise<void>;
}

export const WEED = join(PROJECT, '.tools', 'seaweedfs', 'weed');

export const OBJECT_STORES: ObjectStoreKind[] = ['moto', 'seaweedfs'];

/**
 * Why a test against this store is skipped, or false: SeaweedFS is built by scripts/provision.js
 * whenever a test under test/fleet runs; in CI a missing build fails the test, elsewhere (no Go on
 * this machine) it is skipped with the reason.
 */
export function storeSkip(kind: ObjectStoreKind): string | false {
  const inCi = process.env.CI === 'true' || process.env.CI === '1';
  return kind === 'seaweedfs' && !existsSync(WEED) && !inCi ? `${WEED} not built: run bash scripts/ensure-seaweedfs.sh (needs Go)` : false;
}

export async function startObjectStore(kind: ObjectStoreKind): Promise<ObjectStore> {
  if (kind === 'moto') {
    const moto = await startMoto();
    return withClient({ kind, endpoint: moto.endpoint, accessKeyId: 'test', secretAccessKey: 'test', stop: moto.stop });
  }
  return startSeaweedFS();
}

function withClient(s: Omit<ObjectStore, 'client'>): ObjectStore {
  return {
    ...s,
    client: () =>
      new S3Client({
        endpoint: s.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
      }),
  };
}

/**
 * `weed server` with a master, a volume server, a filer and the S3 gateway in one process, every
 * port a free loopback one, data in a temporary folder, one identity with the keys made here, and
 * no telemetry (nothing leaves the machine). Ready once a signed ListBuckets succeeds.
 */
export async function startSeaweedFS(): Promise<ObjectStore> {
  if (!existsSync(WEED)) throw new Error(`${WEED} is missing: run bash scripts/ensure-seaweedfs.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'met-weed-'));
  const accessKeyId = `met${randomBytes(6).toString('hex')}`;
  const secretAccessKey = randomBytes(20).toString('hex');
  const config = join(dir, 's3.json');
  writeFileSync(
    config,
    JSON.stringify({
      identities: [
        { name: 'met', credentials: [{ accessKey: accessKeyId, secretKey: secretAccessKey }], actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'] },
      ],
    }),
  );
  const ports: number[] = [];
  while (ports.length < 8) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = ports;
  const args = [
    'server',
    `-dir=${join(dir, 'data')}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-master.port=${master}`,
    `-master.port.grpc=${masterGrpc}`,
    '-master.telemetry=false',
    '-master.volumeSizeLimitMB=64',
    '-volume.max=32',
    `-volume.port=${volume}`,
    `-volume.port.grpc=${volumeGrpc}`,
    '-filer',
    `-filer.port=${filer}`,
    `-filer.port.grpc=${filerGrpc}`,
    `-filer.localSocket=${join(dir, 'filer.sock')}`,
    '-s3',
    `-s3.port=${s3}`,
    `-s3.port.grpc=${s3Grpc}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    `-s3.localSocket=${join(dir, 's3.sock')}`,
    `-s3.config=${config}`,
  ];
  mkdirSync(join(dir, 'data'), { recursive: true });
  const child = spawn(WEED, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(late);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const store = withClient({ kind: 'seaweedfs', endpoint: `http://127.0.0.1:${s3}`, accessKeyId, secretAccessKey, stop });
  const probe = store.client();
  const deadline = Date.now() + 90_000;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`weed server exited (${child.exitCode}):\n${log}`);
      try {
        await probe.send(new ListBucketsCommand({}));
        return store;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`weed server's S3 gateway did not answer in 90 s (${(err as Error).message}):\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    probe.destroy();
  }
}
