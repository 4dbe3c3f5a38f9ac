// What the binary says, and keeps to itself: failures in words (errors.ts, http.ts), the token
// hidden everywhere (log.ts), and the settings a command line is checked against (settings.ts).

import { homedir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  agentApiFlags,
  durationFlag,
  pidFileFlag,
  runningStateFileFlag,
  saveAndPostFlags,
  saveAndPostOptions,
  saveTimeoutFlag,
  snapshotFlags,
  stateFileFlag,
  statePersistenceFlag,
  taskIdFlag,
} from '../../src/commands/flags.js';
import {
  attempt,
  describe as describeError,
  EXIT,
  fsReason,
  printError,
  UserError,
} from '../../src/core/utils/errors.js';
import {
  bodySnippet,
  classifyRequestError,
  ERROR_BODY_BYTES,
  readBounded,
  shorten,
} from '../../src/core/utils/http.js';
import { Logger, redact } from '../../src/core/utils/log.js';
import { sink } from '../../src/core/utils/output.js';
import {
  agentApiBaseUrl,
  childEnv,
  coderEnv,
  DEFAULTS,
  defaultPidFile,
  oldDefaultPidFile,
  PRIVATE_DIR,
  parseAgentApiUrl,
} from '../../src/core/utils/settings.js';

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** Everything printError writes to stderr. */
/** What `fn` writes to stderr (fd 2), through core/utils/output.ts. */
function stderrOf(fn: () => void): string {
  let text = '';
  vi.spyOn(sink, 'writeSync').mockImplementation((fd, bytes) => {
    if (fd === 2) text += Buffer.from(bytes).toString('utf8');
    return bytes.length;
  });
  fn();
  vi.restoreAllMocks();
  return text;
}

describe('errors in words', () => {
  it('a UserError carries its exit code, report, details and usage; failed (1) by default', () => {
    const plain = new UserError('it broke');
    expect(plain).toMatchObject({ name: 'UserError', message: 'it broke', exitCode: EXIT.failed });
    expect(plain.details).toBeUndefined();
    const usage = new UserError('bad flag', EXIT.usage, {
      report: { ok: false },
      details: ['a'],
      usage: 'status',
    });
    expect(usage).toMatchObject({ exitCode: 2, report: { ok: false }, details: ['a'], usage: 'status' });
    expect(EXIT).toEqual({ ok: 0, failed: 1, usage: 2 });
  });

  it.each([
    ['ENOENT', 'its directory does not exist'],
    ['ENOTDIR', 'its directory does not exist'],
    ['EACCES', 'permission denied'],
    ['EPERM', 'permission denied'],
    ['EROFS', 'read-only file system'],
    ['EISDIR', 'it is a directory'],
  ])('fsReason(%s) is "%s"', (code, words) => {
    expect(fsReason(Object.assign(new Error(`${code}: raw`), { code }))).toBe(words);
  });

  it('attempt gives what the call returns, or undefined when it throws', () => {
    expect(attempt(() => 7)).toBe(7);
    expect(attempt(() => '')).toBe('');
    expect(
      attempt(() => {
        throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      }),
    ).toBeUndefined();
  });

  it('fsReason falls back to the message, on one line; describe() flattens anything thrown', () => {
    expect(fsReason(Object.assign(new Error('EIO: i/o error\n  more'), { code: 'EIO' }))).toBe(
      'EIO: i/o error more',
    );
    expect(describeError('  just text \n next ')).toBe('just text next');
    expect(describeError(42)).toBe('42');
  });

  it('printError: one "error:" line, details indented, a usage hint only for usage errors, the token hidden', () => {
    const failed = stderrOf(() =>
      printError(new UserError('it broke', EXIT.failed, { details: ['line 1', 'line 2'] })),
    );
    expect(failed).toBe('error: it broke\n  line 1\n  line 2\n');
    const usage = stderrOf(() => printError(new UserError('bad', EXIT.usage, { usage: 'status' })));
    expect(usage).toBe("error: bad\nRun 'agentapi-lifecycle status --help' for usage.\n");
    const root = stderrOf(() => printError(new UserError('what?', EXIT.usage)));
    expect(root).toBe("error: what?\nRun 'agentapi-lifecycle --help' for usage.\n");
    const hidden = stderrOf(() =>
      printError(new UserError('token SECRET-1 refused', EXIT.failed, { details: ['SECRET-1'] }), (t) =>
        t.replaceAll('SECRET-1', '***'),
      ),
    );
    expect(hidden).toBe('error: token *** refused\n  ***\n');
  });
});

