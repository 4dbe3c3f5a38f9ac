import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCoderd } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { run, startBystander, startSim, TASK_ID } from '../support/harness.js';

const f = useFixture();

function status(args: string[] = [], env: Record<string, string | undefined> = {}) {
  return run(
    [
      'status',
      '--port',
      String(f.sim?.port ?? 1),
      '--pid-file',
      f.work.pidFile,
      ...(args.includes('--state-file') ? [] : ['--state-file', f.work.stateFile]),
      ...args,
    ],
    { env },
  );
}

describe('status', () => {
  it('healthy: exit 0, and the human report shows each part', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '4' } });
    process.kill(f.sim.pid, 'SIGUSR1');
    f.coderd = await startCoderd();
    const result = await status(['--task-id', TASK_ID], {
      CODER_AGENT_URL: f.coderd.url,
      CODER_AGENT_TOKEN: f.coderd.token,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('AgentAPI: healthy');
    expect(result.stdout).toMatch(new RegExp(`PID ${f.sim.pid}, running agentapi server`));
    expect(result.stdout).toContain(`version      0.12.1 (PID ${f.sim.pid}; state persistence on)`);
    expect(result.stdout).toContain('stable, agent claude, 4 messages');
    expect(result.stdout).toContain('reachable, Coder v2.34.5+5d2f6b8');
    expect(result.stdout).toContain('Coder        v2.30 to v2.36 (v2.34 is the ESR): everything');
    expect(result.stdout).toContain(`task id      ${TASK_ID}`);
    expect(result.stdout + result.stderr).not.toContain(f.coderd.token);
  });

  it.each([
    ['v2.29.19+a1b2c3d', 'before v2.30 (the v2.29 ESR among them): no log-snapshot endpoint'],
    ['v2.37.0+a1b2c3d', "v2.37 and later: no Tasks: persistence, resume and checkpoints' saves still work"],
  ])('which Coder: %s gets a warning of what it lacks', async (version, words) => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ version });
    const result = await status([], { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`warning: Coder ${version} is ${words}`);
  });

  it('--json reports the same for scripts', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const result = await status(['--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      healthy: true,
      pidFile: { state: 'ok', pid: f.sim.pid, isAgentApi: true },
      agentapi: {
        reachable: true,
        status: 'stable',
        messages: 2,
        version: '0.12.1',
        supportsPersistence: true,
      },
      stateFile: { exists: false },
      coder: { tokenSet: false },
    });
  });

  it('a state file that is not AgentAPI JSON is a warning, not a failure', async () => {
    f.sim = await startSim({ work: f.work });
    await mkdir(dirname(f.work.stateFile), { recursive: true });
    writeFileSync(f.work.stateFile, '{"version":1,"messages":[');
    const report = JSON.parse((await status(['--json'])).stdout);
    expect(report.healthy).toBe(true);
    expect(report.warnings.join()).toMatch(
      /is not a state file AgentAPI can load \(it ends in the middle of a value\)/,
    );
  });

  it('shows the state file AgentAPI writes, and says so when --state-file names another', async () => {
    f.sim = await startSim({ work: f.work });
    process.kill(f.sim.pid, 'SIGUSR1');
    const other = `${f.work.dir}/other.json`;
    const report = JSON.parse((await status(['--json', '--state-file', other])).stdout);
    expect(report.stateFile).toMatchObject({ path: f.work.stateFile, source: 'agentapi' });
    expect(report.warnings.join('\n')).toContain(
      `AgentAPI writes its state to ${f.work.stateFile}, not ${other} (--state-file)`,
    );
  });

  it('warns when AgentAPI runs without a state file: nothing would survive a stop', async () => {
    f.sim = await startSim({ work: f.work, stateFile: false });
    const result = await status(['--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.stateFile).toMatchObject({ path: f.work.stateFile, source: 'flag' });
    expect(report.warnings.join('\n')).toMatch(/runs without a state file/);
    expect(report.warnings.join('\n')).not.toMatch(/written on the first save/);
  });

  it.each([
    { name: 'AgentAPI stopped', setup: 'none', problem: /not reachable/ },
    { name: 'PID file names an unrelated process', setup: 'bystander', problem: /not agentapi server/ },
    { name: 'PID file holds garbage', setup: 'garbage', problem: /PID file .* is invalid/ },
  ])('$name: exit 1 with the problem named', async ({ setup, problem }) => {
    if (setup !== 'none') f.sim = await startSim({ work: f.work, pidFile: false });
    if (setup === 'bystander') {
      const bystander = startBystander();
      f.defer(() => bystander.kill('SIGKILL'));
      writeFileSync(f.work.pidFile, `${bystander.pid}\n`);
    }
    if (setup === 'garbage') writeFileSync(f.work.pidFile, 'not a pid\n');
    const result = await status(['--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.healthy).toBe(false);
    expect(report.problems.join()).toMatch(problem);
    expect(result.stderr).toMatch(/AgentAPI is not healthy/);
  });
});

describe('status tells the truth about persistence', () => {
  it('an AgentAPI before 0.12 (found by its port): version shown, persistence off, an old state file not passed off as current', async () => {
    // A state file left by an earlier run with persistence.
    await mkdir(dirname(f.work.stateFile), { recursive: true });
    writeFileSync(f.work.stateFile, '{"version":1,"messages":[{"id":0}]}');
    f.sim = await startSim({ work: f.work, old: true, pidFile: false, stateFile: false });
    const result = await status();
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      `version      0.11.2 (PID ${f.sim.pid}; state persistence off: predates 0.12.0)`,
    );
    expect(result.stdout).toMatch(
      /state file +\S+state\.json: not written by the running AgentAPI \(an earlier run's: /,
    );
    expect(result.stdout).not.toMatch(/state file +\S+: \d+ bytes, saved/);
    expect(result.stdout).toContain('warning: no PID file at');
    expect(result.stdout).toContain('found by its port');
  });

  it('started with --no-state-persistence: persistence off, and the leftover file labelled', async () => {
    await mkdir(dirname(f.work.stateFile), { recursive: true });
    writeFileSync(f.work.stateFile, '{"version":1,"messages":[]}');
    f.sim = await startSim({ work: f.work, stateFile: false });
    const report = JSON.parse((await status(['--json'])).stdout);
    expect(report.agentapi).toMatchObject({ statePersistence: 'off', pid: f.sim.pid, version: '0.12.1' });
    expect(report.stateFile).toMatchObject({ exists: true, writtenByRunning: false });
  });

  it('a healthy fresh start says "no state file yet" as a note, not a warning', async () => {
    f.sim = await startSim({ work: f.work });
    const result = await status();
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('note: no state file at');
    expect(result.stdout).toContain('AgentAPI writes it on its first save');
    expect(result.stdout).not.toMatch(/warning: .*state file/);
  });
});
