// The Task's prompt, given to the agent once. The path is AgentAPI's own initial prompt
// (AGENTAPI_INITIAL_PROMPT, its --initial-prompt): AgentAPI waits until the agent is ready for
// input (its own per-agent readiness check), types it the way it types every message, records it
// as the first user message, and keeps `initial_prompt_sent` in its state file, so a --load-state
// never sends it again. It goes in AgentAPI's environment, not its command line (which every user
// of the workspace can read in /proc) and never through a shell: byte for byte, as AgentAPI takes
// any message (it trims whitespace at both ends). Not the agent's own argument (`claude "<prompt>"`):
// each agent has its own, and a restarted command takes it again (coder/coder#20225).
//
// Given on a first start only: never on a resume (the conversation holds it), and never again
// once it was seen delivered, even when AgentAPI's conversation was lost before it was saved. A
// record beside the state file says which: handed to AgentAPI, or delivered (seen as a user message).
// One handed over but never seen delivered is given again at the next first start: a prompt that
// could not be delivered does not wedge the task. Every command that reads the conversation later
// (status, checkpoint, shutdown, snapshot) marks it delivered when it sees it there: an agent slower
// than start's wait still gets its prompt once.
//
// Any prompt a person can type: one AgentAPI cannot take as it is (a NUL byte, invalid UTF-8, more
// than one environment string holds) is not given, said in one line with its size and never its
// text, and the agent starts without it. --prompt and --prompt-file follow that one rule.

import { scanMessages } from '../agentapi/agentapi-client.js';
import { locateAgentApi, stateFileOf } from '../agentapi/agentapi-process.js';
import { isRfc3339 } from '../coderd/rules.js';
import { type Deadline, pollUntil } from '../utils/deadline.js';
import { describe, EXIT, UserError } from '../utils/errors.js';
import { readOwnFile, readSmallFile, replaceFile } from '../utils/local-file.js';
import type { Logger } from '../utils/log.js';
import { oldDefaultPidFile } from '../utils/settings.js';
import { sha256Hex } from '../utils/sha256.js';

/** AgentAPI's own whitespace (msgfmt.WhiteSpaceChars), trimmed from both ends of every message. */
const AGENTAPI_WHITESPACE = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
/** Linux takes one environment string of at most 32 pages (MAX_ARG_STRLEN), name and `=` included. */
export const MAX_PROMPT_BYTES = 32 * 4096 - 1 - 'AGENTAPI_INITIAL_PROMPT='.length;
export const PROMPT_ENV = 'AGENTAPI_INITIAL_PROMPT';
/** How much of a prompt file or standard input is read: enough to tell its size in a message. */
const READ_LIMIT = 1024 * 1024;

/** The Task's prompt as start got it: what AgentAPI will send, or why it cannot be given. */
export type TaskPrompt =
  | { where: string; bytes: number; sent: string }
  | { where: string; bytes: number; refused: string };

/**
 * The one rule for a prompt from --prompt or --prompt-file: UTF-8 text without a NUL byte, at most
 * MAX_PROMPT_BYTES once trimmed as AgentAPI trims it. `data` is the prompt's bytes as given
 * (`more`: there were more than those).
 */
export function checkPrompt(data: Buffer, where: string, more = false): TaskPrompt {
  if (more) return { where, bytes: data.length, refused: `it is more than ${data.length} bytes` };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    return { where, bytes: data.length, refused: 'it is not UTF-8 text' };
  }
  const sent = asSent(text);
  const bytes = Buffer.byteLength(sent);
  if (sent.includes('\0'))
    return { where, bytes, refused: 'it holds a NUL byte, which no environment string can' };
  if (bytes > MAX_PROMPT_BYTES) {
    return {
      where,
      bytes,
      refused: `AgentAPI takes its initial prompt through its environment, at most ${MAX_PROMPT_BYTES} bytes`,
    };
  }
  return { where, bytes, sent };
}

/** Words for a prompt that is not given: its size and where it came from, never its text. */
export function refusedWhy(prompt: Extract<TaskPrompt, { refused: string }>): string {
  return `the Task's prompt (${prompt.bytes} bytes, ${prompt.where}) is not given: ${prompt.refused}; AgentAPI and the agent start without it`;
}

export interface PromptRecord {
  /** SHA-256 of the prompt as AgentAPI sends it (trimmed); never the prompt itself. */
  sha256: string;
  bytes: number;
  /** When start gave it to AgentAPI. */
  at: string;
  state: 'handed' | 'delivered';
  deliveredAt?: string;
}

/** The prompt as AgentAPI will send it. */
export function asSent(prompt: string): string {
  return prompt.replace(AGENTAPI_WHITESPACE, '');
}

