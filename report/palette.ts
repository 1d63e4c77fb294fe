/**
 * met's figure colours, one place for the server-side figures (report/chartSpecs.ts) and the web
 * console (api/console.ts). No dependencies.
 */

/** Tableau 10, Vega's default categorical scheme, with grey kept for reference-vs-reference series. */
export const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d'];
export const NULL_COLOR = '#6b6b6b';
export const ALPHA_COLOR = '#b2182b';
export const REJECT_COLOR = '#e45756';
export const ACCEPT_COLOR = '#4c78a8';
/** Axis and grid greys of the figures' Vega config. */
export const GRID_COLOR = '#e8e8e8';
export const DOMAIN_COLOR = '#888';

/** FNV-1a over the name's UTF-16 code units: a fixed hash, the same in every process and version. */
function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The series colours: the palette less the red that marks rejections (REJECT_COLOR; alpha lines
 * and observed values are red too), so that no series reads as a verdict.
 */
export const SERIES_PALETTE = PALETTE.filter((c) => c !== REJECT_COLOR);

/**
 * The colours a name prefers, best first: a fixed walk through the series palette that starts
 * where its hash points and steps by a stride from the hash too, so two names that share a first
 * choice rarely share the second.
 */
export function colorChoices(name: string): string[] {
  const h = nameHash(name);
  const n = SERIES_PALETTE.length;
  // Strides coprime with the palette's length visit every colour once.
  const strides = Array.from({ length: n - 1 }, (_, i) => i + 1).filter((k) => gcd(k, n) === 1);
  const start = h % n;
  const stride = strides[Math.floor(h / n) % strides.length];
  return Array.from({ length: n }, (_, i) => SERIES_PALETTE[(start + i * stride) % n]);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** A series' colour from its name alone (model/source, endpoint, test): the same in every figure. */
export function seriesColor(name: string): string {
  return colorChoices(name)[0];
}

/**
 * Colours for the series of one figure, in the order given: each gets its name's colour; only
 * where two names of the same figure want the same colour does the one later in name order (not
 * in plot order) take its next free choice. A series keeps its colour across figures unless such
 * a clash moves it.
 */
export function seriesColors(names: readonly string[]): string[] {
  const taken = new Map<string, string>();
  const used = new Set<string>();
  for (const name of [...new Set(names)].sort()) {
    const choices = colorChoices(name);
    // More series than colours: the palette repeats (as Vega's own scheme does).
    const color = choices.find((c) => !used.has(c)) ?? choices[0];
    used.add(color);
    taken.set(name, color);
  }
  return names.map((n) => taken.get(n)!);
}
