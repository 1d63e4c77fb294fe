// Every workflow met registers; workers load this module (pre-bundled, see workers/bundle.ts).
export { systemCheck } from './systemCheck';
export { collectCorpus } from './collectCorpus';
export { scoreCorpus } from './scoreCorpus';
export { runTest } from './runTest';
export { powerSimulation } from './powerSimulation';
export { ensembledPerplexity } from './ensembledPerplexity';
export { consistencyReport } from './consistencyReport';
export { downloadDataset } from './downloadDataset';
export { auditFiring } from './auditFiring';
export { deliverAuditAlert } from './deliverAuditAlert';
export { batchUnit } from './batchUnit';