export function digest(sent: string): string {
  return sha256Hex(sent);
}

export function promptRecordPath(stateFile: string): string {
  return `${stateFile}.prompt`;
}

export type PromptRecordRead = { record?: PromptRecord; ignored?: string };

/**
 * The prompt's record beside the state file: ours only (a link, another user's file, or one that
 * is not a record is ignored, and `ignored` says why), its times checked and never in the future.
 */
export async function readPromptRecord(stateFile: string): Promise<PromptRecordRead> {
  const path = promptRecordPath(stateFile);
  const file = await readOwnFile(path, 4096);
  if (file.state === 'missing') return {};
  const ignored = (why: string) => ({ ignored: `ignoring the prompt's record ${path}: ${why}` });
  if (file.state === 'refused') return ignored(file.reason);
  let record: PromptRecord;
  try {
    record = JSON.parse(file.data.toString('utf8')) as PromptRecord;
  } catch {
    return ignored('it is not JSON');
  }
  const soon = Date.now() + 60_000;
  const time = (value: unknown) => typeof value === 'string' && isRfc3339(value) && Date.parse(value) < soon;
  const valid =
    record !== null &&
    typeof record === 'object' &&
    /^[0-9a-f]{64}$/.test(String(record.sha256)) &&
    Number.isSafeInteger(record.bytes) &&
    time(record.at) &&
    (record.state === 'handed' || (record.state === 'delivered' && time(record.deliveredAt)));
  if (!valid) return ignored('it is not a prompt record of ours, or holds a time in the future');
  const { sha256, bytes, at, state, deliveredAt } = record;
  return { record: { sha256, bytes, at, state, ...(deliveredAt ? { deliveredAt } : {}) } };
}

/** Kept in one rename; a record that cannot be kept only means the prompt may be given again. */
export async function writePromptRecord(
  stateFile: string,
  record: PromptRecord,
): Promise<string | undefined> {
  return replaceFile(promptRecordPath(stateFile), `${JSON.stringify(record)}\n`).then(
    () => undefined,
    (error: unknown) => describe(error),
  );
}

export interface PromptDecision {
  /** Give it to AgentAPI now. */
  give: boolean;
  why: string;
}

/** Whether this start gives the prompt: a first start, and not delivered before. */
export function decidePrompt(o: { sent: string; resumed: boolean; record?: PromptRecord }): PromptDecision {
  const bytes = Buffer.byteLength(o.sent);
  if (o.resumed)
    return {
      give: false,
      why: `the Task's prompt (${bytes} bytes) is not sent: a resume, whose conversation holds it`,
    };
  const same = o.record?.sha256 === digest(o.sent) ? o.record : undefined;
  if (same?.state === 'delivered') {
    return {
      give: false,
      why: `the Task's prompt (${bytes} bytes) is not sent again: it was delivered at ${same.deliveredAt ?? same.at}`,
    };
  }
  if (same) {
    return {
      give: true,
      why: `the Task's prompt (${bytes} bytes) is given to AgentAPI again: it was handed over at ${same.at} but never seen delivered`,
    };
  }
  return {
    give: true,
    why: `the Task's prompt (${bytes} bytes) is given to AgentAPI, which sends it once the agent is ready`,
  };
}

/**
 * Whether AgentAPI's conversation holds a user message that is the prompt `record` names, by its
 * SHA-256 (the prompt itself is not kept); the whole conversation is streamed, nothing kept.
 */
export async function conversationHolds(
  baseUrl: string,
  record: PromptRecord,
  deadline: Deadline,
): Promise<boolean> {
  let seen = false;
  await scanMessages(
    { baseUrl, timeoutMs: Math.max(1, Math.min(10_000, deadline.remaining())), signal: deadline.signal },
    {
      keep: 1,
      fields: ['role', 'content'],
      // A JSON escape is at most 6 bytes for one: any longer content is not the prompt.
      fieldBytes: record.bytes * 6 + 16,
      accept: (fields) => {
        const content = fields.get('content');
        if (seen || fields.get('role') !== '"user"' || content === undefined) return false;
        try {
          const text = JSON.parse(content) as unknown;
          seen =
            typeof text === 'string' &&
            Buffer.byteLength(text) === record.bytes &&
            digest(text) === record.sha256;
        } catch {}
        return false;
      },
    },
  );
  return seen;
}

/** Waits until AgentAPI shows the prompt as a user message; false at the deadline. */
export async function waitForDelivery(
  baseUrl: string,
  record: PromptRecord,
  deadline: Deadline,
): Promise<boolean> {
  const delivered = await pollUntil(
    deadline,
    async () => ((await conversationHolds(baseUrl, record, deadline).catch(() => false)) ? true : undefined),
    { firstMs: 50, maxMs: 250 },
  );
  return delivered === true;
}

