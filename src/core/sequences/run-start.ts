// The sequence behind `start`: the version gate, the PID-file and port preflight (stopping a
// running AgentAPI first with --replace), then AgentAPI in the foreground under our supervision,
// detached on its own, or detached under a checkpoint supervisor.

import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { getStatus } from '../agentapi/agentapi-client.js';
import {
  childrenOf,
  identifiedPid,
  spawnDetached,
  spawnSupervisor,
  stopGroup,
  tail,
  waitUntilReady,
} from '../agentapi/supervise.js';
import { runCheckpointProcess } from '../process/checkpoint-process.js';
import { exitCodeOf, spawnForeground, supervise } from '../process/foreground.js';
import type { ProcInfo } from '../process/proc.js';
import type { SupervisorOptions } from '../process/supervisor-options.js';
import { adoptState } from '../task/adopt.js';
import { planSession, sessionsFound } from '../task/agent-session.js';
import { AGENTS, type AgentProfile, agentTypeOf } from '../task/agents/index.js';
import {
  decidePrompt,
  digest,
  PROMPT_ENV,
  type PromptDecision,
  type PromptRecord,
  readPromptRecord,
  refusedWhy,
  type TaskPrompt,
  waitForDelivery,
  writePromptRecord,
} from '../task/prompt.js';
import { configureReporting, type Reporting } from '../task/report-status.js';
import { writeStartRecord } from '../task/start-record.js';
import { Deadline } from '../utils/deadline.js';
import { formatDuration } from '../utils/duration.js';
import { describe, EXIT, fsReason, UserError } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import { preparePrivateFolders } from '../utils/private-dir.js';
import { agentApiBaseUrl, agentApiEnv, coderEnv, DEFAULTS, PRIVATE_DIR } from '../utils/settings.js';
import { type Checkpointer, checkpointBudgetMs, startCheckpoints } from './checkpoint-timer.js';
import { postTarget } from './log-snapshot.js';
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
} from './start-checks.js';

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
  /** Already checked: a UUID or undefined. It also names the agent's session, where it can. */
  taskId?: string;
  /** The Task's prompt, given to AgentAPI on a first start only (prompt.ts), or why it cannot be. */
  prompt?: TaskPrompt;
  /** The Task's app slug: the agent reports its status to it (report-status.ts). */
  reportSlug?: string;
  /** A state file to start from when ours is absent; undefined: the registry module's for this agent; '': none. */
  adoptState?: string;
  maxMessages: number;
  maxBytes: number;
  passAgentToken: boolean;
  logger: Logger;
  /** What start reads from the world; the process's own by default (a test gives its own). */
  world?: StartWorld;
}

export interface StartWorld {
  /** Our environment: AgentAPI's is made from it; the Coder variables are read from it. */
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where AgentAPI and the agent start. */
  cwd?: string;
  /** The private folder the default PID and state files live in (~/.agentapi). */
  privateDir?: string;
  /** /status answers in a row that make AgentAPI ready. */
  readyStreak?: number;
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
  resume?: {
    resumed: boolean;
    why: string;
    added: string[];
    source?: string;
    agent: string[];
    /** The agent's session, when it is the task's own (named by its id). */
    sessionId?: string;
    /** The registry module's state file ours started as a copy of. */
    adoptedFrom?: string;
  };
  /** The Task's prompt: given to AgentAPI or not, and whether it was seen delivered. */
  prompt?: { given: boolean; bytes: number; why: string; delivered?: boolean; sha256?: string };
  /** Status reporting to the Task. */
  reporting?: Reporting;
  /** Foreground: how AgentAPI exited (128 + signal when killed), the command's own exit code. */
  exitCode?: number;
}

