import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { issueLine } from '../common/issues';

/**
 * `met serve`'s Batch API, OpenAI's shapes: `POST /v1/files` (multipart, purpose `batch`),
 * `GET /v1/files/:id`, `GET /v1/files/:id/content`, `POST /v1/batches`, `GET /v1/batches/:id`,
 * `GET /v1/batches` (newest first, `limit`, `after`), `POST /v1/batches/:id/cancel`. In memory. A
 * batch is processed in the background after `latencyMs`: each input line is POSTed to this same
 * server's route (so the answers are exactly what the online API gives, faults included), a few at
 * a time; 200s go to the output file, anything else to the error file, as OpenAI does.
 */
export interface BatchAnswer {
  status: number;
  json?: unknown;
  text?: string;
  contentType?: string;
}

interface StoredFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  content: string;
}

type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled';

interface Batch {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: { object: 'list'; data: { code: string; message: string; line: number | null }[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

const BATCH_ENDPOINTS = ['/v1/completions', '/v1/chat/completions'];
const CreateBatch = z.object({
  input_file_id: z.string().min(1),
  endpoint: z.enum(BATCH_ENDPOINTS as [string, ...string[]]),
  completion_window: z.literal('24h'),
  metadata: z.record(z.string(), z.string().max(512)).nullable().optional(),
});
const InputLine = z.object({ custom_id: z.string().min(1), method: z.literal('POST'), url: z.string(), body: z.record(z.string(), z.unknown()) });

export interface BatchStats {
  created: number;
  requests: number;
  /** Output-file downloads answered. */
  downloads: number;
}

export class BatchService {
  private files = new Map<string, StoredFile>();
  private batches = new Map<string, Batch>();
  private order: string[] = [];
  private closed = false;
  readonly stats: BatchStats = { created: 0, requests: 0, downloads: 0 };

  constructor(
    /** This server's origin (http://127.0.0.1:PORT), where lines are sent. */
    private readonly origin: () => string,
    private readonly options: { latencyMs?: number; concurrency?: number } = {},
  ) {}

  handles(method: string | undefined, path: string): boolean {
    return path === '/v1/files' || path.startsWith('/v1/files/') || path === '/v1/batches' || path.startsWith('/v1/batches/');
  }

  close(): void {
    this.closed = true;
  }

  async answer(method: string, url: URL, contentType: string | undefined, body: string): Promise<BatchAnswer> {
    const parts = url.pathname.split('/').filter(Boolean); // v1, files|batches, id?, content|cancel?
    const now = Math.floor(Date.now() / 1000);
    if (parts[1] === 'files') {
      if (method === 'POST' && parts.length === 2) return this.upload(contentType, body, now);
      const file = parts[2] ? this.files.get(parts[2]) : undefined;
      if (method === 'GET' && file && parts.length === 3) return { status: 200, json: fileObject(file) };
      if (method === 'GET' && file && parts[3] === 'content') {
        if (this.isOutput(file.id)) this.stats.downloads++;
        return { status: 200, text: file.content, contentType: 'application/jsonl' };
      }
      return notFound(`no file ${parts[2] ?? ''}`);
    }
    if (method === 'POST' && parts.length === 2) return this.create(body, now);
    if (method === 'GET' && parts.length === 2) {
      const limit = Math.min(100, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20));
      const after = url.searchParams.get('after');
      const newest = [...this.order].reverse();
      const from = after ? newest.indexOf(after) + 1 : 0;
      const page = newest.slice(from, from + limit).map((id) => this.batches.get(id)!);
      return {
        status: 200,
        json: { object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: from + limit < newest.length },
      };
    }
    const batch = parts[2] ? this.batches.get(parts[2]) : undefined;
    if (!batch) return notFound(`no batch ${parts[2] ?? ''}`);
    if (method === 'GET' && parts.length === 3) return { status: 200, json: batch };
    if (method === 'POST' && parts[3] === 'cancel') {
      if (['validating', 'in_progress'].includes(batch.status)) Object.assign(batch, { status: 'cancelling', cancelling_at: now });
      return { status: 200, json: batch };
    }
    return notFound(`no route ${method} ${url.pathname}`);
  }

  private isOutput(fileId: string): boolean {
    for (const b of this.batches.values()) if (b.output_file_id === fileId) return true;
    return false;
  }

  private upload(contentType: string | undefined, body: string, now: number): BatchAnswer {
    const boundary = /boundary=("?)([^";]+)\1/.exec(contentType ?? '')?.[2];
    if (!boundary) return badRequest('upload a file as multipart/form-data with the fields purpose and file');
    const fields = new Map<string, { filename?: string; value: string }>();
    for (const part of body.split(`--${boundary}`)) {
      const split = part.indexOf('\r\n\r\n');
      if (split < 0) continue;
      const head = part.slice(0, split);
      const name = /name="([^"]*)"/.exec(head)?.[1];
      if (!name) continue;
      fields.set(name, { filename: /filename="([^"]*)"/.exec(head)?.[1], value: part.slice(split + 4).replace(/\r\n$/, '') });
    }
    const file = fields.get('file');
    const purpose = fields.get('purpose')?.value;
    if (!file) return badRequest("the upload has no 'file' field");
    if (purpose !== 'batch') return badRequest(`purpose must be 'batch' (got ${purpose ?? 'none'})`);
    const stored: StoredFile = {
      id: `file-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      object: 'file',
      bytes: Buffer.byteLength(file.value),
      created_at: now,
      filename: file.filename ?? 'upload.jsonl',
      purpose,
      content: file.value,
    };
    this.files.set(stored.id, stored);
    return { status: 200, json: fileObject(stored) };
  }

  private create(body: string, now: number): BatchAnswer {
    let parsed;
    try {
      parsed = CreateBatch.safeParse(JSON.parse(body));
    } catch {
      return badRequest('request body is not valid JSON');
    }
    if (!parsed.success) return badRequest(`invalid request: ${issueLine(parsed.error.issues[0], '(body)')}`);
    const input = this.files.get(parsed.data.input_file_id);
    if (!input) return badRequest(`no file ${parsed.data.input_file_id}`);
    const batch: Batch = {
      id: `batch_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      object: 'batch',
      endpoint: parsed.data.endpoint,
      errors: null,
      input_file_id: input.id,
      completion_window: parsed.data.completion_window,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: now,
      in_progress_at: null,
      expires_at: now + 24 * 3600,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: parsed.data.metadata ?? null,
    };
    this.batches.set(batch.id, batch);
    this.order.push(batch.id);
    this.stats.created++;
    setTimeout(() => void this.process(batch, input.content), this.options.latencyMs ?? 0);
    return { status: 200, json: batch };
  }

  private async process(batch: Batch, content: string): Promise<void> {
    const stamp = () => Math.floor(Date.now() / 1000);
    if (this.closed) return;
    if (batch.status === 'cancelling') return void Object.assign(batch, { status: 'cancelled', cancelled_at: stamp() });
    const lines: z.infer<typeof InputLine>[] = [];
    const problems: { code: string; message: string; line: number | null }[] = [];
    content.split('\n').forEach((text, i) => {
      if (!text.trim()) return;
      let parsed;
      try {
        parsed = InputLine.safeParse(JSON.parse(text));
      } catch {
        return void problems.push({ code: 'invalid_json_line', message: 'not valid JSON', line: i + 1 });
      }
      if (!parsed.success) return void problems.push({ code: 'invalid_request', message: issueLine(parsed.error.issues[0], '(line)'), line: i + 1 });
      if (parsed.data.url !== batch.endpoint)
        return void problems.push({
          code: 'mismatched_endpoint',
          message: `url ${parsed.data.url} is not the batch's endpoint ${batch.endpoint}`,
          line: i + 1,
        });
      lines.push(parsed.data);
    });
    if (problems.length || lines.length === 0) {
      return void Object.assign(batch, {
        status: 'failed',
        failed_at: stamp(),
        errors: { object: 'list', data: problems.length ? problems : [{ code: 'empty_file', message: 'the input file has no requests', line: null }] },
      });
    }
    Object.assign(batch, { status: 'in_progress', in_progress_at: stamp(), request_counts: { total: lines.length, completed: 0, failed: 0 } });
    const output: string[] = [];
    const errors: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < lines.length && !this.closed && batch.status === 'in_progress') {
        const line = lines[next++];
        this.stats.requests++;
        const id = `batch_req_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
        try {
          const res = await fetch(`${this.origin()}${line.url}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(line.body),
            signal: AbortSignal.timeout(60_000),
          });
          const text = await res.text();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = { error: { message: 'the server answered malformed JSON', type: 'server_error' } };
          }
          const record = JSON.stringify({
            id,
            custom_id: line.custom_id,
            response: { status_code: res.status, request_id: res.headers.get('x-request-id') ?? id, body: json },
            error: null,
          });
          if (res.status === 200 && !(json as { error?: unknown }).error) {
            output.push(record);
            batch.request_counts.completed++;
          } else {
            errors.push(record);
            batch.request_counts.failed++;
          }
        } catch (err) {
          errors.push(JSON.stringify({ id, custom_id: line.custom_id, response: null, error: { code: 'request_failed', message: (err as Error).message } }));
          batch.request_counts.failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency ?? 8 }, worker));
    if (this.closed) return;
    if ((batch.status as BatchStatus) === 'cancelling') return void Object.assign(batch, { status: 'cancelled', cancelled_at: stamp() });
    Object.assign(batch, { status: 'finalizing', finalizing_at: stamp() });
    const save = (rows: string[]) => {
      if (rows.length === 0) return null;
      const content = `${rows.join('\n')}\n`;
      const file: StoredFile = {
        id: `file-${randomUUID().replaceAll('-', '').slice(0, 24)}`,
        object: 'file',
        bytes: Buffer.byteLength(content),
        created_at: stamp(),
        filename: `${batch.id}_output.jsonl`,
        purpose: 'batch_output',
        content,
      };
      this.files.set(file.id, file);
      return file.id;
    };
    Object.assign(batch, { output_file_id: save(output), error_file_id: save(errors), status: 'completed', completed_at: stamp() });
  }
}

function fileObject(f: StoredFile) {
  const { content: _content, ...rest } = f;
  return { ...rest, status: 'processed', status_details: null };
}

function notFound(message: string): BatchAnswer {
  return { status: 404, json: { error: { message, type: 'invalid_request_error', param: null, code: 'not_found' } } };
}

function badRequest(message: string): BatchAnswer {
  return { status: 400, json: { error: { message, type: 'invalid_request_error', param: null, code: null } } };
}
