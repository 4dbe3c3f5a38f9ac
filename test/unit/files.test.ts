// Local files, as a hostile /tmp may present them (local-file.ts, pid-file.ts, lock.ts,
// state-file.ts), and the version probe (agentapi-version.ts): real files, FIFOs and processes
// in a temp directory.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  interpretVersion,
  PERSISTENCE_SINCE,
  readVersion,
} from '../../src/core/agentapi/agentapi-version.js';
import {
  COARSE_CLOCK_MS,
  heldBy,
  stampOf,
  summarizeState,
  waitForReplacement,
  wasReplaced,
} from '../../src/core/agentapi/state-file.js';
import {
  acquireLock,
  CHECKPOINT_HOLDERS,
  checkpointLockPath,
  guardPath,
  lockHolder,
  SHUTDOWN_HOLDERS,
  shutdownLockPath,
  takeOver,
} from '../../src/core/process/lock.js';
import { parsePid, readPidFile } from '../../src/core/process/pid-file.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import {
  copyOwnFile,
  kindOf,
  readFileTail,
  readOwnFile,
  readSmallFile,
  subfolders,
  withAppendFile,
  withRegularFile,
  writeFileAtomically,
} from '../../src/core/utils/local-file.js';
import {
  preparePrivateFolders,
  privateDirProblem,
  privateFoldersOf,
} from '../../src/core/utils/private-dir.js';
import { startFakeHolder } from '../support/fake-holder.js';
import { AS_ROOT, itNeeds } from '../support/needs.js';

let dir: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'files-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const at = (name: string) => join(dir, name);
const fifo = (name: string) => {
  expect(spawnSync('mkfifo', [at(name)]).status).toBe(0);
  return at(name);
};

