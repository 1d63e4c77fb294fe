/**
 * bench/fleet: samples per second of the fleet pipeline (collect from two `met serve` sources, then
 * score with the tiny model) with 1, 2 and 3 worker hosts on S3 (moto on loopback, or SeaweedFS with
 * --store seaweedfs: a real object store, built by scripts/ensure-seaweedfs.sh), against the
 * single-host local-folder pipeline in the same run; then the must-show run: 3 hosts, one
 * SIGKILLed mid-unit, with test/fleet's checks (exactly N sample and N logprob rows by
 * `met corpus stats` from a fresh process and by pyarrow from the bucket, met runs/status from
 * another host).
 *
 *   node --import tsx bench/fleet/fleet.ts [--samples 20000] [--unit 250] [--hosts 1,2,3] [--latency 5] [--no-kill-run] [--store moto|seaweedfs]
 *
 * Every "host" here is a process on this one machine: hosts share its cores, so more hosts add
 * no CPU. What the figures show is the bucket's overhead and that work spreads across hosts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkFleetRun, runPipeline, startFleetEnv, type PipelineResult } from '../../test/fleet/harness';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '20000' },
    unit: { type: 'string', default: '250' },
    hosts: { type: 'string', default: '1,2,3' },
    latency: { type: 'string', default: '5' },
    'no-kill-run': { type: 'boolean', default: false },
    store: { type: 'string', default: 'moto' },
  },
});
const PROMPTS = 40; // the shipped demo set
const perPrompt = Math.ceil(Number(values.samples) / (2 * PROMPTS));
const N = 2 * PROMPTS * perPrompt;
const unitSize = Number(values.unit);
const shardsPerKind = 2 * Math.ceil((PROMPTS * perPrompt) / unitSize);
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

if (values.store !== 'moto' && values.store !== 'seaweedfs') throw new Error(`--store ${values.store}: moto or seaweedfs`);
const env = await startFleetEnv({ latencyMs: Number(values.latency), store: values.store });
const rows: { config: string; hosts: number; storage: string; collectS: number; scoreS: number; samplesPerS: number; collectPerS: number }[] = [];
const record = (config: string, hosts: number, r: PipelineResult, storage: string) => {
  const total = r.collectSeconds + r.scoreSeconds;
  rows.push({
    config,
    hosts,
    storage,
    collectS: r.collectSeconds,
    scoreS: r.scoreSeconds,
    samplesPerS: r.samples / total,
    collectPerS: r.samples / r.collectSeconds,
  });
};
try {
  log(
    `${N} samples (2 sources x ${PROMPTS} prompts x ${perPrompt}), units of ${unitSize}, ${cpus().length} cores, object store ${env.store.kind} at ${env.store.endpoint}`,
  );
  const local = await runPipeline(env, { label: 'local-1', hosts: 1, storage: 'local', prompts: PROMPTS, samplesPerPrompt: perPrompt, unitSize, log });
  if (local.samples !== N) throw new Error(`local run collected ${local.samples} rows, expected ${N}`);
  record('local folder, 1 host', 1, local, 'local');
  for (const hosts of values.hosts.split(',').map(Number)) {
    const r = await runPipeline(env, { label: `s3-${hosts}`, hosts, storage: 's3', prompts: PROMPTS, samplesPerPrompt: perPrompt, unitSize, log });
    if (r.samples !== N) throw new Error(`${hosts}-host run collected ${r.samples} rows, expected ${N}`);
    record(`s3, ${hosts} host${hosts > 1 ? 's' : ''}`, hosts, r, 's3');
  }
  let killed: PipelineResult | undefined;
  if (!values['no-kill-run']) {
    killed = await runPipeline(env, { label: 's3-3-kill', hosts: 3, storage: 's3', prompts: PROMPTS, samplesPerPrompt: perPrompt, unitSize, killHost: 2, log });
    await checkFleetRun(env, killed, { samples: N, prompts: PROMPTS, shardsPerKind });
    log(
      `kill run: host 2 SIGKILLed holding unit(s) ${killed.killedUnits.join(', ')}; checks passed (exactly ${N} samples and ${N} logprobs; met corpus stats from a fresh host; pyarrow from the bucket; met runs/status elsewhere)`,
    );
    record('s3, 3 hosts, one SIGKILLed', 3, killed, 's3');
  }
  const base = rows[0].samplesPerS;
  const lines = [
    `| configuration | collect s | score s | samples/s (collect + score) | collect only samples/s | vs local folder |`,
    `|---|---:|---:|---:|---:|---:|`,
    ...rows.map(
      (r) =>
        `| ${r.config} | ${r.collectS.toFixed(1)} | ${r.scoreS.toFixed(1)} | ${r.samplesPerS.toFixed(0)} | ${r.collectPerS.toFixed(0)} | ${(r.samplesPerS / base).toFixed(2)} |`,
    ),
  ];
  console.log(`${N} samples, units of ${unitSize}, ${cpus().length} cores, ${env.store.kind}\n${lines.join('\n')}`);
  const out = join(import.meta.dirname, '..', 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `fleet-${Date.now()}.json`), JSON.stringify({ samples: N, unitSize, cores: cpus().length, store: env.store.kind, rows }, null, 2));
} finally {
  await env.close();
}
