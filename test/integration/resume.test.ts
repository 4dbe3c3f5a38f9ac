// The agent's own session on a resume: `start` adds the agent's resume arguments exactly when the
// state file holds a conversation AgentAPI will load, and says so (--json, the log, status). The
// simulator records the agent command it was given; the real AgentAPI's run is in
// real-agentapi.test.ts.

import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, type RunResult, run, TEST_HOME, type Workdir, workdir } from '../support/harness.js';
import { itNeeds, NOT_AS_ROOT } from '../support/needs.js';
import { SIM } from '../support/paths.js';

let work: Workdir;
let port: number;
const pids: number[] = [];

beforeEach(async () => {
  work = await workdir();
  port = await freePort();
});

afterEach(async () => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  await work.cleanup();
});

const record = () => join(work.dir, 'record.json');
/** The agent command the simulator was started with (after `--`). */
const agentCommand = () => {
  const argv = (JSON.parse(readFileSync(record(), 'utf8')) as { argv: string[] }).argv;
  return argv.slice(argv.indexOf('--') + 1);
};

interface Report {
  pid: number;
  resume: { resumed: boolean; why: string; added: string[]; source?: string; agent: string[] };
}

async function start(
  agent: string[],
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Report> {
  const result = await run(
    [
      'start',
      '--detach',
      '--json',
      '--agentapi-bin',
      SIM,
      '--port',
      String(port),
      '--pid-file',
      work.pidFile,
      '--state-file',
      work.stateFile,
      ...extra,
      '--',
      ...agent,
    ],
    { env: { AGENTAPI_SIM_RECORD: record(), AGENTAPI_SIM_MESSAGES: '3', ...env } },
  );
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as Report;
  pids.push(report.pid);
  return report;
}

const shutdown = (): Promise<RunResult> =>
  run(['shutdown', '--pid-file', work.pidFile, '--port', String(port)]);

describe('start: the agent continues its own session on a resume, and only then', () => {
  it('a first start runs the command as given; after a stop, the next start adds claude --continue', async () => {
    const first = await start(['claude'], ['--type', 'claude']);
    expect(first.resume).toMatchObject({ resumed: false, added: [] });
    expect(first.resume.why).toContain('no state file');
    expect(agentCommand()).toEqual(['claude']);
    expect((await shutdown()).code).toBe(0);

    const again = await start(['claude'], ['--type', 'claude']);
    expect(again.resume).toMatchObject({ resumed: true, added: ['--continue'], source: 'recipe:claude' });
    expect(again.resume.why).toBe('the state file holds 3 messages, which AgentAPI loads');
    expect(agentCommand()).toEqual(['claude', '--continue']);
  });

  it.each([
    [
      'holds only the greeting',
      '{"version":1,"messages":[{"id":0,"message":"hi","role":"agent","time":"2026-01-01T00:00:00Z"}]}\n',
      /holds 1 message\(s\): no conversation yet/,
    ],
    ['is not JSON', 'garbage', /is not a state file AgentAPI can load/],
    ['has another format', '{"version":2,"messages":[{},{},{}]}', /format version is 2/],
  ])('a state file that %s is no resume: nothing added', async (_, content, why) => {
    mkdirSync(dirname(work.stateFile), { recursive: true });
    writeFileSync(work.stateFile, content);
    const report = await start(['claude'], ['--type', 'claude']);
    expect(report.resume.resumed).toBe(false);
    expect(report.resume.why).toMatch(why);
    expect(agentCommand()).toEqual(['claude']);
  });

  // Root reads any file: as root, the unit tests' FIFO case covers a state file that cannot be read.
  itNeeds(NOT_AS_ROOT, 'an unreadable state file is no resume', async () => {
    mkdirSync(dirname(work.stateFile), { recursive: true });
    writeFileSync(work.stateFile, '{}');
    chmodSync(work.stateFile, 0);
    expect((await start(['claude'], ['--type', 'claude'])).resume.resumed).toBe(false);
  });

  it('with persistence off nothing is loaded, so nothing is resumed', async () => {
    await start(['claude'], ['--type', 'claude']);
    await shutdown();
    const report = await start(['claude'], ['--type', 'claude', '--no-state-persistence']);
    expect(report.resume).toMatchObject({ resumed: false, why: 'state persistence is off' });
    expect(agentCommand()).toEqual(['claude']);
  });

  it.each([
    [
      'codex, as a subcommand',
      ['codex', '--model', 'o4'],
      ['--type', 'codex'],
      ['codex', 'resume', '--last', '--model', 'o4'],
    ],
    [
      '--resume-args, over the recipe',
      ['claude'],
      ['--type', 'claude', '--resume-args=--resume', '--resume-args=abc'],
      ['claude', '--resume', 'abc'],
    ],
    [
      '--resume-args, for a custom agent',
      ['my-agent', '-v'],
      ['--resume-args=--again'],
      ['my-agent', '-v', '--again'],
    ],
    ['--no-resume-agent', ['claude'], ['--type', 'claude', '--no-resume-agent'], ['claude']],
  ])('on a resume: %s', async (_, agent, extra, expected) => {
    await start(agent, extra);
    await shutdown();
    expect(agentCommand()).toEqual(agent);
    await start(agent, extra);
    expect(agentCommand()).toEqual(expected);
  });

  it('status tells whether the last start was a resume, with what, and where the agent keeps its sessions', async () => {
    await start(['claude'], ['--type', 'claude']);
    await shutdown();
    await start(['claude'], ['--type', 'claude']);
    mkdirSync(join(TEST_HOME, '.claude'), { recursive: true });
    const status = await run([
      'status',
      '--json',
      '--port',
      String(port),
      '--pid-file',
      work.pidFile,
      '--state-file',
      work.stateFile,
    ]);
    expect(JSON.parse(status.stdout).agentSession).toMatchObject({
      resumed: true,
      added: ['--continue'],
      source: 'recipe:claude',
      type: 'claude',
      folder: join(TEST_HOME, '.claude'),
      folderExists: true,
      sameFilesystemAsState: true,
      minStorage: '100 MB (can grow to GB)',
    });
    const text = await run(['status', '--port', String(port), '--pid-file', work.pidFile]);
    expect(text.stdout).toContain('last start   a resume: --continue added (recipe:claude)');
    expect(text.stdout).toContain(
      `agent data   claude keeps its sessions in ${join(TEST_HOME, '.claude')}: present, on the state file's filesystem; Coder advises 100 MB (can grow to GB)`,
    );
  });
});
