import type { Command } from 'commander';
import { register as api } from './api';
import { register as audit } from './audit';
import { register as collect } from './collect';
import { register as consistency } from './consistency';
import { register as corpus } from './corpus';
import { register as demo } from './demo';
import { register as doctor } from './doctor';
import { register as download } from './download';
import { register as fleet } from './fleet';
import { register as identify } from './identify';
import { register as models } from './models';
import { register as power } from './power';
import { register as runs } from './runs';
import { register as score } from './score';
import { register as serve } from './serve';
import { register as temporalServer } from './temporalServer';
import { register as stat } from './stat';
import { register as testCommand } from './test';
import { register as up } from './up';
import { register as worker } from './worker';

/** Each command module exports `register(program)`; heavy dependencies are imported lazily in actions. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  api,
  audit,
  collect,
  consistency,
  corpus,
  demo,
  doctor,
  download,
  fleet,
  identify,
  models,
  power,
  runs,
  score,
  serve,
  temporalServer,
  stat,
  testCommand,
  up,
  worker,
];
