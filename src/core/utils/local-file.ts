// Opening local paths that anyone may have planted (/tmp is shared with every user of the
// workspace): never block on a FIFO or device, accept regular files only, read a bounded amount.

import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { fsReason } from './errors.js';

export type Opened =
  | { state: 'ok'; handle: FileHandle; stat: Stats }
  | { state: 'missing' }
  /** Exists but is not something we may use: not a regular file, or unreadable. */
  | { state: 'refused'; reason: string };

/**
 * Opens `path` for reading without blocking (O_NONBLOCK: a FIFO with no writer would hang a
 * plain open or read forever) and accepts it only if it is a regular file.
 */
export async function openRegular(path: string): Promise<Opened> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
    return { state: 'refused', reason: `cannot read it (${fsReason(error)})` };
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    return { state: 'refused', reason: `it is ${kindOf(stat)}, not a regular file` };
  }
  return { state: 'ok', handle, stat };
}

export type LocalRead =
  | { state: 'ok'; data: Buffer; stat: Stats }
  | { state: 'missing' }
  | { state: 'refused'; reason: string };

/** The whole of a small regular file, or why not: larger than `maxBytes` is refused, not read. */
export async function readSmallFile(path: string, maxBytes: number): Promise<LocalRead> {
  const opened = await openRegular(path);
  if (opened.state !== 'ok') return opened;
  const { handle, stat } = opened;
  try {
    if (stat.size > maxBytes) {
      return { state: 'refused', reason: `it is ${stat.size} bytes, more than the ${maxBytes} expected` };
    }
    // One byte more than allowed tells a file that grew since fstat.
    const buffer = Buffer.alloc(maxBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, maxBytes + 1, 0);
    if (bytesRead > maxBytes) {
      return { state: 'refused', reason: `it is more than the ${maxBytes} bytes expected` };
    }
    return { state: 'ok', data: buffer.subarray(0, bytesRead), stat };
  } finally {
    await handle.close();
  }
}

/** The last `maxBytes` of a regular file (for showing the end of a log). */
export async function readFileTail(path: string, maxBytes: number): Promise<LocalRead> {
  const opened = await openRegular(path);
  if (opened.state !== 'ok') return opened;
  const { handle, stat } = opened;
  try {
    const from = Math.max(0, stat.size - maxBytes);
    // Stryker disable next-line MethodExpression: a larger buffer is only cut to what was read
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    return { state: 'ok', data: buffer.subarray(0, bytesRead), stat };
  } finally {
    await handle.close();
  }
}

/**
 * Opens (creating if needed, 0600) a file to append to, refusing anything but a regular file:
 * O_NONBLOCK makes a FIFO with no reader fail at once instead of hanging the open.
 */
export async function openForAppend(path: string): Promise<FileHandle> {
  const flags =
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY;
  let handle: FileHandle;
  try {
    handle = await open(path, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENXIO' ? `${path} is a FIFO, not a regular file` : `${path}: ${fsReason(error)}`,
    );
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new Error(`${path} is ${kindOf(stat)}, not a regular file`);
  }
  return handle;
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
