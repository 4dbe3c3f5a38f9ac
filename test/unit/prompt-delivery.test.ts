// When the Task's prompt counts as delivered (prompt.ts): a user message of the very bytes, found by
// its digest while the conversation streams past; and what a command that reads the conversation
// does with a record that says "handed". AgentAPI here is a one-handler server on loopback that
// answers GET /messages with the conversation a test sets.

import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readProc } from '../../src/core/process/proc.js';
import {
  asSent,
  checkPrompt,
  conversationHolds,
  decidePrompt,
  digest,
  notePromptDelivered,
  notePromptDeliveredBy,
  type PromptRecord,
  promptFromArgument,
  promptRecordPath,
  readPrompt,
  readPromptRecord,
  waitForDelivery,
  writePromptRecord,
} from '../../src/core/task/prompt.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { EXIT } from '../../src/core/utils/errors.js';
import { type Loopback, serve } from '../support/loopback.js';

const PROMPT = 'Fix the login bug — and add a test ✓';
const record = (sent = PROMPT, state: PromptRecord['state'] = 'handed'): PromptRecord => ({
  sha256: digest(sent),
  bytes: Buffer.byteLength(sent),
  at: '2026-12-06T10:00:00.000Z',
  state,
  ...(state === 'delivered' ? { deliveredAt: '2026-12-06T10:00:05.000Z' } : {}),
});

let messages: { role: string; content: string }[] = [];
let status = 200;
let agentapi: Loopback;
let dir: string;
let stateFile: string;
const said: string[] = [];
const logger = {
  info: (line: string) => said.push(`INFO ${line}`),
  warn: (line: string) => said.push(`WARN ${line}`),
};

