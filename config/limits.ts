import { z } from 'zod';

/**
 * Bounds on every size a request or spec sets, so that one request cannot hold a worker for more
 * than minutes (docs/design.md, "Trust boundaries"). Each is about 100 times what the MET paper uses.
 * Pure: workflows and the CLI import it.
 */
export const LIMITS = {
  /** Permutations / bootstrap draws of one p-value (paper: 1,000). */
  b: 100_000,
  /** Completion length a statistic reads, in characters or tokens (sampling's maxTokens is at most 32,768). */
  L: 32_768,
  /** k of the k-spectrum kernel. */
  k: 64,
  /** Simulations per power cell (paper: 100). */
  sims: 10_000,
  /** Simulations x permutations of one power cell (paper: 100 x 1,000). */
  cellWork: 10_000_000,
  /** Cells of one power grid (sources x sample sizes x statistics x prompt draws): its plan travels through workflow history. */
  gridCells: 20_000,
  /** Completions per side given inline to met stat. */
  samplesPerSide: 200_000,
  /** Permutations x completions of one inline p-value: about five minutes of one core. */
  pvalueWork: 2_000_000_000,
  /** Completions x L encoded at once by met stat (int32 cells: 200 MB). */
  encodedCells: 50_000_000,
} as const;

/**
 * Bounds on one collection run (issue #28): a run's units are computed on demand and paged through
 * workflow history (collect/plan.ts), so these bound how long a run takes and how much its
 * CPU steps scan, not what a workflow holds. A million samples per source fit with room to spare.
 * Refused at the API and the CLI (config/runSpec.ts), and again by prepareRun once a prompt set's
 * or file's prompt count is known.
 */
export const RUN_LIMITS = {
  /** Sources of one run (or endpoints of one audit). */
  sources: 64,
  /** Prompts one run reads (inline prompts are capped lower, at 10,000: they travel in workflow history). */
  prompts: 1_000_000,
  /** Samples one source draws in one run (prompts x samplesPerPrompt). */
  samplesPerSource: 10_000_000,
  /** Samples of one run, all sources together. */
  samples: 100_000_000,
  /** Work units (shards) of one run, all sources together: each is one activity and one file. */
  units: 200_000,
} as const;

/**
 * Bounds on the log-probability tracking tier of an audit (`statistic: logprob_tracking`): each
 * firing sends one request per probe per endpoint and keeps the probes' top-k logprobs in the
 * audit's row (and so in the next firings' input), so the set stays small and its inputs short.
 */
export const TRACKING_LIMITS = {
  /** Probes (inputs) of one tracking firing (Chauvin et al. use tens to hundreds). */
  probes: 1000,
  /** Characters of one probe input. */
  probeChars: 4000,
  /** Top-k logprobs asked per probe (OpenAI's chat API allows 20). */
  topK: 20,
  /** Firings that make an endpoint's own baseline. */
  baselineFirings: 20,
} as const;

/** A positive integer at most `max`, whose message names the bound. */
export const boundedInt = (max: number, what: string) =>
  z
    .number()
    .int()
    .positive()
    .max(max, `${what} is at most ${max.toLocaleString('en-US')} (one request must not hold a worker for more than minutes)`);
