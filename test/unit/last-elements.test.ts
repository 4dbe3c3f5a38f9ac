import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LastElementsScanner, NotJsonError, type ScanOptions } from '../../src/core/last-elements.js';

const FIELDS = ['id', 'content', 'role', 'time'];

/** Feeds `text` to a scanner in the given chunk sizes (cycled). */
function scan(
  text: string,
  keep: number,
  sizes: number[] = [text.length || 1],
  options: Partial<ScanOptions> = {},
) {
  const bytes = Buffer.from(text, 'utf8');
  const scanner = new LastElementsScanner({ keep, fields: FIELDS, ...options });
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]);
    scanner.push(new Uint8Array(bytes.subarray(at, at + size)));
    at += size;
  }
  const result = scanner.end();
  return { total: result.total, kept: result.kept.map((e) => JSON.parse(e.json.toString('utf8'))) };
}

const content = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('{"[', ']}\\"', '"messages":[1]', '─│你🚀\n\t\\'),
);
const message = fc.record({
  id: fc.nat(),
  content,
  role: fc.constantFrom('user', 'agent'),
  time: fc.constant('2026-01-01T00:00:00Z'),
});
// Other top-level keys, some of them decoys: a nested "messages", strings that look like JSON.
const extra = fc.dictionary(
  fc.constantFrom('$schema', 'status', 'meta', 'note'),
  fc.oneof(
    fc.string(),
    fc.constant({ messages: [{ id: -1 }] }),
    fc.constant(['messages', '[', '{']),
    fc.integer(),
  ),
);

