// gatherStatus in-process (issue #39), against the AgentAPI simulator and the coderd stand-in on
// loopback: what makes a workspace unhealthy, what deserves a warning, and what is only a note,
// each in its words; the agent's session and the Task's prompt as the last start left them.

import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherStatus, type StatusOptions } from '../../src/core/sequences/status.js';
import { digest, readPromptRecord, writePromptRecord } from '../../src/core/task/prompt.js';
import { type StartRecord, writeStartRecord } from '../../src/core/task/start-record.js';
import { defaultPidFile } from '../../src/core/utils/settings.js';
import { startCoderd } from '../support/coderd.js';
import { startFakeAgentApi } from '../support/fake-holder.js';
import { freePort, killQuietly, startBystander, startSim, TASK_ID } from '../support/harness.js';
import { inprocessWorld, tell } from '../support/inprocess.js';
import { answerJson, answerText, serve } from '../support/loopback.js';

const w = inprocessWorld();

/** The note of a running AgentAPI that has not saved yet. */
const NO_STATE_NOTE = () => `no state file at ${w.work.stateFile} yet: AgentAPI writes it on its first save`;

const options = (port: number, more: Partial<StatusOptions> = {}): StatusOptions => ({
  port,
  pidFile: w.work.pidFile,
  coder: { agentUrl: w.coderd.url, token: w.coderd.token },
  timeoutMs: 3_000,
  home: join(w.work.dir, 'home'),
  ...more,
});

