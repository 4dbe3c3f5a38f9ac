// What the last `start` did about the agent's own session (a resume or not, what it added to the
// agent command, the task's session, an adopted state), the Task's prompt and status reporting,
// kept beside the PID file so that `status` can tell a person later.

import { readSmallFile, replaceFile } from './utils/local-file.js';

/** What `start` did about the agent's own session, kept beside the PID file for `status`. */
export interface StartRecord {
  at: string;
  type: string;
  resumed: boolean;
  why: string;
  added: string[];
  source?: string;
  /** The folder AgentAPI and the agent started in. */
  cwd: string;
  /** The agent's session, when it is one named by us (the task's), and what was done about it. */
  sessionId?: string;
  sessionWhy?: string;
  /** The registry module's state file the state file started as a copy of. */
  adoptedFrom?: string;
  /** The Task's prompt: given to AgentAPI or not, why, whether it was seen delivered. */
  prompt?: { given: boolean; bytes: number; why: string; delivered?: boolean };
  /** Status reporting to the Task: configured, unsupported, or failed, and why. */
  reporting?: { state: string; why: string; slug: string };
}

export function startRecordPath(pidFile: string): string {
  return `${pidFile}.start.json`;
}

/** Written in one rename (0600); a failure only costs `status` the line. */
export async function writeStartRecord(pidFile: string, record: StartRecord): Promise<void> {
  await replaceFile(startRecordPath(pidFile), `${JSON.stringify(record)}\n`).catch(() => undefined);
}

/** The record of the last start, if there is a readable one. */
export async function readStartRecord(pidFile: string): Promise<StartRecord | undefined> {
  const file = await readSmallFile(startRecordPath(pidFile), 16 * 1024);
  if (file.state !== 'ok') return undefined;
  try {
    const record = JSON.parse(file.data.toString('utf8')) as StartRecord;
    return typeof record.resumed === 'boolean' && typeof record.why === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}
