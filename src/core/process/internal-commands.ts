// The hidden first arguments by which the binary runs its own helpers. People never type them:
// `start --detach --checkpoint-interval` spawns the supervisor, and the supervisor spawns one
// checkpoint at a time; each is handed its checked options as JSON on stdin.

/** The resident checkpoint supervisor: runs AgentAPI, forwards signals, schedules checkpoints. */
export const SUPERVISOR_ARG = '__supervise';

/** One checkpoint (save state, post a snapshot), in a process of its own. */
export const CHECKPOINT_ARG = '__checkpoint';

/** This binary's file and arguments to run `arg`: compiled, just the binary; under bun, the script. */
export function internalCommand(arg: string): [string, string[]] {
  // Compiled, argv[1] is the binary's own virtual path; under bun or node it is the script.
  const script = process.argv[1]?.startsWith('/$bunfs/') ? [] : [process.argv[1]];
  return [process.execPath, [...script, arg]];
}
