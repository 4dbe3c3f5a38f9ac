import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  alive,
  freePort,
  type RunResult,
  readEvents,
  run,
  runFile,
  startBystander,
  TASK_ID,
  type Workdir,
  waitFor,
  workdir,
} from '../support/harness.js';
import { BIN, OLD_SIM, ROOT, SIM } from '../support/paths.js';

let work: Workdir;
let port: number;
let coderd: Coderd | undefined;
const cleanup: (() => void)[] = [];

beforeEach(async () => {
  work = await workdir();
  port = await freePort();
});

afterEach(async () => {
  for (const fn of cleanup.splice(0)) fn();
  await coderd?.close();
  coderd = undefined;
  await work.cleanup();
});

const record = () => join(work.dir, 'record.json');

/** start's flags; a flag in `extra` replaces the default one of the same name. */
function baseArgs(extra: string[] = []): string[] {
  const defaults: [string, string][] = [
    ['--agentapi-bin', SIM],
    ['--port', String(port)],
    ['--pid-file', work.pidFile],
    ['--state-file', work.stateFile],
  ];
  const given = defaults.filter(([flag]) => !extra.includes(flag)).flat();
  return ['start', ...given, ...extra];
}

function env(extra: Record<string, string | undefined> = {}) {
  return { AGENTAPI_SIM_RECORD: record(), AGENTAPI_SIM_EVENTS: work.eventsFile, ...extra };
}

function killLater(pid: number | undefined): void {
  if (pid)
    cleanup.push(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    });
}

/**
 * The checkpoint supervisor after the test, and the checkpoint it may have running: stopped first,
 * so that it spawns no other, its children killed, then itself. A checkpoint left running would
 * write into the test's folder while it is removed.
 */
function killSupervisorLater(pid: number | undefined): void {
  if (!pid) return;
  cleanup.push(() => {
    try {
      process.kill(pid, 'SIGSTOP');
      for (const child of childrenOf(pid)) process.kill(child, 'SIGKILL');
    } catch {}
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });
}

/** `start --detach`, remembering what to kill after the test. */
async function detach(
  extra: string[] = [],
  extraEnv: Record<string, string | undefined> = {},
): Promise<RunResult> {
  const result = await run([...baseArgs(['--detach', '--json', ...extra]), '--', 'claude', '--continue'], {
    env: env(extraEnv),
  });
  try {
    const report = JSON.parse(result.stdout);
    killSupervisorLater(report.supervisorPid);
    killLater(report.pid);
  } catch {}
  return result;
}

/** `start` in the foreground, as a child we can signal. */
function foreground(
  extra: string[] = [],
  extraEnv: Record<string, string | undefined> = {},
): { child: ChildProcess; done: Promise<RunResult> } {
  let child: ChildProcess | undefined;
  const done = run([...baseArgs(extra), '--', 'claude', '--continue'], {
    env: env(extraEnv),
    onSpawn: (c) => {
      child = c;
    },
  });
  return { child: child as ChildProcess, done };
}

