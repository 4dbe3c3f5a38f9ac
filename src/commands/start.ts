import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as Flags from '@oclif/core/flags';
import { agentApiBaseUrl } from '../core/agentapi-client.js';
import { BaseCommand } from '../core/base-command.js';
import { type Checkpointer, startCheckpoints } from '../core/checkpoint.js';
import { Deadline } from '../core/deadline.js';
import { formatDuration } from '../core/duration.js';
import { describe, EXIT, UserError } from '../core/errors.js';
import { postTarget, taskIdProblem } from '../core/log-snapshot.js';
import {
  agentApiFlags,
  childEnv,
  coderEnv,
  DEFAULTS,
  durationFlag,
  ENV,
  pidFileFlag,
  snapshotFlags,
  stateFileFlag,
  taskIdFlag,
} from '../core/settings.js';
import { runShutdown } from '../core/shutdown.js';
import {
  checkAgentApiVersion,
  checkPidFile,
  checkPortFree,
  prepareStateDir,
  serverArgs,
} from '../core/start.js';
import {
  childrenOf,
  exitCodeOf,
  identifiedPid,
  spawnDetached,
  spawnForeground,
  spawnSupervisor,
  stopGroup,
  supervise,
  tail,
  waitUntilReady,
} from '../core/supervise.js';

export interface StartReport {
  ok: boolean;
  pid?: number;
  supervisorPid?: number;
  port: number;
  logFile?: string;
  statePersistence: boolean;
  agentapiVersion?: string;
  readyMs?: number;
  /** Foreground: how AgentAPI exited. */
  exitCode?: number;
}

export default class Start extends BaseCommand<typeof Start> {
  static summary = 'Run agentapi server with state persistence, supervised, with optional checkpoints.';

  static description = [
    'Starts `agentapi server --state-file … --load-state --save-state --pid-file … --port … -- <agent command>` so that the conversation survives a pause. The state directory is created (0700) first. AgentAPI writes its own PID file.',
    'Version gate: AgentAPI is asked for its version first; below 0.12.0 the persistence and PID-file flags are left out (they would stop it from starting) with a warning. A version that is not semver ("dev") is taken as new.',
    "In the foreground (default) SIGTERM, SIGINT and SIGHUP are forwarded once each and the exit code is AgentAPI's. With --detach it runs in the background, logging to --log-file, and returns once /status answers 200 three times in a row.",
    'With --checkpoint-interval the supervisor asks AgentAPI to save state and posts a fresh log snapshot (given --task-id and the Coder variables) whenever the conversation changed.',
  ].join('\n\n');

  static examples = [
    {
      description: 'In the foreground',
      command: '<%= config.bin %> <%= command.id %> --type claude -- claude --continue',
    },
    {
      description: 'From a Coder startup script: in the background, ready when it returns',
      command: '<%= config.bin %> <%= command.id %> --detach --type claude -- claude',
    },
    {
      description: 'Checkpoint every 2 minutes',
      command:
        '<%= config.bin %> <%= command.id %> --detach --checkpoint-interval 2m --task-id "$TASK_ID" -- claude',
    },
  ];

  static strict = false;

  static flags = {
    'agentapi-bin': Flags.string({ description: 'The agentapi executable', default: 'agentapi' }),
    port: agentApiFlags.port,
    type: Flags.string({
      char: 't',
      description: 'Agent type (claude, goose, aider, codex, …)',
      env: 'AGENTAPI_TYPE',
    }),
    'pid-file': pidFileFlag,
    'state-file': stateFileFlag,
    'state-persistence': Flags.boolean({
      description: 'Save and load the conversation (--no-state-persistence: PID file only)',
      default: true,
      allowNo: true,
    }),
    'server-arg': Flags.string({
      description: 'Extra argument for agentapi server (repeatable, e.g. --server-arg=--chat-base-path=/x)',
      multiple: true,
    }),
    detach: Flags.boolean({
      char: 'd',
      description: 'Run in the background and return once AgentAPI is ready',
    }),
    'log-file': Flags.string({
      description: 'With --detach: where output goes (default: agentapi.log next to the state file)',
    }),
    'ready-timeout': durationFlag({
      description: 'With --detach: how long to wait for readiness',
      default: 30_000,
      min: 1_000,
      max: 3_600_000,
    }),
    replace: Flags.boolean({
      description: 'If AgentAPI is already running, stop it first (with the shutdown sequence)',
    }),
    'checkpoint-interval': durationFlag({
      description: 'Save state and post a snapshot this often when changed (e.g. 2m; off by default)',
      min: 1_000,
      max: 86_400_000,
    }),
    'task-id': taskIdFlag,
    ...snapshotFlags,
    'pass-agent-token': Flags.boolean({
      description: `Pass ${ENV.agentToken} on to AgentAPI and the agent (by default no child process sees it)`,
    }),
  };

