// The whole cycle against the real AgentAPI (built from its pinned Go module by `npm run peers`),
// running our scripted chat agent on a real terminal: start (foreground and --detach), a
// conversation through AgentAPI's own POST /message, status, snapshot, shutdown, start again with
// the conversation restored by AgentAPI's own --load-state, a second shutdown with nothing new,
// checkpoints; and AgentAPI 0.11, which must never get the persistence flags or SIGUSR1.
// Under CI=true a missing peer fails; elsewhere these tests are skipped by name.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  alive,
  freePort,
  type RunResult,
  run,
  TASK_ID,
  type Workdir,
  waitFor,
  workdir,
} from '../support/harness.js';
import { peer, withPeer } from '../support/peers.js';
import {
  type AgentApiMessage,
  CHAT_AGENT,
  messagesOf,
  say,
  stable,
  until,
} from '../support/real-agentapi.js';

const agentapi = peer('agentapi');
const agentapiOld = peer('agentapi-0.11');

let work: Workdir;
let port: number;
let coderd: Coderd;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  work = await workdir();
  port = await freePort();
  coderd = await startCoderd({ tasks: [TASK_ID] });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await coderd.close();
  await work.cleanup();
});

const base = () => `http://127.0.0.1:${port}`;
const coderEnv = () => ({ CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token });

function killLater(pid: number | undefined): void {
  if (!pid) return;
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });
}

function startArgs(bin: string, extra: string[] = []): string[] {
  return [
    'start',
    '--agentapi-bin',
    bin,
    '--port',
    String(port),
    '--type',
    'custom',
    '--pid-file',
    work.pidFile,
    '--state-file',
    work.stateFile,
    ...extra,
    '--',
    CHAT_AGENT,
  ];
}

interface StartReport {
  ok: boolean;
  pid: number;
  supervisorPid?: number;
  statePersistence: boolean;
  agentapiVersion: string;
}

async function detach(
  bin: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<StartReport> {
  const result = await run(startArgs(bin, ['--detach', '--json', ...extra]), {
    env: { ...coderEnv(), ...env },
  });
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as StartReport;
  killLater(report.supervisorPid);
  killLater(report.pid);
  return report;
}

function shutdown(extra: string[] = []): Promise<RunResult> {
  return run(
    [
      'shutdown',
      '--task-id',
      TASK_ID,
      '--pid-file',
      work.pidFile,
      '--port',
      String(port),
      '--json',
      ...extra,
    ],
    { env: coderEnv() },
  );
}

interface ShutdownReport {
  ok: boolean;
  saveConfirmed: boolean;
  stop?: string;
  agentapi?: { version?: string; supportsPersistence?: boolean };
  steps: { step: string; status: string; outcome: string; detail: string; ms: number }[];
}

const stepOf = (report: ShutdownReport, name: string) => report.steps.find((s) => s.step === name);

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);

/** The snapshot body computed from AgentAPI's own /messages, without our snapshot builder. */
function expectedBody(messages: AgentApiMessage[], keep = 10): string {
  const kept = messages.slice(-keep).map(({ id, content, role, time }) => ({ id, content, role, time }));
  return JSON.stringify({ messages: kept });
}

const stateMessages = (): { id: number; message: string; role: string; time: string }[] =>
  JSON.parse(readFileSync(work.stateFile, 'utf8')).messages;