describe('request failures in words (http.ts)', () => {
  it.each([
    [{ name: 'TimeoutError' }, { kind: 'timeout', detail: 'timed out' }],
    [{ name: 'AbortError' }, { kind: 'aborted', detail: 'cancelled' }],
    [{ code: 'ECONNREFUSED' }, { kind: 'unreachable', detail: 'connection refused' }],
    [{ cause: { code: 'ConnectionRefused' } }, { kind: 'unreachable', detail: 'connection refused' }],
    [{ code: 'ENOTFOUND' }, { kind: 'unreachable', detail: 'host not found' }],
    [
      { code: 'EWEIRD', message: 'socket says no\nsecond line' },
      { kind: 'unreachable', detail: 'socket says no' },
    ],
    [Object.assign(new TypeError('fetch failed'), {}), { kind: 'unreachable', detail: 'fetch failed' }],
    [new RangeError('Out of memory'), { kind: 'error', detail: 'Out of memory' }],
    [
      { message: 'x', cause: { message: 'the real reason' } },
      { kind: 'error', detail: 'the real reason' },
    ],
    ['a string', { kind: 'error', detail: 'a string' }],
  ])('%j is %j', (error, expected) => {
    expect(classifyRequestError(error)).toEqual(expected);
  });

  const response = (parts: string[], status = 500) =>
    new Response(
      new ReadableStream({
        start(controller) {
          for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
          controller.close();
        },
      }),
      { status },
    );

  it('readBounded reads up to the limit and says whether it saw the end', async () => {
    expect(await readBounded(response(['abc', 'def']), 10)).toEqual({
      bytes: Buffer.from('abcdef'),
      complete: true,
    });
    const cut = await readBounded(response(['abc', 'def', 'ghi']), 4);
    expect(cut).toEqual({ bytes: Buffer.from('abcd'), complete: false });
    const exact = await readBounded(response(['abcd']), 4);
    expect(exact.complete).toBe(true);
    expect(await readBounded(new Response(null, { status: 204 }), 4)).toEqual({
      bytes: Buffer.alloc(0),
      complete: true,
    });
  });

  it('readBounded stops an endless body after the limit', async () => {
    let pulls = 0;
    const endless = new Response(
      new ReadableStream({
        pull(controller) {
          pulls++;
          controller.enqueue(new Uint8Array(1024));
        },
      }),
    );
    const { bytes, complete } = await readBounded(endless, 4096);
    expect(bytes.length).toBe(4096);
    expect(complete).toBe(false);
    expect(pulls).toBeLessThan(20);
  });

  it('bodySnippet: one line, redacted before it is cut, an ellipsis when the body went on', async () => {
    expect(await bodySnippet(response(['a\n  b\t c'], 400))).toBe('a b c');
    const long = 'x'.repeat(ERROR_BODY_BYTES + 100);
    const snippet = await bodySnippet(response([long]));
    expect(snippet).toBe(`${'x'.repeat(ERROR_BODY_BYTES)}…`);
    const hidden = await bodySnippet(response(['token T0KEN here']), (t) => t.replace('T0KEN', '***'));
    expect(hidden).toBe('token *** here');
    // A multi-byte character cut by the limit is left out, not turned into a replacement character.
    const cutInside = await bodySnippet(response([`${'y'.repeat(ERROR_BODY_BYTES - 1)}你`]));
    expect(cutInside).toBe(`${'y'.repeat(ERROR_BODY_BYTES - 1)}…`);
  });

  it('shorten keeps at most the limit, with an ellipsis only when it cut', () => {
    expect(shorten('abc', 3)).toBe('abc');
    expect(shorten('abcd', 3)).toBe('abc…');
    expect(shorten('x'.repeat(240))).toBe('x'.repeat(240));
    expect(shorten('x'.repeat(241))).toBe(`${'x'.repeat(240)}…`);
  });
});

