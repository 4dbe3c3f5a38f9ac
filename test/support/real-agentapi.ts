// Talking to a real AgentAPI the way a person in the Tasks UI does: wait until it is stable, send a
// message through its own POST /message, wait for the agent's reply. The agent is our scripted
// chat agent on a terminal (test/peers/chat-agent), so AgentAPI forms its messages from a real
// screen.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { cleanEnv, freePort, type RunResult, run, type Workdir } from './harness.js';
import { ROOT } from './paths.js';
import type { Message } from './transcript.js';

export const CHAT_AGENT = `${ROOT}test/peers/chat-agent`;

export interface AgentApiMessage {
  id: number;
  content: string;
  role: string;
  time: string;
}

export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

export async function messagesOf(base: string): Promise<AgentApiMessage[]> {
  return (await getJson<{ messages: AgentApiMessage[] }>(`${base}/messages`)).messages;
}

export async function statusOf(base: string): Promise<string | undefined> {
  try {
    return (await getJson<{ status: string }>(`${base}/status`)).status;
  } catch {
    return undefined;
  }
}

/** Polls until `check` holds, or throws `what` after `ms`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** AgentAPI answers POST /message only when the screen is stable. */
export function stable(base: string, ms?: number): Promise<true> {
  return until(
    'AgentAPI to be stable',
    async () => ((await statusOf(base)) === 'stable' ? true : undefined),
    ms,
  );
}

/**
 * Sends `text` as the user and waits for the agent's answer to be a message of its own; returns
 * the conversation then.
 */
export async function say(base: string, text: string): Promise<AgentApiMessage[]> {
  await stable(base);
  const response = await fetch(`${base}/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: text, type: 'user' }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok) throw new Error(`POST /message: HTTP ${response.status}: ${await response.text()}`);
  return until(`the reply to "${text}"`, async () => {
    const messages = await messagesOf(base);
    const last = messages.at(-1);
    const answered = last?.role === 'agent' && last.content.includes(`You said: ${text}`);
    return answered && (await statusOf(base)) === 'stable' ? messages : undefined;
  });
}

export interface RealAgentApi {
  pid: number;
  port: number;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  stop(): Promise<void>;
}

export interface RealOptions {
  /** The agentapi executable (peer('agentapi').path). */
  bin: string;
  work: Workdir;
  /** Start from a state file holding this conversation (AgentAPI's own --load-state). */
  conversation?: Message[];
  /** Extra `agentapi server` arguments, before `--`. */
  args?: string[];
  env?: Record<string, string | undefined>;
}

/**
 * Starts the real AgentAPI with the chat agent, the work dir's PID and state files, on a free
 * port, and waits until it is stable (and, given a conversation, has loaded it).
 */
export async function startRealAgentApi(o: RealOptions): Promise<RealAgentApi> {
  if (o.conversation) {
    mkdirSync(dirname(o.work.stateFile), { recursive: true, mode: 0o700 });
    const messages = o.conversation.map(({ id, content, role, time }) => ({
      id,
      message: content,
      role,
      time,
    }));
    writeFileSync(
      o.work.stateFile,
      `${JSON.stringify({ version: 1, messages, initial_prompt: '', initial_prompt_sent: false })}\n`,
      { mode: 0o600 },
    );
  }
  const port = await freePort();
  const args = ['server', '--port', String(port), '--type', 'custom'];
  args.push('--pid-file', o.work.pidFile, '--state-file', o.work.stateFile, ...(o.args ?? []));
  const child = spawn(o.bin, [...args, '--', CHAT_AGENT], {
    env: cleanEnv(o.env),
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await stable(url);
  if (o.conversation) {
    const count = o.conversation.length;
    await until('the state file loaded', async () =>
      (await messagesOf(url)).length >= count ? true : undefined,
    );
  }
  return {
    pid: child.pid as number,
    port,
    url,
    exited,
    alive: () => !done,
    async stop() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * `agentapi-lifecycle start --detach --json` of `agentapi` on `port`, with `agent` (the scripted
 * chat agent unless given) as AgentAPI's `--type` `type`: the result and its report; the PID is
 * handed to `started` for the test's cleanup.
 */
export async function startDetached(o: {
  agentapi: string;
  port: number;
  extra?: string[];
  agent?: string[];
  type?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  started?: (pid: number) => void;
}): Promise<{ result: RunResult; report: Record<string, unknown> }> {
  const args = ['start', '--detach', '--json', '--agentapi-bin', o.agentapi, '--type', o.type ?? 'custom'];
  const result = await run(
    [...args, '--port', String(o.port), ...(o.extra ?? []), '--', ...(o.agent ?? [CHAT_AGENT])],
    {
      env: o.env,
      cwd: o.cwd,
    },
  );
  const report = result.stdout ? (JSON.parse(result.stdout) as Record<string, unknown>) : {};
  if (typeof report.pid === 'number') o.started?.(report.pid);
  return { result, report };
}
