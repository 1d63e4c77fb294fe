/**
 * The progress every met job reports through its progress query (workflows answer it, the CLI's
 * display and the HTTP API read it): stages, each counting done of total.
 */

/** The name of every met workflow's progress query: readers of any kind of job ask by this name. */
export const PROGRESS_QUERY = 'progress';
export interface ProgressStage {
  name: string;
  done: number;
  total: number;
  /** Items per second, if the producer knows it; otherwise measured from successive polls. */
  rate?: number;
  /** Error count, or counts by kind (e.g. { '429': 3, timeout: 1 }). */
  errors?: number | Record<string, number>;
  /** What is counted, for the rate ("samples", "cells"); default "items". */
  unit?: string;
}

export interface ProgressSnapshot {
  stages: ProgressStage[];
  /** True once the work is complete; the display stops after drawing it. */
  finished?: boolean;
  /** Lines to show under the bars (a step being retried, with its attempt and last error); each distinct one once. */
  notes?: string[];
}
