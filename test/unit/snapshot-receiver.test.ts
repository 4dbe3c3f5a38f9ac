// `smoke`'s loopback receiver takes a snapshot as coderd's endpoint does, in coderd's order: each
// rule has its case, and what it stores is what was sent.

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SnapshotReceiver, startSnapshotReceiver } from '../../src/core/coderd/snapshot-receiver.js';
import { TASK_ID } from '../support/harness.js';

const TOKEN = randomUUID();
const ROUTE = (task: string) => `api/v2/workspaceagents/me/tasks/${task}/log-snapshot`;
const MESSAGE = { id: 0, content: 'hi', role: 'user', time: '2026-12-06T10:00:00Z' };
const BODY = JSON.stringify({ messages: [MESSAGE] });

let receiver: SnapshotReceiver;
beforeEach(async () => {
  receiver = await startSnapshotReceiver(TOKEN, TASK_ID);
});
afterEach(async () => {
  await receiver.close();
});

async function post(path: string, body = BODY, token: string | null = TOKEN, method = 'POST') {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers['coder-session-token'] = token;
  const response = await fetch(`${receiver.url}${path}`, {
    method,
    headers,
    body: method === 'GET' ? undefined : body,
  });
  return { status: response.status, text: await response.text() };
}

describe('startSnapshotReceiver', () => {
  it('listens on loopback; its URL ends with a slash, as CODER_AGENT_URL does', () => {
    expect(receiver.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(receiver.token).toBe(TOKEN);
    expect(receiver.refusals).toEqual([]);
  });

  it('stores a good snapshot: 204, the task canonical, the bytes, the messages', async () => {
    const braced = `{${TASK_ID.toUpperCase()}}`;
    expect(await post(`${ROUTE(encodeURIComponent(braced))}?format=agentapi`)).toEqual({
      status: 204,
      text: '',
    });
    expect(receiver.stored).toEqual({
      taskId: TASK_ID,
      bytes: Buffer.byteLength(BODY),
      messages: [MESSAGE],
      unreadable: undefined,
    });
    expect(receiver.refusals).toEqual([]);
  });

  it("stores what coderd's reader refuses, and flags it", async () => {
    const body = JSON.stringify({ messages: [{ ...MESSAGE, role: 'tool' }] });
    expect((await post(`${ROUTE(TASK_ID)}?format=agentapi`, body)).status).toBe(204);
    expect(receiver.stored?.unreadable).toMatch(/tool/);
  });

  it.each<[string, string, number, RegExp, { body?: string; token?: string | null; method?: string }]>([
    ['a GET', `${ROUTE(TASK_ID)}?format=agentapi`, 404, /^no such route: GET \//, { method: 'GET' }],
    ['another route', 'api/v2/buildinfo', 404, /^no such route: POST \/api\/v2\/buildinfo$/, {}],
    ['no token', `${ROUTE(TASK_ID)}?format=agentapi`, 401, /must be provided/, { token: null }],
    ['a token not a UUID', `${ROUTE(TASK_ID)}?format=agentapi`, 401, /token invalid/, { token: 'secret' }],
    ['another token', `${ROUTE(TASK_ID)}?format=agentapi`, 401, /not authorized/, { token: randomUUID() }],
    [
      'a task id not a UUID',
      `${ROUTE('task-1')}?format=agentapi`,
      400,
      /^Invalid task ID format: "task-1"/,
      {},
    ],
    ['no format', ROUTE(TASK_ID), 400, /^Invalid query parameters: exactly format=agentapi, not ""$/, {}],
    ['another query too', `${ROUTE(TASK_ID)}?format=agentapi&x=1`, 400, /not "\?format=agentapi&x=1"/, {}],
    ['another format', `${ROUTE(TASK_ID)}?format=raw`, 400, /^Invalid format parameter\.$/, {}],
    ['another task', `${ROUTE(randomUUID())}?format=agentapi`, 404, /^Resource not found/, {}],
    [
      'a body over 64 KiB',
      `${ROUTE(TASK_ID)}?format=agentapi`,
      400,
      /./,
      { body: JSON.stringify({ messages: [{ ...MESSAGE, content: 'x'.repeat(70_000) }] }) },
    ],
    ['a body not JSON', `${ROUTE(TASK_ID)}?format=agentapi`, 400, /./, { body: 'hello' }],
  ])('%s: refused with %s, as coderd would', async (_, path, status, why, o) => {
    const token = o.token === undefined ? TOKEN : o.token;
    const answer = await post(path, o.body, token, o.method);
    expect(answer.status).toBe(status);
    expect(receiver.refusals).toHaveLength(1);
    expect(receiver.refusals[0].status).toBe(status);
    expect(receiver.refusals[0].why).toMatch(why);
    expect(JSON.parse(answer.text)).toEqual({ message: receiver.refusals[0].why });
    expect(receiver.stored).toBeUndefined();
  });

  it('a body just at 64 KiB is judged by its size, not cut', async () => {
    const base = JSON.stringify({ messages: [{ ...MESSAGE, content: '' }] });
    const body = JSON.stringify({ messages: [{ ...MESSAGE, content: 'y'.repeat(65_536 - base.length) }] });
    expect(Buffer.byteLength(body)).toBe(65_536);
    expect((await post(`${ROUTE(TASK_ID)}?format=agentapi`, body)).status).toBe(204);
    expect(receiver.stored?.bytes).toBe(65_536);
    const over = JSON.stringify({ messages: [{ ...MESSAGE, content: 'y'.repeat(65_537 - base.length) }] });
    expect((await post(`${ROUTE(TASK_ID)}?format=agentapi`, over)).status).toBe(400);
  });
});
