import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DuckDBInstance } from '@duckdb/node-api';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { describeAudit, pauseAudit, resumeAudit, triggerAudit } from '../client/audits';
import { resumeCollection } from '../client/collect';
import { auditState, auditStates, fleetState, recentRuns, type AuditState, type ConsoleSources } from '../client/console';
import { cancelRun, loadRunRecord, startOrAttach, type RunRecord, type RunsAt, type RunState } from '../client/runs';
import { toStages } from '../jobs';
import type { Prices } from '../collect/estimate';
import { Name } from '../common/names';
import { AuditActionBody, AuditBody, AuditsBody, CancelBody, ErrorBody, FleetBody, RunStartedBody, RunsBody, type RunSummaryBody } from './schemas';

/**
 * The web console at `/`: three files from api/web/ (no build step, no CDN, nothing fetched from
 * elsewhere) and the routes they poll (JSON, and the audit charts as SVG drawn here by Vega as
 * met's reports are), documented in the OpenAPI document like the rest. The
 * files hold no data, so they are served without the token; every route with data needs it
 * (server.ts's hook). The page gets a strict Content-Security-Policy: its own script only.
 */
export interface ConsoleOptions {
  client: Client;
  runs: RunsAt;
  dataDir: string;
  /** Queues the fleet view always lists (the API's CPU queue, its health queues). */
  queues: string[];
  prices?: Record<string, Prices>;
}

/** Routes that serve the console's files: answered without the token, never with data. */
export const CONSOLE_FILE_ROUTES = new Set(['/', '/console/:file']);

