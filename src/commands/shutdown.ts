import * as Flags from '@oclif/core/flags';
import type { ShutdownReport } from '../core/sequences/shutdown.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { DEFAULTS } from '../core/utils/settings.js';
import { BaseCommand } from './base-command.js';
import { durationFlag, saveAndPostFlags, saveAndPostOptions } from './flags.js';

export default class Shutdown extends BaseCommand<typeof Shutdown> {
  static summary =
    "Save AgentAPI's state, post a log snapshot to coderd, and stop AgentAPI, within a deadline.";

  static description = [
    "For the workspace's stop script. Steps: (1) find AgentAPI through its PID file and check it really is agentapi server; (2) SIGUSR1 to save state, confirmed by the state file being replaced (only for AgentAPI 0.12.0 or newer: older versions die on SIGUSR1); (3) fetch the last messages and POST them to coderd as the task's log snapshot, retrying transient failures; (4) SIGTERM, then SIGKILL after --grace.",
    'Best effort: a failed step is reported and the next one still runs, and the exit code is 0 unless --strict is given, so the stop is never blocked. Everything finishes within --timeout. If this command gets SIGTERM, SIGINT or SIGHUP itself it cuts the current step short and still sends SIGTERM to AgentAPI.',
  ].join('\n\n');

  static examples = [
    {
      description: 'In a stop script (task id embedded by Terraform)',
      command: '<%= config.bin %> <%= command.id %> --task-id 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b',
    },
    {
      description: 'Docker gives 10 s by default: leave room for the agent',
      command: '<%= config.bin %> <%= command.id %> --task-id "$TASK_ID" --timeout 8s --grace 3s',
    },
    {
      description: 'Save and snapshot only; AgentAPI keeps running',
      command: '<%= config.bin %> <%= command.id %> --task-id "$TASK_ID" --no-stop --json',
    },
  ];

  static flags = {
    ...saveAndPostFlags,
    snapshot: Flags.boolean({
      description: 'Post a log snapshot (--no-snapshot to skip)',
      default: true,
      allowNo: true,
    }),
    stop: Flags.boolean({
      description: 'Stop AgentAPI (--no-stop: save and snapshot only)',
      default: true,
      allowNo: true,
    }),
    timeout: durationFlag({
      description: 'Budget for the whole command',
      default: DEFAULTS.shutdownTimeoutMs,
      min: 1_000,
      max: 3_600_000,
    }),
    grace: durationFlag({
      description: 'How long SIGTERM gets before SIGKILL',
      default: DEFAULTS.graceMs,
      min: 100,
      max: 3_600_000,
    }),
    strict: Flags.boolean({
      description: 'Exit 1 if any step failed (default: always 0, never blocking the stop)',
    }),
  };

  async run(): Promise<ShutdownReport> {
    const { flags } = this;
    const hurry = new AbortController();
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) process.exit(EXIT.failed);
      this.logger.warn(`received ${signal}: finishing quickly, still sending SIGTERM to AgentAPI`);
      hurry.abort();
    };
    // SIGHUP too: a closed terminal or a runtime tearing down must not skip AgentAPI's SIGTERM.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);

    // Loaded only now: --help and flag mistakes never pay for the HTTP clients and schemas.
    const { runShutdown } = await import('../core/sequences/shutdown.js');
    // A bad task id fails only the snapshot step: save and stop still run (best effort).
    const report = await runShutdown({
      ...saveAndPostOptions(flags),
      snapshot: flags.snapshot,
      stop: flags.stop,
      timeoutMs: flags.timeout,
      graceMs: flags.grace,
      logger: this.logger,
      hurry: hurry.signal,
    });
    const failed = report.steps.filter((s) => s.status === 'failed').map((s) => s.step);
    this.logger.info(
      `shutdown finished in ${report.ms}ms${failed.length ? ` with failed steps: ${failed.join(', ')}` : ''}`,
    );
    if (flags.strict && failed.length) {
      throw new UserError(`--strict: ${failed.join(', ')} failed`, EXIT.failed, { report });
    }
    if (flags.strict && report.deferredTo !== undefined) {
      throw new UserError(`--strict: deferred to another shutdown (PID ${report.deferredTo})`, EXIT.failed, {
        report,
      });
    }
    return report;
  }
}
