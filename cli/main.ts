import { Command, CommanderError } from 'commander';
import { commands } from './commands';
import { addExamples } from './examples';
import { formatError, INTERRUPTED_EXIT } from './output';
import { version } from '../package.json';

/** Builds the `met` program: one module per command under cli/, each registering itself. */
export function buildProgram(): Command {
  const program = new Command('met')
    .description('Model Equality Testing at fleet scale: which model is this API really serving?')
    .version(`met ${version} (Node ${process.version})`, '-V, --version', "print met's version and the Node it runs on")
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  for (const register of commands) register(program);
  addExamples(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    // Ctrl-C stopped a watch and its message is out: leave now, so no gRPC retry still pending on
    // the closed connection can surface later as 'Channel has been shut down'.
    if (process.exitCode === INTERRUPTED_EXIT) process.exit(INTERRUPTED_EXIT);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`${formatError(err)}\n`);
    process.exitCode = 1;
  }
}
