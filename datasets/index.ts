/**
 * met's corpus storage layer: Parquet shards written, read and queried with DuckDB.
 *
 *   const duck = await createDuckDB();                        // one per process
 *   await writeShard(duck, root, { corpus, kind: 'samples', partition: { model, source }, unitId }, rows);
 *   await unitStatus(duck, root, { corpus, kind: 'samples', partition, unitId });  // resume: valid | missing | quarantined
 *   const { sample, promptIds } = await readSlice(duck, root, { corpus, models: [m], sources: [s], L: 1000 });
 *   await verifyCorpus(duck, root, corpus);
 */
export { createDuckDB, withConnection, quotedIdentifier, quotedString, type DuckDBOptions } from './duck';
export * from './schemas';
export {
  SHARD_KINDS,
  type ShardKind,
  FILE_COLUMNS,
  PARTITION_FIELDS,
  ROW_KEYS,
  META,
  CHECKSUM_ALGORITHM,
  sqlType,
  tableDdl,
  datasetColumns,
  type Column,
} from './tables';
export {
  checkCorpusName,
  corpusDir,
  decodePathValue,
  encodePathValue,
  kindDir,
  listCorpora,
  listPartitionDirs,
  listShards,
  quarantineDir,
  shardDir,
  shardPath,
  type Partition,
  type ShardFile,
} from './paths';
export {
  quarantine,
  readShardMeta,
  SchemaVersionError,
  shardStatus,
  unitStatus,
  writeShard,
  type ShardMeta,
  type ShardStatus,
  type ShardTarget,
  type UnitStatus,
  type WriteShardOptions,
  type WrittenShard,
} from './shards';
export {
  assertOneScorerRoute,
  completionScores,
  duplicatesError,
  readLogprobSums,
  readSamplers,
  readSlice,
  ownLogprobGap,
  type OwnLogprobGap,
  type CompletionScore,
  readUsage,
  readBilledCompletions,
  streamRows,
  type LogprobSums,
  type Slice,
  type SliceSpec,
  type StreamSpec,
} from './reader';
export { createCorpusViews, kindGlob } from './views';
export {
  compactCorpus,
  corpusStats,
  exportCorpus,
  listCorpusSummaries,
  queryCorpus,
  recoverCompactions,
  verifyCorpus,
  type CompactReport,
  type CorpusStats,
  type CorpusSummary,
  type ExportFormat,
  type QueryResult,
  type VerifyProblem,
  type VerifyReport,
} from './corpus';
export { parseLocation, S3CorpusStore, type CorpusLocation } from './s3';
export { syntheticSamples, mulberry32, type SyntheticUnit } from './synthetic';
export { type AuditCost, readAuditCosts, readAuditRows } from './audits';
