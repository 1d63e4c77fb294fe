import type { Command } from 'commander';

/** Each command module exports `register(program)`; heavy dependencies are imported lazily in actions. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
];
