// coderd's log-snapshot endpoint (SPEC §3):
// POST {CODER_AGENT_URL}/api/v2/workspaceagents/me/tasks/{task}/log-snapshot?format=agentapi
//
// Only 204 means stored. A redirect is never followed: the token goes to CODER_AGENT_URL's
// origin and nowhere else. Transient failures (408, 429, 5xx, network errors, timeouts) are
// retried until the caller's deadline, with full-jitter exponential backoff, so a fleet of
// workspaces stopping at once spreads out instead of meeting coderd in waves; a Retry-After is
// honoured as a minimum, with jitter on top. Error bodies are read only a few KiB far.

import ky from 'ky';
import type { Deadline } from '../utils/deadline.js';
import { formatDuration } from '../utils/duration.js';
import { bodySnippet, classifyRequestError, shorten } from '../utils/http.js';
import { redact } from '../utils/log.js';
import { printable } from '../utils/text.js';

export type FailureKind =
  | 'rejected' // 400: the request itself is wrong
  | 'unauthorized' // 401
  | 'task-not-found' // 404 from the handler
  | 'endpoint-missing' // 404 from the router: Coder predates the endpoint
  | 'not-found' // 404 we cannot tell apart
  | 'redirected' // 3xx: not followed, the token stays with CODER_AGENT_URL's origin
  | 'not-stored' // a 2xx other than 204, or another status coderd never sends
  | 'server-error' // 408, 429 or 5xx until the deadline
  | 'unreachable' // network errors until the deadline
  | 'timeout' // attempts timed out, or the deadline ran out
  | 'error'; // something that is not the network (e.g. out of memory)

interface Tally {
  attempts: number;
  /** Time spent waiting between attempts. */
  waitedMs: number;
  /** Why the last attempt that failed failed, e.g. "HTTP 503, Retry-After 1s". */
  lastRefusal?: string;
}

export type PostOutcome =
  | ({ ok: true; status: 204 } & Tally)
  | ({
      ok: false;
      kind: FailureKind;
      status?: number;
      /** One line: what happened and what to do about it. */
      message: string;
    } & Tally);

export interface AttemptInfo {
  attempt: number;
  url: string;
  status?: number;
  /** Why the attempt failed without a status. */
  error?: string;
  ms: number;
  bytesSent: number;
}

export interface PostOptions {
  agentUrl: string;
  token: string;
  taskId: string;
  /** The whole POST, retries included, ends by this deadline. */
  deadline: Deadline;
  /** One attempt's limit. */
  attemptTimeoutMs?: number;
  /** A safety net only: the deadline is what ends the retries. */
  maxAttempts?: number;
  /** Told about each attempt, for --verbose. */
  onAttempt?: (info: AttemptInfo) => void;
  /** Told before each wait, for a log line. */
  onRetry?: (attempt: number, reason: string, waitMs: number) => void;
  /** Randomness for the jitter; tests may fix it. */
  random?: () => number;
  /** Time kept for one last attempt at the end of the deadline. */
  lastAttemptMs?: number;
}

export const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 5_000;
const DEFAULT_MAX_ATTEMPTS = 100;
/** Time kept for one last attempt at the end of the deadline, unless the caller says otherwise. */
const LAST_ATTEMPT_MS = 250;

