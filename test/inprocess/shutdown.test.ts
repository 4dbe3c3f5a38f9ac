// runShutdown in-process (issue #39), against the AgentAPI simulator and the coderd stand-in on
// loopback, with short timings: each decision of the stop script's sequence (what each step
// reports, what is signalled, what is posted, when the stop failed) is a test here, where a mutant
// of it fails at once. The binary's shutdown is proven by the integration tests.

import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointLockPath, shutdownLockPath } from '../../src/core/process/lock.js';
import { runShutdown, type ShutdownReport } from '../../src/core/sequences/shutdown.js';
import { digest, readPromptRecord, writePromptRecord } from '../../src/core/task/prompt.js';
import { defaultPidFile } from '../../src/core/utils/settings.js';
import { startFakeAgentApi, startFakeHolder } from '../support/fake-holder.js';
import {
  alive,
  freePort,
  killQuietly,
  readEvents,
  startBystander,
  startSim,
  TASK_ID,
} from '../support/harness.js';
import { inprocessWorld, tell } from '../support/inprocess.js';

const w = inprocessWorld();

const steps = (report: ShutdownReport) => report.steps.map((s) => [s.step, s.status, s.outcome]);
const step = (report: ShutdownReport, name: string) => report.steps.find((s) => s.step === name);