export async function runStart(o: StartOptions): Promise<StartReport> {
  const { logger, port } = o;
  const env = o.world?.env ?? process.env;
  const home = o.world?.home ?? homedir();
  const cwd = o.world?.cwd ?? process.cwd();
  const coder = coderEnv(env);
  const baseUrl = agentApiBaseUrl(port);
  const gate = await checkAgentApiVersion(o.agentapiBin);
  if (gate.warning) logger.warn(gate.warning);
  const persistence = gate.persistence && o.statePersistence;
  // The private folder first: nothing is read from or written to one another user could hold.
  const notPrivate = await preparePrivateFolders(
    [o.pidFile, o.stateFile],
    o.world?.privateDir ?? PRIVATE_DIR,
  );
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
      coder,
      logger,
    });
  }
  const stateDirProblem = persistence ? await prepareStateDir(o.stateFile) : undefined;
  if (stateDirProblem) {
    logger.warn(
      `${stateDirProblem}: AgentAPI runs, but cannot save the conversation (on a pause or a checkpoint) until it is`,
    );
  }
  await checkPortFree(port);
  await checkRoom(
    { ...o, pidFileFlag: gate.persistence, persistence: persistence && !stateDirProblem },
    logger,
  );

  const type = agentTypeOf(o.type, o.agent);
  const profile = AGENTS[type];
  // A template that moved here from the registry's module: its task's conversation, copied.
  const adoptFrom = persistence && !stateDirProblem ? adoptionSource(o.adoptState, profile, home) : undefined;
  const adoption = adoptFrom ? await adoptState(o.stateFile, adoptFrom) : undefined;
  if (adoption && 'failed' in adoption) {
    throw new UserError(
      `${adoption.failed}; the task's conversation is not carried over. Mend or move it, or start without it: --adopt-state '' (the module's adopt_state_file = "")`,
    );
  }
  if (adoption) {
    logger.info(
      `started from a copy of ${adoption.adopted}, the state the registry's module kept for this task (the original is left as it was)`,
    );
  }

  // The agent's own session: the task's, named by its id where the agent can; else continued on a
  // resume, never on a first start.
  const decision = await decideResume(o.stateFile, persistence);
  const where = { home, cwd, env };
  const plan = sessionPlan(o, type, decision.resumed, await sessionsFound(profile, o.taskId, where));
  logger.info(`${plan.why}${plan.added.length ? ` (${plan.added.join(' ')})` : ''}: ${decision.why}`);

  // The Task's prompt: AgentAPI's own initial prompt, on a first start only (prompt.ts). One it
  // cannot take as it is is not given, and the agent starts without it.
  const { sent, decision: promptDecision } = await promptPlan(o, decision.resumed);
  if (promptDecision?.give === false && o.prompt && 'refused' in o.prompt) logger.warn(promptDecision.why);
  else if (promptDecision) logger.info(promptDecision.why);

  // Status reporting to the Task, set up before the agent starts (report-status.ts).
  const reporting = o.reportSlug
    ? await configureReporting(profile, {
        slug: o.reportSlug,
        agentApiUrl: `http://localhost:${port}`,
        workdir: cwd,
        type,
        env,
      })
    : undefined;
  if (reporting?.state === 'configured') logger.info(`status reporting: ${reporting.why}`);
  else if (reporting) logger.warn(`status reporting: ${reporting.why}`);

  const agentEnv: Record<string, string> = {
    ...(reporting?.state === 'configured' ? profile?.reporting?.agentEnv : {}),
    ...(promptDecision?.give ? { [PROMPT_ENV]: sent } : {}),
  };
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
      sessionId: plan.sessionId,
      adoptedFrom: adoption && 'adopted' in adoption ? adoption.adopted : undefined,
    },
    prompt: promptDecision && {
      given: promptDecision.give,
      bytes: o.prompt?.bytes ?? 0,
      why: promptDecision.why,
      ...(sent ? { sha256: digest(sent) } : {}),
    },
    reporting,
  };
  const record = async () =>
    writeStartRecord(
      o.pidFile,
      {
        at: new Date().toISOString(),
        type,
        taskId: o.taskId,
        resumed: decision.resumed,
        why: decision.why,
        added: plan.added,
        source: plan.source,
        cwd,
        sessionId: plan.sessionId,
        sessionWhy: plan.sessionId ? plan.why : undefined,
        adoptedFrom: report.resume?.adoptedFrom,
        prompt: report.prompt,
        reporting,
      },
      [coder.token ?? ''],
    );
  await record();
  const childEnv = agentApiEnv(agentEnv, o.passAgentToken, env);
  if (o.detach) {
    // Beside the state file; beside the PID file when the state folder cannot be written (said above).
    const logFile = o.logFile ?? join(dirname(stateDirProblem ? o.pidFile : o.stateFile), 'agentapi.log');
    await detach({ ...o, logFile }, report, args, childEnv, agentEnv);
    // Recorded once AgentAPI runs with it: a start that failed never handed it over.
    const handed = promptDecision?.give ? await handPrompt(o, sent, logger) : undefined;
    if (handed && report.prompt) {
      await deliver(
        o,
        handed,
        report.prompt,
        Deadline.in(Math.max(1, o.readyTimeoutMs - (report.readyMs ?? 0))),
      );
      await record();
    }
    return report;
  }

  logger.info(`starting ${o.agentapiBin} ${args.join(' ')}`);
  const child = spawnForeground(o.agentapiBin, args, childEnv);
  if (child instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${child.message}`);
  report.pid = child.pid;
  const checkpoints = checkpointsFor(o, persistence);
  const handed = promptDecision?.give ? await handPrompt(o, sent, logger) : undefined;
  if (handed && report.prompt) {
    const prompt = report.prompt;
    void deliver(o, handed, prompt, Deadline.in(o.readyTimeoutMs));
  }
  const exit = await supervise(child);
  checkpoints?.stop();
  logger.info(`AgentAPI exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
  return { ...report, ok: exit.code === 0, exitCode: exitCodeOf(exit) };
}

/** The state file to adopt: --adopt-state, else the registry module's for this agent; '' is none. */
function adoptionSource(
  given: string | undefined,
  profile: AgentProfile | undefined,
  home: string,
): string | undefined {
  if (given !== undefined) return given || undefined;
  return profile?.registryState && join(home, profile.registryState.path);
}

