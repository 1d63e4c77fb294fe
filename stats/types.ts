/**
 * The statistics engine's input: one sample (X or Y) as typed arrays, never one object per row.
 *
 * Row i has prompt index `prompts[i]` in [0, m) and its completion in `tokens[i*L .. (i+1)*L)`:
 * Unicode code points (char unit) or token ids (token unit), right-padded with -1 (char) or the
 * pad id (token) to exactly L.
 */
export interface EncodedSample {
  /** Completion length every row is truncated/padded to. */
  L: number;
  /** Number of prompts the indices range over. */
  m: number;
  /** Prompt index per row. */
  prompts: Int32Array;
  /** Row-major n x L matrix of code points / token ids. */
  tokens: Int32Array;
}

export type Unit = 'char' | 'token';
