import cliProgress from 'cli-progress';
import type { ProgressSnapshot, ProgressStage } from '../common/progress';

/**
 * Progress display for long CLI waits (`met power --wait`, `met demo`, `met collect --wait`): one
 * bar per stage or source, fed by polling a function (usually a Temporal query). On a TTY it draws
 * cli-progress bars with rate and ETA; elsewhere (CI logs, pipes) it prints a plain line per stage
 * when something changed, at most every `plainIntervalMs`. Ctrl-C stops the display cleanly (cursor
 * restored, last state printed) and returns 'interrupted': the caller decides what that means
 * (a Temporal run keeps going and can be watched again).
 */

export type { ProgressSnapshot, ProgressStage } from '../common/progress';

export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface FollowProgressOptions {
  poll: () => ProgressSnapshot | Promise<ProgressSnapshot>;
  /** Poll period (default 1000 ms). */
  intervalMs?: number;
  /** Longest silence between plain lines when not on a TTY (default 10 s; lines print only on change, plus a heartbeat every 6 intervals). */
  plainIntervalMs?: number;
  /** Where to draw (default process.stderr, so stdout stays clean for JSON and tables). */
  stream?: ProgressStream;
  /** Force bars (true) or plain lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** Stop when this settles (e.g. a workflow's result). Its rejection is the caller's to handle. */
  until?: Promise<unknown>;
  signal?: AbortSignal;
  /** Stop on SIGINT (default true). While the display runs, Ctrl-C does not kill the process. */
  handleSigint?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

export type ProgressEnd = 'finished' | 'interrupted' | 'aborted';

export interface ProgressResult {
  reason: ProgressEnd;
  last?: ProgressSnapshot;
  /** Polls that threw (a query timing out while a worker restarts, say); the display kept going. */
  pollErrors: number;
}

/** Runs the display until the work finishes, `until` settles, `signal` aborts or Ctrl-C. */
export async function followProgress(opts: FollowProgressOptions): Promise<ProgressResult> {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const now = opts.now ?? Date.now;
  const intervalMs = opts.intervalMs ?? 1000;
  const display = tty ? new BarDisplay(stream) : new PlainDisplay(stream, opts.plainIntervalMs ?? 10_000, now);
  const rates = new RateMeter(now);

  let stopReason: ProgressEnd | undefined;
  let signalStopped!: () => void;
  // Settles on the first stop, so a poll that hangs (a query to an unreachable server) or the
  // wait between polls never holds Ctrl-C up.
  const stopped = new Promise<void>((resolve) => (signalStopped = resolve));
  const stop = (reason: ProgressEnd) => {
    stopReason ??= reason;
    signalStopped();
  };
  const onSigint = () => stop('interrupted');
  const onAbort = () => stop('aborted');
  if (opts.handleSigint ?? true) process.on('SIGINT', onSigint);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop('aborted');
  opts.until?.then(
    () => stop('finished'),
    () => stop('finished'),
  );

  let last: ProgressSnapshot | undefined;
  let pollErrors = 0;
  let sawFinal = false;
  const notesShown = new Set<string>();
  const pollOnce = async (cutoff: Promise<void>) => {
    try {
      const snapshot = await Promise.race([Promise.resolve().then(opts.poll), cutoff.then(() => undefined)]);
      if (!snapshot) return;
      last = snapshot;
      display.draw(snapshot.stages.map((s) => rates.describe(s)));
      for (const note of snapshot.notes ?? []) {
        if (notesShown.has(note)) continue;
        notesShown.add(note);
        display.note(note);
      }
      if (snapshot.finished) {
        sawFinal = true;
        stop('finished');
      }
    } catch (err) {
      pollErrors++;
      display.note(`progress unavailable: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const sleep = (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    return { done: new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), cancel: () => clearTimeout(timer) };
  };

  try {
    while (!stopReason) {
      await pollOnce(stopped);
      if (stopReason) break;
      const pause = sleep(intervalMs);
      await Promise.race([pause.done, stopped]);
      pause.cancel();
    }
    // When the work ended by itself (`until` settled), one last poll, bounded in time, so the final
    // state is what stays on screen. After Ctrl-C or an abort the last drawn state stands.
    if (stopReason === 'finished' && !sawFinal) {
      const limit = sleep(Math.max(2000, 2 * intervalMs));
      await pollOnce(limit.done);
      limit.cancel();
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    opts.signal?.removeEventListener('abort', onAbort);
    display.stop(stopReason === 'interrupted' ? 'interrupted' : undefined);
  }
  return { reason: stopReason ?? 'finished', last, pollErrors };
}

/** A stage with the numbers the display shows. */
export interface DescribedStage extends ProgressStage {
  ratePerSecond: number | undefined;
  etaSeconds: number | undefined;
}

/** Measures rates from successive polls over a sliding window, for producers that do not report one. */
export class RateMeter {
  private readonly history = new Map<string, { t: number; done: number }[]>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly windowMs = 30_000,
  ) {}

  describe(stage: ProgressStage): DescribedStage {
    const t = this.now();
    const h = this.history.get(stage.name) ?? [];
    // A stage that went backwards (restarted) starts a fresh window.
    if (h.length && stage.done < h[h.length - 1].done) h.length = 0;
    h.push({ t, done: stage.done });
    while (h.length > 2 && t - h[0].t > this.windowMs) h.shift();
    this.history.set(stage.name, h);
    let rate = stage.rate;
    if (rate === undefined && h.length >= 2 && t > h[0].t) rate = ((stage.done - h[0].done) * 1000) / (t - h[0].t);
    const remaining = Math.max(0, stage.total - stage.done);
    const eta = remaining === 0 ? 0 : rate && rate > 0 ? remaining / rate : undefined;
    return { ...stage, ratePerSecond: rate, etaSeconds: eta };
  }
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatRate(rate: number | undefined, unit = 'items'): string {
  if (rate === undefined || !Number.isFinite(rate)) return `– ${unit}/s`;
  const digits = rate >= 100 ? 0 : rate >= 10 ? 1 : 2;
  return `${rate.toFixed(digits)} ${unit}/s`;
}

export function formatErrors(errors: ProgressStage['errors']): string {
  if (errors === undefined) return '';
  if (typeof errors === 'number') return errors ? `errors ${errors}` : '';
  const parts = Object.entries(errors)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`);
  return parts.length ? `errors ${parts.join(' ')}` : '';
}

/** One plain line for a stage: "collect F32   120/400  30%  12.3 samples/s  eta 23s  errors 429=2". */
export function plainLine(s: DescribedStage, nameWidth: number): string {
  const pct = s.total > 0 ? Math.floor((100 * s.done) / s.total) : 100;
  const parts = [
    s.name.padEnd(nameWidth),
    `${s.done}/${s.total}`.padStart(13),
    `${String(pct).padStart(3)}%`,
    formatRate(s.ratePerSecond, s.unit),
    `eta ${formatDuration(s.etaSeconds)}`,
    formatErrors(s.errors),
  ];
  return parts.filter(Boolean).join('  ');
}

interface Display {
  draw(stages: DescribedStage[]): void;
  note(message: string): void;
  stop(reason?: 'interrupted'): void;
}

class PlainDisplay implements Display {
  private lastPrinted = -Infinity;
  private lastKey = '';
  private lastStages: DescribedStage[] = [];
  private lastNote = '';
  private readonly started: number;

  constructor(
    private readonly stream: ProgressStream,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {
    this.started = now();
  }

  draw(stages: DescribedStage[]): void {
    this.lastStages = stages;
    const key = JSON.stringify(stages.map((s) => [s.name, s.done, s.total, s.errors]));
    const t = this.now();
    const changed = key !== this.lastKey;
    // Print on change at most every interval; a heartbeat every 6 intervals shows it is alive.
    if ((changed && t - this.lastPrinted >= this.intervalMs) || t - this.lastPrinted >= 6 * this.intervalMs) this.print(stages, key, t);
  }

  note(message: string): void {
    if (message === this.lastNote) return;
    this.lastNote = message;
    this.stream.write(`${message}\n`);
  }

  stop(reason?: 'interrupted'): void {
    const key = JSON.stringify(this.lastStages.map((s) => [s.name, s.done, s.total, s.errors]));
    if (key !== this.lastKey && this.lastStages.length) this.print(this.lastStages, key, this.now());
    if (reason === 'interrupted') this.stream.write('interrupted\n');
  }

  private print(stages: DescribedStage[], key: string, t: number): void {
    const width = Math.max(0, ...stages.map((s) => s.name.length));
    const elapsed = `[+${formatDuration(Math.floor((t - this.started) / 1000))}]`;
    for (const s of stages) this.stream.write(`${elapsed} ${plainLine(s, width)}\n`);
    this.lastPrinted = t;
    this.lastKey = key;
  }
}

interface BarPayload {
  name: string;
  rateText: string;
  etaText: string;
  errorsText: string;
}

class BarDisplay implements Display {
  private readonly multibar: cliProgress.MultiBar;
  private readonly bars = new Map<string, cliProgress.SingleBar>();
  private nameWidth = 0;
  private lastStages: DescribedStage[] = [];

  constructor(private readonly stream: ProgressStream) {
    this.multibar = new cliProgress.MultiBar(
      {
        stream: stream as unknown as NodeJS.WritableStream,
        format: '{name} {bar} {percentage}% {value}/{total}  {rateText}  eta {etaText}{errorsText}',
        barCompleteChar: '█',
        barIncompleteChar: '░',
        barsize: 20,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        // met handles SIGINT itself, so the bars stop before the caller prints anything.
        gracefulExit: false,
        autopadding: true,
        forceRedraw: true,
        linewrap: false,
        // Bars were asked for on a stream that is not a TTY (tests, `--progress=bars` into a pipe).
        noTTYOutput: !stream.isTTY,
        notTTYSchedule: 1000,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  draw(stages: DescribedStage[]): void {
    this.lastStages = stages;
    const width = Math.max(this.nameWidth, ...stages.map((s) => s.name.length));
    const widened = width !== this.nameWidth;
    this.nameWidth = width;
    for (const s of stages) {
      const payload = this.payload(s);
      const bar = this.bars.get(s.name);
      if (!bar) this.bars.set(s.name, this.multibar.create(Math.max(s.total, 0), Math.min(s.done, s.total), payload));
      else {
        if (bar.getTotal() !== s.total) bar.setTotal(s.total);
        bar.update(Math.min(s.done, s.total), payload);
      }
    }
    if (widened) for (const s of this.lastStages) this.bars.get(s.name)?.update(this.payload(s));
    this.multibar.update();
  }

  note(message: string): void {
    this.multibar.log(`${message}\n`);
  }

  stop(reason?: 'interrupted'): void {
    this.multibar.update();
    this.multibar.stop();
    if (reason === 'interrupted') this.stream.write('interrupted\n');
  }

  private payload(s: DescribedStage): BarPayload {
    const errors = formatErrors(s.errors);
    return {
      name: s.name.padEnd(this.nameWidth),
      rateText: formatRate(s.ratePerSecond, s.unit),
      etaText: formatDuration(s.etaSeconds),
      errorsText: errors ? `  ${errors}` : '',
    };
  }
}
