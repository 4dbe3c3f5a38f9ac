// Shutdown in the field (issue #11): what a hostile neighbour on the same machine, a hostile or
// misconfigured server in front of coderd, or odd provisioning input can do, and what the
// binary must still guarantee: the stop is never blocked, it ends within --timeout and exits 0
// (unless --strict), the token goes nowhere but coderd, memory stays bounded, and nothing that
// is not the user's own AgentAPI is signalled or executed.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { truncate } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useFixture } from '../support/fixture.js';
import {
  cleanEnv,
  freePort,
  killQuietly,
  type RunResult,
  run,
  runFile,
  startBystander,
  startSim,
  TASK_ID,
  waitFor,
} from '../support/harness.js';
import { AS_ROOT, describeNeeds, itNeeds, tool } from '../support/needs.js';
import { BIN, SIM } from '../support/paths.js';
import { shutdownHelpers } from '../support/shutdown.js';

const f = useFixture();
const { setup, shutdown, shutdownArgs, report, step, signalsReceived, alive } = shutdownHelpers(f);
// What a template passes when Terraform did not render the task id.
const UNRENDERED = ['$', '{data.coder_task.me.id}'].join('');
const lockFile = () => `${f.work.pidFile}.shutdown-lock`;
const mkfifo = (path: string) => expect(spawnSync('mkfifo', [path]).status).toBe(0);
const ALL_DONE = [
  ['find', 'found'],
  ['save', 'confirmed'],
  ['snapshot', 'stored'],
  ['stop', 'terminated'],
];
const outcomes = (result: RunResult) => report(result).steps.map((s) => [s.step, s.outcome]);

/** Peak resident memory of a command, in MiB, measured by GNU time from outside. */
async function measured(args: string[], env: Record<string, string | undefined>) {
  const out = join(f.work.dir, 'time.txt');
  const result = await runFile('/usr/bin/time', ['-o', out, '-f', '%M', BIN, ...args], { env });
  return { result, rssMiB: Number(readFileSync(out, 'utf8').trim().split('\n').at(-1)) / 1024 };
}