describe('gatherStatus: AgentAPI and its files', () => {
  it('all well: healthy, its process, version, persistence and state file', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    const trace: string[] = [];
    const status = await gatherStatus(options(w.sim.port, { taskId: TASK_ID, trace: (l) => trace.push(l) }));
    expect(status).toMatchObject({
      healthy: true,
      problems: [],
      pidFile: {
        path: w.work.pidFile,
        state: 'ok',
        pid: w.sim.pid,
        running: true,
        isAgentApi: true,
        detail: 'agentapi server',
      },
      agentapi: {
        url: `http://127.0.0.1:${w.sim.port}`,
        reachable: true,
        status: 'stable',
        messages: 3,
        pid: w.sim.pid,
        supportsPersistence: true,
        statePersistence: 'on',
      },
      stateFile: { path: w.work.stateFile, source: 'agentapi', writtenByRunning: true, exists: false },
      coder: {
        reachable: true,
        tokenSet: true,
        version: 'v2.34.5+5d2f6b8',
        taskId: TASK_ID,
        taskIdValid: true,
      },
    });
    expect(status.agentapi.version).toMatch(/^0\.12\./);
    expect(status.warnings).toEqual([]);
    expect(status.notes).toEqual([
      `no state file at ${w.work.stateFile} yet: AgentAPI writes it on its first save`,
    ]);
    expect(trace.some((l) => l.startsWith(`PID file ${w.work.pidFile}: ok, PID ${w.sim?.pid}`))).toBe(true);
  });

  it('nothing running: unhealthy, said how; no PID file means finding it by its port', async () => {
    const port = await freePort();
    const status = await gatherStatus(options(port));
    expect(status.healthy).toBe(false);
    expect(status.problems).toEqual([
      expect.stringMatching(/^AgentAPI is not reachable at http:\/\/127\.0\.0\.1:\d+ /),
    ]);
    expect(status.warnings).toEqual([
      `no PID file at ${w.work.pidFile}: shutdown will have to find AgentAPI by its port`,
    ]);
    expect(status.notes).toEqual([]);
    expect(status.pidFile).toEqual({ path: w.work.pidFile, state: 'missing' });
    expect(status.agentapi).toMatchObject({ reachable: false, statePersistence: 'unknown', pid: undefined });
    expect(status.stateFile.writtenByRunning).toBeUndefined();
  });

  it('a PID file that is not one, or names another program: a problem each', async () => {
    writeFileSync(w.work.pidFile, 'hello\n');
    const invalid = await gatherStatus(options(await freePort()));
    expect(invalid.problems[0]).toMatch(new RegExp(`^PID file ${w.work.pidFile} is invalid: `));
    const bystander = startBystander();
    w.pids.push(bystander.pid as number);
    writeFileSync(w.work.pidFile, `${bystander.pid}\n`);
    const other = await gatherStatus(options(await freePort()));
    expect(other.problems[0]).toBe(
      `PID file ${w.work.pidFile}: PID ${bystander.pid} is "sleep 300", not agentapi server (stale PID file and a reused PID?)`,
    );
    expect(other.pidFile).toMatchObject({ running: true, isAgentApi: false });
    expect(other.problems).toHaveLength(2);
    expect([other.warnings, other.notes]).toEqual([[], []]);
  });

  it('a dead PID: not running', async () => {
    const bystander = startBystander();
    const pid = bystander.pid as number;
    killQuietly(pid);
    await new Promise((r) => bystander.once('exit', r));
    writeFileSync(w.work.pidFile, `${pid}\n`);
    const status = await gatherStatus(options(await freePort()));
    expect(status.pidFile).toMatchObject({ state: 'ok', pid, running: false, isAgentApi: false });
  });

  it('an AgentAPI without a PID file: found by its port, and said', async () => {
    w.sim = await startSim({ work: w.work, pidFile: false });
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentapi.pid).toBe(w.sim.pid);
    expect(status.warnings).toEqual([
      `no PID file at ${w.work.pidFile}: AgentAPI (PID ${w.sim.pid}) was found by its port, as shutdown will find it`,
    ]);
    expect(status.notes).toEqual([NO_STATE_NOTE()]);
    expect(status.healthy).toBe(true);
  });

  it('AgentAPI 0.11: persistence off, said', async () => {
    w.sim = await startSim({ work: w.work, old: true, pidFile: false, stateFile: false });
    writeFileSync(w.work.pidFile, `${w.sim.pid}\n`);
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentapi).toMatchObject({
      statePersistence: 'off',
      supportsPersistence: false,
      version: '0.11.2',
    });
    expect(status.warnings).toEqual([
      'AgentAPI 0.11.2 predates state persistence (0.12.0): the conversation will not survive a stop',
    ]);
    expect(status.notes).toEqual([]);
    expect(status.stateFile.writtenByRunning).toBe(false);
  });

  it('AgentAPI without --state-file: persistence off, said', async () => {
    w.sim = await startSim({ work: w.work, stateFile: false });
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentapi.statePersistence).toBe('off');
    expect(status.warnings).toEqual([
      'AgentAPI runs without a state file: the conversation will not survive a stop (start it with --state-file)',
    ]);
    expect(status.notes).toEqual([]);
  });

  it('--state-file other than the one AgentAPI writes: its own is shown, and said', async () => {
    w.sim = await startSim({ work: w.work });
    const given = join(w.work.dir, 'other.json');
    const status = await gatherStatus(options(w.sim.port, { stateFile: given }));
    expect(status.stateFile).toMatchObject({ path: w.work.stateFile, source: 'agentapi' });
    expect(status.warnings).toEqual([
      `AgentAPI writes its state to ${w.work.stateFile}, not ${given} (--state-file); showing its own`,
    ]);
    expect(status.notes).toEqual([NO_STATE_NOTE()]);
  });

  it("--state-file naming AgentAPI's own: nothing to say about it", async () => {
    w.sim = await startSim({ work: w.work });
    const status = await gatherStatus(options(w.sim.port, { stateFile: w.work.stateFile }));
    expect(status.stateFile).toMatchObject({ path: w.work.stateFile, source: 'agentapi' });
    expect(status.warnings).toEqual([]);
  });

  it('an invalid PID file: why, in the report', async () => {
    writeFileSync(w.work.pidFile, 'hello\n');
    const status = await gatherStatus(options(await freePort()));
    expect(status.pidFile).toEqual({
      path: w.work.pidFile,
      state: 'invalid',
      detail: '"hello" is not a decimal process id',
    });
  });

  it('AgentAPI down, a state file with messages: where to read them', async () => {
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    writeFileSync(
      w.work.stateFile,
      `${JSON.stringify({
        version: 1,
        messages: [
          { id: 0, message: 'hi', role: 'agent', time: '2026-12-06T10:00:00Z' },
          { id: 1, message: 'yo', role: 'user', time: '2026-12-06T10:00:01Z' },
        ],
        initial_prompt: '',
        initial_prompt_sent: false,
      })}\n`,
    );
    const status = await gatherStatus(options(await freePort(), { stateFile: w.work.stateFile }));
    expect(status.stateFile).toMatchObject({ exists: true, messages: 2, source: 'flag' });
    expect(status.stateFile.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(status.notes).toEqual([
      `AgentAPI is down, and its state file ${w.work.stateFile} holds 2 messages: \`agentapi-lifecycle transcript --from-state ${w.work.stateFile}\` shows them`,
    ]);
    expect(status.warnings).toEqual([
      `no PID file at ${w.work.pidFile}: shutdown will have to find AgentAPI by its port`,
    ]);
    expect(status.problems).toHaveLength(1);
  });

  it('a state file that is not one: said', async () => {
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    writeFileSync(w.work.stateFile, 'hello');
    const status = await gatherStatus(options(await freePort(), { stateFile: w.work.stateFile }));
    expect(status.warnings).toEqual([
      `no PID file at ${w.work.pidFile}: shutdown will have to find AgentAPI by its port`,
      `state file ${w.work.stateFile} is not a state file AgentAPI can load (the body is not a JSON object); AgentAPI will report that and start fresh`,
    ]);
    expect(status.notes).toEqual([]);
  });

  it('a task id that is not a UUID: a problem', async () => {
    w.sim = await startSim({ work: w.work });
    const status = await gatherStatus(options(w.sim.port, { taskId: 'task-1' }));
    expect(status.problems).toEqual(['task id "task-1" is not a UUID']);
    expect(status.coder.taskIdValid).toBe(false);
    expect([status.warnings, status.notes]).toEqual([[], [NO_STATE_NOTE()]]);
  });
});