  /** An unknown flag before any `--` is most likely the agent's own: say where it belongs. */
  async init(): Promise<void> {
    try {
      await super.init();
    } catch (error) {
      if (error instanceof UserError && /Nonexistent flag/.test(error.message) && !this.argv.includes('--')) {
        throw new UserError(`${error.message}; ${AFTER_DOUBLE_DASH}`, EXIT.usage, { usage: 'start' });
      }
      throw error;
    }
  }

  async run(): Promise<StartReport> {
    const { flags } = this;
    const agent = agentCommand(this.argv);
    // A bad task id must not keep the agent from starting: checkpoints then only save state.
    const badTaskId = taskIdProblem(flags['task-id']);
    if (badTaskId) this.logger.warn(`${badTaskId}; checkpoints will not post snapshots`);
    const taskId = badTaskId ? undefined : flags['task-id'] || undefined;
    const port = flags.port;
    const baseUrl = agentApiBaseUrl(port);

    const gate = await checkAgentApiVersion(flags['agentapi-bin']);
    if (gate.warning) this.logger.warn(gate.warning);
    const persistence = gate.persistence && flags['state-persistence'];

    const running = gate.persistence
      ? await checkPidFile(flags['pid-file'], this.logger)
      : { state: 'free' as const };
    if (running.state === 'running') {
      if (!flags.replace) {
        throw new UserError(
          `AgentAPI is already running (PID ${running.pid}, ${flags['pid-file']}); use --replace to stop it first`,
        );
      }
      this.logger.info(`stopping the running AgentAPI (PID ${running.pid}) first`);
      await runShutdown({
        taskId,
        agentApiUrl: baseUrl,
        port,
        pidFile: flags['pid-file'],
        statePersistence: true,
        snapshot: true,
        stop: true,
        maxMessages: flags['max-messages'],
        maxBytes: flags['max-bytes'],
        timeoutMs: DEFAULTS.shutdownTimeoutMs,
        graceMs: DEFAULTS.graceMs,
        saveTimeoutMs: DEFAULTS.saveTimeoutMs,
        coder: coderEnv(),
        logger: this.logger,
      });
    }
    await prepareStateDir(flags['state-file']);
    await checkPortFree(port);

    const args = serverArgs({
      port,
      type: flags.type,
      pidFile: flags['pid-file'],
      stateFile: flags['state-file'],
      statePersistence: persistence,
      pidFileFlag: gate.persistence,
      extra: flags['server-arg'] ?? [],
      agent,
    });
    const report: StartReport = {
      ok: true,
      port,
      statePersistence: persistence,
      agentapiVersion: gate.info.raw,
    };

    const env = flags['pass-agent-token'] ? process.env : childEnv();
    if (flags.detach) return this.detach(report, args, env);

    this.logger.info(`starting ${flags['agentapi-bin']} ${args.join(' ')}`);
    const child = await spawnForeground(flags['agentapi-bin'], args, env);
    if (child instanceof Error)
      throw new UserError(`cannot start ${flags['agentapi-bin']}: ${child.message}`);
    report.pid = child.pid;
    const checkpoints = this.checkpoints(child, persistence, taskId, baseUrl);
    const exit = await supervise(child);
    checkpoints?.stop();
    this.logger.info(`AgentAPI exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`);
    // AgentAPI's exit code is ours; set it rather than throw, so --json prints one report.
    process.exitCode = exitCodeOf(exit);
    return { ...report, ok: exit.code === 0, exitCode: process.exitCode };
  }

