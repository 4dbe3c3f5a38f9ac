// The Task layer beside a module that only installs the agent (issue #27): a Task template under
// the engine with claude-code 5.x's interface (test/fixtures/registry/claude-code-5.4.0, its
// `scripts` output and `coder exp sync` names) and this module; the applied scripts run as the
// Coder agent runs them, with the real AgentAPI and a stand-in `claude` that records its arguments
// and every message it gets, byte for byte (test/support/claude-stand-in.sh).

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import { alive, cleanEnv, freePort, run, TASK_ID, type Workdir, workdir } from '../support/harness.js';
import { describeNeeds } from '../support/needs.js';
import { ROOT } from '../support/paths.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, messagesOf, say, stable, until } from '../support/real-agentapi.js';
import { type ReleaseServer, serveRelease } from '../support/release-server.js';
import { ENGINE, expr, type ModuleInputs } from '../support/tofu.js';
import { workspace as makeWorkspace, runSh, type WorkspaceOptions } from '../support/workspace.js';

const STAND_IN = `${ROOT}test/support/claude-stand-in.sh`;
const CLAUDE_CODE = `${ROOT}test/fixtures/registry/claude-code-5.4.0`;
/** Quotes, $HOME, backticks, a newline, an emoji: what a shell would change, and UTF-8. */
const PROMPT = 'Fix the "flaky" test in $HOME/project: `make test` fails\nsince 🚀 landed – see \'CI\'';
const LEGACY_SESSION = 'cd32e253-ca16-4fd3-9825-d837e74ae3c2';

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

const record = () => join(work.dir, 'claude-record');

function killLater(pid: number): void {
  cleanups.push(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  });
}
/** What the stand-in claude recorded: its starts' arguments, and the messages it got. */
function claudeSaw(): { starts: string[][]; messages: string[] } {
  const lines = readFileSync(record(), 'utf8').split('\n').filter(Boolean);
  return {
    starts: lines.filter((l) => l.startsWith('start')).map((l) => l.split('\t').slice(1)),
    messages: lines
      .filter((l) => l.startsWith('message\t'))
      .map((l) => Buffer.from(l.split('\t')[1], 'base64').toString('utf8')),
  };
}

/** claude-code 5.x beside this module, as the README's template has them. */
function claudeTemplate(agentapi: string, inputs: ModuleInputs = {}, options: WorkspaceOptions = {}) {
  return makeWorkspace(
    { work, server, coderd, cleanups },
    {
      agent_type: 'claude',
      agent_command: '$HOME/.local/bin/claude --dangerously-skip-permissions',
      wait_for_scripts: expr('module.claude-code.scripts'),
      ...inputs,
    },
    {
      agentapi,
      others: { 'claude-code': { source: CLAUDE_CODE, workdir: '/home/coder/project' } },
      env: { CLAUDE_RECORD: record(), CLAUDE_STAND_IN: STAND_IN },
      provisioner: { CODER_TASK_PROMPT: PROMPT },
      ...options,
    },
  );
}

