import { describe, expect, it } from 'vitest';
import { type Coderd, type Mode, startCoderd } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { run, startSim, TASK_ID } from '../support/harness.js';

const f = useFixture();

function coderEnv(c: Coderd, overrides: Record<string, string | undefined> = {}) {
  return { CODER_AGENT_URL: c.url, CODER_AGENT_TOKEN: c.token, ...overrides };
}

describe('snapshot, printing', () => {
  it('prints exactly the body shutdown would post: the last 10 messages', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '25' } });
    const result = await run(['snapshot', '--port', String(f.sim.port)]);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(Object.keys(body)).toEqual(['messages']);
    expect(body.messages.map((m: { id: number }) => m.id)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    expect(result.stderr).toContain('10 of 25 messages');
  });

  it('reads AGENTAPI_PORT from the environment', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    const result = await run(['snapshot', '--json'], { env: { AGENTAPI_PORT: String(f.sim.port) } });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      messagesTotal: 3,
      messagesKept: 3,
      truncated: false,
    });
  });

  it('fits a huge multi-byte transcript into --max-bytes by bytes', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_TRANSCRIPT_BYTES: String(2_000_000) } });
    const result = await run(['snapshot', '--port', String(f.sim.port), '--max-messages', '30']);
    expect(result.code).toBe(0);
    expect(Buffer.byteLength(result.stdout.trimEnd())).toBeLessThanOrEqual(65_536);
    JSON.parse(result.stdout);
    const report = JSON.parse(
      (await run(['snapshot', '-p', String(f.sim.port), '--max-bytes', '4096', '--json'])).stdout,
    );
    expect(report).toMatchObject({ ok: true, truncated: true, maxBytes: 4096 });
    expect(report.bytes).toBeLessThanOrEqual(4096);
  });
});

