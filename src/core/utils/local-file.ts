// Local files, the one place this code opens them. Paths anyone may have planted (/tmp is shared
// with every user of the workspace) are opened without blocking (a FIFO would hang), accepted only
// as regular files and read with a bound. And every file opened here is closed on every path,
// whatever fails: a handle left to the garbage collector makes Bun throw from the collector, at a
// moment no one chooses (a full disk did it: the write of a lock failed, its handle stayed open).
// Nothing else in src/ opens a file (test/unit/files.test.ts checks).
//
// Small files (a PID file, a lock, a record of one line) are read and written with synchronous
// calls behind the async signatures: Bun's fs/promises hands every call to a thread pool, about
// 0.25 ms for each open, stat, read and close (20 small reads: 5–6 ms, against 0.2 ms
// synchronously, measured in a compiled Bun program), the bulk of an idle checkpoint tick (#29).
// O_NONBLOCK keeps a planted FIFO from blocking either way.

import {
  closeSync,
  constants,
  type Dir,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  opendirSync,
  openSync,
  readlinkSync,
  readSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { attempt, fsReason } from './errors.js';

/** Runs `use` on `handle` and closes it afterwards, whatever `use` did. */
export async function closing<T>(handle: FileHandle, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  try {
    return await use(handle);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export type Refused = { state: 'missing' } | { state: 'refused'; reason: string };

/** Flags for reading a file someone may have planted: never blocks (a FIFO), never a terminal. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Why `path` could not be opened for reading, as a Refused. */
function refusedOpen(error: unknown): Refused {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
  return { state: 'refused', reason: `cannot read it (${fsReason(error)})` };
}

/** Runs `use` on the file descriptor and closes it afterwards, whatever `use` did. */
function closingFd<T>(fd: number, use: (fd: number) => T): T {
  try {
    return use(fd);
  } finally {
    try {
      closeSync(fd);
    } catch {}
  }
}

/**
 * Runs `use` on `path` opened for reading if it is a regular file (O_NONBLOCK: a FIFO with no
 * writer would hang a plain open or read forever), else says why not; the file is closed after.
 */
export async function withRegularFile<T>(
  path: string,
  use: (handle: FileHandle, stat: Stats) => Promise<T>,
): Promise<T | Refused> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    return refusedOpen(error);
  }
  return closing(handle, async (opened): Promise<T | Refused> => {
    const stat = await opened.stat();
    if (!stat.isFile()) return { state: 'refused', reason: `it is ${kindOf(stat)}, not a regular file` };
    return use(opened, stat);
  });
}

export type LocalRead = { state: 'ok'; data: Buffer; stat: Stats } | Refused;

/** The whole of a small regular file, or why not: larger than `maxBytes` is refused, not read. */
export async function readSmallFile(path: string, maxBytes: number): Promise<LocalRead> {
  return readSmall(path, maxBytes, false);
}

/**
 * The same, for a record we wrote ourselves (a prompt's, a start's, a checkpoint's) beside a file
 * that may lie in a folder others can write (/tmp): a symbolic link, or a file of another user, is
 * refused, whatever it says.
 */
export async function readOwnFile(path: string, maxBytes: number): Promise<LocalRead> {
  return readSmall(path, maxBytes, true);
}

function readSmall(path: string, maxBytes: number, own: boolean): LocalRead {
  let fd: number;
  try {
    fd = openSync(path, own ? READ_FLAGS | constants.O_NOFOLLOW : READ_FLAGS);
  } catch (error) {
    if (own && (error as NodeJS.ErrnoException).code === 'ELOOP')
      return { state: 'refused', reason: 'it is a symbolic link' };
    return refusedOpen(error);
  }
  return closingFd(fd, (opened): LocalRead => {
    const stat = fstatSync(opened);
    if (!stat.isFile()) return { state: 'refused', reason: `it is ${kindOf(stat)}, not a regular file` };
    const me = process.geteuid?.();
    if (own && stat.uid !== me)
      return { state: 'refused', reason: `it belongs to user id ${stat.uid}, not to you (${me})` };
    if (stat.size > maxBytes) {
      return { state: 'refused', reason: `it is ${stat.size} bytes, more than the ${maxBytes} expected` };
    }
    // One byte more than allowed tells a file that grew since fstat.
    const buffer = Buffer.alloc(maxBytes + 1);
    const bytesRead = readSync(opened, buffer, 0, maxBytes + 1, 0);
    if (bytesRead > maxBytes) {
      return { state: 'refused', reason: `it is more than the ${maxBytes} bytes expected` };
    }
    return { state: 'ok', data: buffer.subarray(0, bytesRead), stat };
  });
}

/** The last `maxBytes` of a regular file (for showing the end of a log). */
export async function readFileTail(path: string, maxBytes: number): Promise<LocalRead> {
  return withRegularFile(path, async (handle, stat): Promise<LocalRead> => {
    const from = Math.max(0, stat.size - maxBytes);
    // Stryker disable next-line MethodExpression: a larger buffer is only cut to what was read
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return { state: 'ok', data: buffer.subarray(0, bytesRead), stat };
  });
}

/**
 * Runs `use` on `path` opened (created if needed, 0600) to append to, refusing anything but a
 * regular file: O_NONBLOCK makes a FIFO with no reader fail at once instead of hanging the open.
 * Throws why it cannot be used.
 */
export async function withAppendFile<T>(path: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  // O_NOFOLLOW: a link planted where the log goes (/tmp) never leads into someone's files.
  const flags =
    constants.O_WRONLY |
    constants.O_APPEND |
    constants.O_CREAT |
    constants.O_NONBLOCK |
    constants.O_NOCTTY |
    constants.O_NOFOLLOW;
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENXIO'
        ? `${path} is a FIFO, not a regular file`
        : code === 'ELOOP'
          ? `${path} is a symbolic link; not following it`
          : `${path}: ${fsReason(error)}`,
    );
  }
  return closing(handle, async (opened) => {
    const stat = await opened.stat();
    if (!stat.isFile()) throw new Error(`${path} is ${kindOf(stat)}, not a regular file`);
    const me = process.geteuid?.();
    if (stat.uid !== me) throw new Error(`${path} belongs to user id ${stat.uid}, not to you (${me})`);
    return use(opened);
  });
}

