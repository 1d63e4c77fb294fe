import assert from 'node:assert/strict';
import { test } from 'node:test';
import { followProgress, formatDuration, RateMeter, type ProgressSnapshot, type ProgressStream } from '../../cli/progress';

/** A stream that records what the display writes; `isTTY` decides bars or plain lines. */
function recorder(isTTY: boolean): ProgressStream & { text: () => string } {
  const chunks: string[] = [];
  return {
    isTTY,
    columns: 140,
    write(chunk: string) {
      chunks.push(chunk);
      return true;
    },
    text: () => chunks.join(''),
  };
}

/** A job with two stages advancing by fixed steps per poll, on a fake clock of 1 s per poll. */
function fakeJob(steps: number) {
  let polls = 0;
  let clock = 0;
  const poll = (): ProgressSnapshot => {
    polls++;
    clock += 1000;
    const k = Math.min(polls, steps);
    return {
      stages: [
        { name: 'collect local/F32', done: 10 * k, total: 10 * steps, unit: 'samples', errors: { '429': k > 1 ? 2 : 0 } },
        { name: 'score', done: 5 * k, total: 5 * steps, rate: 5 },
      ],
      finished: polls >= steps,
    };
  };
  return { poll, now: () => clock, polls: () => polls };
}

test('plain mode prints lines with counts, measured rate, ETA and errors, then stops when finished', async () => {
  const out = recorder(false);
  const job = fakeJob(4);
  const result = await followProgress({ poll: job.poll, now: job.now, stream: out, intervalMs: 1, plainIntervalMs: 0, handleSigint: false });
  assert.equal(result.reason, 'finished');
  assert.equal(result.pollErrors, 0);
  const lines = out.text().trim().split('\n');
  assert.match(lines[0], /^\[\+\d+s\] collect local\/F32 +10\/40 +25% +– samples\/s +eta –$/);
  // From the second poll on, 10 samples per fake second: rate 10/s and 2 s left at 20/40.
  assert.ok(
    lines.some((l) => /collect local\/F32 +20\/40 +50% +10\.0 samples\/s +eta 2s +errors 429=2$/.test(l)),
    lines.join('\n'),
  );
  // A stage that reports its own rate shows it.
  assert.ok(
    lines.some((l) => /score +10\/20 +50% +5\.00 items\/s +eta 2s$/.test(l)),
    lines.join('\n'),
  );
  assert.match(lines[lines.length - 2], /collect local\/F32 +40\/40 +100% .* eta 0s/);
  assert.doesNotMatch(out.text(), /\x1b\[/, 'no escape codes in CI logs');
});

test('plain mode prints on change only, at most once per interval', async () => {
  const out = recorder(false);
  let clock = 0;
  let polls = 0;
  await followProgress({
    // 20 polls 100 ms apart; the count moves every poll, but lines may come once per second.
    poll: () => {
      polls++;
      clock += 100;
      return { stages: [{ name: 'cells', done: polls, total: 20 }], finished: polls >= 20 };
    },
    now: () => clock,
    stream: out,
    intervalMs: 1,
    plainIntervalMs: 1000,
    handleSigint: false,
  });
  const lines = out.text().trim().split('\n');
  assert.ok(lines.length >= 2 && lines.length <= 4, lines.join('\n'));
  assert.match(lines[lines.length - 1], /cells +20\/20 +100%/, 'the final state is always printed');
});

test('TTY mode draws cli-progress bars and restores the cursor', async () => {
  const out = recorder(true);
  const job = fakeJob(3);
  const result = await followProgress({ poll: job.poll, now: job.now, stream: out, intervalMs: 1, handleSigint: false });
  assert.equal(result.reason, 'finished');
  const text = out.text();
  assert.match(text, /\x1b\[\?25l/, 'cursor hidden while drawing');
  assert.match(text, /\x1b\[\?25h/, 'cursor shown again');
  assert.match(text, /collect local\/F32 █{20} 100% 30\/30/);
  assert.match(text, /score {13}█{20} 100% 15\/15  5\.00 items\/s  eta 0s/);
  assert.match(text, /errors 429=2/);
});

test('Ctrl-C stops the display cleanly and hands control back', async () => {
  const out = recorder(false);
  const listenersBefore = process.listenerCount('SIGINT');
  let polls = 0;
  const result = await followProgress({
    poll: () => {
      polls++;
      if (polls === 3) setImmediate(() => process.emit('SIGINT'));
      return { stages: [{ name: 'grid', done: polls, total: 100 }] };
    },
    stream: out,
    intervalMs: 5,
    plainIntervalMs: 0,
  });
  assert.equal(result.reason, 'interrupted');
  assert.equal(process.listenerCount('SIGINT'), listenersBefore, 'SIGINT listener removed');
  assert.match(out.text(), /interrupted\n$/);
  assert.equal(polls, 3, 'stopped at once, without another poll');
});

test('Ctrl-C is honoured even while a poll hangs', async () => {
  const out = recorder(false);
  let polls = 0;
  const started = Date.now();
  const result = await followProgress({
    poll: () => {
      polls++;
      if (polls === 1) return { stages: [{ name: 'grid', done: 1, total: 10 }] };
      setTimeout(() => process.emit('SIGINT'), 20);
      return new Promise<ProgressSnapshot>(() => {}); // a query that never answers
    },
    stream: out,
    intervalMs: 5,
    plainIntervalMs: 0,
  });
  assert.equal(result.reason, 'interrupted');
  assert.equal(polls, 2, 'no further poll after the interrupt');
  assert.ok(Date.now() - started < 5000);
  assert.match(out.text(), /grid +1\/10[\s\S]*interrupted\n$/);
});

test('a failing poll is reported and the display keeps going; `until` ends it', async () => {
  const out = recorder(false);
  let polls = 0;
  let release!: () => void;
  const until = new Promise<void>((r) => (release = r));
  const result = await followProgress({
    poll: () => {
      polls++;
      if (polls === 2) throw new Error('query timed out');
      if (polls === 4) release();
      return { stages: [{ name: 'grid', done: polls, total: 10 }] };
    },
    until,
    stream: out,
    intervalMs: 1,
    plainIntervalMs: 0,
    handleSigint: false,
  });
  assert.equal(result.reason, 'finished');
  assert.equal(result.pollErrors, 1);
  assert.match(out.text(), /progress unavailable: query timed out/);
  assert.ok(polls >= 4);
});

test('an aborted signal stops without another poll', async () => {
  const controller = new AbortController();
  let polls = 0;
  const result = await followProgress({
    poll: () => {
      polls++;
      if (polls === 2) controller.abort();
      return { stages: [] };
    },
    signal: controller.signal,
    stream: recorder(false),
    intervalMs: 1,
    handleSigint: false,
  });
  assert.equal(result.reason, 'aborted');
  assert.equal(polls, 2);
});

test('rates come from a sliding window and restart when a stage goes backwards', () => {
  let t = 0;
  const meter = new RateMeter(() => t, 10_000);
  assert.equal(meter.describe({ name: 'a', done: 0, total: 100 }).ratePerSecond, undefined);
  t = 2000;
  const d = meter.describe({ name: 'a', done: 20, total: 100 });
  assert.equal(d.ratePerSecond, 10);
  assert.equal(d.etaSeconds, 8);
  t = 3000;
  assert.equal(meter.describe({ name: 'a', done: 5, total: 100 }).ratePerSecond, undefined, 'restarted stage');
  assert.equal(formatDuration(59.2), '1m00s');
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatDuration(undefined), '–');
});

test('notes (a step being retried) print under the progress once each, in plain lines and bars', async () => {
  for (const tty of [false, true]) {
    const out = recorder(tty);
    const job = fakeJob(4);
    const notes = ['retrying: planPowerGrid is on attempt 2; last failure: MetX: boom', 'retrying: planPowerGrid is on attempt 3; last failure: MetX: boom'];
    await followProgress({
      poll: () => ({ ...job.poll(), notes: notes.slice(0, Math.min(job.polls(), 2)) }),
      now: job.now,
      stream: out,
      intervalMs: 1,
      plainIntervalMs: 0,
      handleSigint: false,
    });
    const text = out.text();
    for (const n of notes) assert.equal(text.split(n).length - 1, 1, `${tty ? 'bars' : 'plain'}: ${n} once in:\n${text}`);
    assert.ok(text.indexOf(notes[0]) < text.indexOf(notes[1]), 'in the order they came');
  }
});
