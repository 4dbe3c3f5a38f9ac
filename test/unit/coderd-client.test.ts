// postSnapshot's decisions, in-process against the coderd stand-in on loopback (its rules are
// coderd's, test/support/coderd.ts) and, for answers no coderd gives, a one-handler server: what
// counts as stored, what is retried and for how long, what each refusal is called, and that the
// token never leaves CODER_AGENT_URL's origin or shows in a message.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AttemptInfo,
  backoffMs,
  type PostOptions,
  parseAgentUrl,
  postSnapshot,
  retryAfterMs,
} from '../../src/core/coderd/coderd-client.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { type Coderd, type Mode, startCoderd } from '../support/coderd.js';
import { freePort, TASK_ID } from '../support/harness.js';
import { type Handler, serve } from '../support/loopback.js';

const BODY = JSON.stringify({
  messages: [{ id: 0, content: 'hello', role: 'user', time: '2026-12-06T10:00:00Z' }],
});

let coderd: Coderd;
beforeEach(async () => {
  coderd = await startCoderd({ tasks: [TASK_ID] });
});
afterEach(async () => {
  await coderd.close();
});

function options(more: Partial<PostOptions> = {}): PostOptions {
  return {
    agentUrl: coderd.url,
    token: coderd.token,
    taskId: TASK_ID,
    deadline: Deadline.in(5_000),
    attemptTimeoutMs: 2_000,
    random: () => 0,
    ...more,
  };
}

/** For answers coderd itself never gives; CODER_AGENT_URL ends with a slash. */
async function odd(handler: Handler) {
  const server = await serve(handler);
  return { url: `${server.url}/`, close: server.close };
}

describe('parseAgentUrl', () => {
  it.each([
    ['not a url', /is not a URL \(e\.g\. https:\/\/coder\.example\.com\/\)/],
    ['ftp://coder.example.com/', /must be an http or https URL/],
    ['file:///etc/passwd', /must be an http or https URL/],
  ])('%s: a problem, in words', (url, problem) => {
    const parsed = parseAgentUrl(url);
    expect(parsed).not.toBeInstanceOf(URL);
    expect((parsed as { problem: string }).problem).toMatch(problem);
  });

  it.each(['http://coder.internal:3000/', 'https://coder.example.com/prefix'])('%s is a URL', (url) => {
    expect(parseAgentUrl(url)).toEqual(new URL(url));
  });
});

