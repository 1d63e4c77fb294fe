/**
 * FNV-1a 64-bit, in pure JS so workflow code can use it (no node:crypto in the sandbox). Used for
 * deterministic ids and seeds, never for security.
 */
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

export function fnv1a64(text: string): bigint {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV_PRIME) & MASK;
  }
  return hash;
}

export function hashHex(...parts: (string | number)[]): string {
  return fnv1a64(parts.join('\u001f')).toString(16).padStart(16, '0');
}

/** A non-negative 31-bit integer seed derived from parts (fits every provider's `seed`). */
export function seedFrom(...parts: (string | number)[]): number {
  return Number(fnv1a64(parts.join('\u001f')) & 0x7fffffffn);
}

/** Canonical JSON (sorted keys) so equal specs hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