describe('runShutdown decides', () => {
  it('the whole stop: found, saved, stored, terminated; ok', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '4' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(report.steps.map((s) => [s.step, s.status, s.outcome])).toEqual([
      ['find', 'ok', 'found'],
      ['save', 'ok', 'confirmed'],
      ['snapshot', 'ok', 'stored'],
      ['stop', 'ok', 'terminated'],
    ]);
    expect(report).toMatchObject({ ok: true, saveConfirmed: true, stop: 'terminated' });
    expect(w.coderd.stored.get(TASK_ID)?.messages).toHaveLength(4);
  });

  it('AgentAPI still running at the end (hurried while it ignores SIGTERM, so no SIGKILL): the stop failed, not ok', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const hurry = new AbortController();
    hurry.abort();
    const started = Date.now();
    const report = await runShutdown(
      w.shutdownOptions(w.sim.port, {
        hurry: hurry.signal,
        timings: { killWaitMs: 200, checkpointStopMs: 200 },
      }),
    );
    expect(report.stop).toBe('survived');
    expect(report.steps.find((s) => s.step === 'stop')).toMatchObject({
      status: 'failed',
      outcome: 'survived',
    });
    expect(report.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(w.sim.alive()).toBe(true);
  });

  it('AgentAPI that ignores SIGTERM, not hurried: SIGKILL after the grace; ok', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { graceMs: 300 }));
    expect(report).toMatchObject({ ok: true, stop: 'killed' });
    expect(await w.sim.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('nothing running: found nothing, signals nothing, posts nothing; ok', async () => {
    const report = await runShutdown(w.shutdownOptions(await freePort()));
    expect(report.steps.map((s) => [s.step, s.status, s.outcome])).toEqual([
      ['find', 'skipped', 'not-running'],
      ['save', 'skipped', expect.any(String)],
      ['snapshot', 'failed', 'not-taken'],
      ['stop', 'skipped', 'not-signalled'],
    ]);
    expect(w.coderd.received).toEqual([]);
  });

  it('a PID file that names another process: nothing is signalled, and the find failed', async () => {
    const bystander = startBystander();
    try {
      writeFileSync(w.work.pidFile, `${bystander.pid}\n`);
      const report = await runShutdown(w.shutdownOptions(await freePort()));
      expect(report.steps[0]).toMatchObject({ step: 'find', status: 'failed', outcome: 'not-identified' });
      expect(report.ok).toBe(false);
      expect(alive(bystander.pid as number)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});

describe('runShutdown: the snapshot step', () => {
  it.each<[string, { taskId?: string; agentUrl?: string; token?: string }, string, string, RegExp]>([
    ['no task id', { taskId: undefined }, 'skipped', 'no-target', /^no --task-id given; nothing posted$/],
    [
      'a task id that is not a UUID',
      { taskId: 'task-1' },
      'failed',
      'bad-task-id',
      /^--task-id "task-1" is not a UUID .*; nothing posted$/,
    ],
    [
      'no CODER_AGENT_URL',
      { agentUrl: undefined },
      'skipped',
      'no-target',
      /^CODER_AGENT_URL is not set; nothing posted$/,
    ],
    [
      'no CODER_AGENT_TOKEN',
      { token: undefined },
      'skipped',
      'no-target',
      /^CODER_AGENT_TOKEN is not set; nothing posted$/,
    ],
    [
      'a CODER_AGENT_URL that is not a URL',
      { agentUrl: 'coder' },
      'failed',
      'bad-agent-url',
      /^CODER_AGENT_URL "coder" is not a URL .*; nothing posted$/,
    ],
  ])('%s: %s, the save still confirmed by the newest message', async (_, given, status, outcome, detail) => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await tell(w.sim.port, 'changed');
    const coder = { agentUrl: w.coderd.url, token: w.coderd.token };
    const report = await runShutdown(
      w.shutdownOptions(w.sim.port, {
        taskId: 'taskId' in given ? given.taskId : TASK_ID,
        coder: {
          agentUrl: 'agentUrl' in given ? given.agentUrl : coder.agentUrl,
          token: 'token' in given ? given.token : coder.token,
        },
      }),
    );
    expect(step(report, 'snapshot')).toMatchObject({
      status,
      outcome,
      detail: expect.stringMatching(detail),
    });
    expect(step(report, 'save')).toMatchObject({ status: 'ok', outcome: 'confirmed' });
    expect(report.snapshot).toBeUndefined();
    expect(report.ok).toBe(status !== 'failed');
    expect(w.coderd.received).toEqual([]);
  });

  it('--no-snapshot: disabled, nothing posted; the save and the stop go on', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { snapshot: false }));
    expect(steps(report)).toEqual([
      ['find', 'ok', 'found'],
      ['save', 'ok', expect.stringMatching(/^(confirmed|up-to-date)$/)],
      ['snapshot', 'skipped', 'disabled'],
      ['stop', 'ok', 'terminated'],
    ]);
    expect(report.ok).toBe(true);
    expect(w.coderd.received).toEqual([]);
  });

  it('no messages: empty, nothing posted, the last snapshot stays', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '0' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(step(report, 'snapshot')).toMatchObject({
      status: 'skipped',
      outcome: 'empty',
      detail: "AgentAPI has no messages; nothing posted, so the task's last snapshot stays",
    });
    expect(report.snapshot).toMatchObject({ messagesTotal: 0, messagesKept: 0 });
    expect(w.coderd.received).toEqual([]);
  });

  it('only messages coderd would refuse: empty, and their role named', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '0', AGENTAPI_SIM_EXTRA_ROLE: 'tool' },
    });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(step(report, 'snapshot')?.detail).toBe(
      `none of AgentAPI's 1 messages has a role coderd accepts ("tool"); nothing posted, so the task's last snapshot stays`,
    );
    expect(report.snapshot).toMatchObject({ messagesTotal: 1, messagesKept: 0, messagesLeftOut: 1 });
  });

  it('stored after retries: the report says how many and why', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    w.coderd.setMode({ kind: 'fail-first', count: 2, status: 503 });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(step(report, 'snapshot')).toMatchObject({ status: 'ok', outcome: 'stored' });
    expect(step(report, 'snapshot')?.detail).toMatch(
      /^3 of 3 messages, \d+ bytes; after 3 attempts, .+ of waiting, the last refused with HTTP 503$/,
    );
    expect(report.snapshot).toMatchObject({
      messagesTotal: 3,
      messagesKept: 3,
      messagesLeftOut: 0,
      truncated: false,
      attempts: 3,
      lastRefusal: 'HTTP 503',
    });
    expect(report.snapshot?.waitedMs).toBeGreaterThanOrEqual(0);
  });

  it('stored at once: no word of retries; fewer messages kept is not truncation, fewer bytes is', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '6' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { maxMessages: 2, stop: false }));
    expect(step(report, 'snapshot')?.detail).toMatch(/^2 of 6 messages, \d+ bytes$/);
    expect(report.snapshot).toMatchObject({ messagesKept: 2, truncated: false, attempts: 1 });
    const small = await runShutdown(w.shutdownOptions(w.sim.port, { maxBytes: 1024 }));
    expect(small.snapshot?.truncated).toBe(true);
    expect(small.snapshot?.bytes).toBeLessThanOrEqual(1024);
  });

  it('coderd refuses: the snapshot failed, by its kind; save and stop still done', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    w.coderd.setMode({ kind: 'status', status: 401 });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(steps(report)).toEqual([
      ['find', 'ok', 'found'],
      ['save', 'ok', expect.any(String)],
      ['snapshot', 'failed', 'unauthorized'],
      ['stop', 'ok', 'terminated'],
    ]);
    expect(report.ok).toBe(false);
    expect(
      w.lines.some((l) => / WARN +snapshot: unauthorized: coderd rejected the agent token/.test(l)),
    ).toBe(true);
  });

  it('a /messages that is not JSON: not taken, said', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MALFORMED: 'json' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(step(report, 'snapshot')).toMatchObject({ status: 'failed', outcome: 'not-taken' });
    expect(step(report, 'snapshot')?.detail).toMatch(/not JSON/);
    expect(step(report, 'stop')).toMatchObject({ status: 'ok' });
  });
});

