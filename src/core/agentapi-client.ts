// AgentAPI's HTTP API (SPEC §2, reference/agentapi-openapi.json): GET /status and GET /messages.
// Schemas accept what AgentAPI sends and ignore fields we do not use.

import ky, { HTTPError } from 'ky';
// zod/mini: the same schemas for a fraction of zod's start-up cost (this runs in every command).
import * as z from 'zod/mini';
import { formatDuration } from './duration.js';
import { bodySnippet, classifyRequestError } from './http.js';
import { lastElements, NotJsonError } from './last-elements.js';
import type { SnapshotMessage } from './snapshot.js';

export const MessageSchema = z.object({
  id: z.int(),
  content: z.string(),
  role: z.enum(['user', 'agent']),
  time: z.string(),
});

export const StatusSchema = z.object({
  status: z.string(),
  agent_type: z.optional(z.string()),
  transport: z.optional(z.string()),
});

export type AgentStatus = z.infer<typeof StatusSchema>;

export type AgentApiErrorKind = 'unreachable' | 'timeout' | 'aborted' | 'http' | 'malformed';

export class AgentApiError extends Error {
  constructor(
    readonly kind: AgentApiErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}

export interface AgentApiOptions {
  /** e.g. http://127.0.0.1:3284 */
  baseUrl: string;
  /** Per request. */
  timeoutMs: number;
  /** Ends the request early (a command's deadline). */
  signal?: AbortSignal;
}

export interface MessagesResult {
  /** Messages in the whole conversation. */
  total: number;
  /** The last `keepLast` of them, oldest first. */
  messages: SnapshotMessage[];
}

/** The URL AgentAPI answers on: `--agentapi-url` if given, else loopback at `port`. */
export function agentApiBaseUrl(port: number, url?: string): string {
  return (url ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
}

export async function getStatus(options: AgentApiOptions): Promise<AgentStatus> {
  const json = await getJson('status', options);
  return parse(StatusSchema, json, 'GET /status');
}

/**
 * The last `keepLast` messages and the total count. The body is streamed and only the kept
 * messages are parsed and checked, so a transcript of hundreds of MB costs little memory.
 */
export async function getMessages(options: AgentApiOptions, keepLast: number): Promise<MessagesResult> {
  const what = 'GET /messages';
  const response = await request('messages', options);
  let found: Awaited<ReturnType<typeof lastElements>>;
  try {
    if (!response.body) throw new NotJsonError('it is empty');
    found = await lastElements(response.body, keepLast);
  } catch (error) {
    if (error instanceof NotJsonError)
      throw new AgentApiError('malformed', `AgentAPI's ${what} answer is not JSON: ${error.message}`);
    throw await describeFailure(error, what, options);
  }
  const first = found.total - found.kept.length;
  const messages = found.kept.map((raw, i) => {
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AgentApiError(
        'malformed',
        `AgentAPI's ${what} answer is not JSON: messages[${first + i}] does not parse`,
      );
    }
    return parse(MessageSchema, json, what, ['messages', first + i]);
  });
  return { total: found.total, messages };
}

async function getJson(path: string, options: AgentApiOptions): Promise<unknown> {
  const response = await request(path, options);
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw await describeFailure(error, `GET /${path}`, options);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AgentApiError('malformed', `AgentAPI's GET /${path} answer is not JSON (${text.length} bytes)`);
  }
}

/** GET with a limit that covers reading the body too (ky's own timeout ends with the headers). */
async function request(path: string, options: AgentApiOptions): Promise<Response> {
  const limit = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, limit]) : limit;
  try {
    return await ky.get(`${options.baseUrl}/${path}`, { timeout: false, signal, retry: 0 });
  } catch (error) {
    throw await describeFailure(error, `GET /${path}`, options);
  }
}

async function describeFailure(
  error: unknown,
  what: string,
  options: AgentApiOptions,
): Promise<AgentApiError> {
  if (error instanceof HTTPError) {
    const snippet = await bodySnippet(error.response);
    return new AgentApiError(
      'http',
      `AgentAPI answered ${what} with ${error.response.status}${snippet ? `: ${snippet}` : ''}`,
    );
  }
  const failure = classifyRequestError(error);
  if (failure.kind === 'timeout') {
    return new AgentApiError(
      'timeout',
      `AgentAPI did not answer ${what} within ${formatDuration(options.timeoutMs)}`,
    );
  }
  if (failure.kind === 'aborted') return new AgentApiError('aborted', `${what} to AgentAPI was cancelled`);
  return new AgentApiError(
    'unreachable',
    `AgentAPI is not reachable at ${options.baseUrl} (${failure.detail}); is it running on that port? (--port, AGENTAPI_PORT)`,
  );
}

function parse<T>(schema: z.ZodMiniType<T>, json: unknown, what: string, at: (string | number)[] = []): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [...at, ...issue.path.map(String)];
  const where = path.length ? path.join('.') : 'body';
  throw new AgentApiError(
    'malformed',
    `AgentAPI's ${what} answer is not what AgentAPI sends: ${where}: ${issue.message}`,
  );
}
