// Saving AgentAPI's state, for shutdown and checkpoint: SIGUSR1 only to an AgentAPI known to handle
// it (0.12.0+), and the save confirmed by the state file AgentAPI writes being replaced, or known
// to be needless (AgentAPI skips a save when nothing changed since the last one).

import { dirname, resolve } from 'node:path';
import { isSameProcess } from '../process/proc.js';
import { send } from '../process/signals.js';
import type { Deadline } from '../utils/deadline.js';
import { noRoomFor } from '../utils/disk.js';
import type { Logger } from '../utils/log.js';
import type { CoderEnv } from '../utils/settings.js';
import { configuredStateFile, type Located, persistenceSupport } from './agentapi-process.js';
import { type FileStamp, heldBy, stampOf, waitForReplacement } from './state-file.js';

export interface SaveOptions {
  statePersistence: boolean;
  /** Used only when AgentAPI's own state file cannot be read from /proc. */
  stateFile?: string;
  logger: Logger;
}

/** What shutdown and checkpoint both take: the AgentAPI to save, and the snapshot to post. */
export interface SaveAndPostOptions extends SaveOptions {
  taskId?: string;
  agentApiUrl: string;
  port: number;
  pidFile: string;
  maxMessages: number;
  maxBytes: number;
  timeoutMs: number;
  saveTimeoutMs: number;
  coder: CoderEnv;
}

export interface SaveResult {
  status: 'ok' | 'skipped' | 'failed';
  /** confirmed, up-to-date, unconfirmed, no-space, read-only, unsupported, version-unknown, no-state-file, … */
  outcome: string;
  detail: string;
}

export interface PendingSave {
  stateFile: string;
  before: FileStamp | undefined;
}

export interface SaveStart {
  /** SIGUSR1 was sent: finishSave() says how it went. */
  pending?: PendingSave;
  /** Else what happened instead. */
  result?: SaveResult;
  version?: string;
  supportsPersistence?: boolean;
}

/** A save that may or may not be needed (heldBy: "maybe") is waited for this long. */
const AMBIGUOUS_SAVE_WAIT_MS = 200;

/** Decides whether to save and sends SIGUSR1; never to an AgentAPI that predates it. */
export async function startSave(found: Located | undefined, o: SaveOptions): Promise<SaveStart> {
  const skip = (outcome: string, detail: string) => ({ status: 'skipped' as const, outcome, detail });
  if (!o.statePersistence) return { result: skip('disabled', '--no-state-persistence') };
  if (!found) return { result: skip('not-signalled', 'no AgentAPI process was identified') };
  const support = await persistenceSupport(found.proc);
  o.logger.debug(`save: SIGUSR1 support: ${support.evidence}`);
  const known = { version: support.version, supportsPersistence: support.supportsPersistence };
  if (support.supportsPersistence === false) {
    const detail = `AgentAPI ${support.raw} predates state persistence (0.12.0); SIGUSR1 would kill it`;
    return { ...known, result: skip('unsupported', detail) };
  }
  if (support.supportsPersistence === undefined)
    return { ...known, result: skip('version-unknown', `not sending SIGUSR1: ${support.evidence}`) };
  const stateFile = await stateFileToConfirm(found, o);
  if (typeof stateFile !== 'string') return { ...known, result: stateFile };
  const before = await stampOf(stateFile);
  o.logger.debug(`save: before SIGUSR1, ${describeStamp(stateFile, before)}`);
  const failed = (outcome: string, detail: string) => ({
    ...known,
    result: { status: 'failed' as const, outcome, detail },
  });
  // A full or read-only file system: the save cannot land, so neither signal nor wait for it.
  // The new file holds at least what the old one did (the conversation only grows).
  const noRoom = await noRoomFor(dirname(stateFile), before?.size ?? 0);
  if (noRoom) return failed(noRoom.kind, `${stateFile} cannot be saved: ${noRoom.detail}`);
  if (!(await isSameProcess(found.proc))) return failed('gone', 'AgentAPI exited before the save');
  const sent = send(found.pid, 'SIGUSR1');
  if (sent !== 'sent') return failed(sent, `SIGUSR1 to PID ${found.pid}: ${sent}`);
  return { ...known, pending: { stateFile, before } };
}

/**
 * The file whose replacement confirms the save: the one AgentAPI writes, read from its own
 * command line or environment; `--state-file` only when those cannot be read.
 */
async function stateFileToConfirm(found: Located, o: SaveOptions): Promise<string | SaveResult> {
  const configured = await configuredStateFile(found.proc);
  const given = o.stateFile ? resolve(o.stateFile) : undefined;
  if (configured.kind === 'none') {
    // AgentAPI writes no state file; SIGTERM is all it needs, whatever --state-file says.
    return { status: 'skipped', outcome: 'no-state-file', detail: 'AgentAPI runs without --state-file' };
  }
  if (configured.kind === 'set') {
    if (given && given !== configured.path) {
      o.logger.warn(
        `--state-file ${given} is not the file AgentAPI writes (${configured.path}); confirming the save by ${configured.path}`,
      );
    }
    return configured.path;
  }
  if (given) return given;
  return {
    status: 'failed',
    outcome: 'state-file-unknown',
    detail: `${configured.reason}, so the save cannot be confirmed; pass --state-file`,
  };
}

/**
 * Tells a pending save what /messages shows, which may make waiting for it needless: with no
 * messages there is nothing to save, and a file newer than the newest message is current. Within
 * a tick of the file's coarse clock it may be either: a replacement still counts if it comes soon.
 */
export function noteMessages(
  pending: PendingSave | undefined,
  seen: { total: number; newestMs?: number },
  upToDate: AbortController,
): void {
  const before = pending?.before;
  const held = before && seen.newestMs !== undefined ? heldBy(before, seen.newestMs) : 'no';
  if (seen.total === 0 || held === 'yes') upToDate.abort();
  else if (held === 'maybe') setTimeout(() => upToDate.abort(), AMBIGUOUS_SAVE_WAIT_MS).unref();
}

/** Waits for the state file to be replaced, until the deadline or until it is known to be current. */
export async function finishSave(
  pending: PendingSave,
  deadline: Deadline,
  upToDate: AbortSignal,
  logger: Logger,
): Promise<SaveResult> {
  const after = await waitForReplacement(
    pending.stateFile,
    pending.before,
    deadline.slice(deadline.remaining(), upToDate),
  );
  logger.debug(
    `save: after waiting, ${describeStamp(pending.stateFile, after ?? (await stampOf(pending.stateFile)))}`,
  );
  if (after)
    return {
      status: 'ok',
      outcome: 'confirmed',
      detail: `${pending.stateFile} replaced (${after.size} bytes)`,
    };
  if (upToDate.aborted) {
    return {
      status: 'ok',
      outcome: 'up-to-date',
      detail: `${pending.stateFile} is newer than the last message (or there is none); nothing to save`,
    };
  }
  // Perhaps the disk filled meanwhile: say so rather than only "not in time".
  const noRoom = await noRoomFor(dirname(pending.stateFile), pending.before?.size ?? 0);
  return {
    status: 'failed',
    outcome: noRoom?.kind ?? 'unconfirmed',
    detail: `${pending.stateFile} was not replaced in time${noRoom ? `: ${noRoom.detail}` : ''}`,
  };
}

export function describeStamp(path: string, stamp: FileStamp | undefined): string {
  if (!stamp) return `${path} does not exist`;
  return `${path}: inode ${stamp.ino}, ${stamp.size} bytes, modified ${new Date(stamp.mtimeMs).toISOString()}`;
}