describe('the token is never printed (log.ts)', () => {
  it('redact hides every occurrence, and a prefix of it (4 characters or more) cut off at the end', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 0, max: 20 }), (before, after, cut) => {
        const secret = 'Zq9xT4kLmN2pR7sVw8yB';
        const text = `${before}${secret}${after}${secret.slice(0, cut)}`;
        const out = redact(text, [secret]);
        expect(out).not.toContain(secret);
        if (cut >= 4) expect(out.endsWith(secret.slice(0, cut))).toBe(false);
      }),
    );
    expect(redact('abc SECRET def', ['SECRET'])).toBe('abc *** def');
    expect(redact('ends with SECR', ['SECRET'])).toBe('ends with ***');
    expect(redact('ends with SEC', ['SECRET'])).toBe('ends with SEC');
    expect(redact('short abc abc', ['abc'])).toBe('short abc abc');
  });

  it('levels: debug only with verbose, info not with quiet, warnings and errors always', () => {
    const lines: string[] = [];
    const write = (l: string) => lines.push(l);
    const levels = (logger: Logger) => {
      lines.length = 0;
      logger.debug('d');
      logger.info('i');
      logger.warn('w');
      logger.error('e');
      return lines.map((l) => l.split(' ')[1]);
    };
    expect(levels(new Logger({ write }))).toEqual(['INFO', 'WARN', 'ERROR']);
    expect(levels(new Logger({ write, verbose: true }))).toEqual(['DEBUG', 'INFO', 'WARN', 'ERROR']);
    expect(levels(new Logger({ write, quiet: true }))).toEqual(['WARN', 'ERROR']);
  });

  it('level says how much it shows, for the supervisor to log the same (secrets and all kept apart)', () => {
    expect(new Logger().level).toEqual({ verbose: false, quiet: false });
    expect(new Logger({ verbose: true }).withSecret('a-secret').level).toEqual({
      verbose: true,
      quiet: false,
    });
    expect(new Logger({ quiet: true }).level).toEqual({ verbose: false, quiet: true });
  });

  it('withSecret adds a secret (and keeps the options); an empty one adds nothing', () => {
    const lines: string[] = [];
    const base = new Logger({ write: (l) => lines.push(l), quiet: true });
    expect(base.withSecret(undefined)).toBe(base);
    const logger = base.withSecret('first-secret').withSecret('second-secret');
    logger.info('first-secret second-secret');
    logger.warn('first-secret second-secret');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/WARN +\*\*\* \*\*\*\n$/);
  });

  it('a write that throws (a closed stderr) is swallowed', () => {
    const logger = new Logger({
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => logger.error('x')).not.toThrow();
  });
});

describe('settings', () => {
  it.each([
    ['http://127.0.0.1:3284', true],
    ['http://localhost:9/', true],
    ['https://[::1]:3284', true],
    ['http://example.com', 'host "example.com" is not on this machine'],
    ['http://127.0.0.2:3284', 'host "127.0.0.2" is not on this machine'],
    ['http://10.0.0.1', 'is not on this machine'],
    ['ftp://127.0.0.1', 'must be http or https'],
    ['not a url', 'is not a URL'],
    ['http://user:pw@localhost:3284', 'must not hold a user name or password'],
    ['http://user@localhost:3284', 'must not hold a user name or password'],
  ])('--agentapi-url %s', (input, expected) => {
    if (expected === true) expect(parseAgentApiUrl(input)).toBe(input);
    else expect(() => parseAgentApiUrl(input)).toThrow(expected as string);
  });

  it('AgentAPI on loopback at the port, or the given URL without trailing slashes', () => {
    expect(agentApiBaseUrl(3284)).toBe('http://127.0.0.1:3284');
    expect(agentApiBaseUrl(1, 'http://localhost:9//')).toBe('http://localhost:9');
  });

  it('the default PID file is in the private folder and follows the port; 3284 keeps agentapi.pid', () => {
    expect(PRIVATE_DIR).toBe(join(homedir(), '.agentapi'));
    expect(defaultPidFile(undefined)).toBe(join(PRIVATE_DIR, 'agentapi.pid'));
    expect(defaultPidFile(DEFAULTS.port)).toBe(join(PRIVATE_DIR, 'agentapi.pid'));
    expect(defaultPidFile(3285)).toBe(join(PRIVATE_DIR, 'agentapi-3285.pid'));
    expect(DEFAULTS.stateFile).toBe(join(PRIVATE_DIR, 'state.json'));
  });

  it("the old /tmp default is looked at only for the default PID file, and follows the port as 0.1.x's did", () => {
    expect(oldDefaultPidFile(defaultPidFile(DEFAULTS.port), DEFAULTS.port)).toBe('/tmp/agentapi.pid');
    expect(oldDefaultPidFile(defaultPidFile(3285), 3285)).toBe('/tmp/agentapi-3285.pid');
    expect(oldDefaultPidFile('/run/x.pid', DEFAULTS.port)).toBeUndefined();
    expect(oldDefaultPidFile(defaultPidFile(3285), DEFAULTS.port)).toBeUndefined();
  });

  it('children never get the agent token; everything else is passed on', () => {
    const env = childEnv({ CODER_AGENT_TOKEN: 't', CODER_AGENT_URL: 'u', PATH: '/bin' });
    expect(env).toEqual({ CODER_AGENT_URL: 'u', PATH: '/bin' });
  });

  it('empty Coder variables count as unset', () => {
    expect(coderEnv({ CODER_AGENT_URL: '', CODER_AGENT_TOKEN: '' })).toEqual({
      agentUrl: undefined,
      token: undefined,
    });
    expect(coderEnv({ CODER_AGENT_URL: 'u', CODER_AGENT_TOKEN: 't' })).toEqual({ agentUrl: 'u', token: 't' });
  });

  const parse = (
    flag: { parse: (input: string, ctx: never, opts: never) => Promise<unknown> },
    input: string,
  ) => flag.parse(input, {} as never, {} as never);

  it('a duration flag accepts its range, inclusive, and names it otherwise', async () => {
    const flag = durationFlag({ description: 'x', min: 100, max: 60_000, default: 1000 });
    expect(await parse(flag as never, '100ms')).toBe(100);
    expect(await parse(flag as never, '1m')).toBe(60_000);
    await expect(parse(flag as never, '99ms')).rejects.toThrow('"99ms" is out of range: use 100ms to 1m');
    await expect(parse(flag as never, '61s')).rejects.toThrow('out of range');
    await expect(parse(flag as never, 'soon')).rejects.toThrow('is not a duration');
    expect(await (flag as unknown as { defaultHelp: () => Promise<string> }).defaultHelp()).toBe('1s');
  });

  it('--max-bytes must hold at least an empty body and be a whole number', async () => {
    const flag = snapshotFlags['max-bytes'] as never;
    expect(await parse(flag, '15')).toBe(15);
    await expect(parse(flag, '14')).rejects.toThrow('14 bytes cannot hold even an empty body');
    await expect(parse(flag, '1.5')).rejects.toThrow('is not a whole number of bytes');
  });
});

