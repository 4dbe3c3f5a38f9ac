// One checkpoint while AgentAPI runs: SIGUSR1 so the state file is recent, and a fresh log
// snapshot in coderd, so a crash, an OOM kill or a stop script that never ran loses little.
// Skipped when nothing changed since the last one. Failures are logged, never fatal.
// (When they happen: checkpoint-timer.ts. In a detached start each runs in a process of its own,
// checkpoint-entry.ts, so that the resident supervisor never loads any of this.)

import { createHash } from 'node:crypto';
import { collectSnapshot, type PostTarget, sendSnapshot } from './coderd/log-snapshot.js';
import { send } from './process/signals.js';
import type { Deadline } from './utils/deadline.js';
import { describe } from './utils/errors.js';
import type { Logger } from './utils/log.js';

export interface CheckpointOptions {
  agentApiUrl: string;
  /** AgentAPI's PID (our own child) when it handles SIGUSR1; undefined: no state saves. */
  savePid?: number;
  /** Where to post snapshots; undefined: no snapshots. */
  target?: PostTarget;
  maxMessages: number;
  maxBytes: number;
  logger: Logger;
}

/**
 * One checkpoint. `last` is the fingerprint of what the previous one saved and posted; the result
 * is the fingerprint now saved and posted (`last` again when nothing changed or it failed).
 */
export async function checkpoint(
  o: CheckpointOptions,
  last: string | undefined,
  deadline: Deadline,
): Promise<string | undefined> {
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
      return last;
    }
    if (snapshot.kept === 0) {
      // Posting an empty list would replace the task's last good snapshot with nothing.
      o.logger.debug('checkpoint: no messages to show yet');
      return last;
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
    if (done.length) o.logger.info(`checkpoint: ${done.join('; ')}`);
    return ok ? fingerprint : last;
  } catch (error) {
    // Aborted by the deadline's parent: AgentAPI stopped (checkpoint-timer.ts), nothing to report.
    const reason = deadline.signal.reason as { name?: string } | undefined;
    if (deadline.signal.aborted && reason?.name !== 'TimeoutError')
      o.logger.debug('checkpoint: stopped with AgentAPI');
    else o.logger.warn(`checkpoint failed: ${describe(error)}`);
    return last;
  }
}