const WEB = new URL('web/', import.meta.url);

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};
/** A chart opened on its own (not inlined by the page) is a document: nothing in it may load or run. */
const SVG_HEADERS = { 'content-security-policy': "default-src 'none'", 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' };

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function auditBody(a: AuditState): z.infer<typeof AuditBody> {
  return {
    ...a,
    nextFiring: iso(a.nextFiring),
    lastFiring: iso(a.lastFiring),
    endpoints: a.endpoints.map((e) => ({ ...e, lastFiring: iso(e.lastFiring) })),
    firings: a.firings.map((f) => ({ ...f, time: f.time.toISOString() })),
  };
}

const REPORTED = new Set(['powerSimulation', 'consistencyReport']);

/** A run as the runs view shows it: stages summed, and rate and ETA while it runs. */
export function runSummary(record: RunRecord, state: RunState, now = Date.now()): z.infer<typeof RunSummaryBody> {
  const stages = toStages(record.job, state.progress).stages.map((s) => ({ name: s.name, done: s.done, total: s.total, unit: s.unit }));
  const done = stages.reduce((a, s) => a + s.done, 0);
  const total = stages.reduce((a, s) => a + s.total, 0);
  const units = [...new Set(stages.map((s) => s.unit))];
  let ratePerSecond: number | null = null;
  let etaSeconds: number | null = null;
  if (state.status === 'RUNNING') {
    // A collection measures its own rate per source (this execution's samples over its time); the others: done since the start.
    const sources = (state.progress as { sources?: { samplesPerSecond?: number; etaSeconds?: number | null }[] } | undefined)?.sources;
    if (record.job === 'collectCorpus' && sources?.length) {
      ratePerSecond = sources.reduce((a, s) => a + (s.samplesPerSecond ?? 0), 0);
      const etas = sources.map((s) => s.etaSeconds).filter((e): e is number => typeof e === 'number');
      etaSeconds = etas.length ? Math.max(...etas) : null;
    } else if (state.startTime && total > 0) {
      const elapsed = (now - state.startTime.getTime()) / 1000;
      ratePerSecond = elapsed > 0 ? done / elapsed : null;
    }
    if (etaSeconds === null && ratePerSecond) etaSeconds = (total - done) / ratePerSecond;
  }
  return {
    runId: record.runId,
    job: record.job,
    corpus: record.corpus,
    status: state.status,
    createdAt: record.createdAt,
    startTime: state.startTime?.toISOString(),
    closeTime: state.closeTime?.toISOString(),
    stages,
    done,
    total,
    unit: units.length === 1 ? units[0] : undefined,
    ratePerSecond,
    etaSeconds,
    failure: state.failure,
    warnings: state.warnings,
    reportUrl: state.status === 'COMPLETED' && REPORTED.has(record.job) ? `/v1/runs/${encodeURIComponent(record.runId)}/report` : null,
  };
}

export async function registerConsole(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const { client, runs } = options;
  const page = readFileSync(new URL('index.html', WEB), 'utf8');
  const files: Record<string, { type: string; body: string }> = {
    'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('app.js', WEB), 'utf8') },
    'app.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('app.css', WEB), 'utf8') },
  };

  // One DuckDB for the audits tables, opened at the first audit read and closed with the API.
  let duck: Promise<DuckDBInstance> | undefined;
  const bucket = typeof runs === 'string' ? undefined : runs;
  const sources: ConsoleSources = {
    client,
    runs,
    prices: options.prices,
    duck: () => {
      duck ??= import('../datasets/duck').then(({ createDuckDB }) =>
        createDuckDB({ allowedDirectories: [options.dataDir, ...(bucket?.cacheDir ? [bucket.cacheDir] : [])] }),
      );
      return duck;
    },
    readRoot: async (corpus) => {
      if (!bucket?.corpora) return options.dataDir;
      const { openCorpora } = await import('../datasets/corpora');
      return openCorpora(await sources.duck(), bucket).readRoot(corpus, ['audits']);
    },
  };
  app.addHook('onClose', async () => {
    if (duck) (await duck).closeSync();
  });

  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(page));
  app.get<{ Params: { file: string } }>('/console/:file', { schema: { hide: true } }, async (request, reply) => {
    const file = Object.hasOwn(files, request.params.file) ? files[request.params.file] : undefined;
    if (!file) return reply.code(404).send({ error: 'not_found', message: `no console file '${request.params.file}'` });
    return reply.headers(SECURITY_HEADERS).type(file.type).send(file.body);
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 500: ErrorBody, 503: ErrorBody };
  const named = z.object({ name: Name });

  api.get(
    '/v1/audits',
    {
      schema: {
        description: "Every audit: its endpoints' current verdict and last p-value, next firing, paused state, and its recent firings (tokens and cost each)",
        response: { 200: AuditsBody, ...errors },
      },
    },
    async () => ({
      audits: (await auditStates(sources)).map(auditBody),
    }),
  );
  api.get(
    '/v1/audits/:name',
    { schema: { description: 'One audit, as in GET /v1/audits', params: named, response: { 200: AuditBody, ...errors } } },
    async (request) => auditBody(await auditState(sources, await describeAudit(client, request.params.name))),
  );
  // SVG, not JSON: on the plain instance (the zod serializer would quote it), params still validated by zod.
  app.get<{ Params: { name: string }; Querystring: { endpoint?: string } }>(
    '/v1/audits/:name/chart',
    {
      schema: {
        description:
          "The p-value and statistic of each firing over time, verdict changes marked, as SVG (image/svg+xml): the figure of met audit show --html, from the same Vega-Lite spec and colours as met's reports. One endpoint with ?endpoint=MODEL/SOURCE, else all; 404 before the first firing",
        params: named,
        querystring: z.object({ endpoint: z.string().min(1).max(401).optional() }),
        produces: ['image/svg+xml'],
        response: errors,
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const { endpoint } = request.query;
      const state = await auditState(sources, await describeAudit(client, name));
      if (endpoint !== undefined && !state.endpoints.some((e) => e.endpoint === endpoint))
        return reply.code(404).send({ error: 'not_found', message: `audit ${name} has no endpoint ${JSON.stringify(endpoint)}` });
      const firings = endpoint === undefined ? state.firings : state.firings.filter((f) => f.endpoint === endpoint);
      if (firings.length === 0)
        return reply.code(404).send({ error: 'not_found', message: `audit ${name} has no firing${endpoint === undefined ? '' : ` of ${endpoint}`} yet` });
      // Rendered when asked (the page asks again only when a firing is added); Vega loads at the first chart, not with the API.
      const { auditChartSvg } = await import('../report/audit');
      const idPrefix = `c${createHash('sha256')
        .update(`${name}\n${endpoint ?? ''}`)
        .digest('hex')
        .slice(0, 12)}`;
      const svg = await auditChartSvg(firings, { alpha: state.alpha, statistic: state.statistic, title: endpoint ?? `audit ${name}`, idPrefix });
      return reply.headers(SVG_HEADERS).type('image/svg+xml; charset=utf-8').send(svg);
    },
  );
  const actions = {
    pause: (n: string) => pauseAudit(client, n, 'paused from the met console'),
    resume: (n: string) => resumeAudit(client, n, 'resumed from the met console'),
    trigger: (n: string) => triggerAudit(client, n),
  };
  for (const action of ['pause', 'resume', 'trigger'] as const) {
    const what = { pause: "Pause the audit's schedule", resume: 'Resume a paused audit', trigger: 'Fire the audit now (skipped while a firing runs)' }[action];
    api.post(`/v1/audits/:name/${action}`, { schema: { description: what, params: named, response: { 200: AuditActionBody, ...errors } } }, async (request) => {
      await actions[action](request.params.name);
      const d = await describeAudit(client, request.params.name);
      return { name: d.name, action, paused: d.paused };
    });
  }

  api.get(
    '/v1/runs',
    {
      schema: {
        description: 'Recent runs of every kind (newest first): status, progress, rate and ETA, root cause when failed, report link',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
        response: { 200: RunsBody, ...errors },
      },
    },
    async (request) => ({ runs: (await recentRuns(client, runs, request.query.limit)).map(({ record, state }) => runSummary(record, state)) }),
  );
  api.post(
    '/v1/runs/:id/cancel',
    {
      schema: {
        description:
          'Cancel a run (completed shards are kept; resume continues it), as met cancel: a run that has not stopped within waitSeconds (its workflow task keeps failing, or no worker serves it) is terminated',
        params: z.object({ id: Name }),
        querystring: z.object({ waitSeconds: z.coerce.number().min(0).max(120).default(15) }),
        response: { 200: CancelBody, ...errors },
      },
    },
    async (request) => {
      const record = await loadRunRecord(runs, request.params.id);
      const outcome = await cancelRun(client, record, request.query.waitSeconds * 1000);
      return { runId: record.runId, cancelRequested: true, ...outcome };
    },
  );
  api.post(
    '/v1/runs/:id/resume',
    {
      schema: {
        description: 'Resume a failed, cancelled or interrupted run from its record (met resume): it redoes only what is missing',
        params: z.object({ id: Name }),
        response: { 200: RunStartedBody, 202: RunStartedBody, ...errors },
      },
    },
    async (request, reply) => {
      const record = await loadRunRecord(runs, request.params.id);
      const { attached } = record.job === 'collectCorpus' ? await resumeCollection(client, runs, record.runId) : await startOrAttach(client, record);
      return reply
        .code(attached ? 200 : 202)
        .send({ runId: record.runId, job: record.job, workflowId: record.workflowId, attached, statusUrl: `/v1/runs/${encodeURIComponent(record.runId)}` });
    },
  );

  api.get(
    '/v1/fleet',
    {
      schema: {
        description: 'What polls which queue (host, pid, met version, model, GPU, data location), and queues with work but no worker',
        response: { 200: FleetBody, ...errors },
      },
    },
    async () => ({
      queues: await fleetState(client, runs, options.queues),
    }),
  );
}