/** File descriptors of this process open on anything under `path`. */
function openUnder(path: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(path) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Opens and closes: 'opened', or why it could not. */
const openRegular = (path: string) => withRegularFile(path, async () => 'opened');
const openForAppend = (path: string) => withAppendFile(path, async () => 'opened');

describe('local files (local-file.ts)', () => {
  it('withRegularFile: a regular file opens; missing, FIFO and directory are told apart, without blocking', async () => {
    writeFileSync(at('f'), 'x');
    expect(await openRegular(at('f'))).toBe('opened');
    expect(await openRegular(at('none'))).toEqual({ state: 'missing' });
    expect(await openRegular(fifo('p'))).toEqual({
      state: 'refused',
      reason: 'it is a FIFO, not a regular file',
    });
    mkdirSync(at('d'));
    expect(await openRegular(at('d'))).toEqual({
      state: 'refused',
      reason: 'it is a directory, not a regular file',
    });
    expect(await openRegular('/dev/null')).toEqual({
      state: 'refused',
      reason: 'it is a device, not a regular file',
    });
  });

  it('readSmallFile: whole small files; larger ones refused unread; a limit exactly met is fine', async () => {
    writeFileSync(at('f'), '12345');
    const five = await readSmallFile(at('f'), 5);
    expect(five.state === 'ok' && five.data.toString()).toBe('12345');
    expect(await readSmallFile(at('f'), 4)).toEqual({
      state: 'refused',
      reason: 'it is 5 bytes, more than the 4 expected',
    });
    writeFileSync(at('big'), '');
    await truncate(at('big'), 2 ** 40);
    expect((await readSmallFile(at('big'), 64)).state).toBe('refused');
    expect(await readSmallFile(at('none'), 5)).toEqual({ state: 'missing' });
    expect((await readSmallFile(fifo('p'), 5)).state).toBe('refused');
  });

  it('readFileTail: the last bytes only', async () => {
    writeFileSync(at('log'), 'line 1\nline 2\nline 3\n');
    const tail = await readFileTail(at('log'), 7);
    expect(tail.state === 'ok' && tail.data.toString()).toBe('line 3\n');
    const whole = await readFileTail(at('log'), 1000);
    expect(whole.state === 'ok' && whole.data.toString()).toBe('line 1\nline 2\nline 3\n');
    expect((await readFileTail(at('none'), 10)).state).toBe('missing');
  });

  it('withAppendFile: creates 0600 and appends; refuses a FIFO (with or without a reader) and a directory', async () => {
    await withAppendFile(at('new.log'), (handle) => handle.write('a'));
    await withAppendFile(at('new.log'), (handle) => handle.write('b'));
    expect(readFileSync(at('new.log'), 'utf8')).toBe('ab');
    // Root's 0600 is what a user would see too.
    expect(
      spawnSync('stat', ['-c', '%a', at('new.log')])
        .stdout.toString()
        .trim(),
    ).toBe('600');
    await expect(openForAppend(fifo('p'))).rejects.toThrow(`${at('p')} is a FIFO, not a regular file`);
    // With a reader, the open itself succeeds: the type check refuses it.
    const { constants } = await import('node:fs');
    const { open } = await import('node:fs/promises');
    const reader = await open(at('p'), constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      await expect(openForAppend(at('p'))).rejects.toThrow(`${at('p')} is a FIFO, not a regular file`);
    } finally {
      await reader.close();
    }
    mkdirSync(at('d'));
    await expect(openForAppend(at('d'))).rejects.toThrow(`${at('d')}: it is a directory`);
  });

  it('withAppendFile: never through a link', async () => {
    writeFileSync(at('mine'), 'mine');
    symlinkSync(at('mine'), at('log'));
    await expect(openForAppend(at('log'))).rejects.toThrow(
      `${at('log')} is a symbolic link; not following it`,
    );
    expect(readFileSync(at('mine'), 'utf8')).toBe('mine');
  });

  it("readOwnFile: the user's own regular file; a link or a FIFO is refused, whatever it leads to", async () => {
    writeFileSync(at('record'), 'ours');
    expect(await readOwnFile(at('record'), 16)).toMatchObject({ state: 'ok', data: Buffer.from('ours') });
    symlinkSync(at('record'), at('link'));
    expect(await readOwnFile(at('link'), 16)).toEqual({ state: 'refused', reason: 'it is a symbolic link' });
    expect(await readSmallFile(at('link'), 16)).toMatchObject({ state: 'ok' });
    expect(await readOwnFile(fifo('fifo'), 16)).toEqual({
      state: 'refused',
      reason: 'it is a FIFO, not a regular file',
    });
    expect(await readOwnFile(at('none'), 16)).toEqual({ state: 'missing' });
    expect(await readOwnFile(at('record'), 3)).toMatchObject({
      state: 'refused',
      reason: expect.stringMatching(/more than the 3/),
    });
  });

  itNeeds(
    AS_ROOT,
    "another user's file is refused by whom it belongs to: read as a record, appended to, copied",
    async () => {
      writeFileSync(at('theirs'), 'x');
      chownSync(at('theirs'), 65534, 65534);
      expect(await readOwnFile(at('theirs'), 16)).toEqual({
        state: 'refused',
        reason: 'it belongs to user id 65534, not to you (0)',
      });
      await expect(openForAppend(at('theirs'))).rejects.toThrow(
        `${at('theirs')} belongs to user id 65534, not to you (0)`,
      );
      await expect(
        copyOwnFile(at('theirs'), at('copy'), { maxBytes: 100, check: async () => {} }),
      ).rejects.toThrow('it belongs to user id 65534, not to you (0)');
      expect(readFileSync(at('theirs'), 'utf8')).toBe('x');
    },
  );

  it('writeFileAtomically: whole or not at all, 0600, in one rename; never through a link or over a folder', async () => {
    writeFileSync(at('out'), 'old', { mode: 0o644 });
    const bytes = await writeFileAtomically(at('out'), async (write) => {
      write('one ');
      write('two ─');
    });
    expect(bytes).toBe(Buffer.byteLength('one two ─'));
    expect(readFileSync(at('out'), 'utf8')).toBe('one two ─');
    expect(statSync(at('out')).mode & 0o777).toBe(0o600);
    // A failure while writing leaves the old file as it was, and nothing beside it.
    await expect(
      writeFileAtomically(at('out'), async (write) => {
        write('half');
        throw new Error('stopped');
      }),
    ).rejects.toThrow('stopped');
    expect(readFileSync(at('out'), 'utf8')).toBe('one two ─');
    writeFileSync(at('target'), 'mine');
    symlinkSync(at('target'), at('link'));
    await expect(writeFileAtomically(at('link'), async () => {})).rejects.toThrow(
      `${at('link')} is a symbolic link; not replacing it`,
    );
    mkdirSync(at('folder'));
    await expect(writeFileAtomically(at('folder'), async () => {})).rejects.toThrow(
      'is a directory; not replacing it',
    );
    await expect(writeFileAtomically(at('no/such/file'), async () => {})).rejects.toThrow(
      `cannot write beside ${at('no/such/file')} (its directory does not exist)`,
    );
    expect(readFileSync(at('target'), 'utf8')).toBe('mine');
    expect(readdirSync(dir).sort()).toEqual(['folder', 'link', 'out', 'target']);
  });

  it('subfolders: folders only (no links, no files), at most the limit read, nothing left open', async () => {
    for (const name of ['a', 'b', 'c']) mkdirSync(at(`root/${name}`), { recursive: true });
    writeFileSync(at('root/file'), '');
    symlinkSync(at('root/a'), at('root/link'));
    expect(subfolders(at('root'), 100).sort()).toEqual(['a', 'b', 'c']);
    for (const name of ['a', 'b', 'c']) mkdirSync(at(`only/${name}`), { recursive: true });
    expect(subfolders(at('only'), 2)).toHaveLength(2);
    expect(subfolders(at('only'), 0)).toEqual([]);
    expect(subfolders(at('none'), 100)).toEqual([]);
    expect(openUnder(dir)).toEqual([]);
  });

  it('copyOwnFile: checked as it is copied; refused by the check, nothing stays', async () => {
    writeFileSync(at('from'), 'abcdef');
    const seen: string[] = [];
    expect(
      await copyOwnFile(at('from'), at('to'), {
        maxBytes: 100,
        check: async (chunks) => {
          for await (const chunk of chunks) seen.push(chunk.toString());
        },
      }),
    ).toBe('copied');
    expect(seen.join('')).toBe('abcdef');
    expect(readFileSync(at('to'), 'utf8')).toBe('abcdef');
    expect(statSync(at('to')).mode & 0o777).toBe(0o600);
    // What the check does not read is copied all the same.
    await copyOwnFile(at('from'), at('to2'), { maxBytes: 100, check: async () => {} });
    expect(readFileSync(at('to2'), 'utf8')).toBe('abcdef');
    await expect(
      copyOwnFile(at('from'), at('to3'), {
        maxBytes: 100,
        check: async () => {
          throw new Error('not a state file');
        },
      }),
    ).rejects.toThrow('not a state file');
    expect(await copyOwnFile(at('none'), at('to4'), { maxBytes: 100, check: async () => {} })).toBe(
      'missing',
    );
    await expect(copyOwnFile(at('from'), at('to5'), { maxBytes: 5, check: async () => {} })).rejects.toThrow(
      'it is 6 bytes, more than the 5 a state file may be',
    );
    // Exactly the limit is a state file still; through a folder that is a link to /proc, the kernel's.
    expect(await copyOwnFile(at('from'), at('exact'), { maxBytes: 6, check: async () => {} })).toBe('copied');
    symlinkSync('/proc/self', at('p'));
    await expect(
      copyOwnFile(at('p/environ'), at('env'), { maxBytes: 1 << 20, check: async () => {} }),
    ).rejects.toThrow(/it is \/proc\/\d+\/environ, a file of the kernel's or a device/);
    expect(openUnder(dir)).toEqual([]);
    // Never over a file that is there: its own error, for the caller to tell apart.
    await expect(
      copyOwnFile(at('from'), at('to'), { maxBytes: 100, check: async () => {} }),
    ).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect(readdirSync(dir).sort()).toEqual(['exact', 'from', 'p', 'to', 'to2']);
  });

  it('kindOf names each kind of file', async () => {
    const { lstat, stat } = await import('node:fs/promises');
    writeFileSync(at('f'), '');
    spawnSync('ln', ['-s', at('f'), at('link')]);
    expect(kindOf(await stat(at('f')))).toBe('a regular file');
    expect(kindOf(await stat(dir))).toBe('a directory');
    expect(kindOf(await stat(fifo('p')))).toBe('a FIFO');
    expect(kindOf(await stat('/dev/null'))).toBe('a device');
    expect(kindOf(await lstat(at('link')))).toBe('a symbolic link');
  });
});

describe('PID files (pid-file.ts)', () => {
  it.each([
    ['1234\n', 1234],
    ['1234', 1234],
    ['  1234\r\n', 1234],
    ['4194304\n', 4194304],
  ])('%j holds %i', (text, pid) => {
    expect(parsePid(text)).toEqual({ pid });
  });

  it.each([
    ['', 'it is empty'],
    ['\n', 'it is empty'],
    ['12\n34\n', '"12?34" is not a decimal process id'],
    ['abc', '"abc" is not a decimal process id'],
    ['\u0001abc', '"?abc" is not a decimal process id'],
    [`${'x'.repeat(30)}`, `"${'x'.repeat(20)}…" is not a decimal process id`],
    [`${'x'.repeat(20)}`, `"${'x'.repeat(20)}" is not a decimal process id`],
    ['0123', '"0123" has leading zeros'],
    ['0', '0 is not a process we may signal'],
    ['1', '1 is not a process we may signal'],
    ['4194305', '4194305 is larger than any Linux process id'],
  ])('%j is refused: %s', (text, reason) => {
    expect(parsePid(text)).toEqual({ reason });
  });

  it('readPidFile: a FIFO or a large file is invalid, never read; its time is the file mtime', async () => {
    expect(await readPidFile(fifo('p'))).toMatchObject({
      state: 'invalid',
      reason: 'it is a FIFO, not a regular file',
    });
    writeFileSync(at('big'), '1'.repeat(65));
    expect(await readPidFile(at('big'))).toMatchObject({
      state: 'invalid',
      reason: 'it is 65 bytes, more than the 64 expected',
    });
    writeFileSync(at('ok'), '4321\n');
    const ok = await readPidFile(at('ok'));
    expect(ok).toMatchObject({ state: 'ok', pid: 4321, path: at('ok') });
    expect(Math.abs((ok as { writtenAtMs: number }).writtenAtMs - Date.now())).toBeLessThan(5000);
  });
});

/**
 * A process the lock must believe is another `agentapi-lifecycle shutdown` of ours: Node itself,
 * hard-linked under the name agentapi-lifecycle, running a script called `shutdown` that waits.
 */
async function fakeShutdown(command = 'shutdown'): Promise<ChildProcess> {
  const child = await startFakeHolder(dir, command);
  children.push(child);
  return child;
}

describe('the shutdown lock (lock.ts)', () => {
  it('is taken when free, holds our PID, and is released only by us', async () => {
    const lock = await acquireLock(at('l'), Deadline.in(1000));
    expect(lock).toMatchObject({ acquired: true });
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
    expect(await lockHolder(at('l'))).toMatchObject({
      live: false,
      why: `PID ${process.pid} is not an agentapi-lifecycle shutdown`,
    });
    if (lock.acquired) await lock.release();
    expect(existsSync(at('l'))).toBe(false);
    // Taken over by someone else meanwhile: not ours to remove.
    const again = await acquireLock(at('l'), Deadline.in(1000));
    writeFileSync(at('l'), '1234\n');
    if (again.acquired) await again.release();
    expect(readFileSync(at('l'), 'utf8')).toBe('1234\n');
  });

  it.each([
    ['a dead PID', () => `${spawnSync('true').pid}\n`, /PID \d+ is not running/],
    ['garbage', () => 'hello\n', /is not a decimal process id/],
    [
      'a live process that is not a shutdown',
      () => `${process.pid}\n`,
      /is not an agentapi-lifecycle shutdown/,
    ],
    ['PID 1 (init)', () => '1\n', /1 is not a process we may signal/],
  ])('a lock holding %s is stale and taken over at once', async (_, content, why) => {
    writeFileSync(at('l'), content());
    expect(await lockHolder(at('l'))).toMatchObject({ live: false, why: expect.stringMatching(why) });
    const started = Date.now();
    const lock = await acquireLock(at('l'), Deadline.in(5000));
    expect(lock.acquired).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('the lock paths lie beside the PID file', () => {
    expect(shutdownLockPath('/h/.agentapi/agentapi.pid')).toBe('/h/.agentapi/agentapi.pid.shutdown-lock');
    expect(checkpointLockPath('/h/.agentapi/agentapi.pid')).toBe('/h/.agentapi/agentapi.pid.checkpoint-lock');
  });

  it("a lock's holders are the commands named for it: a shutdown holds no checkpoint lock", async () => {
    const shutdown = await fakeShutdown('shutdown');
    const checkpoint = await fakeShutdown('checkpoint');
    writeFileSync(at('l'), `${shutdown.pid}\n`);
    expect(await lockHolder(at('l'))).toMatchObject({ live: true, pid: shutdown.pid });
    expect(await lockHolder(at('l'), CHECKPOINT_HOLDERS)).toMatchObject({
      live: false,
      why: `PID ${shutdown.pid} is not an agentapi-lifecycle checkpoint`,
    });
    writeFileSync(at('l'), `${checkpoint.pid}\n`);
    expect(await lockHolder(at('l'), CHECKPOINT_HOLDERS)).toMatchObject({ live: true, pid: checkpoint.pid });
    expect(await lockHolder(at('l'))).toMatchObject({ live: false });
    // A checkpoint finding one running does not wait for it: busy at once.
    const started = Date.now();
    expect(
      await acquireLock(at('l'), Deadline.in(5000), { holders: CHECKPOINT_HOLDERS, wait: false }),
    ).toEqual({
      acquired: false,
      holder: checkpoint.pid,
      finished: false,
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a guard is named after the very lock file it replaces: its inode and time, to the microsecond', () => {
    expect(guardPath('/x/l', { ino: 42, mtimeMs: 1_700_000_000_123.456 })).toBe(
      '/x/l.takeover-42-1700000000123456',
    );
  });

  it('takeOver: replaces the stale lock it judged, and only that one', async () => {
    writeFileSync(at('l'), `${spawnSync('true').pid}\n`);
    const judged = statSync(at('l'));
    const stamp = { ino: judged.ino, mtimeMs: judged.mtimeMs };
    // Another takeover holds the guard: busy, nothing touched.
    writeFileSync(guardPath(at('l'), stamp), '');
    expect(await takeOver(at('l'), stamp, SHUTDOWN_HOLDERS)).toBe('busy');
    rmSync(guardPath(at('l'), stamp));
    // Not the lock it judged any more (another file, or another time): lost, nothing touched.
    const before = readFileSync(at('l'), 'utf8');
    expect(await takeOver(at('l'), { ...stamp, ino: stamp.ino + 1 }, SHUTDOWN_HOLDERS)).toBe('lost');
    expect(await takeOver(at('l'), { ...stamp, mtimeMs: stamp.mtimeMs - 1 }, SHUTDOWN_HOLDERS)).toBe('lost');
    expect(readFileSync(at('l'), 'utf8')).toBe(before);
    // Gone meanwhile: lost.
    expect(await takeOver(at('gone'), stamp, SHUTDOWN_HOLDERS)).toBe('lost');
    // The one judged: won, ours (0600), no guard or temporary file left.
    expect(await takeOver(at('l'), stamp, SHUTDOWN_HOLDERS)).toBe('won');
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
    expect(statSync(at('l')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.startsWith('l.'))).toEqual([]);
  });

  it('takeOver: a lock that came alive meanwhile is lost; a guard that cannot be made says why', async () => {
    const holder = await fakeShutdown();
    writeFileSync(at('l'), `${holder.pid}\n`);
    const live = statSync(at('l'));
    expect(await takeOver(at('l'), { ino: live.ino, mtimeMs: live.mtimeMs }, SHUTDOWN_HOLDERS)).toBe('lost');
    expect(readFileSync(at('l'), 'utf8')).toBe(`${holder.pid}\n`);
    expect(await takeOver(at('missing/l'), { ino: 1, mtimeMs: 1 }, SHUTDOWN_HOLDERS)).toBe(
      'its directory does not exist',
    );
  });

  it('a refused lock (a FIFO) is stamped without being read, so it can be taken over by exactly its stamp', async () => {
    fifo('l');
    const s = statSync(at('l'));
    expect(await lockHolder(at('l'))).toEqual({
      live: false,
      why: 'it is a FIFO, not a regular file',
      stamp: { ino: s.ino, mtimeMs: s.mtimeMs },
    });
  });

  it('a takeover leaves no guard or temporary file behind, and replaces the stale lock in one rename', async () => {
    writeFileSync(at('l'), `${spawnSync('true').pid}\n`);
    const lock = await acquireLock(at('l'), Deadline.in(5000));
    expect(lock.acquired).toBe(true);
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
    expect(readdirSync(dir).filter((f) => f.startsWith('l.'))).toEqual([]);
  });

  it('a takeover of the same stale lock already under way (its guard taken) is not repeated: the new holder is deferred to', async () => {
    writeFileSync(at('l'), `${spawnSync('true').pid}\n`);
    const stale = statSync(at('l'));
    const guard = guardPath(at('l'), { ino: stale.ino, mtimeMs: stale.mtimeMs });
    writeFileSync(guard, '');
    const holder = await fakeShutdown();
    // The other shutdown finishes its takeover, then lets go a little later.
    setTimeout(() => {
      writeFileSync(at('l.new'), `${holder.pid}\n`);
      renameSync(at('l.new'), at('l'));
      rmSync(guard);
      setTimeout(() => rmSync(at('l')), 300);
    }, 200);
    expect(await acquireLock(at('l'), Deadline.in(5000))).toEqual({
      acquired: false,
      holder: holder.pid,
      finished: true,
    });
  });

  it('a takeover guard that is never let go ends in going on without the lock, well within the deadline', async () => {
    writeFileSync(at('l'), `${spawnSync('true').pid}\n`);
    const stale = statSync(at('l'));
    writeFileSync(guardPath(at('l'), { ino: stale.ino, mtimeMs: stale.mtimeMs }), '');
    const started = Date.now();
    // Each try waits a second for the other takeover, not the whole deadline.
    const lock = await acquireLock(at('l'), Deadline.in(30_000));
    expect(lock).toMatchObject({
      acquired: true,
      unlocked: `cannot take the lock ${at('l')} (stale locks keep reappearing)`,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 15_000);

  it('a FIFO or a huge file at the lock path is stale: taken over without reading it', async () => {
    fifo('l');
    expect((await acquireLock(at('l'), Deadline.in(5000))).acquired).toBe(true);
    await rm(at('l'));
    writeFileSync(at('l'), '');
    await truncate(at('l'), 2 ** 40);
    expect((await acquireLock(at('l'), Deadline.in(5000))).acquired).toBe(true);
  });

  it('a missing directory: no lock, and says why, but the caller may go on', async () => {
    const lock = await acquireLock(at('missing/l'), Deadline.in(1000));
    expect(lock).toMatchObject({
      acquired: true,
      unlocked: `cannot take the lock ${at('missing/l')} (its directory does not exist)`,
    });
    if (lock.acquired) await lock.release();
  });

  it('a live shutdown of ours is waited for: deferred if it lets go, taken over if it dies', async () => {
    const holder = await fakeShutdown();
    writeFileSync(at('l'), `${holder.pid}\n`);
    expect(await lockHolder(at('l'))).toMatchObject({ live: true, pid: holder.pid });
    // Holds on past our deadline: we defer, unfinished.
    let waited: number | undefined;
    expect(await acquireLock(at('l'), Deadline.in(200), { onWait: (pid) => (waited = pid) })).toEqual({
      acquired: false,
      holder: holder.pid,
      finished: false,
    });
    expect(waited).toBe(holder.pid);
    // Lets go while we wait: it handled it.
    setTimeout(() => rm(at('l')), 100);
    expect(await acquireLock(at('l'), Deadline.in(5000))).toEqual({
      acquired: false,
      holder: holder.pid,
      finished: true,
    });
    // Dies holding it: we take over.
    writeFileSync(at('l'), `${holder.pid}\n`);
    setTimeout(() => holder.kill('SIGKILL'), 100);
    const lock = await acquireLock(at('l'), Deadline.in(5000));
    expect(lock.acquired).toBe(true);
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
  });

  it('a shutdown that started after the lock was written is not its writer (a reused PID)', async () => {
    writeFileSync(at('l'), '');
    const { utimesSync } = await import('node:fs');
    const holder = await fakeShutdown();
    writeFileSync(at('l'), `${holder.pid}\n`);
    utimesSync(at('l'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    expect(await lockHolder(at('l'))).toMatchObject({
      live: false,
      why: `PID ${holder.pid} started after the lock was written`,
    });
  });
});

describe('the state file (state-file.ts)', () => {
  it('a save replaces the file (new inode, time or size): wasReplaced sees it, waitForReplacement waits for it', async () => {
    expect(await stampOf(at('s.json'))).toBeUndefined();
    expect(wasReplaced(undefined, undefined)).toBe(false);
    writeFileSync(at('s.json'), '{}');
    const before = await stampOf(at('s.json'));
    expect(before).toMatchObject({ size: 2 });
    expect(wasReplaced(undefined, before)).toBe(true);
    expect(wasReplaced(before, before)).toBe(false);
    const stamp = before as NonNullable<typeof before>;
    expect(wasReplaced(stamp, { ...stamp, ino: stamp.ino + 1 })).toBe(true);
    expect(wasReplaced(stamp, { ...stamp, mtimeMs: stamp.mtimeMs + 1 })).toBe(true);
    expect(wasReplaced(stamp, { ...stamp, size: 3 })).toBe(true);
    expect(wasReplaced(stamp, undefined)).toBe(false);
    expect(await waitForReplacement(at('s.json'), before, Deadline.in(50))).toBeUndefined();
    setTimeout(() => {
      writeFileSync(at('s.json.tmp'), '{"a":1}');
      renameSync(at('s.json.tmp'), at('s.json'));
    }, 30);
    expect(await waitForReplacement(at('s.json'), before, Deadline.in(5000))).toMatchObject({ size: 7 });
  });

  it.each([
    ['written after the newest message', -5, 'yes'],
    ['written at the same millisecond', 0, 'yes'],
    ['stamped a little before it (the coarse clock lags)', 3, 'maybe'],
    ['stamped exactly one coarse tick before it', COARSE_CLOCK_MS, 'maybe'],
    ['older than one tick', COARSE_CLOCK_MS + 0.5, 'no'],
    ['much older', 60_000, 'no'],
  ])('heldBy: a state file %s', (_, newestAfterFileMs, expected) => {
    const stamp = { ino: 1, size: 10, mtimeMs: 1_700_000_000_000.25 };
    expect(heldBy(stamp, stamp.mtimeMs + newestAfterFileMs)).toBe(expected);
  });

  it.each([
    ['{"version":1,"messages":[{"id":0},{"id":1}],"initial_prompt":""}', { messages: 2, formatVersion: 1 }],
    ['{"messages":[],"version":1}', { messages: 0, formatVersion: 1 }],
    ['{"version":2,"messages":[]}', { formatVersion: 2, problem: 'format version is 2, expected 1' }],
    ['{"messages":[]}', { problem: 'format version is missing, expected 1' }],
    [
      '{"version":1,"messages":[',
      { problem: expect.stringContaining('is not a state file AgentAPI can load (it ends') },
    ],
    ['{"version":1}', { problem: expect.stringContaining('(it has no "messages" list)') }],
  ])('summarizes %s', async (text, expected) => {
    writeFileSync(at('s.json'), text);
    const summary = await summarizeState(at('s.json'));
    expect(summary).toMatchObject({ exists: true, size: text.length, ...expected });
    // A file AgentAPI can load has no problem to report.
    if (!('problem' in expected)) expect(summary.problem).toBeUndefined();
  });

  it('a missing, FIFO or directory state file is summarized without blocking', async () => {
    expect(await summarizeState(at('none'))).toEqual({ path: at('none'), exists: false });
    expect(await summarizeState(fifo('p'))).toMatchObject({
      exists: true,
      problem: 'it is a FIFO, not a regular file',
    });
  });
});

describe('the version gate (agentapi-version.ts)', () => {
  it.each([
    ['0.12.1', { version: '0.12.1', supportsPersistence: true }],
    ['0.12.0', { version: '0.12.0', supportsPersistence: true }],
    ['v0.12.0-rc1', { version: '0.12.0', supportsPersistence: true }],
    ['0.11.9', { version: '0.11.9', supportsPersistence: false }],
    ['1.0.0', { version: '1.0.0', supportsPersistence: true }],
    ['dev', {}],
    ['x1.2.3', {}],
  ])('%s', (raw, expected) => {
    expect(interpretVersion(raw)).toEqual({ raw, ...expected });
    expect(PERSISTENCE_SINCE).toBe('0.12.0');
  });

  it('nothing read: nothing known', () => {
    expect(interpretVersion(undefined)).toEqual({});
    expect(interpretVersion('')).toEqual({});
  });

  const script = (body: string) => {
    const file = at('agentapi');
    writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  it.each([
    ['echo "agentapi version 0.12.1"', { raw: '0.12.1', version: '0.12.1', supportsPersistence: true }],
    ['echo "agentapi version 0.11.2"; echo more', { raw: '0.11.2', supportsPersistence: false }],
    ['echo "agentapi version dev"', { raw: 'dev' }],
    [
      'echo "v20.20.2"',
      { error: expect.stringContaining('is not AgentAPI: its --version printed "v20.20.2"') },
    ],
    ['echo "agentapi 0.12.1"', { error: expect.stringContaining('not "agentapi version …"') }],
    [`echo "${'z'.repeat(80)}"`, { error: expect.stringContaining(`printed "${'z'.repeat(60)}…"`) }],
    ['exit 3', { error: expect.stringContaining('--version failed') }],
    ['sleep 5', { error: expect.stringContaining('--version did not answer within 200ms') }],
  ])('readVersion of a program that does %j', async (body, expected) => {
    expect(await readVersion(script(body), 200)).toMatchObject(expected);
  });

  it('readVersion: a missing or non-executable program is named; the token is never passed on', async () => {
    expect(await readVersion(at('none'), 1000)).toEqual({
      error: `${at('none')} was not found: install AgentAPI 0.12.0 or newer (https://github.com/coder/agentapi/releases) on PATH, or give its path with --agentapi-bin`,
    });
    writeFileSync(at('plain'), 'x', { mode: 0o644 });
    if (process.getuid?.() !== 0) {
      expect(await readVersion(at('plain'), 1000)).toEqual({ error: `${at('plain')} is not executable` });
    }
    process.env.CODER_AGENT_TOKEN = 'never-for-children';
    try {
      // The shell prints the token instead of the version if it got one.
      const file = script(['echo "agentapi version $', '{CODER_AGENT_TOKEN:-0.12.1}"'].join(''));
      expect(await readVersion(file, 1000)).toMatchObject({ raw: '0.12.1' });
    } finally {
      delete process.env.CODER_AGENT_TOKEN;
    }
  });
});

describe('edges of files, locks and the version probe', () => {
  it('an open that fails for another reason than "missing" is refused and says why', async () => {
    writeFileSync(at('file'), 'x');
    expect(await openRegular(at('file/inside'))).toEqual({
      state: 'refused',
      reason: 'cannot read it (its directory does not exist)',
    });
  });

  it('a file that is longer than its size said (a /proc file says 0) is refused, not cut', async () => {
    expect(await readSmallFile('/proc/self/status', 64)).toEqual({
      state: 'refused',
      reason: 'it is more than the 64 bytes expected',
    });
  });

  it('no file descriptor is left open, whatever the outcome', async () => {
    const { readdirSync } = await import('node:fs');
    writeFileSync(at('f'), '1234\n');
    writeFileSync(at('big'), 'x'.repeat(100));
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 20; i++) {
      await readSmallFile(at('f'), 64);
      await readSmallFile(at('big'), 64);
      await readFileTail(at('big'), 10);
      await summarizeState(at('f'));
    }
    expect(open()).toBe(before);
  });

  it('a socket is named as one', async () => {
    const { createServer } = await import('node:net');
    const { stat } = await import('node:fs/promises');
    const server = createServer();
    await new Promise<void>((r) => server.listen(at('sock'), r));
    try {
      expect(kindOf(await stat(at('sock')))).toBe('a socket');
      expect(await openRegular(at('sock'))).toMatchObject({ state: 'refused' });
    } finally {
      server.close();
    }
  });

  it('a directory at the lock path cannot be taken over: no lock, and it says why', async () => {
    mkdirSync(at('l'));
    const lock = await acquireLock(at('l'), Deadline.in(1000));
    expect(lock).toMatchObject({
      acquired: true,
      unlocked: expect.stringContaining('a stale lock is there (it is a directory'),
    });
  });

  it('releaseSync removes our lock at once (for a process about to exit)', async () => {
    const lock = await acquireLock(at('l'), Deadline.in(1000));
    // Taken, for real: the file holds our PID.
    expect(lock.acquired).toBe(true);
    expect(lock.acquired && lock.unlocked).toBeUndefined();
    expect(readFileSync(at('l'), 'utf8')).toBe(`${process.pid}\n`);
    if (!lock.acquired) throw new Error('not acquired');
    lock.releaseSync();
    expect(existsSync(at('l'))).toBe(false);
  });

  itNeeds(AS_ROOT, "another user's shutdown is not one of ours: its lock is stale", async () => {
    chmodSync(dir, 0o755);
    const holder = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sleep', '30'], {
      stdio: 'ignore',
    });
    children.push(holder);
    // Until setpriv has become nobody and exec'd sleep.
    for (
      let i = 0;
      i < 200 && !/^Uid:\s+65534/m.test(readFileSync(`/proc/${holder.pid}/status`, 'utf8'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    writeFileSync(at('l'), `${holder.pid}\n`);
    expect(await lockHolder(at('l'))).toMatchObject({
      live: false,
      why: `PID ${holder.pid} belongs to another user`,
    });
  });

  const script = (body: string) => {
    const file = at('agentapi');
    writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  };

  it.each([
    ['[ "$1" = --version ] && echo "agentapi version 0.12.1" || echo "no flag given"', { raw: '0.12.1' }],
    ['echo "  agentapi version 0.12.1  "', { raw: '0.12.1' }],
    ["printf 'agentapi version 0.12.1\\nagentapi version 9.9.9\\n'", { raw: '0.12.1' }],
    ['echo "x agentapi version 0.12.1"', { error: expect.stringContaining('is not AgentAPI') }],
    ['echo "agentapi version 0.12.1 extra"', { error: expect.stringContaining('is not AgentAPI') }],
    [`echo "${'v'.repeat(60)}"`, { error: expect.stringContaining(`printed "${'v'.repeat(60)}", not`) }],
  ])('readVersion: %s', async (body, expected) => {
    expect(await readVersion(script(body), 2000)).toMatchObject(expected);
  });

  it('readVersion: a file without execute permission is named as such (even for root)', async () => {
    writeFileSync(at('plain'), '#!/bin/sh\necho agentapi version 1.0.0\n', { mode: 0o644 });
    expect(await readVersion(at('plain'), 1000)).toEqual({ error: `${at('plain')} is not executable` });
  });
});

describe('the private folder (private-dir.ts)', () => {
  it('is created 0700 when missing, and an existing private one is accepted', async () => {
    expect(await privateDirProblem(at('p'))).toBeUndefined();
    expect(statSync(at('p')).mode & 0o777).toBe(0o700);
    expect(await privateDirProblem(at('p'))).toBeUndefined();
  });

  it.each([
    ['open to its group', 0o750, 'is open to other users (mode 0750)'],
    ['open to everyone', 0o707, 'is open to other users (mode 0707)'],
    ['writable by others', 0o702, 'is open to other users (mode 0702)'],
  ])('one %s is refused and left as it is', async (_, mode, why) => {
    mkdirSync(at('p'));
    chmodSync(at('p'), mode);
    expect(await privateDirProblem(at('p'))).toBe(
      `${at('p')} ${why}; if it is yours, \`chmod 700 ${at('p')}\``,
    );
    expect(statSync(at('p')).mode & 0o777).toBe(mode);
  });

  it('a folder that cannot be made names why', async () => {
    writeFileSync(at('file'), '');
    expect(await privateDirProblem(at('file/p'))).toMatch(/^.*file\/p cannot be created \(/);
  });

  itNeeds(AS_ROOT, "another user's folder is refused, and stays theirs", async () => {
    mkdirSync(at('theirs'), { mode: 0o700 });
    chownSync(at('theirs'), 65534, 65534);
    expect(await privateDirProblem(at('theirs'))).toBe(
      `${at('theirs')} belongs to user id 65534, not to you (0)`,
    );
    expect(statSync(at('theirs')).uid).toBe(65534);
  });

  it('a symbolic link, a file, or a folder whose parent is missing is refused', async () => {
    mkdirSync(at('real'), { mode: 0o700 });
    symlinkSync(at('real'), at('link'));
    expect(await privateDirProblem(at('link'))).toBe(
      `${at('link')} is a symbolic link; it must be a folder of your own`,
    );
    writeFileSync(at('file'), '');
    expect(await privateDirProblem(at('file'))).toBe(`${at('file')} is a regular file, not a folder`);
    expect(await privateDirProblem(at('none/p'))).toBe(
      `${at('none/p')} cannot be created: ${at('none')} does not exist`,
    );
  });

  it.each([
    ['a file right in it', '/h/.agentapi/agentapi.pid', ['/h/.agentapi']],
    [
      'a file in a folder below it',
      '/h/.agentapi/review/agentapi.pid',
      ['/h/.agentapi', '/h/.agentapi/review'],
    ],
    ['two levels below it', '/h/.agentapi/a/b/x', ['/h/.agentapi', '/h/.agentapi/a', '/h/.agentapi/a/b']],
    ['a file elsewhere', '/tmp/agentapi.pid', []],
    ['a folder whose name only starts the same', '/h/.agentapi-old/agentapi.pid', []],
    ['the folder above it', '/h/agentapi.pid', []],
    [
      'a folder inside it whose name starts with two dots',
      '/h/.agentapi/..x/a.pid',
      ['/h/.agentapi', '/h/.agentapi/..x'],
    ],
  ])('privateFoldersOf: %s', (_, path, folders) => {
    expect(privateFoldersOf(path, '/h/.agentapi')).toEqual(folders);
  });

  it('preparePrivateFolders checks each folder once, in order, and names the first problem', async () => {
    const root = at('priv');
    expect(
      await preparePrivateFolders([`${root}/a.pid`, `${root}/sub/b.json`, '/tmp/x.pid'], root),
    ).toBeUndefined();
    expect(statSync(`${root}/sub`).mode & 0o777).toBe(0o700);
    chmodSync(`${root}/sub`, 0o755);
    expect(await preparePrivateFolders([`${root}/a.pid`, `${root}/sub/b.json`], root)).toContain(
      `${root}/sub is open to other users (mode 0755)`,
    );
    chmodSync(root, 0o777);
    expect(await preparePrivateFolders([`${root}/sub/b.json`], root)).toContain(
      `${root} is open to other users (mode 0777)`,
    );
  });
});