/**
 * Creates `path`, which must not exist (O_EXCL: a file or link planted there is never written
 * through), with `data` (0600). A write that fails (a full disk) leaves no file behind: a
 * half-written lock or record would be read as one. Throws the error (EEXIST when it exists).
 */
export async function writeNewFile(path: string, data: string, mode = 0o600): Promise<void> {
  const flags =
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY;
  const fd = openSync(path, flags, mode);
  try {
    closingFd(fd, (created) => {
      const bytes = Buffer.from(data);
      // write(2) may write less than asked (a disk filling up): write the rest, or fail.
      for (let at = 0; at < bytes.length; ) {
        const written = writeSync(created, bytes, at);
        if (written <= 0) throw new Error(`${path}: nothing more could be written`);
        at += written;
      }
    });
  } catch (error) {
    // O_EXCL made it ours, and no one else can replace it in our folder or a sticky /tmp.
    removeQuietly(path);
    throw error;
  }
}

/** Removes `path` if it is there; a failure is no one's concern (a temporary file, our own lock). */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}

/**
 * Replaces `path` with `data` in one rename (0600), from a temporary file of this process beside
 * it: a reader sees the old file or the new one, never half of one. Throws the error; the
 * temporary file never stays behind.
 */
export async function replaceFile(path: string, data: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    // A temporary file of an earlier process that had our PID.
    removeQuietly(temporary);
    await writeNewFile(temporary, data);
    renameSync(temporary, path);
  } catch (error) {
    removeQuietly(temporary);
    throw error;
  }
}

/**
 * Writes `path` in one rename from a private (0600) file of an unpredictable name beside it, which
 * `fill` writes to chunk by chunk: a reader sees the old file or the whole new one, never part of
 * one. What is there is replaced only if it is a regular file of the user's own (never a link, a
 * folder, a device, another user's file). Throws why not; nothing of the attempt stays behind.
 * Returns the bytes written.
 */
