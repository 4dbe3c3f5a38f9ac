// The whole workspace lifecycle, the way a Coder agent runs a template that uses nothing but this
// module and coder_ai_task: every script as OpenTofu with the coder provider applies it (read from
// the state); all run_on_start scripts at once, later the run_on_stop script; `coder exp sync` from a stand-in
// with the agent's semantics (test/support/coder-cli.sh); the release (and AgentAPI's release)
// served from dist/ over HTTP; the AgentAPI simulator as AgentAPI; the coderd stand-in as coderd.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  alive,
  cleanEnv,
  type RunResult,
  readEvents,
  TASK_ID,
  type Workdir,
  waitFor,
  workdir,
} from '../support/harness.js';
import { describeNeeds, itNeeds, tool } from '../support/needs.js';
import { ROOT, SIM } from '../support/paths.js';
import { type ReleaseServer, serveRelease } from '../support/release-server.js';
import { ENGINE, type ModuleInputs } from '../support/tofu.js';
import { workspace as makeWorkspace, runSh, type Workspace } from '../support/workspace.js';

const SHELLCHECK = tool('shellcheck');

let work: Workdir;
let server: ReleaseServer;
let coderd: Coderd;
const cleanups: (() => void)[] = [];

beforeEach(async () => {
  work = await workdir();
  server = await serveRelease();
  coderd = await startCoderd({ tasks: [TASK_ID] });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await server.close();
  await coderd.close();
  await work.cleanup();
});

/** A workspace of this test's: its folder, release server, coderd and clean-ups. */
const workspace = (inputs: ModuleInputs = {}, options: { sync?: boolean } = {}) =>
  makeWorkspace({ work, server, coderd, cleanups }, inputs, options);

async function say(url: string, content: string): Promise<void> {
  const response = await fetch(`${url}/message`, {
    method: 'POST',
    body: JSON.stringify({ content, type: 'user' }),
  });
  expect(response.status).toBe(200);
}

async function messages(url: string): Promise<{ content: string }[]> {
  return ((await (await fetch(`${url}/messages`)).json()) as { messages: { content: string }[] }).messages;
}