async function ready(): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/status`)).ok;
  } catch {
    return false;
  }
}

/** The children of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  });
}

const received = () =>
  JSON.parse(readFileSync(record(), 'utf8')) as { argv: string[]; env: Record<string, string>; pid: number };
const signals = () =>
  readEvents(work.eventsFile)
    .filter((e) => e.event === 'signal')
    .map((e) => e.signal);

describe('start: what AgentAPI receives', () => {
  it('runs agentapi server with the persistence flags, the PID file and the agent command', async () => {
    const { child, done } = foreground(['--type', 'claude', '--server-arg=--chat-base-path=/x']);
    await waitFor(ready);
    expect(received().argv).toEqual([
      'server',
      '--port',
      String(port),
      '--type',
      'claude',
      '--state-file',
      work.stateFile,
      '--load-state',
      '--save-state',
      '--pid-file',
      work.pidFile,
      '--chat-base-path=/x',
      '--',
      'claude',
      '--continue',
    ]);
    expect(received().env.AGENTAPI_SIM_RECORD).toBe(record());
    expect(readFileSync(work.pidFile, 'utf8')).toBe(`${received().pid}\n`);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(signals()).toEqual(['SIGTERM']);
    expect(existsSync(work.stateFile)).toBe(true);
  });

  it('--no-state-persistence keeps the PID file but not the state flags', async () => {
    const { child, done } = foreground(['--no-state-persistence']);
    await waitFor(ready);
    expect(received().argv).toEqual([
      'server',
      '--port',
      String(port),
      '--pid-file',
      work.pidFile,
      '--',
      'claude',
      '--continue',
    ]);
    child.kill('SIGTERM');
    expect((await done).code).toBe(0);
  });

  it('an AgentAPI older than 0.12.0 is started without the new flags, with one clear warning', async () => {
    const { child, done } = foreground(['--agentapi-bin', OLD_SIM]);
    await waitFor(ready);
    expect(received().argv).toEqual(['server', '--port', String(port), '--', 'claude', '--continue']);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/AgentAPI 0\.11\.2 predates state persistence/);
  });

  it('a version that is not semver ("dev") is taken as new, with a warning', async () => {
    const { child, done } = foreground([], { AGENTAPI_SIM_VERSION: 'dev' });
    await waitFor(ready);
    expect(received().argv).toContain('--state-file');
    child.kill('SIGTERM');
    expect((await done).stderr).toMatch(/cannot read AgentAPI's version "dev"/);
  });

  it.each(['SIGINT', 'SIGHUP'] as const)('forwards %s once and exits with AgentAPI', async (signal) => {
    const { child, done } = foreground();
    await waitFor(ready);
    child.kill(signal);
    const result = await done;
    expect(result.code).toBe(0);
    expect(signals()).toEqual([signal]);
  });
});

describe('start --detach', () => {
  it('returns once AgentAPI is ready, with its PID', async () => {
    const result = await detach();
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: true, port, statePersistence: true, agentapiVersion: '0.12.1' });
    expect(report.pid).toBe(Number(readFileSync(work.pidFile, 'utf8')));
    expect(await ready()).toBe(true);
    expect(existsSync(report.logFile)).toBe(true);
  });

  it('prints only the PID on stdout without --json', async () => {
    const result = await run([...baseArgs(['--detach']), '--', 'claude'], { env: env() });
    const pid = Number(result.stdout.trim());
    killLater(pid);
    expect(result.code).toBe(0);
    expect(pid).toBe(Number(readFileSync(work.pidFile, 'utf8')));
  });

  it('gives up after --ready-timeout with the reason and the log, leaving nothing running', async () => {
    const result = await detach(['--ready-timeout', '1s'], { AGENTAPI_SIM_STARTUP_DELAY_MS: '20000' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^error: AgentAPI did not become ready within 1\.0s; stopped it; the last lines it wrote to .*agentapi\.log:$/m,
    );
    await waitFor(
      () => !existsSync(work.pidFile) || !alive(Number(readFileSync(work.pidFile, 'utf8'))),
      5000,
    );
  });

  it("reports an AgentAPI that dies during start-up at once (not at --ready-timeout), with this run's own log lines, one per line", async () => {
    // An earlier run left its own story in the (appended) log; it must not be shown as this one's.
    const log = join(dirname(work.stateFile), 'agentapi.log');
    mkdirSync(dirname(log), { recursive: true });
    writeFileSync(log, 'an earlier run: AgentAPI exited (code 0)\n');
    const result = await detach(['--server-arg', '--bogus-flag', '--ready-timeout', '30s']);
    expect(result.code).toBe(1);
    // At once, not after --ready-timeout.
    expect(result.ms).toBeLessThan(5000);
    // Before it, start's own log lines (the resume decision); from it on, the failure.
    const all = result.stderr.trimEnd().split('\n');
    const lines = all.slice(all.findIndex((line) => line.startsWith('error: ')));
    expect(lines[0]).toMatch(
      /^error: AgentAPI exited during start-up \(code 1\); the last lines it wrote to .*agentapi\.log:$/,
    );
    expect(lines).toContain('  Error: unknown flag: --bogus-flag');
    expect(result.stderr).not.toContain('an earlier run');
    expect(JSON.parse(result.stdout).details).toContain('Error: unknown flag: --bogus-flag');
  });

  it('leaves nothing of ours running: AgentAPI runs on its own, and its PID is what is printed', async () => {
    const result = await run([...baseArgs(['--detach']), '--', 'claude'], { env: env() });
    const pid = Number(result.stdout.trim());
    killLater(pid);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`AgentAPI is ready on port ${port} (PID ${pid}, log`);
    // Its parent is not a process of ours that stayed behind: start returned, and nothing else runs.
    const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    const parent = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
    expect(parent).not.toContain('agentapi-lifecycle');
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('CODER_AGENT_TOKEN');
  });

  it("an AgentAPI before 0.12 (no PID file) still gets its own PID printed, not the supervisor's", async () => {
    const result = await run(
      [...baseArgs(['--detach', '--agentapi-bin', OLD_SIM, '--checkpoint-interval', '1m']), '--', 'claude'],
      { env: env() },
    );
    const pid = Number(result.stdout.trim());
    killLater(pid);
    const supervisor = Number(/checkpoint supervisor (\d+)/.exec(result.stderr)?.[1]);
    killSupervisorLater(supervisor);
    expect(result.code, result.stderr).toBe(0);
    expect(pid).toBe(received().pid);
    expect(pid).not.toBe(supervisor);
    expect(result.stderr).toContain(`(PID ${pid}, checkpoint supervisor ${supervisor}`);
  });

  it('the same start again is a success with nothing started; another one is refused; --replace stops the first', async () => {
    const first = JSON.parse((await detach()).stdout);
    const same = await detach();
    expect(same.code, same.stderr).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ ok: true, outcome: 'already-running', pid: first.pid });
    const again = await detach(['--type', 'goose']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(
        `AgentAPI is already running \\(PID ${first.pid}.*but not as asked: its agent type is not given, not goose`,
      ),
    );
    const replaced = await detach(['--replace']);
    expect(replaced.code).toBe(0);
    expect(alive(first.pid)).toBe(false);
    expect(JSON.parse(replaced.stdout).pid).not.toBe(first.pid);
  });

  it('removes a stale PID file naming an unrelated process, which is left alone', async () => {
    const bystander = startBystander();
    cleanup.push(() => bystander.kill('SIGKILL'));
    writeFileSync(work.pidFile, `${bystander.pid}\n`);
    const result = await detach();
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/removing stale PID file/);
    expect(alive(bystander.pid as number)).toBe(true);
  });

  it('pause and resume: start → shutdown → start brings the conversation back', async () => {
    await detach([], { AGENTAPI_SIM_MESSAGES: '5' });
    await fetch(`http://127.0.0.1:${port}/message`, {
      method: 'POST',
      body: JSON.stringify({ content: 'remember the tomato', type: 'user' }),
    });
    const stopped = await run(['shutdown', '--port', String(port), '--pid-file', work.pidFile, '--json'], {
      env: {},
    });
    expect(JSON.parse(stopped.stdout)).toMatchObject({ ok: true, saveConfirmed: true, stop: 'terminated' });
    expect(await ready()).toBe(false);
    await detach([], { AGENTAPI_SIM_MESSAGES: '1' });
    const { messages } = (await (await fetch(`http://127.0.0.1:${port}/messages`)).json()) as {
      messages: { content: string }[];
    };
    expect(messages).toHaveLength(7);
    expect(messages[5].content).toBe('remember the tomato');
  });
});

