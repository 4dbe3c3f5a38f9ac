// `checkpoint`, one tick of a schedule: against the AgentAPI simulator and the coderd stand-in (the
// real AgentAPI runs it in real-agentapi.test.ts and the module's cron in lifecycle.test.ts). What
// it does when something changed, that it sends nothing when nothing did, that it identifies
// AgentAPI as shutdown does, and that it never races a shutdown or another checkpoint.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFixture } from '../support/fixture.js';
import { type RunResult, startBystander, TASK_ID, waitFor } from '../support/harness.js';
import { shutdownHelpers } from '../support/shutdown.js';

const f = useFixture();
const { setup, against, shutdown, report, signalsReceived, alive } = shutdownHelpers(f);

interface CheckpointReport {
  ok: boolean;
  outcome: string;
  detail: string;
  ms: number;
  save?: { outcome: string };
  fingerprintFile?: string;
}

const checkpoint = (args: string[] = [], env: Record<string, string | undefined> = {}) =>
  against('checkpoint', args, env);
const outcomeOf = (result: RunResult): CheckpointReport => JSON.parse(result.stdout);
const posts = () => f.coderd?.received.length ?? 0;
const usr1 = () => signalsReceived().filter((s) => s === 'SIGUSR1').length;
const say = (content: string) =>
  fetch(`${f.sim?.url}/message`, { method: 'POST', body: JSON.stringify({ content, type: 'user' }) });

describe('checkpoint: one tick', () => {
  it('saves and posts a changed conversation, sends nothing while it stays the same, and again once it changes', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '3' } } });
    const first = outcomeOf(await checkpoint());
    expect(first).toMatchObject({ ok: true, outcome: 'stored', save: { outcome: 'confirmed' } });
    expect([posts(), usr1()]).toEqual([1, 1]);
    expect(first.fingerprintFile).toBe(`${f.work.stateFile}.checkpoint`);
    expect(statSync(`${f.work.stateFile}.checkpoint`).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 3; i++) {
      const again = await checkpoint();
      expect(outcomeOf(again).outcome).toBe('unchanged');
      expect(again.code).toBe(0);
    }
    expect([posts(), usr1()]).toEqual([1, 1]);
    await say('one more thing');
    expect(outcomeOf(await checkpoint()).outcome).toBe('stored');
    expect([posts(), usr1()]).toEqual([2, 2]);
    expect(f.coderd?.stored.get(TASK_ID)?.messages).toHaveLength(5);
  });

  it('other limits make another snapshot: the same conversation with --max-messages 2 is saved and posted again', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '3' } } });
    expect(outcomeOf(await checkpoint()).outcome).toBe('stored');
    expect(f.coderd?.stored.get(TASK_ID)?.messages).toHaveLength(3);
    expect(outcomeOf(await checkpoint(['--max-messages', '2'])).outcome).toBe('stored');
    expect(f.coderd?.stored.get(TASK_ID)?.messages).toHaveLength(2);
    expect(outcomeOf(await checkpoint(['--max-messages', '2'])).outcome).toBe('unchanged');
    expect(posts()).toBe(2);
  });

  it.each([
    ['without a task id: saves only', ['--task-id', ''], {}, 'saved', 0],
    ['without the Coder variables: saves only', [], { CODER_AGENT_TOKEN: undefined }, 'saved', 0],
    ['with a task id that is no UUID: saves only', ['--task-id', 'nope'], {}, 'saved', 0],
  ])('%s', async (_, args, env, outcome, expectedPosts) => {
    await setup();
    expect(outcomeOf(await checkpoint(args as string[], env as Record<string, undefined>)).outcome).toBe(
      outcome,
    );
    expect(posts()).toBe(expectedPosts);
    expect(usr1()).toBe(1);
  });

  it('a post that fails is tried again at the next tick (nothing is remembered), and --strict makes it exit 1', async () => {
    await setup({ coderd: { mode: { kind: 'status', status: 401 } } });
    const failed = await checkpoint(['--strict']);
    expect(failed.code).toBe(1);
    expect(outcomeOf(failed)).toMatchObject({ ok: false, outcome: 'not-stored' });
    expect(existsSync(`${f.work.stateFile}.checkpoint`)).toBe(false);
    f.coderd?.setMode({ kind: 'normal' });
    expect(outcomeOf(await checkpoint()).outcome).toBe('stored');
  });

  it('an AgentAPI before 0.12 gets no SIGUSR1 (it would die), and the snapshot is still posted', async () => {
    await setup({ sim: { old: true, pidFile: false, stateFile: false } });
    const result = outcomeOf(await checkpoint());
    expect(result).toMatchObject({ outcome: 'stored', save: { outcome: 'unsupported' } });
    expect(usr1()).toBe(0);
    expect(f.sim?.alive()).toBe(true);
  });

  it('nothing running: not-running, exit 0, nothing sent', async () => {
    await setup({ sim: false });
    const result = await checkpoint();
    expect(result.code).toBe(0);
    expect(outcomeOf(result).outcome).toBe('not-running');
    expect(posts()).toBe(0);
  });

  it('a PID file naming a process that is not AgentAPI: not-identified, and it is never signalled', async () => {
    await setup({ sim: false });
    const bystander = startBystander();
    f.defer(() => bystander.kill('SIGKILL'));
    writeFileSync(f.work.pidFile, `${bystander.pid}\n`);
    const result = outcomeOf(await checkpoint());
    expect(result.outcome).toBe('not-identified');
    expect(alive(bystander.pid as number)).toBe(true);
  });

  it('a FIFO planted at the fingerprint file is no fingerprint: read without hanging, and replaced', async () => {
    await setup();
    mkdirSync(dirname(f.work.stateFile), { recursive: true });
    expect(spawnSync('mkfifo', [`${f.work.stateFile}.checkpoint`]).status).toBe(0);
    const result = await checkpoint(['--timeout', '5s']);
    expect(result.ms).toBeLessThan(5000);
    expect(outcomeOf(result).outcome).toBe('stored');
    expect(statSync(`${f.work.stateFile}.checkpoint`).isFile()).toBe(true);
  });

  it('is bounded by --timeout when /messages hangs', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES_HANG: '1' } } });
    const result = await checkpoint(['--timeout', '1s']);
    expect(result.code).toBe(0);
    expect(result.ms).toBeLessThan(4000);
    expect(outcomeOf(result)).toMatchObject({ ok: false, outcome: 'failed' });
  });
});

