import type { StatusReport } from '../core/sequences/status.js';
import { EXIT, UserError } from '../core/utils/errors.js';
import { redact } from '../core/utils/log.js';
import { write } from '../core/utils/output.js';
import { coderEnv } from '../core/utils/settings.js';
import { escapeControls } from '../core/utils/text.js';
import { BaseCommand } from './base-command.js';
import { agentApiFlags, durationFlag, pidFileFlag, runningStateFileFlag, taskIdFlag } from './flags.js';

export default class Status extends BaseCommand<typeof Status> {
  static summary = 'Show whether AgentAPI is healthy and everything shutdown depends on.';

  static description = [
    "Checks the PID file (present, valid, alive, really agentapi server), AgentAPI's version and persistence support, GET /status and the message count, the state file (size, age, format: the one the running AgentAPI was started with, else --state-file, else ~/.agentapi/state.json), and the Coder side (CODER_AGENT_URL reachable, CODER_AGENT_TOKEN set; the token's value is never shown).",
    'Exit code 0 when AgentAPI is healthy (its HTTP API answers and its PID file, if any, names it), 1 otherwise, so a CI job can gate on it. Warnings do not change the exit code.',
  ].join('\n\n');

  static examples = [
    { description: 'In a workspace shell', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'In a CI smoke test',
      command: '<%= config.bin %> <%= command.id %> --json | jq .agentapi',
    },
  ];

  static flags = {
    ...agentApiFlags,
    'pid-file': pidFileFlag,
    'state-file': runningStateFileFlag,
    'task-id': taskIdFlag,
    timeout: durationFlag({ description: 'Limit for each check', default: 5_000, min: 100, max: 600_000 }),
  };

  async run(): Promise<StatusReport> {
    const { flags } = this;
    const { gatherStatus } = await import('../core/sequences/status.js');
    const report = await gatherStatus({
      port: flags.port,
      agentApiUrl: flags['agentapi-url'],
      pidFile: flags['pid-file'],
      stateFile: flags['state-file'],
      taskId: flags['task-id'],
      coder: coderEnv(),
      timeoutMs: flags.timeout,
      trace: (line) => this.logger.debug(line),
    });
    // What records and servers said is shown, never obeyed, and the token never (it may be in a record).
    if (!this.jsonEnabled()) write('stdout', redact(render(report), [coderEnv().token ?? '']));
    if (!report.healthy) {
      // Said once: the report's problem lines say why when it is printed; else this line does.
      const why = this.jsonEnabled()
        ? `: ${report.problems.join('; ')}`
        : ' (the problem lines above say why)';
      throw new UserError(`AgentAPI is not healthy${why}`, EXIT.failed, { report });
    }
    return report;
  }
}

function render(r: StatusReport): string {
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(12)} ${value}`);
  lines.push(`AgentAPI: ${r.healthy ? 'healthy' : 'NOT HEALTHY'}`);
  const p = r.pidFile;
  row(
    'PID file',
    p.state === 'missing'
      ? `${p.path}: missing`
      : p.state === 'invalid'
        ? `${p.path}: invalid (${p.detail})`
        : `${p.path}: PID ${p.pid}, ${p.isAgentApi ? 'running agentapi server' : p.detail}`,
  );
  const a = r.agentapi;
  if (a.pid !== undefined) {
    const persistence =
      a.statePersistence === 'on'
        ? 'state persistence on'
        : a.statePersistence === 'unknown'
          ? 'state persistence unknown'
          : a.supportsPersistence === false
            ? 'state persistence off: predates 0.12.0'
            : 'state persistence off: no state file';
    row('version', `${a.version ?? 'unknown'} (PID ${a.pid}; ${persistence})`);
  }
  row(
    'HTTP',
    a.reachable
      ? `${a.url}: ${a.status}, agent ${a.agentType ?? '?'}, ${plural(a.messages, 'message')}`
      : `${a.url}: not reachable`,
  );
  const s = r.stateFile;
  const saved = s.exists
    ? `${s.size} bytes, saved ${age(s.ageSeconds)} ago${s.messages !== undefined ? `, ${plural(s.messages, 'message')}` : ''}${s.problem ? `, ${s.problem}` : ', format 1'}`
    : '';
  row(
    'state file',
    s.writtenByRunning === false
      ? s.exists
        ? `${s.path}: not written by the running AgentAPI (an earlier run's: ${saved})`
        : 'none (state persistence is off)'
      : s.exists
        ? `${s.path}: ${saved}`
        : `${s.path}: not written yet`,
  );
  const g = r.agentSession;
  if (g) {
    const what = g.resumed
      ? `a resume${g.added.length ? `: ${g.added.join(' ')} added (${g.source})` : ', nothing added'}`
      : 'a first start';
    row('last start', `${what}; ${g.why} (${g.at})`);
    if (g.adoptedFrom)
      row('adopted', `the state file started as a copy of ${g.adoptedFrom} (the registry module's)`);
    if (g.sessionId) row('session', `${g.sessionId}: ${g.sessionWhy ?? 'named by us'}`);
    if (g.prompt) {
      const state = !g.prompt.given
        ? 'not given'
        : g.prompt.delivered
          ? 'delivered'
          : g.prompt.delivered === false
            ? 'NOT seen delivered'
            : 'given to AgentAPI';
      row('prompt', `${state}: ${g.prompt.why}`);
    }
    if (g.reporting) row('reporting', `${g.reporting.state}: ${g.reporting.why}`);
    if (g.folder) {
      const where = !g.folderExists
        ? 'not there yet'
        : g.sameFilesystemAsState
          ? "present, on the state file's filesystem"
          : "present, on another filesystem than the state file's";
      row(
        'agent data',
        `${g.type} keeps its sessions in ${g.folder}: ${where}; Coder advises ${g.minStorage}`,
      );
    }
  }
  lines.push('Coder:');
  const c = r.coder;
  row(
    'agent URL',
    c.agentUrl
      ? `${c.agentUrl} (${c.reachable ? `reachable, Coder ${c.version ?? '?'}` : 'NOT reachable'})`
      : 'CODER_AGENT_URL not set',
  );
  if (c.row) row('Coder', `${c.row.releases}: ${c.row.means}`);
  row('agent token', c.tokenSet ? 'set' : 'CODER_AGENT_TOKEN not set');
  if (c.taskId) row('task id', `${c.taskId}${c.taskIdValid ? '' : ' (not a UUID!)'}`);
  for (const problem of r.problems) lines.push(`problem: ${problem}`);
  for (const warning of r.warnings) lines.push(`warning: ${warning}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  // One line each: what a record or a server said is shown, never obeyed.
  return `${lines.map(escapeControls).join('\n')}\n`;
}

function plural(n: number | undefined, word: string): string {
  return n === undefined ? `? ${word}s` : `${n} ${word}${n === 1 ? '' : 's'}`;
}

function age(seconds: number | undefined): string {
  if (seconds === undefined) return '?';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