describe('local files: typed, bounded, never trusted blindly', () => {
  it('a FIFO at the lock path does not hang shutdown: it is stale, taken over, and every step runs', async () => {
    await setup();
    mkfifo(lockFile());
    const result = await shutdown([], {}, 15_000);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(outcomes(result)).toEqual(ALL_DONE);
  });

  it.each(['shutdown', 'status', 'start'])('a FIFO at the PID file does not hang %s', async (command) => {
    await setup({ sim: { pidFile: false } });
    mkfifo(f.work.pidFile);
    const args =
      command === 'start'
        ? [
            'start',
            '--state-file',
            f.work.stateFile,
            '--pid-file',
            f.work.pidFile,
            '--agentapi-bin',
            SIM,
            '--port',
            String(await freePort()),
            '--',
            'x',
          ]
        : [command, '--pid-file', f.work.pidFile, '--port', String(f.sim?.port), '--json'];
    const result = await run(args, { killAfterMs: 15_000 });
    expect(result.signal).toBeNull();
    expect(result.stdout + result.stderr).toContain('it is a FIFO, not a regular file');
    if (command === 'shutdown') expect(step(report(result), 'find')?.outcome).toBe('not-identified');
    if (command === 'start') expect(result.code).toBe(1);
  });

  it('a live PID planted in the lock (anyone can write /tmp) is not obeyed: no wait, every step runs', async () => {
    await setup();
    const bystander = startBystander();
    f.defer(() => bystander.kill('SIGKILL'));
    writeFileSync(lockFile(), `${bystander.pid}\n`);
    const result = await shutdown(['--strict']);
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(5_000);
    expect(outcomes(result)).toEqual(ALL_DONE);
    expect(alive(bystander.pid as number)).toBe(true);
  });

  it('a huge file at the lock path is not read whole', async () => {
    await setup();
    writeFileSync(lockFile(), '');
    await truncate(lockFile(), 2 ** 40); // a sparse terabyte
    const result = await shutdown();
    expect(outcomes(result)).toEqual(ALL_DONE);
    expect(result.ms).toBeLessThan(5_000);
  });

  it('a shutdown that dies holding the lock is taken over by the one waiting for it', async () => {
    await setup({ coderd: { mode: { kind: 'hang' } } });
    let first: ChildProcess | undefined;
    const firstDone = shutdown(['--timeout', '60s'], {}, 60_000, { onSpawn: (c) => (first = c) });
    await waitFor(() => (f.coderd?.received.length ?? 0) > 0);
    let waiting = '';
    const second = shutdown(['--timeout', '30s'], {}, undefined, {
      onSpawn: (c) => c.stderr?.on('data', (d) => (waiting += d)),
    });
    // Once the second waits on the lock, the first is killed without a chance to clean up.
    await waitFor(() => waiting.includes('holds the lock; waiting'));
    f.coderd?.setMode({ kind: 'normal' });
    first?.kill('SIGKILL');
    await firstDone;
    const result = await second;
    expect(result.code).toBe(0);
    const r = report(result);
    expect(r.deferredTo).toBeUndefined();
    expect(step(r, 'stop')?.outcome).toBe('terminated');
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
  });

  it('deferring to a live shutdown says so at WARN, and --strict makes it exit 1', async () => {
    await setup({ coderd: { mode: { kind: 'hang' } } });
    // The first holds the lock well past the second's whole budget, however loaded the machine.
    const first = shutdown(['--timeout', '8s']);
    await waitFor(() => existsSync(lockFile()));
    const second = await shutdown(['--strict', '--timeout', '2s']);
    expect(second.code, second.stderr).toBe(1);
    expect(second.stderr).toMatch(/WARN +deferring to another shutdown \(PID \d+\)/);
    expect(report(second).deferredTo).toBeGreaterThan(1);
    await first;
  });

  it('start --pid-file naming a file that is not a PID file refuses and leaves it untouched', async () => {
    const config = join(f.work.dir, 'config.yaml');
    writeFileSync(config, 'important: settings\n');
    const result = await run([
      'start',
      '--state-file',
      f.work.stateFile,
      '--pid-file',
      config,
      '--agentapi-bin',
      SIM,
      '--port',
      String(await freePort()),
      '--',
      'claude',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not an AgentAPI PID file .*not touching it/);
    expect(readFileSync(config, 'utf8')).toBe('important: settings\n');
  });

  it('start removes a provably stale PID file (a dead PID) and starts', async () => {
    const gone = spawn('true');
    await new Promise((r) => gone.on('exit', r));
    writeFileSync(f.work.pidFile, `${gone.pid}\n`);
    const port = await freePort();
    const result = await run(
      [
        'start',
        '--detach',
        '--pid-file',
        f.work.pidFile,
        '--state-file',
        f.work.stateFile,
        '--agentapi-bin',
        SIM,
        '--port',
        String(port),
        '--json',
        '--',
        'claude',
      ],
      { env: { AGENTAPI_SIM_EVENTS: f.work.eventsFile } },
    );
    const pid = JSON.parse(result.stdout).pid as number;
    f.defer(() => killQuietly(pid));
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('removing stale PID file');
    expect(readFileSync(f.work.pidFile, 'utf8')).toBe(`${pid}\n`);
  });

  it('the version probe never passes the token to the program it runs', async () => {
    // No persistence flags on its command line: shutdown must ask the executable for its version.
    const dir = join(f.work.dir, 'bin');
    mkdirSync(dir);
    copyFileSync(SIM, join(dir, 'agentapi'));
    chmodSync(join(dir, 'agentapi'), 0o755);
    writeFileSync(join(dir, 'version-calls'), '');
    await setup({
      sim: {
        binary: join(dir, 'agentapi'),
        stateFile: false,
        pidFile: false,
        env: { AGENTAPI_STATE_FILE: f.work.stateFile },
      },
    });
    const result = await shutdown();
    expect(step(report(result), 'save')?.outcome, result.stdout).toBe('confirmed');
    const calls = readFileSync(join(dir, 'version-calls'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(calls).toEqual([{ uid: process.getuid?.(), token: false }]);
  });

  it('a process called agentapi whose --version is not AgentAPI\'s ("v20.20.2") gets no SIGUSR1', async () => {
    await setup({
      sim: { stateFile: false, pidFile: false, env: { AGENTAPI_STATE_FILE: f.work.stateFile } },
    });
    const result = await shutdown([], { AGENTAPI_SIM_VERSION_OUTPUT: 'v20.20.2' });
    const save = step(report(result), 'save');
    expect(save).toMatchObject({ status: 'skipped', outcome: 'version-unknown' });
    expect(save?.detail).toContain('is not AgentAPI');
    expect(signalsReceived()).toEqual(['SIGTERM']);
  });

  it('start refuses an --agentapi-bin that is not AgentAPI', async () => {
    const result = await run([
      'start',
      '--agentapi-bin',
      process.execPath,
      '--port',
      String(await freePort()),
      '--',
      'x',
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is not AgentAPI: its --version printed "v20\.\d+\.\d+"/);
  });
});

// Root running the stop script against another user's process that calls itself agentapi server.
describeNeeds(AS_ROOT, "another user's program is never run or signalled", () => {
  it("root's shutdown neither executes nor signals nobody's agentapi, and says why", async () => {
    const dir = join(f.work.dir, 'nobody-bin');
    mkdirSync(dir);
    copyFileSync(SIM, join(dir, 'agentapi'));
    writeFileSync(join(dir, 'version-calls'), '');
    chmodSync(join(dir, 'version-calls'), 0o666);
    chownSync(dir, 65534, 65534);
    chownSync(join(dir, 'agentapi'), 65534, 65534);
    chmodSync(f.work.dir, 0o755);
    const reach = await runFile('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      'test',
      '-x',
      join(dir, 'agentapi'),
    ]);
    expect(reach.code, 'nobody can run its copy in the work folder').toBe(0);
    await setup({ sim: false });
    const port = await freePort();
    // setpriv execs the program, so the child's PID is that agentapi server's.
    const agentapi = spawn(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        join(dir, 'agentapi'),
        'server',
        '--port',
        String(port),
        '--',
        'x',
      ],
      { stdio: 'ignore' },
    );
    f.defer(() => agentapi.kill('SIGKILL'));
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/status`).catch(() => undefined))?.ok === true,
    );
    const pid = agentapi.pid as number;
    writeFileSync(f.work.pidFile, `${pid}\n`);
    const result = await run(
      ['shutdown', '--task-id', '', '--pid-file', f.work.pidFile, '--port', String(port), '--json'],
      {
        env: { CODER_AGENT_TOKEN: 'secret-token-of-root' },
      },
    );
    expect(result.code).toBe(0);
    const find = step(report(result), 'find');
    expect(find?.outcome).toBe('not-identified');
    expect(find?.detail).toContain("another user's process is never signalled");
    expect(readFileSync(join(dir, 'version-calls'), 'utf8')).toBe('');
    expect(alive(pid)).toBe(true);
  });
});

describe('the token stays with coderd', () => {
  let elsewhere: Server | undefined;
  let elsewhereHits = 0;
  afterEach(() => {
    elsewhere?.close();
    elsewhere = undefined;
    elsewhereHits = 0;
  });
  async function otherOrigin(): Promise<string> {
    elsewhere = createServer((_, res) => {
      elsewhereHits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => elsewhere?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(elsewhere.address() as { port: number }).port}`;
  }

  it.each([301, 302, 307, 308] as const)(
    'a %i to another origin is not followed: one POST, nothing sent there, the origin named',
    async (status) => {
      const origin = await otherOrigin();
      await setup({ coderd: { mode: { kind: 'redirect', status, location: `${origin}/steal` } } });
      const result = await shutdown();
      expect(result.code).toBe(0);
      const snapshot = step(report(result), 'snapshot');
      expect(snapshot).toMatchObject({ status: 'failed', outcome: 'redirected' });
      expect(snapshot?.detail).toContain(`another origin, ${origin}`);
      expect(snapshot?.detail).not.toContain('/steal');
      expect(f.coderd?.received).toHaveLength(1);
      expect(elsewhereHits).toBe(0);
      expect(report(result).stop).toBe('terminated');
    },
  );

  it('a redirect loop costs one POST, in snapshot --post too', async () => {
    f.sim = await startSim({ work: f.work });
    await setup({ sim: false, coderd: { mode: { kind: 'redirect', status: 307, location: '/again' } } });
    const result = await run(['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID], {
      env: { CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /redirecting to elsewhere on http:\/\/127\.0\.0\.1:\d+; redirects are not followed/,
    );
    expect(f.coderd?.received).toHaveLength(1);
  });

  it('only 204 means stored: a 200 page is a failure', async () => {
    await setup({ coderd: { mode: { kind: 'ok-200' } } });
    const result = await shutdown();
    expect(step(report(result), 'snapshot')).toMatchObject({ status: 'failed', outcome: 'not-stored' });
  });

  it.each([0, 100, 219, 230, 235, 4080, 4090, 5000])(
    'an error body echoing the token at offset %i never shows it (stdout, stderr, --json)',
    async (offset) => {
      // A UUID, as a workspace agent's token is (coderd answers 401 for any other).
      const token = '7f3c9a2e-5b1d-4e8f-a6c0-9d2b4e1f8a37';
      await setup({ coderd: { mode: { kind: 'echo-token', status: 400, offset }, token } });
      const result = await shutdown();
      // Not even a part of it: a token cut short by a limit is hidden too.
      for (const output of [result.stdout, result.stderr]) expect(output).not.toContain(token.slice(0, 5));
      expect(step(report(result), 'snapshot')?.outcome).toBe('rejected');
    },
  );
});

describe('every body is bounded', () => {
  // GNU time measures the peak memory.
  const TIME = tool('/usr/bin/time', [], 'GNU time (/usr/bin/time) is not installed');
  describeNeeds(TIME, 'a huge coderd error body', () => {
    it.each([
      { name: '100 MB', bytes: 100 * 2 ** 20 },
      { name: 'endless', bytes: Number.POSITIVE_INFINITY },
    ])(
      'a $name coderd error body: read a few KiB, AgentAPI still stopped, little memory',
      async ({ bytes }) => {
        await setup({ coderd: { mode: { kind: 'huge-error', status: 400, bytes } } });
        const { result, rssMiB } = await measured(shutdownArgs('--json', '--timeout', '10s'), {
          CODER_AGENT_URL: f.coderd?.url,
          CODER_AGENT_TOKEN: f.coderd?.token,
        });
        expect(result.code).toBe(0);
        expect(step(report(result), 'snapshot')?.outcome).toBe('rejected');
        expect(report(result).stop).toBe('terminated');
        expect(rssMiB).toBeLessThan(200);
      },
    );
  });

  describeNeeds(TIME, 'a huge /messages', () => {
    it.each([
      // The huge message is the newest: alone it is over 64 KiB, so it is kept as its tail.
      { name: 'a single 200 MB message', huge: `message:${200 * 2 ** 20}`, kept: 1 },
      { name: 'a 50 MB top-level key', huge: `key:${50 * 2 ** 20}`, kept: 1 },
      { name: 'a 50 MB key inside a message', huge: `content-key:${50 * 2 ** 20}`, kept: 2 },
    ])('/messages with $name: a valid snapshot within 64 KiB, little memory', async ({ huge, kept }) => {
      f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_HUGE: huge } });
      const { result, rssMiB } = await measured(['snapshot', '--port', String(f.sim.port), '--json'], {});
      expect(result.code, result.stderr).toBe(0);
      const r = JSON.parse(result.stdout);
      expect(r.messagesKept).toBe(kept);
      expect(r.bytes).toBeLessThanOrEqual(65_536);
      expect(rssMiB).toBeLessThan(200);
    });
  });
});

describe('signals and streams', () => {
  it('SIGHUP mid-way: AgentAPI still gets SIGTERM, the lock is released', async () => {
    await setup({ coderd: { mode: { kind: 'hang' } } });
    let child: ChildProcess | undefined;
    const pending = shutdown(['--timeout', '30s'], {}, undefined, { onSpawn: (c) => (child = c) });
    await waitFor(() => (f.coderd?.received.length ?? 0) > 0);
    child?.kill('SIGHUP');
    const result = await pending;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('received SIGHUP');
    expect(report(result).stop).toBe('terminated');
    expect(signalsReceived()).toEqual(['SIGUSR1', 'SIGTERM']);
    expect(existsSync(lockFile())).toBe(false);
  });

  it('a second signal exits at once but still releases the lock', async () => {
    await setup({ coderd: { mode: { kind: 'hang' } }, sim: { env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } } });
    let child: ChildProcess | undefined;
    const pending = shutdown(['--timeout', '30s'], {}, undefined, { onSpawn: (c) => (child = c) });
    await waitFor(() => (f.coderd?.received.length ?? 0) > 0);
    child?.kill('SIGTERM');
    await waitFor(() => signalsReceived().includes('SIGTERM'));
    child?.kill('SIGTERM');
    const result = await pending;
    expect(result.code).toBe(1);
    expect(existsSync(lockFile())).toBe(false);
  });

  it.each(['closed pipe', '/dev/full'])(
    'stderr on a %s: a successful shutdown still exits 0',
    async (where) => {
      await setup();
      const args = shutdownArgs();
      const env = cleanEnv({ CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token });
      const code = await new Promise<number | null>((resolve) => {
        const child =
          where === '/dev/full'
            ? spawn('sh', ['-c', `exec "$0" "$@" 2>/dev/full`, BIN, ...args], { env, stdio: 'ignore' })
            : spawn(BIN, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
        child.stderr?.destroy();
        child.on('exit', resolve);
      });
      expect(code).toBe(0);
      expect(await f.sim?.exited).toEqual({ code: 0, signal: null });
      expect(f.coderd?.stored.has(TASK_ID)).toBe(true);
    },
  );
});

/**
 * Runs `argv` with stdout on a pipe that is non-blocking and only 4 KiB deep (as a parent that
 * set its own end non-blocking leaves it), read only after 300 ms: every write past the first
 * 4 KiB finds it full (EAGAIN). What came through and the exit code, from python3's os.pipe.
 */
function throughFullNonBlockingPipe(argv: string[], env: NodeJS.ProcessEnv) {
  const script = [
    'import fcntl, os, subprocess, sys, time',
    'r, w = os.pipe()',
    'fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ',
    'fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)',
    'child = subprocess.Popen(sys.argv[1:], stdout=w, stderr=subprocess.DEVNULL)',
    'os.close(w)',
    'time.sleep(0.3)',
    'data = b""',
    'while chunk := os.read(r, 65536): data += chunk',
    'sys.stdout.buffer.write(bytes([child.wait()]) + data)',
  ].join('\n');
  const result = spawnSync('python3', ['-c', script, ...argv], { env, maxBuffer: 1 << 22 });
  expect(result.status, result.stderr.toString()).toBe(0);
  return { code: result.stdout[0], stdout: result.stdout.subarray(1).toString('utf8') };
}

describe('stdout that is closed, full or slow', () => {
  it.each(['closed pipe', '/dev/full'])(
    'snapshot on a %s exits 0 (the output goes nowhere)',
    async (where) => {
      await setup();
      const args = ['snapshot', '--port', String(f.sim?.port)];
      const code = await new Promise<number | null>((resolve) => {
        const child =
          where === '/dev/full'
            ? spawn('sh', ['-c', `exec "$0" "$@" >/dev/full`, BIN, ...args], {
                env: cleanEnv(),
                stdio: 'ignore',
              })
            : spawn(BIN, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'ignore'] });
        child.stdout?.destroy();
        child.on('exit', resolve);
      });
      expect(code).toBe(0);
    },
  );

  itNeeds(
    tool('python3'),
    'on a non-blocking pipe that is full, every byte still arrives, in order',
    async () => {
      await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '200' } } });
      const args = ['snapshot', '--port', String(f.sim?.port), '--max-messages', '200'];
      const direct = await run(args);
      expect(direct.code).toBe(0);
      // Large enough to fill the 4 KiB pipe many times over.
      expect(Buffer.byteLength(direct.stdout)).toBeGreaterThan(32 * 1024);
      const slow = throughFullNonBlockingPipe([BIN, ...args], cleanEnv());
      expect(slow.code).toBe(0);
      expect(slow.stdout).toBe(direct.stdout);
    },
  );
});