describe('checkpoint never races a shutdown or another checkpoint', () => {
  // A save that takes 3 s keeps a checkpoint (or shutdown) busy long enough for the other to come;
  // the other leaving "at once" is then under those 3 s even on a loaded machine.
  const slowSave = { sim: { env: { AGENTAPI_SIM_SAVE_DELAY_MS: '3000' } } };

  it('while a shutdown runs, a checkpoint leaves at once: nothing sent', async () => {
    await setup(slowSave);
    const stopping = shutdown();
    await waitFor(() => existsSync(`${f.work.pidFile}.shutdown-lock`));
    const result = await checkpoint();
    expect(outcomeOf(result).outcome).toBe('deferred');
    expect(result.ms).toBeLessThan(2500);
    expect(report(await stopping).stop).toBe('terminated');
    expect(posts()).toBe(1);
    expect(usr1()).toBe(1);
  });

  it("a shutdown that starts while a checkpoint runs stops it before it posts: the last snapshot is the shutdown's only", async () => {
    await setup(slowSave);
    const ticking = checkpoint();
    // The checkpoint is waiting for its save when the stop script runs.
    await waitFor(() => usr1() === 1);
    const stopped = await shutdown();
    const tick = outcomeOf(await ticking);
    expect(tick.outcome).toBe('stopped');
    expect(report(stopped).steps.map((s) => s.outcome)).toEqual([
      'found',
      'confirmed',
      'stored',
      'terminated',
    ]);
    expect(posts()).toBe(1);
  });

  it('a tick that finds the previous checkpoint still running leaves at once: one post', async () => {
    await setup(slowSave);
    const first = checkpoint();
    await waitFor(() => usr1() === 1);
    const second = await checkpoint();
    expect(outcomeOf(second).outcome).toBe('busy');
    expect(second.ms).toBeLessThan(2500);
    expect(outcomeOf(await first).outcome).toBe('stored');
    expect([posts(), usr1()]).toEqual([1, 1]);
  });

  it('the shutdown keeps what it saved and posted: the first checkpoint after a resume sends nothing', async () => {
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '3' } } });
    expect(report(await shutdown()).stop).toBe('terminated');
    expect(readFileSync(`${f.work.stateFile}.checkpoint`, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    await f.sim?.stop();
    // Resumed: the same conversation, loaded from the state file.
    await setup({ sim: { env: { AGENTAPI_SIM_MESSAGES: '0' } } });
    expect(outcomeOf(await checkpoint()).outcome).toBe('unchanged');
    expect(posts()).toBe(0);
  });
});
