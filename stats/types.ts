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
  /**
   * The pad value of the rows (default -1). Pads at the end of a row let the kernels skip the
   * padded tail; a sample compared with another must use the same pad.
   */
  pad?: number;
}

export type Unit = 'char' | 'token';
