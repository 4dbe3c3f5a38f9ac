import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LastElementsScanner,
  NotJsonError,
  type ScanOptions,
} from '../../src/core/agentapi/last-elements.js';

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

describe('LastElementsScanner tells an escaped quote by the backslashes before it', () => {
  // Runs of backslashes of either parity before a quote, split at every byte: a run that
  // straddles two chunks must count as one.
  const contents = [0, 1, 2, 3, 4, 5].flatMap((k) => [
    `${'\\'.repeat(k)}"`,
    `a${'\\'.repeat(k)}"b${'\\'.repeat(k)}`,
  ]);
  it.each(contents)('%j at every split point', (text) => {
    const messages = [
      { id: 1, content: text, role: 'agent', time: 't' },
      { id: 2, content: `${text}"`, role: 'user', time: 't' },
    ];
    const body = JSON.stringify({ messages });
    for (let at = 1; at < Buffer.byteLength(body); at++) {
      expect(scan(body, 2, [at, body.length])).toEqual({ total: 2, kept: messages });
    }
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
    ['{"messages":[]}]', /never opened/],
    ['PATH=/bin\u0000HOME=/root', /not a JSON object/],
    ['\u0000\u0000{"messages":[]}', /not a JSON object/],
    ['"messages"', /not a JSON object/],
    ['{"messages":[]} {"messages":[]}', /more follows the JSON object/],
    ['{"messages":[]}x', /more follows the JSON object/],
  ])('%j', (text, reason) => {
    expect(() => scan(text, 5)).toThrow(NotJsonError);
    expect(() => scan(text, 5)).toThrow(reason);
  });

  it('says so at the first byte that cannot be JSON, not after reading the rest', () => {
    const scanner = new LastElementsScanner({ keep: 1, fields: FIELDS });
    expect(() => scanner.push(new Uint8Array([0, 0, 0]))).toThrow(/not a JSON object/);
  });

  it('whitespace around the object is JSON', () => {
    expect(scan(' \n\t{"messages":[]}\r\n ', 5)).toEqual({ total: 0, kept: [] });
  });

  it('accepts an empty list', () => {
    expect(scan('{"messages":[]}', 5)).toEqual({ total: 0, kept: [] });
  });
});