withPeer(agentapi, 'the whole cycle on the real AgentAPI', (bin) => {
  it('start --detach, a conversation, status, snapshot, shutdown, start again restored, shutdown with nothing new', async () => {
    const started = await detach(bin);
    expect(started).toMatchObject({ ok: true, statePersistence: true });
    expect(started.agentapiVersion).toBe(agentapi.version.replace(/^v/, ''));
    // AgentAPI wrote its own PID file ("%d\n", 0600), and runs with the persistence flags.
    expect(readFileSync(work.pidFile, 'utf8')).toBe(`${started.pid}\n`);
    expect(statSync(work.pidFile).mode & 0o777).toBe(0o600);
    expect(cmdline(started.pid)).toEqual(
      expect.arrayContaining(['--state-file', work.stateFile, '--load-state', '--save-state', '--pid-file']),
    );

    await say(base(), 'first ┌─┐ ünïcødé');
    const conversation = await say(base(), 'second 日本語 🚀');
    expect(conversation.map((m) => m.role)).toEqual(['agent', 'user', 'agent', 'user', 'agent']);

    const status = await run(['status', '--json', '--port', String(port), '--pid-file', work.pidFile], {
      env: coderEnv(),
    });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).agentapi).toMatchObject({
      reachable: true,
      status: 'stable',
      agentType: 'custom',
      messages: 5,
      version: agentapi.version.replace(/^v/, ''),
      statePersistence: 'on',
      pid: started.pid,
    });

    const snapshot = await run(['snapshot', '--port', String(port)]);
    expect(snapshot.code, snapshot.stderr).toBe(0);
    expect(snapshot.stdout.trimEnd()).toBe(expectedBody(await messagesOf(base())));

    const first = await shutdown();
    const report = JSON.parse(first.stdout) as ShutdownReport;
    expect(first.code, first.stderr).toBe(0);
    expect(report.steps.map((s) => `${s.step}:${s.outcome}`)).toEqual([
      'find:found',
      'save:confirmed',
      'snapshot:stored',
      'stop:terminated',
    ]);
    // The real state file holds the conversation; coderd stored the same last messages.
    expect(stateMessages().map((m) => m.message)).toEqual(conversation.map((m) => m.content));
    const stored = coderd.stored.get(TASK_ID)?.messages ?? [];
    expect(JSON.stringify({ messages: stored })).toBe(expectedBody(conversation));
    expect(alive(started.pid)).toBe(false);
    // AgentAPI removes its own PID file on the way out.
    expect(existsSync(work.pidFile)).toBe(false);

    // Start again: AgentAPI's own --load-state brings the conversation back, ids and times too.
    const again = await detach(bin);
    const restored = await until('the conversation restored', async () => {
      const messages = await messagesOf(base());
      return messages.length === conversation.length ? messages : undefined;
    });
    expect(restored).toEqual(conversation);

    // Nothing new since the save: AgentAPI skips the save, and shutdown does not wait for one.
    const second = JSON.parse((await shutdown()).stdout) as ShutdownReport;
    expect(stepOf(second, 'save')).toMatchObject({ status: 'ok', outcome: 'up-to-date' });
    expect(stepOf(second, 'save')?.ms).toBeLessThan(2500);
    expect(second.saveConfirmed).toBe(true);
    expect(stepOf(second, 'stop')?.outcome).toBe('terminated');
    expect(alive(again.pid)).toBe(false);
    expect(stateMessages().map((m) => m.message)).toEqual(conversation.map((m) => m.content));
  });

  it('a state file stamped by the coarse clock just before the newest message still counts as current', async () => {
    // The kernel stamps files with a clock that lags by up to a tick (seen: 3 ms before AgentAPI
    // logged the save), AgentAPI stamps messages with a fine one. Here the lag is set by hand.
    const started = await detach(bin);
    const conversation = await say(base(), 'just before the save');
    process.kill(started.pid, 'SIGUSR1');
    await waitFor(() => existsSync(work.stateFile) && stateMessages().length === conversation.length);
    const newest = Date.parse(conversation.at(-1)?.time ?? '');
    utimesSync(work.stateFile, new Date(newest - 3), new Date(newest - 3));
    const report = JSON.parse((await shutdown()).stdout) as ShutdownReport;
    expect(stepOf(report, 'save')).toMatchObject({ status: 'ok', outcome: 'up-to-date' });
    expect(stepOf(report, 'save')?.ms).toBeLessThan(2500);
  });

  it("the agent's own session: the first start runs it as given, the start after a stop with its resume arguments", async () => {
    const record = join(work.dir, 'agent-starts');
    const env = { CHAT_AGENT_RECORD: record };
    const first = await detach(bin, ['--resume-args=--resume-last'], env);
    await say(base(), 'remember this');
    expect((await shutdown()).code).toBe(0);
    expect(alive(first.pid)).toBe(false);
    await detach(bin, ['--resume-args=--resume-last'], env);
    await stable(base());
    // The agent wrote one line per start: its arguments.
    expect(readFileSync(record, 'utf8').split('\n').filter(Boolean)).toEqual([
      'start',
      'start\t--resume-last',
    ]);
  });

  it('start run again with the same settings: exit 0, the same AgentAPI, nothing started (also after a save, when a fresh start would be a resume)', async () => {
    const record = join(work.dir, 'agent-starts');
    const env = { CHAT_AGENT_RECORD: record };
    const first = await detach(bin, [], env);
    const again = await run(startArgs(bin, ['--detach']), { env: { ...coderEnv(), ...env } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${first.pid}\n`);
    expect(again.stderr).toMatch(
      new RegExp(
        `INFO {2}AgentAPI is already running \\(PID ${first.pid}, since 20\\d\\d-.*\\), as asked, and answers /status: nothing to do`,
      ),
    );
    await say(base(), 'saved now');
    // A checkpoint saves: a start now would be a resume (the agent gets --resume-last), yet this
    // one is the same AgentAPI, started for a first start.
    expect((await run(['checkpoint', '--pid-file', work.pidFile, '--port', String(port)])).code).toBe(0);
    const json = await run(startArgs(bin, ['--detach', '--json', '--resume-args=--resume-last']), {
      env: { ...coderEnv(), ...env },
    });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, outcome: 'already-running', pid: first.pid });
    // One AgentAPI, one agent start, the same PID file.
    expect(readFileSync(record, 'utf8').split('\n').filter(Boolean)).toEqual(['start']);
    expect(Number(readFileSync(work.pidFile, 'utf8'))).toBe(first.pid);
    expect(alive(first.pid)).toBe(true);
  });

  it('start run again with another agent command or other persistence: refused, naming what differs; the running one untouched', async () => {
    const first = await detach(bin);
    const other = await run([...startArgs(bin, ['--detach']).slice(0, -1), '/bin/cat'], { env: coderEnv() });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`error: AgentAPI is already running (PID ${first.pid}`);
    expect(other.stderr).toContain(
      `but not as asked: its agent command is \`${CHAT_AGENT}\`, not \`/bin/cat\``,
    );
    expect(other.stderr).toContain('use --replace to stop it and start it as asked');
    const noState = await run(startArgs(bin, ['--detach', '--no-state-persistence']), { env: coderEnv() });
    expect(noState.code).toBe(1);
    expect(noState.stderr).toContain(`its state file is ${work.stateFile}, not none`);
    expect(alive(first.pid)).toBe(true);
    await stable(base());
  });

  it('start run again while the running one does not answer /status: refused, named', async () => {
    const first = await detach(bin);
    process.kill(first.pid, 'SIGSTOP');
    cleanups.push(() => {
      try {
        process.kill(first.pid, 'SIGCONT');
      } catch {}
    });
    const hung = await run(startArgs(bin, ['--detach']), { env: coderEnv() });
    process.kill(first.pid, 'SIGCONT');
    expect(hung.code).toBe(1);
    expect(hung.stderr).toMatch(
      new RegExp(
        `error: AgentAPI is already running \\(PID ${first.pid}.*\\), but it does not answer /status \\(AgentAPI did not answer GET /status within .*\\); use --replace`,
      ),
    );
    expect(hung.ms).toBeLessThan(15_000);
  });

  it('start in the foreground forwards SIGTERM once (AgentAPI says it got one, and a second would have killed it unsaved), AgentAPI saves and exits 0', async () => {
    let child: ChildProcess | undefined;
    const done = run(startArgs(bin), { env: coderEnv(), onSpawn: (c) => (child = c) });
    await stable(base());
    const pid = Number(readFileSync(work.pidFile, 'utf8'));
    killLater(pid);
    await say(base(), 'in the foreground');
    child?.kill('SIGTERM');
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(alive(pid)).toBe(false);
    // AgentAPI's own log (its stdout, ours in the foreground): one shutdown signal, a SIGTERM.
    expect(result.stdout.match(/msg="Received shutdown signal"/g)).toHaveLength(1);
    expect(result.stdout).toMatch(/msg="Received shutdown signal" signal=terminated/);
    expect(stateMessages().at(-1)?.message).toContain('You said: in the foreground');
  });

  it("checkpoint ticks (the module's cron): one post per change, nothing in between; after a SIGKILL with no stop script, the last tick's conversation comes back", async () => {
    const started = await detach(bin);
    const tick = async () => {
      const result = await run(
        ['checkpoint', '--task-id', TASK_ID, '--pid-file', work.pidFile, '--port', String(port), '--json'],
        { env: coderEnv() },
      );
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { outcome: string; save?: { outcome: string } };
    };
    expect(await tick()).toMatchObject({ outcome: 'stored', save: { outcome: 'confirmed' } });
    expect((await tick()).outcome).toBe('unchanged');
    const conversation = await say(base(), 'tick tock');
    expect(await tick()).toMatchObject({ outcome: 'stored', save: { outcome: 'confirmed' } });
    expect((await tick()).outcome).toBe('unchanged');
    expect(coderd.received).toHaveLength(2);
    process.kill(started.pid, 'SIGKILL');
    await waitFor(() => !alive(started.pid));
    expect(stateMessages().map((m) => m.message)).toEqual(conversation.map((m) => m.content));
    // AgentAPI left its PID file behind (killed): start removes it as provably stale.
    await detach(bin);
    const restored = await until('the conversation restored', async () => {
      const messages = await messagesOf(base());
      return messages.length === conversation.length ? messages : undefined;
    });
    expect(restored).toEqual(conversation);
    expect((await tick()).outcome).toBe('unchanged');
    expect(coderd.received).toHaveLength(2);
  });

  it('checkpoints while it runs: the state file and coderd follow the conversation, nothing while it stays the same', async () => {
    const started = await detach(bin, ['--checkpoint-interval', '1s', '--task-id', TASK_ID, '--verbose']);
    expect(started.supervisorPid).toBeGreaterThan(0);
    await say(base(), 'checkpoint me');
    // The agent's whole reply, not just the question: a tick may have come mid-reply, and the
    // next one would then post again.
    const reply = 'You said: checkpoint me';
    await waitFor(
      () => (coderd.stored.get(TASK_ID)?.messages ?? []).some((m) => m.content.includes(reply)),
      15_000,
    );
    await waitFor(
      () => existsSync(work.stateFile) && stateMessages().some((m) => m.message.includes(reply)),
      15_000,
    );
    const posts = coderd.received.length;
    // Two more intervals with nothing new: nothing more is posted.
    await new Promise((r) => setTimeout(r, 2600));
    expect(coderd.received.length).toBe(posts);
    const result = JSON.parse((await shutdown()).stdout) as ShutdownReport;
    expect(stepOf(result, 'stop')?.outcome).toBe('terminated');
  });
});