const syncEvents = (dir: string) =>
  readFileSync(join(dir, 'events'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').slice(1).join(' '));

describeNeeds(ENGINE, 'the Task layer beside claude-code 5.x', () => {
  withPeer(peer('agentapi'), 'a Task template', (agentapi) => {
    it("waits for claude-code's install, reports to the Task, names the task's session, gives the Task's prompt once, byte for byte; after a stop, resumes that session and sends nothing again", async () => {
      const ws = await claudeTemplate(agentapi);
      // The Task's app exists, and the start script wants every script the other module names.
      expect(ws.scripts.appId).toEqual(expect.any(String));
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      const events = syncEvents(ws.env.CODER_SYNC_DIR);
      const [install, start] = ws.scripts.units;
      expect(events).toContain(`want ${start} ${install} coder-claude-code-install_script`);
      expect(events.indexOf(`started ${start}`)).toBeGreaterThan(
        events.indexOf('completed coder-claude-code-install_script'),
      );

      // Status reporting: Coder's CLI configured Claude for this app and this AgentAPI.
      expect(readFileSync(ws.env.CODER_MCP_RECORD, 'utf8').trim().split('\t')).toEqual([
        'configure',
        'claude-code',
        join(ws.home),
        'slug=agentapi',
        `url=http://localhost:${ws.port}`,
        'token=set',
      ]);
      // Neither AgentAPI nor the agent got the token; the agent got what Coder's MCP server needs.
      const agentapiPid = Number(readFileSync(ws.scripts.pidFile, 'utf8'));
      const claudePid = Number(
        spawnSync('pgrep', ['-P', String(agentapiPid)])
          .stdout.toString()
          .trim(),
      );
      for (const pid of [agentapiPid, claudePid]) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        expect(environ.filter((v) => v.startsWith('CODER_AGENT_TOKEN='))).toEqual([]);
        expect(environ).toContain('CODER_MCP_ALLOWED_TOOLS=coder_report_task');
      }

      // The prompt: once, as the Task has it (AgentAPI trims nothing here), at the agent.
      await until('the prompt at the agent', async () => (claudeSaw().messages.length ? true : undefined));
      await stable(ws.url);
      expect(claudeSaw().messages).toEqual([PROMPT]);
      expect(claudeSaw().starts).toEqual([['--dangerously-skip-permissions', '--session-id', TASK_ID]]);
      const users = (await messagesOf(ws.url)).filter((m) => m.role === 'user');
      expect(users.map((m) => m.content)).toEqual([PROMPT]);

      // The start script again (a restarted Coder agent): nothing new.
      const again = await runSh(ws.files.start, ws.env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('nothing to do');

      // Pause, resume: the task's session continued; the prompt not sent again.
      const pid = Number(readFileSync(ws.scripts.pidFile, 'utf8'));
      expect((await ws.stop()).code).toBe(0);
      expect(alive(pid)).toBe(false);
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      await stable(ws.url);
      expect(claudeSaw().starts).toEqual([
        ['--dangerously-skip-permissions', '--session-id', TASK_ID],
        ['--dangerously-skip-permissions', '--resume', TASK_ID],
      ]);
      expect(claudeSaw().messages).toEqual([PROMPT]);
      expect((await messagesOf(ws.url)).filter((m) => m.role === 'user').map((m) => m.content)).toEqual([
        PROMPT,
      ]);
      expect((await ws.stop()).code).toBe(0);
    });

    it('without coder exp sync, the start script says what it cannot wait for, and waits for the agent instead', async () => {
      // claude-code 5.x's own scripts stop without `coder exp sync` (errexit): here another
      // installer of the image's puts claude in place a moment after the start script began.
      const ws = await claudeTemplate(
        agentapi,
        { wait_for_scripts: ['coder-claude-code-install_script'] },
        { sync: false, others: {} },
      );
      const claude = join(ws.home, '.local/bin/claude');
      const installer = new Promise<void>((resolve) =>
        setTimeout(() => {
          mkdirSync(join(ws.home, '.local/bin'), { recursive: true });
          copyFileSync(STAND_IN, `${claude}.tmp`);
          renameSync(`${claude}.tmp`, claude);
          resolve();
        }, 2500),
      );
      const results = await ws.start();
      await installer;
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const said = results.map((r) => r.stderr).join('');
      expect(said).toContain(
        `cannot wait for coder-claude-code-install_script without it: waiting for ${claude} to be installed instead`,
      );
      await stable(ws.url);
      expect(claudeSaw().starts).toHaveLength(1);
      expect((await ws.stop()).code).toBe(0);
    });

    it('a task whose template moved from claude-code 4.x resumes with its conversation and its Claude session; theirs is left as it was', async () => {
      // The registry's module ran AgentAPI with its state file in $HOME/.claude-module, and
      // Claude in the session claude-code 4.x gave every task.
      const ws = await claudeTemplate(agentapi);
      const theirs = join(ws.home, '.claude-module/agentapi-state.json');
      await registryTask(agentapi, ws.home, theirs);
      const before = readFileSync(theirs);
      for (const r of await ws.start()) expect(r.code, r.stderr).toBe(0);
      await stable(ws.url);
      // AgentAPI loaded the conversation from the copy; Claude continued 4.x's session.
      const contents = (await messagesOf(ws.url)).map((m) => m.content);
      expect(contents.some((c) => c.includes('You said: before the move'))).toBe(true);
      expect(claudeSaw().starts.at(-1)).toEqual([
        '--dangerously-skip-permissions',
        '--resume',
        LEGACY_SESSION,
      ]);
      expect(claudeSaw().messages).toEqual(['before the move']);
      expect(readFileSync(theirs)).toEqual(before);
      const status = await run(['status', '--port', String(ws.port), '--pid-file', ws.scripts.pidFile], {
        env: { HOME: ws.home },
      });
      expect(status.stdout).toContain(`adopted      the state file started as a copy of ${theirs}`);
      expect(status.stdout).toContain(
        `session      ${LEGACY_SESSION}: a resume: claude continues session ${LEGACY_SESSION}, the one claude-code 4.x gave every task`,
      );
      expect((await ws.stop()).code).toBe(0);
    });
  });
});

withPeer(peer('agentapi'), "the Task's prompt when it cannot be delivered", (agentapi) => {
  it('is named in the log, --json and status, and does not wedge the next start, which gives it again', async () => {
    const env = { HOME: join(work.dir, 'home') };
    mkdirSync(env.HOME);
    const port = String(await freePort());
    const args = (agent: string[], extra: string[] = []) => [
      'start',
      '--detach',
      '--json',
      '--agentapi-bin',
      agentapi,
      '--type',
      'custom',
      '--port',
      port,
      '--prompt',
      PROMPT,
      ...extra,
      '--',
      ...agent,
    ];
    // An agent that never shows a prompt: AgentAPI holds the prompt, waiting for it to be ready.
    const busy = await run(args(['/bin/sh', '-c', 'echo busy; exec sleep 600'], ['--ready-timeout', '3s']), {
      env,
    });
    expect(busy.code, busy.stderr).toBe(0);
    const first = JSON.parse(busy.stdout);
    killLater(first.pid);
    expect(first.prompt).toMatchObject({ given: true, delivered: false });
    expect(busy.stderr).toMatch(
      /WARN {2}the Task's prompt \(\d+ bytes\) was not delivered within 3\.0s: AgentAPI sends it once the agent is ready/,
    );
    const status = await run(['status', '--port', port], { env });
    expect(status.stdout).toContain('prompt       NOT seen delivered');
    expect(status.stdout).toMatch(/warning: the Task's prompt .* was not delivered/);
    expect((await run(['shutdown', '--port', port], { env })).code).toBe(0);
    // The next start (not a resume: the conversation is the agent's greeting alone) gives it again.
    const again = await run(args([CHAT_AGENT]), { env });
    expect(again.code, again.stderr).toBe(0);
    const second = JSON.parse(again.stdout);
    killLater(second.pid);
    expect(second.prompt).toMatchObject({ given: true, delivered: true });
    expect(second.prompt.why).toMatch(
      /given to AgentAPI again: it was handed over at .* but never seen delivered/,
    );
    const base = `http://127.0.0.1:${port}`;
    expect((await messagesOf(base)).filter((m) => m.role === 'user').map((m) => m.content)).toEqual([PROMPT]);
    // And once delivered, never again: a start that finds no conversation (it was never saved).
    expect((await run(['shutdown', '--port', port, '--no-state-persistence'], { env })).code).toBe(0);
    rmSync(join(env.HOME, '.agentapi/state.json'), { force: true });
    const third = JSON.parse((await run(args([CHAT_AGENT]), { env })).stdout);
    killLater(third.pid);
    expect(third.prompt).toMatchObject({ given: false });
    expect(third.prompt.why).toMatch(/not sent again: it was delivered at/);
    await stable(base);
    expect((await messagesOf(base)).filter((m) => m.role === 'user')).toEqual([]);
  });
});

/** What claude-code 4.x left in a home: AgentAPI's state in .claude-module, Claude's session. */
async function registryTask(agentapi: string, home: string, stateFile: string): Promise<void> {
  mkdirSync(home, { recursive: true });
  const port = await freePort();
  const child = spawn(
    agentapi,
    ['server', '--type', 'claude', '--port', String(port), '--', STAND_IN, '--session-id', LEGACY_SESSION],
    {
      cwd: home,
      env: cleanEnv({
        HOME: home,
        AGENTAPI_STATE_FILE: stateFile,
        AGENTAPI_SAVE_STATE: 'true',
        AGENTAPI_LOAD_STATE: 'true',
        CLAUDE_RECORD: record(),
      }),
      stdio: 'ignore',
    },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  await stable(url);
  await say(url, 'before the move');
  child.kill('SIGTERM');
  await exited;
}