  private checkpoints(
    child: ChildProcess,
    persistence: boolean,
    taskId: string | undefined,
    baseUrl: string,
  ): Checkpointer | undefined {
    const interval = this.flags['checkpoint-interval'];
    if (!interval) return undefined;
    const target = postTarget(taskId, coderEnv());
    if ('missing' in target) this.logger.info(`checkpoints will only save state: ${target.missing}`);
    this.logger.info(`checkpoints every ${formatDuration(interval)}`);
    return startCheckpoints({
      intervalMs: interval,
      agentApiUrl: baseUrl,
      savePid: persistence ? child.pid : undefined,
      target: 'missing' in target ? undefined : target,
      maxMessages: this.flags['max-messages'],
      maxBytes: this.flags['max-bytes'],
      logger: this.logger,
    });
  }

  /**
   * In the background, returning once AgentAPI is ready. Without checkpoints AgentAPI runs on its
   * own (nothing of ours stays resident); with them, a supervisor (this command again, without
   * --detach) runs AgentAPI and the checkpoints.
   */
  private async detach(report: StartReport, args: string[], env: NodeJS.ProcessEnv): Promise<StartReport> {
    const { flags } = this;
    const logFile = flags['log-file'] ?? join(dirname(flags['state-file']), 'agentapi.log');
    await mkdir(dirname(logFile), { recursive: true, mode: 0o700 });
    const started = Date.now();
    const logError = (error: unknown): never => {
      throw new UserError(`--log-file ${describe(error)}`);
    };
    const supervised = flags['checkpoint-interval'] !== undefined;
    const spawned = supervised
      ? await spawnSupervisor(logFile).catch(logError)
      : await spawnDetached(flags['agentapi-bin'], args, env, logFile).catch(logError);
    if (spawned instanceof Error)
      throw new UserError(`cannot start ${flags['agentapi-bin']}: ${spawned.message}`);
    const { child, log } = spawned;
    const readiness = await waitUntilReady(child, flags.port, Deadline.in(flags['ready-timeout']));
    if (!readiness.ready) {
      const who = supervised ? 'the supervisor' : 'AgentAPI';
      const why = readiness.exit
        ? `${who} exited during start-up (${readiness.exit.signal ? `signal ${readiness.exit.signal}` : `code ${readiness.exit.code}`})`
        : `AgentAPI did not become ready within ${formatDuration(flags['ready-timeout'])}; stopped it`;
      if (!readiness.exit) await stopGroup(child);
      const lines = await tail(log, 15);
      throw new UserError(`${why}; the last lines it wrote to ${logFile}:`, EXIT.failed, {
        report: { ...report, ok: false, logFile },
        details: lines,
      });
    }
    report.logFile = logFile;
    report.readyMs = Date.now() - started;
    if (supervised) {
      report.supervisorPid = child.pid;
      // AgentAPI's own PID file, or (an AgentAPI before 0.12 writes none) the supervisor's child.
      report.pid = (await identifiedPid(flags['pid-file'])) ?? (await childrenOf(child.pid as number))[0];
    } else {
      report.pid = child.pid;
    }
    const supervisor = supervised ? `, checkpoint supervisor ${child.pid}` : '';
    this.logger.info(
      `AgentAPI is ready on port ${flags.port} (PID ${report.pid ?? 'unknown'}${supervisor}, log ${logFile}) after ${formatDuration(report.readyMs)}`,
    );
    if (!this.jsonEnabled() && report.pid) process.stdout.write(`${report.pid}\n`);
    if (!report.pid)
      this.logger.warn(
        "cannot tell AgentAPI's PID: no PID file names it and the supervisor has no child yet",
      );
    return report;
  }
}

/** Everything after `--`; the agent command is required. */
function agentCommand(argv: readonly string[]): string[] {
  const at = argv.indexOf('--');
  const agent = at === -1 ? [] : argv.slice(at + 1);
  if (agent.length === 0) {
    throw new UserError(AFTER_DOUBLE_DASH, EXIT.usage, { usage: 'start' });
  }
  return agent;
}

const AFTER_DOUBLE_DASH =
  'the agent command and its flags go after --, e.g. `agentapi-lifecycle start --type claude -- claude --continue`';
