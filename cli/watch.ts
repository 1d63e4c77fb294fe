import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { RunRecord } from '../client/runs';
import { collectionProgress } from '../client/collect';

/**
 * Follows a run until it closes: a live line per source on a TTY, a plain line every few seconds
 * otherwise (CI logs). Sets a non-zero exit code and prints the failure if the run failed.
 */
export async function watchRun(client: Client, record: RunRecord, intervalMs = 1000): Promise<unknown> {
  const handle = client.workflow.getHandle(record.workflowId);
  const tty = process.stdout.isTTY;
  let lastPlain = 0;
  let printedLines = 0;
  let finished = false;
  const result = handle.result().finally(() => {
    finished = true;
  });
  while (!finished) {
    const progress = record.job === 'collectCorpus' ? await collectionProgress(client, record) : undefined;
    if (progress) {
      const lines = progress.sources.map((s) => {
        const pct = s.total ? s.done / s.total : 1;
        const width = 24;
        const bar = '█'.repeat(Math.round(pct * width)).padEnd(width, '░');
        const eta = s.etaSeconds === null ? '' : ` eta ${Math.ceil(s.etaSeconds)}s`;
        const errors = Object.entries(s.errors).map(([k, v]) => `${k}=${v}`).join(' ');
        return `${`${s.model}/${s.source}`.padEnd(28)} ${bar} ${String(s.done).padStart(8)}/${s.total} ${s.samplesPerSecond.toFixed(0).padStart(6)}/s${eta}${errors ? `  ${errors}` : ''}`;
      });
      if (tty) {
        if (printedLines) process.stdout.write(`\x1b[${printedLines}A`);
        for (const line of lines) process.stdout.write(`\x1b[2K${line}\n`);
        printedLines = lines.length;
      } else if (Date.now() - lastPlain > 5000) {
        lastPlain = Date.now();
        for (const line of lines) console.log(line);
      }
    }
    await Promise.race([result.catch(() => {}), new Promise((r) => setTimeout(r, intervalMs))]);
  }
  try {
    const value = await result;
    console.log(`Run ${record.runId} completed.`);
    return value;
  } catch (err) {
    process.exitCode = 1;
    if (err instanceof WorkflowFailedError) {
      let cause: Error | undefined = err.cause;
      while (cause?.cause instanceof Error) cause = cause.cause;
      console.error(`Run ${record.runId} failed: ${cause?.message ?? err.message}`);
      return undefined;
    }
    throw err;
  }
}
