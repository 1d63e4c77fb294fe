import { randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP, type AddressInfo } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { launchCollection } from '../client/collect';
import { launchConsistency } from '../client/consistency';
import { runIdentify } from '../client/identify';
import { loadRunRecord, newRunRecord, runState, runStatus, saveRunRecord, startOrAttach, type RunRecord, type RunsAt } from '../client/runs';
import { ErrorTypes, MetError } from '../common/errors';
import { Name } from '../common/names';
import type { Prices } from '../collect/estimate';
import { ConsistencySpec } from '../config/consistencySpec';
import { IdentifySpec } from '../config/identifySpec';
import { type MetConfig, temporalAddress } from '../config/schema';
import { connectClient } from '../temporal/connect';
import { PerplexityRequest } from '../config/perplexitySpec';
import { RunSpec } from '../config/runSpec';
import { identifyPageHtml } from '../report/identify';
import { formatP, verdictOf } from '../report/tables';
import { TestSpec } from '../config/testSpec';
import type { ShardKind } from '../datasets/tables';
import { hasReport, JOBS, REPORTED, reportOf, resultOf, toStages } from '../jobs';
import { CPU_TASK_QUEUE, modelTaskQueue } from '../temporal/queues';
import { CONSOLE_FILE_ROUTES, registerConsole } from './console';
import { ErrorBody, HealthBody, IdentifyBody, PerplexityBody, RunStartedBody, RunStateBody, TestOutcomeBody } from './schemas';

/** The shortest bearer token the API accepts. */
export const MIN_TOKEN_LENGTH = 16;
/**
 * `met api`: met's HTTP API. Every request that does work is its own workflow (so concurrent
 * requests never share state, and long ones survive an API restart); the API only validates,
 * starts and reads. Bound to loopback by default; any other bind requires a bearer token.
 */
export interface ApiOptions {
  client: Client;
  dataDir: string;
  /** Where run records live (default dataDir; a bucket with --data s3://...: every host's API sees every run). */
  runs?: RunsAt;
  /** Temporal frontend and namespace, as reported by /health. */
  address: string;
  namespace: string;
  host?: string;
  port?: number;
  /** Bearer token every request must carry; required unless host is loopback. */
  token?: string;
  /** Largest request body in bytes (default 2 MiB, inside Temporal's payload limit). */
  bodyLimit?: number;
  /** Queue of the CPU workers that run met's workflows (default met-cpu). */
  taskQueue?: string;
  /** Extra queues /health reports (model and provider queues of the deployment). */
  healthQueues?: string[];
  /** How long synchronous endpoints (perplexity, tests with wait) wait for their workflow. */
  requestTimeoutMs?: number;
  /** Per provider, what it bills (the worker config's `prices`): the console's cost per audit firing. */
  prices?: Record<string, Prices>;
}

/** The /docs page's files (Swagger UI and met's token script): no data, so they load without the token; the OpenAPI document does not. */
const DOCS_FILE_ROUTES = new Set([
  '/docs',
  '/docs/',
  '/docs/static/*',
  '/docs/static/index.html',
  '/docs/static/swagger-initializer.js',
  '/docs/static/theme/met-token.js',
]);

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** A Host header naming this machine's loopback (with or without a port); absent counts as not. */
export function isLoopbackHostHeader(header: string | undefined): boolean {
  if (!header) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d{1,5})?$/.exec(header.trim());
  if (!m) return false;
  const name = m[1].replace(/^\[|\]$/g, '').toLowerCase();
  return isLoopback(name);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_OF_TYPE: Partial<Record<string, number>> = {
  [ErrorTypes.BadInput]: 400,
  [ErrorTypes.BadRunSpec]: 400,
  [ErrorTypes.TooFewSamples]: 422,
  [ErrorTypes.NotFound]: 404,
  [ErrorTypes.Forbidden]: 403,
};

const ERROR_KIND: Partial<Record<number, string>> = { 400: 'bad_request', 403: 'forbidden', 404: 'not_found', 422: 'bad_request' };

