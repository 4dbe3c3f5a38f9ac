// The log-snapshot workflow shared by `snapshot`, `shutdown` and `start` checkpoints:
// fetch the last messages from AgentAPI, fit them to the budget, post them to coderd.

import { checkMessages, type RawMessages, readMessages } from '../agentapi/agentapi-client.js';
import { type PostOutcome, parseAgentUrl, postSnapshot } from '../coderd/coderd-client.js';
import { parseUuid } from '../coderd/rules.js';
import { buildSnapshot, type Snapshot } from '../coderd/snapshot.js';
import type { Deadline } from '../utils/deadline.js';
import { formatDuration } from '../utils/duration.js';
import { EXIT, UserError } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import { type CoderEnv, DEFAULTS, ENV } from '../utils/settings.js';
import { sha256Hex } from '../utils/sha256.js';
import { printable } from '../utils/text.js';

export interface CollectOptions {
  baseUrl: string;
  maxMessages: number;
  maxBytes: number;
  deadline: Deadline;
  /** For --verbose: each request as it ends. */
  trace?: (line: string) => void;
}

/** The conversation as read from AgentAPI, before its messages are checked. */
export interface Conversation {
  raw: RawMessages;
  /**
   * What a checkpoint compares with the last one's: the whole conversation's length and its last
   * messages as AgentAPI sent them, with the limits the snapshot is fitted to. Nothing else goes
   * into a snapshot, so the same fingerprint means the same snapshot and nothing to save or post.
   */
  fingerprint: string;
}

export interface Collected {
  /** Messages in AgentAPI's whole conversation. */
  total: number;
  snapshot: Snapshot;
  /** The conversation's fingerprint (Conversation). */
  fingerprint: string;
  /** Messages left out because coderd would refuse their role, and the first such role. */
  leftOut: number;
  leftOutRole?: string;
  /** `time` of the newest message, if there is one. */
  newestTime?: string;
}

export async function collectSnapshot(options: CollectOptions): Promise<Collected> {
  return snapshotOf(await readConversation(options), options);
}

/** The last messages from AgentAPI, unchecked, and their fingerprint. */
export async function readConversation(options: CollectOptions): Promise<Conversation> {
  const raw = await readMessages(
    {
      baseUrl: options.baseUrl,
      timeoutMs: Math.min(DEFAULTS.requestTimeoutMs, Math.max(1, options.deadline.remaining())),
      signal: options.deadline.signal,
      trace: options.trace,
    },
    { keep: options.maxMessages, maxBytes: options.maxBytes },
  );
  // One line each (JSON text holds no raw newline): the limits, then each kept message.
  const lines = [`${raw.total} ${options.maxMessages} ${options.maxBytes}`];
  for (const e of raw.kept) lines.push(`${e.index} ${e.problem ?? ''} ${e.json.toString('utf8')}`);
  return { raw, fingerprint: sha256Hex(lines.join('\n')) };
}

/** The snapshot of a conversation read: its messages checked, then fitted to the limits. */
export async function snapshotOf(
  conversation: Conversation,
  limits: { maxMessages: number; maxBytes: number },
): Promise<Collected> {
  const { total, messages, leftOut, leftOutRole } = await checkMessages(conversation.raw);
  return {
    total,
    snapshot: buildSnapshot(messages, limits.maxMessages, limits.maxBytes),
    fingerprint: conversation.fingerprint,
    newestTime: messages.at(-1)?.time,
    leftOut,
    leftOutRole,
  };
}

/** Words for what a snapshot holds: "3 of 5 messages, 812 bytes; 1 left out (role "tool")". */
export function describeCollected(c: Collected): string {
  const left = c.leftOut ? `; left out ${c.leftOut} with a role coderd refuses (${c.leftOutRole})` : '';
  const mended = c.snapshot.timesMended
    ? `; ${c.snapshot.timesMended} time(s) coderd would refuse given the message before's`
    : '';
  return `${c.snapshot.kept} of ${c.total} messages, ${c.snapshot.bytes} bytes${left}${mended}`;
}

export interface PostTarget {
  agentUrl: string;
  token: string;
  taskId: string;
}

/**
 * The target to post a snapshot to, or why there is none: `missing`, something is not given (no
 * snapshot is wanted here); `invalid`, something given is wrong (a snapshot was wanted).
 */
export function postTarget(
  taskId: string | undefined,
  env: CoderEnv,
): PostTarget | { missing: string } | { invalid: string } {
  if (!taskId) return { missing: 'no --task-id given' };
  if (!env.agentUrl) return { missing: `${ENV.agentUrl} is not set` };
  if (!env.token) return { missing: `${ENV.agentToken} is not set` };
  const url = parseAgentUrl(env.agentUrl);
  if (!(url instanceof URL)) return { invalid: url.problem };
  // Sent in the form every reader of a URL agrees on (a {…} or urn:uuid: form is a UUID to coderd too).
  return { agentUrl: env.agentUrl, token: env.token, taskId: parseUuid(taskId) ?? taskId };
}

/**
 * Why a task id cannot be used, if it cannot: an empty one means none (Terraform embeds ""
 * outside a task); anything else must be a UUID as coderd's uuid.Parse takes it, or coderd would
 * refuse it anyway.
 */
export function taskIdProblem(taskId: string | undefined): string | undefined {
  if (!taskId || parseUuid(taskId)) return undefined;
  return `--task-id "${printable(taskId, 60)}" is not a UUID (e.g. 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b)`;
}

/** The task id for a command where a bad one is a usage error (snapshot). */
export function checkTaskId(taskId: string | undefined): string | undefined {
  const problem = taskIdProblem(taskId);
  if (problem) throw new UserError(problem, EXIT.usage);
  return taskId || undefined;
}

export async function sendSnapshot(
  body: string,
  target: PostTarget,
  deadline: Deadline,
  logger: Logger,
): Promise<PostOutcome> {
  return postSnapshot(body, {
    ...target,
    deadline,
    attemptTimeoutMs: DEFAULTS.postAttemptTimeoutMs,
    onAttempt: (a) =>
      logger.debug(
        `POST ${a.url} (${a.bytesSent} bytes) -> ${a.status ?? a.error} in ${formatDuration(a.ms)} (attempt ${a.attempt}, ${formatDuration(deadline.remaining())} left)`,
      ),
    onRetry: (attempt, reason, waitMs) =>
      logger.warn(`snapshot POST failed (${reason}); attempt ${attempt} in ${formatDuration(waitMs)}`),
  });
}