describe('runShutdown: the save step', () => {
  it('--no-state-persistence: disabled, and no SIGUSR1', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { statePersistence: false }));
    expect(step(report, 'save')).toMatchObject({ status: 'skipped', outcome: 'disabled' });
    expect(report.saveConfirmed).toBe(false);
    expect(report.stateFile).toBeUndefined();
  });

  it('AgentAPI 0.11: never SIGUSR1 (it would die), its version reported; stopped', async () => {
    w.sim = await startSim({ work: w.work, old: true, pidFile: false, stateFile: false });
    writeFileSync(w.work.pidFile, `${w.sim.pid}\n`);
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(step(report, 'save')).toMatchObject({ status: 'skipped', outcome: 'unsupported' });
    expect(report.agentapi).toMatchObject({ pid: w.sim.pid, version: '0.11.2', supportsPersistence: false });
    expect(step(report, 'stop')).toMatchObject({ status: 'ok', outcome: 'terminated' });
  });

  it('a save slower than its wait: unconfirmed, and SIGTERM saves again', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '2', AGENTAPI_SIM_SAVE_DELAY_MS: '3000' },
    });
    await tell(w.sim.port, 'changed');
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { saveTimeoutMs: 300, graceMs: 5_000 }));
    expect(step(report, 'save')).toMatchObject({ status: 'failed', outcome: 'unconfirmed' });
    expect(step(report, 'save')?.detail).toMatch(/; SIGTERM will save again$/);
    expect(report.saveConfirmed).toBe(false);
  });

  it('confirmed and posted: the fingerprint is kept for the next checkpoint; the state file named', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await tell(w.sim.port, 'changed');
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(report).toMatchObject({ saveConfirmed: true, stateFile: w.work.stateFile });
    expect(readFileSync(`${w.work.stateFile}.checkpoint`, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it('not posted: no fingerprint kept (the next checkpoint must post)', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await tell(w.sim.port, 'changed');
    w.coderd.setMode({ kind: 'status', status: 500 });
    await runShutdown(w.shutdownOptions(w.sim.port, { timeoutMs: 3_000 }));
    expect(() => readFileSync(`${w.work.stateFile}.checkpoint`)).toThrow(/ENOENT/);
  });

  it('a prompt handed over and now in the conversation is marked delivered before AgentAPI stops', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const prompt = 'Fix the flaky test';
    await tell(w.sim.port, prompt);
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    await writePromptRecord(w.work.stateFile, {
      sha256: digest(prompt),
      bytes: Buffer.byteLength(prompt),
      at: new Date().toISOString(),
      state: 'handed',
    });
    await runShutdown(w.shutdownOptions(w.sim.port));
    expect((await readPromptRecord(w.work.stateFile)).record?.state).toBe('delivered');
  });
});

