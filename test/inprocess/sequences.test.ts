// The orchestration, in-process (issue #39): runShutdown, runCheckpoint, runStart and gatherStatus
// imported and run by vitest, against the AgentAPI simulator and the real AgentAPI on loopback and
// the coderd stand-in, with short timings. The binary-level tests prove the binary; these prove the
// decisions (what a stop that ends with AgentAPI running reports, when a checkpoint says a failure,
// how fast a start says AgentAPI died), where a mistake in them is a failing test at once.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCheckpoint } from '../../src/core/sequences/checkpoint.js';
import { runStart, type StartOptions } from '../../src/core/sequences/run-start.js';
import { runShutdown, type ShutdownOptions } from '../../src/core/sequences/shutdown.js';
import { gatherStatus } from '../../src/core/sequences/status.js';
import { UserError } from '../../src/core/utils/errors.js';
import { Logger } from '../../src/core/utils/log.js';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  alive,
  freePort,
  killQuietly,
  type Sim,
  startBystander,
  startSim,
  TASK_ID,
  type Workdir,
  workdir,
} from '../support/harness.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, messagesOf, say } from '../support/real-agentapi.js';

let work: Workdir;
let coderd: Coderd;
let sim: Sim | undefined;
let lines: string[];
const pids: number[] = [];

beforeEach(async () => {
  work = await workdir();
  coderd = await startCoderd({ tasks: [TASK_ID] });
  lines = [];
});
afterEach(async () => {
  for (const pid of pids.splice(0)) killQuietly(pid);
  await sim?.stop();
  sim = undefined;
  await coderd.close();
  await work.cleanup();
});

/** A user message, through AgentAPI's own POST /message. */
async function tell(port: number, content: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content, type: 'user' }),
  });
  expect(response.ok).toBe(true);
}

const logger = () => new Logger({ write: (line) => lines.push(line), verbose: true });

function shutdownOptions(port: number, more: Partial<ShutdownOptions> = {}): ShutdownOptions {
  return {
    taskId: TASK_ID,
    agentApiUrl: `http://127.0.0.1:${port}`,
    port,
    pidFile: work.pidFile,
    statePersistence: true,
    maxMessages: 10,
    maxBytes: 65_536,
    timeoutMs: 10_000,
    saveTimeoutMs: 2_000,
    coder: { agentUrl: coderd.url, token: coderd.token },
    logger: logger(),
    snapshot: true,
    stop: true,
    graceMs: 1_000,
    privateDir: join(work.dir, 'private'),
    onExit: () => () => {},
    ...more,
  };
}

describe('runShutdown decides', () => {
  it('the whole stop: found, saved, stored, terminated; ok', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '4' } });
    const report = await runShutdown(shutdownOptions(sim.port));
    expect(report.steps.map((s) => [s.step, s.status, s.outcome])).toEqual([
      ['find', 'ok', 'found'],
      ['save', 'ok', 'confirmed'],
      ['snapshot', 'ok', 'stored'],
      ['stop', 'ok', 'terminated'],
    ]);
    expect(report).toMatchObject({ ok: true, saveConfirmed: true, stop: 'terminated' });
    expect(coderd.stored.get(TASK_ID)?.messages).toHaveLength(4);
  });

  it('AgentAPI still running at the end (hurried while it ignores SIGTERM, so no SIGKILL): the stop failed, not ok', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const hurry = new AbortController();
    hurry.abort();
    const started = Date.now();
    const report = await runShutdown(
      shutdownOptions(sim.port, { hurry: hurry.signal, timings: { killWaitMs: 200, checkpointStopMs: 200 } }),
    );
    expect(report.stop).toBe('survived');
    expect(report.steps.find((s) => s.step === 'stop')).toMatchObject({
      status: 'failed',
      outcome: 'survived',
    });
    expect(report.ok).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(sim.alive()).toBe(true);
  });

  it('AgentAPI that ignores SIGTERM, not hurried: SIGKILL after the grace; ok', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_IGNORE_SIGTERM: '1' } });
    const report = await runShutdown(shutdownOptions(sim.port, { graceMs: 300 }));
    expect(report).toMatchObject({ ok: true, stop: 'killed' });
    expect(await sim.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('nothing running: found nothing, signals nothing, posts nothing; ok', async () => {
    const report = await runShutdown(shutdownOptions(await freePort()));
    expect(report.steps.map((s) => [s.step, s.status, s.outcome])).toEqual([
      ['find', 'skipped', 'not-running'],
      ['save', 'skipped', expect.any(String)],
      ['snapshot', 'failed', 'not-taken'],
      ['stop', 'skipped', 'not-signalled'],
    ]);
    expect(coderd.received).toEqual([]);
  });

  it('a PID file that names another process: nothing is signalled, and the find failed', async () => {
    const bystander = startBystander();
    try {
      writeFileSync(work.pidFile, `${bystander.pid}\n`);
      const report = await runShutdown(shutdownOptions(await freePort()));
      expect(report.steps[0]).toMatchObject({ step: 'find', status: 'failed', outcome: 'not-identified' });
      expect(report.ok).toBe(false);
      expect(alive(bystander.pid as number)).toBe(true);
    } finally {
      bystander.kill('SIGKILL');
    }
  });
});

