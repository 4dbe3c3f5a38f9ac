// One shutdown at a time per AgentAPI: a second SIGTERM kills AgentAPI without saving (SPEC §2),
// so a concurrent shutdown waits for the first instead of signalling again.

import { open, readFile, unlink } from 'node:fs/promises';
import { type Deadline, pollUntil } from './deadline.js';
import { fsReason } from './errors.js';
import { isRunning, readProc } from './proc.js';

export type LockResult =
  /** `unlocked`: the lock file could not be created; we go on without one rather than not at all. */
  | { acquired: true; release: () => Promise<void>; unlocked?: string }
  /** Another live process held it; `finished` tells whether it let go before our deadline. */
  | { acquired: false; holder: number; finished: boolean };

export async function acquireLock(path: string, deadline: Deadline): Promise<LockResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { acquired: true, release: () => releaseLock(path) };
    } catch (error) {
      // A missing or read-only directory must not stop the shutdown itself.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return unlocked(path, fsReason(error));
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 1 && isRunning(await readProc(holder))) {
      const finished = await pollUntil(deadline, async () =>
        (await readFile(path).catch(() => undefined)) ? undefined : true,
      );
      return { acquired: false, holder, finished: finished === true };
    }
    // Left behind by a shutdown that died: take it over.
    await unlink(path).catch(() => undefined);
  }
  return unlocked(path, 'it keeps coming back');
}

function unlocked(path: string, why: string): LockResult {
  return { acquired: true, release: async () => {}, unlocked: `cannot take the lock ${path} (${why})` };
}

async function releaseLock(path: string): Promise<void> {
  const holder = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (holder === String(process.pid)) await unlink(path).catch(() => undefined);
}
