// AgentAPI's HTTP API (SPEC §2, reference/agentapi-openapi.json): GET /status and GET /messages.
// Schemas accept what AgentAPI sends and ignore fields we do not use.

import ky, { HTTPError } from 'ky';
import { z } from 'zod';
import { formatDuration } from './duration.js';
import { bodySnippet, classifyRequestError } from './http.js';
import type { SnapshotMessage } from './snapshot.js';

export const MessageSchema = z.object({
  id: z.number().int(),
  content: z.string(),
  role: z.enum(['user', 'agent']),
  time: z.string(),
});

export const MessagesSchema = z.object({ messages: z.array(MessageSchema) });

export const StatusSchema = z.object({
  status: z.string(),
  agent_type: z.string().optional(),
  transport: z.string().optional(),
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

export async function getMessages(options: AgentApiOptions, keepLast: number): Promise<MessagesResult> {
  const json = await getJson('messages', options);
  const { messages } = parse(MessagesSchema, json, 'GET /messages');
  return { total: messages.length, messages: messages.slice(Math.max(0, messages.length - keepLast)) };
}

async function getJson(path: string, options: AgentApiOptions): Promise<unknown> {
  const url = `${options.baseUrl}/${path}`;
  let text: string;
  try {
    text = await ky.get(url, { timeout: options.timeoutMs, signal: options.signal, retry: 0 }).text();
  } catch (error) {
    throw await describeFailure(error, `GET /${path}`, options);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AgentApiError('malformed', `AgentAPI's GET /${path} answer is not JSON (${text.length} bytes)`);
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

function parse<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue.path.length ? issue.path.join('.') : 'body';
  throw new AgentApiError(
    'malformed',
    `AgentAPI's ${what} answer is not what AgentAPI sends: ${where}: ${issue.message}`,
  );
}
