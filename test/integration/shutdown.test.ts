import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Mode, SNAPSHOT_LIMIT } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { readEvents, run, runFile, startBystander, TASK_ID, waitFor } from '../support/harness.js';
import { AS_ROOT, binOthersCanRun, describeNeeds } from '../support/needs.js';
import { BIN } from '../support/paths.js';
import { type Report, shutdownHelpers } from '../support/shutdown.js';

const f = useFixture();

const { setup, shutdown, shutdownArgs, report, step, signalsReceived, alive } = shutdownHelpers(f);

describe('shutdown: the happy path', () => {
  it('saves, posts the snapshot, stops with SIGTERM, in that order', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '14' } } });
    const result = await shutdown();
    expect(result.code).toBe(0);
    const r = report(result);
    expect(r.ok).toBe(true);
    expect(r.steps.map((s) => [s.step, s.outcome])).toEqual([
      ['find', 'found'],
      ['save', 'confirmed'],
      ['snapshot', 'stored'],
      ['stop', 'terminated'],
    ]);
    expect(r.saveConfirmed).toBe(true);
    // The state file holds the whole conversation, in AgentAPI's format.
    const state = JSON.parse(readFileSync(f.work.stateFile, 'utf8'));
    expect(state.version).toBe(1);
    expect(state.messages).toHaveLength(14);
    expect(statSync(f.work.stateFile).mode & 0o777).toBe(0o600);
    // coderd stored the last 10.
    expect(f.coderd?.stored.get(TASK_ID)?.messages.map((m) => m.id)).toEqual([
      4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
    ]);
    // The process exited by SIGTERM and removed its PID file.
    expect(await f.sim?.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(f.work.pidFile)).toBe(false);
    // Order across both processes. SIGUSR1 is sent before GET /messages is requested, but a signal
    // is handled asynchronously (in AgentAPI too), so the save may land before or after the fetch,
    // even after the POST: the POST deliberately does not wait for a slow save. What the stop
    // relies on: the fetch before the POST, and both the save and the POST before SIGTERM.
    const events = readEvents(f.work.eventsFile);
    const at = (match: (e: (typeof events)[number]) => boolean) => events.findIndex(match);
    const saved = at((e) => e.event === 'saved' && e.reason === 'SIGUSR1');
    const fetched = at((e) => e.event === 'request' && e.path === '/messages');
    const posted = at((e) => e.event === 'post');
    const terminated = at((e) => e.signal === 'SIGTERM');
    const log = readFileSync(f.work.eventsFile, 'utf8');
    expect(Math.min(saved, fetched), log).toBeGreaterThan(-1);
    expect(fetched, log).toBeLessThan(posted);
    expect(saved, log).toBeLessThan(terminated);
    expect(posted, log).toBeLessThan(terminated);
    expect(events.filter((e) => e.event === 'signal').map((e) => e.signal)).toEqual(['SIGUSR1', 'SIGTERM']);
    expect(result.stdout + result.stderr).not.toContain(f.coderd?.token);
    // One line per step on stderr, plus the summary.
    expect(result.stderr.match(/ (find|save|snapshot|stop): /g)).toHaveLength(4);
  });

  it('posts a huge multi-byte transcript within 64 KiB by bytes', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_TRANSCRIPT_BYTES: String(5_000_000) } } });
    const result = await shutdown(['--max-messages', '30']);
    const r = report(result);
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
    expect(r.snapshot?.bytes).toBeLessThanOrEqual(SNAPSHOT_LIMIT);
    expect(f.coderd?.received.at(-1)?.bytes).toBe(r.snapshot?.bytes);
    expect(r.stop).toBe('terminated');
  });

  it('says "up-to-date" instead of waiting when nothing changed since the last save', async () => {
    await setup();
    process.kill(f.sim?.pid as number, 'SIGUSR1'); // an earlier save: AgentAPI is now clean
    await waitFor(() => existsSync(f.work.stateFile));
    const result = await shutdown(['--save-timeout', '20s']);
    const r = report(result);
    expect(step(r, 'save')?.outcome).toBe('up-to-date');
    expect(result.ms).toBeLessThan(15_000);
  });
});

