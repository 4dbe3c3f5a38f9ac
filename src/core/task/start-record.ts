// What the last `start` did about the agent's own session (a resume or not, what it added to the
// agent command, the task's session, an adopted state), the Task's prompt and status reporting,
// kept beside the PID file so that `status` can tell a person later.

import { readOwnFile, replaceFile } from '../utils/local-file.js';
import { redact } from '../utils/log.js';

/** What `start` did about the agent's own session, kept beside the PID file for `status`. */
export interface StartRecord {
  at: string;
  type: string;
  resumed: boolean;
  why: string;
  added: string[];
  source?: string;
  /** The task it was started for (--task-id), when given. */
  taskId?: string;
  /** The folder AgentAPI and the agent started in. */
  cwd: string;
  /** The agent's session, when it is one named by us (the task's), and what was done about it. */
  sessionId?: string;
  sessionWhy?: string;
  /** The registry module's state file the state file started as a copy of. */
  adoptedFrom?: string;
  /** The Task's prompt: given to AgentAPI or not, why, whether it was seen delivered. */
  prompt?: { given: boolean; bytes: number; why: string; delivered?: boolean; sha256?: string };
  /** Status reporting to the Task: configured, unsupported, or failed, and why. */
  reporting?: { state: string; why: string; slug: string };
}

export function startRecordPath(pidFile: string): string {
  return `${pidFile}.start.json`;
}

/**
 * Written in one rename (0600); a failure only costs `status` the line. `secrets` (the agent token)
 * are hidden in every word of it before it is written: what Coder's CLI printed may hold the token.
 */
export async function writeStartRecord(
  pidFile: string,
  record: StartRecord,
  secrets: readonly string[],
): Promise<void> {
  const text = redact(JSON.stringify(record), secrets);
  await replaceFile(startRecordPath(pidFile), `${text}\n`).catch(() => undefined);
}

/**
 * The record of the last start, if there is one of ours (a link, or another user's file beside a
 * PID file in /tmp, is ignored, and `ignored` says why).
 */
export async function readStartRecord(pidFile: string): Promise<{ record?: StartRecord; ignored?: string }> {
  const path = startRecordPath(pidFile);
  const file = await readOwnFile(path, 16 * 1024);
  if (file.state === 'missing') return {};
  if (file.state === 'refused') return { ignored: `ignoring the start record ${path}: ${file.reason}` };
  try {
    const record = JSON.parse(file.data.toString('utf8')) as StartRecord;
    if (typeof record.resumed === 'boolean' && typeof record.why === 'string') return { record };
  } catch {}
  return { ignored: `ignoring the start record ${path}: it is not one` };
}
