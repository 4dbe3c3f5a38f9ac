import { spawn } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configuredStateFile } from '../../src/core/agentapi/agentapi-process.js';
import { snapshotUrl } from '../../src/core/coderd/coderd-client.js';
import { parseUuid } from '../../src/core/coderd/rules.js';
import { PID_MAX, parsePid, readPidFile, readPidFileOrOld } from '../../src/core/process/pid-file.js';
import { identifyAgentApi, looksLikeAgentApiServer, readProc } from '../../src/core/process/proc.js';
import { checkpointBudgetMs, startCheckpoints } from '../../src/core/sequences/checkpoint-timer.js';
import { Deadline, pollUntil } from '../../src/core/utils/deadline.js';
import { formatDuration, formatUnit, parseDuration } from '../../src/core/utils/duration.js';
import { Logger } from '../../src/core/utils/log.js';
import { agentApiBaseUrl } from '../../src/core/utils/settings.js';
import { prerenderedHelp } from '../../src/help-text.js';

describe('parsePid', () => {
  it.each([
    ['1234\n', 1234],
    ['2', 2],
    ['  4194304 ', PID_MAX],
  ])('accepts %j', (text, pid) => {
    expect(parsePid(text)).toEqual({ pid });
  });

  it.each([
    ['', 'empty'],
    ['\n', 'empty'],
    ['0', 'not a process we may signal'],
    ['1', 'not a process we may signal'],
    ['-1', 'not a decimal process id'],
    ['-42', 'not a decimal process id'],
    ['12abc', 'not a decimal process id'],
    ['0x10', 'not a decimal process id'],
    ['1e3', 'not a decimal process id'],
    ['12 34', 'not a decimal process id'],
    ['007', 'leading zeros'],
    ['4194305', 'larger than any Linux process id'],
    ['99999999999999999999999', 'larger than any Linux process id'],
    ['\u0000\u0001', 'not a decimal process id'],
  ])('refuses %j (%s)', (text, reason) => {
    const parsed = parsePid(text);
    expect('reason' in parsed && parsed.reason).toContain(reason);
  });
});

describe('readPidFile', () => {
  it('tells missing, invalid, oversized and valid files apart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pidfile-'));
    expect((await readPidFile(join(dir, 'none'))).state).toBe('missing');
    await writeFile(join(dir, 'bad'), 'garbage\n');
    expect(await readPidFile(join(dir, 'bad'))).toMatchObject({ state: 'invalid' });
    await writeFile(join(dir, 'big'), '1'.repeat(1000));
    expect(await readPidFile(join(dir, 'big'))).toMatchObject({
      state: 'invalid',
      reason: expect.stringContaining('bytes'),
    });
    expect(await readPidFile(dir)).toMatchObject({ state: 'invalid' });
    await writeFile(join(dir, 'ok'), '4321\n');
    expect(await readPidFile(join(dir, 'ok'))).toMatchObject({ state: 'ok', pid: 4321 });
  });
});

describe('readPidFileOrOld', () => {
  it("reads the old default only when the given file is absent, and only a file of the user's own", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pidfile-'));
    const [given, old] = [join(dir, 'new.pid'), join(dir, 'old.pid')];
    expect(await readPidFileOrOld(given, old)).toMatchObject({ state: 'missing', path: given });
    await writeFile(old, '4321\n');
    expect(await readPidFileOrOld(given, old)).toMatchObject({ state: 'ok', path: old, pid: 4321 });
    expect(await readPidFileOrOld(given, undefined)).toMatchObject({ state: 'missing', path: given });
    await writeFile(given, '1234\n');
    expect(await readPidFileOrOld(given, old)).toMatchObject({ state: 'ok', path: given, pid: 1234 });
    await rm(given);
    if (process.getuid?.() === 0) {
      await chown(old, 65534, 65534);
      expect(await readPidFileOrOld(given, old)).toMatchObject({ state: 'missing', path: given });
    }
  });
});

describe('looksLikeAgentApiServer', () => {
  it.each([
    [['agentapi', 'server', '--', 'claude'], true],
    [['/usr/local/bin/agentapi', 'server', '--type', 'claude'], true],
    [['node', '/opt/sim/agentapi', 'server'], true],
    [['agentapi', 'attach'], false],
    [['agentapi-lifecycle', 'start', '--', 'agentapi', 'server'], false],
    [['bash', '-c', 'agentapi server'], false],
    [['sleep', '1000'], false],
    [[], false],
  ])('%j → %s', (argv, expected) => {
    expect(looksLikeAgentApiServer(argv)).toBe(expected);
  });
});