describe('shutdown: which state file confirms the save', () => {
  it('AgentAPI given its state file by AGENTAPI_STATE_FILE: read from its environment', async () => {
    await setup({ sim: { stateFile: false, env: { AGENTAPI_STATE_FILE: f.work.stateFile } } });
    const r = report(await shutdown());
    expect(step(r, 'save')?.outcome).toBe('confirmed');
    expect(JSON.parse(readFileSync(f.work.stateFile, 'utf8')).version).toBe(1);
  });

  it("a --state-file that is not the one AgentAPI writes: warns, and confirms by AgentAPI's own", async () => {
    await setup();
    const elsewhere = `${f.work.dir}/elsewhere/state.json`;
    const result = await shutdown(['--state-file', elsewhere]);
    const r = report(result) as Report & { stateFile?: string };
    expect(step(r, 'save')?.outcome).toBe('confirmed');
    expect(r.stateFile).toBe(f.work.stateFile);
    expect(result.stderr).toContain(`--state-file ${elsewhere} is not the file AgentAPI writes`);
    expect(existsSync(elsewhere)).toBe(false);
  });

  it('AgentAPI without a state file: no SIGUSR1, whatever --state-file says', async () => {
    await setup({ sim: { stateFile: false } });
    const r = report(await shutdown(['--state-file', f.work.stateFile]));
    expect(step(r, 'save')?.outcome).toBe('no-state-file');
    expect(signalsReceived()).toEqual(['SIGTERM']);
  });
});

describe('shutdown: finding AgentAPI, and never signalling anything else', () => {
  it('without a PID file, finds the one agentapi server on the port and stops it', async () => {
    await setup({ sim: { pidFile: false } });
    const r = report(await shutdown());
    expect(step(r, 'find')).toMatchObject({
      outcome: 'found',
      detail: expect.stringContaining('process-scan'),
    });
    expect(r.stop).toBe('terminated');
  });

  it('a --pid-file in a directory that does not exist: no lock, but still found by port, saved, stopped', async () => {
    await setup({ sim: { pidFile: false } });
    const pidFile = `${f.work.dir}/missing/dir/agentapi.pid`;
    const result = await run(
      ['shutdown', '--task-id', TASK_ID, '--pid-file', pidFile, '--port', String(f.sim?.port), '--json'],
      { env: { CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token } },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `cannot take the lock ${pidFile}.shutdown-lock (its directory does not exist)`,
    );
    const r = report(result);
    expect(r.steps.map((s) => [s.step, s.outcome])).toEqual([
      ['find', 'found'],
      ['save', 'confirmed'],
      ['snapshot', 'stored'],
      ['stop', 'terminated'],
    ]);
  });

  it('with nothing running, says so and exits 0', async () => {
    await setup({ sim: false });
    const result = await shutdown();
    expect(result.code).toBe(0);
    const r = report(result);
    expect(step(r, 'find')?.outcome).toBe('not-running');
    expect(step(r, 'stop')?.outcome).toBe('not-signalled');
    expect(step(r, 'snapshot')?.status).toBe('failed'); // AgentAPI unreachable, reported
  });

  it.each([
    { name: '-1', content: '-1\n' },
    { name: '0', content: '0\n' },
    { name: '1', content: '1\n' },
    { name: 'garbage', content: 'hello world\n' },
    { name: 'empty', content: '' },
    { name: 'huge number', content: '99999999999999999999\n' },
    { name: 'a dead PID', content: 'dead' },
    { name: 'an unrelated live process', content: 'bystander' },
  ])('PID file with $name: nothing is signalled, the snapshot is still posted', async ({ content }) => {
    await setup({ sim: { pidFile: false } });
    let text = content;
    const bystander = content === 'bystander' ? startBystander() : undefined;
    if (bystander) {
      f.defer(() => bystander.kill('SIGKILL'));
      text = `${bystander.pid}\n`;
    }
    if (content === 'dead') {
      const gone = spawn('true');
      await new Promise((r) => gone.on('exit', r));
      text = `${gone.pid}\n`;
    }
    writeFileSync(f.work.pidFile, text);
    const result = await shutdown();
    expect(result.code).toBe(0);
    const r = report(result);
    expect(step(r, 'find')?.status).not.toBe('ok');
    expect(step(r, 'save')?.outcome).toBe('not-signalled');
    expect(step(r, 'stop')?.outcome).toBe('not-signalled');
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
    expect(signalsReceived()).toEqual([]);
    expect(f.sim?.alive()).toBe(true);
    if (bystander) expect(alive(bystander.pid as number)).toBe(true);
  });

  it('an old AgentAPI (before 0.12.0) gets no SIGUSR1 but is still stopped', async () => {
    await setup({ sim: { pidFile: false, stateFile: false, old: true } });
    const r = report(await shutdown());
    expect(step(r, 'save')).toMatchObject({ status: 'skipped', outcome: 'unsupported' });
    expect(step(r, 'save')?.detail).toContain('0.11.2');
    expect(r.stop).toBe('terminated');
    expect(signalsReceived()).toEqual(['SIGTERM']);
  });

  it('--strict makes a refused identification exit 1', async () => {
    await setup({ sim: { pidFile: false } });
    writeFileSync(f.work.pidFile, '0\n');
    const result = await shutdown(['--strict']);
    expect(result.code).toBe(1);
    expect(report(result).ok).toBe(false);
    expect(result.stderr).toMatch(/--strict: find failed/);
  });
});

