// runTranscript in-process (issue #39), against the AgentAPI simulator and state files on disk:
// where the conversation is read from, what a limit keeps, and each file that is not a state file
// said in one line. The binary's transcript is proven by the integration tests.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTranscript, type TranscriptOptions } from '../../src/core/sequences/transcript.js';
import { JSON_CLOSING } from '../../src/core/task/transcript.js';
import { EXIT, UserError } from '../../src/core/utils/errors.js';
import { freePort, startSim } from '../support/harness.js';
import { inprocessWorld } from '../support/inprocess.js';
import { serve } from '../support/loopback.js';
import { conversation } from '../support/transcript.js';

const w = inprocessWorld();

interface Run {
  text: string;
  writes: number;
  report: Awaited<ReturnType<typeof runTranscript>>;
}

async function transcript(more: Partial<TranscriptOptions>): Promise<Run> {
  let text = '';
  let writes = 0;
  const report = await runTranscript({
    baseUrl: `http://127.0.0.1:${await freePort()}`,
    stateFile: w.work.stateFile,
    fromState: false,
    format: 'markdown',
    timeoutMs: 3_000,
    logger: w.logger(),
    write: (t) => {
      text += t;
      writes++;
    },
    ...more,
  });
  return { text, writes, report };
}

/** A state file of `count` messages as AgentAPI saves them (`message`, not `content`). */
function saveState(count: number, extra: object = {}): ReturnType<typeof conversation> {
  const messages = conversation(count);
  mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
  writeFileSync(
    w.work.stateFile,
    `${JSON.stringify({
      version: 1,
      messages: messages.map(({ content, ...m }) => ({ ...m, message: content })),
      initial_prompt: '',
      initial_prompt_sent: false,
      ...extra,
    })}\n`,
  );
  return messages;
}

const parse = (text: string) =>
  JSON.parse(text) as { messages: { id: number; content: string }[]; messagesShown: number };

describe('runTranscript: where from', () => {
  it('a live AgentAPI: its whole conversation, as JSON and as Markdown, its agent type named', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '5' } });
    const live = await transcript({ baseUrl: w.sim.url, format: 'json', taskId: 'task' });
    const doc = parse(live.text);
    expect(doc).toMatchObject({
      source: { kind: 'agentapi', url: w.sim.url },
      taskId: 'task',
      agentType: 'claude',
      messagesTotal: 5,
      messagesShown: 5,
      leftOut: 0,
    });
    const sent = (await (await fetch(`${w.sim.url}/messages`)).json()) as { messages: unknown[] };
    expect(doc.messages).toEqual(sent.messages);
    expect(live.report).toMatchObject({
      source: { kind: 'agentapi' },
      messagesTotal: 5,
      messagesShown: 5,
      leftOut: 0,
    });
    expect(live.report.bytes).toBe(Buffer.byteLength(live.text));
    const markdown = await transcript({ baseUrl: w.sim.url });
    expect(markdown.text).toMatch(
      /^# Task conversation\n\n- Source: AgentAPI at http:\/\/127\.0\.0\.1:\d+ \(running\)\n- Agent: claude\n- Messages: 5, from /,
    );
    expect(markdown.text.match(/\n## (Agent|User) · /g)).toHaveLength(5);
    expect(
      w.lines.some((l) => l.includes(`transcript: reading the conversation from AgentAPI at ${w.sim?.url}`)),
    ).toBe(true);
  });

  it('AgentAPI down: its state file, said; the agent type from the last start', async () => {
    const messages = saveState(4);
    const run = await transcript({ format: 'json', agentType: 'codex' });
    expect(parse(run.text)).toMatchObject({
      source: { kind: 'state-file', path: w.work.stateFile, savedAt: expect.stringMatching(/^\d{4}-/) },
      agentType: 'codex',
      messagesTotal: 4,
      messages: messages.map(({ id, role, time, content }) => ({ id, role, time, content })),
    });
    expect(
      w.lines.some((l) => /transcript: AgentAPI does not answer at .* reading its state file /.test(l)),
    ).toBe(true);
  });

  it('--from-state while AgentAPI runs: the state file, not AgentAPI', async () => {
    w.sim = await startSim({ work: w.work, env: { AGENTAPI_SIM_MESSAGES: '5' } });
    saveState(2);
    const run = await transcript({ baseUrl: w.sim.url, fromState: true, format: 'json' });
    expect(parse(run.text)).toMatchObject({ source: { kind: 'state-file' }, messagesTotal: 2 });
  });

  it.each<[string, () => void, RegExp]>([
    [
      'none',
      () => {},
      /^no state file at .*: AgentAPI saved no conversation there \(--state-file, AGENTAPI_STATE_FILE\)$/,
    ],
    [
      'a folder',
      () => mkdirSync(w.work.stateFile, { recursive: true }),
      /cannot be read as AgentAPI's state file: /,
    ],
    ['not JSON', () => saveRaw('hello'), /is not AgentAPI's state file: /],
    [
      'format 2',
      () => saveState(2, { version: 2 }),
      /is not AgentAPI's state file: its format version is 2, not 1$/,
    ],
    ['no format', () => saveRaw('{"messages":[]}'), /its format version is missing, not 1$/],
    [
      'a message without its role',
      () =>
        saveRaw(
          '{"version":1,"messages":[{"id":0,"message":"a","role":"agent","time":"t"},{"id":1,"message":"b","time":"t"}]}',
        ),
      /: message 1 is not one of AgentAPI's \(message and role must be text\)$/,
    ],
  ])('a state file that is %s: one line, nothing written', async (_, make, words) => {
    make();
    const run = transcript({ fromState: true });
    await expect(run).rejects.toThrow(UserError);
    await expect(run).rejects.toThrow(words);
  });
});

