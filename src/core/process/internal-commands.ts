// How the binary runs itself: the hidden `__supervise` (the resident checkpoint supervisor, which
// `start --detach --checkpoint-interval` spawns with its checked options as JSON on stdin), the
// hidden `__smoke-agent` (smoke's trivial agent), and the public `checkpoint` command, which the
// supervisor and a foreground `start` run on each tick.

/** The resident checkpoint supervisor: runs AgentAPI, forwards signals, schedules checkpoints. */
export const SUPERVISOR_ARG = '__supervise';

/** The trivial chat agent `smoke` runs behind AgentAPI by default (src/smoke-agent.ts). */
export const SMOKE_AGENT_ARG = '__smoke-agent';

/** This binary's file and arguments to run `args`: compiled, just the binary; under bun, the script. */
export function selfCommand(...args: string[]): [string, string[]] {
  // Compiled, argv[1] is the binary's own virtual path; under bun or node it is the script.
  const script = process.argv[1]?.startsWith('/$bunfs/') ? [] : [process.argv[1]];
  return [process.execPath, [...script, ...args]];
}