describe('shutdown: AgentAPI misbehaving', () => {
  it('hanging /messages: the snapshot times out, AgentAPI is still stopped, within --timeout', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES_HANG: '1' } } });
    const result = await shutdown(['--timeout', '6s']);
    expect(result.code).toBe(0);
    const r = report(result);
    expect(step(r, 'snapshot')).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('did not answer GET /messages'),
    });
    expect(r.stop).toBe('terminated');
    expect(result.ms).toBeLessThan(6_000 + 1_000);
  });

  it('malformed /messages: reported, AgentAPI still saved and stopped', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MALFORMED: 'shape' } } });
    const r = report(await shutdown());
    expect(step(r, 'snapshot')).toMatchObject({
      status: 'failed',
      detail: expect.stringContaining('not what AgentAPI sends'),
    });
    expect(step(r, 'save')?.outcome).toBe('confirmed');
    expect(r.stop).toBe('terminated');
  });

  it('ignoring SIGTERM: killed after the grace period', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } } });
    const result = await shutdown(['--grace', '500ms']);
    const r = report(result);
    expect(r.stop).toBe('killed');
    expect(await f.sim?.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(signalsReceived()).toEqual(['SIGUSR1', 'SIGTERM']);
  });

  it('still running at the end (told to hurry while AgentAPI ignores SIGTERM, so no SIGKILL): the stop failed, ok false, --strict exits 1', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } } });
    const started = Date.now();
    const result = await shutdown(['--grace', '10s', '--strict'], {}, undefined, {
      // The stop script's own teardown: SIGTERM to shutdown once it has sent AgentAPI its SIGTERM.
      onSpawn: (child) => {
        const poll = setInterval(() => {
          if (signalsReceived().includes('SIGTERM')) {
            clearInterval(poll);
            child.kill('SIGTERM');
          }
        }, 20);
        child.on('exit', () => clearInterval(poll));
      },
    });
    const r = report(result);
    expect(r.stop).toBe('survived');
    expect(step(r, 'stop')).toMatchObject({ status: 'failed', outcome: 'survived' });
    expect(step(r, 'stop')?.detail).toMatch(/still running at the deadline \(we were interrupted\)/);
    expect(r.ok).toBe(false);
    expect(result.code).toBe(1);
    // Hurried, it gives SIGTERM a short grace, never SIGKILL: AgentAPI is still there.
    expect(Date.now() - started).toBeLessThan(8000);
    expect(signalsReceived()).toEqual(['SIGUSR1', 'SIGTERM']);
    expect(f.sim?.alive()).toBe(true);
  });

  it('a slow save is waited for, within --save-timeout', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_SAVE_DELAY_MS: '700' } } });
    const r = report(await shutdown());
    expect(step(r, 'save')?.outcome).toBe('confirmed');
  });

  it('a save slower than --save-timeout is reported unconfirmed; SIGTERM still runs', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_SAVE_DELAY_MS: '1500' } } });
    const r = report(await shutdown(['--save-timeout', '300ms', '--no-snapshot']));
    expect(step(r, 'save')?.outcome).toBe('unconfirmed');
    expect(r.stop).toBe('terminated');
  });
});