describe('runTranscript: each message as read', () => {
  it('an id that is not a number is its place; a time that is not text is empty; first and last as kept', async () => {
    saveRaw(
      JSON.stringify({
        version: 1,
        messages: [
          { id: 'a', message: 'one', role: 'agent', time: '2026-12-06T10:00:00Z' },
          { id: 7, message: 'two', role: 'user', time: 5 },
          { id: 8, message: 'three', role: 'agent', time: '2026-12-06T10:00:02Z' },
        ],
      }),
    );
    const run = await transcript({ fromState: true, format: 'json' });
    const doc = JSON.parse(run.text);
    expect(doc).toMatchObject({
      first: '2026-12-06T10:00:00Z',
      last: '2026-12-06T10:00:02Z',
      messagesShown: 3,
    });
    expect(doc.messages.map((m: { id: number; time: string }) => [m.id, m.time])).toEqual([
      [0, '2026-12-06T10:00:00Z'],
      [7, ''],
      [8, '2026-12-06T10:00:02Z'],
    ]);
    const markdown = await transcript({ fromState: true });
    expect(markdown.text).toMatch(/\nthree\n(`{3,}|~{3,})\n$/);
    expect(markdown.text).not.toContain(JSON_CLOSING);
  });

  it('a message that is not one: named with where it was read, and nothing written', async () => {
    saveRaw(
      '{"version":1,"messages":[{"id":0,"message":"a","role":"agent","time":"t"},{"id":1,"message":"b","role":5}]}',
    );
    let writes = 0;
    const run = runTranscript({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      stateFile: w.work.stateFile,
      fromState: true,
      format: 'markdown',
      timeoutMs: 3_000,
      logger: w.logger(),
      write: () => writes++,
    });
    await expect(run).rejects.toThrow(
      new UserError(
        `${w.work.stateFile}: message 1 is not one of AgentAPI's (message and role must be text)`,
      ),
    );
    expect(writes).toBe(0);
  });

  it("from AgentAPI: named as AgentAPI's GET /messages", async () => {
    const agentapi = await serve((req, res) => {
      const body =
        req.url === '/status' ? { status: 'stable' } : { messages: [{ id: 0, content: 'a', role: 5 }] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    try {
      await expect(transcript({ baseUrl: agentapi.url })).rejects.toThrow(
        new UserError(
          "GET /messages to AgentAPI failed: AgentAPI's GET /messages: message 0 is not one of AgentAPI's (content and role must be text)",
        ),
      );
    } finally {
      await agentapi.close();
    }
  });

  it('an AgentAPI that does not answer is given no more than the whole timeout, then the state file is read', async () => {
    saveState(2);
    const silent = await serve(() => {});
    try {
      const started = Date.now();
      const run = await transcript({ baseUrl: silent.url, timeoutMs: 300, format: 'json' });
      expect(parse(run.text)).toMatchObject({ source: { kind: 'state-file' }, messagesTotal: 2 });
      expect(Date.now() - started).toBeLessThan(1_800);
    } finally {
      await silent.close();
    }
  });

  it('--last of a conversation with no messages: the header alone', async () => {
    saveState(0);
    const run = await transcript({ fromState: true, format: 'json', last: 5 });
    expect(parse(run.text)).toMatchObject({ messagesTotal: 0, messagesShown: 0, messages: [] });
  });

  it('a long conversation, written in pieces, is whole', async () => {
    saveState(400);
    const run = await transcript({ fromState: true, format: 'json' });
    expect(run.writes).toBeGreaterThan(1);
    expect(parse(run.text).messages.map((m) => m.id)).toEqual([...Array(400).keys()]);
  });
});

function saveRaw(text: string): void {
  mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
  writeFileSync(w.work.stateFile, text);
}

describe('runTranscript: what a limit keeps', () => {
  it('--last: the newest, and the header says how many were left out and why', async () => {
    const messages = saveState(6);
    const json = await transcript({ fromState: true, format: 'json', last: 2 });
    expect(parse(json.text)).toMatchObject({
      messagesTotal: 6,
      messagesShown: 2,
      leftOut: 4,
      first: messages[0].time,
      last: messages[5].time,
    });
    expect(parse(json.text).messages.map((m) => m.id)).toEqual([4, 5]);
    const markdown = await transcript({ fromState: true, last: 2 });
    expect(markdown.text).toContain('*4 older messages left out to keep the newest 2; the newest 2 follow.*');
    expect(markdown.report).toMatchObject({ messagesShown: 2, leftOut: 4 });
  });

  it('--last larger than the conversation: all of it, nothing left out', async () => {
    saveState(3);
    const run = await transcript({ fromState: true, format: 'json', last: 10 });
    expect(parse(run.text)).toMatchObject({ messagesShown: 3, leftOut: 0 });
  });

  it.each(['markdown', 'json'] as const)(
    '--max-bytes (%s): the newest whole messages that fit, header included; as many as fit',
    async (format) => {
      saveState(12);
      const whole = await transcript({ fromState: true, format });
      let shownBefore = Number.POSITIVE_INFINITY;
      for (const max of [whole.report.bytes, 20_000, 8_000, 3_000, 1_500]) {
        const run = await transcript({ fromState: true, format, maxBytes: max });
        expect(run.report.bytes).toBeLessThanOrEqual(max);
        expect(run.report.bytes).toBe(Buffer.byteLength(run.text));
        expect(run.report.messagesShown).toBeLessThanOrEqual(shownBefore);
        shownBefore = run.report.messagesShown;
        if (format === 'json') expect(parse(run.text).messagesShown).toBe(run.report.messagesShown);
        if (run.report.leftOut > 0)
          expect(run.text).toContain(
            format === 'json' ? `"leftOut": ${run.report.leftOut}` : `to fit ${max} bytes`,
          );
        // One byte less than what was written: one message fewer (or the same, if a header shrank).
        if (run.report.messagesShown > 0) {
          const tighter = await transcript({ fromState: true, format, maxBytes: run.report.bytes - 1 });
          expect(tighter.report.messagesShown).toBe(run.report.messagesShown - 1);
        }
      }
      expect(
        (await transcript({ fromState: true, format, maxBytes: whole.report.bytes })).report.messagesShown,
      ).toBe(12);
    },
  );

  it('--max-bytes too small for the header: a usage error', async () => {
    saveState(2);
    const run = transcript({ fromState: true, maxBytes: 20 });
    await expect(run).rejects.toThrow(
      /^--max-bytes 20 cannot hold even the transcript's header \(\d+ bytes\)$/,
    );
    await expect(run).rejects.toMatchObject({ exitCode: EXIT.usage, usage: 'transcript' });
  });

  it('--max-bytes exactly the header: the header alone, every message left out', async () => {
    saveState(2);
    const refused = await transcript({ fromState: true, format: 'json', maxBytes: 20 }).catch(
      (e: Error) => e,
    );
    const header = Number(/\((\d+) bytes\)$/.exec(String((refused as Error).message))?.[1]);
    const run = await transcript({ fromState: true, format: 'json', maxBytes: header });
    expect(run.report).toMatchObject({ bytes: header, messagesShown: 0, leftOut: 2 });
    expect(parse(run.text).messages).toEqual([]);
  });

  it('--last and --max-bytes: the header names the one that left messages out', async () => {
    const messages = saveState(6);
    const byCount = await transcript({ fromState: true, format: 'json', last: 3, maxBytes: 1_000_000 });
    expect(parse(byCount.text)).toMatchObject({ messagesShown: 3, last: messages[5].time });
    const counted = await transcript({ fromState: true, last: 3, maxBytes: 1_000_000 });
    expect(counted.text).toContain('*3 older messages left out to keep the newest 3; the newest 3 follow.*');
    const whole = await transcript({ fromState: true, last: 3 });
    const max = whole.report.bytes - 1;
    const bySize = await transcript({ fromState: true, last: 3, maxBytes: max });
    expect(bySize.report).toMatchObject({ messagesShown: 2, leftOut: 4 });
    expect(bySize.text).toContain(`*4 older messages left out to fit ${max} bytes; the newest 2 follow.*`);
  });

  it('a time that is not a string is not shown as the first', async () => {
    mkdirSync(join(w.work.stateFile, '..'), { recursive: true });
    const message = (id: number, time: unknown) => ({ id, message: `m${id}`, role: 'agent', time });
    writeFileSync(
      w.work.stateFile,
      JSON.stringify({ version: 1, messages: [message(0, 5), message(1, '2026-12-06T10:00:01Z')] }),
    );
    const run = await transcript({ fromState: true, format: 'json', last: 1 });
    expect(parse(run.text)).not.toHaveProperty('first');
    expect(parse(run.text)).toMatchObject({ messagesShown: 1, last: '2026-12-06T10:00:01Z' });
  });

  it('a long conversation is written in a few large pieces, not one per message', async () => {
    saveState(400);
    const run = await transcript({ fromState: true });
    expect(run.report.messagesShown).toBe(400);
    expect(run.report.bytes).toBeGreaterThan(256 * 1024);
    expect(run.writes).toBeGreaterThan(1);
    expect(run.writes).toBeLessThan(20);
  });
});
