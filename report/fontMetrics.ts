import { readFileSync } from 'node:fs';

/**
 * Text advance widths read from a TrueType file (cmap + hmtx), for Vega's layout. Without a canvas
 * Vega guesses 0.8 em per character, which makes figures with titles and legends far too wide; with
 * the widths of the very font resvg draws with, labels fit and nothing is cut.
 */
export class FontMetrics {
  private readonly advance: Uint16Array;
  private readonly glyphOf: Map<number, number>;
  private readonly cache = new Map<number, number>();

  private constructor(
    readonly unitsPerEm: number,
    advance: Uint16Array,
    glyphOf: Map<number, number>,
  ) {
    this.advance = advance;
    this.glyphOf = glyphOf;
  }

  static fromFile(path: string): FontMetrics {
    return FontMetrics.parse(readFileSync(path));
  }

  static parse(buf: Buffer): FontMetrics {
    const tables = new Map<string, { offset: number; length: number }>();
    const numTables = buf.readUInt16BE(4);
    for (let i = 0; i < numTables; i++) {
      const rec = 12 + 16 * i;
      tables.set(buf.toString('latin1', rec, rec + 4), { offset: buf.readUInt32BE(rec + 8), length: buf.readUInt32BE(rec + 12) });
    }
    const table = (tag: string) => {
      const t = tables.get(tag);
      if (!t) throw new Error(`font has no '${tag}' table (not a TrueType/OpenType font?)`);
      return t.offset;
    };
    const unitsPerEm = buf.readUInt16BE(table('head') + 18);
    const numberOfHMetrics = buf.readUInt16BE(table('hhea') + 34);
    const numGlyphs = buf.readUInt16BE(table('maxp') + 4);
    const hmtx = table('hmtx');
    const advance = new Uint16Array(numGlyphs);
    for (let g = 0; g < numGlyphs; g++) advance[g] = buf.readUInt16BE(hmtx + 4 * Math.min(g, numberOfHMetrics - 1));
    return new FontMetrics(unitsPerEm, advance, readCmap(buf, table('cmap')));
  }

  /** Advance width of `text` in pixels at `fontSize` (kerning ignored: a few percent at most). */
  width(text: string, fontSize: number): number {
    let units = 0;
    for (const ch of text) {
      const cp = ch.codePointAt(0) as number;
      let w = this.cache.get(cp);
      if (w === undefined) {
        w = this.advance[this.glyphOf.get(cp) ?? 0] ?? 0;
        this.cache.set(cp, w);
      }
      units += w;
    }
    return (units * fontSize) / this.unitsPerEm;
  }
}

function readCmap(buf: Buffer, cmap: number): Map<number, number> {
  const count = buf.readUInt16BE(cmap + 2);
  let best: { offset: number; rank: number } | undefined;
  for (let i = 0; i < count; i++) {
    const rec = cmap + 4 + 8 * i;
    const platform = buf.readUInt16BE(rec);
    const encoding = buf.readUInt16BE(rec + 2);
    const offset = cmap + buf.readUInt32BE(rec + 4);
    const format = buf.readUInt16BE(offset);
    // Prefer full-Unicode format 12, then BMP format 4, from the Windows or Unicode platform.
    const rank = format === 12 ? 2 : format === 4 && (platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10))) ? 1 : 0;
    if (rank > 0 && (!best || rank > best.rank)) best = { offset, rank };
  }
  const map = new Map<number, number>();
  if (!best) return map;
  const t = best.offset;
  if (best.rank === 2) {
    const groups = buf.readUInt32BE(t + 12);
    for (let i = 0; i < groups; i++) {
      const g = t + 16 + 12 * i;
      const start = buf.readUInt32BE(g);
      const end = buf.readUInt32BE(g + 4);
      const glyph = buf.readUInt32BE(g + 8);
      for (let c = start; c <= end && c - start < 0x10000; c++) map.set(c, glyph + (c - start));
    }
    return map;
  }
  const segCount = buf.readUInt16BE(t + 6) / 2;
  const ends = t + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const rangeOffsets = deltas + 2 * segCount;
  for (let s = 0; s < segCount; s++) {
    const end = buf.readUInt16BE(ends + 2 * s);
    const start = buf.readUInt16BE(starts + 2 * s);
    const delta = buf.readInt16BE(deltas + 2 * s);
    const rangeOffsetAt = rangeOffsets + 2 * s;
    const rangeOffset = buf.readUInt16BE(rangeOffsetAt);
    for (let c = start; c <= end && c !== 0xffff; c++) {
      let glyph: number;
      if (rangeOffset === 0) glyph = (c + delta) & 0xffff;
      else {
        const at = rangeOffsetAt + rangeOffset + 2 * (c - start);
        glyph = buf.readUInt16BE(at);
        if (glyph !== 0) glyph = (glyph + delta) & 0xffff;
      }
      if (glyph !== 0) map.set(c, glyph);
    }
  }
  return map;
}