describe('runShutdown: the stop step and the lock', () => {
  it('--no-stop: AgentAPI keeps running; saved and posted all the same', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { stop: false }));
    expect(step(report, 'stop')).toMatchObject({
      status: 'skipped',
      outcome: 'not-requested',
      detail: '--no-stop: AgentAPI keeps running',
    });
    expect(report.stop).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(w.sim.alive()).toBe(true);
  });

  it('SIGKILL after the grace: the words say how long SIGTERM was given', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const report = await runShutdown(
      w.shutdownOptions(w.sim.port, { graceMs: 300, timings: { killWaitMs: 300 } }),
    );
    expect(step(report, 'stop')).toMatchObject({
      status: 'ok',
      outcome: 'killed',
      detail: `PID ${w.sim.pid} ignored SIGTERM for 300ms; SIGKILL stopped it`,
    });
  });

  it('the stop keeps its share of a short budget: at most half, split between SIGTERM and SIGKILL', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const report = await runShutdown(
      w.shutdownOptions(w.sim.port, { timeoutMs: 2_000, graceMs: 3_000, timings: { killWaitMs: 1_000 } }),
    );
    // Half of 2 s is the stop's: SIGTERM's grace is 3/4 of it, SIGKILL's wait the rest.
    expect(w.lines.some((l) => l.includes("the stop keeps 1.0s (SIGTERM's grace 750ms)"))).toBe(true);
    expect(step(report, 'stop')?.detail).toBe(
      `PID ${w.sim.pid} ignored SIGTERM for 750ms; SIGKILL stopped it`,
    );
    expect(report.ms).toBeLessThan(2_500);
  });

  it('interrupted with AgentAPI still running: survived, and said we were interrupted', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const hurry = new AbortController();
    hurry.abort();
    const report = await runShutdown(
      w.shutdownOptions(w.sim.port, { hurry: hurry.signal, timings: { killWaitMs: 100 } }),
    );
    expect(step(report, 'stop')?.detail).toBe(
      `PID ${w.sim.pid} was still running at the deadline (we were interrupted)`,
    );
  });

  it('interrupted, with an AgentAPI that stops at SIGTERM: terminated quickly, the prompt left alone', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const hurry = new AbortController();
    hurry.abort();
    const started = Date.now();
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { hurry: hurry.signal, graceMs: 5_000 }));
    expect(report.stop).toBe('terminated');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('the lock is released at the end, and the exit hook forgotten', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const hooks: string[] = [];
    let release: (() => void) | undefined;
    await runShutdown(
      w.shutdownOptions(w.sim.port, {
        onExit: (r) => {
          release = r;
          hooks.push('set');
          return () => hooks.push('forgotten');
        },
      }),
    );
    expect(hooks).toEqual(['set', 'forgotten']);
    expect(() => readFileSync(shutdownLockPath(w.work.pidFile))).toThrow(/ENOENT/);
    // What runs at a sudden exit removes the lock: planted again, it goes.
    writeFileSync(shutdownLockPath(w.work.pidFile), `${process.pid}\n`);
    release?.();
    expect(() => readFileSync(shutdownLockPath(w.work.pidFile))).toThrow(/ENOENT/);
  });

  it('another live shutdown holds the lock past our deadline: deferred to it, nothing done', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const holder = await startFakeHolder(w.work.dir, 'shutdown');
    w.pids.push(holder.pid as number);
    writeFileSync(shutdownLockPath(w.work.pidFile), `${holder.pid}\n`);
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { timeoutMs: 600 }));
    const detail = `another shutdown (PID ${holder.pid}) was still running at our deadline`;
    expect(report.steps).toEqual(
      ['find', 'save', 'snapshot', 'stop'].map((s) =>
        expect.objectContaining({ step: s, status: 'skipped', outcome: 'deferred', detail }),
      ),
    );
    expect(report).toMatchObject({ ok: true, deferredTo: holder.pid });
    expect(w.sim.alive()).toBe(true);
    expect(
      w.lines.some((l) => l.includes(`another shutdown (PID ${holder.pid}) holds the lock; waiting for it`)),
    ).toBe(true);
  });

  it('another shutdown that lets go while we wait: deferred to it, it handled it', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const holder = await startFakeHolder(w.work.dir, 'shutdown');
    w.pids.push(holder.pid as number);
    writeFileSync(shutdownLockPath(w.work.pidFile), `${holder.pid}\n`);
    setTimeout(() => rmSync(shutdownLockPath(w.work.pidFile)), 200);
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { timeoutMs: 5_000 }));
    expect(report.deferredTo).toBe(holder.pid);
    expect(report.steps[0].detail).toBe(`another shutdown (PID ${holder.pid}) handled it`);
    expect(w.sim.alive()).toBe(true);
  });

  it('a holder that dies holding the lock is taken over: the stop goes on', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const holder = await startFakeHolder(w.work.dir, 'shutdown');
    writeFileSync(shutdownLockPath(w.work.pidFile), `${holder.pid}\n`);
    setTimeout(() => killQuietly(holder.pid), 200);
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { timeoutMs: 5_000 }));
    expect(report.deferredTo).toBeUndefined();
    expect(report.stop).toBe('terminated');
  });

  it('a checkpoint running now is stopped first, so that it posts nothing after us', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const checkpoint = await startFakeHolder(w.work.dir, 'checkpoint');
    w.pids.push(checkpoint.pid as number);
    writeFileSync(checkpointLockPath(w.work.pidFile), `${checkpoint.pid}\n`);
    const exited = new Promise((resolve) => checkpoint.once('exit', (_, signal) => resolve(signal)));
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(await exited).toBe('SIGTERM');
    expect(report.ok).toBe(true);
    expect(
      w.lines.some((l) => l.includes(`a checkpoint is running (PID ${checkpoint.pid}); stopping it`)),
    ).toBe(true);
    expect(alive(checkpoint.pid as number)).toBe(false);
  });
});

