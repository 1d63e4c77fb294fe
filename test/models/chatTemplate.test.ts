import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadLlamaBackend } from '../../models/llama';
import { writeTinyModels } from '../../models/tiny';

/**
 * Issue #28: a GGUF's chat template is JavaScript-rendered Jinja in the loading process. A template
 * that loops for ever, or builds a string without end, is refused within seconds with the file
 * named, and the process's memory stays bounded; a sane template still renders chats.
 */
const dir = mkdtempSync(join(tmpdir(), 'met-chat-template-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const hostile = {
  loops: '{% for i in range(200000000) %}{% endfor %}{{ messages[0].content }}',
  spins: '{% for a in range(20000) %}{% for b in range(20000) %}{% endfor %}{% endfor %}{{ messages[0].content }}',
  grows: '{% set s = namespace(v="x") %}{% for i in range(64) %}{% set s.v = s.v ~ s.v %}{% endfor %}{{ s.v }}',
};

for (const [name, template] of Object.entries(hostile)) {
  test(`a chat template that ${name} is refused at load within seconds, naming the file, with memory bounded`, { timeout: 120_000 }, async (t) => {
    const path = writeTinyModels(join(dir, name), { chatTemplate: template }).fp32;
    // llama.cpp's libraries load with the first model: measured from after that.
    await (await loadLlamaBackend({ path: writeTinyModels(join(dir, `${name}-plain`)).fp32, precision: 'fp32' })).close();
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const started = Date.now();
    try {
      await assert.rejects(loadLlamaBackend({ path, precision: 'fp32' }), (err: Error) => {
        t.diagnostic(err.message);
        assert.match(
          err.message,
          new RegExp(
            `${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: its chat template \\(GGUF tokenizer\\.chat_template\\) (did not render within 5 s|needed more than 128 MB to render|failed to render \\(.*Invalid string length.*\\)); met refuses to use it`,
          ),
        );
        return true;
      });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;
    const grewMb = (peak - rssBefore) / 2 ** 20;
    t.diagnostic(`refused after ${seconds.toFixed(1)} s; this process grew by ${grewMb.toFixed(0)} MB meanwhile`);
    assert.ok(seconds < 30, `refused after ${seconds} s`);
    // The renderer's heap is capped at 192 MB (the template's 128 MB plus the renderer itself).
    assert.ok(grewMb < 400, `the process grew by ${grewMb.toFixed(0)} MB`);
  });
}

test('a sane chat template still renders chats after the check', { timeout: 120_000 }, async () => {
  const template = '{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}';
  const backend = await loadLlamaBackend({ path: writeTinyModels(join(dir, 'sane'), { chatTemplate: template }).fp32, precision: 'fp32' });
  try {
    const rendered = backend.renderChat([{ role: 'user', content: 'hello' }]);
    assert.ok(rendered, 'the file has a template');
    assert.match(rendered.text, /<user>hello<\/user>/);
  } finally {
    await backend.close();
  }
});
