// runCheckpoint in-process (issue #39), against the AgentAPI simulator and the coderd stand-in on
// loopback: when a checkpoint saves and posts, when it sends nothing, when it leaves the work to a
// shutdown or to the previous tick, and what its one line says (once, with --quiet-repeats).

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointLockPath, shutdownLockPath } from '../../src/core/process/lock.js';
import {
  type CheckpointOptions,
  checkpointSaidPath,
  runCheckpoint,
} from '../../src/core/sequences/checkpoint.js';
import { startFakeHolder } from '../support/fake-holder.js';
import { freePort, startBystander, startSim, TASK_ID } from '../support/harness.js';
import { inprocessWorld, tell } from '../support/inprocess.js';

const w = inprocessWorld();

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

describe('runCheckpoint: what it does', () => {
  const options = (port: number, more: Partial<CheckpointOptions> = {}): CheckpointOptions => ({
    ...w.shutdownOptions(port),
    timeoutMs: 3_000,
    ...more,
  });
  const infos = () => w.lines.filter((l) => / INFO +checkpoint: /.test(l));
  const warns = () => w.lines.filter((l) => / WARN +checkpoint: /.test(l));

  it('stored: saved, posted, said in one line; the fingerprint kept beside the state file', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    await tell(w.sim.port, 'changed');
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({
      ok: true,
      outcome: 'stored',
      agentapi: { pid: w.sim.pid },
      save: { status: 'ok', outcome: 'confirmed' },
      snapshot: { messagesTotal: 5, messagesKept: 5, attempts: 1 },
      fingerprintFile: `${w.work.stateFile}.checkpoint`,
    });
    expect(report.detail).toMatch(/^confirmed; snapshot of 5 of 5 messages stored \(\d+ bytes\)$/);
    expect(infos()).toEqual([expect.stringContaining(`checkpoint: stored: ${report.detail}`)]);
    expect(readFileSync(`${w.work.stateFile}.checkpoint`, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(w.sim.alive()).toBe(true);
  });

  it('unchanged: nothing sent, nothing said but in --verbose', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await runCheckpoint(options(w.sim.port));
    w.lines.length = 0;
    const received = w.coderd.received.length;
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({
      ok: true,
      outcome: 'unchanged',
      detail: 'nothing new since the last checkpoint (2 messages)',
    });
    expect(w.coderd.received).toHaveLength(received);
    expect(infos()).toEqual([]);
    expect(warns()).toEqual([]);
    expect(w.lines.some((l) => / DEBUG +checkpoint: unchanged: /.test(l))).toBe(true);
  });

  it('something noticed on the way is said with the tick, as a warning, even when nothing changed', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    writeFileSync(`${w.work.stateFile}.prompt`, '{');
    await runCheckpoint(options(w.sim.port));
    expect(infos()).toEqual([]);
    expect(warns()).toEqual([
      expect.stringMatching(/checkpoint: stored: .*; ignoring the prompt's record .*: it is not JSON\n$/),
    ]);
    await runCheckpoint(options(w.sim.port));
    expect(warns()).toHaveLength(2);
    expect(warns()[1]).toMatch(
      /checkpoint: unchanged: nothing new since the last checkpoint \(2 messages\); ignoring the prompt's record/,
    );
  });

  it('a change after a checkpoint: stored again', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    expect((await runCheckpoint(options(w.sim.port))).outcome).toBe('stored');
    await tell(w.sim.port, 'more');
    expect((await runCheckpoint(options(w.sim.port))).outcome).toBe('stored');
    expect(w.coderd.stored.get(TASK_ID)?.messages).toHaveLength(4);
  });

  it('no messages yet: empty, nothing saved or sent', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '0' } });
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({ ok: true, outcome: 'empty', detail: 'AgentAPI has no messages yet' });
    expect(report.save).toBeUndefined();
    expect(w.coderd.received).toEqual([]);
  });

  it('only messages coderd refuses: saved, nothing posted', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '0', AGENTAPI_SIM_EXTRA_ROLE: 'tool' },
    });
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({
      outcome: 'empty',
      detail: 'none of the 1 messages has a role coderd accepts; nothing posted',
      snapshot: { messagesTotal: 1, messagesKept: 0 },
    });
    expect(w.coderd.received).toEqual([]);
  });

  it.each<[string, Partial<CheckpointOptions>, RegExp]>([
    ['no task id', { taskId: undefined }, /; no snapshot posted \(no --task-id given\)$/],
    [
      'no CODER_AGENT_TOKEN',
      { coder: { agentUrl: 'http://127.0.0.1:1/' } },
      /; no snapshot posted \(CODER_AGENT_TOKEN is not set\)$/,
    ],
    ['a task id not a UUID', { taskId: 'nope' }, /; no snapshot posted \(--task-id "nope" is not a UUID/],
  ])('%s: saved, no snapshot; the fingerprint kept', async (_, more, detail) => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await tell(w.sim.port, 'changed');
    const report = await runCheckpoint(options(w.sim.port, more));
    expect(report).toMatchObject({ ok: true, outcome: 'saved', save: { outcome: 'confirmed' } });
    expect(report.detail).toMatch(detail);
    expect((await runCheckpoint(options(w.sim.port, more))).outcome).toBe('unchanged');
  });

  it('a save that cannot be confirmed, no snapshot: unconfirmed, not ok; no fingerprint', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '2', AGENTAPI_SIM_SAVE_DELAY_MS: '2000' },
    });
    await tell(w.sim.port, 'changed');
    const report = await runCheckpoint(options(w.sim.port, { taskId: undefined, saveTimeoutMs: 200 }));
    expect(report).toMatchObject({ ok: false, outcome: 'unconfirmed' });
    expect(() => readFileSync(`${w.work.stateFile}.checkpoint`)).toThrow(/ENOENT/);
  });

  it('posted but not confirmed saved: said so, and tried again next tick', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '2', AGENTAPI_SIM_SAVE_DELAY_MS: '2000' },
    });
    await tell(w.sim.port, 'changed');
    const report = await runCheckpoint(options(w.sim.port, { saveTimeoutMs: 200 }));
    expect(report).toMatchObject({ ok: false, outcome: 'unconfirmed' });
    expect(report.detail).toMatch(/^snapshot stored, but /);
    expect(w.coderd.received).toHaveLength(1);
    expect(() => readFileSync(`${w.work.stateFile}.checkpoint`)).toThrow(/ENOENT/);
  });

  it('--no-state-persistence: posted, the save skipped', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const report = await runCheckpoint(options(w.sim.port, { statePersistence: false }));
    expect(report).toMatchObject({
      ok: true,
      outcome: 'stored',
      save: { status: 'skipped', outcome: 'disabled' },
    });
    expect(report.detail).toMatch(/^disabled; snapshot of 2 of 2 messages stored/);
  });

  it('nothing running: not-running, fine; a PID file naming another program: not-identified, a failure', async () => {
    const quiet = await runCheckpoint(options(await freePort()));
    expect(quiet).toMatchObject({ ok: true, outcome: 'not-running' });
    const bystander = startBystander();
    w.pids.push(bystander.pid as number);
    writeFileSync(w.work.pidFile, `${bystander.pid}\n`);
    const report = await runCheckpoint(options(await freePort()));
    expect(report).toMatchObject({ ok: false, outcome: 'not-identified' });
    expect(warns()).toEqual([expect.stringContaining('checkpoint: not-identified: ')]);
  });

  it('/messages failing: failed, said; stopped instead when told to stop', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MALFORMED: 'shape' } });
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({ ok: false, outcome: 'failed', agentapi: { pid: w.sim.pid } });
    expect(report.detail).toMatch(/^cannot read \/messages: /);
  });

  it('told to stop before it starts: stopped, nothing read or posted', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '2', AGENTAPI_SIM_MESSAGES_HANG: '1' },
    });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const report = await runCheckpoint(options(w.sim.port, { stopped: stop.signal }));
    expect(report).toMatchObject({ ok: true, outcome: 'stopped' });
    expect(w.coderd.received).toEqual([]);
  });

  it('a shutdown holds its lock: deferred, nothing done', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const shutdown = await startFakeHolder(w.work.dir, 'shutdown');
    w.pids.push(shutdown.pid as number);
    writeFileSync(shutdownLockPath(w.work.pidFile), `${shutdown.pid}\n`);
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({
      ok: true,
      outcome: 'deferred',
      detail: 'a shutdown is running; it saves and posts itself',
    });
    expect(w.coderd.received).toEqual([]);
  });

  it('the previous checkpoint still running: busy, leaves at once', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const previous = await startFakeHolder(w.work.dir, 'checkpoint');
    w.pids.push(previous.pid as number);
    writeFileSync(checkpointLockPath(w.work.pidFile), `${previous.pid}\n`);
    const started = Date.now();
    const report = await runCheckpoint(options(w.sim.port));
    expect(report).toMatchObject({
      ok: true,
      outcome: 'busy',
      detail: `the previous checkpoint (PID ${previous.pid}) is still running`,
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('the lock is released: the next tick runs', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    await runCheckpoint(options(w.sim.port));
    expect(() => readFileSync(checkpointLockPath(w.work.pidFile))).toThrow(/ENOENT/);
  });

  it('--quiet-repeats: a new failure is said; a stored is always said; a day-old record said again', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    w.coderd.setMode({ kind: 'status', status: 500 });
    const quiet = options(w.sim.port, { quietRepeats: true, timeoutMs: 1_000 });
    expect((await runCheckpoint(quiet)).outcome).toBe('not-stored');
    expect(warns()).toHaveLength(1);
    // The same failure within a day: not said again.
    await runCheckpoint(quiet);
    expect(warns()).toHaveLength(1);
    // The record says it was said more than a day ago: said again.
    const [key] = readFileSync(checkpointSaidPath(w.work.pidFile), 'utf8').split(' ');
    writeFileSync(checkpointSaidPath(w.work.pidFile), `${key} ${Date.now() - 25 * 3600_000}\n`);
    await runCheckpoint(quiet);
    expect(warns()).toHaveLength(2);
    // A record in the future is no record: said.
    writeFileSync(checkpointSaidPath(w.work.pidFile), `${key} ${Date.now() + 3600_000}\n`);
    await runCheckpoint(quiet);
    expect(warns()).toHaveLength(3);
    // Another failure (another status): said.
    w.coderd.setMode({ kind: 'status', status: 401 });
    await runCheckpoint(quiet);
    expect(warns()).toHaveLength(4);
    // Stored: said, and said again when it happens again.
    w.coderd.setMode({ kind: 'normal' });
    await runCheckpoint(quiet);
    await tell(w.sim.port, 'again');
    await runCheckpoint(quiet);
    expect(infos()).toHaveLength(2);
  });

  it('--quiet-repeats with a record that cannot be kept: said at every tick, and why', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    w.coderd.setMode({ kind: 'status', status: 500 });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(checkpointSaidPath(w.work.pidFile));
    const quiet = options(w.sim.port, { quietRepeats: true, timeoutMs: 1_000 });
    await runCheckpoint(quiet);
    await runCheckpoint(quiet);
    expect(warns()).toHaveLength(2);
    expect(w.lines.filter((l) => l.includes('--quiet-repeats: ')).length).toBe(2);
  });
});

