import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LastElementsScanner, NotJsonError } from '../../src/core/last-elements.js';

/** Feeds `text` to a scanner in the given chunk sizes (cycled). */
function scan(text: string, keep: number, sizes: number[] = [text.length || 1]) {
  const bytes = Buffer.from(text, 'utf8');
  const scanner = new LastElementsScanner(keep);
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]);
    scanner.push(new Uint8Array(bytes.subarray(at, at + size)));
    at += size;
  }
  const result = scanner.end();
  return { total: result.total, kept: result.kept.map((b) => JSON.parse(b.toString('utf8'))) };
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
