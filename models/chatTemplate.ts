import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ErrorTypes, MetError } from '../common/errors';

/** How long and how much heap one render of a GGUF's chat template may take (models/chatTemplateRender.mjs). */
export const CHAT_TEMPLATE_LIMITS = { ms: 5000, heapMb: 128 } as const;

/**
 * Renders a model file's chat template once, in a child process with a time and heap bound, before
 * the template is used in this process: a template that loops (`range(200000000)`) or grows without
 * end is refused with a clear error instead of hanging the worker or taking the process down. A
 * template that fails to render there is refused too, with the renderer's error (rendering it again
 * here would only repeat the work). Real templates render in milliseconds; the time bound counts
 * from after the renderer has loaded.
 */
export async function checkChatTemplate(template: string, file: string, limits: { ms: number; heapMb: number } = CHAT_TEMPLATE_LIMITS): Promise<void> {
  const refuse = (why: string) =>
    new MetError(
      ErrorTypes.BadInput,
      `${file}: its chat template (GGUF tokenizer.chat_template) ${why}; met refuses to use it. Fix or remove the template in the file, or use another file`,
    );
  // Room for node-llama-cpp's JavaScript itself, plus the template's bound.
  const child = spawn(process.execPath, [`--max-old-space-size=${64 + limits.heapMb}`, fileURLToPath(new URL('./chatTemplateRender.mjs', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let out = '';
  let err = '';
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  child.stdin.on('error', () => undefined); // a renderer that died early: its exit says why
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c) => resolve(c));
      child.stdout.on('data', (d: Buffer) => {
        const before = out;
        out += d.toString();
        if (!before.includes('\n') && out.includes('\n')) {
          // Loaded: the bound starts now, and the template goes in.
          timer = setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, limits.ms);
          child.stdin.end(template);
        }
      });
    });
    if (timedOut) throw refuse(`did not render within ${limits.ms / 1000} s`);
    const answer = out
      .split('\n')
      .filter(Boolean)
      .slice(1)
      .map((l) => JSON.parse(l) as { ok: boolean; error?: string })[0];
    if (answer?.ok) return;
    if (answer) throw refuse(`failed to render (${answer.error ?? 'no reason given'})`);
    if (/heap out of memory|Reached heap limit/.test(err)) throw refuse(`needed more than ${limits.heapMb} MB to render`);
    throw refuse(`stopped its renderer (exit ${code}): ${err.trim().split('\n').slice(-1)[0] ?? ''}`);
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
