// Can a folder's file system take a write? A full or read-only home makes AgentAPI's save fail
// (it writes `<state file>.tmp`, then renames it), and its PID file with it; better to say so at
// once, by name, than to wait out a timeout and report "unconfirmed".

// Synchronous calls, as in local-file.ts: a thread-pool round trip of fs/promises costs more (#29).
import { accessSync, constants, statfsSync } from 'node:fs';
import { attempt } from './errors.js';

export interface NoRoom {
  kind: 'no-space' | 'read-only';
  /** e.g. "the file system of /home/coder/.agentapi is full (0 bytes free, 8614 needed)" */
  detail: string;
}

/**
 * Why `dir`'s file system cannot take a new file of `bytes` (at least one block), or undefined
 * when it can, or when it cannot tell (statfs refused: then the write itself will say).
 */
export async function noRoomFor(dir: string, bytes: number): Promise<NoRoom | undefined> {
  try {
    accessSync(dir, constants.W_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EROFS') {
      return { kind: 'read-only', detail: `the file system of ${dir} is read-only` };
    }
  }
  const fs = attempt(() => statfsSync(dir));
  if (!fs) return undefined;
  // What a process of ours may use: root may also use the blocks kept for it.
  const freeBytes = (process.geteuid?.() === 0 ? fs.bfree : fs.bavail) * fs.bsize;
  const needed = Math.max(bytes, fs.bsize);
  if (freeBytes < needed) {
    return {
      kind: 'no-space',
      detail: `the file system of ${dir} is full (${freeBytes} bytes free, ${needed} needed)`,
    };
  }
  // Some file systems (btrfs) report no inode counts at all: only a count of 0 of many is full.
  if (fs.files > 0 && fs.ffree === 0) {
    return { kind: 'no-space', detail: `the file system of ${dir} has no free inodes` };
  }
  return undefined;
}