/** What this start does with the Task's prompt: the text AgentAPI would send, and the decision. */
async function promptPlan(
  o: StartOptions,
  resumed: boolean,
): Promise<{ sent: string; decision?: PromptDecision }> {
  const prompt = o.prompt;
  if (!prompt) return { sent: '' };
  if ('refused' in prompt) return { sent: '', decision: { give: false, why: refusedWhy(prompt) } };
  if (!prompt.sent) return { sent: '' };
  const { record, ignored } = await readPromptRecord(o.stateFile);
  if (ignored) o.logger.warn(`${ignored}; deciding as if there were none`);
  return { sent: prompt.sent, decision: decidePrompt({ sent: prompt.sent, resumed, record }) };
}

/** Records that the prompt was handed to AgentAPI, which runs with it now. */
async function handPrompt(o: StartOptions, sent: string, logger: Logger): Promise<PromptRecord> {
  const record: PromptRecord = {
    sha256: digest(sent),
    bytes: Buffer.byteLength(sent),
    at: new Date().toISOString(),
    state: 'handed',
  };
  const problem = await writePromptRecord(o.stateFile, record);
  if (problem)
    logger.warn(`cannot keep the prompt's record (${problem}); a later first start may send it again`);
  return record;
}

/**
 * Waits (until `deadline`) for AgentAPI to show the prompt as a user message, and says how it went:
 * delivered, or not yet (AgentAPI still holds it, and sends it once the agent is ready for input).
 */
async function deliver(
  o: StartOptions,
  handed: PromptRecord,
  prompt: NonNullable<StartReport['prompt']>,
  deadline: Deadline,
): Promise<void> {
  const delivered = await waitForDelivery(agentApiBaseUrl(o.port), handed, deadline);
  if (delivered) {
    const at = new Date().toISOString();
    prompt.delivered = true;
    await writePromptRecord(o.stateFile, { ...handed, state: 'delivered', deliveredAt: at });
    o.logger.info(`the Task's prompt was delivered (${handed.bytes} bytes)`);
  } else {
    prompt.delivered = false;
    prompt.why = `the Task's prompt (${handed.bytes} bytes) was not delivered within ${formatDuration(o.readyTimeoutMs)}: AgentAPI sends it once the agent is ready for input; \`status\` tells; a later first start gives it again`;
    o.logger.warn(prompt.why);
  }
}

/** How long a running AgentAPI gets to answer /status before it counts as not healthy. */
const HEALTH_TIMEOUT_MS = 5000;

/** The agent's command line for this start, on a first start or a resume, given the sessions found. */
function sessionPlan(o: StartOptions, type: string, resumed: boolean, existing: ReadonlySet<string>) {
  return planSession({
    resumed,
    type,
    profile: AGENTS[type],
    agent: o.agent,
    resumeArgs: o.resumeArgs,
    recipes: o.resumeAgent,
    sessionId: o.taskId,
    existing,
  });
}

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
  // Any command line this start could have run: a first start or a resume, with the task's
  // session existing or not (or an earlier module's).
  const type = agentTypeOf(o.type, o.agent);
  const profile = AGENTS[type];
  const ids =
    o.taskId && profile?.sessions ? [o.taskId, ...(profile.sessions.legacy ?? []).map((l) => l.id)] : [];
  const expected = [false, true].flatMap((resumed) =>
    [new Set<string>(), ...ids.map((id) => new Set([id]))].map((existing) => {
      const plan = sessionPlan(o, type, resumed, existing);
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
    }),
  );
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
  const target = postTarget(o.taskId, coderEnv(o.world?.env));
  if ('missing' in target) o.logger.info(`checkpoints will only save state: ${target.missing}`);
  if ('invalid' in target) o.logger.warn(`checkpoints will only save state: ${target.invalid}`);
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
  agentEnv: Record<string, string>,
): SupervisorOptions {
  return {
    agentapiBin: o.agentapiBin,
    args,
    passAgentToken: o.passAgentToken === true,
    agentEnv,
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
  agentEnv: Record<string, string>,
): Promise<StartReport> {
  const logFile = o.logFile ?? join(dirname(o.stateFile), 'agentapi.log');
  const logError = (error: unknown): never => {
    throw new UserError(`--log-file ${describe(error)}`);
  };
  await mkdir(dirname(logFile), { recursive: true, mode: 0o700 }).catch((error: unknown) =>
    logError(`${logFile}: its folder cannot be made (${fsReason(error)})`),
  );
  const started = Date.now();
  const intervalMs = o.checkpointIntervalMs;
  const supervised = intervalMs !== undefined;
  const spawned = supervised
    ? await spawnSupervisor(
        supervisorOptions(o, intervalMs, args, report.statePersistence, agentEnv),
        logFile,
      ).catch(logError)
    : await spawnDetached(o.agentapiBin, args, env, logFile, o.world?.cwd).catch(logError);
  if (spawned instanceof Error) throw new UserError(`cannot start ${o.agentapiBin}: ${spawned.message}`);
  const { child, log } = spawned;
  const readiness = await waitUntilReady(child, o.port, Deadline.in(o.readyTimeoutMs), o.world?.readyStreak);
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
