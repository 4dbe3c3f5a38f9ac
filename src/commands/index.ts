// Every command, loaded when it is run (src/cli.ts): a command's module graph (its flags, the core
// steps, schemas and HTTP clients behind it) is paid for by the runs of that command only. The
// import() paths are static, so bun still compiles every command into the binary.
import type { CommandClass } from './base-command.js';

const LOADERS = {
  checkpoint: () => import('./checkpoint.js'),
  shutdown: () => import('./shutdown.js'),
  smoke: () => import('./smoke.js'),
  snapshot: () => import('./snapshot.js'),
  start: () => import('./start.js'),
  status: () => import('./status.js'),
  transcript: () => import('./transcript.js'),
} satisfies Record<string, () => Promise<{ default: CommandClass }>>;

export type CommandId = keyof typeof LOADERS;

export const COMMAND_IDS = Object.keys(LOADERS) as CommandId[];

export function isCommandId(word: string): word is CommandId {
  return Object.hasOwn(LOADERS, word);
}

export async function loadCommand(id: CommandId): Promise<CommandClass> {
  return (await LOADERS[id]()).default;
}

/** Every command, for help. */
export async function loadCommands(): Promise<Record<CommandId, CommandClass>> {
  const classes = await Promise.all(COMMAND_IDS.map(loadCommand));
  return Object.fromEntries(COMMAND_IDS.map((id, i) => [id, classes[i]])) as Record<CommandId, CommandClass>;
}
