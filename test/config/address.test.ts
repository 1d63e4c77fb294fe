import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, temporalAddress } from '../../config/schema';
import type { DevServerState } from '../../config/serverState';

/** Which Temporal address a command uses: --address, TEMPORAL_ADDRESS, an explicit port, the recorded embedded server, the default. */
const recorded = (port: number) => (): DevServerState => ({
  pid: 42,
  port,
  uiPort: null,
  ip: '127.0.0.1',
  namespace: 'met',
  dbFile: 'x',
  logFile: 'y',
  binary: 'z',
  startedAt: '',
});
const none = () => undefined;

test('the address comes from --address, then TEMPORAL_ADDRESS, then an explicit port, then server.json, then 7233', () => {
  const at = (flags: object, env: NodeJS.ProcessEnv, rec: () => DevServerState | undefined) => {
    const c = loadConfig({ data: '/tmp/d', ...flags }, env, rec);
    return [temporalAddress(c), c.temporal.addressSource];
  };
  assert.deepEqual(at({ address: 'h:1' }, { TEMPORAL_ADDRESS: 'e:2' }, recorded(17233)), ['h:1', '--address']);
  assert.deepEqual(at({}, { TEMPORAL_ADDRESS: 'e:2' }, recorded(17233)), ['e:2', 'TEMPORAL_ADDRESS']);
  assert.deepEqual(at({ port: '9000' }, {}, recorded(17233)), ['127.0.0.1:9000', '--port']);
  assert.deepEqual(at({}, { MET_TEMPORAL_PORT: '9001' }, recorded(17233)), ['127.0.0.1:9001', 'MET_TEMPORAL_PORT']);
  assert.deepEqual(at({}, {}, recorded(17233)), ['127.0.0.1:17233', 'the embedded server recorded in /tmp/d/temporal/server.json (pid 42)']);
  assert.deepEqual(at({}, {}, none), ['127.0.0.1:7233', 'the default: no embedded server is recorded in /tmp/d/temporal/server.json']);
});

test('a server.json whose process is gone (a reboot, a kill -9) is not used; a live one is', () => {
  const data = mkdtempSync(join(tmpdir(), 'met-address-'));
  try {
    mkdirSync(join(data, 'temporal'));
    const write = (pid: number) => writeFileSync(join(data, 'temporal', 'server.json'), JSON.stringify({ ...recorded(17299)(), pid }));
    write(spawnSync('true').pid);
    assert.equal(temporalAddress(loadConfig({ data }, {})), '127.0.0.1:7233');
    write(process.pid);
    assert.equal(temporalAddress(loadConfig({ data }, {})), '127.0.0.1:17299');
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});
