import { z } from 'zod';

/**
 * What `met download NAME` knows how to fetch. Pure (workflows import it). An entry lists its
 * files (URL, size and sha256 where known), how to unpack them and what to convert them into.
 * `met download URL` makes a one-file entry on the fly. The URLs are the public locations as
 * published (2024-2025); the build machines are offline, so they are not checked by the tests.
 */
export const CatalogFile = z
  .object({
    url: z.url(),
    /** File name under the entry's folder (default: the URL's last path segment). */
    name: z
      .string()
      .regex(/^[^/\\]+$/, 'a file name, not a path')
      .optional(),
    size: z.number().int().nonnegative().optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits')
      .optional(),
  })
  .strict();
export type CatalogFile = z.infer<typeof CatalogFile>;

export const CatalogEntry = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
    description: z.string(),
    files: z.array(CatalogFile).min(1),
    archive: z.enum(['zip', 'tar', 'tar.gz', 'none']).default('none'),
    /** 'met-release': samples/ + logprobs/ pickles into a corpus named after the entry. */
    converter: z.enum(['met-release', 'none']).default('none'),
  })
  .strict();
export type CatalogEntry = z.infer<typeof CatalogEntry>;
export type CatalogEntryInput = z.input<typeof CatalogEntry>;

const hf = (repo: string, path: string) => `https://huggingface.co/datasets/${repo}/resolve/main/${path}`;

export const CATALOG: CatalogEntry[] = [
  {
    name: 'met-release',
    description: 'The MET release: 1.6M completions, 540 prompts, 5 models, 14 sources; samples/ and logprobs/ (37.1 GB zip on Google Drive)',
    files: [{ url: 'https://drive.google.com/uc?export=download&id=1csgp83tx04kVA9ejp6MNSC7Ni0vh0J9U', name: 'model_equality_testing_ds.zip' }],
    archive: 'zip',
    converter: 'met-release',
  },
  {
    name: 'humaneval',
    description: 'HumanEval: 164 Python programming prompts (openai/openai_humaneval, Parquet)',
    files: [{ url: hf('openai/openai_humaneval', 'openai_humaneval/test-00000-of-00001.parquet'), name: 'humaneval.parquet' }],
    archive: 'none',
    converter: 'none',
  },
  {
    name: 'oasst1',
    description: 'OpenAssistant oasst1 conversation trees (JSONL, gzip); filter by words with met prompts build',
    files: [{ url: hf('OpenAssistant/oasst1', '2023-04-12_oasst_ready.trees.jsonl.gz'), name: 'oasst1-trees.jsonl.gz' }],
    archive: 'none',
    converter: 'none',
  },
  {
    name: 'ultrachat',
    description: 'UltraChat 200k (HuggingFaceH4/ultrachat_200k, test_sft split, Parquet)',
    files: [{ url: hf('HuggingFaceH4/ultrachat_200k', 'data/test_sft-00000-of-00001-f7dfac4afe5b93f4.parquet'), name: 'ultrachat-test_sft.parquet' }],
    archive: 'none',
    converter: 'none',
  },
  ...(['en', 'de', 'es', 'fr', 'ru'] as const).map((lang) => ({
    name: `wikipedia-${lang}`,
    description: `Wikipedia (${lang}), first shard of wikimedia/wikipedia 20231101.${lang} (Parquet)`,
    files: [{ url: hf('wikimedia/wikipedia', `20231101.${lang}/train-00000-of-00041.parquet`), name: `wikipedia-${lang}.parquet` }],
    archive: 'none' as const,
    converter: 'none' as const,
  })),
];

export function catalogEntry(nameOrUrl: string): CatalogEntry {
  const known = CATALOG.find((e) => e.name === nameOrUrl);
  if (known) return known;
  if (/^https?:\/\//.test(nameOrUrl)) {
    const url = new URL(nameOrUrl);
    const fileName = decodeURIComponent(url.pathname.split('/').filter(Boolean).pop() ?? 'download');
    const archive = fileName.endsWith('.zip')
      ? 'zip'
      : fileName.endsWith('.tar.gz') || fileName.endsWith('.tgz')
        ? 'tar.gz'
        : fileName.endsWith('.tar')
          ? 'tar'
          : 'none';
    return CatalogEntry.parse({
      name: fileName.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '') || 'download',
      description: nameOrUrl,
      files: [{ url: nameOrUrl, name: fileName.replace(/[/\\]/g, '_') }],
      archive,
    });
  }
  throw new Error(`'${nameOrUrl}' is neither a catalog entry (${CATALOG.map((e) => e.name).join(', ')}) nor an http(s) URL: see met datasets list`);
}

export function fileNameOf(file: CatalogFile): string {
  return file.name ?? decodeURIComponent(new URL(file.url).pathname.split('/').filter(Boolean).pop() ?? 'download');
}
