// coderd's log-snapshot endpoint (SPEC §3):
// POST {CODER_AGENT_URL}/api/v2/workspaceagents/me/tasks/{task}/log-snapshot?format=agentapi
// Only 204 is success. Transient failures (5xx, 408, 429, network, timeout) are retried with
// full-jitter backoff inside the caller's deadline, so a fleet stopping at once spreads out.

import ky, { HTTPError } from 'ky';
import * as z from 'zod/mini';
import type { Deadline } from './deadline.js';
import { formatDuration } from './duration.js';
import { bodySnippet, classifyRequestError } from './http.js';

export const TaskIdSchema = z.guid();

export type PostOutcome =
  | { ok: true; status: 204; attempts: number }
  | {
      ok: false;
      kind: FailureKind;
      status?: number;
      attempts: number;
      /** One line: what happened and what to do about it. */
      message: string;
    };

export type FailureKind =
  | 'rejected' // 400: the request itself is wrong
  | 'unauthorized' // 401
  | 'task-not-found' // 404 from the handler
  | 'endpoint-missing' // 404 from the router: Coder predates the endpoint
  | 'not-found' // 404 we cannot tell apart
  | 'server-error' // 5xx after retries
  | 'unreachable' // network errors after retries
  | 'timeout'; // attempts timed out, or the deadline ran out

export interface PostOptions {
  agentUrl: string;
  token: string;
  taskId: string;
  /** The whole POST, retries included, must end by this deadline. */
  deadline: Deadline;
  /** One attempt's limit. */
  attemptTimeoutMs?: number;
  /** Retries after the first attempt (bounded by the deadline too). */
  retries?: number;
  /** Told about each retry, for a log line. */
  onRetry?: (attempt: number, reason: string) => void;
}

const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];

/** Joins the path onto CODER_AGENT_URL, keeping any path prefix and never producing `//`. */
export function snapshotUrl(agentUrl: string, taskId: string): URL {
  let base: URL;
  try {
    base = new URL(agentUrl);
  } catch {
    throw new Error(`CODER_AGENT_URL "${agentUrl}" is not a URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`CODER_AGENT_URL "${agentUrl}" must be http or https`);
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  const url = new URL(
    `${prefix}/api/v2/workspaceagents/me/tasks/${encodeURIComponent(taskId)}/log-snapshot`,
    base.origin,
  );
  url.searchParams.set('format', 'agentapi');
  return url;
}

export async function postSnapshot(body: string, options: PostOptions): Promise<PostOutcome> {
  const url = snapshotUrl(options.agentUrl, options.taskId);
  const attemptTimeoutMs = Math.min(
    options.attemptTimeoutMs ?? 10_000,
    Math.max(1, options.deadline.remaining()),
  );
  let attempts = 0;
  /** Why the last failed attempt failed, for when the deadline ends during a backoff. */
  let lastError: unknown;
  try {
    await ky.post(url, {
      body,
      headers: { 'Content-Type': 'application/json', 'Coder-Session-Token': options.token },
      timeout: attemptTimeoutMs,
      signal: options.deadline.signal,
      retry: {
        limit: options.retries ?? 4,
        methods: ['post'],
        statusCodes: RETRY_STATUSES,
        afterStatusCodes: [413, 429, 503],
        maxRetryAfter: 5_000,
        backoffLimit: 5_000,
        jitter: true,
        retryOnTimeout: true,
      },
      hooks: {
        beforeRequest: [
          () => {
            attempts++;
          },
        ],
        beforeRetry: [
          ({ error, retryCount }) => {
            lastError = error;
            const reason =
              error instanceof HTTPError
                ? `HTTP ${error.response.status}`
                : classifyRequestError(error).detail;
            options.onRetry?.(retryCount + 1, reason);
          },
        ],
      },
    });
    return { ok: true, status: 204, attempts };
  } catch (error) {
    // The deadline ending while waiting to retry says less than the failure before it.
    const cause = classifyRequestError(error).kind !== 'unreachable' && lastError ? lastError : error;
    if (cause instanceof HTTPError) return classifyStatus(cause.response, attempts);
    const failure = classifyRequestError(cause);
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    if (failure.kind === 'unreachable') {
      return {
        ok: false,
        kind: 'unreachable',
        attempts,
        message: `coderd is not reachable at ${url.origin} (${failure.detail}) after ${tries}; check CODER_AGENT_URL and proxy variables`,
      };
    }
    return {
      ok: false,
      kind: 'timeout',
      attempts,
      message: `coderd did not answer in time (${tries}, each limited to ${formatDuration(attemptTimeoutMs)}, all within the command's deadline)`,
    };
  }
}

async function classifyStatus(response: Response, attempts: number): Promise<PostOutcome> {
  const status = response.status;
  const detail = shorten(coderdMessage(await bodySnippet(response, 4096)));
  const base = { ok: false as const, status, attempts };
  switch (true) {
    case status === 400:
      return { ...base, kind: 'rejected', message: `coderd refused the snapshot (400): ${detail}` };
    case status === 401:
      return {
        ...base,
        kind: 'unauthorized',
        message:
          'coderd rejected the agent token (401): the task may be deleted, or this Coder rejects agent tokens once the stop build has begun (coder/coder#19467; post earlier with `start --checkpoint-interval`)',
      };
    case status === 404 && /route not found/i.test(detail):
      return {
        ...base,
        kind: 'endpoint-missing',
        message:
          'coderd has no log-snapshot endpoint (404 route not found): this Coder is too old for task log snapshots',
      };
    case status === 404 && /resource not found/i.test(detail):
      return {
        ...base,
        kind: 'task-not-found',
        message:
          'coderd does not know this task in this workspace (404): check --task-id, or the task was deleted',
      };
    case status === 404:
      return { ...base, kind: 'not-found', message: `coderd answered 404: ${detail || 'no detail'}` };
    default:
      return {
        ...base,
        kind: 'server-error',
        message: `coderd failed to store the snapshot (${status}) after ${attempts} attempts: ${detail || 'no detail'}`,
      };
  }
}

function shorten(text: string, limit = 240): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

/** coderd answers `{"message": "...", "detail": "..."}`; fall back to the raw text. */
function coderdMessage(text: string): string {
  try {
    const json = JSON.parse(text) as { message?: string; detail?: string };
    return [json.message, json.detail].filter(Boolean).join(' ') || text;
  } catch {
    return text;
  }
}