describe('identifyAgentApi', () => {
  it('refuses this very process and a process that is not agentapi', async () => {
    expect(await identifyAgentApi(process.pid)).toMatchObject({ ok: false });
    expect(await identifyAgentApi(1)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not agentapi'),
    });
  });

  it('reads its own start time from /proc close to the truth', async () => {
    const me = await readProc(process.pid);
    expect(me?.startedAtMs).toBeLessThanOrEqual(Date.now());
    expect(me?.startedAtMs).toBeGreaterThan(Date.now() - process.uptime() * 1000 - 2000);
  });

  it("reads its parent from /proc: its own, and a child's", async () => {
    expect((await readProc(process.pid))?.ppid).toBe(process.ppid);
    const child = spawn('sleep', ['5'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => child.once('spawn', resolve));
      expect((await readProc(child.pid as number))?.ppid).toBe(process.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('snapshotUrl', () => {
  const task = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
  const path = `/api/v2/workspaceagents/me/tasks/${task}/log-snapshot?format=agentapi`;
  it.each([
    ['https://coder.example.com', `https://coder.example.com${path}`],
    ['https://coder.example.com/', `https://coder.example.com${path}`],
    ['https://coder.example.com//', `https://coder.example.com${path}`],
    ['http://127.0.0.1:3000/prefix/', `http://127.0.0.1:3000/prefix${path}`],
    ['http://127.0.0.1:3000/prefix?x=1#frag', `http://127.0.0.1:3000/prefix${path}`],
  ])('joins %s', (base, expected) => {
    expect(snapshotUrl(base, task).toString()).toBe(expected);
  });

  it.each(['not a url', 'ftp://coder.example.com'])('refuses %s', (base) => {
    expect(() => snapshotUrl(base, task)).toThrow(/CODER_AGENT_URL/);
  });
});

describe("task ids, as coderd's uuid.Parse takes them", () => {
  const canonical = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
  it.each([
    [canonical, canonical],
    ['00000000-0000-0000-0000-000000000000', '00000000-0000-0000-0000-000000000000'],
    ['3F2B6C1E-8D4A-4B7E-9C1F-2A5D6E7F8A9B', canonical],
    ['3f2b6c1e8d4a4b7e9c1f2a5d6e7f8a9b', canonical],
    [`{${canonical}}`, canonical],
    [`urn:uuid:${canonical}`, canonical],
    [`URN:UUID:${canonical}`, canonical],
    ['not-a-uuid', undefined],
    ['3f2b6c1e8d4a4b7e9c1f2a5d6e7f8a9b0', undefined],
    ['3f2b6c1e-8d4a-4b7e-9c1f_2a5d6e7f8a9b', undefined],
    ['3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9g', undefined],
    [`{${canonical})`, undefined],
    [`urn:uid::${canonical}`, undefined],
    ['', undefined],
  ])('%j → %s', (id, expected) => {
    expect(parseUuid(id)).toBe(expected);
  });
});

describe('durations', () => {
  it.each([
    ['1.25s', 1250],
    ['0.5', 500],
    ['90m', 5_400_000],
  ])('parseDuration(%s) = %i', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    [100, '100ms'],
    [1000, '1s'],
    [1500, '1500ms'],
    [60_000, '1m'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [86_400_000, '24h'],
    [0, '0ms'],
  ])('formatUnit(%i) = %s', (ms, text) => {
    expect(formatUnit(ms)).toBe(text);
  });

  it('formatDuration switches to seconds at exactly 1000 ms', () => {
    expect(formatDuration(999)).toBe('999ms');
    expect(formatDuration(1000)).toBe('1.0s');
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30', 30_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
  ])('%s = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '-1s', '10 days', '1e3'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });

  it('formats short and long', () => {
    expect(formatDuration(42)).toBe('42ms');
    expect(formatDuration(1234)).toBe('1.2s');
  });
});

describe('agentApiBaseUrl', () => {
  it('defaults to loopback on the port and trims trailing slashes of a given URL', () => {
    expect(agentApiBaseUrl(3284)).toBe('http://127.0.0.1:3284');
    expect(agentApiBaseUrl(1, 'http://localhost:9000/')).toBe('http://localhost:9000');
  });
});

describe('configuredStateFile (reads the real /proc)', () => {
  const proc = (pid: number, ...args: string[]) => ({
    pid,
    argv: ['agentapi', 'server', ...args, '--', 'claude'],
    state: 'S',
    ppid: 1,
    startedAtMs: 0,
    uid: { real: 0, effective: 0 },
  });

  it("takes the flag, made absolute against the process's working directory", async () => {
    expect(await configuredStateFile(proc(process.pid, '--state-file', '/data/s.json'))).toEqual({
      kind: 'set',
      path: '/data/s.json',
    });
    expect(await configuredStateFile(proc(process.pid, '--state-file=rel/s.json'))).toEqual({
      kind: 'set',
      path: join(process.cwd(), 'rel/s.json'),
    });
  });

  it('falls back to AGENTAPI_STATE_FILE in its environment, else says it has none', async () => {
    const expected = process.env.AGENTAPI_STATE_FILE
      ? { kind: 'set', path: process.env.AGENTAPI_STATE_FILE }
      : { kind: 'none' };
    expect(await configuredStateFile(proc(process.pid))).toEqual(expected);
  });

  it('says it cannot tell when the environment cannot be read, rather than "none"', async () => {
    const result = await configuredStateFile(proc(PID_MAX + 1));
    expect(result).toEqual({ kind: 'unknown', reason: expect.stringContaining('environment') });
  });
});

describe('Deadline', () => {
  it('never gives more than the parent has, and wait() ends at the deadline', async () => {
    const parent = Deadline.in(50);
    const child = parent.slice(10_000);
    expect(child.at).toBe(parent.at);
    const started = Date.now();
    await child.wait(10_000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(child.expired).toBe(true);
    expect(child.signal.aborted).toBe(true);
  });

  it('pollUntil returns the first value, or undefined at the deadline', async () => {
    let calls = 0;
    expect(await pollUntil(Deadline.in(5000), () => (++calls === 3 ? 'done' : undefined))).toBe('done');
    expect(await pollUntil(Deadline.in(30), () => undefined)).toBeUndefined();
  });

  it('after waiting out its budget, expired and signal agree (timers may fire before Date.now moves)', async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const deadline = Deadline.in(1 + (i % 7)).slice(10_000);
        await deadline.wait(10_000);
        return { expired: deadline.expired, aborted: deadline.signal.aborted };
      }),
    );
    expect(results.filter((r) => !r.expired || !r.aborted)).toEqual([]);
  });

  it('aborts its signal with a TimeoutError, which the HTTP clients report as a timeout', async () => {
    const deadline = Deadline.in(1);
    await deadline.wait(50);
    expect((deadline.signal.reason as Error).name).toBe('TimeoutError');
  });

  it('expires on its own timer: the signal aborts with nobody asking', async () => {
    const deadline = Deadline.in(10);
    await new Promise((r) => setTimeout(r, 60));
    expect(deadline.signal.aborted).toBe(true);
  });

  it('remaining() never exceeds the budget and shrinks with time', async () => {
    const deadline = Deadline.in(1000);
    const first = deadline.remaining();
    expect(first).toBeLessThanOrEqual(1000);
    expect(first).toBeGreaterThan(900);
    await new Promise((r) => setTimeout(r, 20));
    expect(deadline.remaining()).toBeLessThan(first);
  });

  it('a slice ends with its own `also` signal too, and a wait that runs to the end aborts at once', async () => {
    const also = new AbortController();
    const slice = Deadline.in(60_000).slice(60_000, also.signal);
    also.abort();
    expect(slice.signal.aborted).toBe(true);
    const short = Deadline.in(20);
    await short.wait(10_000);
    // Checked before anything calls remaining(): the wait itself ended it.
    expect(short.signal.aborted).toBe(true);
  });

  it('pollUntil starts fast and grows to at most maxMs between checks (the waits it asks for, whatever the load)', async () => {
    const waits: number[] = [];
    // A deadline that records the waits asked of it, and ends after ten of them.
    const recording = {
      get expired() {
        return waits.length >= 10;
      },
      wait: async (ms: number) => {
        waits.push(ms);
      },
    } as unknown as Deadline;
    expect(await pollUntil(recording, () => undefined, { firstMs: 1, maxMs: 25, growth: 2 })).toBeUndefined();
    expect(waits).toEqual([1, 2, 4, 8, 16, 25, 25, 25, 25, 25]);
    // And on the clock: some checks in 300 ms, never hundreds.
    let checks = 0;
    await pollUntil(
      Deadline.in(300),
      () => {
        checks++;
        return undefined;
      },
      { firstMs: 1, maxMs: 25, growth: 1.25 },
    );
    // 1 ms growing by a quarter up to 25 ms: about two dozen checks in 300 ms, never hundreds.
    expect(checks).toBeLessThan(60);
    expect(checks).toBeGreaterThan(8);
  });

  it('ends early when its parent signal aborts', async () => {
    const controller = new AbortController();
    const deadline = Deadline.in(60_000, controller.signal);
    controller.abort();
    expect(deadline.expired).toBe(true);
  });
});

describe('Logger', () => {
  it('never prints a secret, even inside a message', () => {
    const lines: string[] = [];
    const logger = new Logger({ write: (l) => lines.push(l) }).withSecret('s3cr3t-token-value');
    logger.error('request failed: Coder-Session-Token: s3cr3t-token-value was refused');
    expect(lines.join('')).not.toContain('s3cr3t-token-value');
    expect(lines.join('')).toContain('***');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.*Z ERROR /);
  });
});

describe('prerenderedHelp: which command lines the build-time help pages answer', () => {
  const pages = { '': 'root page', shutdown: 'shutdown page', status: 'status page' };
  const pipe = { isTTY: () => false, env: {} };

  it.each([
    [[], 'root page'],
    [['--help'], 'root page'],
    [['-h'], 'root page'],
    [['help'], 'root page'],
    [['help', 'shutdown'], 'shutdown page'],
    [['shutdown', '--help'], 'shutdown page'],
    [['status', '-h'], 'status page'],
  ])('%j: %s', (argv, page) => {
    expect(prerenderedHelp(argv, pages, pipe)).toBe(page);
  });

  it.each([
    [['shutdown']],
    [['--version']],
    [['help', 'nope']],
    [['nope', '--help']],
    [['help', '--help']],
    [['-h', '--help']],
    [['shutdown', '--help', '--json']],
    [['shutdown', '--json', '--help']],
    [['help', 'shutdown', 'status']],
    [['toString', '--help']],
  ])('%j is left to oclif', (argv) => {
    expect(prerenderedHelp(argv, pages, pipe)).toBeUndefined();
  });

  it('is left to oclif at a terminal, with a setting that changes the rendering, or without pages', () => {
    expect(prerenderedHelp(['--help'], pages, { isTTY: () => true, env: {} })).toBeUndefined();
    for (const name of ['OCLIF_COLUMNS', 'OCLIF_DEBUG', 'FORCE_COLOR', 'DEBUG'])
      expect(
        prerenderedHelp(['--help'], pages, { isTTY: () => false, env: { [name]: '' } }),
        name,
      ).toBeUndefined();
    expect(
      prerenderedHelp(['--help'], pages, { isTTY: () => false, env: { COLUMNS: '120', NO_COLOR: '1' } }),
    ).toBe('root page');
    expect(prerenderedHelp(['--help'], undefined, pipe)).toBeUndefined();
  });

  it('asks whether stdout is a terminal only for a help request', () => {
    let asked = 0;
    const output = { isTTY: () => ++asked > 0 && false, env: {} };
    prerenderedHelp(['shutdown'], pages, output);
    expect(asked).toBe(0);
    prerenderedHelp(['shutdown', '-h'], pages, output);
    expect(asked).toBe(1);
  });
});

describe('startCheckpoints: when checkpoints happen', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs one at a time, each period jittered within ±25%, from the end of the last', async () => {
    vi.useFakeTimers();
    const starts: number[] = [];
    let running = 0;
    let overlapped = false;
    const randoms = [0, 1, 0.5];
    const timer = startCheckpoints({
      intervalMs: 1000,
      random: () => randoms.shift() ?? 0.5,
      run: async () => {
        starts.push(Date.now());
        overlapped ||= ++running > 1;
        await new Promise((resolve) => setTimeout(resolve, 3000)); // longer than a period
        running--;
      },
    });
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(750 + 3000 + 1250 + 3000 + 1000);
    timer.stop();
    expect(starts.map((t) => t - t0)).toEqual([750, 750 + 3000 + 1250, 750 + 3000 + 1250 + 3000 + 1000]);
    expect(overlapped).toBe(false);
  });

  it('stop aborts the checkpoint in progress and starts no other', async () => {
    vi.useFakeTimers();
    let runs = 0;
    let aborted: boolean | undefined;
    const timer = startCheckpoints({
      intervalMs: 1000,
      random: () => 0.5,
      run: async (stopped) => {
        runs++;
        await new Promise((resolve) => setTimeout(resolve, 500));
        aborted = stopped.aborted;
      },
    });
    await vi.advanceTimersByTimeAsync(1200);
    timer.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(runs).toBe(1);
    expect(aborted).toBe(true);
  });

  it('gives each checkpoint its interval as budget, within 1 to 30 seconds', () => {
    expect([500, 1000, 20_000, 120_000].map(checkpointBudgetMs)).toEqual([1000, 1000, 20_000, 30_000]);
  });
});
