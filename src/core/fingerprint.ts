// The fingerprint of the last conversation a checkpoint (or shutdown) saved and posted, kept beside
// the state file: the next checkpoint compares it with what /messages shows, and sends nothing when
// they are the same. A regular file of one line, read with a bound, replaced in one rename.

import { configuredStateFile, type Located } from './agentapi/agentapi-process.js';
import type { Collected } from './coderd/log-snapshot.js';
import { describe } from './utils/errors.js';
import { readSmallFile, replaceFile } from './utils/local-file.js';
import type { Logger } from './utils/log.js';
import { sha256Hex } from './utils/sha256.js';

/** What a checkpoint saved and posted: the whole conversation's length and the body it posts. */
export function fingerprintOf(collected: Collected): string {
  return sha256Hex(`${collected.total}\n${collected.snapshot.body}`);
}

/** Beside the state file AgentAPI writes; beside the PID file when it writes none. */
export async function fingerprintPath(
  found: Located,
  o: { pidFile: string; stateFile?: string },
): Promise<string> {
  const configured = await configuredStateFile(found.proc);
  const stateFile = configured.kind === 'set' ? configured.path : o.stateFile;
  return `${stateFile ?? o.pidFile}.checkpoint`;
}

/** The fingerprint kept at `path`: a regular file of one short line, else none. */
export async function readFingerprint(path: string): Promise<string | undefined> {
  const file = await readSmallFile(path, 128);
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