export async function writeFileAtomically(
  path: string,
  fill: (write: (text: string) => void) => Promise<void>,
): Promise<number> {
  const replaceable = () => {
    const there = attempt(() => lstatSync(path));
    if (!there) return;
    if (!there.isFile()) throw new Error(`${path} is ${kindOf(there)}; not replacing it`);
    const me = process.geteuid?.();
    if (there.uid !== me)
      throw new Error(`${path} belongs to user id ${there.uid}, not to you (${me}); not replacing it`);
  };
  replaceable();
  const name = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('hex');
  const temporary = `${path}.${name}.tmp`;
  let fd: number;
  try {
    fd = openSync(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY,
      0o600,
    );
  } catch (error) {
    throw new Error(`cannot write beside ${path} (${fsReason(error)})`);
  }
  let bytes = 0;
  try {
    try {
      await fill((text) => {
        const data = Buffer.from(text);
        for (let at = 0; at < data.length; ) {
          const written = writeSync(fd, data, at);
          if (written <= 0) throw new Error(`${path}: nothing more could be written`);
          at += written;
        }
        bytes += data.length;
      });
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // Looked at again: it may have changed while the text was written.
    replaceable();
    renameSync(temporary, path);
  } catch (error) {
    removeQuietly(temporary);
    if ((error as NodeJS.ErrnoException).code) throw new Error(`cannot write ${path} (${fsReason(error)})`);
    throw error;
  }
  return bytes;
}

/** Folders whose files are the kernel's or devices, never a file of the user's. */
const NOT_FILES = ['/proc/', '/sys/', '/dev/'];
/** One read of a copy. */
const COPY_CHUNK = 1024 * 1024;

/**
 * Copies `from` to `to`, which must not exist, only if `from` is a regular file of the user's own
 * (not a link, nothing under /proc, /sys or /dev, at most `maxBytes`), and only if `check`, given
 * the bytes as they are copied, accepts them (it throws why not). The copy is written 0600 under an
 * unpredictable name beside `to`, then linked into place (never replacing a file that appeared
 * meanwhile), so `to` is whole or absent. Throws why not; 'missing' when `from` is absent.
 */
export async function copyOwnFile(
  from: string,
  to: string,
  o: { maxBytes: number; check: (chunks: AsyncIterable<Buffer>) => Promise<void> },
): Promise<'copied' | 'missing'> {
  let source: number;
  try {
    source = openSync(from, READ_FLAGS | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    throw new Error(code === 'ELOOP' ? 'it is a symbolic link' : `it cannot be read (${fsReason(error)})`);
  }
  try {
    const stat = fstatSync(source);
    // What was opened, wherever the path's folders led.
    const real = attempt(() => readlinkSync(`/proc/self/fd/${source}`)) ?? from;
    if (NOT_FILES.some((folder) => `${real}/`.startsWith(folder)))
      throw new Error(`it is ${real}, a file of the kernel's or a device, not a state file`);
    if (!stat.isFile()) throw new Error(`it is ${kindOf(stat)}, not a regular file`);
    const me = process.geteuid?.();
    if (stat.uid !== me) throw new Error(`it belongs to user id ${stat.uid}, not to you (${me})`);
    if (stat.size > o.maxBytes)
      throw new Error(`it is ${stat.size} bytes, more than the ${o.maxBytes} a state file may be`);
    const name = Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('hex');
    const temporary = `${to}.${name}.tmp`;
    let target: number;
    try {
      target = openSync(
        temporary,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NOCTTY,
        0o600,
      );
    } catch (error) {
      throw new Error(`cannot write beside ${to} (${fsReason(error)})`);
    }
    try {
      try {
        let copied = 0;
        const chunks = async function* () {
          for (;;) {
            // A buffer of its own each time: the check may hold on to what it was given.
            const buffer = Buffer.allocUnsafe(COPY_CHUNK);
            const read = readSync(source, buffer, 0, buffer.length, null);
            if (read === 0) return;
            // Stryker disable all: a file that grows while it is copied is a race no test can time
            copied += read;
            if (copied > o.maxBytes) throw new Error(`it grew past ${o.maxBytes} bytes while it was copied`);
            // Stryker restore all
            const chunk = buffer.subarray(0, read);
            for (let at = 0; at < chunk.length; ) {
              let written: number;
              try {
                written = writeSync(target, chunk, at);
              } catch (error) {
                throw new Error(`cannot write ${to} (${fsReason(error)})`);
              }
              if (written <= 0) throw new Error(`cannot write ${to}: nothing more could be written`);
              at += written;
            }
            yield chunk;
          }
        };
        const all = chunks();
        await o.check(all);
        // What the check did not read is copied too.
        for await (const _ of all);
        fsyncSync(target);
      } finally {
        closeSync(target);
      }
      try {
        linkSync(temporary, to);
      } catch (error) {
        // EEXIST: ours appeared meanwhile, and stays; the caller tells that apart.
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw error;
        throw new Error(`cannot put the copy in place at ${to} (${fsReason(error)})`);
      }
    } finally {
      removeQuietly(temporary);
    }
    return 'copied';
  } finally {
    closeSync(source);
  }
}

/**
 * The names of the folders in `dir` (not links to folders, not files), at most `limit` of them
 * read: a folder of any size costs a bounded read. None when `dir` cannot be read.
 */
export function subfolders(dir: string, limit: number): string[] {
  let opened: Dir;
  try {
    opened = opendirSync(dir);
  } catch {
    return [];
  }
  const names: string[] = [];
  try {
    for (let read = 0; read < limit; read++) {
      const entry = opened.readSync();
      if (!entry) break;
      if (entry.isDirectory()) names.push(entry.name);
    }
  } catch {
    // A folder that stops being readable midway: what was read stands.
  } finally {
    try {
      opened.closeSync();
    } catch {}
  }
  return names;
}

export function kindOf(stat: Stats): string {
  if (stat.isFile()) return 'a regular file';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  // Stryker disable next-line ConditionalExpression: every kind but this one is matched above
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}
