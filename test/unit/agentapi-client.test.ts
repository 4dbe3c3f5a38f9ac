// The AgentAPI client's decisions, in-process against a one-handler server on loopback that
// answers as AgentAPI does (bodies in the shape of reference/agentapi-openapi.json) and as it
// never should (too large, not JSON, a wrong shape, an error status, silence): what is kept, what
// each failure is called, and that every wait has its limit. The real AgentAPI is met by the
// in-process and integration tests; these reach the answers it cannot be made to give.

import { afterEach, describe, expect, it } from 'vitest';
import {
  AgentApiError,
  type AgentApiOptions,
  getMessages,
  getStatus,
  postMessage,
  readMessages,
} from '../../src/core/agentapi/agentapi-client.js';
import { freePort } from '../support/harness.js';
import {
  type Handler,
  answerJson as json,
  type Loopback,
  serve,
  answerText as text,
} from '../support/loopback.js';

let server: Loopback | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function agentapi(handler: Handler): Promise<string> {
  server = await serve(handler);
  return server.url;
}

function message(id: number, role: string, content: string) {
  return { id, content, role, time: `2026-12-06T10:00:0${id % 10}Z` };
}

async function failure(promise: Promise<unknown>): Promise<AgentApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgentApiError);
  return error as AgentApiError;
}

/** The time a trace line gives, in ms: what a request took, never a clock reading. */
const msOf = (line: string | undefined) => Number(/ in (\d+)ms$/.exec(line ?? '')?.[1] ?? Number.NaN);

const options = (baseUrl: string, more: Partial<AgentApiOptions> = {}): AgentApiOptions => ({
  baseUrl,
  timeoutMs: 2_000,
  ...more,
});

describe('getStatus', () => {
  it('the status, other fields ignored; traced', async () => {
    const url = await agentapi(json(200, { status: 'stable', agent_type: 'claude', extra: 1 }));
    const trace: string[] = [];
    expect(await getStatus(options(url, { trace: (l) => trace.push(l) }))).toEqual({
      status: 'stable',
      agent_type: 'claude',
    });
    expect(trace).toEqual([
      expect.stringMatching(new RegExp(`^GET ${url}/status -> 200, \\d+ bytes in \\d+ms$`)),
    ]);
    expect(msOf(trace[0])).toBeLessThan(2_000);
  });

  it.each<[string, Handler, string, RegExp]>([
    [
      'not JSON',
      text(200, '<html>'),
      'malformed',
      /^AgentAPI's GET \/status answer is not JSON \(6 bytes\)$/,
    ],
    [
      'a wrong shape',
      json(200, { status: 3 }),
      'malformed',
      /^AgentAPI's GET \/status answer is not what AgentAPI sends: status: /,
    ],
    ['not an object', json(200, [1]), 'malformed', /not what AgentAPI sends: body: /],
    [
      'larger than 64 KiB',
      text(200, `{"status":"${'x'.repeat(70_000)}"}`),
      'malformed',
      /^AgentAPI's GET \/status answer is larger than 65536 bytes$/,
    ],
    [
      'an error status',
      text(500, 'agent crashed\n'),
      'http',
      /^AgentAPI answered GET \/status with 500: agent crashed$/,
    ],
    ['an empty error', text(503, ''), 'http', /^AgentAPI answered GET \/status with 503$/],
    [
      'a redirect (never followed)',
      (_, res) => res.writeHead(302, { location: 'http://example.com/' }).end(),
      'http',
      /^AgentAPI answered GET \/status with 302$/,
    ],
  ])('%s: %s', async (_, handler, kind, words) => {
    const url = await agentapi(handler);
    const trace: string[] = [];
    const error = await failure(getStatus(options(url, { trace: (l) => trace.push(l) })));
    expect(error.kind).toBe(kind);
    expect(error.message).toMatch(words);
    if (kind === 'http') expect(trace).toEqual([`GET /status to ${url} failed: ${error.message}`]);
  });

  it('silence: a timeout within the limit, named with it', async () => {
    const url = await agentapi(() => {});
    const started = Date.now();
    const error = await failure(getStatus(options(url, { timeoutMs: 200 })));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error).toMatchObject({
      kind: 'timeout',
      message: 'AgentAPI did not answer GET /status within 200ms',
    });
  });

  it('a body that stops coming: the limit covers the body too', async () => {
    const url = await agentapi((_, res) => {
      res.writeHead(200);
      res.write('{"status":');
    });
    const error = await failure(getStatus(options(url, { timeoutMs: 300 })));
    expect(error.kind).toBe('timeout');
  });

  it("the caller's signal: aborted, not a timeout", async () => {
    const url = await agentapi(() => {});
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const error = await failure(getStatus(options(url, { signal: stop.signal })));
    expect(error).toMatchObject({ kind: 'aborted', message: 'GET /status to AgentAPI was cancelled' });
  });

  it('nothing listening: unreachable, with where to look', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const error = await failure(getStatus(options(url)));
    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(
      new RegExp(
        `^AgentAPI is not reachable at ${url} \\(.+\\); is it running on that port\\? \\(--port, AGENTAPI_PORT\\)$`,
      ),
    );
  });
});

