// One shutdown at a time per AgentAPI: a second SIGTERM kills AgentAPI without saving (SPEC §2),
// so a concurrent shutdown waits for the first instead of signalling again.
//
// The lock lives next to the PID file, usually in /tmp, where anyone can write anything. So a
// lock is honoured only while its holder is verifiably another `agentapi-lifecycle` shutdown of
// the same user, started before the lock was written; anything else (a dead PID, a stranger's
// PID, a FIFO, a huge file) is stale and taken over. A waiting shutdown keeps checking.

import { unlinkSync } from 'node:fs';
import { open, readlink, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { parsePid } from '../agentapi/pid-file.js';
import { type Deadline, pollUntil } from '../utils/deadline.js';
import { fsReason } from '../utils/errors.js';
import { readSmallFile } from '../utils/local-file.js';
import { isOurs, isRunning, readProc } from './proc.js';

export type LockResult =
  /** `unlocked`: the lock could not be taken; we go on without one rather than not at all. */
  | { acquired: true; release: () => Promise<void>; releaseSync: () => void; unlocked?: string }
  /** A live shutdown held it and let go (`finished`), or still held it at our deadline. */
  | { acquired: false; holder: number; finished: boolean };

/** Commands that take this lock (`start --replace` runs the shutdown sequence too). */
const LOCKING_COMMANDS = ['shutdown', 'start'];
/** A lock file holds "<pid>\n". */
const MAX_LOCK_BYTES = 32;
/** The holder writes the lock right after it starts; allow clock and rounding slack. */
const START_SLACK_MS = 1000;
/** Stale locks taken over before giving up on locking (each one is a race lost or a lock planted). */
const MAX_TAKEOVERS = 5;

export type Holder = { live: true; pid: number } | { live: false; why: string };

export async function acquireLock(
  path: string,
  deadline: Deadline,
  onWait?: (holder: number) => void,
): Promise<LockResult> {
  // Stryker disable next-line EqualityOperator,UpdateOperator: untested bound; the deadline also ends a lock planted again and again
  for (let takeovers = 0; takeovers <= MAX_TAKEOVERS; takeovers++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { acquired: true, release: () => releaseLock(path), releaseSync: () => releaseLockSync(path) };
    } catch (error) {
      // A missing or read-only directory must not stop the shutdown itself.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return unlocked(path, fsReason(error));
    }
    const holder = await lockHolder(path);
    if (holder.live) {
      onWait?.(holder.pid);
      // Wait while that shutdown is alive and still holds the lock.
      const outcome = await pollUntil(deadline, async () => {
        const now = await lockHolder(path);
        if (now.live && now.pid === holder.pid) return undefined;
        return now.live ? 'other' : now.why === 'gone' ? 'released' : 'died';
      });
      if (outcome === undefined) return { acquired: false, holder: holder.pid, finished: false };
      if (outcome === 'released') return { acquired: false, holder: holder.pid, finished: true };
      // It died holding the lock (or another took over): try again.
      continue;
    }
    if (holder.why === 'gone') continue;
    // Stale: take it over. In a sticky /tmp another user's file cannot be removed.
    try {
      await unlink(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT')
        return unlocked(path, `a stale lock is there (${holder.why}) and ${fsReason(error)}`);
    }
  }
  return unlocked(path, 'stale locks keep reappearing');
}

/** Whether the lock file at `path` names a live shutdown of ours, and if not, why. */
export async function lockHolder(path: string): Promise<Holder> {
  const file = await readSmallFile(path, MAX_LOCK_BYTES);
  if (file.state === 'missing') return { live: false, why: 'gone' };
  if (file.state === 'refused') return { live: false, why: file.reason };
  const parsed = parsePid(file.data.toString('utf8'));
  if ('reason' in parsed) return { live: false, why: parsed.reason };
  const proc = await readProc(parsed.pid);
  if (!isRunning(proc)) return { live: false, why: `PID ${parsed.pid} is not running` };
  if (!isOurs(proc)) return { live: false, why: `PID ${parsed.pid} belongs to another user` };
  const exe = await readlink(`/proc/${proc.pid}/exe`).catch(() => '');
  if (!basename(exe).startsWith('agentapi-lifecycle') || !LOCKING_COMMANDS.includes(proc.argv[1] ?? '')) {
    return { live: false, why: `PID ${parsed.pid} is not an agentapi-lifecycle shutdown` };
  }
  if (proc.startedAtMs > file.stat.mtimeMs + START_SLACK_MS) {
    return { live: false, why: `PID ${parsed.pid} started after the lock was written` };
  }
  return { live: true, pid: parsed.pid };
}

function unlocked(path: string, why: string): LockResult {
  return {
    acquired: true,
    release: async () => {},
    releaseSync: () => {},
    unlocked: `cannot take the lock ${path} (${why})`,
  };
}

async function releaseLock(path: string): Promise<void> {
  const file = await readSmallFile(path, MAX_LOCK_BYTES);
  if (file.state === 'ok' && file.data.toString('utf8').trim() === String(process.pid)) {
    await unlink(path).catch(() => undefined);
  }
}

/** For a process about to exit at once (a second signal): no await is possible there. */
function releaseLockSync(path: string): void {
  try {
    unlinkSync(path);
  } catch {}
}
