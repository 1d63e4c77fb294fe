import { inflateSync } from 'node:zlib';

/**
 * A minimal PNG decoder for tests (8-bit grey, grey+alpha, RGB, RGBA, palette; not interlaced),
 * so figure and screenshot checks look at pixels without another dependency.
 */
export interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, row-major. */
  rgba: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function decodePng(buf: Buffer): DecodedPng {
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file');
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = 0;
  let interlace = 0;
  let palette: Buffer | undefined;
  let transparency: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8];
      colorType = data[9];
      interlace = data[12];
    } else if (type === 'PLTE') palette = data;
    else if (type === 'tRNS') transparency = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (bitDepth !== 8 || interlace !== 0) throw new Error(`unsupported PNG: bit depth ${bitDepth}, interlace ${interlace}`);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!channels) throw new Error(`unsupported PNG colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[out + x - channels] : 0;
      const b = y > 0 ? pixels[out - stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[out - stride + x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[out + x] = v & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = i * channels;
    let r: number, g: number, b: number, a: number;
    if (colorType === 0) [r, g, b, a] = [pixels[s], pixels[s], pixels[s], 255];
    else if (colorType === 4) [r, g, b, a] = [pixels[s], pixels[s], pixels[s], pixels[s + 1]];
    else if (colorType === 2) [r, g, b, a] = [pixels[s], pixels[s + 1], pixels[s + 2], 255];
    else if (colorType === 6) [r, g, b, a] = [pixels[s], pixels[s + 1], pixels[s + 2], pixels[s + 3]];
    else {
      const k = pixels[s];
      [r, g, b] = [palette![3 * k], palette![3 * k + 1], palette![3 * k + 2]];
      a = transparency && k < transparency.length ? transparency[k] : 255;
    }
    rgba.set([r, g, b, a], i * 4);
  }
  return { width, height, rgba };
}

export interface PixelSummary {
  /** Share of pixels that differ visibly from the most common colour (the background). */
  nonBackgroundShare: number;
  /** Number of distinct colours, quantised to 5 bits per channel. */
  distinctColors: number;
  /** Variance of luminance over all pixels. */
  luminanceVariance: number;
}

export function summarisePixels(img: DecodedPng): PixelSummary {
  const counts = new Map<number, number>();
  const n = img.width * img.height;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [img.rgba[4 * i], img.rgba[4 * i + 1], img.rgba[4 * i + 2]];
    const key = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += lum;
    sumSq += lum * lum;
  }
  const background = Math.max(...counts.values());
  const mean = sum / n;
  return { nonBackgroundShare: 1 - background / n, distinctColors: counts.size, luminanceVariance: sumSq / n - mean * mean };
}

/** Counts pixels within `tolerance` (per channel) of a colour given as '#rrggbb'. */
export function countColor(img: DecodedPng, hex: string, tolerance = 24): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let count = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    if (Math.abs(img.rgba[4 * i] - r) <= tolerance && Math.abs(img.rgba[4 * i + 1] - g) <= tolerance && Math.abs(img.rgba[4 * i + 2] - b) <= tolerance) count++;
  }
  return count;
}
