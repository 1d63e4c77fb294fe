import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatError } from '../../cli/output';
import { formatTable } from '../../cli/table';
import { MetError } from '../../common/errors';
import { escapeControls } from '../../common/text';

/** Issue #28: what providers, corpora and files say reaches a terminal escaped, never as control sequences. */
const HOSTILE = [
  '\x1b[2J\x1b[H', // clear screen, cursor home
  '\x1b]0;pwned\x07', // set the window title
  '\x1b]52;c;ZWNobyBoaQ==\x07', // write the clipboard (OSC 52)
  '\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\', // a hyperlink
  'nul\x00byte',
  '\x9b31m', // C1 CSI
  'abc\u202edcba', // right-to-left override
];
// No ESC, BEL, NUL, C1 or bidi override left: nothing a terminal would act on.
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('control characters are shown as visible escapes', () => {
  assert.equal(escapeControls('a\x1b[2Jb\x00c\td\ne'), 'a\\x1b[2Jb\\x00c\td\ne');
  assert.equal(escapeControls('a\tb\nc\u202e', true), 'a\\tb\\nc\\u202e');
  assert.equal(escapeControls('héllo 👋 日本'), 'héllo 👋 日本');
});

test('table cells (corpus rows) are escaped, one line each, and still aligned; colour codes met adds remain', () => {
  const out = formatTable(
    ['prompt', 'completion'],
    HOSTILE.map((h, i) => [`p${i}`, h]),
    { color: false },
  );
  assert.ok(!RAW.test(out), JSON.stringify(out));
  for (const h of HOSTILE) assert.ok(out.includes(escapeControls(h, true)));
  assert.equal(out.split('\n').length, 2 + HOSTILE.length);
  const coloured = formatTable(['x'], [[{ text: '\x1b[2J', style: 'red' }]], { color: true });
  assert.ok(coloured.includes('\x1b[31m\\x1b[2J\x1b[39m'), JSON.stringify(coloured));
});

test('errors (a provider body in a MetError, a plain Error) are escaped; their line breaks stay', () => {
  for (const h of HOSTILE) {
    const shown = formatError(new MetError('MetProviderRequest', `p answered 400: ${h}\nsecond line`));
    assert.ok(!RAW.test(shown.replace(/\n/g, '')), JSON.stringify(shown));
    assert.ok(shown.endsWith('\nsecond line'));
    assert.ok(!RAW.test(formatError(new Error(h))));
  }
});

test('met corpus query rows are escaped', async () => {
  const { formatQueryTable } = await import('../../cli/corpus');
  const out = formatQueryTable(
    ['completion'],
    HOSTILE.map((h) => [h]),
  );
  assert.ok(!RAW.test(out), JSON.stringify(out));
  assert.equal(out.split('\n').length, 2 + HOSTILE.length);
});
