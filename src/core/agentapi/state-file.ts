// AgentAPI's state file: confirming a save (the file was replaced) and reading a summary.
// AgentAPI writes <file>.tmp and renames it over <file>, so a save changes the inode.

import { statSync } from 'node:fs';
import { type Deadline, pollUntil } from '../utils/deadline.js';
import { fsReason } from '../utils/errors.js';
import { withRegularFile } from '../utils/local-file.js';
import { lastElements, NotJsonError } from './last-elements.js';

export interface FileStamp {
  ino: number;
  mtimeMs: number;
  size: number;
}

export async function stampOf(path: string): Promise<FileStamp | undefined> {
  try {
    // Synchronous: a thread-pool round trip of fs/promises costs more than the stat (#29).
    const s = statSync(path);
    return { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
  } catch {
    return undefined;
  }
}

export function wasReplaced(before: FileStamp | undefined, after: FileStamp | undefined): boolean {
  if (!after) return false;
  if (!before) return true;
  return after.ino !== before.ino || after.mtimeMs !== before.mtimeMs || after.size !== before.size;
}

/**
 * A file's times come from the kernel's coarse clock, which lags by up to one tick (1–10 ms; seen
 * here: a state file stamped 3 ms before AgentAPI logged the save), while AgentAPI stamps its
 * messages with a fine one. So a file saved just after the newest message can look older than it.
 */
export const COARSE_CLOCK_MS = 10;

/**
 * Does a state file stamped `stamp` hold the conversation whose newest message is from
 * `newestMs`? "yes": written after it; "maybe": within one coarse-clock tick of it (a save right
 * after the message, or a message right after the save); "no": older.
 */
export function heldBy(stamp: FileStamp, newestMs: number): 'yes' | 'maybe' | 'no' {
  if (newestMs <= stamp.mtimeMs) return 'yes';
  return newestMs <= stamp.mtimeMs + COARSE_CLOCK_MS ? 'maybe' : 'no';
}

/** The new stamp once `path` differs from `before`, or undefined at the deadline. */
export function waitForReplacement(
  path: string,
  before: FileStamp | undefined,
  deadline: Deadline,
): Promise<FileStamp | undefined> {
  return pollUntil(deadline, async () => {
    const now = await stampOf(path);
    return wasReplaced(before, now) ? now : undefined;
  });
}

export interface StateSummary {
  path: string;
  exists: boolean;
  size?: number;
  modifiedAt?: string;
  /** `version` field of the file; AgentAPI writes 1. */
  formatVersion?: number;
  messages?: number;
  /** Why it could not be read or parsed. */
  problem?: string;
}

/**
 * Reads the state file for `status`: a regular file only (never a FIFO someone planted), streamed
 * through the same scanner as /messages, so a state file of any size costs little memory.
 */
export async function summarizeState(path: string): Promise<StateSummary> {
  const summary = await withRegularFile(path, async (handle, stat) => {
    const summary: StateSummary = {
      path,
      exists: true,
      size: stat.size,
      modifiedAt: new Date(stat.mtimeMs).toISOString(),
    };
    try {
      const found = await lastElements(handle.createReadStream({ autoClose: false }), {
        keep: 0,
        fields: [],
        topFields: ['version'],
      });
      summary.messages = found.total;
      const version = Number(found.top.get('version'));
      summary.formatVersion = Number.isInteger(version) ? version : undefined;
      if (summary.formatVersion !== 1) {
        summary.problem = `format version is ${found.top.get('version') ?? 'missing'}, expected 1`;
      }
    } catch (error) {
      summary.problem =
        error instanceof NotJsonError
          ? `is not a state file AgentAPI can load (${error.message}); AgentAPI will report that and start fresh`
          : `cannot be read (${fsReason(error)})`;
    }
    return summary;
  });
  if (!('state' in summary)) return summary;
  return summary.state === 'missing'
    ? { path, exists: false }
    : { path, exists: true, problem: summary.reason };
}
