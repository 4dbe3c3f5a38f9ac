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
// could not be delivered does not wedge the task.

import { getMessages } from './agentapi/agentapi-client.js';
import { type Deadline, pollUntil } from './utils/deadline.js';
import { EXIT, UserError } from './utils/errors.js';
import { readSmallFile, replaceFile } from './utils/local-file.js';
import { sha256Hex } from './utils/sha256.js';

/** AgentAPI's own whitespace (msgfmt.WhiteSpaceChars), trimmed from both ends of every message. */
const AGENTAPI_WHITESPACE = /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g;
/** Linux takes one environment string of at most 32 pages (MAX_ARG_STRLEN), name and `=` included. */
export const MAX_PROMPT_BYTES = 32 * 4096 - 1 - 'AGENTAPI_INITIAL_PROMPT='.length;
export const PROMPT_ENV = 'AGENTAPI_INITIAL_PROMPT';

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

export async function readPromptRecord(stateFile: string): Promise<PromptRecord | undefined> {
  const file = await readSmallFile(promptRecordPath(stateFile), 4096);
  if (file.state !== 'ok') return undefined;
  try {
    const record = JSON.parse(file.data.toString('utf8')) as PromptRecord;
    return /^[0-9a-f]{64}$/.test(record.sha256) && ['handed', 'delivered'].includes(record.state)
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

/** Kept in one rename; a record that cannot be kept only means the prompt may be given again. */
export async function writePromptRecord(
  stateFile: string,
  record: PromptRecord,
): Promise<string | undefined> {
  return replaceFile(promptRecordPath(stateFile), `${JSON.stringify(record)}\n`).then(
    () => undefined,
    (error: unknown) => String((error as Error).message ?? error),
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

/** Waits until AgentAPI shows the prompt as a user message; false at the deadline. */
export async function waitForDelivery(baseUrl: string, sent: string, deadline: Deadline): Promise<boolean> {
  const maxBytes = Math.max(64 * 1024, Buffer.byteLength(sent));
  const delivered = await pollUntil(
    deadline,
    async () => {
      try {
        const { messages } = await getMessages(
          { baseUrl, timeoutMs: Math.max(1, Math.min(5000, deadline.remaining())), signal: deadline.signal },
          { keep: 50, maxBytes },
        );
        return messages.some((m) => m.role === 'user' && m.content === sent) ? true : undefined;
      } catch {
        return undefined;
      }
    },
    { firstMs: 50, maxMs: 250 },
  );
  return delivered === true;
}

/**
 * The prompt in `path` (`-`: standard input), as it is, byte for byte; refused when AgentAPI could
 * not take it (larger than one environment string), or when it is not UTF-8 text.
 */
export async function readPrompt(path: string): Promise<string> {
  const limit = MAX_PROMPT_BYTES;
  let data: Buffer;
  if (path === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += chunk.length;
      if (size > limit) break;
      chunks.push(chunk);
    }
    data = Buffer.concat(chunks);
    if (size > limit) throw tooLarge('standard input', `more than ${limit}`);
  } else {
    const file = await readSmallFile(path, limit);
    if (file.state === 'missing')
      throw new UserError(`--prompt-file ${path} does not exist`, EXIT.usage, { usage: 'start' });
    if (file.state === 'refused') {
      if (file.reason.includes('more than')) throw tooLarge(path, file.reason.replace(/^it is /, ''));
      throw new UserError(`--prompt-file ${path}: ${file.reason}`, EXIT.usage, { usage: 'start' });
    }
    data = file.data;
  }
  const text = data.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(data)) {
    throw new UserError(
      `the prompt in ${path === '-' ? 'standard input' : path} is not UTF-8 text`,
      EXIT.usage,
      { usage: 'start' },
    );
  }
  return text;
}

function tooLarge(where: string, size: string): UserError {
  return new UserError(
    `the prompt in ${where} is ${size} bytes: AgentAPI takes its initial prompt through its environment, at most ${MAX_PROMPT_BYTES} bytes`,
    EXIT.usage,
    { usage: 'start' },
  );
}