describe('backoffMs: full jitter below min(5 s, 250 ms · 2^(n-1))', () => {
  it.each([
    [0, 250],
    [1, 250],
    [2, 500],
    [3, 1000],
    [5, 4000],
    [6, 5000],
    [30, 5000],
  ])('attempt %i: at most %i ms', (attempt, most) => {
    expect(backoffMs(attempt, () => 1)).toBe(most);
    expect(backoffMs(attempt, () => 0.5)).toBe(most / 2);
    expect(backoffMs(attempt, () => 0)).toBe(0);
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-06T10:00:00Z');
  it.each([
    [null, undefined],
    ['', undefined],
    ['3', 3000],
    [' 12 ', 12_000],
    ['0', 0],
    ['Sun, 06 Dec 2026 10:00:07 GMT', 7000],
    ['Sun, 06 Dec 2026 09:59:00 GMT', 0],
    ['soon', undefined],
    ['3x', undefined],
    ['x3', undefined],
  ])('%j -> %j', (header, ms) => {
    expect(retryAfterMs(header, now)).toBe(ms);
  });
});

describe('postSnapshot', () => {
  it('204: stored at the first attempt, with the token in its header and format=agentapi', async () => {
    const attempts: AttemptInfo[] = [];
    const outcome = await postSnapshot(BODY, options({ onAttempt: (a) => attempts.push(a) }));
    expect(outcome).toEqual({ ok: true, status: 204, attempts: 1, waitedMs: 0 });
    expect(coderd.stored.get(TASK_ID)?.messages).toHaveLength(1);
    const [request] = coderd.received;
    expect(request.headers['coder-session-token']).toBe(coderd.token);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.query).toBe('?format=agentapi');
    expect(attempts).toEqual([
      expect.objectContaining({
        attempt: 1,
        status: 204,
        bytesSent: Buffer.byteLength(BODY),
        url: `${coderd.url}api/v2/workspaceagents/me/tasks/${TASK_ID}/log-snapshot?format=agentapi`,
      }),
    ]);
    expect(attempts[0].error).toBeUndefined();
    expect(attempts[0].ms).toBeGreaterThanOrEqual(0);
    expect(attempts[0].ms).toBeLessThan(5_000);
  });

  it.each<[string, Mode, object, RegExp]>([
    [
      '401',
      { kind: 'status', status: 401 },
      { kind: 'unauthorized', status: 401 },
      /rejected the agent token/,
    ],
    ['no route', { kind: 'no-route' }, { kind: 'endpoint-missing', status: 404 }, /too old/],
    [
      '404 other',
      { kind: 'status', status: 404 },
      { kind: 'not-found', status: 404 },
      /answered 404: Injected/,
    ],
    ['200 page', { kind: 'ok-200' }, { kind: 'not-stored', status: 200 }, /answered 200, not 204/],
    [
      '400',
      { kind: 'trace-400' },
      { kind: 'rejected', status: 400 },
      /refused the snapshot \(400\): Invalid/,
    ],
  ])('%s: a final answer, not retried', async (_, mode, outcome, message) => {
    coderd.setMode(mode);
    const result = await postSnapshot(BODY, options());
    expect(result).toMatchObject({ ok: false, attempts: 1, waitedMs: 0, ...outcome });
    expect((result as { message: string }).message).toMatch(message);
    expect(coderd.received).toHaveLength(1);
  });

  it('a task coderd does not know: task-not-found', async () => {
    const result = await postSnapshot(BODY, options({ taskId: '11111111-2222-4333-8444-555555555555' }));
    expect(result).toMatchObject({ ok: false, kind: 'task-not-found', status: 404 });
    expect((result as { message: string }).message).toMatch(/check --task-id/);
  });

  it('a token echoed in an error body is hidden', async () => {
    coderd.setMode({ kind: 'echo-token', status: 400, offset: 10 });
    const result = await postSnapshot(BODY, options());
    expect(result).toMatchObject({ ok: false, kind: 'rejected' });
    expect(JSON.stringify(result)).not.toContain(coderd.token);
    expect(JSON.stringify(result)).not.toContain(coderd.token.slice(0, 12));
  });

  it.each<[string, string, RegExp]>([
    [
      'another origin',
      'https://elsewhere.example/x',
      /redirecting to another origin, https:\/\/elsewhere\.example;/,
    ],
    ['the same origin', '/login', /redirecting to elsewhere on http:\/\/127\.0\.0\.1:\d+;/],
    ['not a URL', 'http://[bad', /redirecting to an address that is not a URL;/],
  ])('a redirect to %s is not followed', async (_, location, message) => {
    coderd.setMode({ kind: 'redirect', status: 307, location });
    const result = await postSnapshot(BODY, options());
    expect(result).toMatchObject({ ok: false, kind: 'redirected', status: 307, attempts: 1 });
    expect((result as { message: string }).message).toMatch(message);
    expect((result as { message: string }).message).toMatch(/never leaves http:\/\/127\.0\.0\.1/);
    expect(coderd.received).toHaveLength(1);
  });

  it('a redirect without a Location says so; a 2xx other than 204 or 200 is not stored', async () => {
    const server = await odd((req, res) => {
      res.writeHead(req.url?.includes('tasks/1') ? 302 : 202).end('x');
    });
    try {
      const redirected = await postSnapshot(BODY, options({ agentUrl: server.url, taskId: '1' }));
      expect((redirected as { message: string }).message).toMatch(/redirecting to nowhere it says/);
      const accepted = await postSnapshot(BODY, options({ agentUrl: server.url }));
      expect(accepted).toMatchObject({ ok: false, kind: 'not-stored', status: 202 });
    } finally {
      await server.close();
    }
  });

  it.each<[number, string, string, RegExp]>([
    [
      501,
      '{"message":"Not implemented.","detail":"no such thing"}',
      'server-error',
      /\(501\): Not implemented\. no such thing$/,
    ],
    [
      510,
      '{"message":"route not found"}',
      'server-error',
      /did not store the snapshot \(510\): route not found$/,
    ],
    [418, 'teapot', 'not-stored', /did not store the snapshot \(418\): teapot$/],
    [422, '{"message":"Resource not found"}', 'not-stored', /\(422\): Resource not found$/],
    [409, '{"detail":"only detail"}', 'not-stored', /\(409\): only detail$/],
    [403, '{"other":1}', 'not-stored', /\(403\): \{"other":1\}$/],
    [404, '', 'not-found', /^coderd answered 404: no detail$/],
    [300, '', 'redirected', /^coderd answered 300, redirecting to nowhere it says;/],
  ])('%i (not retried): its kind, and coderd words', async (status, body, kind, words) => {
    const server = await odd((_, res) => {
      res.writeHead(status).end(body);
    });
    try {
      const result = await postSnapshot(BODY, options({ agentUrl: server.url }));
      expect(result).toMatchObject({ ok: false, status, attempts: 1, kind });
      expect((result as { message: string }).message).toMatch(words);
    } finally {
      await server.close();
    }
  });

  it.each([408, 429, 500, 502, 503, 504])('%i is retried until it is stored', async (status) => {
    coderd.setMode({ kind: 'fail-first', count: 2, status });
    const retries: [number, string, number][] = [];
    const result = await postSnapshot(
      BODY,
      options({ random: () => 0.01, onRetry: (n, why, ms) => retries.push([n, why, ms]) }),
    );
    expect(result).toEqual({
      ok: true,
      status: 204,
      attempts: 3,
      waitedMs: 2.5 + 5,
      lastRefusal: `HTTP ${status}`,
    });
    expect(retries).toEqual([
      [2, `HTTP ${status}`, 2.5],
      [3, `HTTP ${status}`, 5],
    ]);
  });

  it('a Retry-After is the least it waits, jitter on top', async () => {
    coderd.setMode({ kind: 'fail-first', count: 1, status: 503, retryAfter: '1' });
    const waits: number[] = [];
    const started = Date.now();
    const result = await postSnapshot(
      BODY,
      options({ random: () => 0.5, onRetry: (_, __, ms) => waits.push(ms) }),
    );
    expect(result).toMatchObject({
      ok: true,
      attempts: 2,
      waitedMs: 1125,
      lastRefusal: 'HTTP 503, Retry-After 1.0s',
    });
    expect(waits).toEqual([1125]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1100);
  });

  it('a Retry-After past the deadline: given up at once, and said', async () => {
    coderd.setMode({ kind: 'fail-first', count: 5, status: 503, retryAfter: '60' });
    const started = Date.now();
    const result = await postSnapshot(BODY, options({ deadline: Deadline.in(3_000) }));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result).toMatchObject({ ok: false, kind: 'server-error', status: 503, attempts: 1 });
    expect((result as { message: string }).message).toBe(
      "coderd failed to store the snapshot (503) after 1 attempt: Internal error storing snapshot.; coderd asked to retry after 60.0s, past this command's deadline",
    );
  });

  it('a lasting 500: retried within the deadline, one last attempt kept for its end', async () => {
    coderd.setMode({ kind: 'fail-first', count: 1000, status: 500 });
    const started = Date.now();
    const result = await postSnapshot(
      BODY,
      options({ deadline: Deadline.in(800), random: () => 1, lastAttemptMs: 100 }),
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(1500);
    // 250 + 500 ms of backoff would pass 800 ms: the second wait is cut to leave 100 ms.
    expect(result).toMatchObject({ ok: false, kind: 'server-error', status: 500 });
    const { attempts, waitedMs } = result;
    expect(attempts).toBe(3);
    expect(waitedMs).toBeGreaterThan(600);
    expect(waitedMs).toBeLessThanOrEqual(700);
    expect((result as { message: string }).message).toMatch(/\(500\) after 3 attempts: Internal error/);
  });

  it('maxAttempts ends the retries too', async () => {
    coderd.setMode({ kind: 'fail-first', count: 10, status: 503 });
    const result = await postSnapshot(BODY, options({ maxAttempts: 2, random: () => 0.5 }));
    // One wait, between the two attempts (half of 250 ms); none after the last.
    expect(result).toMatchObject({ ok: false, kind: 'server-error', attempts: 2, waitedMs: 125 });
    expect(coderd.received).toHaveLength(2);
  });

  it('a coderd that never answers: each attempt limited, timeout at the deadline', async () => {
    coderd.setMode({ kind: 'hang' });
    const started = Date.now();
    const attempts: AttemptInfo[] = [];
    const result = await postSnapshot(
      BODY,
      options({
        deadline: Deadline.in(900),
        attemptTimeoutMs: 300,
        lastAttemptMs: 0,
        onAttempt: (a) => attempts.push(a),
      }),
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(result).toMatchObject({ ok: false, kind: 'timeout', lastRefusal: 'no answer in time' });
    expect(result.attempts).toBeGreaterThanOrEqual(2);
    expect((result as { message: string }).message).toMatch(
      /^coderd did not answer in time \(\d attempts, each limited to 300ms, all within the command's deadline\)$/,
    );
    expect(attempts[0].status).toBeUndefined();
    expect(attempts[0].error).toBeTruthy();
  });

  it('an expired deadline: no attempt reaches coderd, timeout', async () => {
    const deadline = Deadline.in(0);
    await deadline.wait(5);
    const result = await postSnapshot(BODY, options({ deadline }));
    expect(result).toMatchObject({ ok: false, kind: 'timeout', attempts: 1 });
    expect(coderd.received).toHaveLength(0);
  });

  it('nothing listening: unreachable, retried, the origin named', async () => {
    const port = await freePort();
    const result = await postSnapshot(
      BODY,
      options({ agentUrl: `http://127.0.0.1:${port}/`, deadline: Deadline.in(600), random: () => 0.1 }),
    );
    expect(result).toMatchObject({ ok: false, kind: 'unreachable' });
    expect(result.attempts).toBeGreaterThan(1);
    expect(result.lastRefusal).not.toBe('no answer in time');
    expect((result as { message: string }).message).toContain(`(${result.lastRefusal})`);
    expect((result as { message: string }).message).toMatch(
      new RegExp(
        `^coderd is not reachable at http://127\\.0\\.0\\.1:${port} \\(.+\\) after \\d+ attempts; check CODER_AGENT_URL`,
      ),
    );
  });

  it('a path prefix is kept', async () => {
    const prefixed = await startCoderd({ tasks: [TASK_ID], prefix: '/coder' });
    try {
      const result = await postSnapshot(BODY, options({ agentUrl: prefixed.url, token: prefixed.token }));
      expect(result.ok).toBe(true);
      expect(prefixed.received[0].path).toBe(
        `/coder/api/v2/workspaceagents/me/tasks/${TASK_ID}/log-snapshot`,
      );
    } finally {
      await prefixed.close();
    }
  });
});
