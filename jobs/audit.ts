import { z } from 'zod';
import { AuditSpec, billingTokenizer } from '../config/auditSpec';
import { modelTaskQueue, providerTaskQueue } from '../temporal/queues';
import type { auditFiring, AuditFiringInput } from '../workflows/auditFiring';
import { defineJob } from './job';

/** auditFiring: one firing of an audit's schedule (started by Temporal, not by met: client/audits.ts). */
const Input = z.object({ spec: AuditSpec }) satisfies z.ZodType<AuditFiringInput>;

export const audit = defineJob<typeof auditFiring>()({
  name: 'auditFiring',
  title: 'audit firing',
  input: Input,
  stages: () => ({ stages: [] }),
  queues: ({ spec }) => [
    ...new Set([
      ...spec.endpoints.map((e) => providerTaskQueue(e.provider)),
      ...(spec.reference?.kind === 'local' ? [modelTaskQueue(spec.reference.model, spec.reference.precision)] : []),
      ...[billingTokenizer(spec)].flatMap((t) => (t ? [modelTaskQueue(t.model, t.precision)] : [])),
    ]),
  ],
  corpus: (input) => input.spec.corpus,
});
