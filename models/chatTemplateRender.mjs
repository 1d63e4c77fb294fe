// A GGUF's chat template rendered once in a process of its own (models/chatTemplate.ts): the Jinja
// renderer runs in JavaScript, so a template that loops for ever or grows without end would
// otherwise hang or kill the process that loads the model. A worker thread is not enough: V8 can
// abort the whole process when a thread's heap limit is hit inside one large allocation. The
// parent bounds this process's time and heap; here it only renders. The template comes on stdin;
// one JSON line goes to stdout ({ready} once loaded, then {ok, error}).
import { JinjaTemplateChatWrapper } from 'node-llama-cpp';

const chunks = [];
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const chunk of process.stdin) chunks.push(chunk);
const template = Buffer.concat(chunks).toString('utf8');
try {
  const wrapper = new JinjaTemplateChatWrapper({ template });
  wrapper.generateContextState({
    chatHistory: [
      { type: 'user', text: 'Hello' },
      { type: 'model', response: ['Hi.'] },
      { type: 'user', text: 'Bye' },
      { type: 'model', response: [] },
    ],
  });
  process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: err instanceof Error ? err.message : String(err) })}\n`);
}