describe('start --checkpoint-interval', () => {
  it('saves state and posts snapshots on schedule, and skips when nothing changed', async () => {
    coderd = await startCoderd({ tasks: [TASK_ID] });
    await detach(['--checkpoint-interval', '1s', '--task-id', TASK_ID, '--verbose'], {
      CODER_AGENT_URL: coderd.url,
      CODER_AGENT_TOKEN: coderd.token,
    });
    await waitFor(() => (coderd?.received.length ?? 0) >= 1 && existsSync(work.stateFile));
    expect(coderd.stored.get(TASK_ID)?.messages).toHaveLength(1);
    // Nothing changes: three more checkpoints come and go (each logs that nothing changed)
    // without another save or post.
    const log = join(dirname(work.stateFile), 'agentapi.log');
    const skips = () => readFileSync(log, 'utf8').split('checkpoint: unchanged').length - 1;
    await waitFor(() => skips() >= 3);
    expect(coderd.received).toHaveLength(1);
    expect(signals().filter((s) => s === 'SIGUSR1')).toHaveLength(1);
    // A new exchange: the next checkpoint saves and posts it.
    await fetch(`http://127.0.0.1:${port}/message`, {
      method: 'POST',
      body: JSON.stringify({ content: 'next step', type: 'user' }),
    });
    await waitFor(() => (coderd?.received.length ?? 0) >= 2);
    expect(coderd.stored.get(TASK_ID)?.messages).toHaveLength(3);
    await waitFor(() => JSON.parse(readFileSync(work.stateFile, 'utf8')).messages.length === 3);
    expect(signals().filter((s) => s === 'SIGUSR1')).toHaveLength(2);
  });
});

