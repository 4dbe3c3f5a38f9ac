import { resolve } from 'node:path';
import * as Args from '@oclif/core/args';
import * as Flags from '@oclif/core/flags';
import type { TranscriptReport } from '../core/sequences/transcript.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { write } from '../core/utils/output.js';
import { agentApiBaseUrl } from '../core/utils/settings.js';
import { BaseCommand } from './base-command.js';
import { agentApiFlags, durationFlag, pidFileFlag, stateFileFlag, taskIdFlag } from './flags.js';

export default class Transcript extends BaseCommand<typeof Transcript> {
  static summary =
    "The task's whole conversation, readable: from AgentAPI, or from its state file when it is down.";

  static description = [
    "Prints the conversation oldest first, from the running AgentAPI (GET /messages) or, when none answers (a crash, a stopped task, a workspace opened after Tasks are gone) or with --from-state, from AgentAPI's state file (--state-file, else the one start uses). stderr says which it read.",
    'Markdown by default: a header (where it came from, the task and agent when known, how many messages, the first and last time), then each message under its role and time, in a fenced block no message can break out of; control characters but newline and tab are removed. --json gives the same as one JSON document: source, taskId, agentType, messagesTotal, messagesShown, leftOut, first, last, and messages: [{id, role, time, content}].',
    '--max-bytes and --last keep the newest whole messages that fit (what a chat message or a ticket takes), counting bytes as written, and say how many older ones were left out. --output writes a private file (0600) in one rename, replacing only a regular file of your own.',
    'A conversation of any size is streamed, never held. Exit code 0 when it was written, 1 when there was none to read (no AgentAPI and no state file, or a file that is not one), 2 for a mistake on the command line.',
  ].join('\n\n');

  static examples = [
    { description: 'Read it in a workspace shell', command: '<%= config.bin %> <%= command.id %> | less' },
    {
      description: 'Keep it, from the state file of a stopped task',
      command: '<%= config.bin %> <%= command.id %> --from-state --output ~/task-conversation.md',
    },
    {
      description: "The state file the registry's module kept (claude-code 4.x)",
      command: '<%= config.bin %> <%= command.id %> --from-state ~/.claude-module/agentapi-state.json',
    },
    {
      description: 'What fits in a Coder Agents chat message, to carry the task on there',
      command: '<%= config.bin %> <%= command.id %> --max-bytes 32768 > handover.md',
    },
    {
      description: 'For a script',
      command:
        '<%= config.bin %> <%= command.id %> --json | jq -r \'.messages[] | select(.role == "user") | .content\'',
    },
  ];

  static args = {
    file: Args.string({
      description: 'A state file to read (implies --from-state)',
      required: false,
    }),
  };

  static flags = {
    ...agentApiFlags,
    'state-file': stateFileFlag,
    'pid-file': pidFileFlag,
    'from-state': Flags.boolean({
      description: "Read AgentAPI's state file even if AgentAPI answers",
    }),
    'max-bytes': Flags.integer({
      description:
        'At most this many bytes in all, as written: the newest whole messages that fit (at least 1024)',
      min: 1024,
    }),
    last: Flags.integer({ description: 'At most the newest N messages', min: 1 }),
    output: Flags.string({
      char: 'o',
      description: 'Write it to this file (0600, in one rename) instead of stdout',
    }),
    'task-id': taskIdFlag,
    timeout: durationFlag({
      description: 'Limit for each request to AgentAPI (a long conversation streams for as long as it takes)',
      default: 30_000,
      min: 100,
      max: 3_600_000,
    }),
  };

  async run(): Promise<TranscriptReport | undefined> {
    const { flags } = this;
    const [{ runTranscript }, { readStartRecord }, { writeFileAtomically }, { checkTaskId }] =
      await Promise.all([
        import('../core/sequences/transcript.js'),
        import('../core/task/start-record.js'),
        import('../core/utils/local-file.js'),
        import('../core/sequences/log-snapshot.js'),
      ]);
    const file = this.args.file as string | undefined;
    // What the last start knew: the agent type, and the task, unless given.
    const { record } = await readStartRecord(flags['pid-file']);
    const options = {
      baseUrl: agentApiBaseUrl(flags.port, flags['agentapi-url']),
      stateFile: resolve(file ?? flags['state-file']),
      fromState: flags['from-state'] || file !== undefined,
      format: this.jsonEnabled() ? ('json' as const) : ('markdown' as const),
      maxBytes: flags['max-bytes'],
      last: flags.last,
      taskId: checkTaskId(flags['task-id']) ?? record?.taskId,
      agentType: record?.type,
      timeoutMs: flags.timeout,
      logger: this.logger,
    };
    const output = flags.output;
    if (!output) {
      await runTranscript({ ...options, write: (text) => write('stdout', text) });
      return undefined;
    }
    let report: TranscriptReport | undefined;
    try {
      await writeFileAtomically(output, async (put) => {
        report = await runTranscript({ ...options, write: put });
      });
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(`--output ${(error as Error).message}`, EXIT.failed);
    }
    const done = report as TranscriptReport;
    this.logger.info(
      `transcript: ${done.messagesShown} of ${done.messagesTotal} messages (${done.bytes} bytes) written to ${output}`,
    );
    return undefined;
  }
}
