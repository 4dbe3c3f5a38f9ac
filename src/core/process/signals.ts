// Send, wait, escalate: tini's recipe. Callers identify the process first (proc.ts).

import { type Deadline, pollUntil } from '../utils/deadline.js';
import { isRunning, readProc } from './proc.js';

export type SendResult = 'sent' | 'gone' | 'denied';

export function send(pid: number, signal: NodeJS.Signals): SendResult {
  try {
    process.kill(pid, signal);
    return 'sent';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return 'gone';
    if (code === 'EPERM') return 'denied';
    throw error;
  }
}

/** True once `pid` has exited (a zombie counts), false if still running at the deadline. */
export async function waitForExit(pid: number, deadline: Deadline): Promise<boolean> {
  const exited = await pollUntil(deadline, async () => (isRunning(await readProc(pid)) ? undefined : true));
  return exited === true;
}

export type StopOutcome =
  /** Exited after SIGTERM within the grace period. */
  | 'terminated'
  /** Ignored SIGTERM; exited after SIGKILL. */
  | 'killed'
  /** Was not running when we came to signal it. */
  | 'already-gone'
  /** Signals were refused (another user's process). */
  | 'denied'
  /** Still running when the budget ran out. */
  | 'survived';

export interface StopOptions {
  /** How long SIGTERM gets before SIGKILL. */
  graceMs: number;
  /** The whole stop's budget; SIGKILL's wait comes out of it too. */
  deadline: Deadline;
  /** Asked after the grace period: send SIGKILL? (No when we are being torn down ourselves.) */
  escalate?: () => boolean;
}

export async function stopProcess(pid: number, options: StopOptions): Promise<StopOutcome> {
  const term = send(pid, 'SIGTERM');
  if (term === 'gone') return 'already-gone';
  if (term === 'denied') return 'denied';
  if (await waitForExit(pid, options.deadline.slice(options.graceMs))) return 'terminated';
  if (options.escalate && !options.escalate()) return 'survived';
  const kill = send(pid, 'SIGKILL');
  if (kill === 'gone') return 'terminated';
  if (kill === 'denied') return 'denied';
  return (await waitForExit(pid, options.deadline)) ? 'killed' : 'survived';
}