describe('getMessages', () => {
  const five = [
    message(0, 'user', 'hi'),
    message(1, 'agent', 'hello'),
    message(2, 'tool', 'ran ls'),
    message(3, 'user', 'more'),
    message(4, 'agent', 'done'),
  ];

  it('the last `keep` coderd accepts, the total, and what was left out; traced', async () => {
    const url = await agentapi(json(200, { messages: five }));
    const trace: string[] = [];
    const result = await getMessages(options(url, { trace: (l) => trace.push(l) }), { keep: 3 });
    expect(result).toEqual({
      total: 5,
      messages: [five[1], five[3], five[4]],
      leftOut: 1,
      leftOutRole: '"tool"',
    });
    expect(trace).toEqual([
      expect.stringMatching(
        new RegExp(`^GET ${url}/messages -> 200, \\d+ bytes, 5 messages \\(3 kept, 1 left out\\) in \\d+ms$`),
      ),
    ]);
  });

  it('nothing left out: no role named, and the trace says nothing of it', async () => {
    const url = await agentapi(json(200, { messages: [five[0], five[1]] }));
    const trace: string[] = [];
    const result = await getMessages(options(url, { trace: (l) => trace.push(l) }), { keep: 10 });
    expect(result).toEqual({ total: 2, messages: [five[0], five[1]], leftOut: 0, leftOutRole: undefined });
    expect(trace[0]).toMatch(/2 messages \(2 kept\) in/);
    expect(msOf(trace[0])).toBeLessThan(2_000);
  });

  it('keep 0 counts only', async () => {
    const url = await agentapi(json(200, { messages: five }));
    expect(await getMessages(options(url), { keep: 0 })).toMatchObject({ total: 5, messages: [] });
  });

  it('a message too large for any snapshot is held only as far as its tail could fit', async () => {
    const content = `${'a'.repeat(5_000)}THE END`;
    const url = await agentapi(json(200, { messages: [message(0, 'agent', content)] }));
    const raw = await readMessages(options(url), { keep: 1, maxBytes: 100 });
    const kept = raw.kept[0].json.toString('utf8');
    expect(kept.length).toBeLessThan(800);
    expect(kept).toContain('aTHE END');
    const whole = await readMessages(options(url), { keep: 1 });
    expect(whole.kept[0].json.toString('utf8')).toContain(content);
  });

  it.each<[string, Handler, RegExp]>([
    ['not JSON', text(200, 'hello'), /^AgentAPI's GET \/messages answer is not JSON: /],
    ['empty', text(200, ''), /^AgentAPI's GET \/messages answer is not JSON: /],
    [
      'a field of the wrong type',
      json(200, { messages: [{ id: 'one', content: 'x', role: 'user', time: 't' }] }),
      /^AgentAPI's GET \/messages answer is not what AgentAPI sends: messages\.0\.id: /,
    ],
    [
      'content missing',
      json(200, { messages: [message(0, 'user', 'a'), { id: 1, role: 'agent', time: 't' }] }),
      /^AgentAPI's GET \/messages answer is not what AgentAPI sends: messages\.1\.content: /,
    ],
  ])('%s: malformed, where', async (_, handler, words) => {
    const url = await agentapi(handler);
    const error = await failure(getMessages(options(url), { keep: 5 }));
    expect(error.kind).toBe('malformed');
    expect(error.message).toMatch(words);
  });

  it.each<[string, unknown, RegExp]>([
    ['a role that is not a string is not left out: it is wrong', 5, /messages\.0\.role: /],
    ['a role missing is not left out: it is wrong', undefined, /messages\.0\.role: /],
  ])('%s', async (_, role, words) => {
    const url = await agentapi(json(200, { messages: [{ id: 0, content: 'x', role, time: 't' }] }));
    const error = await failure(getMessages(options(url), { keep: 5 }));
    expect(error.message).toMatch(words);
  });

  it('a field longer than any AgentAPI sends (a role of 5000 bytes): malformed, where', async () => {
    const url = await agentapi(
      json(200, { messages: [message(0, 'r'.repeat(5000), 'x'), message(1, 'user', 'y')] }),
    );
    const error = await failure(getMessages(options(url), { keep: 5 }));
    expect(error).toMatchObject({
      kind: 'malformed',
      message:
        "AgentAPI's GET /messages answer is not what AgentAPI sends: messages.0.role is longer than 1024 bytes",
    });
  });

  it('an error status: http, with what it said', async () => {
    const url = await agentapi(text(500, 'boom'));
    const error = await failure(getMessages(options(url), { keep: 5 }));
    expect(error).toMatchObject({ kind: 'http', message: 'AgentAPI answered GET /messages with 500: boom' });
  });

  it('a body cut off midway: the limit covers it', async () => {
    const url = await agentapi((_, res) => {
      res.writeHead(200);
      res.write('{"messages":[{"id":0,');
    });
    const error = await failure(getMessages(options(url, { timeoutMs: 300 }), { keep: 5 }));
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe('AgentAPI did not answer GET /messages within 300ms');
  });
});

describe('postMessage', () => {
  it('sends the content as the user, as the Tasks UI does; traced', async () => {
    let got: { method?: string; body: string; type?: string } = { body: '' };
    const url = await agentapi((req, res, body) => {
      got = { method: req.method, body, type: req.headers['content-type'] };
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const trace: string[] = [];
    await postMessage(options(url, { trace: (l) => trace.push(l) }), 'ping');
    expect(got.method).toBe('POST');
    expect(JSON.parse(got.body)).toEqual({ content: 'ping', type: 'user' });
    expect(got.type).toMatch(/^application\/json/);
    expect(trace).toEqual([expect.stringMatching(new RegExp(`^POST ${url}/message -> 200 in \\d+ms$`))]);
    expect(msOf(trace[0])).toBeLessThan(2_000);
  });

  it('a busy agent (500): http, with what AgentAPI said', async () => {
    const url = await agentapi(text(500, 'agent is busy'));
    const error = await failure(postMessage(options(url), 'ping'));
    expect(error).toMatchObject({
      kind: 'http',
      message: 'AgentAPI answered POST /message with 500: agent is busy',
    });
  });

  it('silence and a cancelled caller', async () => {
    const url = await agentapi(() => {});
    expect(await failure(postMessage(options(url, { timeoutMs: 150 }), 'x'))).toMatchObject({
      kind: 'timeout',
      message: 'AgentAPI did not answer POST /message within 150ms',
    });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 30);
    expect((await failure(postMessage(options(url, { signal: stop.signal }), 'x'))).kind).toBe('aborted');
  });
});