beforeEach(async () => {
  messages = [];
  status = 200;
  said.length = 0;
  agentapi = await serve((_, res) => {
    const body = { messages: messages.map((m, id) => ({ id, ...m, time: '2026-12-06T10:00:00Z' })) };
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  dir = await mkdtemp(join(tmpdir(), 'prompt-delivery-'));
  stateFile = join(dir, 'state.json');
});
afterEach(async () => {
  await agentapi.close();
  await rm(dir, { recursive: true, force: true });
});

const holds = (r: PromptRecord) => conversationHolds(agentapi.url, r, Deadline.in(2_000));

describe('conversationHolds: a user message of the very bytes', () => {
  it.each<[string, { role: string; content: string }[], boolean]>([
    ['the prompt as the first user message', [{ role: 'user', content: PROMPT }], true],
    [
      'the prompt later on',
      [
        { role: 'agent', content: 'ready' },
        { role: 'user', content: 'x' },
        { role: 'user', content: PROMPT },
      ],
      true,
    ],
    ['the same text from the agent', [{ role: 'agent', content: PROMPT }], false],
    ['a message that only starts with it', [{ role: 'user', content: `${PROMPT}!` }], false],
    [
      'a message of the same length, other bytes',
      [{ role: 'user', content: PROMPT.replace('bug', 'bag') }],
      false,
    ],
    ['no messages', [], false],
  ])('%s: %s', async (_, conversation, expected) => {
    messages = conversation;
    expect(await holds(record())).toBe(expected);
  });

  it('a message far longer than the prompt is passed over unread', async () => {
    messages = [
      { role: 'user', content: 'x'.repeat(100_000) },
      { role: 'user', content: PROMPT },
    ];
    expect(await holds(record())).toBe(true);
  });

  it('an AgentAPI that fails: an error, which the callers take as "not seen"', async () => {
    status = 500;
    await expect(holds(record())).rejects.toThrow(/500/);
    expect(await waitForDelivery(agentapi.url, record(), Deadline.in(200))).toBe(false);
  });
});

describe('waitForDelivery', () => {
  it('true as soon as the conversation shows it', async () => {
    setTimeout(() => {
      messages = [{ role: 'user', content: PROMPT }];
    }, 150);
    const started = Date.now();
    expect(await waitForDelivery(agentapi.url, record(), Deadline.in(3_000))).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('false at the deadline when it never does', async () => {
    const started = Date.now();
    expect(await waitForDelivery(agentapi.url, record(), Deadline.in(300))).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe('notePromptDelivered', () => {
  const note = () =>
    notePromptDelivered({ stateFile, baseUrl: agentapi.url, deadline: Deadline.in(2_000), logger });

  it('a handed prompt seen in the conversation is marked delivered, and said', async () => {
    await writePromptRecord(stateFile, record());
    messages = [{ role: 'user', content: PROMPT }];
    const before = Date.now();
    expect(await note()).toBe(true);
    const { record: now } = await readPromptRecord(stateFile);
    expect(now).toMatchObject({ ...record(), state: 'delivered' });
    expect(Date.parse(now?.deliveredAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    expect(said).toEqual([
      `INFO the Task's prompt (${Buffer.byteLength(PROMPT)} bytes) is in the conversation: marked delivered`,
    ]);
  });

  it('not seen yet: left handed, nothing said', async () => {
    await writePromptRecord(stateFile, record());
    messages = [{ role: 'user', content: 'something else' }];
    expect(await note()).toBe(false);
    expect((await readPromptRecord(stateFile)).record?.state).toBe('handed');
    expect(said).toEqual([]);
  });

  it('no record, or one already delivered: nothing read, nothing said', async () => {
    status = 500;
    expect(await note()).toBe(false);
    await writePromptRecord(stateFile, record(PROMPT, 'delivered'));
    expect(await note()).toBe(false);
    expect(said).toEqual([]);
  });

  it('a record that is not one is said and left alone', async () => {
    await writeFile(promptRecordPath(stateFile), '{"sha256":"nope"}\n');
    expect(await note()).toBe(false);
    expect(said).toEqual([
      expect.stringMatching(/^WARN ignoring the prompt's record .*: it is not a prompt record of ours/),
    ]);
    expect(await readFile(promptRecordPath(stateFile), 'utf8')).toBe('{"sha256":"nope"}\n');
  });

  it('a record that cannot be rewritten: said, and not counted as marked', async () => {
    await writePromptRecord(stateFile, record());
    messages = [{ role: 'user', content: PROMPT }];
    // A folder where the rewrite's temporary file goes: the write fails, for root too.
    await mkdir(join(`${promptRecordPath(stateFile)}.${process.pid}.tmp`, 'in-the-way'), { recursive: true });
    expect(await note()).toBe(false);
    expect(said).toEqual([
      expect.stringMatching(
        /^WARN the Task's prompt is now in the conversation, but its record cannot say so \(.+\): a later first start may give it again$/,
      ),
    ]);
    expect((await readPromptRecord(stateFile)).record?.state).toBe('handed');
  });
});

describe('readPromptRecord: times checked', () => {
  const soon = new Date(Date.now() + 120_000).toISOString();
  it.each<[string, object | null]>([
    ['an `at` in the future', { ...record(), at: soon }],
    ['an `at` that is not RFC 3339', { ...record(), at: 'yesterday' }],
    ['delivered without a time', { ...record(), state: 'delivered' }],
    ['delivered in the future', { ...record(), state: 'delivered', deliveredAt: soon }],
    ['another state', { ...record(), state: 'sent' }],
    ['a size that is not a whole number', { ...record(), bytes: 1.5 }],
    ['a digest in capitals', { ...record(), sha256: record().sha256.toUpperCase() }],
    ['a digest with more before it', { ...record(), sha256: `0${record().sha256}` }],
    ['a digest with more after it', { ...record(), sha256: `${record().sha256}0` }],
    ['another state, even with a delivery time', { ...record(PROMPT, 'delivered'), state: 'sent' }],
    ['a time that is not text', { ...record(), at: 1_765_000_000_000 }],
    ['null', null],
  ])('%s: ignored', async (_, value) => {
    await writeFile(promptRecordPath(stateFile), JSON.stringify(value));
    const read = await readPromptRecord(stateFile);
    expect(read.record).toBeUndefined();
    expect(read.ignored).toMatch(/not a prompt record of ours, or holds a time in the future/);
  });

  it('not JSON: ignored, said so', async () => {
    await writeFile(promptRecordPath(stateFile), '{');
    expect((await readPromptRecord(stateFile)).ignored).toMatch(/: it is not JSON$/);
  });

  it('only its own fields are kept', async () => {
    await writeFile(promptRecordPath(stateFile), JSON.stringify({ ...record(), extra: 'x' }));
    expect((await readPromptRecord(stateFile)).record).toEqual(record());
  });
});

describe('decidePrompt', () => {
  const sent = asSent(`  ${PROMPT}\n`);
  const bytes = Buffer.byteLength(PROMPT);
  it.each<[string, Parameters<typeof decidePrompt>[0], boolean, string]>([
    [
      'a first start',
      { sent, resumed: false },
      true,
      `(${bytes} bytes) is given to AgentAPI, which sends it once the agent is ready`,
    ],
    [
      'a resume',
      { sent, resumed: true, record: record() },
      false,
      `(${bytes} bytes) is not sent: a resume, whose conversation holds it`,
    ],
    [
      'delivered before',
      { sent, resumed: false, record: record(PROMPT, 'delivered') },
      false,
      'is not sent again: it was delivered at 2026-12-06T10:00:05.000Z',
    ],
    [
      'handed, never seen',
      { sent, resumed: false, record: record() },
      true,
      'is given to AgentAPI again: it was handed over at 2026-12-06T10:00:00.000Z but never seen delivered',
    ],
    [
      'another prompt delivered before',
      { sent, resumed: false, record: record('other', 'delivered') },
      true,
      'which sends it once the agent is ready',
    ],
  ])('%s', (_, input, give, why) => {
    const decision = decidePrompt(input);
    expect(decision.give).toBe(give);
    expect(decision.why).toContain(why);
  });

  it('delivered without a delivery time says when it was handed', () => {
    const { deliveredAt: _, ...old } = record(PROMPT, 'delivered');
    expect(decidePrompt({ sent, resumed: false, record: old }).why).toMatch(
      /delivered at 2026-12-06T10:00:00\.000Z$/,
    );
  });
});

describe('notePromptDeliveredBy: the AgentAPI a PID file names, and the state file it writes', () => {
  it('marks the prompt delivered in the state file named on its command line', async () => {
    // A process that is `agentapi server --state-file <ours>` to /proc, found by its PID file.
    const fake = join(dir, 'agentapi');
    await writeFile(fake, '#!/bin/sh\nwhile :; do sleep 0.05; done\n', { mode: 0o755 });
    const child = spawn(fake, ['server', '--state-file', stateFile], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !(await readProc(child.pid as number))?.argv.includes('server'); i++)
        await new Promise((r) => setTimeout(r, 10));
      const pidFile = join(dir, 'agentapi.pid');
      await writeFile(pidFile, `${child.pid}\n`);
      await writePromptRecord(stateFile, record());
      messages = [{ role: 'user', content: PROMPT }];
      const o = { pidFile, port: 1, baseUrl: agentapi.url, deadline: Deadline.in(3_000), logger };
      expect(await notePromptDeliveredBy(o)).toBe(true);
      expect((await readPromptRecord(stateFile)).record?.state).toBe('delivered');
      // No AgentAPI behind the PID file: nothing to mark.
      await writeFile(pidFile, `${spawnSync('true').pid}\n`);
      expect(await notePromptDeliveredBy(o)).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the prompt as start reads it (readPrompt, promptFromArgument)', () => {
  it('more bytes than were read: refused by its size, whatever the bytes read', () => {
    expect(checkPrompt(Buffer.from('fine'), 'from standard input', true)).toEqual({
      where: 'from standard input',
      bytes: 4,
      refused: 'it is more than 4 bytes',
    });
  });

  it('--prompt: its text, by the one rule', async () => {
    expect(await promptFromArgument('  Fix it  ')).toEqual({
      where: 'from --prompt',
      bytes: 6,
      sent: 'Fix it',
    });
    expect(await promptFromArgument('a\0b')).toMatchObject({ refused: expect.stringContaining('NUL') });
  });

  it('--prompt-file: byte for byte; more than 1 MiB said by its size, never read whole', async () => {
    const path = join(dir, 'prompt.txt');
    await writeFile(path, Buffer.from('Fix the bug ✓\n'));
    expect(await readPrompt(path)).toEqual({ where: `from ${path}`, bytes: 15, sent: 'Fix the bug ✓' });
    await writeFile(path, Buffer.alloc(1024 * 1024 + 1, 'a'));
    expect(await readPrompt(path)).toEqual({
      where: `from ${path}`,
      bytes: 1024 * 1024,
      refused: `it is more than ${1024 * 1024} bytes`,
    });
  });

  it('--prompt-file that is missing, or not a file: a usage error naming it', async () => {
    const missing = readPrompt(join(dir, 'none.txt'));
    await expect(missing).rejects.toThrow(`--prompt-file ${join(dir, 'none.txt')} does not exist`);
    await expect(missing).rejects.toMatchObject({ exitCode: EXIT.usage });
    await mkdir(join(dir, 'folder'));
    const folder = readPrompt(join(dir, 'folder'));
    await expect(folder).rejects.toThrow(new RegExp(`^--prompt-file ${join(dir, 'folder')}: .+`));
    await expect(folder).rejects.toMatchObject({ exitCode: EXIT.usage });
  });
});
