import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorTypes, MetError } from '../common/errors';

/**
 * Fonts for PNG rendering. resvg draws no text without a font file and never downloads one, so
 * figures are rendered with a font found on this machine: DejaVu Sans (Debian's fonts-dejavu-core,
 * which `scripts/ensure-chromium.sh` installs), else Liberation Sans, else whatever fontconfig
 * answers for "sans-serif". Nothing here touches the network.
 */

/** The family the figures ask for first; SVG viewers without it fall back to their sans-serif. */
export const FIGURE_FONT_FAMILY = 'DejaVu Sans';
export const FIGURE_FONT_STACK = `${FIGURE_FONT_FAMILY}, Liberation Sans, Arial, Helvetica, sans-serif`;

const KNOWN_REGULAR = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', // Debian, Ubuntu
  '/usr/share/fonts/TTF/DejaVuSans.ttf', // Arch
  '/usr/share/fonts/dejavu/DejaVuSans.ttf', // Fedora
  '/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf', // Fedora (newer)
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  '/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf',
  '/System/Library/Fonts/Supplemental/Arial.ttf', // macOS
  '/Library/Fonts/Arial.ttf',
];

export interface FigureFonts {
  /** Font files handed to resvg (regular first, then bold if found). */
  files: string[];
  regular: string;
  bold?: string;
  /** The family name resvg should use for sans-serif and as its default. */
  family: string;
}

let cached: FigureFonts | undefined;

/**
 * Finds the fonts for PNG figures. `extraFiles` (e.g. from a CLI flag: regular, then optionally bold) are used first.
 * Throws a MetError naming the fix when the machine has no usable font.
 */
export function resolveFigureFonts(extraFiles: string[] = []): FigureFonts {
  const extras = extraFiles.filter((f) => {
    if (!existsSync(f)) throw new MetError(ErrorTypes.NotFound, `font file ${f} does not exist`);
    return true;
  });
  if (extras.length === 0 && cached) return cached;
  const regular = extras[0] ?? KNOWN_REGULAR.find((f) => existsSync(f)) ?? fontconfigMatch();
  if (!regular) {
    throw new MetError(
      ErrorTypes.NotFound,
      'no font found to draw text in PNG figures: install one with `bash scripts/ensure-chromium.sh` (Debian fonts-dejavu-core) or `apt-get install fonts-dejavu-core`, or pass a .ttf file',
    );
  }
  const bold = extras[1] ?? boldSibling(regular);
  const files = [...new Set([...extras, regular, ...(bold ? [bold] : [])])];
  const family = familyOf(regular);
  const fonts: FigureFonts = { files, family, regular, bold };
  if (extras.length === 0) cached = fonts;
  return fonts;
}

function boldSibling(regular: string): string | undefined {
  const dir = dirname(regular);
  const candidates = [regular.replace(/\.ttf$/i, '-Bold.ttf'), regular.replace(/-Regular\.ttf$/i, '-Bold.ttf'), join(dir, 'Arial Bold.ttf')];
  return candidates.find((f) => f !== regular && existsSync(f));
}

function familyOf(file: string): string {
  if (/DejaVuSans/i.test(file)) return 'DejaVu Sans';
  if (/LiberationSans/i.test(file)) return 'Liberation Sans';
  if (/Arial/i.test(file)) return 'Arial';
  try {
    return (
      execFileSync('fc-query', ['-f', '%{family[0]}', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim() ||
      FIGURE_FONT_FAMILY
    );
  } catch {
    return FIGURE_FONT_FAMILY;
  }
}

function fontconfigMatch(): string | undefined {
  try {
    const file = execFileSync('fc-match', ['-f', '%{file}', 'sans-serif'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return file && /\.(ttf|otf|ttc)$/i.test(file) && existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}