describe('more of the same, at the edges', () => {
  it('anything thrown can be classified or described, even nothing at all', () => {
    expect(classifyRequestError(undefined)).toEqual({ kind: 'error', detail: 'undefined' });
    expect(classifyRequestError(null)).toEqual({ kind: 'error', detail: 'null' });
    expect(classifyRequestError({ name: 'TypeError', message: 'x' })).toEqual({
      kind: 'unreachable',
      detail: 'x',
    });
    expect(fsReason(undefined)).toBe('undefined');
  });

  it('readBounded cancels the rest of a body it stops reading', async () => {
    let cancelled = false;
    const body = new Response(
      new ReadableStream({
        pull(controller) {
          controller.enqueue(new Uint8Array(1024));
        },
        cancel() {
          cancelled = true;
        },
      }),
    );
    await readBounded(body, 2048);
    await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe(true);
  });

  it('bodySnippet trims, and a body that fails mid-way gives an empty snippet', async () => {
    expect(await bodySnippet(new Response('   spaced   '))).toBe('spaced');
    const broken = new Response(
      new ReadableStream({
        pull(controller) {
          controller.error(new Error('connection reset'));
        },
      }),
    );
    expect(await bodySnippet(broken)).toBe('');
  });

  it('holding: info and warnings are kept for one line at the end, debug and errors still written', () => {
    const lines: string[] = [];
    const held: string[] = [];
    const logger = new Logger({ verbose: true, write: (l) => lines.push(l), secrets: ['SECRET-1'] }).holding(
      held,
    );
    logger.info('an info');
    logger.warn('a warning');
    logger.debug('a debug SECRET-1');
    logger.error('an error');
    expect(held).toEqual(['an info', 'a warning']);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/DEBUG a debug \*\*\*\n$/);
    expect(lines[1]).toMatch(/ERROR an error\n$/);
    expect(logger.level).toEqual({ verbose: true, quiet: false });
  });

  it('a Logger without a writer writes to stderr', () => {
    expect(stderrOf(() => new Logger().warn('to stderr'))).toMatch(/WARN +to stderr\n$/);
  });

  it('secrets shorter than 4 characters are not hidden (they would blank out ordinary words); 4 are', () => {
    expect(redact('abc abc', ['abc'])).toBe('abc abc');
    expect(redact('abcd abcd', ['abcd'])).toBe('*** ***');
    const lines: string[] = [];
    new Logger({ write: (l) => lines.push(l), secrets: ['abc', 'wxyz'] }).warn('abc wxyz');
    expect(lines[0]).toMatch(/WARN +abc \*\*\*\n$/);
  });
});

