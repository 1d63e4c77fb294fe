import { z } from 'zod';
import { CatalogEntry } from '../download/catalog';
import type { downloadDataset, DownloadInput } from '../workflows/downloadDataset';
import { defineJob, snapshotStages } from './job';

/** downloadDataset: a catalog entry's files, verified, unpacked and converted (into a corpus named after the entry). */
const Input = z.object({
  entry: CatalogEntry,
  dir: z.string().min(1),
  heartbeatTimeoutSeconds: z.number().positive().optional(),
}) satisfies z.ZodType<DownloadInput>;

export const download = defineJob<typeof downloadDataset>()({
  name: 'downloadDataset',
  title: 'download',
  input: Input,
  stages: snapshotStages,
  queues: () => [],
  corpus: (input) => (input.entry.converter === 'met-release' ? input.entry.name : undefined),
});
