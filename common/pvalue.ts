/**
 * One way to print a p-value, everywhere (CLI tables, test verdicts, audits, reports, the API):
 * `p = 0.0123` to three significant digits; a permutation or bootstrap p-value of 0 as what it
 * means, `p < 0.001 (b = 1000)`: no null draw was as extreme, so p is below the resolution 1/(b + 1).
 */
export function formatPValue(p: number, b?: number, opts: { showB?: boolean } = {}): string {
  const text = pValueText(p, b);
  const withB = b !== undefined && (opts.showB || p === 0) ? ` (b = ${b})` : '';
  return `p ${text.startsWith('<') ? text : `= ${text}`}${withB}`;
}

/** The value alone, for a table's p-value column: `0.0123`, or `< 0.001` for 0 of b draws (`0`, not `0.00`, when b is unknown). */
export function pValueText(p: number, b?: number): string {
  if (p === 0 && b !== undefined) return `< ${pResolution(b)}`;
  return p === 0 ? '0' : p.toPrecision(3);
}

/** 1/(b + 1), rounded up to one significant digit: 0.001 for b = 1000, 0.005 for b = 200. */
export function pResolution(b: number): number {
  const r = 1 / (b + 1);
  const scale = 10 ** Math.floor(Math.log10(r));
  return Number((Math.ceil(r / scale - 1e-9) * scale).toPrecision(1));
}
