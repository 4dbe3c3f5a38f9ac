// The CLI's edges, as a person meets them: help in every spelling, mistakes answered in one error
// style with what to do, and --verbose showing each decision and request as it happens.

import { describe, expect, it } from 'vitest';
import { startCoderd } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { run, runFile, startSim, TASK_ID, TEST_HOME } from '../support/harness.js';
import { BIN } from '../support/paths.js';

const f = useFixture();

describe('help, however it is asked for', () => {
  it.each([
    [['help'], ['--help']],
    [['-h'], ['--help']],
    [
      ['help', 'shutdown'],
      ['shutdown', '--help'],
    ],
    [
      ['shutdown', '-h'],
      ['shutdown', '--help'],
    ],
    [
      ['status', '-h'],
      ['status', '--help'],
    ],
  ])('%j is the same as %j', async (asked, reference) => {
    const [a, b] = await Promise.all([run(asked), run(reference)]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toContain('USAGE');
  });

  // Help for a pipe comes from pages oclif rendered at build time (src/help-text.ts); with
  // OCLIF_COLUMNS set, oclif renders it now. Both must print the same bytes.
  it.each([
    [[]],
    [['--help']],
    [['help']],
    [['-h']],
    [['help', 'start']],
    [['shutdown', '--help']],
    [['snapshot', '-h']],
    [['status', '--help']],
    [['start', '-h']],
  ])('%j: the page compiled in is what oclif renders now, byte for byte', async (argv) => {
    const plain = { OCLIF_COLUMNS: undefined, FORCE_COLOR: undefined, DEBUG: undefined };
    const [built, rendered] = await Promise.all([
      run(argv, { env: plain }),
      run(argv, { env: { ...plain, OCLIF_COLUMNS: '80' } }),
    ]);
    expect(built).toMatchObject({ code: 0, stderr: '' });
    expect(rendered).toMatchObject({ code: 0, stderr: '' });
    expect(built.stdout).toContain('USAGE');
    expect(built.stdout).toBe(rendered.stdout);
  });

  it('at a terminal, oclif renders help to its width (the pages compiled in are for 80 columns)', async () => {
    // script(1) (bsdutils) gives the binary a pseudo-terminal, 130 columns wide, as stdout.
    const terminal = await runFile('script', ['-qec', `stty cols 130; ${BIN} start --help`, '/dev/null'], {
      env: { OCLIF_COLUMNS: undefined, FORCE_COLOR: undefined, DEBUG: undefined },
      killAfterMs: 15_000,
    });
    const piped = await run(['start', '--help']);
    const widest = (text: string) => Math.max(...text.split(/\r?\n/).map((line) => line.length));
    expect(terminal.code).toBe(0);
    expect(terminal.stdout).toContain('USAGE');
    expect(widest(terminal.stdout)).toBeGreaterThan(100);
    expect(widest(piped.stdout)).toBeLessThanOrEqual(90);
  });

  it('the root help shows the same version line as --version', async () => {
    const [help, version] = await Promise.all([run(['--help']), run(['--version'])]);
    expect(help.stdout).toContain(`VERSION\n  ${version.stdout.trim()}\n`);
    expect(help.stdout).not.toContain('node-v');
  });
});

describe('mistakes get one plain answer, in one style', () => {
  it.each([
    {
      argv: ['strat'],
      says: 'error: unknown command "strat"; did you mean `start`?',
      hint: "Run 'agentapi-lifecycle --help' for usage.",
    },
    {
      argv: ['xyzzy'],
      says: 'error: unknown command "xyzzy"',
      hint: "Run 'agentapi-lifecycle --help' for usage.",
    },
    {
      argv: ['status', 'extra-arg'],
      says: 'error: `status` takes no arguments, but got "extra-arg"',
      hint: "Run 'agentapi-lifecycle status --help' for usage.",
    },
    {
      argv: ['start', '--type', 'claude', 'claude', '--continue'],
      says: 'the agent command and its flags go after --, e.g. `agentapi-lifecycle start --type claude -- claude --model opus`',
      hint: "Run 'agentapi-lifecycle start --help' for usage.",
    },
    {
      argv: ['start', 'claude'],
      says: 'error: the agent command goes after --, e.g. `agentapi-lifecycle start -- claude`',
      hint: "Run 'agentapi-lifecycle start --help' for usage.",
    },
    {
      argv: ['snapshot', '--post'],
      says: 'error: --post needs --task-id: the UUID of the task to post the snapshot for',
      hint: "Run 'agentapi-lifecycle snapshot --help' for usage.",
    },
    {
      argv: ['snapshot', '--no-such-flag'],
      says: 'error: Nonexistent flag: --no-such-flag',
      hint: "Run 'agentapi-lifecycle snapshot --help' for usage.",
    },
    {
      argv: ['shutdown', '--timeout', 'soon'],
      says: 'error: --timeout: "soon" is not a duration; use e.g. 500ms, 30s, 2m or a number of seconds',
      hint: "Run 'agentapi-lifecycle shutdown --help' for usage.",
    },
  ])('$argv → "$says", exit 2', async ({ argv, says, hint }) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(says);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(hint);
    expect(result.stdout).toBe('');
  });

  it('a bad value from an environment variable names the variable, not a flag never typed', async () => {
    const result = await run(['status'], { env: { AGENTAPI_PORT: 'abc' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: AGENTAPI_PORT="abc" (read for --port): Expected an integer');
  });

  it.each([
    { name: 'usage', argv: ['snapshot', '--no-such-flag'] },
    { name: 'flag value', argv: ['snapshot', '--max-bytes', '3'] },
    { name: 'runtime', argv: ['snapshot', '--port', '1'] },
    { name: 'unknown command', argv: ['frobnicate'] },
  ])(
    'every failure ($name) is one "error: …" line, no oclif arrows, timestamps or stack traces',
    async ({ argv }) => {
      const result = await run(argv);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/^error: /);
      expect(result.stderr).not.toMatch(/›|\bERROR\b|^\d{4}-\d\d-\d\dT|\n\s+at /m);
    },
  );
});

describe('--verbose shows each decision and request, never the token', () => {
  it('shutdown: budget, the PID file and /proc facts, the version source, the state file before and after, each request', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    f.coderd = await startCoderd({ tasks: [TASK_ID], mode: { kind: 'fail-first', count: 1 } });
    const result = await run(
      ['shutdown', '-v', '--task-id', TASK_ID, '--pid-file', f.work.pidFile, '--port', String(f.sim.port)],
      { env: { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token } },
    );
    expect(result.code).toBe(0);
    const debug = result.stderr.split('\n').filter((l) => / DEBUG /.test(l));
    const has = (pattern: RegExp) =>
      expect(
        debug.some((l) => pattern.test(l)),
        String(pattern),
      ).toBe(true);
    has(/budget: 30\.0s in all; find, save and snapshot share/);
    has(
      new RegExp(
        `find: PID file ${f.work.pidFile} holds ${f.sim.pid} \\(written .*\\); /proc/${f.sim.pid}: "`,
      ),
    );
    has(/save: SIGUSR1 support: started with persistence flags/);
    has(/save: before SIGUSR1, .*state\.json does not exist/);
    has(/save: after waiting, .*state\.json: inode \d+, \d+ bytes/);
    has(
      /snapshot: GET http:\/\/127\.0\.0\.1:\d+\/messages -> 200, \d+ bytes, 3 messages \(3 kept\) in \d+ms/,
    );
    has(
      /POST http:\/\/127\.0\.0\.1:\d+\/api\/v2\/workspaceagents\/me\/tasks\/.*\/log-snapshot\?format=agentapi \(\d+ bytes\) -> 500 in \d+ms \(attempt 1/,
    );
    has(/-> 204 in \d+ms \(attempt 2/);
    has(/stop: SIGTERM to PID \d+, then SIGKILL after/);
    expect(result.stderr).not.toContain(f.coderd.token);
  });

  it('without --verbose, none of that', async () => {
    f.sim = await startSim({ work: f.work });
    const result = await run(['shutdown', '--pid-file', f.work.pidFile, '--port', String(f.sim.port)]);
    expect(result.stderr).not.toContain(' DEBUG ');
  });

  it('status and snapshot: the facts and each request', async () => {
    f.sim = await startSim({ work: f.work });
    const status = await run(['status', '-v', '--pid-file', f.work.pidFile, '--port', String(f.sim.port)]);
    expect(status.stderr).toMatch(/DEBUG +PID file .*: ok, PID \d+ \(agentapi server\)/);
    expect(status.stderr).toMatch(/DEBUG +GET http:\/\/127\.0\.0\.1:\d+\/status -> 200, \d+ bytes in \d+ms/);
    expect(status.stderr).toMatch(/DEBUG +version: agentapi --version says 0\.12\.1/);
    const snapshot = await run(['snapshot', '-v', '--port', String(f.sim.port)]);
    expect(snapshot.stderr).toMatch(/DEBUG +GET http:\/\/127\.0\.0\.1:\d+\/messages -> 200/);
  });
});

describe('two AgentAPIs on two ports never share a PID file by default', () => {
  it('the default PID file, in the private ~/.agentapi, follows --port (AGENTAPI_PORT too)', async () => {
    const pidFile = async (args: string[], env: Record<string, string> = {}) =>
      JSON.parse((await run(['status', '--json', ...args], { env })).stdout).pidFile.path;
    expect(await pidFile(['--port', '3291'])).toBe(`${TEST_HOME}/.agentapi/agentapi-3291.pid`);
    expect(await pidFile([], { AGENTAPI_PORT: '3292' })).toBe(`${TEST_HOME}/.agentapi/agentapi-3292.pid`);
    expect(await pidFile(['--port', '3293'], { HOME: '/home/someone' })).toBe(
      '/home/someone/.agentapi/agentapi-3293.pid',
    );
    expect(await pidFile(['--port', '3291'], { AGENTAPI_PID_FILE: '/tmp/x.pid' })).toBe('/tmp/x.pid');
  });
});