describe('runShutdown: what --verbose says, and the save without a snapshot', () => {
  it('the find step says what the PID file holds and what /proc shows, the budget its split', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const cmdline = readFileSync(`/proc/${w.sim.pid}/cmdline`, 'utf8');
    await runShutdown(
      w.shutdownOptions(w.sim.port, { timeoutMs: 4_000, graceMs: 1_000, timings: { killWaitMs: 1_000 } }),
    );
    const find = w.lines.find((l) => / DEBUG +find: PID file /.test(l)) ?? '';
    // Its command line as /proc has it, cut at 80 characters (the simulator's path alone is long).
    const argv = cmdline.split('\0').filter(Boolean).join(' ');
    const shown = argv.length > 80 ? `${argv.slice(0, 80)}…` : argv;
    expect(find).toMatch(
      new RegExp(
        `find: PID file ${w.work.pidFile} holds ${w.sim.pid} \\(written \\d{4}-\\d\\d-\\d\\dT[^)]+\\); /proc/${w.sim.pid}: `,
      ),
    );
    expect(find).toContain(`/proc/${w.sim.pid}: "${shown}", user id ${process.geteuid?.()}, started `);
    expect(find).toMatch(/, started \d{4}-\d\d-\d\dT[^;]+; found by pid-file\n$/);
    expect(
      w.lines.some((l) =>
        l.includes(
          "budget: 4.0s in all; find, save and snapshot share 2.0s, the stop keeps 2.0s (SIGTERM's grace 1.0s)",
        ),
      ),
    ).toBe(true);
    expect(
      w.lines.some((l) => / DEBUG +snapshot: GET http:\/\/127\.0\.0\.1:\d+\/messages -> 200/.test(l)),
    ).toBe(true);
  });

  it('no PID file: the find step says so', async () => {
    await runShutdown(w.shutdownOptions(await freePort()));
    expect(w.lines.some((l) => l.includes(`find: no PID file at ${w.work.pidFile}; `))).toBe(true);
  });

  it('an invalid PID file: the find step says why', async () => {
    writeFileSync(w.work.pidFile, 'nonsense\n');
    const report = await runShutdown(w.shutdownOptions(await freePort()));
    expect(w.lines.some((l) => l.includes(`find: PID file ${w.work.pidFile} is invalid (`))).toBe(true);
    expect(report.steps[0].status).not.toBe('ok');
  });

  it('--no-snapshot after a save of the same conversation: nothing to save, known at once', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await tell(w.sim.port, 'changed');
    const first = await runShutdown(w.shutdownOptions(w.sim.port, { snapshot: false, stop: false }));
    expect(step(first, 'save')).toMatchObject({ status: 'ok', outcome: 'confirmed' });
    const started = Date.now();
    const again = await runShutdown(
      w.shutdownOptions(w.sim.port, { snapshot: false, stop: false, saveTimeoutMs: 5_000 }),
    );
    expect(step(again, 'save')).toMatchObject({ status: 'ok', outcome: 'up-to-date' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a checkpoint that takes SIGTERM and lives is killed after three quarters of its stop time', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '1' } });
    const checkpoint = await startFakeHolder(w.work.dir, 'checkpoint', { ignoreSigterm: true });
    const pid = checkpoint.pid as number;
    w.pids.push(pid);
    writeFileSync(checkpointLockPath(w.work.pidFile), `${pid}\n`);
    const exited = new Promise((resolve) => checkpoint.once('exit', (_, signal) => resolve(signal)));
    const started = Date.now();
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { timings: { checkpointStopMs: 800 } }));
    expect(await exited).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(report.ok).toBe(true);
    expect(w.lines).toContainEqual(
      expect.stringContaining(
        `INFO  a checkpoint is running (PID ${pid}); stopping it so that it posts nothing after us`,
      ),
    );
    expect(w.lines).toContainEqual(expect.stringMatching(new RegExp(`DEBUG checkpoint PID ${pid}: killed`)));
  });
});

