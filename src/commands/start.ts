import * as Flags from '@oclif/core/flags';
import type { StartReport } from '../core/sequences/run-start.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { write } from '../core/utils/output.js';
import { ENV } from '../core/utils/settings.js';
import { BaseCommand } from './base-command.js';
import {
  agentApiFlags,
  durationFlag,
  pidFileFlag,
  snapshotFlags,
  stateFileFlag,
  taskIdFlag,
} from './flags.js';

export type { StartReport };

export default class Start extends BaseCommand<typeof Start> {
  static summary = 'Run agentapi server with state persistence, supervised, with optional checkpoints.';

  static description = [
    'Starts `agentapi server --state-file … --load-state --save-state --pid-file … --port … -- <agent command>` so that the conversation survives a pause. The state directory is created (0700) first. AgentAPI writes its own PID file.',
    'Version gate: AgentAPI is asked for its version first; below 0.12.0 the persistence and PID-file flags are left out (they would stop it from starting) with a warning. A version that is not semver ("dev") is taken as new.',
    "In the foreground (default) SIGTERM, SIGINT and SIGHUP are forwarded once each and the exit code is AgentAPI's. With --detach it runs in the background, logging to --log-file, and returns once /status answers 200 three times in a row.",
    "On a resume (persistence on, and the state file holds a conversation) the agent continues its own session too, never on a first start: --resume-args are added to its command if given; else Claude with --task-id runs in the task's own session (--session-id <task id> on a first start, --resume <task id> once Claude has it); else a known agent type's documented way to continue its latest session (claude --continue, codex resume --last, gemini --resume latest, goose session --resume, opencode --continue, copilot --continue, aider --restore-chat-history). --no-resume-agent turns the known ways off. Give the agent command as it starts fresh.",
    "With --checkpoint-interval the `checkpoint` command runs on a timer (outside Coder; in a template the agent's cron runs it): it saves state and posts a fresh log snapshot (given --task-id and the Coder variables) whenever the conversation changed.",
  ].join('\n\n');

  static examples = [
    {
      description:
        'In the foreground, the agent as it starts fresh (on a resume it continues its latest session)',
      command: '<%= config.bin %> <%= command.id %> --type claude -- claude',
    },
    {
      description:
        "From a Coder startup script: in the background, ready when it returns; with the task's id, Claude runs in the task's own session (--session-id, then --resume)",
      command: '<%= config.bin %> <%= command.id %> --detach --type claude --task-id "$TASK_ID" -- claude',
    },
    {
      description: 'Your own agent: what it needs on a resume only',
      command: '<%= config.bin %> <%= command.id %> --detach --resume-args=--resume-last -- my-agent',
    },
    {
      description: "The Task's prompt, once, from standard input (a first start only; never twice)",
      command:
        'printf %s "$PROMPT" | <%= config.bin %> <%= command.id %> --detach --prompt-file - --type claude -- claude',
    },
    {
      description:
        'Checkpoint every 2 minutes (outside Coder; in a template the agent runs `checkpoint` on a cron)',
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
    'resume-args': Flags.string({
      description:
        "Added to the agent command when this start is a resume (the state file holds a conversation), never on a first start; repeatable; wins over the known agents' own",
      multiple: true,
    }),
    'resume-agent': Flags.boolean({
      description:
        "On a resume, add a known agent's own way to continue (claude with --task-id: --resume <task id>; else claude --continue, codex resume --last, …); --no-resume-agent: never",
      default: true,
      allowNo: true,
    }),
    'task-id': taskIdFlag,
    prompt: Flags.string({
      description:
        "The Task's prompt, given to the agent on a first start only (AgentAPI's initial prompt), never on a resume nor twice",
      exclusive: ['prompt-file'],
    }),
    'prompt-file': Flags.string({
      description: 'The same, read byte for byte from a file (- for standard input)',
    }),
    'task-app-slug': Flags.string({
      description:
        "The Task app's slug: an agent with a Coder MCP set-up (claude) reports its status to it (coder exp mcp configure)",
    }),
    'adopt-state': Flags.string({
      description:
        "Without a state file of its own, start from a copy of this one (default: the state file the registry's module kept for this agent type, e.g. ~/.claude-module/agentapi-state.json; '' for none)",
    }),
    ...snapshotFlags,
    'pass-agent-token': Flags.boolean({
      description: `Pass ${ENV.agentToken} on to AgentAPI and the agent (by default no child process sees it)`,
    }),
  };

  /** An unknown flag before any `--` is most likely the agent's own: say where it belongs. */
  protected async init(): Promise<void> {
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
    // Loaded only now: --help and flag mistakes never pay for the HTTP clients and schemas.
    const [{ runStart }, { taskIdProblem }, { promptFromArgument, readPrompt }, { parseUuid }] =
      await Promise.all([
        import('../core/sequences/run-start.js'),
        import('../core/sequences/log-snapshot.js'),
        import('../core/task/prompt.js'),
        import('../core/coderd/rules.js'),
      ]);
    const prompt =
      flags['prompt-file'] !== undefined
        ? await readPrompt(flags['prompt-file'])
        : flags.prompt !== undefined
          ? await promptFromArgument(flags.prompt)
          : undefined;
    // A bad task id must not keep the agent from starting: checkpoints then only save state.
    const badTaskId = taskIdProblem(flags['task-id']);
    if (badTaskId) this.logger.warn(`${badTaskId}; checkpoints will not post snapshots`);
    const report = await runStart({
      agentapiBin: flags['agentapi-bin'],
      port: flags.port,
      type: flags.type,
      pidFile: flags['pid-file'],
      stateFile: flags['state-file'],
      statePersistence: flags['state-persistence'],
      serverArgs: flags['server-arg'] ?? [],
      agent,
      resumeArgs: flags['resume-args'] ?? [],
      resumeAgent: flags['resume-agent'],
      detach: flags.detach,
      logFile: flags['log-file'],
      readyTimeoutMs: flags['ready-timeout'],
      replace: flags.replace,
      checkpointIntervalMs: flags['checkpoint-interval'],
      // In its canonical form: it also names the agent's session (claude takes a dashed UUID).
      taskId: badTaskId ? undefined : parseUuid(flags['task-id'] ?? ''),
      prompt,
      reportSlug: flags['task-app-slug'] || undefined,
      adoptState: flags['adopt-state'],
      maxMessages: flags['max-messages'],
      maxBytes: flags['max-bytes'],
      passAgentToken: flags['pass-agent-token'],
      logger: this.logger,
    });
    // AgentAPI's exit code is ours in the foreground; set, not thrown, so --json prints one report.
    if (report.exitCode !== undefined) process.exitCode = report.exitCode;
    if (flags.detach && report.pid && !this.jsonEnabled()) write('stdout', `${report.pid}\n`);
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
  'the agent command and its flags go after --, e.g. `agentapi-lifecycle start --type claude -- claude --model opus`';
