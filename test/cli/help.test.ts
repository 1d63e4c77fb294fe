import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../cli/main';
import { EXAMPLES } from '../../cli/examples';

/** Every command's --help ends with examples of itself, whose options exist; met --help starts with where to begin. */
function commands(command: Command, path = ''): [string, Command][] {
  return command.commands.flatMap((c) => {
    const name = path ? `${path} ${c.name()}` : c.name();
    return [[name, c] as [string, Command], ...commands(c, name)];
  });
}

test('met --help opens with the five commands a newcomer needs', () => {
  const help = buildProgram().helpInformation();
  let out = '';
  const program = buildProgram().configureOutput({ writeOut: (s) => (out += s) });
  program.outputHelp();
  assert.ok(out.startsWith('Start here'), out.slice(0, 200));
  for (const c of ['met demo', 'met up', 'met collect', 'met test', 'met status']) assert.match(out.split('Usage:')[0], new RegExp(`^  ${c} `, 'm'));
  assert.match(help, /^Usage: met/m);
});

test('every command has examples that run it with options it has', () => {
  const all = commands(buildProgram()).filter(([name]) => name !== 'help');
  for (const [name, command] of all) {
    const examples = EXAMPLES[name];
    assert.ok(examples?.length, `met ${name} --help has no example`);
    const subcommands = command.commands.map((c) => c.name());
    const own = examples.filter(
      (e) => e === `met ${name}` || (e.startsWith(`met ${name} `) && !subcommands.includes(e.slice(`met ${name} `.length).split(' ')[0])),
    );
    assert.ok(own.length > 0 || subcommands.length > 0, `no example of met ${name} runs met ${name}`);
    const flags = new Set(command.options.flatMap((o) => [o.long, o.short]).filter(Boolean));
    for (const e of own) {
      for (const flag of e.split('#')[0].match(/ --?[a-z][a-z0-9-]*/g) ?? [])
        assert.ok(flags.has(flag.trim()), `met ${name} has no ${flag.trim()} (example: ${e})`);
    }
    let out = '';
    command.configureOutput({ writeOut: (s) => (out += s) }).outputHelp();
    assert.match(out, /\nExamples:\n {2}\$ met /, `met ${name} --help shows its examples`);
  }
  for (const name of Object.keys(EXAMPLES))
    assert.ok(
      all.some(([n]) => n === name),
      `examples for a command that does not exist: ${name}`,
    );
});