describe('inputs from provisioning and peers', () => {
  it('a --task-id that is not a UUID fails only the snapshot: AgentAPI is saved and stopped, exit 0', async () => {
    await setup();
    const result = await shutdown(['--task-id', UNRENDERED]);
    expect(result.code).toBe(0);
    expect(outcomes(result)).toEqual([
      ['find', 'found'],
      ['save', 'confirmed'],
      ['snapshot', 'bad-task-id'],
      ['stop', 'terminated'],
    ]);
    expect(step(report(result), 'snapshot')?.detail).toContain(`"${UNRENDERED}" is not a UUID`);
    expect(f.coderd?.received).toHaveLength(0);
  });

  it.each([
    { name: 'outside a task', args: ['--task-id', ''] },
    { name: 'with --no-snapshot', args: ['--no-snapshot'] },
  ])(
    '$name, an AgentAPI saved already is "up-to-date" at once, not after --save-timeout',
    async ({ args }) => {
      await setup();
      process.kill(f.sim?.pid as number, 'SIGUSR1');
      await waitFor(() => existsSync(f.work.stateFile));
      const result = await shutdown([...args, '--save-timeout', '20s']);
      expect(step(report(result), 'save')?.outcome).toBe('up-to-date');
      // The whole shutdown, process start to AgentAPI gone: far under the 20 s it would wait.
      expect(result.ms).toBeLessThan(5_000);
    },
  );

  it('0 messages: nothing is posted (the task keeps its last snapshot), and it says so', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '0' } } });
    const posted = await run(['snapshot', '--port', String(f.sim?.port), '--post', '--task-id', TASK_ID], {
      env: { CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token },
    });
    expect(posted.code).toBe(0);
    expect(posted.stderr).toContain('no messages to show; nothing posted');
    const result = await shutdown();
    expect(step(report(result), 'snapshot')).toMatchObject({
      status: 'skipped',
      outcome: 'empty',
      detail: expect.stringContaining('AgentAPI has no messages; nothing posted'),
    });
    // Nothing to save either: no wait for a state file that will never come.
    expect(step(report(result), 'save')?.outcome).toBe('up-to-date');
    expect(f.coderd?.received).toHaveLength(0);
  });

  it("a message with a role coderd's reader refuses is left out and counted; the rest is posted, and readable", async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '3', AGENTAPI_SIM_EXTRA_ROLE: 'tool' } } });
    const result = await shutdown();
    const r = report(result);
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
    expect(step(r, 'snapshot')?.detail).toContain('left out 1 with a role coderd refuses ("tool")');
    expect(r.snapshot).toMatchObject({ messagesKept: 3, messagesLeftOut: 1 });
    expect(f.coderd?.stored.get(TASK_ID)?.messages.map((m) => m.role)).toEqual(['agent', 'user', 'agent']);
    // coderd would have stored it with the tool message too, and then refused to show it.
    expect(f.coderd?.unreadable.size).toBe(0);
  });

  it('--agentapi-url on another host is a usage error before any connection', async () => {
    let connections = 0;
    const server = createServer((_, res) => res.end('{}'));
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    const port = (server.address() as { port: number }).port;
    f.defer(() => server.close());
    for (const command of ['snapshot', 'status', 'shutdown']) {
      const result = await run([command, '--agentapi-url', `http://127.0.0.2:${port}`]);
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain('host "127.0.0.2" is not on this machine');
    }
    expect(connections).toBe(0);
  });

  it.each([
    ['shutdown', '--timeout', '0', '1s to 1h'],
    ['shutdown', '--grace', '0s', '100ms to 1h'],
    ['snapshot', '--timeout', '0ms', '100ms to 1h'],
    ['status', '--timeout', '0', '100ms to 10m'],
    ['start', '--checkpoint-interval', '0', '1s to 24h'],
  ])('%s %s %s is a usage error naming the range', async (command, flag, value, range) => {
    const result = await run([command, flag, value, ...(command === 'start' ? ['--', 'x'] : [])]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`is out of range: use ${range}`);
  });
});
