import * as Flags from '@oclif/core/flags';
import type { PostOutcome } from '../core/coderd/coderd-client.js';
import type { Collected } from '../core/sequences/log-snapshot.js';
import { Deadline } from '../core/utils/deadline.js';
import { formatDuration } from '../core/utils/duration.js';
import { describe, EXIT, UserError } from '../core/utils/errors.js';
import { write } from '../core/utils/output.js';
import { agentApiBaseUrl, coderEnv } from '../core/utils/settings.js';
import { BaseCommand } from './base-command.js';
import {
  agentApiFlags,
  durationFlag,
  pidFileFlag,
  runningStateFileFlag,
  snapshotFlags,
  taskIdFlag,
} from './flags.js';

export interface SnapshotReport {
  ok: boolean;
  agentapiUrl: string;
  /** Messages in AgentAPI's conversation. */
  messagesTotal: number;
  /** Messages in the body. */
  messagesKept: number;
  /** Left out because coderd would refuse their role. */
  messagesLeftOut: number;
  bytes: number;
  maxBytes: number;
  /** Whether anything was left out or cut to fit the budget. */
  truncated: boolean;
  contentTruncated: boolean;
  post?: PostOutcome;
}

export default class Snapshot extends BaseCommand<typeof Snapshot> {
  static summary = 'Print the log snapshot that shutdown would post, or post it now.';

  static description = [
    'Fetches GET /messages from AgentAPI, keeps the last --max-messages, and fits them to --max-bytes by bytes of the JSON body (never splitting a character). Prints exactly that body on stdout, so you can pipe it to jq.',
    "With --post it sends the body to coderd's log-snapshot endpoint for --task-id, using CODER_AGENT_URL and CODER_AGENT_TOKEN from the environment, and retries transient failures.",
  ].join('\n\n');

  static examples = [
    { description: 'See what would be posted', command: '<%= config.bin %> <%= command.id %> | jq .' },
    { description: 'How big is it?', command: '<%= config.bin %> <%= command.id %> --json' },
    {
      description: 'Post it now (from a workspace shell, where the Coder variables are set)',
      command: '<%= config.bin %> <%= command.id %> --post --task-id 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b',
    },
  ];

  static flags = {
    ...agentApiFlags,
    ...snapshotFlags,
    post: Flags.boolean({
      description: 'POST the snapshot to coderd instead of printing it (needs --task-id)',
    }),
    'task-id': taskIdFlag,
    'pid-file': pidFileFlag,
    'state-file': runningStateFileFlag,
    timeout: durationFlag({
      description: 'Give up after this long',
      default: 30_000,
      min: 100,
      max: 3_600_000,
    }),
  };

  async run(): Promise<SnapshotReport> {
    const { flags } = this;
    // Loaded only now: --help and flag mistakes never pay for the HTTP clients and schemas.
    const { checkTaskId, collectSnapshot, describeCollected, postTarget, sendSnapshot } = await import(
      '../core/sequences/log-snapshot.js'
    );
    const taskId = checkTaskId(flags['task-id']);
    if (flags.post && !taskId) {
      throw new UserError(
        '--post needs --task-id: the UUID of the task to post the snapshot for',
        EXIT.usage,
        {
          usage: 'snapshot',
        },
      );
    }
    const target = flags.post ? postTarget(taskId, coderEnv()) : undefined;
    if (target && !('token' in target)) {
      const why = 'missing' in target ? target.missing : target.invalid;
      throw new UserError(`cannot post: ${why}`, EXIT.usage, { usage: 'snapshot' });
    }

    const deadline = Deadline.in(flags.timeout);
    const baseUrl = agentApiBaseUrl(flags.port, flags['agentapi-url']);
    let collected: Collected;
    try {
      collected = await collectSnapshot({
        baseUrl,
        maxMessages: flags['max-messages'],
        maxBytes: flags['max-bytes'],
        deadline,
        trace: (line) => this.logger.debug(line),
      });
    } catch (error) {
      throw new UserError(describe(error));
    }
    // A prompt start did not see delivered, in the conversation now: recorded as delivered.
    const { notePromptDeliveredBy } = await import('../core/task/prompt.js');
    await notePromptDeliveredBy({
      pidFile: flags['pid-file'],
      port: flags.port,
      stateFile: flags['state-file'],
      baseUrl,
      deadline,
      logger: this.logger,
    });
    const { total, snapshot } = collected;
    const report: SnapshotReport = {
      ok: true,
      agentapiUrl: baseUrl,
      messagesTotal: total,
      messagesKept: snapshot.kept,
      messagesLeftOut: collected.leftOut,
      bytes: snapshot.bytes,
      maxBytes: flags['max-bytes'],
      truncated: snapshot.kept < Math.min(total, flags['max-messages']) || snapshot.contentTruncated,
      contentTruncated: snapshot.contentTruncated,
    };
    this.logger.info(
      `snapshot: ${describeCollected(collected)}${report.truncated ? ' (truncated to fit)' : ''}`,
    );

    if (!target) {
      if (!this.jsonEnabled()) write('stdout', `${snapshot.body}\n`);
      return report;
    }
    if (snapshot.kept === 0) {
      // An empty list would replace the task's last good snapshot with nothing.
      this.logger.info("snapshot: no messages to show; nothing posted, so the task's last snapshot stays");
      return report;
    }
    const started = Date.now();
    report.post = await sendSnapshot(snapshot.body, target, deadline, this.logger);
    const took = formatDuration(Date.now() - started);
    if (!report.post.ok) {
      throw new UserError(report.post.message, EXIT.failed, { report });
    }
    this.logger.info(
      `snapshot stored by coderd (${report.post.attempts} attempt(s), ${formatDuration(report.post.waitedMs)} waiting between them, ${took} in all)`,
    );
    return report;
  }
}