describe('gatherStatus: coderd', () => {
  it.each<
    [
      string,
      () => Promise<{ agentUrl?: string; token?: string; close?: () => Promise<void> }>,
      RegExp | undefined,
      object,
    ]
  >([
    [
      'no CODER_AGENT_URL',
      async () => ({ token: 't' }),
      /^CODER_AGENT_URL is not set: snapshots cannot be posted from this shell$/,
      { tokenSet: true },
    ],
    [
      'no token',
      async () => ({ agentUrl: w.coderd.url }),
      /^CODER_AGENT_TOKEN is not set: snapshots cannot be posted from this shell$/,
      { reachable: true },
    ],
    [
      'not a URL',
      async () => ({ agentUrl: 'coder', token: 't' }),
      /^CODER_AGENT_URL "coder" is not a URL/,
      { reachable: false },
    ],
    [
      'nothing there',
      async () => ({ agentUrl: `http://127.0.0.1:${await freePort()}/`, token: 't' }),
      /^coderd at .* is not reachable \(.+\)$/,
      { reachable: false },
    ],
    [
      'a redirect',
      async () => {
        const s = await serve((_, res) => res.writeHead(302, { location: 'https://elsewhere/' }).end());
        return { agentUrl: `${s.url}/`, token: 't', close: s.close };
      },
      /is not reachable \(HTTP 302, a redirect: CODER_AGENT_URL should be coderd's own address\)$/,
      { reachable: false },
    ],
    [
      'HTTP 300, the first of the redirects',
      async () => {
        const s = await serve(answerText(300, 'choose'));
        return { agentUrl: `${s.url}/`, token: 't', close: s.close };
      },
      /is not reachable \(HTTP 300, a redirect: /,
      { reachable: false },
    ],
    [
      'HTTP 400, not a redirect',
      async () => {
        const s = await serve(answerText(400, 'bad request'));
        return { agentUrl: `${s.url}/`, token: 't', close: s.close };
      },
      /is not reachable \(HTTP 400\)$/,
      { reachable: false },
    ],
    [
      'an address ending in slashes',
      async () => ({ agentUrl: `${w.coderd.url.replace(/\/+$/, '')}///`, token: w.coderd.token }),
      undefined,
      { reachable: true, version: 'v2.34.5+5d2f6b8' },
    ],
    [
      'an error',
      async () => {
        const s = await serve(answerText(502, 'bad gateway'));
        return { agentUrl: `${s.url}/`, token: 't', close: s.close };
      },
      /is not reachable \(HTTP 502\)$/,
      { reachable: false },
    ],
    [
      'an answer without a version',
      async () => {
        const s = await serve(answerJson(200, { version: 7 }));
        return { agentUrl: `${s.url}/`, token: 't', close: s.close };
      },
      undefined,
      { reachable: true, version: undefined, row: undefined },
    ],
  ])('%s', async (_, make, warning, coder) => {
    w.sim = await startSim({ work: w.work });
    const env = await make();
    try {
      const status = await gatherStatus(
        options(w.sim.port, { coder: { agentUrl: env.agentUrl, token: env.token } }),
      );
      expect(status.coder).toMatchObject(coder);
      if (warning) expect(status.warnings).toEqual([expect.stringMatching(warning)]);
      else expect(status.warnings).toEqual([]);
      expect(status.notes).toEqual([NO_STATE_NOTE()]);
      expect(status.healthy).toBe(true);
    } finally {
      await env.close?.();
    }
  });

  it.each([
    ['v2.29.3', /^Coder v2\.29\.3 is before v2\.30 .*: no log-snapshot endpoint/],
    ['v2.37.0', /^Coder v2\.37\.0 is v2\.37 and later: no Tasks/],
  ])('Coder %s: which row of the table, said', async (version, warning) => {
    w.sim = await startSim({ work: w.work });
    const coderd = await startCoderd({ version });
    try {
      const status = await gatherStatus(
        options(w.sim.port, { coder: { agentUrl: coderd.url, token: coderd.token } }),
      );
      expect(status.warnings).toEqual([expect.stringMatching(warning)]);
    } finally {
      await coderd.close();
    }
  });
});

describe('gatherStatus: what the last start did', () => {
  const record = (more: Partial<StartRecord> = {}): StartRecord => ({
    at: '2026-12-06T10:00:00.000Z',
    type: 'claude',
    resumed: false,
    why: 'a first start',
    added: ['--session-id', 'x'],
    cwd: w.work.dir,
    ...more,
  });

  it('a known agent: where it keeps its sessions, whether that folder is there and with the state', async () => {
    w.sim = await startSim({ work: w.work });
    await writeStartRecord(w.work.pidFile, record(), []);
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentSession).toMatchObject({
      resumed: false,
      type: 'claude',
      added: ['--session-id', 'x'],
      folder: join(w.work.dir, 'home', '.claude'),
      folderExists: false,
      minStorage: expect.any(String),
    });
    expect(status.agentSession?.sameFilesystemAsState).toBeUndefined();
    mkdirSync(join(w.work.dir, 'home', '.claude'), { recursive: true });
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    const again = await gatherStatus(options(w.sim.port));
    expect(again.agentSession).toMatchObject({ folderExists: true, sameFilesystemAsState: true });
    expect([again.problems, again.warnings]).toEqual([[], []]);
  });

  it('an agent we know nothing of: only what start recorded', async () => {
    w.sim = await startSim({ work: w.work });
    await writeStartRecord(w.work.pidFile, record({ type: 'custom' }), []);
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentSession).toMatchObject({ type: 'custom' });
    expect(status.agentSession?.folder).toBeUndefined();
    expect(status.warnings).toEqual([]);
  });

  it('status reporting that failed, and a prompt handed but not seen: warnings', async () => {
    w.sim = await startSim({ work: w.work });
    const why = "the Task's prompt (5 bytes) is given to AgentAPI";
    await writeStartRecord(
      w.work.pidFile,
      record({
        reporting: { state: 'failed', why: 'coder failed', slug: 'a' },
        prompt: { given: true, bytes: 5, why, delivered: false, sha256: digest('other') },
      }),
      [],
    );
    const status = await gatherStatus(options(w.sim.port));
    expect(status.warnings).toEqual([why, 'status reporting: coder failed']);
  });

  it('a prompt the conversation shows now: marked delivered, and noted', async () => {
    w.sim = await startSim({ work: w.work });
    await tell(w.sim.port, 'hello');
    const handed = {
      sha256: digest('hello'),
      bytes: 5,
      at: '2026-12-06T10:00:00.000Z',
      state: 'handed' as const,
    };
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    expect(await writePromptRecord(w.work.stateFile, handed)).toBeUndefined();
    const status = await gatherStatus(options(w.sim.port));
    expect(status.notes).toContain("the Task's prompt (5 bytes) is in the conversation: marked delivered");
    expect((await readPromptRecord(w.work.stateFile)).record).toMatchObject({ state: 'delivered' });
  });

  it("a delivered record of another prompt, or a prompt not given: the start's word stands", async () => {
    w.sim = await startSim({ work: w.work });
    const why = "the Task's prompt (5 bytes) is given to AgentAPI";
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    await writePromptRecord(w.work.stateFile, {
      sha256: digest('other'),
      bytes: 5,
      at: '2026-12-06T10:00:00.000Z',
      state: 'delivered',
      deliveredAt: '2026-12-06T10:00:09.000Z',
    });
    const prompt = { given: true, bytes: 5, why, delivered: false, sha256: digest('hello') };
    await writeStartRecord(w.work.pidFile, record({ prompt }), []);
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentSession?.prompt).toEqual(prompt);
    expect(status.warnings).toEqual([why]);

    const notGiven = { given: false, bytes: 0, why: 'no prompt', sha256: digest('other') };
    await writeStartRecord(w.work.pidFile, record({ prompt: notGiven }), []);
    expect((await gatherStatus(options(w.sim.port))).agentSession?.prompt).toEqual(notGiven);
  });

  it('a prompt delivered since the start: shown delivered, and when', async () => {
    w.sim = await startSim({ work: w.work });
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    await writePromptRecord(w.work.stateFile, {
      sha256: digest('hello'),
      bytes: 5,
      at: '2026-12-06T10:00:00.000Z',
      state: 'delivered',
      deliveredAt: '2026-12-06T10:00:09.000Z',
    });
    await writeStartRecord(
      w.work.pidFile,
      record({ prompt: { given: true, bytes: 5, why: 'given', delivered: false, sha256: digest('hello') } }),
      [],
    );
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentSession?.prompt).toMatchObject({
      delivered: true,
      why: "the Task's prompt (5 bytes) was delivered at 2026-12-06T10:00:09.000Z",
    });
    expect(status.warnings).toEqual([]);
  });

  it('a start record that is not one: said, and no session shown', async () => {
    w.sim = await startSim({ work: w.work });
    writeFileSync(`${w.work.pidFile}.start.json`, '{');
    const status = await gatherStatus(options(w.sim.port));
    expect(status.agentSession).toBeUndefined();
    expect(status.warnings).toEqual([
      `ignoring the start record ${w.work.pidFile}.start.json: it is not one`,
    ]);
  });
});