describe('snapshot, bad input and faults (one clear line, non-zero exit)', () => {
  it.each([
    {
      name: 'unreachable AgentAPI',
      env: {},
      port: 'dead',
      exit: 1,
      message: /not reachable at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/,
    },
    {
      name: 'malformed JSON',
      env: { AGENTAPI_SIM_MALFORMED: 'json' },
      exit: 1,
      message: /GET \/messages answer is not JSON/,
    },
    {
      name: 'wrong shape',
      env: { AGENTAPI_SIM_MALFORMED: 'shape' },
      exit: 1,
      message: /not what AgentAPI sends: messages\.0\./,
    },
    {
      name: 'hanging /messages',
      env: { AGENTAPI_SIM_MESSAGES_HANG: '1' },
      args: ['--timeout', '1s'],
      exit: 1,
      message: /did not answer GET \/messages within/,
    },
  ])('$name', async ({ env, port, exit, message, args }) => {
    f.sim = await startSim({ work: f.work, env });
    const p = port === 'dead' ? '1' : String(f.sim.port);
    const result = await run(['snapshot', '--port', p, ...(args ?? [])]);
    expect(result.code).toBe(exit);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it.each([
    {
      name: 'a task id that is not a UUID',
      args: ['--post', '--task-id', 'nope'],
      env: {},
      message: /not a UUID/,
    },
    {
      name: 'no token',
      args: ['--post', '--task-id', TASK_ID],
      env: { CODER_AGENT_URL: 'http://127.0.0.1:1/' },
      message: /CODER_AGENT_TOKEN is not set/,
    },
    {
      name: 'no agent URL',
      args: ['--post', '--task-id', TASK_ID],
      env: { CODER_AGENT_TOKEN: 'x' },
      message: /CODER_AGENT_URL is not set/,
    },
    {
      name: '--max-bytes too small',
      args: ['--max-bytes', '10'],
      env: {},
      message: /cannot hold even an empty body/,
    },
    { name: '--post without --task-id', args: ['--post'], env: {}, message: /task-id/ },
  ])('$name is a usage error (exit 2)', async ({ args, env, message }) => {
    const result = await run(['snapshot', ...args], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('snapshot --post', () => {
  it('stores the body in coderd with the token in the header only', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '12' } });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const printed = await run(['snapshot', '-p', String(f.sim.port)]);
    const result = await run(
      ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--json'],
      {
        env: coderEnv(f.coderd),
      },
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      messagesKept: 10,
      post: { ok: true, attempts: 1 },
    });
    expect(f.coderd.stored.get(TASK_ID)).toEqual(JSON.parse(printed.stdout));
    const request = f.coderd.received[0];
    expect(request.query).toBe('?format=agentapi');
    expect(request.headers['coder-session-token']).toBe(f.coderd.token);
    expect(request.headers['content-type']).toBe('application/json');
    expect(result.stdout + result.stderr).not.toContain(f.coderd.token);
  });

  it.each([
    ['32 hex digits', TASK_ID.replaceAll('-', '')],
    ['in braces', `{${TASK_ID.toUpperCase()}}`],
    ['after urn:uuid:', `urn:uuid:${TASK_ID}`],
  ])("takes a task id %s, as coderd's uuid.Parse does, and sends its canonical form", async (_, id) => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const result = await run(['snapshot', '-p', String(f.sim.port), '--post', '--task-id', id], {
      env: coderEnv(f.coderd),
    });
    expect(result.code, result.stderr).toBe(0);
    expect(f.coderd.received[0].path).toBe(`/api/v2/workspaceagents/me/tasks/${TASK_ID}/log-snapshot`);
    expect(f.coderd.stored.has(TASK_ID)).toBe(true);
  });

  it.each([
    { build: { transition: 'stop', job: 'pending' }, stored: true },
    { build: { transition: 'stop', job: 'running' }, stored: true },
    { build: { transition: 'stop', job: 'succeeded' }, stored: false },
    { build: { transition: 'stop', job: 'failed' }, stored: false },
    { build: { transition: 'delete', job: 'running' }, stored: false },
  ] as const)(
    'during a $build.transition build whose job is $build.job: stored $stored (the agent keeps its token while the stop job runs, coder/coder#21538)',
    async ({ build, stored }) => {
      f.sim = await startSim({ work: f.work });
      f.coderd = await startCoderd({ tasks: [TASK_ID] });
      f.coderd.setBuild(build);
      const result = await run(
        ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--json'],
        { env: coderEnv(f.coderd) },
      );
      expect(f.coderd.stored.has(TASK_ID)).toBe(stored);
      if (stored) return expect(result.code, result.stderr).toBe(0);
      expect(result.code).toBe(1);
      expect(JSON.parse(result.stdout).post).toMatchObject({ ok: false, kind: 'unauthorized', status: 401 });
      expect(result.stderr).toContain(
        "coderd rejected the agent token (401): the stop build's job had already ended",
      );
    },
  );

  it('joins a CODER_AGENT_URL with a path prefix and a trailing slash', async () => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID], prefix: '/coder' });
    expect(f.coderd.url.endsWith('/coder/')).toBe(true);
    const result = await run(['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID], {
      env: coderEnv(f.coderd),
    });
    expect(result.code).toBe(0);
    expect(f.coderd.received[0].path).toBe(`/coder/api/v2/workspaceagents/me/tasks/${TASK_ID}/log-snapshot`);
  });

  it('retries a 500 and succeeds', async () => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID], mode: { kind: 'fail-first', count: 2 } });
    const result = await run(
      ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--json'],
      {
        env: coderEnv(f.coderd),
      },
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).post).toEqual({
      ok: true,
      status: 204,
      attempts: 3,
      waitedMs: expect.any(Number),
      lastRefusal: 'HTTP 500',
    });
    expect(f.coderd.received.map((r) => r.status)).toEqual([500, 500, 204]);
    expect(result.stderr).toMatch(/snapshot POST failed \(HTTP 500\); attempt 2 in \d+ms/);
  });

  it.each<{
    name: string;
    mode: Mode;
    tasks?: string[];
    kind: string;
    message: RegExp;
    /** POSTs coderd saw; 'until the deadline' for retried failures. */
    posts: number | 'until the deadline';
  }>([
    {
      name: '401',
      mode: { kind: 'status', status: 401 },
      kind: 'unauthorized',
      message: /agent token \(401\): the stop build's job had already ended .*coder\/coder#21538/,
      posts: 1,
    },
    {
      name: 'unknown task',
      mode: { kind: 'normal' },
      tasks: [],
      kind: 'task-not-found',
      message: /does not know this task/,
      posts: 1,
    },
    { name: 'old Coder', mode: { kind: 'no-route' }, kind: 'endpoint-missing', message: /too old/, posts: 1 },
    {
      name: 'persistent 500',
      mode: { kind: 'status', status: 500 },
      kind: 'server-error',
      message: /failed to store the snapshot \(500\) after \d+ attempts: Injected 500/,
      posts: 'until the deadline',
    },
  ])('reports $name as $kind', async ({ mode, kind, message, posts, tasks }) => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: tasks ?? [TASK_ID], mode });
    const result = await run(
      ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--json', '--timeout', '4s'],
      {
        env: coderEnv(f.coderd),
      },
    );
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: false, post: { ok: false, kind } });
    expect(report.error).toMatch(message);
    expect(result.stderr).toMatch(message);
    if (posts === 'until the deadline') {
      // Retried until the 4 s deadline, not a fixed number of times: well past half of it, and
      // ended by it (the slack is a loaded machine's process start, never a retry loop's seconds).
      expect(f.coderd.received.length).toBeGreaterThanOrEqual(3);
      expect(result.ms).toBeGreaterThan(2_000);
      expect(result.ms).toBeLessThan(4_000 + 4_000);
    } else expect(f.coderd.received).toHaveLength(posts);
  });

  it('gives up on a hanging coderd within --timeout', async () => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID], mode: { kind: 'hang' } });
    const result = await run(
      ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--timeout', '2s'],
      {
        env: coderEnv(f.coderd),
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/did not answer in time/);
    expect(result.ms).toBeLessThan(10_000);
  });

  it('reports a refused connection to coderd', async () => {
    f.sim = await startSim({ work: f.work });
    const result = await run(
      ['snapshot', '-p', String(f.sim.port), '--post', '--task-id', TASK_ID, '--timeout', '3s'],
      {
        env: { CODER_AGENT_URL: 'http://127.0.0.1:1/', CODER_AGENT_TOKEN: 'tok-abcdef' },
      },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /coderd is not reachable at http:\/\/127\.0\.0\.1:1 \(connection refused\)/,
    );
  });

  it('talks to AgentAPI directly even when a (dead) proxy is configured', async () => {
    f.sim = await startSim({ work: f.work });
    const result = await run(['snapshot', '-p', String(f.sim.port)], {
      env: { HTTP_PROXY: 'http://127.0.0.1:1', http_proxy: 'http://127.0.0.1:1' },
    });
    expect(result.code).toBe(0);
  });
});
