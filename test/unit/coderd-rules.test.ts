// coderd's rules for a log snapshot (src/core/coderd/rules.ts), as coderd/aitasks.go and
// httpmw/workspaceagent.go apply them: how Go decodes the body, which times it takes, which
// snapshots its reader refuses, which tokens it answers 401 for.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODER_ROWS, coderRow } from '../../src/core/coderd/coder-versions.js';
import {
  decodeSnapshot,
  isRfc3339,
  parseUuid,
  SNAPSHOT_LIMIT_BYTES,
  tokenRefusal,
} from '../../src/core/coderd/rules.js';
import { ROOT } from '../support/paths.js';

const body = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const message = { id: 1, content: 'hi', role: 'agent', time: '2026-12-02T05:38:36.404525753Z' };

describe("the body, decoded as coderd's encoding/json decodes it", () => {
  it.each([
    ['a snapshot as we send it', { messages: [message] }, [message]],
    [
      'an empty list (accepted: it replaces the last snapshot, which is why we never send one)',
      { messages: [] },
      [],
    ],
    ['extra keys, as AgentAPI sends them', { $schema: 'x', messages: [{ ...message, extra: 1 }] }, [message]],
    [
      'field names in another case',
      { Messages: [{ ID: 1, Content: 'hi', ROLE: 'agent', Time: message.time }] },
      [message],
    ],
    [
      'missing fields and nulls: zero values',
      { messages: [{}, null, { id: null, content: null, role: null, time: null }] },
      [0, 1, 2].map(() => ({ id: 0, content: '', role: '', time: '0001-01-01T00:00:00Z' })),
    ],
  ])('stored: %s', (_, value, messages) => {
    const decoded = decodeSnapshot(body(value));
    expect(decoded).toMatchObject({ ok: true, messages });
  });

  it.each([
    ['no messages field', { other: [] }, 'Invalid agentapi payload structure.'],
    ['messages null', { messages: null }, 'Invalid agentapi payload structure.'],
    ['JSON null', 'null', 'Invalid agentapi payload structure.'],
    ['not JSON', '{"messages": [', 'Failed to decode request payload.'],
    ['an array', [message], 'Failed to decode request payload.'],
    ['messages not a list', { messages: {} }, 'Failed to decode request payload.'],
    ['a message not an object', { messages: ['hi'] }, 'Failed to decode request payload.'],
    ['an id with a fraction', { messages: [{ ...message, id: 1.5 }] }, 'Failed to decode request payload.'],
    ['an id as a string', { messages: [{ ...message, id: '1' }] }, 'Failed to decode request payload.'],
    ['content not a string', { messages: [{ ...message, content: 5 }] }, 'Failed to decode request payload.'],
    ['a role not a string', { messages: [{ ...message, role: 1 }] }, 'Failed to decode request payload.'],
    [
      'a time that is not RFC 3339',
      { messages: [{ ...message, time: '2026-12-02 05:38:36' }] },
      'Failed to decode request payload.',
    ],
    [
      'a time as a number',
      { messages: [{ ...message, time: 1_733_117_916 }] },
      'Failed to decode request payload.',
    ],
  ])('refused with 400: %s', (_, value, text) => {
    expect(decodeSnapshot(body(value))).toMatchObject({ ok: false, status: 400, message: text });
  });

  it('refused with 400 past 64 KiB, not before', () => {
    const padded = (bytes: number) => {
      const shell = JSON.stringify({ messages: [{ ...message, content: '' }] });
      return body(JSON.stringify({ messages: [{ ...message, content: 'x'.repeat(bytes - shell.length) }] }));
    };
    expect(padded(SNAPSHOT_LIMIT_BYTES).byteLength).toBe(SNAPSHOT_LIMIT_BYTES);
    expect(decodeSnapshot(padded(SNAPSHOT_LIMIT_BYTES)).ok).toBe(true);
    expect(decodeSnapshot(padded(SNAPSHOT_LIMIT_BYTES + 1))).toMatchObject({
      ok: false,
      detail: 'http: request body too large',
    });
  });

  it('any role is stored, as coderd stores it; one its reader refuses is flagged', () => {
    const decoded = decodeSnapshot(body({ messages: [message, { ...message, role: 'tool' }] }));
    expect(decoded).toMatchObject({ ok: true });
    expect(decoded.ok && decoded.unreadable).toBe(
      'messages.1.role is "tool": coderd stores it, but its reader refuses the snapshot (500 "Invalid snapshot data.")',
    );
    const readable = decodeSnapshot(body({ messages: [message, { ...message, role: 'user' }] }));
    expect(readable.ok && readable.unreadable).toBeUndefined();
  });
});