describe('the flags and their variables, as the README lists them', () => {
  it('--port: -p, AGENTAPI_PORT, 3284, 1 to 65535; --agentapi-url checked and exclusive with --port', async () => {
    expect(agentApiFlags.port).toMatchObject({
      char: 'p',
      env: 'AGENTAPI_PORT',
      default: 3284,
      min: 1,
      max: 65_535,
    });
    expect(agentApiFlags['agentapi-url']).toMatchObject({ exclusive: ['port'] });
    await expect(parse(agentApiFlags['agentapi-url'] as never, 'http://example.com')).rejects.toThrow(
      'not on this machine',
    );
    expect(await parse(agentApiFlags['agentapi-url'] as never, 'http://[::1]:9')).toBe('http://[::1]:9');
  });

  it('--pid-file: AGENTAPI_PID_FILE, by port; --state-file: AGENTAPI_STATE_FILE, in the home (the running one: no default)', async () => {
    const pidFile = pidFileFlag as unknown as {
      env: string;
      default: (ctx: { flags: Record<string, unknown> }) => Promise<string>;
      defaultHelp: () => Promise<string>;
    };
    expect(pidFile.env).toBe('AGENTAPI_PID_FILE');
    expect(await pidFile.default({ flags: { port: 3290 } })).toBe(join(PRIVATE_DIR, 'agentapi-3290.pid'));
    expect(await pidFile.default({ flags: {} })).toBe(join(PRIVATE_DIR, 'agentapi.pid'));
    expect(await pidFile.defaultHelp()).toBe(
      '~/.agentapi/agentapi.pid (for another --port: ~/.agentapi/agentapi-<port>.pid)',
    );
    expect(stateFileFlag).toMatchObject({ env: 'AGENTAPI_STATE_FILE', default: DEFAULTS.stateFile });
    // shutdown and checkpoint share these: save first unless told not to, within 5 s by default.
    expect(statePersistenceFlag).toMatchObject({ default: true, allowNo: true, type: 'boolean' });
    expect(saveTimeoutFlag).toMatchObject({ default: DEFAULTS.saveTimeoutMs });
    expect(await parse(saveTimeoutFlag as never, '100ms')).toBe(100);
    await expect(parse(saveTimeoutFlag as never, '99ms')).rejects.toThrow('use 100ms to 1h');
    expect(await parse(saveTimeoutFlag as never, '1h')).toBe(3_600_000);
    expect(await (stateFileFlag as unknown as { defaultHelp: () => Promise<string> }).defaultHelp()).toBe(
      '~/.agentapi/state.json',
    );
    expect(runningStateFileFlag).toMatchObject({ env: 'AGENTAPI_STATE_FILE' });
    expect((runningStateFileFlag as { default?: unknown }).default).toBeUndefined();
    expect(taskIdFlag.description).toContain('UUID');
    expect(snapshotFlags['max-messages']).toMatchObject({ min: 1, default: 10 });
  });

  it('shutdown and checkpoint take the same flags, as the same options', () => {
    expect(Object.keys(saveAndPostFlags)).toEqual([
      'task-id',
      'port',
      'agentapi-url',
      'pid-file',
      'state-file',
      'state-persistence',
      'max-messages',
      'max-bytes',
      'save-timeout',
    ]);
    vi.stubEnv('CODER_AGENT_URL', 'https://coder.example.com');
    vi.stubEnv('CODER_AGENT_TOKEN', 'tok');
    const flags = {
      'task-id': 'abc',
      port: 3290,
      'pid-file': '/p',
      'state-file': '/s',
      'state-persistence': false,
      'max-messages': 7,
      'max-bytes': 900,
      'save-timeout': 1234,
    };
    expect(saveAndPostOptions(flags)).toEqual({
      taskId: 'abc',
      agentApiUrl: 'http://127.0.0.1:3290',
      port: 3290,
      pidFile: '/p',
      stateFile: '/s',
      statePersistence: false,
      maxMessages: 7,
      maxBytes: 900,
      saveTimeoutMs: 1234,
      coder: { agentUrl: 'https://coder.example.com', token: 'tok' },
    });
    expect(saveAndPostOptions({ ...flags, 'agentapi-url': 'http://127.0.0.1:9' }).agentApiUrl).toBe(
      'http://127.0.0.1:9',
    );
  });

  it('a duration flag without a default shows none', () => {
    const flag = durationFlag({ description: 'x', min: 1, max: 2 }) as unknown as { defaultHelp?: unknown };
    expect(flag.defaultHelp).toBeUndefined();
  });
});

const parse = (
  flag: { parse: (input: string, ctx: never, opts: never) => Promise<unknown> },
  input: string,
) => flag.parse(input, {} as never, {} as never);