describe('runCheckpoint decides', () => {
  const options = (port: number) => ({
    ...shutdownOptions(port),
    timeoutMs: 3_000,
    quietRepeats: true,
  });

  it('stored when the conversation changed, unchanged when not, and says a lasting failure once', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    expect((await runCheckpoint(options(sim.port))).outcome).toBe('stored');
    expect((await runCheckpoint(options(sim.port))).outcome).toBe('unchanged');
    // A coderd that refuses: not-stored, by its kind and status; said once, not at every tick.
    coderd.setMode({ kind: 'trace-400' });
    await tell(sim.port, 'one');
    const first = await runCheckpoint(options(sim.port));
    expect(first).toMatchObject({
      outcome: 'not-stored',
      failure: { step: 'snapshot', kind: 'rejected', status: 400 },
    });
    const said = () => lines.filter((l) => / WARN +checkpoint: not-stored/.test(l)).length;
    expect(said()).toBe(1);
    await tell(sim.port, 'two');
    expect((await runCheckpoint(options(sim.port))).outcome).toBe('not-stored');
    expect(said()).toBe(1);
  });

  it('a malformed CODER_AGENT_URL: saved, not stored, said in one line', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runCheckpoint({
      ...options(sim.port),
      coder: { agentUrl: 'not-a-url', token: coderd.token },
    });
    expect(report).toMatchObject({ ok: false, outcome: 'not-stored', failure: { kind: 'bad-agent-url' } });
    expect(report.detail).toContain('CODER_AGENT_URL "not-a-url" is not a URL');
  });
});

withPeer(peer('agentapi'), 'runStart decides, with the real AgentAPI', (agentapi) => {
  const options = (port: number, more: Partial<StartOptions> = {}): StartOptions => {
    const home = join(work.dir, 'home');
    mkdirSync(home, { recursive: true });
    return {
      agentapiBin: agentapi,
      port,
      type: 'custom',
      pidFile: work.pidFile,
      stateFile: work.stateFile,
      statePersistence: true,
      serverArgs: [],
      agent: [CHAT_AGENT],
      resumeArgs: ['--resumed'],
      resumeAgent: true,
      detach: true,
      readyTimeoutMs: 10_000,
      replace: false,
      maxMessages: 10,
      maxBytes: 65_536,
      passAgentToken: false,
      logger: logger(),
      world: {
        env: { PATH: process.env.PATH, HOME: home },
        home,
        cwd: home,
        privateDir: join(work.dir, 'private'),
      },
      ...more,
    };
  };

  it('a first start, then a resume that adds --resume-args; the prompt given once', async () => {
    const port = await freePort();
    const prompt = { where: 'from a test', bytes: 5, sent: 'hello' } as const;
    const first = await runStart(options(port, { prompt }));
    pids.push(first.pid as number);
    expect(first).toMatchObject({
      ok: true,
      outcome: 'started',
      resume: { resumed: false },
      prompt: { given: true },
    });
    await say(`http://127.0.0.1:${port}`, 'and more');
    const stop = await runShutdown(shutdownOptions(port, { taskId: undefined }));
    expect(stop.saveConfirmed).toBe(true);
    const again = await runStart(options(port, { prompt }));
    pids.push(again.pid as number);
    expect(again.resume).toMatchObject({ resumed: true, added: ['--resumed'], source: '--resume-args' });
    expect(again.prompt).toMatchObject({ given: false });
    const users = (await messagesOf(`http://127.0.0.1:${port}`)).filter((m) => m.role === 'user');
    expect(users.map((m) => m.content)).toEqual(['hello', 'and more']);
  });

  it('an AgentAPI that dies during start-up is said at once, not at the ready timeout', async () => {
    const started = Date.now();
    const failing = runStart(
      options(await freePort(), { serverArgs: ['--bogus-flag'], readyTimeoutMs: 30_000 }),
    );
    await expect(failing).rejects.toThrow(UserError);
    await expect(failing).rejects.toThrow(/AgentAPI exited during start-up \(code 1\)/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gatherStatus: healthy, with the last start and its prompt', async () => {
    const port = await freePort();
    const report = await runStart(options(port, { prompt: { where: 'from a test', bytes: 2, sent: 'hi' } }));
    pids.push(report.pid as number);
    const status = await gatherStatus({
      port,
      pidFile: work.pidFile,
      coder: {},
      timeoutMs: 5_000,
      home: join(work.dir, 'home'),
    });
    expect(status.healthy).toBe(true);
    expect(status.agentSession).toMatchObject({
      resumed: false,
      type: 'custom',
      prompt: { given: true, delivered: true },
    });
    expect(alive(report.pid as number)).toBe(true);
  });
});