/**
 * For the commands that read the conversation (status, checkpoint, shutdown, snapshot): a prompt
 * start handed to AgentAPI but did not see delivered (an agent slower than its wait) is marked
 * delivered once the conversation shows it, so that no later first start gives it again. Quiet
 * when there is nothing to do; a record that cannot be read or written is said.
 */
export async function notePromptDelivered(o: {
  stateFile: string;
  baseUrl: string;
  deadline: Deadline;
  logger: Pick<Logger, 'info' | 'warn'>;
}): Promise<boolean> {
  const { record, ignored } = await readPromptRecord(o.stateFile);
  if (ignored) o.logger.warn(ignored);
  if (record?.state !== 'handed') return false;
  const seen = await conversationHolds(o.baseUrl, record, o.deadline).catch(() => false);
  if (!seen) return false;
  const deliveredAt = new Date().toISOString();
  const problem = await writePromptRecord(o.stateFile, { ...record, state: 'delivered', deliveredAt });
  if (problem) {
    o.logger.warn(
      `the Task's prompt is now in the conversation, but its record cannot say so (${problem}): a later first start may give it again`,
    );
    return false;
  }
  o.logger.info(`the Task's prompt (${record.bytes} bytes) is in the conversation: marked delivered`);
  return true;
}

/** notePromptDelivered for the AgentAPI `pidFile` names, and the state file it writes (snapshot). */
export async function notePromptDeliveredBy(o: {
  pidFile: string;
  port: number;
  stateFile?: string;
  baseUrl: string;
  deadline: Deadline;
  logger: Pick<Logger, 'info' | 'warn'>;
}): Promise<boolean> {
  const located = await locateAgentApi(o.pidFile, o.port, {
    oldDefault: oldDefaultPidFile(o.pidFile, o.port),
  });
  const stateFile = located.ok ? await stateFileOf(located.found, o) : undefined;
  return stateFile ? notePromptDelivered({ ...o, stateFile }) : false;
}

/** The prompt given as --prompt: its bytes as typed (invalid UTF-8 is not what the shell passed). */
export async function promptFromArgument(value: string): Promise<TaskPrompt> {
  const raw = await rawFlagValue('--prompt');
  const data = raw ?? Buffer.from(value, 'utf8');
  return checkPrompt(data, 'from --prompt');
}

/**
 * The bytes the command line held for `flag` before the first `--` (its last occurrence), read from
 * /proc/self/cmdline: the runtime decodes arguments with U+FFFD for what is not UTF-8, so what was
 * typed can only be told there. Undefined when /proc cannot say.
 */
async function rawFlagValue(flag: string): Promise<Buffer | undefined> {
  const file = await readSmallFile('/proc/self/cmdline', 4 * 1024 * 1024);
  if (file.state !== 'ok') return undefined;
  const args: Buffer[] = [];
  for (let at = 0; at < file.data.length; ) {
    const end = file.data.indexOf(0, at);
    args.push(file.data.subarray(at, end === -1 ? file.data.length : end));
    at = end === -1 ? file.data.length : end + 1;
  }
  let found: Buffer | undefined;
  const prefix = Buffer.from(`${flag}=`);
  for (let i = 1; i < args.length; i++) {
    const arg = args[i];
    if (arg.toString('latin1') === '--') break;
    if (arg.toString('latin1') === flag && i + 1 < args.length) found = args[++i];
    else if (arg.subarray(0, prefix.length).equals(prefix)) found = arg.subarray(prefix.length);
  }
  return found;
}

/**
 * The prompt in `path` (`-`: standard input), byte for byte, checked by the one rule. A file that
 * cannot be read (missing, not a regular file) is a usage error: that is the template's mistake,
 * not the prompt's.
 */
export async function readPrompt(path: string): Promise<TaskPrompt> {
  const where = path === '-' ? 'from standard input' : `from ${path}`;
  if (path === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > READ_LIMIT) break;
    }
    const data = Buffer.concat(chunks);
    return checkPrompt(data.subarray(0, READ_LIMIT), where, data.length > READ_LIMIT);
  }
  const file = await readSmallFile(path, READ_LIMIT);
  if (file.state === 'missing')
    throw new UserError(`--prompt-file ${path} does not exist`, EXIT.usage, { usage: 'start' });
  if (file.state === 'refused') {
    if (/more than/.test(file.reason))
      return { where, bytes: READ_LIMIT, refused: `it is more than ${READ_LIMIT} bytes` };
    throw new UserError(`--prompt-file ${path}: ${file.reason}`, EXIT.usage, { usage: 'start' });
  }
  return checkPrompt(file.data, where);
}
