// The log-snapshot workflow shared by `snapshot`, `shutdown` and `start` checkpoints:
// fetch the last messages from AgentAPI, fit them to the budget, post them to coderd.

import { getMessages } from './agentapi-client.js';
import { type PostOutcome, postSnapshot, TaskIdSchema } from './coderd-client.js';
import type { Deadline } from './deadline.js';
import { EXIT, UserError } from './errors.js';
import type { Logger } from './log.js';
import { type CoderEnv, DEFAULTS, ENV } from './settings.js';
import { buildSnapshot, type Snapshot } from './snapshot.js';

export interface CollectOptions {
  baseUrl: string;
  maxMessages: number;
  maxBytes: number;
  deadline: Deadline;
}

export interface Collected {
  /** Messages in AgentAPI's whole conversation. */
  total: number;
  snapshot: Snapshot;
  /** `time` of the newest message, if there is one. */
  newestTime?: string;
}

export async function collectSnapshot(options: CollectOptions): Promise<Collected> {
  const { total, messages } = await getMessages(
    {
      baseUrl: options.baseUrl,
      timeoutMs: Math.min(DEFAULTS.requestTimeoutMs, Math.max(1, options.deadline.remaining())),
      signal: options.deadline.signal,
    },
    options.maxMessages,
  );
  return {
    total,
    snapshot: buildSnapshot(messages, options.maxMessages, options.maxBytes),
    newestTime: messages.at(-1)?.time,
  };
}

export interface PostTarget {
  agentUrl: string;
  token: string;
  taskId: string;
}

/** Why a snapshot cannot be posted, or the target to post it to. */
export function postTarget(taskId: string | undefined, env: CoderEnv): PostTarget | { missing: string } {
  if (!taskId) return { missing: 'no --task-id given' };
  if (!env.agentUrl) return { missing: `${ENV.agentUrl} is not set` };
  if (!env.token) return { missing: `${ENV.agentToken} is not set` };
  return { agentUrl: env.agentUrl, token: env.token, taskId };
}

/**
 * The task id to use: an empty one means none (Terraform embeds "" outside a task); anything
 * else must be a UUID, or coderd would refuse it anyway.
 */
export function checkTaskId(taskId: string | undefined): string | undefined {
  if (!taskId) return undefined;
  if (!TaskIdSchema.safeParse(taskId).success) {
    throw new UserError(
      `--task-id "${taskId}" is not a UUID (e.g. 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b)`,
      EXIT.usage,
    );
  }
  return taskId;
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
    onRetry: (attempt, reason) =>
      logger.warn(`snapshot POST failed (${reason}); retrying (attempt ${attempt})`),
  });
}
