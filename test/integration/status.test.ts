import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  run,
  type Sim,
  startBystander,
  startSim,
  TASK_ID,
  type Workdir,
  workdir,
} from '../support/harness.js';

let work: Workdir;
let sim: Sim | undefined;
let coderd: Coderd | undefined;
const cleanup: (() => void)[] = [];

beforeEach(async () => {
  work = await workdir();
});

afterEach(async () => {
  for (const fn of cleanup.splice(0)) fn();
  await sim?.stop();
  await coderd?.close();
  sim = undefined;
  coderd = undefined;
  await work.cleanup();
});

function status(args: string[] = [], env: Record<string, string | undefined> = {}) {
  return run(
    [
      'status',
      '--port',
      String(sim?.port ?? 1),
      '--pid-file',
      work.pidFile,
      '--state-file',
      work.stateFile,
      ...args,
    ],
    { env },
  );
}

describe('status', () => {
  it('healthy: exit 0, and the human report shows each part', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '4' } });
    process.kill(sim.pid, 'SIGUSR1');
    coderd = await startCoderd();
    const result = await status(['--task-id', TASK_ID], {
      CODER_AGENT_URL: coderd.url,
      CODER_AGENT_TOKEN: coderd.token,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('AgentAPI: healthy');
    expect(result.stdout).toMatch(new RegExp(`PID ${sim.pid}, running agentapi server`));
    expect(result.stdout).toContain('0.12.1 (state persistence supported)');
    expect(result.stdout).toContain('stable, agent claude, 4 messages');
    expect(result.stdout).toContain('reachable, Coder v2.28.0-standin');
    expect(result.stdout).toContain(`task id      ${TASK_ID}`);
    expect(result.stdout + result.stderr).not.toContain(coderd.token);
  });

  it('--json reports the same for scripts', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const result = await status(['--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({
      healthy: true,
      pidFile: { state: 'ok', pid: sim.pid, isAgentApi: true },
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
    sim = await startSim({ work });
    await mkdir(dirname(work.stateFile), { recursive: true });
    writeFileSync(work.stateFile, '{"version":1,"messages":[');
    const report = JSON.parse((await status(['--json'])).stdout);
    expect(report.healthy).toBe(true);
    expect(report.warnings.join()).toMatch(/not valid JSON/);
  });

  it.each([
    { name: 'AgentAPI stopped', setup: 'none', problem: /not reachable/ },
    { name: 'PID file names an unrelated process', setup: 'bystander', problem: /not agentapi server/ },
    { name: 'PID file holds garbage', setup: 'garbage', problem: /PID file .* is invalid/ },
  ])('$name: exit 1 with the problem named', async ({ setup, problem }) => {
    if (setup !== 'none') sim = await startSim({ work, pidFile: false });
    if (setup === 'bystander') {
      const bystander = startBystander();
      cleanup.push(() => bystander.kill('SIGKILL'));
      writeFileSync(work.pidFile, `${bystander.pid}\n`);
    }
    if (setup === 'garbage') writeFileSync(work.pidFile, 'not a pid\n');
    const result = await status(['--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.healthy).toBe(false);
    expect(report.problems.join()).toMatch(problem);
    expect(result.stderr).toMatch(/AgentAPI is not healthy/);
  });
});
