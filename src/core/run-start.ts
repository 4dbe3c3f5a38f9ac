// The sequence behind `start`: the version gate, the PID-file and port preflight (stopping a
// running AgentAPI first with --replace), then AgentAPI in the foreground under our supervision,
// detached on its own, or detached under a checkpoint supervisor.

import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { agentTypeOf, planResume } from './agent-resume.js';
import { getStatus } from './agentapi/agentapi-client.js';
import { type Checkpointer, checkpointBudgetMs, startCheckpoints } from './checkpoint-timer.js';
import { postTarget } from './coderd/log-snapshot.js';
import { runCheckpointProcess } from './process/checkpoint-process.js';
import { exitCodeOf, spawnForeground, supervise } from './process/foreground.js';
import type { ProcInfo } from './process/proc.js';
import {
  childrenOf,
  identifiedPid,
  spawnDetached,
  spawnSupervisor,
  stopGroup,
  tail,
  waitUntilReady,
} from './process/supervise.js';
import type { SupervisorOptions } from './process/supervisor-options.js';
import { agentApiBaseUrl, childEnv, coderEnv, DEFAULTS, PRIVATE_DIR } from './settings.js';
import { runShutdown } from './shutdown.js';
import {
  checkAgentApiVersion,
  checkPidFile,
  checkPortFree,
  checkRoom,
  decideResume,
  differences,
  prepareStateDir,
  serverArgs,
} from './start.js';
import { writeStartRecord } from './start-record.js';
import { Deadline } from './utils/deadline.js';
import { formatDuration } from './utils/duration.js';
import { describe, EXIT, UserError } from './utils/errors.js';
import type { Logger } from './utils/log.js';
import { preparePrivateFolders } from './utils/private-dir.js';

export interface StartOptions {
  agentapiBin: string;
  port: number;
  type?: string;
  pidFile: string;
  stateFile: string;
  statePersistence: boolean;
  /** Extra `agentapi server` arguments. */
  serverArgs: readonly string[];
  /** The agent command (after `--`). */
  agent: readonly string[];
  /** Added to the agent command on a resume only (they win over the recipes). */
  resumeArgs: readonly string[];
  /** Add a known agent's own resume arguments on a resume (--no-resume-agent: no). */
  resumeAgent: boolean;
  detach: boolean;
  logFile?: string;
  readyTimeoutMs: number;
  replace: boolean;
  checkpointIntervalMs?: number;
  /** Already checked: a UUID or undefined. */
  taskId?: string;
  maxMessages: number;
  maxBytes: number;
  passAgentToken: boolean;
  logger: Logger;
}

export interface StartReport {
  ok: boolean;
  /** started: by this run; already-running: the very AgentAPI it would start was running. */
  outcome: 'started' | 'already-running';
  pid?: number;
  supervisorPid?: number;
  port: number;
  logFile?: string;
  statePersistence: boolean;
  agentapiVersion?: string;
  readyMs?: number;
  /** Whether this start is a resume, why, and what was added to the agent command for it. */
  resume?: { resumed: boolean; why: string; added: string[]; source?: string; agent: string[] };
  /** Foreground: how AgentAPI exited (128 + signal when killed), the command's own exit code. */
  exitCode?: number;
}