describe('the checkpoint supervisor', () => {
  it('gets its options from start, not a command line: combined short flags, the token only in its environment', async () => {
    coderd = await startCoderd({ tasks: [TASK_ID] });
    // -dv: --detach and --verbose in one; the supervisor must neither detach again nor go quiet.
    const result = await run(
      [...baseArgs(['-dv', '--checkpoint-interval', '1s', '--task-id', TASK_ID]), '--', 'claude'],
      { env: env({ CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token }) },
    );
    const supervisor = Number(/checkpoint supervisor (\d+)/.exec(result.stderr)?.[1]);
    killSupervisorLater(supervisor);
    killLater(Number(result.stdout.trim()));
    expect(result.code, result.stderr).toBe(0);
    const argv = readFileSync(`/proc/${supervisor}/cmdline`, 'utf8').split('\0').filter(Boolean);
    expect(argv.slice(1)).toEqual(['__supervise']);
    await waitFor(() => (coderd?.received.length ?? 0) >= 1);
    const log = readFileSync(join(dirname(work.stateFile), 'agentapi.log'), 'utf8');
    expect(log).toMatch(/DEBUG/);
    expect(log).not.toContain(coderd.token);
  });

  it.each([
    ['__supervise', "start's checkpoint supervisor", 'nothing', ''],
    ['__supervise', "start's checkpoint supervisor", 'not JSON', 'port=1'],
    ['__supervise', "start's checkpoint supervisor", 'other JSON', '{"port":"x"}'],
  ])('%s run by hand (%s) with %s on stdin says what it is and exits 2', async (arg, what, _name, input) => {
    const result = await run([arg], { input });
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`error: ${arg} is ${what} `), result.stderr).toBe(true);
    expect(result.stderr).toContain("; run 'agentapi-lifecycle start --detach --checkpoint-interval");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([['__supervise', "start's checkpoint supervisor"]])(
    '%s run by hand at a terminal answers at once instead of waiting for input',
    async (arg, what) => {
      // script(1) (bsdutils, essential in Debian) gives it a pseudo-terminal as stdin.
      const result = await runFile('script', ['-qec', `${BIN} ${arg}`, '/dev/null'], {
        killAfterMs: 10_000,
      });
      expect(result.signal).toBeNull();
      expect(result.code).toBe(2);
      expect(result.stdout).toContain(`error: ${arg} is ${what} `);
      expect(result.stdout).toContain('(stdin is a terminal)');
    },
  );

  it("runs each checkpoint as the public `checkpoint` command, with this AgentAPI's files, and nothing else", async () => {
    coderd = await startCoderd({ tasks: [TASK_ID] });
    const started = await detach(['--checkpoint-interval', '1s', '--task-id', TASK_ID, '--verbose'], {
      CODER_AGENT_URL: coderd.url,
      CODER_AGENT_TOKEN: coderd.token,
    });
    const supervisor = JSON.parse(started.stdout).supervisorPid as number;
    // A checkpoint in flight is a child of the supervisor, beside AgentAPI.
    let argv: string[] = [];
    await waitFor(() => {
      for (const child of childrenOf(supervisor)) {
        const line = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean);
        if (line[1] === 'checkpoint') argv = line;
      }
      return argv.length > 0;
    }, 15_000);
    expect(argv.slice(1)).toEqual([
      'checkpoint',
      ...['--port', String(port), '--pid-file', work.pidFile, '--state-file', work.stateFile],
      ...[
        '--task-id',
        TASK_ID,
        '--max-messages',
        '10',
        '--max-bytes',
        '65536',
        '--timeout',
        '1000ms',
        '--quiet-repeats',
        '--verbose',
      ],
    ]);
  });
});

