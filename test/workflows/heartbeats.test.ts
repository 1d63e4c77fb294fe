import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import ts from 'typescript';
import { heartbeatingAll, heartbeatsOnATimer } from '../../activities/heartbeat';
import { createScoringPlanActivities } from '../../activities/logprobs';
import type { Corpora } from '../../datasets/corpora';

/**
 * Every activity a workflow schedules for longer than a minute has a heartbeat timeout, and every
 * activity scheduled with one heartbeats while it runs. Without both, a step that finished while
 * Temporal was away (the SDK drops a completion it could not deliver in about 10 s), or whose worker
 * was killed, is run again only at its start-to-close timeout, and its workflow stands still that
 * long (test/collect/watchOutage.test.ts shows it for collectCorpus). Read from the workflows' own
 * `proxyActivities<T>({...})` calls; T's factory (`export type T = ReturnType<typeof createX>`) is
 * built and each of its activities must come out of heartbeatingAll or be listed below.
 */
const root = resolve(import.meta.dirname, '..', '..');

/** Proxies (`<file>:<type>`) allowed a start-to-close timeout over a minute without a heartbeat timeout, with why. None at present. */
const WITHOUT_HEARTBEAT_TIMEOUT: Record<string, string> = {};

/** Activities that heartbeat with progress of their own instead of on a plain timer, with why. */
const OWN_HEARTBEATS: Record<string, string> = {
  sampleUnit: 'heartbeats on a timer with its unit progress as details (heartbeating(work, details)), which `met status` shows',
  downloadFile: 'heartbeats its durable byte offset, which a retry resumes from; a plain timer would overwrite it, and a stalled transfer should be retried',
};

const ONE_MINUTE = 60_000;

interface ProxyCall {
  where: string;
  type: string;
  factoryModule: string;
  startToCloseMs: number;
  heartbeatTimeout: boolean;
}

function durationMs(node: ts.Expression, where: string): number {
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(node.text);
    if (m) return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms'];
  }
  throw new Error(`${where}: cannot read startToCloseTimeout ${node.getText()} (a literal like '10m' or a number of ms)`);
}

