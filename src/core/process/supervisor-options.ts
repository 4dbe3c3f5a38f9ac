// What `start --detach --checkpoint-interval` hands the resident supervisor (src/supervisor.ts) on
// stdin: AgentAPI's command line as start worked it out, and the `checkpoint` command's arguments.

import * as z from 'zod/mini';

export const supervisorOptions = z.object({
  agentapiBin: z.string(),
  /** `agentapi server …`'s arguments, as start worked them out. */
  args: z.array(z.string()).check(z.minLength(1)),
  passAgentToken: z.boolean(),
  /** Added to AgentAPI's environment: the Task's prompt, what the agent needs to report its status. */
  agentEnv: z.record(z.string(), z.string()),
  intervalMs: z.number(),
  /** `checkpoint`'s arguments (after the command's name), run on each tick. */
  checkpointArgs: z.array(z.string()),
  verbose: z.boolean(),
  quiet: z.boolean(),
});
export type SupervisorOptions = z.infer<typeof supervisorOptions>;