describe("times, as Go's time.Time takes them from JSON (RFC 3339)", () => {
  it.each([
    ['2026-12-02T05:38:36Z', true],
    ['2026-12-02T05:38:36.404525753Z', true],
    ['2026-12-02T05:38:36+01:00', true],
    ['2024-02-29T00:00:00-23:59', true],
    ['2026-12-02 05:38:36Z', false],
    ['2026-12-02t05:38:36z', false],
    ['2026-12-02T05:38:36', false],
    ['2026-13-02T05:38:36Z', false],
    ['2026-02-29T05:38:36Z', false],
    ['2026-12-02T24:00:00Z', false],
    ['2026-12-02T05:60:00Z', false],
    ['2026-12-02T05:38:60Z', false],
    ['2026-12-02T05:38:36+24:00', false],
    ['2026-12-02T05:38:36+01:60', false],
    ['2026-12-00T05:38:36Z', false],
    ['Wed Dec 02 2026', false],
    ['', false],
    ['x2026-12-02T05:38:36Z', false],
    ['2026-12-02T05:38:36Zx', false],
    ['2026-00-02T05:38:36Z', false],
    ['2026-12-31T05:38:36Z', true],
    ['2026-11-31T05:38:36Z', false],
    ['2026-12-02T05:38:36.5-00:00', true],
  ])('%j → %s', (text, ok) => {
    expect(isRfc3339(text)).toBe(ok);
  });
});

describe("UUIDs, as Go's uuid.Parse takes them (task ids, agent tokens), canonical", () => {
  const canonical = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
  it.each([
    [canonical, canonical],
    [canonical.toUpperCase(), canonical],
    [`{${canonical}}`, canonical],
    [`urn:uuid:${canonical}`, canonical],
    [`URN:UUID:${canonical}`, canonical],
    [canonical.replaceAll('-', ''), canonical],
    [`[${canonical}]`, undefined],
    [`{${canonical}`, undefined],
    [`(${canonical})`, undefined],
    [`urn:uuix:${canonical}`, undefined],
    // A dash out of place, at each of the four positions.
    ...[8, 13, 18, 23].map((at) => [`${canonical.slice(0, at)}x${canonical.slice(at + 1)}`, undefined]),
    [canonical.replace('3f', '3g'), undefined],
    [canonical.slice(1), undefined],
    [`${canonical}0`, undefined],
    [canonical.replaceAll('-', '').slice(1), undefined],
    ['', undefined],
  ] as [string, string | undefined][])('%j → %s', (text, expected) => {
    expect(parseUuid(text)).toBe(expected);
  });
});

describe('the agent token, as coderd answers it (401)', () => {
  it.each([
    [undefined, false, 'Cookie "coder_session_token" must be provided.'],
    ['', true, 'Cookie "coder_session_token" must be provided.'],
    ['agent-token-0123456789', true, 'Workspace agent token invalid.'],
    ['3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b', false, 'Workspace agent not authorized.'],
  ])('%j (known: %s): %s', (token, known, message) => {
    expect(tokenRefusal(token, known)?.message).toBe(message);
  });

  it('a UUID it knows is taken', () => {
    expect(tokenRefusal('3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b', true)).toBeUndefined();
  });

  it('a token that is no UUID is told by its length, never shown', () => {
    expect(tokenRefusal('s3cr3t', false)?.detail).toBe('An agent token must be a valid UUIDv4. (len 6)');
  });
});

describe("which Coder a coderd is (the README's Coder versions table)", () => {
  it.each([
    ['v2.29.19+a1b2c3d', CODER_ROWS.before],
    ['v2.30.0', CODER_ROWS.tasks],
    ['v2.34.5+5d2f6b8', CODER_ROWS.tasks],
    ['2.36.9', CODER_ROWS.tasks],
    ['v2.37.0-rc.1+abc', CODER_ROWS.after],
    ['v3.0.0', undefined],
    ['v0.0.0-devel+abc', undefined],
    [undefined, undefined],
  ])('%s', (version, row) => {
    expect(coderRow(version)).toBe(row);
  });

  it('the README has a row for each, with the ESR named', () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8');
    const table = readme.slice(readme.indexOf('## Coder versions'), readme.indexOf('## Troubleshooting'));
    for (const start of ['| before v2.30', '| v2.30 to v2.36; **v2.34 is the ESR**', '| v2.37 and later'])
      expect(table).toContain(start);
  });
});