/** A failed workflow's root cause, as an HTTP error: bad input stays a 400 with its message. */
function workflowError(err: unknown): ApiError {
  let cause: unknown = err;
  while (cause && typeof cause === 'object' && 'cause' in cause && (cause as { cause?: unknown }).cause) cause = cause.cause;
  const type = (cause as { type?: string })?.type ?? '';
  const message = cause instanceof Error ? cause.message : String(cause);
  const status = STATUS_OF_TYPE[type];
  return status ? new ApiError(status, ERROR_KIND[status] ?? 'bad_request', message) : new ApiError(500, 'failed', message);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ApiError(504, 'timeout', `${what} did not finish within ${ms / 1000} s; it keeps running as a workflow`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const host = options.host ?? '127.0.0.1';
  // A token short enough to guess is no protection (a one-character one was accepted).
  if (options.token !== undefined && options.token.length < MIN_TOKEN_LENGTH) {
    throw new MetError(
      ErrorTypes.BadInput,
      `the API token has ${options.token.length} character(s): use at least ${MIN_TOKEN_LENGTH} random characters (e.g. openssl rand -hex 24)`,
    );
  }
  if (!isLoopback(host) && !options.token) {
    throw new MetError(
      ErrorTypes.BadInput,
      `binding the API to ${host} exposes it beyond this machine: set a bearer token (met api --token-env NAME, the token read from that environment variable) or bind to 127.0.0.1`,
    );
  }
  const { client, dataDir } = options;
  const runs = options.runs ?? dataDir;
  const taskQueue = options.taskQueue ?? CPU_TASK_QUEUE;
  const timeoutMs = options.requestTimeoutMs ?? 10 * 60_000;
  // Ids longer than fastify's 100-character default reach the name rule (and its 400 naming the field).
  const app = Fastify({ bodyLimit: options.bodyLimit ?? 2 * 1024 * 1024, logger: false, routerOptions: { maxParamLength: 1024 } });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'met API',
        description:
          'Model Equality Testing at fleet scale: perplexity, collection runs, tests and reports. Every request that does work runs as a Temporal workflow.',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: options.token ? [{ bearer: [] }] : [],
    },
    transform: jsonSchemaTransform,
  });
  // The page asks for the token and sends it as a Bearer header (api/web/docs.js), as the console does.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    theme: { title: 'met API', js: [{ filename: 'met-token.js', content: readFileSync(new URL('web/docs.js', import.meta.url), 'utf8') }] },
  });

  if (isLoopback(host)) {
    // DNS rebinding: a web page whose name resolves to 127.0.0.1 must not reach a loopback API.
    app.addHook('onRequest', async (request, reply) => {
      if (!isLoopbackHostHeader(request.headers.host)) {
        return reply
          .code(403)
          .send({ error: 'forbidden', message: 'host: this API is bound to loopback and answers only requests addressed to localhost, 127.0.0.1 or [::1]' });
      }
    });
  }

  // A cross-site page may send a POST to a loopback API (a form, a no-cors fetch): a request from a browser names its origin, which must be this API's.
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (request.method === 'GET' || request.method === 'HEAD' || origin === undefined) return;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== request.headers.host)
      return reply.code(403).send({ error: 'forbidden', message: 'origin: this API takes requests from its own pages only (no cross-origin requests)' });
  });

  if (options.token) {
    const expected = Buffer.from(options.token);
    app.addHook('onRequest', async (request, reply) => {
      // The console's files (a page and its script, no data) load without it; the page then asks for the token.
      if (request.method === 'GET' && (CONSOLE_FILE_ROUTES.has(request.routeOptions.url ?? '') || DOCS_FILE_ROUTES.has(request.routeOptions.url ?? ''))) return;
      // The scheme is case-insensitive (RFC 9110): "bearer" is as good as "Bearer".
      const match = /^bearer[ \t]+(.*)$/i.exec(request.headers.authorization ?? '');
      const given = Buffer.from(match ? match[1].trim() : '');
      if (!match || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        reply.header('www-authenticate', 'Bearer');
        return reply.code(401).send({ error: 'unauthorized', message: 'this API needs an Authorization: Bearer <token> header' });
      }
    });
  }

  app.setErrorHandler((error, _request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((v) => ({
        path: v.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(body)',
        message: v.message ?? 'invalid',
      }));
      return reply.code(400).send({ error: 'bad_request', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues });
    }
    if (error instanceof ApiError) return reply.code(error.status).send({ error: error.kind, message: error.message });
    if (error instanceof MetError) {
      const code = STATUS_OF_TYPE[error.type] ?? 500;
      return reply.code(code).send({ error: ERROR_KIND[code] ?? 'failed', message: error.message });
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    // Fastify's own 4xx (body too large, bad JSON) keep their status and message, prefixed with what they are about.
    const code = String((error as { code?: string }).code ?? '');
    const about = code.startsWith('FST_ERR_CTP') || status === 413 ? '(body)' : '(request)';
    if (status < 500) return reply.code(status).send({ error: 'bad_request', message: `${about}: ${(error as Error).message}` });
    return reply.code(status).send({ error: 'failed', message: (error as Error).message });
  });

  const api = app.withTypeProvider<ZodTypeProvider>();
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 500: ErrorBody, 503: ErrorBody, 504: ErrorBody };

  /** Pollers of a queue by kind: how /health sees workers, and how requests refuse to wait for none. */
  async function pollers(name: string, kind: 'workflow' | 'activity') {
    const response = await client.workflowService.describeTaskQueue({
      namespace: options.namespace,
      taskQueue: { name },
      taskQueueType: kind === 'workflow' ? 1 : 2,
    });
    return (response.pollers ?? []).map((p) => p.identity ?? 'unknown');
  }
  // A queue seen with pollers is trusted for a few seconds: two RPCs per request would cost more than the scoring.
  const seenPolled = new Map<string, number>();
  async function requireWorkers(name: string, kind: 'workflow' | 'activity', fix: string) {
    const key = `${kind}:${name}`;
    if ((seenPolled.get(key) ?? 0) > Date.now()) return;
    if ((await pollers(name, kind)).length === 0) throw new ApiError(503, 'unavailable', `no worker polls ${name}: ${fix}`);
    seenPolled.set(key, Date.now() + 5_000);
  }

  api.get(
    '/health',
    { schema: { description: 'Temporal reachable, and the workers polling each of met’s queues', response: { 200: HealthBody, 503: HealthBody } } },
    async (request, reply) => {
      const temporal = { reachable: true, address: options.address, namespace: options.namespace } as z.infer<typeof HealthBody>['temporal'];
      const queues: z.infer<typeof HealthBody>['queues'] = [];
      try {
        const wanted: [string, 'workflow' | 'activity'][] = [
          [taskQueue, 'workflow'],
          [taskQueue, 'activity'],
          ...(options.healthQueues ?? []).map((q) => [q, 'activity'] as [string, 'activity']),
        ];
        for (const [name, kind] of wanted) {
          const workers = await pollers(name, kind);
          queues.push({ name, kind, pollers: workers.length, workers });
        }
      } catch (err) {
        temporal.reachable = false;
        temporal.error = (err as Error).message;
      }
      const ok = temporal.reachable && queues.every((q) => q.pollers > 0);
      return reply.code(temporal.reachable ? 200 : 503).send({ ok, temporal, queues });
    },
  );

  api.post(
    '/v1/perplexity',
    {
      schema: {
        description: 'Perplexity of texts under one or several models, each scored on its own (model, precision) queue, and their ensemble',
        body: PerplexityRequest,
        response: { 200: PerplexityBody, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      for (const m of body.models) {
        await requireWorkers(
          modelTaskQueue(m.model, m.precision),
          'activity',
          `start one with met worker --model ${m.model} --precision ${m.precision} (or list it in the worker config)`,
        );
      }
      await requireWorkers(taskQueue, 'workflow', 'start a CPU worker (met worker, or met up)');
      const workflowId = `perplexity-${randomUUID()}`;
      try {
        const handle = await JOBS.ensembledPerplexity.start(client, { taskQueue, workflowId }, body);
        const result = await withTimeout(handle.result(), timeoutMs, `perplexity workflow ${workflowId}`);
        return { ...result, workflowId };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw workflowError(err);
      }
    },
  );

  const started = (record: RunRecord, attached: boolean, reply: FastifyReply) =>
    reply
      .code(attached ? 200 : 202)
      .send({ runId: record.runId, job: record.job, workflowId: record.workflowId, attached, statusUrl: `/v1/runs/${encodeURIComponent(record.runId)}` });

  /** The API takes prompts inline or by set name, never a path on a worker (docs/design.md, "Trust boundaries"). */
  const noWorkerPaths = (prompts: object) => {
    if ('file' in prompts) {
      throw new ApiError(
        400,
        'bad_request',
        "prompts.file: the HTTP API takes prompts inline (prompts.inline: [{id, text}]) or by set name (prompts.set: a shipped set, or <name>.jsonl / <name>.parquet in the data folder's prompts/), never a path on a worker",
      );
    }
  };

  api.post(
    '/v1/runs',
    {
      schema: {
        description: 'Start a collection run from a run spec (the same spec twice attaches to the running run)',
        body: RunSpec,
        response: { 200: RunStartedBody, 202: RunStartedBody, ...errors },
      },
    },
    async (request, reply) => {
      noWorkerPaths(request.body.prompts);
      const { record, attached } = await launchCollection(client, runs, request.body, taskQueue);
      return started(record, attached, reply);
    },
  );

  api.post(
    '/v1/consistency',
    {
      schema: {
        description: 'Start a consistency report between two sources',
        body: ConsistencySpec,
        response: { 200: RunStartedBody, 202: RunStartedBody, ...errors },
      },
    },
    async (request, reply) => {
      noWorkerPaths(request.body.prompts);
      if (request.body.embed?.kind === 'local')
        throw new ApiError(400, 'bad_request', 'embed.path: the HTTP API does not take paths on a worker; use an embeddings endpoint (embed.kind: endpoint)');
      const { record, attached } = await launchConsistency(client, runs, request.body, taskQueue);
      return started(record, attached, reply);
    },
  );

  api.get(
    '/v1/runs/:id',
    {
      schema: {
        description: 'Status and progress of a run (collection, scoring, power grid, test, consistency)',
        params: z.object({ id: Name }),
        response: { 200: RunStateBody, ...errors },
      },
    },
    async (request) => {
      const record = await loadRunRecord(runs, request.params.id);
      const state = await runState(client, record);
      const result: unknown = state.status === 'COMPLETED' ? await client.workflow.getHandle(record.workflowId).result() : undefined;
      return {
        runId: record.runId,
        job: record.job,
        workflowId: record.workflowId,
        corpus: record.corpus,
        status: state.status,
        startTime: state.startTime?.toISOString(),
        closeTime: state.closeTime?.toISOString(),
        progress: toStages(record.job, state.progress, state.inUnits).stages.map((s) => ({ name: s.name, done: s.done, total: s.total, unit: s.unit })),
        result,
        failure: state.failure,
        warnings: state.warnings,
      };
    },
  );

  api.post(
    '/v1/tests',
    {
      schema: {
        description:
          "Run a test between two stored samples: a two-sample statistic (default mmd_hamming); rut, or a one-sample statistic (g_squared, chi_squared, truncated_chi_squared, L1, L2: Y against the reference model's probabilities, parametric bootstrap from X), each with scorer {model, precision} under which scoreCorpus has scored both slices. With wait=false, answer 202 at once and poll /v1/runs/{testId}",
        body: TestSpec,
        querystring: z.object({ wait: z.enum(['true', 'false']).default('true') }),
        response: { 200: TestOutcomeBody, 202: RunStartedBody, ...errors },
      },
    },
    async (request, reply) => {
      await requireWorkers(taskQueue, 'workflow', 'start a CPU worker (met worker, or met up)');
      const record = newRunRecord({ job: 'runTest', input: request.body }, request.body.testId, { taskQueue });
      await saveRunRecord(runs, record);
      const { attached } = await startOrAttach(client, record);
      if (request.query.wait === 'false') return started(record, attached, reply);
      try {
        const outcome = await withTimeout(
          resultOf<'runTest'>(client, { job: 'runTest', input: request.body, workflowId: record.workflowId }),
          timeoutMs,
          `test ${record.runId}`,
        );
        return { ...outcome, verdict: verdictOf(outcome.reject), p: formatP(outcome.pvalue, outcome.b) };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw workflowError(err);
      }
    },
  );

  // Every candidate's test at once (one runTest run each, attached to when asked again), Holm-corrected.
  const identify = async (spec: IdentifySpec) => {
    await requireWorkers(taskQueue, 'workflow', 'start a CPU worker (met worker, or met up)');
    try {
      return await withTimeout(runIdentify(client, runs, spec, { taskQueue }), timeoutMs, `identify ${spec.y.corpus}:${spec.y.model}/${spec.y.source}`);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw workflowError(err);
    }
  };
  const identifyDescription =
    "Which model is it really serving? The endpoint's slice y tested against each candidate slice (model/source of the same corpus) with one statistic, as POST /v1/tests runs it (a one-sample statistic takes scorer and the bootstrap), the p-values Holm-corrected over the candidates";
  api.post(
    '/v1/identify',
    { schema: { description: `${identifyDescription}: the rows of met identify --json`, body: IdentifySpec, response: { 200: IdentifyBody, ...errors } } },
    async (request) => identify(request.body),
  );

  // Untyped replies (HTML, not JSON): registered on the plain instance, params still validated.
  app.post<{ Body: IdentifySpec }>(
    '/v1/identify/report',
    { schema: { description: `${identifyDescription}: its page (text/html), as met identify --html writes it`, body: IdentifySpec, produces: ['text/html'] } },
    async (request, reply) => reply.type('text/html; charset=utf-8').send(await identifyPageHtml(await identify(request.body))),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/runs/:id/report',
    {
      schema: { description: 'The HTML report of a power grid, test or consistency run (text/html)', params: z.object({ id: Name }), produces: ['text/html'] },
    },
    async (request, reply) => {
      const record = await loadRunRecord(runs, request.params.id);
      if (!hasReport(record.job))
        throw new ApiError(404, 'not_found', `run ${record.runId} is a ${JOBS[record.job].title} run: reports exist for ${REPORTED.join(', ')} runs`);
      const { createDuckDB } = await import('../datasets/duck');
      // Reads only the data folder (and this host's cache of a bucket), whatever the run record names.
      const bucket = typeof runs === 'string' ? undefined : runs;
      const duck = await createDuckDB({ allowedDirectories: [dataDir, ...(bucket?.cacheDir ? [bucket.cacheDir] : [])] });
      let written: Awaited<ReturnType<typeof reportOf>>;
      try {
        // A bucket corpus (--data s3://...): its files are read through this host's cache of it.
        const { openCorpora } = await import('../datasets/corpora');
        const readRoot = async (corpus: string, kinds: readonly ShardKind[]) => (bucket?.corpora ? openCorpora(duck, bucket).readRoot(corpus, kinds) : dataDir);
        const result = async () => {
          const status = await runStatus(client, record);
          if (status.status !== 'COMPLETED')
            throw new ApiError(404, 'not_found', `run ${record.runId} is ${status.status}: its report is written when it completes`);
          return client.workflow.getHandle(record.workflowId).result() as Promise<unknown>;
        };
        written = await reportOf({ duck, dataDir, readRoot, result }, record);
      } finally {
        duck.closeSync();
      }
      const htmlPath = written?.htmlPath;
      // Written on a worker's host: read here when this host has it, else the bucket's copy (--data s3://).
      if (htmlPath && !existsSync(htmlPath) && written?.publishedId) {
        const { readPublishedReport } = await import('../client/runs');
        const published = await readPublishedReport(runs, written.publishedId);
        if (published !== undefined) return reply.type('text/html; charset=utf-8').send(published);
      }
      if (!htmlPath || !existsSync(htmlPath)) throw new ApiError(404, 'not_found', `the report of ${record.runId} is missing: run met report ${record.runId}`);
      return reply.type('text/html; charset=utf-8').send(readFileSync(htmlPath, 'utf8'));
    },
  );

  await registerConsole(app, { client, runs, dataDir, queues: [taskQueue, ...(options.healthQueues ?? [])], prices: options.prices });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/**
 * The API of a met deployment: connects to its Temporal and serves; `close` stops both
 * (what `met api` and `met up --api` run).
 */
export async function serveApi(
  config: MetConfig,
  options: Omit<ApiOptions, 'client' | 'dataDir' | 'address' | 'namespace'>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const client = await connectClient(config);
  try {
    const api = await startApi({
      ...options,
      client,
      dataDir: config.dataDir,
      runs: config,
      address: temporalAddress(config),
      namespace: config.temporal.namespace,
    });
    return {
      url: api.url,
      close: async () => {
        await api.close();
        await client.connection.close();
      },
    };
  } catch (err) {
    await client.connection.close();
    throw err;
  }
}

export async function startApi(options: ApiOptions): Promise<{ url: string; app: FastifyInstance; close: () => Promise<void> }> {
  const app = await buildApi(options);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8080 });
  // The address really bound (0.0.0.0 stays 0.0.0.0), not the first interface fastify lists.
  const port = (app.server.address() as AddressInfo).port;
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, app, close: () => app.close() };
}