withPeer(agentapiOld, 'the version gate on the real AgentAPI 0.11', (bin) => {
  it('start leaves out the persistence flags; shutdown never sends SIGUSR1, still posts, and SIGTERM stops it', async () => {
    const started = await detach(bin);
    expect(started).toMatchObject({ ok: true, statePersistence: false, agentapiVersion: '0.11.8' });
    const argv = cmdline(started.pid);
    for (const flag of ['--state-file', '--load-state', '--save-state', '--pid-file'])
      expect(argv).not.toContain(flag);
    expect(existsSync(work.pidFile)).toBe(false);

    await say(base(), 'old but gold');
    const result = await shutdown();
    const report = JSON.parse(result.stdout) as ShutdownReport;
    expect(result.code, result.stderr).toBe(0);
    // Found by its port (no PID file), asked for its version, and so never sent SIGUSR1: it would
    // have died of it, and the stop would find it gone rather than terminate it.
    expect(report.steps.map((s) => `${s.step}:${s.outcome}`)).toEqual([
      'find:found',
      'save:unsupported',
      'snapshot:stored',
      'stop:terminated',
    ]);
    expect(report.agentapi).toMatchObject({ version: '0.11.8', supportsPersistence: false });
    expect((coderd.stored.get(TASK_ID)?.messages ?? []).at(-1)?.content).toContain('You said: old but gold');
    expect(alive(started.pid)).toBe(false);
    expect(existsSync(work.stateFile)).toBe(false);
  });
});