function proxies(): ProxyCall[] {
  const out: ProxyCall[] = [];
  const dir = join(root, 'workflows');
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const path = join(dir, name);
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
    const imports = new Map<string, string>();
    for (const s of source.statements) {
      if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier)) continue;
      const bindings = s.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) imports.set(e.name.text, s.moduleSpecifier.text);
    }
    const visit = (node: ts.Node) => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'proxyActivities') {
        const where = `${relative(root, path)}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        const typeArg = node.typeArguments?.[0];
        assert.ok(typeArg && ts.isTypeReferenceNode(typeArg) && ts.isIdentifier(typeArg.typeName), `${where}: proxyActivities without its activities' type`);
        const type = typeArg.typeName.text;
        const from = imports.get(type);
        assert.ok(from, `${where}: ${type} is not imported by name`);
        const options = node.arguments[0];
        assert.ok(options && ts.isObjectLiteralExpression(options), `${where}: options are not an object literal`);
        const prop = (key: string) =>
          options.properties.find((p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === key);
        const startToClose = prop('startToCloseTimeout');
        assert.ok(startToClose, `${where}: no startToCloseTimeout`);
        out.push({
          where,
          type,
          factoryModule: resolve(dir, `${from}.ts`),
          startToCloseMs: durationMs(startToClose.initializer, where),
          heartbeatTimeout: prop('heartbeatTimeout') !== undefined,
        });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return out;
}

/** The factory `createX` behind `export type T = ReturnType<typeof createX>`. */
function factoryName(module: string, type: string): string {
  const source = ts.createSourceFile(module, readFileSync(module, 'utf8'), ts.ScriptTarget.Latest, true);
  for (const s of source.statements) {
    if (!ts.isTypeAliasDeclaration(s) || s.name.text !== type) continue;
    const t = s.type;
    if (ts.isTypeReferenceNode(t) && t.typeName.getText() === 'ReturnType' && t.typeArguments?.[0] && ts.isTypeQueryNode(t.typeArguments[0]))
      return t.typeArguments[0].exprName.getText();
  }
  throw new Error(`${relative(root, module)}: no 'export type ${type} = ReturnType<typeof createX>'`);
}

async function activitiesOf(module: string, type: string): Promise<Record<string, unknown>> {
  const factory = ((await import(module)) as Record<string, unknown>)[factoryName(module, type)];
  assert.equal(typeof factory, 'function', `${relative(root, module)}: ${factoryName(module, type)}`);
  // Factories only keep their dependencies until an activity runs: stand-ins will do.
  const deps = { duck: {}, dataDir: '/nonexistent', store: {}, clients: {}, generator: {}, backend: {}, queues: [], pricesFor: () => undefined };
  return (factory as (d: unknown) => Record<string, unknown>)(deps);
}

test('the workflows schedule every step longer than a minute with a heartbeat timeout', () => {
  const found = proxies();
  // The reader finds them all (a change in how workflows call proxyActivities fails here, not silently).
  assert.ok(found.length >= 15, `only ${found.length} proxyActivities calls found`);
  const missing = found.filter((p) => p.startToCloseMs > ONE_MINUTE && !p.heartbeatTimeout && !WITHOUT_HEARTBEAT_TIMEOUT[`${p.where.split(':')[0]}:${p.type}`]);
  assert.deepEqual(
    missing.map((p) => `${p.where} proxyActivities<${p.type}>: startToCloseTimeout ${p.startToCloseMs / 1000} s, no heartbeatTimeout`),
    [],
  );
  for (const key of Object.keys(WITHOUT_HEARTBEAT_TIMEOUT))
    assert.ok(
      found.some((p) => `${p.where.split(':')[0]}:${p.type}` === key && p.startToCloseMs > ONE_MINUTE && !p.heartbeatTimeout),
      `WITHOUT_HEARTBEAT_TIMEOUT lists ${key}, which no longer needs it`,
    );
});

test('every activity scheduled with a heartbeat timeout heartbeats on a timer (or with progress of its own, listed)', async () => {
  const silent: string[] = [];
  const seen = new Set<string>();
  for (const p of proxies().filter((x) => x.heartbeatTimeout)) {
    for (const [name, activity] of Object.entries(await activitiesOf(p.factoryModule, p.type))) {
      seen.add(name);
      if (OWN_HEARTBEATS[name]) {
        assert.ok(!heartbeatsOnATimer(activity), `${name} heartbeats on a timer now: take it off OWN_HEARTBEATS`);
        continue;
      }
      if (!heartbeatsOnATimer(activity)) silent.push(`${p.where} ${p.type}.${name}`);
    }
  }
  assert.deepEqual(silent, [], 'activities scheduled with a heartbeat timeout that do not heartbeatingAll');
  for (const name of Object.keys(OWN_HEARTBEATS))
    assert.ok(seen.has(name), `OWN_HEARTBEATS lists ${name}, which no workflow schedules with a heartbeat timeout`);
});

test('an activity from heartbeatingAll heartbeats while its step runs, and stops when it ends', async () => {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 900 }); // a beat every 300 ms
  let beats = 0;
  env.on('heartbeat', () => beats++);
  const { step } = heartbeatingAll({ step: (n: number) => new Promise<number>((r) => setTimeout(r, 1300, n * 2)) });
  assert.equal(await env.run(step, 21), 42);
  assert.ok(beats >= 3, `${beats} heartbeats in 1.3 s`);
  const after = beats;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(beats, after, 'heartbeats after the step ended');
  assert.ok(heartbeatsOnATimer(step));
  assert.ok(!heartbeatsOnATimer(async () => 1));
});

test("scoreCorpus's listSampleShards heartbeats while its corpus is slow to list", async () => {
  const slow = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('slow store')), 1300));
  slow.catch(() => undefined);
  const corpora = { listShards: () => slow } as unknown as Corpora;
  const { listSampleShards } = createScoringPlanActivities({ duck: {} as never, dataDir: '/nonexistent', corpora });
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 900 }, { logger: new DefaultLogger('ERROR') });
  let beats = 0;
  env.on('heartbeat', () => beats++);
  await assert.rejects(env.run(listSampleShards, { corpus: 'c', precision: 'q4' }), /slow store/);
  assert.ok(beats >= 3, `${beats} heartbeats in 1.3 s`);
});
