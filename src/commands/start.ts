import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as Flags from '@oclif/core/flags';
import { agentApiBaseUrl, getStatus } from '../core/agentapi-client.js';
import { BaseCommand } from '../core/base-command.js';
import { type Checkpointer, startCheckpoints } from '../core/checkpoint.js';
import { Deadline, pollUntil } from '../core/deadline.js';
import { formatDuration } from '../core/duration.js';
import { EXIT, UserError } from '../core/errors.js';
import { checkTaskId, postTarget } from '../core/log-snapshot.js';
import { readPidFile } from '../core/pid-file.js';
import { identifyAgentApi } from '../core/proc.js';
import {
  agentApiFlags,
  coderEnv,
  DEFAULTS,
  durationFlag,
  pidFileFlag,
  snapshotFlags,
  stateFileFlag,
  taskIdFlag,
} from '../core/settings.js';
import { runShutdown } from '../core/shutdown.js';
import { send, waitForExit } from '../core/signals.js';
import {
  checkAgentApiVersion,
  checkPidFile,
  checkPortFree,
  prepareStateDir,
  serverArgs,
} from '../core/start.js';

/** Ready means /status answered 200 this many times in a row. */
const READY_STREAK = 3;
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

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
      defaultHelp: async () => '30s',
    }),
    replace: Flags.boolean({
      description: 'If AgentAPI is already running, stop it first (with the shutdown sequence)',
    }),
    'checkpoint-interval': durationFlag({
      description: 'Save state and post a snapshot this often when changed (e.g. 2m; off by default)',
    }),
    'task-id': taskIdFlag,
    ...snapshotFlags,
  };

  async run(): Promise<StartReport> {
    const { flags } = this;
    const agent = agentCommand(this.argv);
    const taskId = checkTaskId(flags['task-id']);
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

    if (flags.detach) return this.detach(report, gate.persistence);

    this.logger.info(`starting ${flags['agentapi-bin']} ${args.join(' ')}`);
    // Its own process group: a terminal's Ctrl-C reaches AgentAPI once, through us. A second
    // signal would make AgentAPI exit without saving.
    const child = spawn(flags['agentapi-bin'], args, { stdio: 'inherit', detached: true });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned) throw new UserError(`cannot start ${flags['agentapi-bin']}: ${spawned.message}`);
    report.pid = child.pid;
    const checkpoints = this.checkpoints(child, persistence, taskId, baseUrl);
    const code = await supervise(child);
    checkpoints?.stop();
    this.logger.info(`AgentAPI exited (${code.signal ? `signal ${code.signal}` : `code ${code.code}`})`);
    // AgentAPI's exit code is ours; set it rather than throw, so --json prints one report.
    process.exitCode = code.code ?? 128 + signalNumber(code.signal);
    return { ...report, ok: code.code === 0, exitCode: process.exitCode };
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

  /** Re-runs this command in the foreground as a detached supervisor, then waits for readiness. */
  private async detach(report: StartReport, pidFileFlag: boolean): Promise<StartReport> {
    const { flags } = this;
    const logFile = flags['log-file'] ?? join(dirname(flags['state-file']), 'agentapi.log');
    await mkdir(dirname(logFile), { recursive: true, mode: 0o700 });
    const log = openSync(logFile, 'a', 0o600);
    const self = process.argv[1]?.startsWith('/$bunfs/') ? [] : [process.argv[1]];
    // The same command line, minus --detach, up to the agent command (which stays untouched).
    const argv = process.argv.slice(2);
    const end = argv.indexOf('--');
    const own = argv.slice(0, end).filter((a) => !['--detach', '-d', '--json'].includes(a));
    const child = spawn(process.execPath, [...self, ...own, ...argv.slice(end)], {
      stdio: ['ignore', log, log],
      detached: true,
    });
    closeSync(log);
    child.unref();
    let exited: { code: number | null } | undefined;
    child.once('exit', (code) => {
      exited = { code };
    });

    const started = Date.now();
    const deadline = Deadline.in(flags['ready-timeout']);
    let streak = 0;
    const ready = await pollUntil(
      deadline,
      async () => {
        if (exited) return false;
        try {
          await getStatus({ baseUrl: agentApiBaseUrl(flags.port), timeoutMs: 1000, signal: deadline.signal });
          streak++;
        } catch {
          streak = 0;
        }
        return streak >= READY_STREAK ? true : undefined;
      },
      { firstMs: 50, maxMs: 100 },
    );
    if (ready !== true) {
      // Decided before stopping: stopping makes the supervisor exit too.
      const why = exited
        ? `AgentAPI exited during start-up (code ${exited.code})`
        : `AgentAPI did not become ready within ${formatDuration(flags['ready-timeout'])}`;
      if (!exited) await stopGroup(child);
      throw new UserError(`${why}; last lines of ${logFile}:\n${tail(logFile, 15)}`, EXIT.failed, {
        ...report,
        ok: false,
        logFile,
      });
    }
    report.supervisorPid = child.pid;
    report.logFile = logFile;
    report.readyMs = Date.now() - started;
    report.pid = pidFileFlag ? await pidFromFile(flags['pid-file']) : undefined;
    this.logger.info(
      `AgentAPI is ready on port ${flags.port} (PID ${report.pid ?? 'unknown'}, supervisor ${child.pid}, log ${logFile}) after ${formatDuration(report.readyMs)}`,
    );
    if (!this.jsonEnabled()) process.stdout.write(`${report.pid ?? child.pid}\n`);
    return report;
  }
}

/** Everything after `--`; the agent command is required. */
function agentCommand(argv: readonly string[]): string[] {
  const at = argv.indexOf('--');
  const agent = at === -1 ? [] : argv.slice(at + 1);
  if (agent.length === 0) {
    throw new UserError(
      'give the agent command after --, e.g. `agentapi-lifecycle start -- claude`',
      EXIT.usage,
    );
  }
  return agent;
}

/** Forwards signals to the child until it exits (tini: forward, wait). */
function supervise(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve({ code, signal });
    });
  });
}

/** Stops everything a failed detach started: SIGTERM to its process group, SIGKILL if it lingers. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const group = -(child.pid as number);
  if (send(group, 'SIGTERM') !== 'sent') return;
  if (!(await waitForExit(child.pid as number, Deadline.in(3000)))) send(group, 'SIGKILL');
}

async function pidFromFile(path: string): Promise<number | undefined> {
  const file = await readPidFile(path);
  if (file.state !== 'ok') return undefined;
  return (await identifyAgentApi(file.pid, file.writtenAtMs)).ok ? file.pid : undefined;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) || 1;
}
