import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRfc3339 } from '../../src/core/coderd/rules.js';
import {
  buildSnapshot,
  EMPTY_BODY,
  jsonStringBytes,
  type SnapshotMessage,
  SnapshotTooSmallError,
  TRUNCATION_MARKER,
  tailStart,
  ZERO_TIME,
} from '../../src/core/coderd/snapshot.js';
import { conversation } from '../support/transcript.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

// Content mixing everything that makes bytes differ from characters: ASCII, JSON escapes,
// control characters, box drawing and CJK (3 bytes), emoji (surrogate pairs), lone surrogates.
const piece = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('─│┌┐└┘╭╮', '你好世界', '🚀👩‍💻', '"\\\n\t\u0000\u001f', '\ud800', '\udc00x', '\u2028'),
);
const content = fc.array(piece, { maxLength: 40 }).map((parts) => parts.join(''));
const message = (id: number) =>
  fc.record({
    content,
    role: fc.constantFrom<'user' | 'agent'>('user', 'agent'),
    time: fc.constant(new Date(1_767_225_600_000 + id * 1000).toISOString()),
  });
const messages = fc
  .array(message(0), { maxLength: 25 })
  .map((list): SnapshotMessage[] =>
    list.map((m, id) => ({ id, content: m.content, role: m.role, time: m.time })),
  );

