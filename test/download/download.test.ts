import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { ErrorTypes, MetError, NON_RETRYABLE_TYPES } from '../../common/errors';
import { createDuckDB } from '../../datasets/duck';
import { extractTar, extractZip } from '../../download/archive';
import { driveConfirmUrl, fetchFile } from '../../download/http';
import { downloadDataset, type DownloadInput } from '../../workflows/downloadDataset';
import { cpuWorkerPlan } from '../../workers/cpu';
import { exited, spawnMet, waitUntil } from '../helpers/processes';
import { startTestTemporal, uniqueName, type TestTemporal } from '../helpers/temporal';

/**
 * downloadDataset against a loopback HTTP server of this test's own, which can drop connections,
 * ignore Range, corrupt a byte, or serve slowly; it logs every request's Range header.
 */
let temporal: TestTemporal;
let duck: DuckDBInstance;
let server: Server;
let base: string;
const root = mkdtempSync(join(tmpdir(), 'met-download-'));
const payload = randomBytes(3 * 1024 * 1024 + 123);
const sha = createHash('sha256').update(payload).digest('hex');
const requests: { path: string; range?: string }[] = [];
const served = new Map<string, number>();

before(async () => {
  temporal = await startTestTemporal();
  duck = await createDuckDB();
  server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const mode = url.pathname.split('/')[1];
    requests.push({ path: url.pathname, range: req.headers.range });
    const count = (served.get(url.pathname) ?? 0) + 1;
    served.set(url.pathname, count);
    if (mode === 'loop') {
      res.writeHead(302, { location: url.pathname }).end();
      return;
    }
    if (mode === 'tofile') {
      res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      return;
    }
    if (mode === 'redirect') {
      res.writeHead(302, { location: url.pathname.replace('/redirect/', '/plain/') }).end();
      return;
    }
    const range = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const honourRange = mode !== 'norange' && range;
    const start = honourRange ? Number(range[1]) : 0;
    let body = payload.subarray(start);
    if (mode === 'corrupt' || (mode === 'corrupt-once' && count === 1)) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    res.writeHead(honourRange ? 206 : 200, {
      'content-length': String(body.length),
      'content-type': 'application/octet-stream',
      ...(honourRange ? { 'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}` } : {}),
      'accept-ranges': mode === 'norange' ? 'none' : 'bytes',
    });
    if ((mode === 'drop' || mode === 'norange') && count === 1) {
      // Half the file, then the connection dies.
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    if (mode === 'slow') {
      // 256 KiB every 250 ms: about 1 MiB/s, so a worker can be killed mid-file.
      let at = 0;
      const tick = () => {
        if (res.destroyed) return;
        const next = Math.min(at + 256 * 1024, body.length);
        res.write(body.subarray(at, next));
        at = next;
        if (at < body.length) setTimeout(tick, 250);
        else res.end();
      };
      tick();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server?.closeAllConnections();
  await new Promise((ok) => server?.close(ok));
  await temporal?.close();
  duck?.closeSync();
  rmSync(root, { recursive: true, force: true });
});

async function download(name: string, url: string, extra: { sha256?: string; size?: number } = {}) {
  const taskQueue = uniqueName('download-cpu');
  const plan = cpuWorkerPlan({ dataDir: join(root, 'data'), duck, taskQueue });
  const worker = await temporal.createWorker({ taskQueue: plan.taskQueue, activities: plan.activities });
  const input: DownloadInput = {
    entry: { name, description: 'test', files: [{ url, name: 'file.bin', sha256: extra.sha256 ?? sha, size: extra.size ?? payload.length }] },
    dir: join(root, 'downloads'),
  };
  return worker.runUntil(temporal.client.workflow.execute(downloadDataset, { taskQueue, workflowId: uniqueName('download'), args: [input] }));
}

const rangesOf = (path: string) => requests.filter((r) => r.path === path).map((r) => r.range);

test('a connection dropped mid-file resumes with Range; the result matches sha256', { timeout: 60_000 }, async () => {
  const out = await download('dropped', `${base}/drop/file.bin`);
  assert.equal(out.files[0].sha256, sha);
  assert.deepEqual(readFileSync(out.files[0].path), payload);
  const ranges = rangesOf('/drop/file.bin');
  assert.equal(ranges[0], undefined);
  assert.match(ranges[1] ?? '', /^bytes=[1-9]\d*-$/, `second request asks for the rest: ${ranges}`);
  assert.ok(out.files[0].resumedFrom.at(-1)! > 0);
});

test('a server without Range support restarts cleanly from zero', { timeout: 60_000 }, async () => {
  const out = await download('norange', `${base}/norange/file.bin`);
  assert.equal(out.files[0].sha256, sha);
  assert.equal(rangesOf('/norange/file.bin').length, 2);
});

test('a corrupted byte fails verification and downloads again; a source that stays corrupt fails clearly after 3', { timeout: 60_000 }, async () => {
  const once = await download('corrupt-once', `${base}/corrupt-once/file.bin`);
  assert.equal(once.files[0].attempts, 2);
  assert.equal(once.files[0].sha256, sha);
  await assert.rejects(download('corrupt', `${base}/corrupt/file.bin`), (err: unknown) => {
    assert.ok(err instanceof WorkflowFailedError);
    assert.match(String((err.cause as Error).message), /failed verification 3 times \(last: sha256 [0-9a-f]{64}, expected/);
    return true;
  });
  assert.equal(existsSync(join(root, 'downloads', 'corrupt', 'file.bin')), false, 'nothing unverified keeps the final name');
});

test('archives with entries escaping the target folder are refused before anything is written', async () => {
  const dir = join(root, 'evil');
  execFileSync('python3', [
    '-c',
    `import zipfile, tarfile, io, sys
d = sys.argv[1]
import os; os.makedirs(d, exist_ok=True)
with zipfile.ZipFile(d + '/evil.zip', 'w') as z:
    z.writestr('ok.txt', 'fine')
    z.writestr('../escaped.txt', 'evil')
with zipfile.ZipFile(d + '/good.zip', 'w') as z:
    z.writestr('samples/a.txt', 'fine')
with tarfile.open(d + '/evil.tar.gz', 'w:gz') as t:
    data = b'fine'; info = tarfile.TarInfo('ok.txt'); info.size = len(data); t.addfile(info, io.BytesIO(data))
    data = b'evil'; info = tarfile.TarInfo('../../escaped.txt'); info.size = len(data); t.addfile(info, io.BytesIO(data))
with tarfile.open(d + '/link.tar', 'w') as t:
    data = b'fine'; info = tarfile.TarInfo('ok.txt'); info.size = len(data); t.addfile(info, io.BytesIO(data))
    info = tarfile.TarInfo('link'); info.type = tarfile.SYMTYPE; info.linkname = '/etc/passwd'; t.addfile(info)
with tarfile.open(d + '/good.tar', 'w') as t:
    data = b'fine'; info = tarfile.TarInfo('dir/b.txt'); info.size = len(data); t.addfile(info, io.BytesIO(data))`,
    dir,
  ]);
  await assert.rejects(extractZip(join(dir, 'evil.zip'), join(dir, 'out-zip')), /entry '\.\.\/escaped\.txt' would be written outside/);
  assert.equal(existsSync(join(dir, 'out-zip', 'ok.txt')), false, 'refused before the first byte');
  assert.equal(existsSync(join(dir, 'escaped.txt')), false);
  await assert.rejects(extractTar(join(dir, 'evil.tar.gz'), join(dir, 'out-tar'), true), /would be written outside/);
  assert.equal(existsSync(join(dir, 'out-tar', 'ok.txt')), false, 'tar too: refused before the first byte');
  await assert.rejects(extractTar(join(dir, 'link.tar'), join(dir, 'out-link'), false), /'link' is a symbolic link/);
  assert.equal(existsSync(join(dir, 'out-link', 'ok.txt')), false, 'a link later in the tar: nothing written');
  // A tar cut in the middle of an entry: refused, nothing written.
  writeFileSync(join(dir, 'cut.tar'), readFileSync(join(dir, 'good.tar')).subarray(0, 514));
  await assert.rejects(extractTar(join(dir, 'cut.tar'), join(dir, 'out-cut'), false), /ends in the middle of an entry/);
  assert.equal(existsSync(join(dir, 'out-cut', 'dir', 'b.txt')), false);
  assert.equal(await extractZip(join(dir, 'good.zip'), join(dir, 'ok-zip')), 1);
  assert.equal(readFileSync(join(dir, 'ok-zip', 'samples', 'a.txt'), 'utf8'), 'fine');
  assert.equal(await extractTar(join(dir, 'good.tar'), join(dir, 'ok-tar'), false), 1);
  assert.equal(readFileSync(join(dir, 'ok-tar', 'dir', 'b.txt'), 'utf8'), 'fine');
});

test("Google Drive's confirmation page yields the real download URL", () => {
  const html = `<form id="download-form" action="https://drive.usercontent.google.com/download" method="get"><input type="hidden" name="id" value="ABC"><input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-1"></form>`;
  assert.equal(
    driveConfirmUrl(html, 'https://drive.google.com/uc?id=ABC'),
    'https://drive.usercontent.google.com/download?id=ABC&export=download&confirm=t&uuid=u-1',
  );
});

test('fetchFile follows redirects, keeps Range across them, and resumes from the part file when it is shorter than the offset given', async () => {
  const dest = join(root, 'short-part.bin');
  writeFileSync(`${dest}.part`, payload.subarray(0, 1000)); // a machine crash lost what came after byte 1000
  const result = await fetchFile({ url: `${base}/redirect/short-part.bin`, dest, offset: 5000 });
  assert.equal(result.resumedFrom, 1000);
  assert.deepEqual(
    requests.filter((r) => r.path.endsWith('/short-part.bin')).map((r) => [r.path, r.range]),
    [
      ['/redirect/short-part.bin', 'bytes=1000-'],
      ['/plain/short-part.bin', 'bytes=1000-'],
    ],
  );
  assert.ok(readFileSync(`${dest}.part`).equals(payload));
});

test('a redirect loop and a redirect to file:// fail at once, non-retryably, saying why', async () => {
  for (const [mode, why] of [
    ['loop', /more than 10 redirects \(a redirect loop\?\)/],
    ['tofile', /only http and https URLs/],
  ] as const) {
    const before = requests.length;
    await assert.rejects(fetchFile({ url: `${base}/${mode}/x.bin`, dest: join(root, `${mode}.bin`), offset: 0 }), (err: unknown) => {
      assert.ok(err instanceof MetError, `${mode}: ${String(err)}`);
      assert.equal(err.type, ErrorTypes.BadInput);
      assert.ok(NON_RETRYABLE_TYPES.includes(err.type));
      assert.match(err.message, why);
      return true;
    });
    assert.ok(requests.length - before <= 11, `${mode}: ${requests.length - before} requests`);
  }
});

test('a worker killed mid-download: the next worker resumes from the heartbeat offset, not from zero', { timeout: 120_000 }, async () => {
  const taskQueue = uniqueName('download-kill');
  const dataDir = join(root, 'kill-data');
  const args = ['worker', '--queue', taskQueue, '--address', temporal.address, '--data', dataDir];
  const input: DownloadInput = {
    entry: { name: 'slow', description: 'test', files: [{ url: `${base}/slow/file.bin`, name: 'file.bin', sha256: sha, size: payload.length }] },
    dir: join(root, 'downloads-kill'),
    heartbeatTimeoutSeconds: 3,
  };
  const handle = await temporal.client.workflow.start(downloadDataset, { taskQueue, workflowId: uniqueName('download-kill'), args: [input] });
  const first = spawnMet(args);
  let heartbeat = 0;
  await waitUntil(
    'a heartbeat past 1 MiB',
    async () => {
      const d = await handle.describe();
      const details = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
      if (!details?.data) return false;
      heartbeat = (JSON.parse(Buffer.from(details.data).toString('utf8')) as { offset: number }).offset;
      return heartbeat > 1024 * 1024;
    },
    60_000,
  );
  first.kill('SIGKILL');
  assert.equal(await exited(first), 'SIGKILL');
  const second = spawnMet(args);
  try {
    const out = await handle.result();
    assert.equal(out.files[0].sha256, sha);
    const ranges = rangesOf('/slow/file.bin');
    assert.equal(ranges.length, 2, `one request per worker: ${ranges}`);
    const resumed = Number(/bytes=(\d+)-/.exec(ranges[1] ?? '')?.[1]);
    assert.ok(resumed >= heartbeat && resumed > 1024 * 1024, `resumed from byte ${resumed}; last heartbeat seen ${heartbeat}`);
  } finally {
    second.kill('SIGTERM');
    await exited(second);
  }
});