/** CODER_AGENT_URL as a URL coderd can be reached at, or why it is not one. */
export function parseAgentUrl(agentUrl: string): URL | { problem: string } {
  const shown = printable(agentUrl, 80);
  let base: URL;
  try {
    base = new URL(agentUrl);
  } catch {
    return { problem: `CODER_AGENT_URL "${shown}" is not a URL (e.g. https://coder.example.com/)` };
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    return { problem: `CODER_AGENT_URL "${shown}" must be an http or https URL` };
  return base;
}

/** Joins the path onto CODER_AGENT_URL, keeping any path prefix and never producing `//`. */
export function snapshotUrl(agentUrl: string, taskId: string): URL {
  const base = parseAgentUrl(agentUrl);
  if (!(base instanceof URL)) throw new Error(base.problem);
  const prefix = base.pathname.replace(/\/+$/, '');
  const url = new URL(
    `${prefix}/api/v2/workspaceagents/me/tasks/${encodeURIComponent(taskId)}/log-snapshot`,
    base.origin,
  );
  url.searchParams.set('format', 'agentapi');
  return url;
}

/** Full jitter (AWS's "exponential backoff and jitter"): uniform in [0, min(cap, base·2^n)). */
export function backoffMs(attempt: number, random: () => number): number {
  return random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined if absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

type Attempt =
  | { kind: 'response'; response: Response }
  | { kind: 'failed'; failure: ReturnType<typeof classifyRequestError>; attemptTimedOut: boolean };

/** The last transient failure, which the outcome reports if no attempt succeeds. */
type Transient =
  | { kind: 'status'; status: number; detail: string; retryAfter?: number }
  | { kind: 'unreachable'; detail: string }
  | { kind: 'timeout' };

export async function postSnapshot(body: string, options: PostOptions): Promise<PostOutcome> {
  const url = snapshotUrl(options.agentUrl, options.taskId);
  const { deadline } = options;
  const random = options.random ?? Math.random;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const attemptLimitMs = options.attemptTimeoutMs ?? 10_000;
  const hide = (text: string) => redact(text, [options.token]);
  const tally: Tally = { attempts: 0, waitedMs: 0 };
  const bytesSent = Buffer.byteLength(body, 'utf8');
  let last: Transient = { kind: 'timeout' };
  let note = '';

  while (tally.attempts < maxAttempts) {
    tally.attempts++;
    const started = Date.now();
    const attempt = await attemptOnce(url, body, options, attemptLimitMs);
    const info: AttemptInfo = { attempt: tally.attempts, url: url.href, ms: Date.now() - started, bytesSent };
    if (attempt.kind === 'response') {
      const { response } = attempt;
      options.onAttempt?.({ ...info, status: response.status });
      if (response.status === 204) return { ok: true, status: 204, ...tally };
      if (!RETRY_STATUSES.includes(response.status)) {
        return { ok: false, ...tally, ...(await finalStatus(response, url, hide)) };
      }
      const retryAfter = retryAfterMs(response.headers.get('retry-after'));
      last = {
        kind: 'status',
        status: response.status,
        detail: await errorDetail(response, hide),
        retryAfter,
      };
    } else {
      const { failure } = attempt;
      options.onAttempt?.({ ...info, error: failure.detail });
      if (failure.kind === 'error') {
        return {
          ok: false,
          ...tally,
          kind: 'error',
          message: `posting to coderd failed: ${hide(failure.detail)}`,
        };
      }
      if (failure.kind === 'unreachable') last = { kind: 'unreachable', detail: failure.detail };
      else if (attempt.attemptTimedOut) last = { kind: 'timeout' };
      // The deadline ended it (or we were told to hurry): no further attempt.
      else break;
    }
    tally.lastRefusal = describeTransient(last);
    if (tally.attempts >= maxAttempts || deadline.expired) break;

    // Full jitter always; a Retry-After is the least we wait. A wait that would run past the
    // deadline is cut so one last attempt still fits; a Retry-After past it means give up now.
    const retryAfter = last.kind === 'status' ? last.retryAfter : undefined;
    const room = deadline.remaining() - (options.lastAttemptMs ?? LAST_ATTEMPT_MS);
    if (retryAfter !== undefined && retryAfter > room) {
      note = `; coderd asked to retry after ${formatDuration(retryAfter)}, past this command's deadline`;
      break;
    }
    if (room <= 0) break;
    const wait = Math.min(room, (retryAfter ?? 0) + backoffMs(tally.attempts, random));
    options.onRetry?.(tally.attempts + 1, tally.lastRefusal, wait);
    await deadline.wait(wait);
    tally.waitedMs += wait;
    if (deadline.expired) break;
  }
  return { ok: false, ...tally, ...giveUp(last, url, tally.attempts, attemptLimitMs, note) };
}

function describeTransient(t: Transient): string {
  if (t.kind === 'status') {
    const after = t.retryAfter !== undefined ? `, Retry-After ${formatDuration(t.retryAfter)}` : '';
    return `HTTP ${t.status}${after}`;
  }
  return t.kind === 'unreachable' ? t.detail : 'no answer in time';
}

function giveUp(
  last: Transient,
  url: URL,
  attempts: number,
  attemptLimitMs: number,
  note: string,
): { kind: FailureKind; status?: number; message: string } {
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  switch (last.kind) {
    case 'status':
      return {
        kind: 'server-error',
        status: last.status,
        message: `coderd failed to store the snapshot (${last.status}) after ${tries}: ${last.detail || 'no detail'}${note}`,
      };
    case 'unreachable':
      return {
        kind: 'unreachable',
        message: `coderd is not reachable at ${url.origin} (${last.detail}) after ${tries}; check CODER_AGENT_URL and proxy variables${note}`,
      };
    default:
      return {
        kind: 'timeout',
        message: `coderd did not answer in time (${tries}, each limited to ${formatDuration(attemptLimitMs)}, all within the command's deadline)${note}`,
      };
  }
}

async function attemptOnce(url: URL, body: string, options: PostOptions, limitMs: number): Promise<Attempt> {
  const limit = Math.min(limitMs, Math.max(1, options.deadline.remaining()));
  const attemptTimeout = AbortSignal.timeout(limit);
  try {
    const response = await ky.post(url, {
      body,
      headers: { 'Content-Type': 'application/json', 'Coder-Session-Token': options.token },
      // Never follow: a redirect would carry the token to wherever it points.
      redirect: 'manual',
      throwHttpErrors: false,
      retry: 0,
      timeout: false,
      signal: AbortSignal.any([options.deadline.signal, attemptTimeout]),
    });
    return { kind: 'response', response };
  } catch (error) {
    const failure = classifyRequestError(error);
    const attemptTimedOut = attemptTimeout.aborted && !options.deadline.signal.aborted;
    return { kind: 'failed', failure, attemptTimedOut };
  }
}

/** coderd's own words for a failure, from the first few KiB of the body, token hidden. */
async function errorDetail(response: Response, hide: (t: string) => string): Promise<string> {
  return shorten(coderdMessage(await bodySnippet(response, hide)));
}

/** A status that is not retried: what it means, in words a person can act on. */
async function finalStatus(
  response: Response,
  url: URL,
  hide: (t: string) => string,
): Promise<{ kind: FailureKind; status: number; message: string }> {
  const status = response.status;
  const base = { status };
  if (status >= 300 && status < 400) {
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    let where = 'nowhere it says';
    try {
      if (location) {
        const target = new URL(location, url);
        where =
          target.origin === url.origin ? `elsewhere on ${target.origin}` : `another origin, ${target.origin}`;
      }
    } catch {
      where = 'an address that is not a URL';
    }
    return {
      ...base,
      kind: 'redirected',
      message: `coderd answered ${status}, redirecting to ${where}; redirects are not followed, so the agent token never leaves ${url.origin}: set CODER_AGENT_URL to coderd's own address`,
    };
  }
  if (status >= 200 && status < 300) {
    await response.body?.cancel().catch(() => undefined);
    return {
      ...base,
      kind: 'not-stored',
      message: `coderd answered ${status}, not 204, so the snapshot was not stored; is CODER_AGENT_URL (${url.origin}) coderd itself rather than a proxy or web page?`,
    };
  }
  const detail = await errorDetail(response, hide);
  switch (true) {
    case status === 400:
      return { ...base, kind: 'rejected', message: `coderd refused the snapshot (400): ${detail}` };
    case status === 401:
      return {
        ...base,
        kind: 'unauthorized',
        message: `coderd rejected the agent token (401): the stop build's job had already ended (the agent keeps its token only while that job runs, coder/coder#21538), the workspace is being deleted, or its start build failed; post before the job ends (more stop grace for the container), and keep the checkpoints on, which post while the workspace runs`,
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
        kind: status >= 500 ? 'server-error' : 'not-stored',
        message: `coderd did not store the snapshot (${status}): ${detail || 'no detail'}`,
      };
  }
}

/** coderd answers `{"message": "...", "detail": "..."}`; fall back to the raw text. */
function coderdMessage(text: string): string {
  try {
    const json = JSON.parse(text) as { message?: string; detail?: string };
    return [json.message, json.detail].filter((s) => typeof s === 'string' && s).join(' ') || text;
  } catch {
    return text;
  }
}
