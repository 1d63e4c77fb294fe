import type { Command } from 'commander';
import { type CommonFlags, commonOptions, withClient } from './config';

/**
 * `met audit create|ls|show|pause|resume|trigger|delete`: endpoint audits as Temporal Schedules
 * (client/audits.ts); each firing is workflow auditFiring on the CPU queue.
 */

const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

export function register(program: Command): void {
  const audit = program.command('audit').description('scheduled audits of endpoints against a reference (Temporal Schedules; alerts on verdict changes)');

  commonOptions(
    audit
      .command('create')
      .argument('<spec>', 'audit spec file (YAML or JSON)')
      .description("create the audit's schedule (audit-NAME); each firing samples every endpoint and tests it")
      .option('--paused', 'create it paused')
      .option('--queue <name>', 'task queue of the firings (default met-cpu)'),
  ).action(async (specPath: string, opts: CommonFlags & { paused?: boolean; queue?: string }) => {
    const { readSpecFile } = await import('../config/load');
    const { parseAuditSpec } = await import('../config/auditSpec');
    const { createAudit } = await import('../client/audits');
    const spec = parseAuditSpec(readSpecFile(specPath), specPath);
    await withClient(opts, async (client, dataDir, config) => {
      // identify's candidates are slices collected beforehand: a missing one is said now, not at the flip.
      (await import('../client/checks')).checkIdentifyCandidates(dataDir, config.corpora, spec);
      const id = await createAudit(client, spec, { paused: opts.paused, taskQueue: opts.queue });
      const every = 'interval' in spec.schedule ? `every ${spec.schedule.interval}` : `cron "${spec.schedule.cron}"`;
      console.log(`Created audit ${spec.name} (schedule ${id}, ${every}${opts.paused ? ', paused' : ''}); rows go to corpus ${spec.corpus}, table audits`);
    });
  });

  commonOptions(audit.command('ls').description('list audits').option('--json', 'print JSON')).action(async (opts: CommonFlags & { json?: boolean }) => {
    const { listAudits } = await import('../client/audits');
    const { formatTable } = await import('./table');
    await withClient(opts, async (client) => {
      const audits = await listAudits(client);
      if (opts.json) return void console.log(JSON.stringify(audits, null, 2));
      if (audits.length === 0) return void console.log('no audits (met audit create SPEC)');
      console.log(
        formatTable(
          ['audit', 'state', 'last firing', 'next firing'],
          audits.map((a) => [
            a.name,
            a.paused ? 'paused' : 'active',
            a.recent.at(-1) ? iso(a.recent.at(-1)!.scheduledAt) : '-',
            a.next[0] ? iso(a.next[0]) : '-',
          ]),
        ),
      );
    });
  });

  commonOptions(
    audit
      .command('show')
      .argument('<name>', 'audit name')
      .description(
        "the audit's firings per endpoint (p-value, verdict) and its verdict changes; exits 3 while an endpoint's current verdict is differs, else 0",
      )
      .option('--json', 'print JSON')
      .option('--html', 'also write a history page (p-value and statistic over time, changes marked) under <data>/reports/audit-NAME/'),
  ).action(async (name: string, opts: CommonFlags & { json?: boolean; html?: boolean }) => {
    const { describeAudit, auditHistory } = await import('../client/audits');
    const { createDuckDB } = await import('../datasets');
    const { formatTable } = await import('./table');
    await withClient(opts, async (client, dataDir, config) => {
      const d = await describeAudit(client, name);
      const duck = await createDuckDB();
      try {
        // With --data s3://..., the audits table is read through this host's cache of the bucket corpus.
        const { openCorpora } = await import('../datasets/corpora');
        const readRoot = config.corpora ? await openCorpora(duck, config).readRoot(d.spec.corpus, ['audits']) : dataDir;
        const { rows, changes } = await auditHistory(duck, readRoot, d.spec);
        // Gate-friendly: 3 while any endpoint's current verdict (its latest firing's) is differs.
        const current = new Map(rows.map((r) => [r.endpoint, r.verdict]));
        const { VERDICT_EXIT } = await import('./output');
        process.exitCode = [...current.values()].includes('differs') ? VERDICT_EXIT.differs : VERDICT_EXIT.consistent;
        const { formatPValue, pValueText } = await import('../common/pvalue');
        // Alerts still being delivered, or given up on (their own workflows: a dead webhook delays no firing).
        const { undeliveredAlerts } = await import('../client/audits');
        const undelivered = await undeliveredAlerts(client, name);
        // Attribution (audit spec identify): kept as JSON in the row, shown parsed.
        const { readFiringIdentify } = await import('../config/auditSpec');
        const identified = rows.map((r) => ({ ...r, identify: readFiringIdentify(r.identify) }));
        if (opts.json)
          return void console.log(
            JSON.stringify({ ...d, rows: identified, changes: changes.map((c) => ({ ...c, identify: readFiringIdentify(c.identify) })), undelivered }, null, 2),
          );
        const { escapeControls } = await import('../common/text');
        for (const u of undelivered) console.log(`alert not delivered: ${u.alertId} (${u.status.toLowerCase()}: ${escapeControls(u.detail, true)})`);
        const every = 'interval' in d.spec.schedule ? `every ${d.spec.schedule.interval}` : `cron "${d.spec.schedule.cron}"`;
        console.log(
          `audit ${name}: ${d.paused ? 'paused' : 'active'}, ${every}; ${d.spec.statistic} at alpha = ${d.spec.alpha}, verdict flips after ${d.spec.confirmations} consecutive firings that disagree with it`,
        );
        if (rows.length === 0) console.log('no firings recorded yet');
        else {
          const tokens = (r: (typeof rows)[number]) => (r.promptTokens === null ? '-' : `${r.promptTokens}/${r.completionTokens}`);
          const { billingOver } = await import('../config/auditSpec');
          // The billing check's column only for an audit that has one: billed/counted, marked above maxRatio.
          const billed = rows.some((r) => r.billingMaxRatio != null);
          const billing = (r: (typeof rows)[number]) =>
            r.billingRatio == null
              ? { text: '-' }
              : {
                  text: `${r.billingRatio.toFixed(3)}${billingOver(r) ? ` > ${r.billingMaxRatio}` : ''}`,
                  style: billingOver(r) ? ('red' as const) : ('green' as const),
                };
          console.log(
            formatTable(
              ['time', 'endpoint', 'p-value', 'reject', 'verdict', 'n', 'requests', 'tokens in/out', ...(billed ? ['billed/counted'] : [])],
              rows.map((r) => [
                iso(r.time),
                r.endpoint,
                pValueText(r.pValue, d.spec.b),
                r.reject ? 'yes' : 'no',
                { text: r.verdict + (r.changed ? ' (changed)' : ''), style: r.verdict === 'differs' ? 'red' : 'green' },
                String(r.n2),
                r.requests == null ? '-' : String(r.requests),
                tokens(r),
                ...(billed ? [billing(r)] : []),
              ]),
            ),
          );
        }
        // What a firing costs, beside the corpus's other audits (a tracking tier beside sample-based tests).
        const { readAuditCosts } = await import('../datasets');
        const costs = await readAuditCosts(duck, readRoot, d.spec.corpus);
        const own = costs.find((c) => c.audit === name);
        if (own) {
          const n = (x: number) => Math.round(x).toLocaleString('en-US');
          const total = (c: (typeof costs)[number]) => c.promptTokens + c.completionTokens;
          console.log(`cost per endpoint firing (mean over recorded firings; audits of corpus ${d.spec.corpus}):`);
          console.log(
            formatTable(
              ['audit', 'statistic', 'firings', 'requests', 'tokens (in+out)', `vs ${name}`],
              [own, ...costs.filter((c) => c !== own)].map((c) => [
                c === own ? `${c.audit} (this)` : c.audit,
                c.statistic,
                String(c.firings),
                n(c.requests),
                `${n(total(c))} (${n(c.promptTokens)}+${n(c.completionTokens)})`,
                c === own || total(own) === 0 ? '' : `${(total(c) / total(own)).toFixed(1)}x the tokens`,
              ]),
            ),
          );
        }
        if (opts.html) {
          const { writeAuditPage } = await import('../report/audit');
          const { join } = await import('node:path');
          const file = await writeAuditPage(join(dataDir, 'reports', `audit-${name}`), {
            name,
            statistic: d.spec.statistic,
            alpha: d.spec.alpha,
            b: d.spec.b,
            confirmations: d.spec.confirmations,
            schedule: every,
            points: rows.map((r) => ({
              time: r.time,
              endpoint: r.endpoint,
              pValue: r.pValue,
              value: r.value,
              verdict: r.verdict,
              changed: r.changed,
              firingId: r.firingId,
              reject: r.reject,
              n: r.n2,
              billingRatio: r.billingRatio,
              billingMaxRatio: r.billingMaxRatio,
              requests: r.requests ?? null,
              promptTokens: r.promptTokens,
              completionTokens: r.completionTokens,
              identify: readFiringIdentify(r.identify),
            })),
          });
          const { dirname } = await import('node:path');
          const { openCorpora } = await import('../datasets/corpora');
          const published = await openCorpora(duck, config).publishFiles(`reports/audit-${name}`, dirname(file));
          console.log(`history page: ${file}${published.startsWith('s3://') ? ` (and ${published}/)` : ''}`);
        }
        console.log(
          changes.length
            ? `verdict changes:\n${changes.map((c) => `  ${iso(c.time)} ${c.endpoint}: ${c.verdict === 'differs' ? 'consistent -> differs' : 'differs -> consistent'} (${formatPValue(c.pValue, d.spec.b)})`).join('\n')}`
            : 'no verdict changes',
        );
        const attributed = identified.filter((r) => r.identify);
        if (attributed.length) {
          const { identifySummary } = await import('../report/identify');
          console.log(
            `identify, where the verdict turned to differs (${d.spec.statistic}, Holm-corrected over ${d.spec.identify?.candidates.length ?? '?'} candidates at alpha = ${d.spec.alpha}):`,
          );
          for (const r of attributed) if (r.identify) console.log(`  ${iso(r.time)} ${r.endpoint}: differs; ${identifySummary(r.identify)}`);
        }
      } finally {
        duck.closeSync();
      }
    });
  });

  const simple: [string, string, (c: import('@temporalio/client').Client, n: string) => Promise<void>, string][] = [
    ['pause', "pause the audit's schedule", async (c, n) => (await import('../client/audits')).pauseAudit(c, n), 'paused'],
    ['resume', 'resume a paused audit', async (c, n) => (await import('../client/audits')).resumeAudit(c, n), 'resumed'],
    ['trigger', 'fire the audit now (skipped if a firing is running)', async (c, n) => (await import('../client/audits')).triggerAudit(c, n), 'triggered'],
    ['delete', "delete the audit's schedule (its rows stay in the corpus)", async (c, n) => (await import('../client/audits')).deleteAudit(c, n), 'deleted'],
  ];
  for (const [command, description, fn, done] of simple) {
    commonOptions(audit.command(command).argument('<name>', 'audit name').description(description)).action(async (name: string, opts: CommonFlags) => {
      await withClient(opts, async (client) => {
        await fn(client, name);
        console.log(`audit ${name} ${done}`);
      });
    });
  }
}
