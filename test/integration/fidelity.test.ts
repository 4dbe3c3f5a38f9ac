// The simulator against the real AgentAPI: the same contract, run on both. What this project relies
// on (the PID file, the state file and when it is written, the signals, the HTTP answers it reads)
// must be the same; the differences that remain are explained in test/sim/README.md. The real one
// runs our scripted chat agent; the simulator ignores its agent command.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alive, freePort, startSim, type Workdir, waitFor, workdir } from '../support/harness.js';
import { SIM } from '../support/paths.js';
import { peer, peersRequired } from '../support/peers.js';
import {
  type AgentApiMessage,
  CHAT_AGENT,
  messagesOf,
  say,
  startRealAgentApi,
} from '../support/real-agentapi.js';

interface Running {
  url: string;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

interface Implementation {
  name: string;
  bin: string;
  start(work: Workdir): Promise<Running>;
  /** One exchange through POST /message; resolves once the reply is in /messages. */
  say(url: string, text: string): Promise<void>;
}

const real = peer('agentapi');
const implementations: Implementation[] = [
  {
    name: 'the simulator',
    bin: SIM,
    start: (work) => startSim({ work, args: ['--type', 'custom'] }),
    say: async (url, text) => {
      const response = await fetch(`${url}/message`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: text, type: 'user' }),
      });
      expect(response.status).toBe(200);
    },
  },
];
if (real.installed) {
  implementations.push({
    name: real.title,
    bin: real.path,
    start: (work) => startRealAgentApi({ bin: real.path, work }),
    say: async (url, text) => {
      await say(url, text);
    },
  });
} else if (peersRequired) {
  it(`${real.title} is installed`, () => {
    throw new Error(`${real.missing}; CI=true runs every real-peer test`);
  });
}

let work: Workdir;
const running: Running[] = [];

beforeEach(async () => {
  work = await workdir();
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  await work.cleanup();
});

async function started(impl: Implementation): Promise<Running> {
  const r = await impl.start(work);
  running.push(r);
  return r;
}