describe('shutdown: coderd misbehaving never blocks the stop', () => {
  it('500 then 204: retried and stored', async () => {
    await setup({ coderd: { mode: { kind: 'fail-first', count: 1 } } });
    const r = report(await shutdown());
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
    expect(r.snapshot?.attempts).toBe(2);
    expect(r.stop).toBe('terminated');
  });

  it.each<{
    name: string;
    mode?: Mode;
    tasks?: string[];
    env?: Record<string, string>;
    outcome: string;
    timeout?: string;
  }>([
    { name: '401', mode: { kind: 'status', status: 401 }, outcome: 'unauthorized' },
    { name: '404 task not found', tasks: [], outcome: 'task-not-found' },
    { name: '404 no such endpoint', mode: { kind: 'no-route' }, outcome: 'endpoint-missing' },
    { name: 'hanging', mode: { kind: 'hang' }, outcome: 'timeout', timeout: '5s' },
    {
      name: 'refusing connections',
      env: { CODER_AGENT_URL: 'http://127.0.0.1:1/' },
      outcome: 'unreachable',
      timeout: '5s',
    },
  ])(
    '$name: reported as $outcome, AgentAPI saved and stopped, exit 0',
    async ({ mode, tasks, env, outcome, timeout }) => {
      await setup({ coderd: { mode, tasks } });
      const result = await shutdown(timeout ? ['--timeout', timeout] : [], env);
      expect(result.code).toBe(0);
      const r = report(result);
      expect(step(r, 'snapshot')).toMatchObject({ status: 'failed', outcome });
      expect(step(r, 'save')?.outcome).toBe('confirmed');
      expect(r.stop).toBe('terminated');
      if (timeout) expect(result.ms).toBeLessThan(5_000 + 1_000);
    },
  );

  it.each([
    { name: 'no task id', args: ['--task-id', ''], env: {}, detail: 'no --task-id' },
    { name: 'no token', args: [], env: { CODER_AGENT_TOKEN: '' }, detail: 'CODER_AGENT_TOKEN is not set' },
    { name: 'no agent URL', args: [], env: { CODER_AGENT_URL: '' }, detail: 'CODER_AGENT_URL is not set' },
  ])('$name: the snapshot is skipped with a clear message', async ({ args, env, detail }) => {
    await setup();
    const r = report(await shutdown(args, env));
    expect(step(r, 'snapshot')).toMatchObject({ status: 'skipped', detail: expect.stringContaining(detail) });
    expect(f.coderd?.received).toHaveLength(0);
    expect(r.stop).toBe('terminated');
  });

  it('--no-stop saves and posts, and AgentAPI keeps running', async () => {
    await setup();
    const r = report(await shutdown(['--no-stop']));
    expect(step(r, 'snapshot')?.outcome).toBe('stored');
    expect(step(r, 'stop')?.outcome).toBe('not-requested');
    expect(f.sim?.alive()).toBe(true);
  });
});