describe('runShutdown: what a plain stop says, and where it keeps its lock', () => {
  it('each step said as INFO, none as a warning; each time within the whole', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runShutdown(w.shutdownOptions(w.sim.port));
    expect(report.ok).toBe(true);
    expect(w.lines.filter((l) => / (WARN|ERROR) /.test(l))).toEqual([]);
    for (const s of report.steps) {
      expect(w.lines).toContainEqual(
        expect.stringContaining(` INFO  ${s.step}: ${s.outcome}: ${s.detail} (`),
      );
      expect(s.ms).toBeGreaterThanOrEqual(0);
      expect(s.ms).toBeLessThanOrEqual(report.ms);
    }
    expect(step(report, 'save')?.detail).toMatch(/^\S+ replaced \(\d+ bytes\)$/);
  });

  it('--no-snapshot: /messages is read once, for the save; not at all without a save', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const reads = () =>
      readEvents(w.work.eventsFile).filter((e) => e.event === 'request' && e.path === '/messages').length;
    await runShutdown(w.shutdownOptions(w.sim.port, { snapshot: false, stop: false }));
    expect(reads()).toBe(1);
    await runShutdown(
      w.shutdownOptions(w.sim.port, { snapshot: false, stop: false, statePersistence: false }),
    );
    expect(reads()).toBe(1);
  });

  it('a private folder open to others, and a lock that cannot be made: said, and the stop goes on', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const privateDir = join(w.work.dir, 'open');
    mkdirSync(privateDir, { mode: 0o777 });
    chmodSync(privateDir, 0o777);
    const pidFile = join(privateDir, 'agentapi.pid');
    // A folder where the lock file would go: no lock can be made there.
    mkdirSync(shutdownLockPath(pidFile));
    const report = await runShutdown(w.shutdownOptions(w.sim.port, { privateDir, pidFile }));
    expect(step(report, 'stop')).toMatchObject({ status: 'ok', outcome: 'terminated' });
    const warned = w.lines.filter((l) => / WARN /.test(l));
    expect(warned).toContainEqual(
      expect.stringContaining(
        `${privateDir} is open to other users (mode 0777); if it is yours, \`chmod 700 ${privateDir}\`; going on, trusting nothing found there`,
      ),
    );
    expect(warned).toContainEqual(
      expect.stringMatching(/ WARN {2}cannot take the lock .*; going on without it\n$/),
    );
  });

  it('a PID file in the private folder: the folder is made, private, for the lock', async () => {
    const privateDir = join(w.work.dir, 'private');
    const pidFile = join(privateDir, 'agentapi.pid');
    const port = await freePort();
    const report = await runShutdown(w.shutdownOptions(port, { pidFile, privateDir, snapshot: false }));
    expect(statSync(privateDir).mode & 0o777).toBe(0o700);
    expect(step(report, 'find')).toMatchObject({ status: 'skipped', outcome: 'not-running' });
    expect(report.ok).toBe(true);
    expect(w.lines.filter((l) => / WARN /.test(l))).toEqual([]);
  });

  it("0.1.x's PID file in /tmp, where the default one is missing: found through it, said, stopped", async () => {
    const port = await freePort();
    const old = `/tmp/agentapi-${port}.pid`;
    const fake = await startFakeAgentApi(w.work.dir, ['--port', String(port)]);
    w.pids.push(fake.pid as number);
    writeFileSync(old, `${fake.pid}\n`);
    try {
      const pidFile = defaultPidFile(port);
      const report = await runShutdown(w.shutdownOptions(port, { pidFile, snapshot: false }));
      expect(step(report, 'find')).toMatchObject({
        status: 'ok',
        detail: `AgentAPI is PID ${fake.pid} (pid-file)`,
      });
      expect(w.lines).toContainEqual(
        expect.stringContaining(
          `DEBUG find: no PID file at ${pidFile}; reading ${old}, the default of 0.1.x (an AgentAPI it started)`,
        ),
      );
      expect(step(report, 'stop')).toMatchObject({ status: 'ok', outcome: 'terminated' });
    } finally {
      rmSync(old, { force: true });
    }
  });
});

describe('runShutdown: the verbose find line shows a command line of up to 80 characters whole', () => {
  it.each([
    [80, false],
    [81, true],
  ])('%i characters: cut %s', async (length, cut) => {
    const base = `${join(w.work.dir, 'agentapi')} server --type `;
    const args = ['--type', 'x'.repeat(length - base.length)];
    const fake = await startFakeAgentApi(w.work.dir, args);
    w.pids.push(fake.pid as number);
    writeFileSync(w.work.pidFile, `${fake.pid}\n`);
    const argv = `${base}${args[1]}`;
    expect(argv).toHaveLength(length);
    await runShutdown(
      w.shutdownOptions(await freePort(), { snapshot: false, stop: false, statePersistence: false }),
    );
    const shown = cut ? `${argv.slice(0, 80)}…` : argv;
    expect(w.lines).toContainEqual(expect.stringContaining(`/proc/${fake.pid}: "${shown}", user id `));
  });
});
