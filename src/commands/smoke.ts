import * as Flags from '@oclif/core/flags';
import type { SmokeReport } from '../core/sequences/smoke.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { Logger } from '../core/utils/log.js';
import { write } from '../core/utils/output.js';
import { BaseCommand } from './base-command.js';
import { durationFlag } from './flags.js';

export default class Smoke extends BaseCommand<typeof Smoke> {
  static summary =
    "Prove that pause and resume work in this image: AgentAPI's state survives a stop, and its snapshot is one coderd accepts.";

  static description = [
    "For a template's CI: in a fresh private folder, on a free loopback port, with files of its own (never the user's, never a running AgentAPI's), it starts AgentAPI with persistence through the same code as `start`, sends a message carrying a unique marker through AgentAPI's own POST /message, runs the shutdown sequence with the snapshot posted to a loopback receiver that applies coderd's rules (route, token header, UUID, format=agentapi, 64 KiB, the messages' shape), starts AgentAPI again and checks the marker came back through --load-state, and stops it.",
    'Each stage is reported with its time; the first failure says what to do (AgentAPI missing, too old for persistence, the folder not writable, the port taken, the restore lost the message, …). Exit 0 only when every stage passed. Nothing is left behind, on success, failure, SIGINT or SIGTERM.',
    "By default the agent is this binary's own trivial chat agent, so an image with nothing but AgentAPI and agentapi-lifecycle can be checked; give your agent after -- to check it too.",
  ].join('\n\n');

  static examples = [
    { description: 'In an image with AgentAPI on PATH', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'In CI: the report as JSON, AgentAPI where the template installs it',
      command:
        '<%= config.bin %> <%= command.id %> --json --agentapi-bin ~/.cache/agentapi-lifecycle/agentapi/v0.12.2/agentapi',
    },
    {
      description: 'With your own agent behind AgentAPI',
      command: '<%= config.bin %> <%= command.id %> --type claude -- claude',
    },
  ];

  static strict = false;

  static flags = {
    'agentapi-bin': Flags.string({ description: 'The agentapi executable', default: 'agentapi' }),
    type: Flags.string({ char: 't', description: "AgentAPI's --type for the agent (default: custom)" }),
    port: Flags.integer({
      char: 'p',
      description: 'Run AgentAPI on this port (default: a free one)',
      min: 1,
      max: 65_535,
    }),
    dir: Flags.string({
      description:
        "Where to make the private folder for the state and PID files (default: the system's temporary folder)",
    }),
    timeout: durationFlag({
      description: 'Budget for the whole smoke test',
      default: 120_000,
      min: 5_000,
      max: 3_600_000,
    }),
  };

  async run(): Promise<SmokeReport> {
    const { flags } = this;
    const at = this.argv.indexOf('--');
    const agent = at === -1 ? [] : this.argv.slice(at + 1);
    const stopped = new AbortController();
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        this.logger.warn(`received ${signal}: stopping and cleaning up`);
        stopped.abort();
      });
    }
    // The sequences it runs log only what went wrong, unless --verbose.
    const quiet = new Logger({ verbose: flags.verbose, quiet: !flags.verbose }).withSecret(undefined);
    const { runSmoke } = await import('../core/sequences/smoke.js');
    const report = await runSmoke({
      agentapiBin: flags['agentapi-bin'],
      agent,
      type: flags.type,
      port: flags.port,
      parent: flags.dir,
      timeoutMs: flags.timeout,
      logger: flags.verbose ? this.logger : quiet,
      stopped: stopped.signal,
    });
    if (!this.jsonEnabled()) write('stdout', render(report));
    if (!report.ok) {
      // Said once: the table's FAIL line says why when it is printed; else this line does.
      const failed = report.stages.find((s) => !s.ok)?.stage;
      const why = this.jsonEnabled() || !failed ? report.verdict : `${failed} (the FAIL line above says why)`;
      throw new UserError(`smoke test failed: ${why}`, EXIT.failed, { report });
    }
    return report;
  }
}

function render(r: SmokeReport): string {
  const lines = r.stages.map(
    (s) => `${s.ok ? 'ok  ' : 'FAIL'} ${s.stage.padEnd(9)} ${`${s.ms}ms`.padStart(7)}  ${s.detail}`,
  );
  lines.push(r.ok ? `PASSED in ${r.ms}ms: ${r.verdict}` : `FAILED in ${r.ms}ms`);
  return `${lines.join('\n')}\n`;
}
