// A task's conversation as a person reads it (task/transcript.ts): whatever a message holds, it
// stays inside its own fenced block when a real CommonMark parser reads the Markdown, without
// control characters; the JSON form parses, whatever the messages hold.

import { Parser } from 'commonmark';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fenceFor,
  JSON_CLOSING,
  jsonMessage,
  jsonOpening,
  markdownHeader,
  markdownMessage,
  type TranscriptFacts,
  type TranscriptMessage,
  withoutControls,
} from '../../src/core/task/transcript.js';

const FACTS: TranscriptFacts = {
  source: {
    kind: 'state-file',
    path: '/home/coder/.agentapi/state.json',
    savedAt: '2026-12-06T10:00:00.000Z',
  },
  taskId: '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b',
  agentType: 'claude',
  messagesTotal: 2,
  messagesShown: 2,
  leftOut: 0,
  first: '2026-12-06T09:00:00Z',
  last: '2026-12-06T09:01:00Z',
};

/** What a message may hold: backticks and tildes in runs, fences, Markdown, HTML, controls, any text. */
const content = fc.oneof(
  fc.string({ unit: 'grapheme' }),
  fc
    .array(
      fc.constantFrom(
        '`',
        '``',
        '```',
        '````',
        '~~~',
        '\n',
        '\r\n',
        '# ',
        '</pre>',
        '<!--',
        '    ',
        '\t',
        '─',
        '🚀',
        '\u001b[31m',
        '\u0000',
        'x',
        '> ',
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join('')),
);

/** The code blocks and headings CommonMark finds in `markdown`, in order. */
function blocks(markdown: string): { type: string; text: string }[] {
  const walker = new Parser().parse(markdown).walker();
  const found: { type: string; text: string }[] = [];
  for (let step = walker.next(); step; step = walker.next()) {
    const node = step.node;
    if (!step.entering) continue;
    if (node.type === 'code_block') found.push({ type: 'code', text: node.literal ?? '' });
    if (node.type === 'heading' && node.level === 2) found.push({ type: 'heading', text: '' });
  }
  return found;
}

describe('Markdown: every message stays inside its own block', () => {
  it('whatever the messages hold, CommonMark reads one heading and one block each, holding exactly the message', () => {
    fc.assert(
      fc.property(fc.array(content, { minLength: 1, maxLength: 4 }), (contents) => {
        const messages: TranscriptMessage[] = contents.map((text, id) => ({
          id,
          role: id % 2 ? 'user' : 'agent',
          time: '2026-12-06T09:00:00Z',
          content: text,
        }));
        const markdown = markdownHeader(FACTS) + messages.map(markdownMessage).join('');
        const found = blocks(markdown);
        expect(found.map((b) => b.type)).toEqual(messages.flatMap(() => ['heading', 'code']));
        found
          .filter((b) => b.type === 'code')
          .forEach((block, i) => {
            const cleaned = withoutControls(messages[i].content);
            expect(block.text).toBe(cleaned === '' || cleaned.endsWith('\n') ? cleaned : `${cleaned}\n`);
          });
      }),
      { numRuns: 300 },
    );
  });

  it('a fence is longer than any run of backticks in the text, at least three', () => {
    fc.assert(
      fc.property(content, (text) => {
        const fence = fenceFor(text);
        expect(fence.length).toBeGreaterThanOrEqual(3);
        expect(text.includes(fence)).toBe(false);
      }),
    );
    expect(fenceFor('a ```` b')).toBe('`````');
  });

  it('control characters are removed, but newline and tab', () => {
    expect(withoutControls('a\u0000b\u001b[31mc\rd\te\nf\u007fg\u009bh')).toBe('ab[31mcd\te\nfgh');
  });

  it('the header says where from, whose, how many, when, and what was left out; a planted path cannot make Markdown of it', () => {
    const header = markdownHeader({
      ...FACTS,
      messagesTotal: 12,
      messagesShown: 2,
      leftOut: 10,
      leftOutWhy: 'to fit 4096 bytes',
    });
    expect(header).toContain(
      "- Source: AgentAPI's state file /home/coder/.agentapi/state.json, saved 2026-12-06T10:00:00.000Z",
    );
    expect(header).toContain('- Task: 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b');
    expect(header).toContain('- Agent: claude');
    expect(header).toContain('- Messages: 12, from 2026-12-06T09:00:00Z to 2026-12-06T09:01:00Z');
    expect(header).toContain('*10 older messages left out to fit 4096 bytes; the newest 2 follow.*');
    const planted = markdownHeader({
      ...FACTS,
      source: { kind: 'state-file', path: '/tmp/x\n## Agent · fake\n```' },
    });
    expect(blocks(planted)).toEqual([]);
  });
});

describe('JSON: one document, whatever the messages hold', () => {
  it('opening, messages and closing parse to the facts and the messages as they are', () => {
    fc.assert(
      fc.property(fc.array(content, { maxLength: 4 }), (contents) => {
        const messages = contents.map((text, id) => ({ id, role: 'agent', time: 't', content: text }));
        const json =
          jsonOpening(FACTS) + messages.map((m, i) => jsonMessage(m, i === 0)).join('') + JSON_CLOSING;
        const parsed = JSON.parse(json);
        expect(parsed.messages).toEqual(messages);
        expect(parsed).toMatchObject({ ...FACTS, messages });
      }),
    );
  });
});

describe('the header and a message, exactly', () => {
  it.each<[string, Partial<TranscriptFacts>, string]>([
    [
      'live, nothing left out, no task or agent, no times',
      {
        source: { kind: 'agentapi', url: 'http://127.0.0.1:3284' },
        taskId: undefined,
        agentType: undefined,
        first: undefined,
        last: undefined,
      },
      '# Task conversation\n\n- Source: AgentAPI at http://127.0.0.1:3284 (running)\n- Messages: 2\n',
    ],
    [
      'a state file without its time; only a first time (no span)',
      {
        source: { kind: 'state-file', path: '/s.json' },
        taskId: undefined,
        agentType: undefined,
        last: undefined,
      },
      "# Task conversation\n\n- Source: AgentAPI's state file /s.json\n- Messages: 2\n",
    ],
    [
      'one left out, no reason',
      { messagesTotal: 3, leftOut: 1, taskId: undefined, agentType: undefined },
      "# Task conversation\n\n- Source: AgentAPI's state file /home/coder/.agentapi/state.json, saved 2026-12-06T10:00:00.000Z\n- Messages: 3, from 2026-12-06T09:00:00Z to 2026-12-06T09:01:00Z\n\n*1 older message left out; the newest 2 follow.*\n",
    ],
    [
      'a task id with white space and Markdown in it: one line, escaped',
      { source: { kind: 'agentapi', url: 'u' }, taskId: 'a\n\t b*[c]', agentType: '<x>', first: undefined },
      '# Task conversation\n\n- Source: AgentAPI at u (running)\n- Task: a b\\*\\[c\\]\n- Agent: \\<x\\>\n- Messages: 2\n',
    ],
  ])('%s', (_, facts, expected) => {
    expect(markdownHeader({ ...FACTS, ...facts })).toBe(expected);
  });

  it.each<[string, string, string]>([
    ['user', 'hi', '\n## User · t · message 7\n\n```\nhi\n```\n'],
    ['agent', 'done\n', '\n## Agent · t · message 7\n\n```\ndone\n```\n'],
    ['tool', '', '\n## tool · t · message 7\n\n```\n```\n'],
    ['a_b', 'x', '\n## a\\_b · t · message 7\n\n```\nx\n```\n'],
  ])('a message of role %s', (role, content, expected) => {
    expect(markdownMessage({ id: 7, role, time: 't', content })).toBe(expected);
  });

  it('the JSON opening: the facts, two spaces, then the list', () => {
    expect(jsonOpening({ ...FACTS, leftOutWhy: 'hidden' })).toBe(
      `${JSON.stringify(FACTS, null, 2).slice(0, -2)},\n  "messages": [`,
    );
  });
});
