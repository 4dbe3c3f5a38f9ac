// `__checkpoint`: one checkpoint in a process of its own, spawned by the resident supervisor
// (supervisor-entry.ts) with its options on stdin. It prints the new fingerprint for the next one
// and exits, so the fetch, the scanner and the coderd client never stay resident.

import * as z from 'zod/mini';
import { checkpoint } from '../checkpoint.js';
import { postTarget } from '../coderd/log-snapshot.js';
import { coderEnv } from '../settings.js';
import { Deadline } from '../utils/deadline.js';
import { CHECKPOINT_ARG } from './internal-commands.js';
import { readStdinOptions, reportFailure, stderrLogger } from './internal-io.js';
import { isRunning, readProc } from './proc.js';

export const checkpointInput = z.object({
  agentApiUrl: z.string(),
  /** AgentAPI's PID when it saves state on SIGUSR1: the supervisor's own child. */
  savePid: z.optional(z.number()),
  taskId: z.optional(z.string()),
  maxMessages: z.number(),
  maxBytes: z.number(),
  budgetMs: z.number(),
  /** The fingerprint of the last checkpoint that saved and posted. */
  last: z.optional(z.string()),
  verbose: z.boolean(),
  quiet: z.boolean(),
});
export type CheckpointInput = z.infer<typeof checkpointInput>;

export async function runCheckpoint(): Promise<void> {
  const token = coderEnv().token;
  try {
    const input = await readStdinOptions(
      CHECKPOINT_ARG,
      "one checkpoint of start's supervisor",
      checkpointInput,
    );
    const logger = stderrLogger(input, token);
    const target = postTarget(input.taskId, coderEnv());
    const fingerprint = await checkpoint(
      {
        agentApiUrl: input.agentApiUrl,
        savePid: (await isSupervisorsChild(input.savePid)) ? input.savePid : undefined,
        target: 'missing' in target ? undefined : target,
        maxMessages: input.maxMessages,
        maxBytes: input.maxBytes,
        logger,
      },
      input.last,
      Deadline.in(input.budgetMs),
    );
    console.log(JSON.stringify({ fingerprint: fingerprint ?? null }));
  } catch (error) {
    reportFailure(error, token);
  }
}

/** SIGUSR1 goes only to a running child of the supervisor that spawned us: never a reused PID. */
async function isSupervisorsChild(pid: number | undefined): Promise<boolean> {
  if (pid === undefined) return false;
  const proc = await readProc(pid);
  return isRunning(proc) && proc.ppid === process.ppid;
}
