// The small records kept beside the PID and state files (the checkpoint's fingerprint, the start
// record) and the digest they use: read back only when they are ours and well-formed, written in
// one rename, a failure to write never fatal.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintPath, readFingerprint, writeFingerprint } from '../../src/core/sequences/fingerprint.js';
import {
  readStartRecord,
  type StartRecord,
  startRecordPath,
  writeStartRecord,
} from '../../src/core/task/start-record.js';
import { Logger } from '../../src/core/utils/log.js';
import { sha256Hex } from '../../src/core/utils/sha256.js';

const dir = mkdtempSync(join(tmpdir(), 'records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${++n}`);

describe('sha256Hex', () => {
  it.each(['', 'abc', 'ünïcödé ✓', '\0\n'])('%j: the SHA-256 of its UTF-8 bytes, in hex', (text) => {
    expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
    expect(sha256Hex(Buffer.from(text))).toBe(sha256Hex(text));
  });
});

describe("the checkpoint's fingerprint", () => {
  it('is kept beside the state file, else beside the PID file', () => {
    expect(fingerprintPath('/s/state.json', '/p/agentapi.pid')).toBe('/s/state.json.checkpoint');
    expect(fingerprintPath(undefined, '/p/agentapi.pid')).toBe('/p/agentapi.pid.checkpoint');
  });

  it('reads back what was written, a line of 64 hex digits', async () => {
    const path = fresh();
    const lines: string[] = [];
    await writeFingerprint(path, 'ab'.repeat(32), new Logger({ write: (l) => lines.push(l) }));
    expect(readFileSync(path, 'utf8')).toBe(`${'ab'.repeat(32)}\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await readFingerprint(path)).toBe('ab'.repeat(32));
    expect(lines).toEqual([]);
  });

  it.each([
    ['missing', undefined],
    ['not hex', 'z'.repeat(64)],
    ['too short', 'a'.repeat(63)],
    ['capitals', 'A'.repeat(64)],
    ['two on a line', `${'a'.repeat(64)} ${'b'.repeat(64)}`],
  ])('%s: no fingerprint', async (_, text) => {
    const path = fresh();
    if (text !== undefined) writeFileSync(path, text);
    expect(await readFingerprint(path)).toBeUndefined();
  });

  it('whitespace around it is no matter; a link is never followed', async () => {
    const path = fresh();
    writeFileSync(path, `  ${'c'.repeat(64)}\n\n`);
    expect(await readFingerprint(path)).toBe('c'.repeat(64));
    const link = fresh();
    symlinkSync(path, link);
    expect(await readFingerprint(link)).toBeUndefined();
  });

  it('one that cannot be written is said, and the next checkpoint posts again', async () => {
    const path = join(fresh(), 'missing-folder', 'state.json.checkpoint');
    const lines: string[] = [];
    await writeFingerprint(path, 'd'.repeat(64), new Logger({ write: (l) => lines.push(l) }));
    expect(lines).toEqual([
      expect.stringMatching(
        /WARN +cannot keep the checkpoint's fingerprint in .*missing-folder\/state\.json\.checkpoint \(.+\); the next one posts again\n$/,
      ),
    ]);
  });
});

describe('the start record', () => {
  const record: StartRecord = {
    at: '2026-12-06T10:00:00.000Z',
    type: 'claude',
    resumed: true,
    why: 'a resume',
    added: ['--resume', 'x'],
    cwd: '/home/coder',
  };

  it('beside the PID file; written with the secrets hidden, read back', async () => {
    const pid = fresh();
    expect(startRecordPath(pid)).toBe(`${pid}.start.json`);
    const secret = 'f0e1d2c3-b4a5-4697-8899-aabbccddeeff';
    await writeStartRecord(pid, { ...record, why: `coder said ${secret}` }, [secret]);
    const text = readFileSync(startRecordPath(pid), 'utf8');
    expect(text).not.toContain(secret.slice(0, 8));
    expect(text.endsWith('\n')).toBe(true);
    expect(statSync(startRecordPath(pid)).mode & 0o777).toBe(0o600);
    expect(await readStartRecord(pid)).toEqual({ record: { ...record, why: 'coder said ***' } });
  });

  it('none there: nothing, nothing said', async () => {
    expect(await readStartRecord(fresh())).toEqual({});
  });

  it.each([
    ['not JSON', '{'],
    ['no `resumed`', JSON.stringify({ ...record, resumed: 'yes' })],
    ['no `why`', JSON.stringify({ ...record, why: 1 })],
    ['null', 'null'],
  ])('%s: ignored, and said', async (_, text) => {
    const pid = fresh();
    writeFileSync(startRecordPath(pid), text);
    expect(await readStartRecord(pid)).toEqual({
      ignored: `ignoring the start record ${startRecordPath(pid)}: it is not one`,
    });
  });

  it('a link: ignored, and why', async () => {
    const pid = fresh();
    const target = fresh();
    writeFileSync(target, JSON.stringify(record));
    symlinkSync(target, startRecordPath(pid));
    const read = await readStartRecord(pid);
    expect(read.record).toBeUndefined();
    expect(read.ignored).toMatch(new RegExp(`^ignoring the start record ${startRecordPath(pid)}: .+`));
  });

  it('one that cannot be written costs only the record', async () => {
    const pid = join(fresh(), 'no-folder', 'agentapi.pid');
    await expect(writeStartRecord(pid, record, [])).resolves.toBeUndefined();
  });
});
