import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { FontMetrics } from './fontMetrics';
import { resolveFigureFonts, type FigureFonts } from './fonts';

/**
 * met's figures drawn: a Vega-Lite spec (report/chartSpecs.ts) compiled and rendered server-side by
 * Vega (View with renderer 'none', `toSVG()`), and rasterised to PNG by resvg with a local font.
 */

export const VEGA_VERSION = vega.version;

export interface RenderedSvg {
  svg: string;
  width: number;
  height: number;
  /** Vega-Lite and Vega warnings (empty for a well-formed spec). */
  warnings: string[];
  /** Every drawn text (labels, titles, legends) with its box in figure coordinates. */
  texts: TextBox[];
}

export interface TextBox {
  text: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Pairs of drawn texts whose boxes overlap by more than `slack` pixels each way. */
export function overlappingTexts(texts: readonly TextBox[], slack = 1): [TextBox, TextBox][] {
  const out: [TextBox, TextBox][] = [];
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      const [a, b] = [texts[i], texts[j]];
      const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
      const h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
      if (w > slack && h > slack) out.push([a, b]);
    }
  }
  return out;
}

interface SceneItem {
  x?: number;
  y?: number;
  text?: unknown;
  bounds?: { x1: number; y1: number; x2: number; y2: number };
  items?: SceneItem[];
  marktype?: string;
  opacity?: number;
}

/** The text items of a rendered scenegraph with their absolute bounds (groups offset their children). */
function sceneTexts(node: SceneItem, dx = 0, dy = 0, marktype?: string, out: TextBox[] = []): TextBox[] {
  const type = node.marktype ?? marktype;
  if (type === 'text' && node.bounds && node.text !== undefined && node.text !== '' && node.opacity !== 0) {
    const b = node.bounds;
    if (Number.isFinite(b.x1) && b.x2 > b.x1)
      out.push({ text: ([] as unknown[]).concat(node.text).join(','), x1: b.x1 + dx, y1: b.y1 + dy, x2: b.x2 + dx, y2: b.y2 + dy });
  }
  // A group item offsets the marks inside it; a mark passes its type down to its items.
  const isGroupItem = type === 'group' && node.marktype === undefined;
  const [ox, oy] = isGroupItem ? [dx + (node.x ?? 0), dy + (node.y ?? 0)] : [dx, dy];
  for (const child of node.items ?? []) sceneTexts(child, ox, oy, node.marktype ?? (isGroupItem ? undefined : type), out);
  return out;
}

/**
 * Compiles a Vega-Lite spec and renders it headless to an SVG string. No network, no DOM. Text is
 * laid out with the advance widths of the font the PNG is drawn with (see useFontMetrics).
 */
export async function renderSvg(spec: TopLevelSpec, opts: { fonts?: FigureFonts } = {}): Promise<RenderedSvg> {
  useFontMetrics(opts.fonts);
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  const { spec: vgSpec } = compile(spec, { logger });
  // Clip-path and gradient ids count up per process; reset them so equal input gives equal SVG.
  vegaInternals.resetSVGDefIds();
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logger: logger });
  try {
    const svg = await view.toSVG();
    const size = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
    // The SVG's origin is the view's, shifted by its padding/autosize origin.
    const origin = (view as unknown as { origin(): [number, number] }).origin();
    const texts = sceneTexts((view.scenegraph() as unknown as { root: SceneItem }).root, origin[0], origin[1]);
    return { svg, width: Number(size?.[1] ?? 0), height: Number(size?.[2] ?? 0), warnings, texts };
  } finally {
    view.finalize();
  }
}

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
}

/** Vega's scenegraph hooks that its typings leave out (vl-convert sets textMetrics.width the same way). */
const vegaInternals = vega as unknown as {
  textMetrics: { width: (item: TextItem, text: unknown) => number };
  resetSVGDefIds(): void;
};

let metricsKey: string | undefined;

/**
 * Points Vega's text measurement at the figure font's real advance widths. Without a font on the
 * machine it falls back to 0.6 em per character, close to DejaVu Sans' average; SVG still renders.
 */
function useFontMetrics(given?: FigureFonts): void {
  let fonts = given;
  if (!fonts) {
    try {
      fonts = resolveFigureFonts();
    } catch {
      fonts = undefined;
    }
  }
  const key = fonts ? fonts.files.join('|') : 'estimate';
  if (key === metricsKey) return;
  metricsKey = key;
  const regular = fonts ? FontMetrics.fromFile(fonts.regular) : undefined;
  const bold = fonts?.bold ? FontMetrics.fromFile(fonts.bold) : regular;
  vegaInternals.textMetrics.width = (item, raw) => {
    const text = raw == null ? '' : ([] as unknown[]).concat(raw).join(',').trim();
    const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
    const isBold = item.fontWeight === 'bold' || Number(item.fontWeight) >= 600;
    const metrics = isBold ? bold : regular;
    const width = metrics ? metrics.width(text, size) : 0.6 * [...text].length * size;
    // Vega truncates labels to `limit` (with an ellipsis) before drawing; report the drawn width.
    return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
  };
}

/** Rasterises an SVG (from renderSvg) to PNG with a local font; `scale` 2 gives crisp figures on high-DPI screens. */
export function renderPng(svg: string, opts: { scale?: number; fonts?: FigureFonts } = {}): Buffer {
  const fonts = opts.fonts ?? resolveFigureFonts();
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: opts.scale ?? 2 },
    font: { loadSystemFonts: false, fontFiles: fonts.files, defaultFontFamily: fonts.family, sansSerifFamily: fonts.family },
    textRendering: 1,
    shapeRendering: 2,
  });
  return resvg.render().asPng();
}

/**
 * Rewrites element ids (and their url(#...)/href references) with a prefix, so several Vega SVGs
 * inlined in one HTML page cannot borrow each other's clip paths or gradients.
 */
export function namespaceSvgIds(svg: string, prefix: string): string {
  const ids = new Set<string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) ids.add(m[1]);
  if (ids.size === 0) return svg;
  const rename = (id: string) => (ids.has(id) ? `${prefix}-${id}` : id);
  return svg
    .replace(/(\sid=")([^"]+)"/g, (_, a: string, id: string) => `${a}${rename(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${rename(id)})`)
    .replace(/(href=")#([^"]+)"/g, (_, a: string, id: string) => `${a}#${rename(id)}"`);
}

interface CollectingLogger {
  level(): number;
  level(v: number): CollectingLogger;
  error(...args: unknown[]): CollectingLogger;
  warn(...args: unknown[]): CollectingLogger;
  info(...args: unknown[]): CollectingLogger;
  debug(...args: unknown[]): CollectingLogger;
}

function collectingLogger(into: string[]): CollectingLogger {
  let level = 2; // warn
  const logger: CollectingLogger = {
    level: ((v?: number) => {
      if (v === undefined) return level;
      level = v;
      return logger;
    }) as CollectingLogger['level'],
    error: (...args) => {
      throw new Error(args.map(String).join(' '));
    },
    warn: (...args) => {
      into.push(args.map(String).join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}