describe('runCheckpoint: what a tick keeps and says', () => {
  const options = (port: number, more: Partial<CheckpointOptions> = {}): CheckpointOptions => ({
    ...w.shutdownOptions(port),
    timeoutMs: 3_000,
    ...more,
  });
  const warns = () => w.lines.filter((l) => / WARN +checkpoint: /.test(l));
  const fingerprint = () => `${w.work.stateFile}.checkpoint`;

  it('what it reports with each outcome: its PID, the fingerprint file, its time', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '0' } });
    const empty = await runCheckpoint(options(w.sim.port));
    expect(empty).toMatchObject({ outcome: 'empty', agentapi: { pid: w.sim.pid } });
    await tell(w.sim.port, 'hello');
    const stored = await runCheckpoint(options(w.sim.port));
    const unchanged = await runCheckpoint(options(w.sim.port));
    expect(unchanged).toMatchObject({
      outcome: 'unchanged',
      detail: 'nothing new since the last checkpoint (2 messages)',
      agentapi: { pid: w.sim.pid },
      fingerprintFile: fingerprint(),
    });
    for (const report of [empty, stored, unchanged]) {
      expect(report.ms).toBeGreaterThanOrEqual(0);
      expect(report.ms).toBeLessThan(3_000);
    }
  });

  it('a malformed CODER_AGENT_URL: the conversation is remembered only when the save was confirmed', async () => {
    w.sim = await startSim({
      work: w.work,
      env: { AGENTAPI_SIM_MESSAGES: '2', AGENTAPI_SIM_SAVE_DELAY_MS: '2000' },
    });
    const coder = { agentUrl: 'not-a-url', token: w.coderd.token };
    const unconfirmed = await runCheckpoint(options(w.sim.port, { coder, saveTimeoutMs: 200 }));
    expect(unconfirmed).toMatchObject({ outcome: 'not-stored', save: { outcome: 'unconfirmed' } });
    expect(existsSync(fingerprint())).toBe(false);
    const saved = await runCheckpoint(options(w.sim.port, { coder, saveTimeoutMs: 2_500 }));
    // The first save has landed meanwhile: up to date, or confirmed.
    expect(saved).toMatchObject({ outcome: 'not-stored', save: { status: 'ok' } });
    expect(existsSync(fingerprint())).toBe(true);
    expect((await runCheckpoint(options(w.sim.port, { coder }))).outcome).toBe('unchanged');
  });

  it('without --quiet-repeats a lasting failure is said at every tick, and no record is kept', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    w.coderd.setMode({ kind: 'status', status: 401 });
    await runCheckpoint(options(w.sim.port));
    await tell(w.sim.port, 'more');
    await runCheckpoint(options(w.sim.port));
    expect(warns()).toHaveLength(2);
    expect(existsSync(checkpointSaidPath(w.work.pidFile))).toBe(false);
  });

  it('with --quiet-repeats: the same failure for another task is said again; nothing about the record', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    w.coderd.setMode({ kind: 'status', status: 401 });
    const other = '9d7e5b1a-2c3f-4e6d-8a9b-0c1d2e3f4a5b';
    await runCheckpoint(options(w.sim.port, { quietRepeats: true }));
    await tell(w.sim.port, 'more');
    await runCheckpoint(options(w.sim.port, { quietRepeats: true, taskId: other }));
    expect(warns()).toHaveLength(2);
    expect(w.lines.filter((l) => l.includes('--quiet-repeats:'))).toEqual([]);
  });

  it('a private folder open to others, a lock that cannot be made: said with the tick, and the tick goes on', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '2' } });
    const privateDir = join(w.work.dir, 'open');
    mkdirSync(privateDir, { mode: 0o777 });
    chmodSync(privateDir, 0o777);
    // No PID file there: AgentAPI is found by its port.
    const pidFile = join(privateDir, 'agentapi.pid');
    // A folder where the lock file would go: no lock can be made there.
    mkdirSync(checkpointLockPath(pidFile));
    const report = await runCheckpoint(options(w.sim.port, { privateDir, pidFile }));
    expect(report.outcome).toBe('stored');
    expect(w.lines).toContainEqual(expect.stringMatching(/ cannot take the lock .*; going on without it/));
    expect(w.lines).toContainEqual(
      expect.stringContaining(`${privateDir} is open to other users (mode 0777); if it is yours`),
    );
  });
});
