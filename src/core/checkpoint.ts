// Periodic checkpoints while AgentAPI runs: SIGUSR1 so the state file is recent, and a fresh
// log snapshot in coderd, so a crash, an OOM kill or a stop script that never ran loses little.
// Skipped when nothing changed since the last one. Failures are logged, never fatal.

import { createHash } from 'node:crypto';
import { Deadline } from './deadline.js';
import { describe } from './errors.js';
import type { Logger } from './log.js';
import { collectSnapshot, type PostTarget, sendSnapshot } from './log-snapshot.js';
import { send } from './signals.js';

export interface CheckpointOptions {
  intervalMs: number;
  agentApiUrl: string;
  /** AgentAPI's PID (our own child) when it handles SIGUSR1; undefined: no state saves. */
  savePid?: number;
  /** Where to post snapshots; undefined: no snapshots. */
  target?: PostTarget;
  maxMessages: number;
  maxBytes: number;
  logger: Logger;
  /** Randomness for the jitter; tests may fix it. */
  random?: () => number;
}

export interface Checkpointer {
  /** No checkpoint starts after this, even if one is running now. */
  stop(): void;
}

export function startCheckpoints(o: CheckpointOptions): Checkpointer {
  let last: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  async function tick(): Promise<void> {
    const deadline = Deadline.in(Math.max(1000, Math.min(o.intervalMs, 30_000)));
    try {
      // The same fetch and fit as shutdown's snapshot; its body tells whether anything changed.
      const { total, snapshot } = await collectSnapshot({
        baseUrl: o.agentApiUrl,
        maxMessages: o.maxMessages,
        maxBytes: o.maxBytes,
        deadline,
      });
      const fingerprint = createHash('sha256').update(`${total}\n${snapshot.body}`).digest('hex');
      if (fingerprint === last) {
        o.logger.debug('checkpoint: nothing changed since the last one');
        return;
      }
      if (snapshot.kept === 0) {
        // Posting an empty list would replace the task's last good snapshot with nothing.
        o.logger.debug('checkpoint: no messages to show yet');
        return;
      }
      const done: string[] = [];
      if (o.savePid !== undefined && send(o.savePid, 'SIGUSR1') === 'sent')
        done.push('asked AgentAPI to save state');
      let ok = true;
      if (o.target) {
        const outcome = await sendSnapshot(snapshot.body, o.target, deadline, o.logger);
        if (outcome.ok) done.push(`posted a snapshot (${snapshot.kept} messages, ${snapshot.bytes} bytes)`);
        else {
          ok = false;
          o.logger.warn(`checkpoint: snapshot not stored: ${outcome.message}`);
        }
      }
      if (ok) last = fingerprint;
      if (done.length) o.logger.info(`checkpoint: ${done.join('; ')}`);
    } catch (error) {
      o.logger.warn(`checkpoint failed: ${describe(error)}`);
    }
  }

  // The next checkpoint is scheduled once this one ends, so two never overlap. Each period is
  // jittered by up to a quarter, so a fleet started together does not post in lockstep all day.
  const random = o.random ?? Math.random;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => tick().then(schedule), o.intervalMs * (0.75 + 0.5 * random()));
    timer.unref();
  };
  schedule();

  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