describe('gatherStatus: finding AgentAPI without its PID file, and what the trace says', () => {
  const fakes = async (count: number, args: string[], env: Record<string, string> = {}) => {
    const pids: number[] = [];
    for (let i = 0; i < count; i++) {
      const child = await startFakeAgentApi(w.work.dir, args, { env });
      w.pids.push(child.pid as number);
      pids.push(child.pid as number);
    }
    return pids;
  };

  it('two agentapi servers of ours on the port: neither is taken for it', async () => {
    const port = await freePort();
    await fakes(2, ['--port', String(port)]);
    const trace: string[] = [];
    const status = await gatherStatus(options(port, { trace: (l) => trace.push(l) }));
    expect(status.agentapi.pid).toBeUndefined();
    expect(trace).toContain(`no PID file: 2 agentapi server(s) of ours on port ${port}`);
    expect(status.warnings).toEqual([
      `no PID file at ${w.work.pidFile}: shutdown will have to find AgentAPI by its port`,
    ]);
  });

  it('with --agentapi-url, the port is not searched', async () => {
    const port = await freePort();
    await fakes(1, ['--port', String(port)]);
    const trace: string[] = [];
    const status = await gatherStatus(
      options(port, { agentApiUrl: `http://127.0.0.1:${port}`, trace: (l) => trace.push(l) }),
    );
    expect(status.agentapi.pid).toBeUndefined();
    expect(trace).toContain(`no PID file: 0 agentapi server(s) of ours on port ${port}`);
  });

  it('the state file it was started with, or none, in the trace; and where coderd is', async () => {
    const port = await freePort();
    const own = join(w.work.dir, 'own.json');
    const [withFile] = await fakes(1, ['--pid-file', w.work.pidFile, '--port', String(port)], {
      AGENTAPI_STATE_FILE: own,
    });
    const trace: string[] = [];
    const status = await gatherStatus(options(port, { trace: (l) => trace.push(l) }));
    expect(status.agentapi).toMatchObject({
      pid: withFile,
      statePersistence: 'on',
      supportsPersistence: true,
    });
    expect(trace).toContain(`its state file: ${own}`);
    expect(trace).toContain(`coderd: ${w.coderd.url}, reachable`);

    killQuietly(withFile);
    const [without] = await fakes(1, ['--pid-file', w.work.pidFile, '--port', String(port + 1)]);
    trace.length = 0;
    const other = await gatherStatus(options(port + 1, { coder: {}, trace: (l) => trace.push(l) }));
    expect(other.agentapi).toMatchObject({ pid: without, statePersistence: 'off' });
    expect(trace).toContain('its state file: none');
    expect(trace).toContain('coderd: no CODER_AGENT_URL');
  });

  it("no PID file where it belongs, but 0.1.x's in /tmp: found, and said", async () => {
    const port = await freePort();
    const old = `/tmp/agentapi-${port}.pid`;
    const [pid] = await fakes(1, ['--pid-file', old, '--port', String(port)]);
    writeFileSync(old, `${pid}\n`);
    try {
      const status = await gatherStatus(options(port, { pidFile: defaultPidFile(port) }));
      expect(status.pidFile).toMatchObject({ path: old, state: 'ok', pid, isAgentApi: true });
      expect(status.notes).toContain(
        `no PID file at ${defaultPidFile(port)}; found ${old}, the default of 0.1.x (an AgentAPI it started: the next start uses ${defaultPidFile(port)})`,
      );
    } finally {
      rmSync(old, { force: true });
    }
  });

  it('a running AgentAPI and the state file it saved: its age, and nothing to note', async () => {
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    writeFileSync(
      w.work.stateFile,
      `${JSON.stringify({ version: 1, messages: [{ id: 0, message: 'hi', role: 'agent', time: '2026-12-06T10:00:00Z' }] })}\n`,
    );
    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(w.work.stateFile, minuteAgo, minuteAgo);
    w.sim = await startSim({ work: w.work });
    const status = await gatherStatus(options(w.sim.port));
    expect(status.stateFile).toMatchObject({ exists: true, messages: 1, writtenByRunning: true });
    expect(status.stateFile.ageSeconds).toBeGreaterThanOrEqual(59);
    expect(status.stateFile.ageSeconds).toBeLessThan(120);
    expect(status.notes).toEqual([]);
    expect(status.warnings).toEqual([]);
  });
});
