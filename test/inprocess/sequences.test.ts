// The orchestration, in-process (issue #39): runShutdown and runCheckpoint imported and run by
// vitest against the AgentAPI simulator and the coderd stand-in on loopback, with short timings.
// The binary-level tests prove the binary; these prove the decisions (what a stop that ends with
// AgentAPI running reports, when a checkpoint says a failure), where a mutant of them is a failing
// test at once: mutation testing runs them (start.test.ts, with the real AgentAPI, it does not).

import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCheckpoint } from '../../src/core/sequences/checkpoint.js';
import { runShutdown } from '../../src/core/sequences/shutdown.js';
import { alive, freePort, startBystander, startSim, TASK_ID } from '../support/harness.js';
import { inprocessWorld, tell } from '../support/inprocess.js';

const w = inprocessWorld();

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

describe('runCheckpoint decides', () => {
  const options = (port: number) => ({
    ...w.shutdownOptions(port),
    timeoutMs: 3_000,
    quietRepeats: true,
  });

  it('stored when the conversation changed, unchanged when not, and says a lasting failure once', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    expect((await runCheckpoint(options(w.sim.port))).outcome).toBe('stored');
    expect((await runCheckpoint(options(w.sim.port))).outcome).toBe('unchanged');
    // A coderd that refuses: not-stored, by its kind and status; said once, not at every tick.
    w.coderd.setMode({ kind: 'trace-400' });
    await tell(w.sim.port, 'one');
    const first = await runCheckpoint(options(w.sim.port));
    expect(first).toMatchObject({
      outcome: 'not-stored',
      failure: { step: 'snapshot', kind: 'rejected', status: 400 },
    });
    const said = () => w.lines.filter((l) => / WARN +checkpoint: not-stored/.test(l)).length;
    expect(said()).toBe(1);
    await tell(w.sim.port, 'two');
    expect((await runCheckpoint(options(w.sim.port))).outcome).toBe('not-stored');
    expect(said()).toBe(1);
  });

  it('a malformed CODER_AGENT_URL: saved, not stored, said in one line', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runCheckpoint({
      ...options(w.sim.port),
      coder: { agentUrl: 'not-a-url', token: w.coderd.token },
    });
    expect(report).toMatchObject({ ok: false, outcome: 'not-stored', failure: { kind: 'bad-agent-url' } });
    expect(report.detail).toContain('CODER_AGENT_URL "not-a-url" is not a URL');
  });
});
