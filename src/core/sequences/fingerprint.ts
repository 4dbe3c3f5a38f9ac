// The fingerprint of the last conversation a checkpoint (or shutdown) saved and posted, kept beside
// the state file: the next checkpoint compares it with what /messages shows, and sends nothing when
// they are the same. A regular file of one line, read with a bound, replaced in one rename.

// The fingerprint itself is the conversation's, as read (coderd/log-snapshot.ts, Conversation).

import { describe } from '../utils/errors.js';
import { readOwnFile, replaceFile } from '../utils/local-file.js';
import type { Logger } from '../utils/log.js';

/** Beside the state file AgentAPI writes; beside the PID file when it writes none. */
export function fingerprintPath(stateFile: string | undefined, pidFile: string): string {
  return `${stateFile ?? pidFile}.checkpoint`;
}

/** The fingerprint kept at `path`: a regular file of one short line, else none. */
export async function readFingerprint(path: string): Promise<string | undefined> {
  const file = await readOwnFile(path, 128);
  if (file.state !== 'ok') return undefined;
  const text = file.data.toString('utf8').trim();
  return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
}

/** Replaces the fingerprint at `path` in one rename (0600); a failure is logged, never fatal. */
export async function writeFingerprint(path: string, fingerprint: string, logger: Logger): Promise<void> {
  try {
    await replaceFile(path, `${fingerprint}\n`);
  } catch (error) {
    logger.warn(
      `cannot keep the checkpoint's fingerprint in ${path} (${describe(error)}); the next one posts again`,
    );
  }
}
