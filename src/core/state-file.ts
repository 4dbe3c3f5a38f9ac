// AgentAPI's state file: confirming a save (the file was replaced) and reading a summary.
// AgentAPI writes <file>.tmp and renames it over <file>, so a save changes the inode.

import { open, stat } from 'node:fs/promises';
import { type Deadline, pollUntil } from './deadline.js';
import { fsReason } from './errors.js';

export interface FileStamp {
  ino: number;
  mtimeMs: number;
  size: number;
}

export async function stampOf(path: string): Promise<FileStamp | undefined> {
  try {
    const s = await stat(path);
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

/** Reads the state file for `status`, refusing to load absurdly large files whole. */
export async function summarizeState(path: string, maxBytes = 256 * 1024 * 1024): Promise<StateSummary> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return { path, exists: false, problem: missing ? undefined : `cannot be read (${fsReason(error)})` };
  }
  try {
    const s = await handle.stat();
    const summary: StateSummary = {
      path,
      exists: true,
      size: s.size,
      modifiedAt: new Date(s.mtimeMs).toISOString(),
    };
    if (s.size > maxBytes) return { ...summary, problem: `too large to inspect (${s.size} bytes)` };
    try {
      const json = JSON.parse(await handle.readFile('utf8')) as { version?: unknown; messages?: unknown };
      summary.formatVersion = typeof json.version === 'number' ? json.version : undefined;
      summary.messages = Array.isArray(json.messages) ? json.messages.length : undefined;
      if (summary.formatVersion !== 1)
        summary.problem = `format version is ${String(json.version)}, expected 1`;
      else if (summary.messages === undefined) summary.problem = 'has no messages list';
    } catch {
      summary.problem = 'is not valid JSON (AgentAPI will report it and start fresh)';
    }
    return summary;
  } finally {
    await handle.close();
  }
}