const syncEvents = (ws: Workspace) =>
  readFileSync(join(ws.env.CODER_SYNC_DIR, 'events'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').slice(1).join(' '));

describeNeeds(
  ENGINE,
  'a template with this module and coder_ai_task, through start, stop and start again',
  () => {
    it('installs (pinned hash), starts AgentAPI with persistence, saves, snapshots and stops it, then restores the conversation without a second download', async () => {
      const ws = await workspace();
      const started = await ws.start();
      for (const r of started) expect(r.code, r.stderr).toBe(0);
      // Ordered by `coder exp sync`: the start script waited for the install to complete.
      const events = syncEvents(ws);
      const [install, start] = ws.scripts.units;
      expect(events.indexOf(`completed ${install}`)).toBeGreaterThan(-1);
      expect(events.indexOf(`started ${start}`)).toBeGreaterThan(events.indexOf(`completed ${install}`));
      expect(events).toContain(`completed ${start}`);
      // Downloads: our .xz (or .gz) and AgentAPI, each verified.
      expect(server.requests.filter((r) => !r.endsWith('SHA256SUMS'))).toHaveLength(2);
      // AgentAPI answers where the app's healthcheck looks, also behind Coder's proxy (any Host).
      expect((await fetch(`${ws.url}/status`, { headers: { Host: 'coder.example.com' } })).status).toBe(200);
      const pid = Number(readFileSync(ws.scripts.pidFile, 'utf8'));
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      expect(argv).toEqual(
        expect.arrayContaining([
          'server',
          '--type',
          'claude',
          '--state-file',
          join(ws.home, '.agentapi/state.json'),
          '--load-state',
          '--save-state',
          '--pid-file',
          ws.scripts.pidFile,
          '--',
          'claude',
          '--continue',
        ]),
      );
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toContain('CODER_AGENT_TOKEN');

      await say(ws.url, 'first step');
      await say(ws.url, 'second step');
      const before = await messages(ws.url);
      // The agent's two, the Task's prompt (given to AgentAPI in a Task) and its answer, two steps.
      expect(before).toHaveLength(8);
      expect(before[2].content).toBe('Fix the flaky test');

      const stopped = await ws.stop();
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(alive(pid)).toBe(false);
      expect(existsSync(ws.scripts.pidFile)).toBe(false);
      expect(JSON.parse(readFileSync(join(ws.home, '.agentapi/state.json'), 'utf8')).messages).toHaveLength(
        8,
      );
      expect(coderd.stored.get(TASK_ID)?.messages.map((m) => m.content)).toEqual(
        before.map((m) => m.content),
      );

      // The workspace starts again: a fresh sync state (the agent is new), the same home volume.
      rmSync(ws.env.CODER_SYNC_DIR, { recursive: true });
      server.requests.length = 0;
      const again = await ws.start();
      for (const r of again) expect(r.code, r.stderr).toBe(0);
      expect(server.requests).toEqual([]);
      expect((await messages(ws.url)).map((m) => m.content)).toEqual(before.map((m) => m.content));
      expect(readEvents(work.eventsFile).filter((e) => e.event === 'loaded')).toHaveLength(1);
      expect((await ws.stop()).code).toBe(0);
    });

    it("checkpoints on the agent's cron: nothing sent while nothing changes, one post per change; after everything is killed (no stop script) the last tick's state and snapshot remain, and start restores them", async () => {
      const ws = await workspace();
      expect(ws.scripts.checkpointCron).toMatch(/^\d{1,2} [01]-59\/2 \* \* \* \*$/);
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      const ticks: RunResult[] = [];
      const tick = async () => {
        const result = await ws.tick();
        expect(result.code, result.stderr).toBe(0);
        ticks.push(result);
        return result.stdout + result.stderr;
      };
      expect(await tick()).toContain('checkpoint: stored');
      expect(coderd.received).toHaveLength(1);
      for (let i = 0; i < 3; i++) expect(await tick()).toBe('');
      expect(coderd.received).toHaveLength(1);
      await say(ws.url, 'first step');
      expect(await tick()).toContain('checkpoint: stored');
      await say(ws.url, 'second step');
      expect(await tick()).toContain('checkpoint: stored');
      expect(await tick()).toBe('');
      expect(coderd.received).toHaveLength(3);
      const lastTick = await messages(ws.url);

      // The node dies: AgentAPI and everything of ours are killed; no stop script runs.
      const pid = Number(readFileSync(ws.scripts.pidFile, 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor(() => !alive(pid));
      expect(
        readEvents(work.eventsFile).filter((e) => e.event === 'signal' && e.signal === 'SIGTERM'),
      ).toEqual([]);
      const state = JSON.parse(readFileSync(join(ws.home, '.agentapi/state.json'), 'utf8')).messages;
      expect(state.map((m: { message: string }) => m.message)).toEqual(lastTick.map((m) => m.content));
      expect(coderd.stored.get(TASK_ID)?.messages.map((m) => m.content)).toEqual(
        lastTick.map((m) => m.content),
      );

      // The workspace starts again on the same home volume: the conversation of the last tick.
      rmSync(ws.env.CODER_SYNC_DIR, { recursive: true });
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      expect((await messages(ws.url)).map((m) => m.content)).toEqual(lastTick.map((m) => m.content));
      // Nothing new since: the first tick after the resume sends nothing, and says nothing.
      expect(await tick()).toBe('');
      expect(coderd.received).toHaveLength(3);
      expect((await ws.stop()).code).toBe(0);
    });

    it("the cron keeps the agent's logs quiet: nothing when nothing changed, one line when it stored, a lasting failure said once", async () => {
      const ws = await workspace();
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      const tick = async () => {
        const result = await ws.tick();
        expect(result.code, result.stderr).toBe(0);
        return result.stdout + result.stderr;
      };
      const lines = (text: string) => text.split('\n').filter(Boolean);
      expect(lines(await tick())).toEqual([expect.stringMatching(/INFO {2}checkpoint: stored: /)]);
      // Twenty ticks of an unchanged conversation: not a byte.
      let quiet = '';
      for (let i = 0; i < 20; i++) quiet += await tick();
      expect(quiet).toBe('');
      expect(coderd.received).toHaveLength(1);
      // A change: one line.
      await say(ws.url, 'a change');
      expect(lines(await tick())).toEqual([
        expect.stringMatching(/INFO {2}checkpoint: stored: .*snapshot of \d+ of \d+ messages stored/),
      ]);
      // A failure: one line naming it; the same failure at the next ticks says nothing more.
      coderd.setMode({ kind: 'status', status: 401 });
      await say(ws.url, 'another change');
      expect(lines(await tick())).toEqual([
        expect.stringMatching(/WARN {2}checkpoint: not-stored: snapshot: unauthorized: .*401/),
      ]);
      for (let i = 0; i < 3; i++) expect(await tick()).toBe('');
      expect(coderd.received.filter((r) => r.status === 401)).toHaveLength(4);
      // Fixed: said, once.
      coderd.setMode({ kind: 'normal' });
      expect(lines(await tick())).toEqual([expect.stringMatching(/INFO {2}checkpoint: stored: /)]);
      expect(await tick()).toBe('');
      expect((await ws.stop()).code).toBe(0);
    });

    it.each([
      { name: 'the agent script first', first: 'start' as const, sync: true },
      { name: 'the agent script first, on a Coder without exp sync', first: 'start' as const, sync: false },
      { name: 'both at once, on a Coder without exp sync', first: undefined, sync: false },
    ])('start order does not matter: $name', async ({ first, sync }) => {
      const ws = await workspace({}, { sync });
      const results = await ws.start(first);
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      if (!sync)
        expect(results.map((r) => r.stderr).join('')).toContain(
          'coder exp sync is not available here; waiting up to 600 s',
        );
      expect((await fetch(`${ws.url}/status`)).status).toBe(200);
      expect((await ws.stop()).code).toBe(0);
    });

    it('the start script run twice in a row (a restarted Coder agent) ends 0 both times and leaves one AgentAPI', async () => {
      const ws = await workspace();
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      const pid = Number(readFileSync(ws.scripts.pidFile, 'utf8'));
      const again = await runSh(ws.files.start, ws.env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toBe('');
      expect(again.stderr).toMatch(new RegExp(`AgentAPI is already running \\(PID ${pid}.*nothing to do`));
      expect(Number(readFileSync(ws.scripts.pidFile, 'utf8'))).toBe(pid);
      const servers = spawnSync('pgrep', ['-f', `agentapi server --port ${ws.port}`])
        .stdout.toString()
        .trim();
      expect(servers.split('\n')).toEqual([String(pid)]);
      // No other AgentAPI ever ran: every event of one comes from this one.
      expect(
        new Set(
          readEvents(work.eventsFile)
            .filter((e) => e.source === 'agentapi')
            .map((e) => e.pid),
        ),
      ).toEqual(new Set([pid]));
      expect((await ws.stop()).code).toBe(0);
    });

    it('a failed install makes the start script say so at once, not hang', async () => {
      server.missing.add(`agentapi-lifecycle-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}.xz`);
      server.missing.add(`agentapi-lifecycle-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}.gz`);
      server.missing.add(`agentapi-lifecycle-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`);
      const ws = await workspace();
      const [install, start] = await Promise.all([
        runSh(join(work.dir, 'agentapi-install.sh'), ws.env),
        runSh(join(work.dir, 'agentapi-start.sh'), ws.env),
      ]);
      expect(install.code).toBe(1);
      expect(start.code).toBe(1);
      expect(start.stderr).toContain('the install script failed; see its log');
      // At once: not the 120 s of start_timeout, nor the 600 s of install_wait_timeout.
      expect(start.ms).toBeLessThan(20_000);
    });

    it('two instances in one workspace share nothing but the binary', async () => {
      const first = await workspace({ name: 'agentapi' });
      const second = await workspace({ name: 'reviewer', web_app_slug: 'reviewer' });
      expect(second.scripts.stateFile).toBe('$HOME/.agentapi/reviewer/state.json');
      expect(new Set([...first.scripts.units, ...second.scripts.units]).size).toBe(4);
      const results = await Promise.all([first.start(), second.start()]);
      for (const r of results.flat()) expect(r.code, r.stderr).toBe(0);
      await say(first.url, 'only in the first');
      expect((await messages(second.url)).map((m) => m.content)).not.toContain('only in the first');
      expect((await first.stop()).code).toBe(0);
      expect((await fetch(`${second.url}/status`)).status).toBe(200);
      expect((await second.stop()).code).toBe(0);
      expect(existsSync(join(first.home, '.agentapi/state.json'))).toBe(true);
      expect(existsSync(join(second.home, '.agentapi/reviewer/state.json'))).toBe(true);
      expect(first.scripts.binary).toBe(second.scripts.binary);
    });

    it('a missing binary at stop time never fails the stop', async () => {
      const ws = await workspace();
      const stopped = await ws.stop();
      expect(stopped.code).toBe(0);
      expect(stopped.stderr).toContain('agentapi-lifecycle is not installed at');
    });

    itNeeds(
      SHELLCHECK,
      'every script the module renders (install, start, stop, the cron checkpoint) is clean under shellcheck',
      async () => {
        for (const inputs of [
          {},
          {
            agentapi_args: ['--term-width=120', 'a b'],
            workdir: '/srv/project',
            subdomain: false,
            checkpoint_interval: 60,
            enable_state_persistence: false,
          },
          { agent_command: '', stop_agentapi: false },
          {
            wait_for_scripts: ['coder-claude-code-install_script', 'x-y'],
            task_prompt: "it's `$HOME`",
            adopt_state_file: '',
          },
        ]) {
          const ws = await workspace(inputs);
          const scripts = [ws.scripts.install, ws.scripts.start, ws.scripts.shutdown, ws.scripts.checkpoint];
          // Every script there is: four, and no start script without an agent command.
          expect(scripts.filter(Boolean)).toHaveLength(inputs.agent_command === '' ? 3 : 4);
          for (const text of scripts) {
            if (!text) continue;
            const file = join(work.dir, 'check.sh');
            writeFileSync(file, text);
            const check = spawnSync('shellcheck', ['-s', 'sh', file]);
            expect(check.stdout.toString()).toBe('');
          }
        }
      },
    );
  },
);

describeNeeds(ENGINE, 'companion mode: next to the registry agentapi module', () => {
  it("our stop script (stop_agentapi = false) confirms the save and posts; the registry's stop script stops AgentAPI; one SIGTERM", async () => {
    // The registry module starts AgentAPI (here: the simulator, its PID and state files in its module folder).
    const ws = await workspace({
      agent_command: '',
      stop_agentapi: false,
      pid_file_path: join(work.dir, 'home/.claude-module/agentapi.pid'),
      state_file_path: '$HOME/.claude-module/agentapi-state.json',
    });
    mkdirSync(join(ws.home, '.claude-module'), { recursive: true });
    const agentapi = spawn(SIM, ['server', '--port', String(ws.port), '--', 'claude'], {
      env: cleanEnv({
        AGENTAPI_PID_FILE: ws.scripts.pidFile,
        AGENTAPI_STATE_FILE: join(ws.home, '.claude-module/agentapi-state.json'),
        AGENTAPI_SIM_EVENTS: work.eventsFile,
        AGENTAPI_SIM_MESSAGES: '4',
      }),
      stdio: 'ignore',
    });
    cleanups.push(() => agentapi.kill('SIGKILL'));
    const exited = new Promise((r) => agentapi.on('exit', r));
    await (async () => {
      for (
        let i = 0;
        i < 200 &&
        !(await fetch(`${ws.url}/status`).then(
          (r) => r.ok,
          () => false,
        ));
        i++
      )
        await new Promise((r) => setTimeout(r, 20));
    })();
    const [install] = await Promise.all([runSh(join(work.dir, 'agentapi-install.sh'), ws.env)]);
    expect(install.code, install.stderr).toBe(0);
    // Both stop scripts at once, as the agent runs them: ours, and the registry's shell steps.
    const [ours, theirs] = await Promise.all([
      ws.stop(),
      runSh(`${ROOT}scripts/bench/baseline-shutdown.sh`, ws.env, [
        ws.scripts.pidFile,
        String(ws.port),
        TASK_ID,
      ]),
    ]);
    expect(theirs.code).toBe(0);
    expect(ours.code, ours.stderr).toBe(0);
    await exited;
    const signals = readEvents(work.eventsFile)
      .filter((e) => e.event === 'signal')
      .map((e) => e.signal);
    expect(signals.filter((s) => s === 'SIGTERM')).toHaveLength(1);
    expect(ours.stderr).toMatch(/save: (confirmed|up-to-date)/);
    expect(coderd.stored.get(TASK_ID)?.messages).toHaveLength(4);
  });
});
