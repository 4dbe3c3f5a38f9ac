// AgentAPI's PID file: "%d\n" written by AgentAPI itself (SPEC §2). We accept exactly that:
// a decimal integer above 1. 0, 1 and negatives mean "every process" or init to kill(2), so a
// file holding them is invalid, never obeyed.

import { lstatSync } from 'node:fs';
import { attempt } from '../utils/errors.js';
import { readSmallFile } from '../utils/local-file.js';
import { printable } from '../utils/text.js';

/** Linux's PID_MAX_LIMIT (2^22); no PID is larger. */
export const PID_MAX = 4_194_304;
/** A real PID file is a few bytes; read no more than this. */
const MAX_READ = 64;

export type PidFile =
  | { state: 'missing'; path: string }
  | { state: 'invalid'; path: string; reason: string }
  | { state: 'ok'; path: string; pid: number; writtenAtMs: number };

export type ParsedPid = { pid: number } | { reason: string };

export function parsePid(text: string): ParsedPid {
  const trimmed = text.trim();
  if (trimmed === '') return { reason: 'it is empty' };
  if (!/^\d+$/.test(trimmed)) return { reason: `"${printable(trimmed, 20)}" is not a decimal process id` };
  if (trimmed.length > 1 && trimmed.startsWith('0')) return { reason: `"${trimmed}" has leading zeros` };
  const pid = Number(trimmed);
  if (pid <= 1) return { reason: `${pid} is not a process we may signal` };
  if (pid > PID_MAX) return { reason: `${trimmed} is larger than any Linux process id` };
  return { pid };
}

export async function readPidFile(path: string): Promise<PidFile> {
  // AgentAPI writes it 0600: unreadable often means another user's AgentAPI.
  const file = await readSmallFile(path, MAX_READ);
  if (file.state === 'missing') return { state: 'missing', path };
  if (file.state === 'refused') return { state: 'invalid', path, reason: file.reason };
  const parsed = parsePid(file.data.toString('utf8'));
  if ('reason' in parsed) return { state: 'invalid', path, reason: parsed.reason };
  return { state: 'ok', path, pid: parsed.pid, writtenAtMs: file.stat.mtimeMs };
}

/**
 * The PID file at `given`; when it is absent, the one at `oldDefault` (the /tmp default of 0.1.x),
 * but only a file of our own there: in the shared /tmp anyone may have created one first.
 */
export async function readPidFileOrOld(given: string, oldDefault: string | undefined): Promise<PidFile> {
  const file = await readPidFile(given);
  if (file.state !== 'missing' || !oldDefault) return file;
  const owner = attempt(() => lstatSync(oldDefault))?.uid;
  if (owner === undefined || owner !== process.geteuid?.()) return file;
  return readPidFile(oldDefault);
}
