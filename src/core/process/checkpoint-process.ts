// One checkpoint as a process of its own: this binary's `checkpoint` command, which start's timer
// (in the foreground, or in the resident supervisor) runs on each tick, exactly as a Coder cron
// script runs it. Its log lines go where ours go; the HTTP clients never load here.

import { describe } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import { selfCommand } from './internal-commands.js';

/**
 * Runs `checkpoint <args>` and waits for it, at most its budget and a little more; killed when
 * `stopped` aborts (AgentAPI exited: nothing it would post is wanted any more).
 */
export async function runCheckpointProcess(
  args: readonly string[],
  o: { budgetMs: number; stopped: AbortSignal; logger: Logger },
): Promise<void> {
  const [file, argv] = selfCommand('checkpoint', ...args);
  try {
    const child = Bun.spawn([file, ...argv], {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'inherit',
      signal: o.stopped,
      timeout: o.budgetMs + 5000,
      killSignal: 'SIGKILL',
    });
    await child.exited;
    if (child.exitCode !== 0 && !o.stopped.aborted)
      o.logger.warn(
        `checkpoint process ended with ${child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`}`,
      );
  } catch (error) {
    if (!o.stopped.aborted) o.logger.warn(`checkpoint process failed: ${describe(error)}`);
  }
}