describe('LastElementsScanner (properties against JSON.parse)', () => {
  it('keeps exactly the last N elements and counts them all, however the bytes are chunked', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 30 }),
        extra,
        fc.boolean(),
        fc.constantFrom(undefined, 1, 2),
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 8 }),
        (messages, others, messagesFirst, indent, keep, sizes) => {
          const body = messagesFirst ? { messages, ...others } : { ...others, messages };
          const text = JSON.stringify(body, null, indent);
          const result = scan(text, keep, sizes);
          expect(result.total).toBe(messages.length);
          expect(result.kept).toEqual(keep === 0 ? [] : messages.slice(Math.max(0, messages.length - keep)));
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('LastElementsScanner refuses what is not a messages body', () => {
  it.each([
    ['', /no "messages" list/],
    ['{"messages":[{"id":0,"content":"abc', /ends in the middle/],
    ['{"messages":[{"id":0}', /ends in the middle/],
    ['[1,2,3]', /not a JSON object/],
    ['{"other":[{"id":1}]}', /no "messages" list/],
    ['{"messages":[1,2]}', /messages\[0\] is not an object/],
    ['{"messages":[{"id":0},"x"]}', /messages\[1\] is not an object/],
    ['{"messages":[]}}', /never opened/],
  ])('%j', (text, reason) => {
    expect(() => scan(text, 5)).toThrow(NotJsonError);
    expect(() => scan(text, 5)).toThrow(reason);
  });

  it('accepts an empty list', () => {
    expect(scan('{"messages":[]}', 5)).toEqual({ total: 0, kept: [] });
  });
});

describe('LastElementsScanner keeps memory bounded and stays exact where it matters', () => {
  // Contents whose JSON escapes and UTF-8 sequences make cut points tricky.
  const tricky = fc
    .array(
      fc.oneof(
        fc.string(),
        fc.constantFrom('\\', '\\\\', '"', '\n', '\u0001', '─│', '你好', '🚀', '\u2028', '\ud800', '<&>'),
      ),
      { maxLength: 60 },
    )
    .map((parts) => parts.join(''));

  it('a content longer than tailBytes keeps a valid tail: a suffix of the original (but for up to 4 hex digits of a cut escape)', () => {
    fc.assert(
      fc.property(
        tricky,
        fc.integer({ min: 8, max: 80 }),
        fc.array(fc.integer({ min: 1, max: 13 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (content, tailBytes, sizes, asciiOnly) => {
          const message = { id: 1, content, role: 'agent', time: 't' };
          // Go's encoder escapes <, > and & as \u003c...; both encodings must work.
          let text = JSON.stringify({ messages: [message] });
          if (asciiOnly) text = text.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
          const scanner = new LastElementsScanner({
            keep: 1,
            fields: FIELDS,
            tailField: 'content',
            tailBytes,
          });
          const bytes = Buffer.from(text, 'utf8');
          for (let at = 0, k = 0; at < bytes.length; k++) {
            const size = sizes[k % sizes.length];
            scanner.push(bytes.subarray(at, at + size));
            at += size;
          }
          const [kept] = scanner.end().kept;
          const parsed = JSON.parse(kept.json.toString('utf8'));
          const rawContent = JSON.stringify(parsed.content);
          expect(parsed).toMatchObject({ id: 1, role: 'agent', time: 't' });
          const originalRaw = /"content":"((?:[^"\\]|\\.)*)"/.exec(text)?.[1] ?? '';
          if (Buffer.byteLength(originalRaw) <= tailBytes) {
            expect(kept.cut).toBe(false);
            expect(parsed.content).toBe(content);
            return;
          }
          expect(kept.cut).toBe(true);
          const tail: string = parsed.content;
          expect([0, 1, 2, 3, 4].some((k) => content.endsWith(tail.slice(k)))).toBe(true);
          // Never more than tailBytes raw bytes held, and never much less.
          const heldRaw = /"content":"((?:[^"\\]|\\.)*)"/.exec(kept.json.toString('utf8'))?.[1] ?? '';
          expect(Buffer.byteLength(heldRaw)).toBeLessThanOrEqual(tailBytes);
          // It starts on a whole character: nothing decodes to U+FFFD.
          expect(heldRaw).not.toContain('\ufffd');
          expect(Buffer.byteLength(heldRaw)).toBeGreaterThanOrEqual(tailBytes - 4);
          expect(rawContent.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps the last accepted elements within the budget, newest always, and counts the refused', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            content: fc.string({ maxLength: 40 }),
            role: fc.constantFrom('user', 'agent', 'tool'),
          }),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 400 }),
        (list, keep, budget) => {
          const messages = list.map((m, id) => ({ id, content: m.content, role: m.role, time: 't' }));
          const text = JSON.stringify({ messages });
          const scanner = new LastElementsScanner({
            keep,
            fields: FIELDS,
            budgetBytes: budget,
            accept: (f) => f.get('role') !== '"tool"',
          });
          scanner.push(Buffer.from(text));
          const result = scanner.end();
          const accepted = messages.filter((m) => m.role !== 'tool');
          expect(result.total).toBe(messages.length);
          expect(result.rejected).toBe(messages.length - accepted.length);
          const kept = result.kept.map((e) => JSON.parse(e.json.toString('utf8')));
          // A suffix of the accepted ones, at most `keep`, the newest always among them.
          expect(kept).toEqual(accepted.slice(accepted.length - kept.length));
          expect(kept.length).toBeLessThanOrEqual(keep);
          if (accepted.length > 0) expect(kept.length).toBeGreaterThan(0);
          const older = result.kept.slice(0, -1).reduce((sum, e) => sum + e.json.length, 0);
          expect(older).toBeLessThanOrEqual(budget);
          // Nothing was dropped that the budget had room for.
          const next = accepted[accepted.length - kept.length - 1];
          if (next && kept.length < keep) {
            expect(older + Buffer.byteLength(JSON.stringify(next))).toBeGreaterThan(budget);
          }
          // Refused elements report their role.
          if (result.rejected) expect(result.firstRejected?.get('role')).toBe('"tool"');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('skips fields it does not capture, however large or deep, and names an unreadable one', () => {
    const huge = 'k'.repeat(100_000);
    const body = {
      [huge]: 1,
      messages: [
        { [huge]: { nested: [huge] }, id: 0, content: 'a', role: 'user', extra: huge, time: 't0' },
        { id: 1, content: 'b', role: 'agent', time: 't'.repeat(2000) },
        { id: { no: 1 }, content: 'c', role: 'agent', time: 't2' },
      ],
    };
    const scanner = new LastElementsScanner({ keep: 3, fields: FIELDS, fieldBytes: 1024 });
    scanner.push(Buffer.from(JSON.stringify(body)));
    const { kept } = scanner.end();
    expect(JSON.parse(kept[0].json.toString())).toEqual({ id: 0, content: 'a', role: 'user', time: 't0' });
    expect(kept[1].problem).toBe('time is longer than 1024 bytes');
    expect(kept[2].problem).toBe('id is not a single value');
  });

  it('captures top-level fields such as a format version', () => {
    const scanner = new LastElementsScanner({ keep: 0, fields: [], topFields: ['version'] });
    scanner.push(Buffer.from('{"version": 1 ,"messages":[{"id":0}],"other":{"version":2}}'));
    const result = scanner.end();
    expect(result.top.get('version')).toBe('1');
    expect(result.total).toBe(1);
  });
});
