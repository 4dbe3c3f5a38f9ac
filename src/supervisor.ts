// `__supervise`: the resident checkpoint supervisor of `start --detach --checkpoint-interval`, an
// entry point like cli.ts. It stays resident for the whole task, so it holds as little as it can:
// `start` has checked every option and worked out AgentAPI's command line and the checkpoint's
// arguments, and hands them over on stdin; this runs AgentAPI in the foreground (tini's way) and,
// on the checkpoint timer, runs the `checkpoint` command as a process of its own, so the HTTP
// clients, schemas and scanner are never loaded here. (In a Coder template the agent's cron runs
// `checkpoint` instead, and nothing of ours stays resident at all.)

import { runCheckpointProcess } from './core/process/checkpoint-process.js';
import { exitCodeOf, spawnForeground, supervise } from './core/process/foreground.js';
import { SUPERVISOR_ARG } from './core/process/internal-commands.js';
import { readStdinOptions, reportFailure, stderrLogger } from './core/process/internal-io.js';
import { supervisorOptions } from './core/process/supervisor-options.js';
import { checkpointBudgetMs, startCheckpoints } from './core/sequences/checkpoint-timer.js';
import { UserError } from './core/utils/errors.js';
import { agentApiEnv, coderEnv } from './core/utils/settings.js';

export async function runSupervisor(): Promise<void> {
  const token = coderEnv().token;
  try {
    const o = await readStdinOptions(SUPERVISOR_ARG, "start's checkpoint supervisor", supervisorOptions);
    const logger = stderrLogger(o, token);
    // The agent token is for coderd: neither AgentAPI nor the agent sees it unless asked.
    const env = agentApiEnv(o.agentEnv, o.passAgentToken);
    logger.info(`starting ${o.agentapiBin} ${o.args.join(' ')}`);
    const child = spawnForeground(o.agentapiBin, o.args, env);
    if (child instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${child.message}`);
    const budgetMs = checkpointBudgetMs(o.intervalMs);
    const checkpoints = startCheckpoints({
      intervalMs: o.intervalMs,
      run: (stopped) => runCheckpointProcess(o.checkpointArgs, { budgetMs, stopped, logger }),
    });
    const exit = await supervise(child);
    checkpoints.stop();
    logger.info(`AgentAPI exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
    process.exitCode = exitCodeOf(exit);
  } catch (error) {
    reportFailure(error, token);
  }
}