describe('buildSnapshot (properties over random multi-byte transcripts)', () => {
  it('always parses, fits the budget, keeps the newest message, order and ids', () => {
    fc.assert(
      fc.property(
        messages,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 200, max: 20_000 }),
        (list, max, budget) => {
          const snap = buildSnapshot(list, max, budget);
          expect(snap.bytes).toBe(bytes(snap.body));
          expect(snap.bytes).toBeLessThanOrEqual(budget);
          const parsed = JSON.parse(snap.body) as { messages: SnapshotMessage[] };
          expect(parsed.messages).toHaveLength(snap.kept);
          const offered = list.slice(-max);
          expect(snap.kept + snap.dropped).toBe(offered.length);
          if (list.length === 0) {
            expect(snap.body).toBe(EMPTY_BODY);
            return;
          }
          // The kept messages are the newest ones, in order, with their ids.
          const expected = offered.slice(offered.length - snap.kept);
          expect(parsed.messages.map((m) => m.id)).toEqual(expected.map((m) => m.id));
          expect(parsed.messages.at(-1)?.id).toBe(list.at(-1)?.id);
          for (const m of parsed.messages) expect(Object.keys(m)).toEqual(['id', 'content', 'role', 'time']);
          // Untouched messages are byte-for-byte the originals; a cut one is a tail of the original.
          parsed.messages.forEach((m, i) => {
            if (snap.contentTruncated) {
              const tail = m.content.startsWith(TRUNCATION_MARKER)
                ? m.content.slice(TRUNCATION_MARKER.length)
                : m.content;
              expect(expected[i].content.endsWith(tail)).toBe(true);
            } else {
              expect(m.content).toBe(expected[i].content);
            }
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('keeps everything, untouched, when it fits', () => {
    fc.assert(
      fc.property(messages, (list) => {
        const snap = buildSnapshot(list, 100, 10_000_000);
        expect(snap.body).toBe(JSON.stringify({ messages: list }));
        expect(snap.contentTruncated).toBe(false);
      }),
    );
  });

  it('uses the budget well: one more message would not have fitted', () => {
    fc.assert(
      fc.property(messages, fc.integer({ min: 200, max: 5_000 }), (list, budget) => {
        const snap = buildSnapshot(list, 25, budget);
        if (snap.contentTruncated || snap.dropped === 0) return;
        const oneMore = list.slice(list.length - snap.kept - 1);
        expect(bytes(JSON.stringify({ messages: oneMore }))).toBeGreaterThan(budget);
      }),
    );
  });

  it('counts bytes, not characters: 10 real agent screens fit 64 KiB by bytes', () => {
    const screens = conversation(43);
    const snap = buildSnapshot(screens, 10, 65_536);
    expect(snap.bytes).toBeLessThanOrEqual(65_536);
    const chars = JSON.stringify({ messages: screens.slice(-10) }).length;
    expect(bytes(JSON.stringify({ messages: screens.slice(-10) }))).toBeGreaterThan(chars);
  });

  it('cuts a single huge CJK message to its tail behind the marker, on a character boundary', () => {
    const huge: SnapshotMessage = {
      id: 7,
      content: `start ${'界'.repeat(100_000)} end`,
      role: 'agent',
      time: 't',
    };
    const snap = buildSnapshot([huge], 10, 65_536);
    const kept = (JSON.parse(snap.body) as { messages: SnapshotMessage[] }).messages[0];
    expect(snap.contentTruncated).toBe(true);
    expect(kept.content.startsWith(TRUNCATION_MARKER)).toBe(true);
    expect(kept.content.endsWith('界 end')).toBe(true);
    // Filled to within one 3-byte character of the budget.
    expect(snap.bytes).toBeGreaterThan(65_536 - 3);
  });

  it('never splits a surrogate pair', () => {
    const emoji: SnapshotMessage = { id: 0, content: '🚀'.repeat(1000), role: 'agent', time: 't' };
    for (let budget = 120; budget < 200; budget++) {
      const kept = (JSON.parse(buildSnapshot([emoji], 1, budget).body) as { messages: SnapshotMessage[] })
        .messages[0];
      const tail = kept.content.replace(TRUNCATION_MARKER, '');
      expect(tail).toBe('🚀'.repeat(tail.length / 2));
    }
  });

  it.each([
    { budget: 14, ok: false },
    { budget: 15, ok: true },
  ])('an empty conversation needs $budget bytes: ok=$ok', ({ budget, ok }) => {
    if (ok) expect(buildSnapshot([], 10, budget).body).toBe(EMPTY_BODY);
    else expect(() => buildSnapshot([], 10, budget)).toThrow(SnapshotTooSmallError);
  });

  it('refuses a budget that cannot hold the newest message even emptied', () => {
    const m: SnapshotMessage = { id: 1, content: 'hello', role: 'user', time: '2026-01-01T00:00:00Z' };
    expect(() => buildSnapshot([m], 10, 40)).toThrow(/cannot hold the newest message/);
  });
});

describe('jsonStringBytes and tailStart agree with JSON.stringify', () => {
  it('jsonStringBytes is the byte length of the quoted JSON string minus its quotes', () => {
    fc.assert(
      fc.property(content, (s) => {
        expect(jsonStringBytes(s)).toBe(bytes(JSON.stringify(s)) - 2);
      }),
      { numRuns: 1000 },
    );
  });

  it('tailStart gives the longest tail within the budget', () => {
    fc.assert(
      fc.property(content, fc.nat(400), (s, budget) => {
        const start = tailStart(s, budget);
        expect(jsonStringBytes(s.slice(start))).toBeLessThanOrEqual(budget);
        if (start > 0) {
          // Taking one more code point (both halves of a pair) would go over.
          const pair =
            start >= 2 && /[\udc00-\udfff]/.test(s[start - 1]) && /[\ud800-\udbff]/.test(s[start - 2]);
          expect(jsonStringBytes(s.slice(start - (pair ? 2 : 1)))).toBeGreaterThan(budget);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the byte costs at every UTF-8 and JSON boundary', () => {
  it.each([
    ['a', 1],
    ['\u007f', 1],
    ['\u0080', 2],
    ['\u07ff', 2],
    ['\u0800', 3],
    ['\uffff', 3],
    ['\ud83d\ude80', 4],
    ['\ud800', 6],
    ['\udc00', 6],
    ['\udc00\ud800', 12],
    ['\u001f', 6],
    ['\u0000', 6],
    ['\u000b', 6],
    ['\n', 2],
    ['\t', 2],
    ['\b', 2],
    ['\f', 2],
    ['\r', 2],
    ['"', 2],
    ['\\', 2],
    [' ', 1],
  ])('%j costs %i bytes, as JSON.stringify writes it', (s, cost) => {
    expect(jsonStringBytes(s)).toBe(cost);
    expect(bytes(JSON.stringify(s)) - 2).toBe(cost);
  });

  it('tailStart of a budget that holds everything is 0; of nothing, the end', () => {
    fc.assert(
      fc.property(content, (s) => {
        expect(tailStart(s, jsonStringBytes(s))).toBe(0);
        expect(tailStart(s, 0)).toBe(s.length);
      }),
    );
  });
});

describe('buildSnapshot at its boundaries', () => {
  const m = (id: number, content = 'hello'): SnapshotMessage => ({
    id,
    content,
    role: 'user',
    time: '2026-01-01T00:00:00Z',
  });
  const exact = (list: SnapshotMessage[]) => bytes(JSON.stringify({ messages: list }));

  it('a body exactly at the budget keeps everything, untouched; one byte less drops the oldest', () => {
    const list = [m(0), m(1), m(2)];
    expect(buildSnapshot(list, 10, exact(list))).toMatchObject({
      kept: 3,
      dropped: 0,
      contentTruncated: false,
    });
    expect(buildSnapshot(list, 10, exact(list) - 1)).toMatchObject({
      kept: 2,
      dropped: 1,
      contentTruncated: false,
    });
  });

  it('the newest alone that fits is never cut, whatever was dropped before it', () => {
    fc.assert(
      fc.property(messages, fc.integer({ min: 200, max: 3000 }), (list, budget) => {
        if (list.length === 0) return;
        const snap = buildSnapshot(list, 25, budget);
        if (exact(list.slice(-1)) <= budget) expect(snap.contentTruncated).toBe(false);
      }),
    );
  });

  it('room for the empty message exactly: content "" (no marker); room for the marker exactly: the marker alone', () => {
    const big = m(5, 'x'.repeat(500));
    const empty = exact([{ ...big, content: '' }]);
    const none = buildSnapshot([big], 1, empty);
    expect(JSON.parse(none.body).messages[0].content).toBe('');
    expect(none.bytes).toBe(empty);
    const markerOnly = buildSnapshot([big], 1, empty + jsonStringBytes(TRUNCATION_MARKER));
    expect(JSON.parse(markerOnly.body).messages[0].content).toBe(TRUNCATION_MARKER);
    expect(() => buildSnapshot([big], 1, empty - 1)).toThrow(new SnapshotTooSmallError(empty - 1, empty));
  });

  it('the error names what would be needed', () => {
    expect(new SnapshotTooSmallError(10, 15).message).toBe(
      '--max-bytes 10 cannot hold the newest message even with its content cut (needs 15)',
    );
    expect(() => buildSnapshot([], 1, 14)).toThrow(new SnapshotTooSmallError(14, 15));
  });
});

describe('buildSnapshot never sends a time coderd refuses (its time.Time takes RFC 3339 alone)', () => {
  const at = (id: number, time: string): SnapshotMessage => ({ id, content: `m${id}`, role: 'agent', time });

  it('a time that is not RFC 3339 takes the time of the message before it; a first one, the zero time', () => {
    const snap = buildSnapshot(
      [
        at(0, 'yesterday'),
        at(1, '2026-12-02T05:38:36.404525753Z'),
        at(2, '2026-12-02 05:38:37'),
        at(3, '2026-12-02T05:38:38+01:00'),
      ],
      10,
      65_536,
    );
    expect(snap.timesMended).toBe(2);
    expect((JSON.parse(snap.body).messages as SnapshotMessage[]).map((m) => [m.content, m.time])).toEqual([
      ['m0', ZERO_TIME],
      ['m1', '2026-12-02T05:38:36.404525753Z'],
      ['m2', '2026-12-02T05:38:36.404525753Z'],
      ['m3', '2026-12-02T05:38:38+01:00'],
    ]);
  });

  it('any time at all: every message keeps its place and content, every time sent is one coderd takes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string(),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          ),
          {
            maxLength: 12,
          },
        ),
        (times) => {
          const list = times.map((time, id) => at(id, time));
          const snap = buildSnapshot(list, 20, 65_536);
          const sent = JSON.parse(snap.body).messages as SnapshotMessage[];
          expect(sent.map((m) => m.content)).toEqual(list.map((m) => m.content));
          for (const m of sent) expect(isRfc3339(m.time), m.time).toBe(true);
          expect(snap.timesMended).toBe(list.filter((m) => !isRfc3339(m.time)).length);
        },
      ),
    );
  });
});