export async function runStart(o: StartOptions): Promise<StartReport> {
  const { logger, port } = o;
  const baseUrl = agentApiBaseUrl(port);
  const gate = await checkAgentApiVersion(o.agentapiBin);
  if (gate.warning) logger.warn(gate.warning);
  const persistence = gate.persistence && o.statePersistence;
  // The private folder first: nothing is read from or written to one another user could hold.
  const notPrivate = await preparePrivateFolders([o.pidFile, o.stateFile], PRIVATE_DIR);
  if (notPrivate) {
    throw new UserError(
      `${notPrivate}; it would hold AgentAPI's PID file, lock and state (or give --pid-file and --state-file elsewhere)`,
    );
  }

  const running = gate.persistence ? await checkPidFile(o.pidFile, logger) : { state: 'free' as const };
  if (running.state === 'running') {
    if (!o.replace) return alreadyRunning(o, running, persistence, gate.info.raw);
    logger.info(`stopping the running AgentAPI (PID ${running.pid}) first`);
    await runShutdown({
      taskId: o.taskId,
      agentApiUrl: baseUrl,
      port,
      pidFile: o.pidFile,
      statePersistence: true,
      snapshot: true,
      stop: true,
      maxMessages: o.maxMessages,
      maxBytes: o.maxBytes,
      timeoutMs: DEFAULTS.shutdownTimeoutMs,
      graceMs: DEFAULTS.graceMs,
      saveTimeoutMs: DEFAULTS.saveTimeoutMs,
      coder: coderEnv(),
      logger,
    });
  }
  await prepareStateDir(o.stateFile);
  await checkPortFree(port);
  await checkRoom({ ...o, pidFileFlag: gate.persistence, persistence }, logger);

  // The agent's own session: continued on a resume, never on a first start.
  const decision = await decideResume(o.stateFile, persistence);
  const plan = planResume({
    resumed: decision.resumed,
    type: o.type,
    agent: o.agent,
    resumeArgs: o.resumeArgs,
    recipes: o.resumeAgent,
  });
  logger.info(`${plan.why}${plan.added.length ? ` (${plan.added.join(' ')})` : ''}: ${decision.why}`);
  await writeStartRecord(o.pidFile, {
    at: new Date().toISOString(),
    type: agentTypeOf(o.type, o.agent),
    resumed: decision.resumed,
    why: decision.why,
    added: plan.added,
    source: plan.source,
    cwd: process.cwd(),
  });

  const args = serverArgs({
    port,
    type: o.type,
    pidFile: o.pidFile,
    stateFile: o.stateFile,
    statePersistence: persistence,
    pidFileFlag: gate.persistence,
    extra: o.serverArgs,
    agent: plan.agent,
  });
  const report: StartReport = {
    ok: true,
    outcome: 'started',
    port,
    statePersistence: persistence,
    agentapiVersion: gate.info.raw,
    resume: {
      resumed: decision.resumed,
      why: decision.why,
      added: plan.added,
      source: plan.source,
      agent: plan.agent,
    },
  };
  // The agent token is for coderd: neither AgentAPI nor the agent sees it unless asked.
  const env = o.passAgentToken ? process.env : childEnv();
  if (o.detach) return detach(o, report, args, env);

  logger.info(`starting ${o.agentapiBin} ${args.join(' ')}`);
  const child = spawnForeground(o.agentapiBin, args, env);
  if (child instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${child.message}`);
  report.pid = child.pid;
  const checkpoints = checkpointsFor(o, persistence);
  const exit = await supervise(child);
  checkpoints?.stop();
  logger.info(`AgentAPI exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
  return { ...report, ok: exit.code === 0, exitCode: exitCodeOf(exit) };
}

/** How long a running AgentAPI gets to answer /status before it counts as not healthy. */
const HEALTH_TIMEOUT_MS = 5000;

/**
 * The AgentAPI this start would run is running already (its PID file names a live agentapi server
 * of ours): a second run of a start script, a restarted Coder agent. Success when it is the very
 * same (the command line this start would run, on a first start or a resume) and answers /status,
 * like `systemctl start` on a running unit; else refused, saying what differs.
 */
async function alreadyRunning(
  o: StartOptions,
  running: { pid: number; proc: ProcInfo },
  persistence: boolean,
  agentapiVersion: string | undefined,
): Promise<StartReport> {
  const since = new Date(running.proc.startedAtMs).toISOString();
  const who = `AgentAPI is already running (PID ${running.pid}, since ${since}, ${o.pidFile})`;
  const expected = [false, true].map((resumed) => {
    const plan = planResume({
      resumed,
      type: o.type,
      agent: o.agent,
      resumeArgs: o.resumeArgs,
      recipes: o.resumeAgent,
    });
    return serverArgs({
      port: o.port,
      type: o.type,
      pidFile: o.pidFile,
      stateFile: o.stateFile,
      statePersistence: persistence,
      pidFileFlag: true,
      extra: o.serverArgs,
      agent: plan.agent,
    });
  });
  const differ = differences(running.proc.argv.slice(1), expected);
  if (differ.length > 0) {
    throw new UserError(
      `${who}, but not as asked: ${differ.join('; ')}; use --replace to stop it and start it as asked`,
    );
  }
  try {
    await getStatus({ baseUrl: agentApiBaseUrl(o.port), timeoutMs: HEALTH_TIMEOUT_MS });
  } catch (error) {
    throw new UserError(
      `${who}, but it does not answer /status (${describe(error)}); use --replace to stop it and start it again`,
    );
  }
  o.logger.info(`${who}, as asked, and answers /status: nothing to do`);
  return {
    ok: true,
    outcome: 'already-running',
    pid: running.pid,
    port: o.port,
    statePersistence: persistence,
    agentapiVersion,
  };
}

/** Checkpoints for a foreground start: the `checkpoint` command on each tick, as in the supervisor. */
function checkpointsFor(o: StartOptions, persistence: boolean): Checkpointer | undefined {
  const intervalMs = o.checkpointIntervalMs;
  if (!intervalMs) return undefined;
  const args = checkpointArgs(o, intervalMs, persistence);
  const budgetMs = checkpointBudgetMs(intervalMs);
  return startCheckpoints({
    intervalMs,
    run: (stopped) => runCheckpointProcess(args, { budgetMs, stopped, logger: o.logger }),
  });
}

/**
 * The `checkpoint` command's arguments for this start's AgentAPI, each tick bounded by the
 * interval; says once where snapshots go (or why they cannot).
 */
function checkpointArgs(o: StartOptions, intervalMs: number, persistence: boolean): string[] {
  const target = postTarget(o.taskId, coderEnv());
  if ('missing' in target) o.logger.info(`checkpoints will only save state: ${target.missing}`);
  o.logger.info(`checkpoints every ${formatDuration(intervalMs)}`);
  const level = o.logger.level;
  return [
    ...['--port', String(o.port), '--pid-file', o.pidFile, '--state-file', o.stateFile],
    ...(o.taskId ? ['--task-id', o.taskId] : []),
    ...['--max-messages', String(o.maxMessages), '--max-bytes', String(o.maxBytes)],
    ...['--timeout', `${checkpointBudgetMs(intervalMs)}ms`],
    ...(persistence ? [] : ['--no-state-persistence']),
    // A schedule: a lasting failure is said once, not at every tick.
    '--quiet-repeats',
    ...(level.verbose ? ['--verbose'] : level.quiet ? ['--quiet'] : []),
  ];
}

/** What the checkpoint supervisor needs: AgentAPI's command line and the checkpoint's arguments. */
function supervisorOptions(
  o: StartOptions,
  intervalMs: number,
  args: string[],
  persistence: boolean,
): SupervisorOptions {
  return {
    agentapiBin: o.agentapiBin,
    args,
    passAgentToken: o.passAgentToken === true,
    intervalMs,
    checkpointArgs: checkpointArgs(o, intervalMs, persistence),
    ...o.logger.level,
  };
}

/**
 * In the background, returning once AgentAPI is ready. Without checkpoints AgentAPI runs on its
 * own (nothing of ours stays resident); with them, the checkpoint supervisor (supervisor-entry.ts)
 * runs AgentAPI and the checkpoints.
 */
async function detach(
  o: StartOptions,
  report: StartReport,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<StartReport> {
  const logFile = o.logFile ?? join(dirname(o.stateFile), 'agentapi.log');
  await mkdir(dirname(logFile), { recursive: true, mode: 0o700 });
  const started = Date.now();
  const logError = (error: unknown): never => {
    throw new UserError(`--log-file ${describe(error)}`);
  };
  const intervalMs = o.checkpointIntervalMs;
  const supervised = intervalMs !== undefined;
  const spawned = supervised
    ? await spawnSupervisor(supervisorOptions(o, intervalMs, args, report.statePersistence), logFile).catch(
        logError,
      )
    : await spawnDetached(o.agentapiBin, args, env, logFile).catch(logError);
  if (spawned instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${spawned.message}`);
  const { child, log } = spawned;
  const readiness = await waitUntilReady(child, o.port, Deadline.in(o.readyTimeoutMs));
  if (!readiness.ready) {
    const who = supervised ? 'the supervisor' : 'AgentAPI';
    const why = readiness.exit
      ? `${who} exited during start-up (${readiness.exit.signal ? `signal ${readiness.exit.signal}` : `code ${readiness.exit.code}`})`
      : `AgentAPI did not become ready within ${formatDuration(o.readyTimeoutMs)}; stopped it`;
    if (!readiness.exit) await stopGroup(child);
    throw new UserError(`${why}; the last lines it wrote to ${logFile}:`, EXIT.failed, {
      report: { ...report, ok: false, logFile },
      details: await tail(log, 15),
    });
  }
  report.logFile = logFile;
  report.readyMs = Date.now() - started;
  if (supervised) {
    report.supervisorPid = child.pid;
    // AgentAPI's own PID file, or (an AgentAPI before 0.12 writes none) the supervisor's child.
    report.pid = (await identifiedPid(o.pidFile)) ?? (await childrenOf(child.pid as number))[0];
  } else {
    report.pid = child.pid;
  }
  const supervisor = supervised ? `, checkpoint supervisor ${child.pid}` : '';
  o.logger.info(
    `AgentAPI is ready on port ${o.port} (PID ${report.pid ?? 'unknown'}${supervisor}, log ${logFile}) after ${formatDuration(report.readyMs)}`,
  );
  if (!report.pid)
    o.logger.warn("cannot tell AgentAPI's PID: no PID file names it and the supervisor has no child yet");
  return report;
}