const stampOf = (path: string) => {
  const s = statSync(path);
  return { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
};

/** Starts `impl` by hand over a PID file holding `content`; its exit code if it refused. */
function startOver(
  impl: Implementation,
  content: string,
  port: number,
): { refused: boolean; output: string } {
  mkdirSync(dirname(work.pidFile), { recursive: true });
  writeFileSync(work.pidFile, content);
  try {
    const output = execFileSync(
      'timeout',
      ['1', impl.bin, 'server', '--port', String(port), '--pid-file', work.pidFile, '--', CHAT_AGENT],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return { refused: false, output };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    // `timeout` ends a server that started (124); anything else is a refusal.
    return { refused: e.status !== 124, output: `${e.stdout}${e.stderr}` };
  }
}

describe.each(implementations)('AgentAPI contract: $name', (impl) => {
  it('writes its own PID file ("%d\\n", 0600, its folder 0700) and removes it at exit', async () => {
    work.pidFile = join(work.dir, 'run', 'nested', 'agentapi.pid');
    const r = await started(impl);
    expect(readFileSync(work.pidFile, 'utf8')).toBe(`${r.pid}\n`);
    expect(statSync(work.pidFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(work.pidFile)).mode & 0o777).toBe(0o700);
    process.kill(r.pid, 'SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(work.pidFile)).toBe(false);
  });

  it.each([
    ['a live process (init)', true, '1\n'],
    ['a live process (this test)', true, `${process.pid}\n`],
    ['a dead process', false, '4194000\n'],
    ['0', false, '0\n'],
    ['garbage', false, 'not a pid\n'],
  ])('over a PID file naming %s: refuses to start = %s', async (_, refuses, content) => {
    const outcome = startOver(impl, content, await freePort());
    expect(outcome.refused, outcome.output).toBe(refuses);
    if (refuses) {
      expect(outcome.output).toMatch(/another instance is already running with PID/);
      expect(readFileSync(work.pidFile, 'utf8')).toBe(content);
    }
  });

  it('answers /status, refuses a foreign Host with 400, an unknown path with 404, an empty message with 500', async () => {
    const r = await started(impl);
    const status = await fetch(`${r.url}/status`);
    expect(status.status).toBe(200);
    const body = (await status.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['$schema', 'status', 'agent_type', 'transport']);
    expect(body).toMatchObject({ status: 'stable', agent_type: 'custom', transport: 'pty' });

    // fetch cannot set Host; node:http can.
    const foreign = await new Promise<{ status?: number; text: string }>((resolve, reject) => {
      const request = get(`${r.url}/status`, { headers: { host: 'example.com' } }, (response) => {
        let text = '';
        response.on('data', (d) => {
          text += d;
        });
        response.on('end', () => resolve({ status: response.statusCode, text }));
      });
      request.on('error', reject);
    });
    expect(foreign.status).toBe(400);
    expect(foreign.text).toMatch(/^Invalid host header/);

    const unknown = await fetch(`${r.url}/nope`);
    expect([unknown.status, await unknown.text()]).toEqual([404, '404 page not found\n']);

    const empty = await fetch(`${r.url}/message`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: '   ', type: 'user' }),
    });
    expect(empty.status).toBe(500);
    expect(((await empty.json()) as { errors: { message: string }[] }).errors[0].message).toBe(
      'failed to send message: message must not be empty',
    );
  });

  it('a conversation: ids from 0, agent first, roles alternating, times in order', async () => {
    const r = await started(impl);
    await impl.say(r.url, 'hello ┌─┐ 日本語');
    await impl.say(r.url, 'and again 🚀');
    const messages = await messagesOf(r.url);
    expect(messages.map((m) => m.id)).toEqual([0, 1, 2, 3, 4]);
    expect(messages.map((m) => m.role)).toEqual(['agent', 'user', 'agent', 'user', 'agent']);
    expect(messages[1].content).toBe('hello ┌─┐ 日本語');
    const times = messages.map((m) => Date.parse(m.time));
    expect(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1]))).toBe(true);
  });

  it('SIGUSR1 saves a changed conversation atomically (compact, 0600), and nothing when unchanged', async () => {
    const r = await started(impl);
    await impl.say(r.url, 'save me');
    process.kill(r.pid, 'SIGUSR1');
    await waitFor(() => existsSync(work.stateFile));
    const text = readFileSync(work.stateFile, 'utf8');
    expect(text.endsWith('}\n') && text.indexOf('\n') === text.length - 1).toBe(true);
    expect(statSync(work.stateFile).mode & 0o777).toBe(0o600);
    const state = JSON.parse(text) as { messages: Record<string, unknown>[] };
    expect(Object.keys(state)).toEqual(['version', 'messages', 'initial_prompt', 'initial_prompt_sent']);
    expect(state).toMatchObject({ version: 1, initial_prompt: '', initial_prompt_sent: false });
    const messages = await messagesOf(r.url);
    expect(state.messages).toEqual(
      messages.map((m) => ({ id: m.id, message: m.content, role: m.role, time: m.time })),
    );
    expect(existsSync(`${work.stateFile}.tmp`)).toBe(false);

    const before = stampOf(work.stateFile);
    process.kill(r.pid, 'SIGUSR1');
    // Nothing to show that a skipped save happened: give it far longer than a save takes.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(stampOf(work.stateFile)).toEqual(before);
    expect(alive(r.pid)).toBe(true);
  });

  it('SIGTERM saves what changed and exits 0; --load-state brings back the same messages', async () => {
    const r = await started(impl);
    await impl.say(r.url, 'remember me');
    const before: AgentApiMessage[] = await messagesOf(r.url);
    process.kill(r.pid, 'SIGTERM');
    expect(await r.exited).toEqual({ code: 0, signal: null });
    expect(JSON.parse(readFileSync(work.stateFile, 'utf8')).messages).toHaveLength(before.length);
    const again = await started(impl);
    await waitFor(async () => (await messagesOf(again.url)).length === before.length);
    expect(await messagesOf(again.url)).toEqual(before);
  });
});
