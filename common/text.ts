/**
 * Text from outside (a provider's completion or error body, a corpus, a file) made safe for a
 * terminal: control characters (C0, DEL, C1) and bidirectional overrides are shown as visible
 * escapes (`\x1b`, `\u202e`), so no escape sequence (clear screen, set title, clipboard write,
 * hyperlink) reaches the terminal raw (issue #28). Pure: the CLI, reports and workflows may use it.
 */
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_AND_LINES = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** `text` with control characters escaped; newlines and tabs kept unless `oneLine` (table cells, progress lines). */
export function escapeControls(text: string, oneLine = false): string {
  return text.replace(oneLine ? CONTROLS_AND_LINES : CONTROLS, visible);
}

/** Whether `text` holds a control character other than tab, newline and carriage return. */
export function hasControls(text: string): boolean {
  CONTROLS.lastIndex = 0;
  return CONTROLS.test(text);
}

const PROMPT_CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * Why a prompt cannot be collected, or undefined: an id with any control character, or a text
 * with a C0 control other than tab and line breaks (NUL, ESC: they broke the consistency report
 * on every retry, issue #28). Refused before anything is sent.
 */
export function promptProblem(id: string, text: string): string | undefined {
  if (hasControls(id) || /[\t\n\r]/.test(id)) return `prompt id ${JSON.stringify(escapeControls(id, true))} holds a control character`;
  const m = PROMPT_CONTROLS.exec(text);
  if (m)
    return `prompt ${JSON.stringify(escapeControls(id, true))} holds a control character (${escapeControls(m[0])}) at ${m.index}: remove it from the prompt text`;
  return undefined;
}