describe("start: status reporting to the Task (Coder's CLI set-up)", () => {
  const coderBin = () => {
    const bin = join(work.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    if (!existsSync(join(bin, 'coder'))) symlinkSync(`${ROOT}test/support/coder-cli.sh`, join(bin, 'coder'));
    return bin;
  };
  const TOKEN = 'tok-0123456789abcdef';

  it.each([
    {
      name: "Coder's CLI fails: named, with what it said; AgentAPI runs anyway",
      extra: { CODER_MCP_FAIL: '1' },
      type: 'claude',
      warn: /WARN {2}status reporting: `coder exp mcp configure claude-code .*` failed \(exit 1: error: failed to modify claude\.json: permission denied\): the agent does not report its status/,
    },
    {
      name: 'an agent with no Coder MCP set-up: named',
      extra: {},
      type: 'goose',
      warn: /WARN {2}status reporting: the goose agent has no documented Coder MCP set-up/,
    },
    {
      name: 'no agent token: named, nothing run',
      extra: { CODER_AGENT_TOKEN: undefined },
      type: 'claude',
      warn: /WARN {2}status reporting: CODER_AGENT_URL and CODER_AGENT_TOKEN are needed/,
    },
  ])('$name', async ({ extra, type, warn }) => {
    const record = join(work.dir, 'mcp-record');
    const result = await detach(['--task-app-slug', 'ccw', '--type', type], {
      PATH: `${coderBin()}:${process.env.PATH}`,
      CODER_MCP_RECORD: record,
      CODER_AGENT_URL: 'http://127.0.0.1:9/',
      CODER_AGENT_TOKEN: TOKEN,
      ...extra,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(warn);
    expect(JSON.parse(result.stdout).reporting.state).not.toBe('configured');
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
    const status = await run(['status', '--port', String(port), '--pid-file', work.pidFile]);
    expect(status.stdout).toMatch(/reporting +(failed|unsupported): /);
  });
});

describe('start: a state folder it cannot write', () => {
  it('runs AgentAPI all the same (a workspace must come up), says it cannot save there, and logs beside the PID file', async () => {
    const fileAsDir = join(work.dir, 'file');
    writeFileSync(fileAsDir, '');
    const result = await detach(['--state-file', join(fileAsDir, 'state.json')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /WARN {2}the state folder .*\/file is not writable \(a file stands where a folder must be\): AgentAPI runs, but cannot save the conversation/,
    );
    expect(JSON.parse(result.stdout).logFile).toBe(join(work.dir, 'agentapi.log'));
    expect(await ready()).toBe(true);
  });
});

describe('start: bad input gets one clear line', () => {
  let blocker: Server | undefined;
  afterEach(() => blocker?.close());

  it.each([
    {
      name: 'missing agentapi',
      args: ['--agentapi-bin', '/nonexistent/agentapi'],
      code: 1,
      message: /\/nonexistent\/agentapi was not found/,
    },
    { name: 'not executable', args: ['--agentapi-bin', 'NOEXEC'], code: 1, message: /is not executable/ },
    { name: 'port in use', args: [], code: 1, message: /port \d+ is already in use/, occupy: true },
    {
      name: 'no agent command',
      args: [],
      code: 2,
      message: /^error: the agent command and its flags go after --/m,
      noAgent: true,
    },
  ])('$name', async ({ args, code, message, occupy, noAgent }) => {
    const noexec = join(work.dir, 'agentapi');
    writeFileSync(noexec, '#!/bin/sh\n');
    chmodSync(noexec, 0o644);
    const fileAsDir = join(work.dir, 'file');
    writeFileSync(fileAsDir, '');
    const resolved = args.map((a) => a.replace('NOEXEC', noexec).replace('FILEDIR', fileAsDir));
    if (occupy) {
      blocker = createServer();
      await new Promise<void>((r) => blocker?.listen(port, '127.0.0.1', r));
    }
    const result = await run([...baseArgs(resolved), ...(noAgent ? [] : ['--', 'claude'])], { env: env() });
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(record())).toBe(false);
  });
});
