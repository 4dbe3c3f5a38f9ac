// One shutdown at a time per AgentAPI: a second SIGTERM kills AgentAPI without saving (SPEC §2),
// so a concurrent shutdown waits for the first instead of signalling again.
//
// The lock lives next to the PID file, which may be in /tmp, where anyone can write anything. So a
// lock is honoured only while its holder is verifiably another `agentapi-lifecycle` shutdown of
// the same user, started before the lock was written; anything else (a dead PID, a stranger's
// PID, a FIFO, a huge file) is stale and taken over. A waiting shutdown keeps checking.
//
// Taking over is atomic: of the shutdowns that find the same stale lock, exactly one replaces it.
// Each first creates a guard named after that very lock (its inode and time) with O_EXCL; the one
// that gets it checks the lock is still the one it judged and renames its own over it. The others
// find the guard taken, wait for the new holder, and defer to it.

// The small calls here are synchronous, as in local-file.ts: Bun's fs/promises costs a thread-pool
// round trip each, the bulk of an idle checkpoint's time (#29).
import { lstatSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { type Deadline, pollUntil } from '../utils/deadline.js';
import { attempt, fsReason } from '../utils/errors.js';
import { readSmallFile, removeQuietly, replaceFile, writeNewFile } from '../utils/local-file.js';
import { parsePid } from './pid-file.js';
import { isOurs, isRunning, readProc } from './proc.js';

export type LockResult =
  /** `unlocked`: the lock could not be taken; we go on without one rather than not at all. */
  | { acquired: true; release: () => Promise<void>; releaseSync: () => void; unlocked?: string }
  /** A live shutdown held it and let go (`finished`), or still held it at our deadline. */
  | { acquired: false; holder: number; finished: boolean };

/** The shutdown lock's holders: `shutdown`, and `start --replace` (it runs the shutdown sequence). */
export const SHUTDOWN_HOLDERS = ['shutdown', 'start'] as const;
/** The checkpoint lock's holders: a `checkpoint` (a Coder cron tick, or one of start's). */
export const CHECKPOINT_HOLDERS = ['checkpoint'] as const;

export interface LockOptions {
  /** The commands whose live process may hold this lock (its argv[1]). */
  holders?: readonly string[];
  /** Called when a live holder is found and waited for. */
  onWait?: (holder: number) => void;
  /** false: a live holder is not waited for; it is reported at once (as unfinished). */
  wait?: boolean;
}
/** A lock file holds "<pid>\n". */
const MAX_LOCK_BYTES = 32;
/** The holder writes the lock right after it starts; allow clock and rounding slack. */
const START_SLACK_MS = 1000;
/** Stale locks taken over before giving up on locking (each one is a race lost or a lock planted). */
const MAX_TAKEOVERS = 5;

/** Which lock file: a takeover replaces exactly the one judged stale, never its successor. */
export interface LockStamp {
  ino: number;
  mtimeMs: number;
}

export type Holder = { live: true; pid: number } | { live: false; why: string; stamp?: LockStamp };

/** How long a shutdown that lost the race for a takeover waits for the winner's lock to appear. */
const TAKEOVER_WAIT_MS = 1000;

/** Beside the PID file: one shutdown at a time for the AgentAPI that writes it. */
export function shutdownLockPath(pidFile: string): string {
  return `${pidFile}.shutdown-lock`;
}

/** Beside the PID file: one checkpoint at a time, and none once a shutdown began. */
export function checkpointLockPath(pidFile: string): string {
  return `${pidFile}.checkpoint-lock`;
}

export async function acquireLock(
  path: string,
  deadline: Deadline,
  o: LockOptions = {},
): Promise<LockResult> {
  const holders = o.holders ?? SHUTDOWN_HOLDERS;
  // Stryker disable next-line EqualityOperator,UpdateOperator: untested bound; the deadline also ends a lock planted again and again
  for (let takeovers = 0; takeovers <= MAX_TAKEOVERS; takeovers++) {
    try {
      await writeNewFile(path, `${process.pid}\n`);
      return held(path);
    } catch (error) {
      // A missing, read-only or full folder must not stop the shutdown itself.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return unlocked(path, fsReason(error));
    }
    const holder = await lockHolder(path, holders);
    if (holder.live) {
      if (o.wait === false) return { acquired: false, holder: holder.pid, finished: false };
      o.onWait?.(holder.pid);
      // Wait while that shutdown is alive and still holds the lock.
      const outcome = await pollUntil(deadline, async () => {
        const now = await lockHolder(path, holders);
        if (now.live && now.pid === holder.pid) return undefined;
        return now.live ? 'other' : now.why === 'gone' ? 'released' : 'died';
      });
      if (outcome === undefined) return { acquired: false, holder: holder.pid, finished: false };
      if (outcome === 'released') return { acquired: false, holder: holder.pid, finished: true };
      // It died holding the lock (or another took over): try again.
      continue;
    }
    if (holder.why === 'gone' || !holder.stamp) continue;
    const takeover = await takeOver(path, holder.stamp, holders);
    if (takeover === 'won') return held(path);
    if (takeover === 'busy') {
      // Another shutdown is replacing this very lock: wait for its lock, then defer to it.
      const guard = guardPath(path, holder.stamp);
      await pollUntil(deadline.slice(TAKEOVER_WAIT_MS), async () =>
        (await exists(guard)) ? undefined : true,
      );
    } else if (takeover !== 'lost') {
      return unlocked(path, `a stale lock is there (${holder.why}) and ${takeover}`);
    }
  }
  return unlocked(path, 'stale locks keep reappearing');
}

function held(path: string): LockResult {
  return { acquired: true, release: () => releaseLock(path), releaseSync: () => releaseLockSync(path) };
}

/** The guard of one takeover: named after the very lock file it replaces. */
export function guardPath(path: string, stamp: LockStamp): string {
  return `${path}.takeover-${stamp.ino}-${Math.round(stamp.mtimeMs * 1000)}`;
}

async function exists(path: string): Promise<boolean> {
  return attempt(() => lstatSync(path)) !== undefined;
}

/**
 * Replaces the stale lock `stamp` with ours: "won"; another is replacing it: "busy"; it is no
 * longer that lock: "lost"; or why it cannot be done (a sticky /tmp, a read-only folder).
 */
export async function takeOver(
  path: string,
  stamp: LockStamp,
  holders: readonly string[],
): Promise<'won' | 'busy' | 'lost' | string> {
  const guard = guardPath(path, stamp);
  try {
    await writeNewFile(guard, '');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EEXIST' ? 'busy' : fsReason(error);
  }
  try {
    // Under the guard nobody else replaces this lock; is it still the one judged stale?
    const now = await lockHolder(path, holders);
    if (now.live || !now.stamp || now.stamp.ino !== stamp.ino || now.stamp.mtimeMs !== stamp.mtimeMs)
      return 'lost';
    await replaceFile(path, `${process.pid}\n`);
    return 'won';
  } catch (error) {
    return fsReason(error);
  } finally {
    removeQuietly(guard);
  }
}

/** Whether the lock file at `path` names a live holder of ours (one of `holders`), and if not, why. */
export async function lockHolder(
  path: string,
  holders: readonly string[] = SHUTDOWN_HOLDERS,
): Promise<Holder> {
  const file = await readSmallFile(path, MAX_LOCK_BYTES);
  if (file.state === 'missing') return { live: false, why: 'gone' };
  if (file.state === 'refused') return { live: false, why: file.reason, stamp: await stampOf(path) };
  const stamp = { ino: file.stat.ino, mtimeMs: file.stat.mtimeMs };
  const stale = (why: string): Holder => ({ live: false, why, stamp });
  const parsed = parsePid(file.data.toString('utf8'));
  if ('reason' in parsed) return stale(parsed.reason);
  const proc = await readProc(parsed.pid);
  if (!isRunning(proc)) return stale(`PID ${parsed.pid} is not running`);
  if (!isOurs(proc)) return stale(`PID ${parsed.pid} belongs to another user`);
  const exe = attempt(() => readlinkSync(`/proc/${proc.pid}/exe`)) ?? '';
  if (!basename(exe).startsWith('agentapi-lifecycle') || !holders.includes(proc.argv[1] ?? '')) {
    return stale(`PID ${parsed.pid} is not an agentapi-lifecycle ${holders[0]}`);
  }
  if (proc.startedAtMs > file.stat.mtimeMs + START_SLACK_MS) {
    return stale(`PID ${parsed.pid} started after the lock was written`);
  }
  return { live: true, pid: parsed.pid };
}

/** A refused lock (a FIFO, a huge file) is stamped without being opened for reading. */
async function stampOf(path: string): Promise<LockStamp | undefined> {
  const s = attempt(() => lstatSync(path));
  return s && { ino: s.ino, mtimeMs: s.mtimeMs };
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
  if (file.state === 'ok' && file.data.toString('utf8').trim() === String(process.pid)) removeQuietly(path);
}

/** For a process about to exit at once (a second signal): no await is possible there. */
function releaseLockSync(path: string): void {
  removeQuietly(path);
}
