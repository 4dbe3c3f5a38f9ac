// `__supervise`: the detached checkpoint supervisor. It stays resident for the whole task, so it
// holds as little as it can: `start` has checked every option and worked out AgentAPI's command
// line already and hands them over on stdin; this runs AgentAPI in the foreground (tini's way:
// foreground.ts) and, on the checkpoint timer, runs each checkpoint as a process of its own
// (`__checkpoint`), so the HTTP clients, schemas and scanner are never loaded here.

import * as z from 'zod/mini';
import { checkpointBudgetMs, startCheckpoints } from '../checkpoint-timer.js';
import { childEnv, coderEnv } from '../settings.js';
import { describe, UserError } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import type { CheckpointInput } from './checkpoint-entry.js';
import { exitCodeOf, spawnForeground, supervise } from './foreground.js';
import { CHECKPOINT_ARG, internalCommand, SUPERVISOR_ARG } from './internal-commands.js';
import { readStdinOptions, reportFailure, stderrLogger } from './internal-io.js';

/** What `start` hands over: AgentAPI's command line, and what each checkpoint needs. */
export const supervisorOptions = z.object({
  agentapiBin: z.string(),
  /** `agentapi server …`'s arguments, as start worked them out. */
  args: z.array(z.string()).check(z.minLength(1)),
  passAgentToken: z.boolean(),
  intervalMs: z.number(),
  agentApiUrl: z.string(),
  /** AgentAPI saves its state on SIGUSR1. */
  statePersistence: z.boolean(),
  /** Only when snapshots can be posted (start said why not otherwise). */
  taskId: z.optional(z.string()),
  maxMessages: z.number(),
  maxBytes: z.number(),
  verbose: z.boolean(),
  quiet: z.boolean(),
});
export type SupervisorOptions = z.infer<typeof supervisorOptions>;

/** The most a checkpoint process may print: one fingerprint. */
const MAX_OUTPUT_CHARS = 4096;

export async function runSupervisor(): Promise<void> {
  const token = coderEnv().token;
  try {
    const o = await readStdinOptions(SUPERVISOR_ARG, "start's checkpoint supervisor", supervisorOptions);
    const logger = stderrLogger(o, token);
    // The agent token is for coderd: neither AgentAPI nor the agent sees it unless asked.
    const env = o.passAgentToken ? process.env : childEnv();
    logger.info(`starting ${o.agentapiBin} ${o.args.join(' ')}`);
    const child = spawnForeground(o.agentapiBin, o.args, env);
    if (child instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${child.message}`);
    const checkpoints = startCheckpoints({
      intervalMs: o.intervalMs,
      run: (last, stopped) =>
        checkpointInChild(
          {
            agentApiUrl: o.agentApiUrl,
            savePid: o.statePersistence ? child.pid : undefined,
            taskId: o.taskId,
            maxMessages: o.maxMessages,
            maxBytes: o.maxBytes,
            budgetMs: checkpointBudgetMs(o.intervalMs),
            last,
            verbose: o.verbose,
            quiet: o.quiet,
          },
          logger,
          stopped,
        ),
    });
    const exit = await supervise(child);
    checkpoints.stop();
    logger.info(`AgentAPI exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
    process.exitCode = exitCodeOf(exit);
  } catch (error) {
    reportFailure(error, token);
  }
}

/**
 * One checkpoint as a process of its own (this binary, `__checkpoint`), its log lines going where
 * ours go; resolves to the fingerprint it prints, or `input.last` if it failed.
 */
async function checkpointInChild(
  input: CheckpointInput,
  logger: Logger,
  stopped: AbortSignal,
): Promise<string | undefined> {
  const [file, args] = internalCommand(CHECKPOINT_ARG);
  try {
    const child = Bun.spawn([file, ...args], {
      stdin: new TextEncoder().encode(JSON.stringify(input)),
      stdout: 'pipe',
      stderr: 'inherit',
      // Killed when AgentAPI stops (what it fetched is older than what shutdown posts), or when it
      // hangs past its own deadline all the same.
      signal: stopped,
      timeout: input.budgetMs + 5000,
      killSignal: 'SIGKILL',
    });
    let output = '';
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      if (output.length < MAX_OUTPUT_CHARS) output += decoder.decode(chunk, { stream: true });
    }
    await child.exited;
    if (child.exitCode !== 0)
      throw new Error(child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`);
    const { fingerprint } = JSON.parse(output) as { fingerprint?: unknown };
    return typeof fingerprint === 'string' ? fingerprint : undefined;
  } catch (error) {
    if (stopped.aborted) logger.debug('checkpoint: stopped with AgentAPI');
    else logger.warn(`checkpoint process failed: ${describe(error)}`);
    return input.last;
  }
}