describe('LastElementsScanner gives every element as it ends (each), kept or not', () => {
  it('in order, the same JSON the kept ones get, whatever the chunking; keep 0 keeps none', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1 }),
        fc.integer({ min: 0, max: 3 }),
        (contents, sizes, keep) => {
          const body = JSON.stringify({
            messages: contents.map((content, id) => ({ id, content, role: 'agent' })),
          });
          const seen: { index: number; json: string }[] = [];
          const found = scan(body, keep, sizes, {
            each: (e) => seen.push({ index: e.index, json: e.json }),
          });
          expect(seen.map((e) => e.index)).toEqual(contents.map((_, i) => i));
          expect(seen.map((e) => JSON.parse(e.json).content)).toEqual(contents);
          expect(found.kept).toEqual(
            seen.slice(seen.length - Math.min(keep, seen.length)).map((e) => JSON.parse(e.json)),
          );
        },
      ),
    );
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
            // Some elements lack a field: the budget counts only what is written back.
            timed: fc.boolean(),
          }),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 0, max: 400 }),
        (list, keep, budget) => {
          const messages = list.map((m, id) => ({
            id,
            content: m.content,
            role: m.role,
            ...(m.timed ? { time: 't' } : {}),
          }));
          const text = JSON.stringify({ messages });
          const scanner = new LastElementsScanner({
            keep,
            fields: FIELDS,
            // The content kept as raw bytes (tail mode, never cut here) is counted like the rest.
            tailField: 'content',
            tailBytes: 1000,
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

/** JSON text of `value` with whitespace from `ws` (cycled) between every two tokens. */
function spaced(value: unknown, ws: string[]): string {
  let k = 0;
  const w = () => ws[k++ % ws.length];
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${w()}${v.map((x) => `${write(x)}${w()}`).join(`,${w()}`)}]`;
    if (v && typeof v === 'object') {
      const entries = Object.entries(v).map(
        ([key, x]) => `${JSON.stringify(key)}${w()}:${w()}${write(x)}${w()}`,
      );
      return `{${w()}${entries.join(`,${w()}`)}}`;
    }
    return JSON.stringify(v);
  };
  return `${w()}${write(value)}${w()}`;
}

describe('LastElementsScanner, whatever the formatting and the extra fields', () => {
  const space = fc.array(fc.constantFrom('', ' ', '\n', '\t', '\r\n', '  '), { minLength: 1, maxLength: 6 });
  const extraValue = fc.oneof(
    fc.integer(),
    fc.string(),
    fc.constant(null),
    fc.boolean(),
    fc.constant({ id: 99, content: 'nested decoy', role: 'user' }),
    fc.constant([1, 'content', { role: 'agent' }]),
  );
  const message = fc.record({
    id: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 })),
    content: fc.string(),
    role: fc.constantFrom('user', 'agent'),
    time: fc.constantFrom('2026-01-01T00:00:00Z', 't'),
    extra: fc.option(extraValue),
    order: fc.nat(23),
  });
  /** The message with its keys in one of their orders, the extra field (if any) among them. */
  const shaped = (m: {
    id: number;
    content: string;
    role: string;
    time: string;
    extra: unknown;
    order: number;
  }) => {
    const keys = ['id', 'content', 'role', 'time', ...(m.extra === null ? [] : ['extra'])];
    const ordered = [...keys.slice(m.order % keys.length), ...keys.slice(0, m.order % keys.length)];
    const source = { ...m } as Record<string, unknown>;
    return Object.fromEntries(ordered.map((k) => [k, source[k]]));
  };

  it('keeps the same elements, with the same indexes, however the body is spaced and the keys ordered', () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 12 }),
        space,
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 0, max: 3 })),
        (list, ws, keep, sizes, version) => {
          const top: Record<string, unknown> = { $schema: 'x', messages: list.map(shaped) };
          if (version !== null) top.version = version;
          const text = spaced(top, ws);
          const result = scan(text, keep, sizes, { topFields: ['version'] });
          const scanner = new LastElementsScanner({ keep, fields: FIELDS, topFields: ['version'] });
          scanner.push(Buffer.from(text));
          const raw = scanner.end();
          expect(result.total).toBe(list.length);
          const wanted = list.slice(Math.max(0, list.length - keep)).map((m) => ({
            id: m.id,
            content: m.content,
            role: m.role,
            time: m.time,
          }));
          // Fields in FIELDS order, whatever their order in the body.
          expect(keep === 0 ? [] : result.kept.map((k) => JSON.stringify(k))).toEqual(
            keep === 0 ? [] : wanted.map((w) => JSON.stringify(w)),
          );
          expect(raw.kept.map((k) => k.index)).toEqual(
            keep === 0 ? [] : wanted.map((_, i) => list.length - wanted.length + i),
          );
          expect(raw.top.get('version')).toBe(version === null ? undefined : String(version));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('counts only, keeping nothing and calling accept on nothing, when keep is 0', () => {
    let asked = 0;
    const scanner = new LastElementsScanner({
      keep: 0,
      fields: FIELDS,
      accept: () => {
        asked++;
        return false;
      },
    });
    scanner.push(Buffer.from('{"messages":[{"id":0,"role":"tool"},{"id":1}]}'));
    expect(scanner.end()).toMatchObject({ total: 2, kept: [], rejected: 0 });
    expect(asked).toBe(0);
  });

  it('a field over fieldBytes is named with that limit; an element with a problem is kept, not judged', () => {
    const scanner = new LastElementsScanner({
      keep: 2,
      fields: FIELDS,
      fieldBytes: 10,
      accept: () => false,
    });
    scanner.push(Buffer.from('{"messages":[{"id":0,"time":"0123456789ab","role":"agent"}]}'));
    const { kept, rejected } = scanner.end();
    expect(kept[0].problem).toBe('time is longer than 10 bytes');
    expect(rejected).toBe(0);
  });

  it('tails of growing and shrinking sizes, one after another, each exact (reused buffers never leak into the next)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 8 }),
        fc.nat(9),
        (lengths, seed) => {
          const messages = lengths.map((n, id) => ({
            id,
            content: String.fromCharCode(97 + ((id + seed) % 26)).repeat(n),
            role: 'agent',
            time: 't',
          }));
          const scanner = new LastElementsScanner({
            keep: 2,
            fields: FIELDS,
            tailField: 'content',
            tailBytes: 100_000,
          });
          const text = Buffer.from(JSON.stringify({ messages }));
          for (let at = 0; at < text.length; at += 4096) scanner.push(text.subarray(at, at + 4096));
          const kept = scanner.end().kept.map((k) => JSON.parse(k.json.toString()));
          expect(kept).toEqual(messages.slice(-2));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a tail exactly as long as tailBytes is not cut; one byte more is', () => {
    for (const [length, cut] of [
      [64, false],
      [65, true],
    ] as const) {
      const scanner = new LastElementsScanner({
        keep: 1,
        fields: FIELDS,
        tailField: 'content',
        tailBytes: 64,
      });
      scanner.push(Buffer.from(JSON.stringify({ messages: [{ id: 0, content: 'c'.repeat(length) }] })));
      expect(scanner.end().kept[0].cut).toBe(cut);
    }
  });
});
