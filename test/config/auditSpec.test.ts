import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { firingStamp } from '../../config/auditSpec';

/** A UUIDv7 as Temporal's server makes run ids (RFC 9562: 48-bit Unix milliseconds, version, random bits). */
function uuidV7(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (b[6] & 0x0f);
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

test('two firings started in the same second get distinct stamps (and so distinct slices)', () => {
  const at = Date.UTC(2026, 11, 6, 11, 30, 7, 120);
  // Run ids of two firings 300 ms apart (a trigger and the schedule's tick), and two in the same millisecond.
  const pairs = [
    [uuidV7(at), uuidV7(at + 300)],
    [uuidV7(at), uuidV7(at)],
  ];
  for (const [a, b] of pairs) {
    assert.notEqual(firingStamp(at, a), firingStamp(at + 300, b), `${a} / ${b}`);
    // What firings before the patch did: the run id's head is the clock, the same for both.
    assert.equal(firingStamp(at, a, 'head'), firingStamp(at + 300, b, 'head'));
  }
  // Real run ids from this project's recorded histories (test/replay/histories), a few seconds apart.
  assert.notEqual(firingStamp(at, '01a22c83-7ffc-7089-89af-250c316f24ee'), firingStamp(at, '01a22c83-6840-7ab4-a6ba-62a17521f436'));
  assert.equal(firingStamp(at, '01a22c83-7ffc-7089-89af-250c316f24ee'), '20261206T113007Z-316f24ee');
  // 1,000 firings in one second: no two stamps alike.
  const stamps = new Set(Array.from({ length: 1000 }, (_, i) => firingStamp(at, uuidV7(at + i))));
  assert.equal(stamps.size, 1000);
});