describe('shutdown: concurrency and being interrupted', () => {
  it('two shutdowns at once: AgentAPI gets one SIGTERM, the second defers', async () => {
    // A slow save keeps the first one holding the lock well past the second one's start, even on
    // a loaded machine (a second that started after the first had finished would rightly not defer).
    await setup({
      coderd: { mode: { kind: 'fail-first', count: 1 } },
      sim: { env: { AGENTAPI_SIM_SAVE_DELAY_MS: '1500' } },
    });
    const [a, b] = await Promise.all([shutdown(), shutdown()]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const reports = [report(a), report(b)];
    expect(reports.filter((r) => r.deferredTo !== undefined)).toHaveLength(1);
    expect(reports.filter((r) => r.stop === 'terminated')).toHaveLength(1);
    expect(signalsReceived()).toEqual(['SIGUSR1', 'SIGTERM']);
  });

  it('SIGTERM to shutdown mid-way: it cuts the snapshot short and still sends SIGTERM to AgentAPI', async () => {
    await setup({ coderd: { mode: { kind: 'hang' } } });
    const pending = shutdown(['--timeout', '30s']);
    // Wait until the POST is hanging in f.coderd, then tear the shutdown down like a runtime would.
    await waitFor(() => (f.coderd?.received.length ?? 0) > 0);
    expect(f.coderd?.received.length, 'the POST never reached coderd').toBe(1);
    const child = spawn('pkill', [
      '-TERM',
      '-f',
      `shutdown --task-id ${TASK_ID} --pid-file ${f.work.pidFile}`,
    ]);
    await new Promise((r) => child.on('exit', r));
    const result = await pending;
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(10_000);
    expect(result.stderr).toContain('received SIGTERM');
    expect(report(result).stop).toBe('terminated');
    expect(signalsReceived()).toEqual(['SIGUSR1', 'SIGTERM']);
  });
});

// Needs root to run the binary as `nobody` against an AgentAPI that root owns.
describeNeeds(AS_ROOT, 'shutdown: an AgentAPI of another user', () => {
  const asNobody = (...command: string[]) =>
    runFile('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...command], {
      env: { CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token },
    });

  it.for([
    {
      name: 'its PID file is 0600 as AgentAPI writes it: not identified, nothing signalled',
      pidFileMode: 0o600,
      steps: [
        ['find', 'failed', 'not-identified'],
        ['save', 'skipped', 'not-signalled'],
        ['snapshot', 'ok', 'stored'],
        ['stop', 'skipped', 'not-signalled'],
      ],
      says: 'is invalid: cannot read it (permission denied)',
    },
    {
      name: "its PID file is readable: identified as another user's, nothing signalled",
      pidFileMode: 0o644,
      steps: [
        ['find', 'failed', 'not-identified'],
        ['save', 'skipped', 'not-signalled'],
        ['snapshot', 'ok', 'stored'],
        ['stop', 'skipped', 'not-signalled'],
      ],
      says: "another user's process is never signalled",
    },
  ])(
    '$name; the snapshot still goes out, exit 0, AgentAPI untouched',
    async ({ pidFileMode, steps, says }) => {
      await setup();
      chmodSync(f.work.dir, 0o755); // nobody may look inside, but not write a lock next to the PID file
      chmodSync(f.work.pidFile, pidFileMode);
      const bin = binOthersCanRun(BIN);
      const reach = await asNobody('sh', '-c', 'test -x "$0" && test -x "$1"', bin, f.work.dir);
      expect(reach.code, 'nobody can run the binary and look into the folder').toBe(0);
      const result = await asNobody(bin, ...shutdownArgs('--json'));
      expect(result.code, result.stderr).toBe(0);
      expect(report(result).steps.map((s) => [s.step, s.status, s.outcome])).toEqual(steps);
      expect(result.stderr).toContain(says);
      expect(result.stderr).toContain('(permission denied); going on without it');
      expect(f.sim?.alive()).toBe(true);
      expect(signalsReceived()).toEqual([]);
    },
  );
});
