import * as Flags from '@oclif/core/flags';
import type { CheckpointReport } from '../core/sequences/checkpoint.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { DEFAULTS } from '../core/utils/settings.js';
import { BaseCommand } from './base-command.js';
import { durationFlag, saveAndPostFlags, saveAndPostOptions } from './flags.js';

export default class Checkpoint extends BaseCommand<typeof Checkpoint> {
  static summary =
    "If the conversation changed since the last checkpoint: save AgentAPI's state and post a log snapshot. Else nothing.";

  static description = [
    "For a schedule (a coder_script with cron, e.g. every 2 minutes), so that a crash, an OOM kill or a stop script that never ran loses little, with nothing of ours resident between ticks. It finds AgentAPI as shutdown does and reads /messages; when they differ from the last checkpoint's (a fingerprint kept beside the state file), it sends SIGUSR1 (AgentAPI 0.12.0 or newer), confirms the save by the state file, and posts the snapshot shutdown would post, with the same retries and bounds. When nothing changed it sends nothing and exits at once.",
    'It never races a shutdown: while one runs it does nothing, and a shutdown that starts meanwhile stops it before it posts. A checkpoint that finds the previous one still running exits at once. Exit code 0 unless --strict, like shutdown.',
    "It says one line at most: nothing when nothing happened (unchanged, busy, deferred; --verbose shows it), one when it stored, one when something failed, with what it noticed on the way. Coder keeps at most 1 MiB of an agent's logs, so the module's cron adds --quiet-repeats: a failure that lasts is said once, and again only when it changes (or after a day).",
  ].join('\n\n');

  static examples = [
    {
      description: 'From a coder_script with cron = "0 */2 * * * *" (task id embedded by Terraform)',
      command:
        '<%= config.bin %> <%= command.id %> --task-id 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b --quiet-repeats',
    },
    {
      description: 'What did it do? (a stable word: unchanged, stored, saved, deferred, busy, …)',
      command: '<%= config.bin %> <%= command.id %> --task-id "$TASK_ID" --json | jq -r .outcome',
    },
  ];

  static flags = {
    ...saveAndPostFlags,
    timeout: durationFlag({
      description: 'Budget for the whole command',
      default: DEFAULTS.checkpointTimeoutMs,
      min: 1_000,
      max: 600_000,
    }),
    strict: Flags.boolean({
      description: 'Exit 1 unless it did what there was to do (default: always 0)',
    }),
    'quiet-repeats': Flags.boolean({
      description:
        'For a schedule: a line the last tick already said (numbers aside) is said again only after a day, so a lasting failure is one line, not one a tick',
    }),
  };

  async run(): Promise<CheckpointReport> {
    const { flags } = this;
    // A shutdown stops us with SIGTERM: nothing is posted after it.
    const stopped = new AbortController();
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (stopped.signal.aborted) process.exit(EXIT.failed);
        stopped.abort();
      });
    }
    // Loaded only now: --help and flag mistakes never pay for the HTTP clients and schemas.
    const { runCheckpoint } = await import('../core/sequences/checkpoint.js');
    const report = await runCheckpoint({
      ...saveAndPostOptions(flags),
      timeoutMs: flags.timeout,
      logger: this.logger,
      stopped: stopped.signal,
      quietRepeats: flags['quiet-repeats'],
    });
    if (flags.strict && !report.ok) {
      throw new UserError(`--strict: checkpoint ${report.outcome}: ${report.detail}`, EXIT.failed, {
        report,
      });
    }
    return report;
  }
}
