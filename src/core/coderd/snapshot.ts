// Builds the log-snapshot body coderd stores: the last messages, fitted to a byte budget.
// Rules (SPEC §3): keep the last N; while the serialized body is over the budget drop the
// oldest; when only the newest is left, keep the tail of its content behind a marker. Sizes are
// counted in bytes of the UTF-8 JSON text that is sent, never in characters. A time coderd would
// refuse (not RFC 3339: the whole snapshot would be a 400) is mended, never sent: it takes the
// time of the message before it, so the message's content is kept in its place.

import { isRfc3339 } from './rules.js';

export type Role = 'user' | 'agent';

export interface SnapshotMessage {
  id: number;
  content: string;
  role: Role;
  time: string;
}

export interface Snapshot {
  /** The exact JSON text to POST. */
  body: string;
  /** Byte length of `body` in UTF-8. */
  bytes: number;
  /** Messages kept in the body. */
  kept: number;
  /** Messages offered (after the last-N cut) that did not fit. */
  dropped: number;
  /** Whether the newest message's content was cut to its tail. */
  contentTruncated: boolean;
  /** Messages whose time coderd would refuse, given the time of the message before them. */
  timesMended: number;
}

/** What Go's time.Time is when a message has no time: the time a first message is mended to. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export const TRUNCATION_MARKER = '[...content truncated...]\n';
/** `{"messages":[]}`: the smallest body coderd accepts. */
export const EMPTY_BODY = '{"messages":[]}';
const ENVELOPE_BYTES = EMPTY_BODY.length; // ASCII, so characters are bytes

export class SnapshotTooSmallError extends Error {
  constructor(
    readonly maxBytes: number,
    readonly neededBytes: number,
  ) {
    super(
      `--max-bytes ${maxBytes} cannot hold the newest message even with its content cut (needs ${neededBytes})`,
    );
    this.name = 'SnapshotTooSmallError';
  }
}

/**
 * Fits `messages` (oldest first) into `maxBytes`. Only the last `maxMessages` are considered.
 * The result always parses as JSON, is at most `maxBytes` long, keeps message order and ids,
 * and keeps the newest message whenever there is one.
 */
export function buildSnapshot(
  messages: readonly SnapshotMessage[],
  maxMessages: number,
  maxBytes: number,
): Snapshot {
  if (maxBytes < ENVELOPE_BYTES) throw new SnapshotTooSmallError(maxBytes, ENVELOPE_BYTES);
  let timesMended = 0;
  let before = ZERO_TIME;
  const offered = messages
    .slice(Math.max(0, messages.length - maxMessages))
    .map(pickFields)
    .map((m) => {
      if (isRfc3339(m.time)) {
        before = m.time;
        return m;
      }
      timesMended++;
      return { ...m, time: before };
    });
  const encoded = offered.map((m) => JSON.stringify(m));
  const sizes = encoded.map((s) => Buffer.byteLength(s, 'utf8'));

  // Body size for messages[start..]: envelope + each message + the commas between them.
  let start = 0;
  let total = ENVELOPE_BYTES + sizes.reduce((a, b) => a + b, 0) + Math.max(0, offered.length - 1);
  while (total > maxBytes && offered.length - start > 1) {
    total -= sizes[start] + 1;
    start++;
  }

  let kept = encoded.slice(start);
  let contentTruncated = false;
  if (total > maxBytes) {
    // One message left and still too big: keep the tail of its content.
    const newest = offered[offered.length - 1];
    const room =
      maxBytes - ENVELOPE_BYTES - Buffer.byteLength(JSON.stringify({ ...newest, content: '' }), 'utf8');
    if (room < 0) throw new SnapshotTooSmallError(maxBytes, maxBytes - room);
    kept = [JSON.stringify({ ...newest, content: tailWithMarker(newest.content, room) })];
    contentTruncated = true;
  }

  const body = `{"messages":[${kept.join(',')}]}`;
  const bytes = Buffer.byteLength(body, 'utf8');
  return {
    body,
    bytes,
    kept: kept.length,
    dropped: offered.length - kept.length,
    contentTruncated,
    timesMended,
  };
}

/** Only the four fields coderd reads, in AgentAPI's order; anything else is left out. */
function pickFields(m: SnapshotMessage): SnapshotMessage {
  return { id: m.id, content: m.content, role: m.role, time: m.time };
}

/**
 * The longest tail of `content` that, prefixed by the marker, costs at most `room` bytes as a
 * JSON string body (between the quotes), or the tail alone when even the marker does not fit.
 */
function tailWithMarker(content: string, room: number): string {
  const markerCost = jsonStringBytes(TRUNCATION_MARKER);
  const marker = markerCost <= room ? TRUNCATION_MARKER : '';
  const budget = room - (marker ? markerCost : 0);
  return marker + content.slice(tailStart(content, budget));
}

/** Index where the longest tail of `s` whose JSON-escaped UTF-8 size fits `budget` starts. */
export function tailStart(s: string, budget: number): number {
  let used = 0;
  let i = s.length;
  while (i > 0) {
    const low = s.charCodeAt(i - 1);
    // Stryker disable next-line ConditionalExpression: charCodeAt(-1) is NaN, which is no surrogate either
    const high = i >= 2 ? s.charCodeAt(i - 2) : 0;
    // A surrogate pair is one code point: take both halves or neither.
    const pair = isLowSurrogate(low) && isHighSurrogate(high);
    const cost = pair ? 4 : charCost(low);
    if (used + cost > budget) break;
    used += cost;
    i -= pair ? 2 : 1;
  }
  return i;
}

/** Bytes `JSON.stringify` spends on `s` between its quotes. */
export function jsonStringBytes(s: string): number {
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: past the end, charCodeAt is NaN, which is no low surrogate: the length check only saves a call
    if (isHighSurrogate(c) && i + 1 < s.length && isLowSurrogate(s.charCodeAt(i + 1))) {
      total += 4;
      i++;
    } else {
      total += charCost(c);
    }
  }
  return total;
}

/** Cost of one UTF-16 unit that is not half of a pair, as JSON.stringify writes it in UTF-8. */
function charCost(c: number): number {
  if (c === 0x22 || c === 0x5c) return 2; // \" and \\
  if (c < 0x20) return c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (isHighSurrogate(c) || isLowSurrogate(c)) return 6; // a lone surrogate is written as \udXXX
  return 3;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
