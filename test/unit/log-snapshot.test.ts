// The log-snapshot workflow's small decisions (log-snapshot.ts): what a conversation's fingerprint
// covers, where a snapshot is posted, which task ids are usage errors, and what a post says as it
// goes, against a one-handler AgentAPI and the coderd stand-in on loopback.

import { afterEach, describe, expect, it } from 'vitest';
import {
  checkTaskId,
  postTarget,
  readConversation,
  sendSnapshot,
  snapshotOf,
} from '../../src/core/sequences/log-snapshot.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { UserError } from '../../src/core/utils/errors.js';
import { Logger } from '../../src/core/utils/log.js';
import { type Coderd, startCoderd } from '../support/coderd.js';
import { TASK_ID } from '../support/harness.js';
import { answerJson, type Loopback, serve } from '../support/loopback.js';

const closing: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const server of closing.splice(0)) await server.close();
});

async function agentapi(messages: unknown[]): Promise<Loopback> {
  const server = await serve(answerJson(200, { messages }));
  closing.push(server);
  return server;
}

const message = (id: number, content: string) => ({
  id,
  content,
  role: id % 2 ? 'agent' : 'user',
  time: `2026-12-06T10:00:0${id}Z`,
});

describe('readConversation: the fingerprint a checkpoint compares', () => {
  const read = (baseUrl: string, maxMessages: number, maxBytes: number) =>
    readConversation({ baseUrl, maxMessages, maxBytes, deadline: Deadline.in(5_000) });

  it('the same for the same conversation and limits, and changed by either', async () => {
    const two = await agentapi([message(0, 'hi'), message(1, 'hello')]);
    const three = await agentapi([message(0, 'hi'), message(1, 'hello'), message(2, 'more')]);
    const edited = await agentapi([message(0, 'hi'), message(1, 'hullo')]);
    const base = (await read(two.url, 10, 65_536)).fingerprint;
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect((await read(two.url, 10, 65_536)).fingerprint).toBe(base);
    const others = [
      await read(three.url, 10, 65_536),
      await read(edited.url, 10, 65_536),
      await read(two.url, 10, 65_535),
      await read(two.url, 9, 65_536),
    ].map((c) => c.fingerprint);
    expect(new Set([base, ...others]).size).toBe(5);
  });
});

describe('snapshotOf', () => {
  it("the newest message's time, and the conversation's size", async () => {
    const three = await agentapi([message(0, 'hi'), message(1, 'hello'), message(2, 'more')]);
    const conversation = await readConversation({
      baseUrl: three.url,
      maxMessages: 10,
      maxBytes: 65_536,
      deadline: Deadline.in(5_000),
    });
    const collected = await snapshotOf(conversation, { maxMessages: 2, maxBytes: 65_536 });
    expect(collected).toMatchObject({ total: 3, newestTime: '2026-12-06T10:00:02Z', leftOut: 0 });
    expect(collected.snapshot.kept).toBe(2);
    expect(collected.fingerprint).toBe(conversation.fingerprint);
  });
});

describe('postTarget', () => {
  const env = { agentUrl: 'https://coder.example.com', token: 'secret' };

  it('sends the task id in its plain form, whichever form it was given in', () => {
    for (const given of [TASK_ID, TASK_ID.toUpperCase(), `{${TASK_ID}}`, `urn:uuid:${TASK_ID}`]) {
      expect(postTarget(given, env)).toEqual({ ...env, taskId: TASK_ID });
    }
  });

  it.each([
    [undefined, env, { missing: 'no --task-id given' }],
    [TASK_ID, { token: 'secret' }, { missing: 'CODER_AGENT_URL is not set' }],
    [TASK_ID, { agentUrl: env.agentUrl }, { missing: 'CODER_AGENT_TOKEN is not set' }],
  ])('%s with %j: %j', (taskId, given, expected) => {
    expect(postTarget(taskId, given)).toEqual(expected);
  });
});

describe('checkTaskId: a bad task id is a usage error', () => {
  it('a UUID as given; none (Terraform\'s "") as undefined', () => {
    expect(checkTaskId(TASK_ID)).toBe(TASK_ID);
    expect(checkTaskId('')).toBeUndefined();
    expect(checkTaskId(undefined)).toBeUndefined();
  });

  it('anything else, with exit code 2', () => {
    let thrown: unknown;
    try {
      checkTaskId('task-1');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UserError);
    expect((thrown as UserError).message).toBe(
      '--task-id "task-1" is not a UUID (e.g. 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b)',
    );
    expect((thrown as UserError).exitCode).toBe(2);
  });
});

describe('sendSnapshot: each attempt said with --verbose, each retry as a warning', () => {
  let coderd: Coderd;
  afterEach(() => coderd.close());

  it('a 503 and then a stored snapshot', async () => {
    coderd = await startCoderd({ tasks: [TASK_ID], mode: { kind: 'fail-first', count: 1, status: 503 } });
    const lines: string[] = [];
    const logger = new Logger({ write: (line) => lines.push(line), verbose: true });
    const body = JSON.stringify({ messages: [] });
    const target = { agentUrl: coderd.url, token: coderd.token, taskId: TASK_ID };
    const outcome = await sendSnapshot(body, target, Deadline.in(10_000), logger);
    expect(outcome).toMatchObject({ ok: true, attempts: 2 });
    const url = `${coderd.url.replace(/\/$/, '')}/api/v2/workspaceagents/me/tasks/${TASK_ID}/log-snapshot?format=agentapi`;
    const said = lines.map((l) => l.replace(/^\S+ /, '').trimEnd());
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `^DEBUG POST ${escapeRegExp(url)} \\(${body.length} bytes\\) -> 503 in \\d+ms \\(attempt 1, \\d+(\\.\\d+)?s left\\)$`,
        ),
      ),
      expect.stringMatching(/^WARN {2}snapshot POST failed \(HTTP 503\); attempt 2 in \d+ms$/),
      expect.stringMatching(
        new RegExp(
          `^DEBUG POST ${escapeRegExp(url)} \\(${body.length} bytes\\) -> 204 in \\d+ms \\(attempt 2, `,
        ),
      ),
    ]);
  });

  it('an attempt that never got an answer says why', async () => {
    const lines: string[] = [];
    const logger = new Logger({ write: (line) => lines.push(line), verbose: true });
    coderd = await startCoderd({ tasks: [TASK_ID] });
    const target = { agentUrl: 'http://127.0.0.1:1', token: 'secret', taskId: TASK_ID };
    await sendSnapshot('{"messages":[]}', target, Deadline.in(300), logger);
    expect(lines[0]).toMatch(
      / DEBUG POST http:\/\/127\.0\.0\.1:1\/\S+ \(15 bytes\) -> \S.* in \d+ms \(attempt 1, /,
    );
    expect(lines[0]).not.toMatch(/-> undefined/);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
