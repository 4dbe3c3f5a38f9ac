// AgentAPI's HTTP API (SPEC §2, reference/agentapi-openapi.json): GET /status and GET /messages,
// and POST /message (smoke only). Schemas accept what AgentAPI sends and ignore fields we do not use.

import ky, { HTTPError } from 'ky';
import { formatDuration } from '../utils/duration.js';
import { bodySnippet, classifyRequestError, readBounded, shorten } from '../utils/http.js';
import { printable } from '../utils/text.js';
import { AgentApiError, type Message, ROLES } from './agentapi-common.js';
import type { AgentStatus } from './agentapi-schemas.js';
import {
  type KeptElement,
  type LastElements,
  lastElements,
  NotJsonError,
  type ScanOptions,
} from './last-elements.js';

export { AgentApiError, type AgentApiErrorKind } from './agentapi-common.js';
export type { AgentStatus } from './agentapi-schemas.js';

/** The roles as the scanner captures them: raw JSON strings. */
const QUOTED_ROLES = new Set(ROLES.map((role) => `"${role}"`));

export interface AgentApiOptions {
  /** e.g. http://127.0.0.1:3284 */
  baseUrl: string;
  /** Per request. */
  timeoutMs: number;
  /** Ends the request early (a command's deadline). */
  signal?: AbortSignal;
  /** Told about each request as it ends (method, URL, status, bytes, time), for --verbose. */
  trace?: (line: string) => void;
}

/** The last messages as AgentAPI sent them, not yet checked: what a checkpoint compares. */
export interface RawMessages {
  /** Messages in the whole conversation. */
  total: number;
  /** The last `keep` whose role coderd accepts, oldest first, as JSON text of the fields we use. */
  kept: KeptElement[];
  /** Messages left out because coderd refuses their role. */
  leftOut: number;
  /** The role of the first one left out, for the report. */
  leftOutRole?: string;
}

export interface MessagesResult {
  /** Messages in the whole conversation. */
  total: number;
  /** The last `keep` of them that coderd would accept, oldest first. */
  messages: Message[];
  /** Messages left out because coderd refuses their role (e.g. a newer AgentAPI's "tool"). */
  leftOut: number;
  /** The role of the first one left out, for the report. */
  leftOutRole?: string;
}

export interface MessagesOptions {
  /** How many of the latest messages to keep (0: count only). */
  keep: number;
  /**
   * The snapshot's byte budget: content beyond what could ever fit is not held in memory. A
   * JSON escape is at most 6 bytes for one character, so a message whose raw content exceeds
   * 6 × budget cannot fit even after decoding; only that much of its tail is kept.
   */
  maxBytes?: number;
}

/** The most bytes one character can take in a JSON text (`\u001f`), against 1 after decoding. */
const MAX_ESCAPE_RATIO = 6;
/** GET /status is a few hundred bytes; anything much larger is not AgentAPI. */
const STATUS_BODY_LIMIT = 64 * 1024;

export async function getStatus(options: AgentApiOptions): Promise<AgentStatus> {
  const json = await getJson('status', options);
  const { parse, StatusSchema } = await import('./agentapi-schemas.js');
  return parse(StatusSchema, json, 'GET /status');
}

/**
 * The last `keep` messages and the total count. The body is streamed and only the kept
 * messages are parsed and checked, so a transcript of hundreds of MB costs little memory, and a
 * single huge message or key costs no more (last-elements.ts).
 */
export async function getMessages(
  options: AgentApiOptions,
  wanted: MessagesOptions,
): Promise<MessagesResult> {
  return checkMessages(await readMessages(options, wanted));
}

const MESSAGES = 'GET /messages';

/** The last messages as AgentAPI sent them (streamed, bounded as getMessages says), unchecked. */
export async function readMessages(options: AgentApiOptions, wanted: MessagesOptions): Promise<RawMessages> {
  const budget = wanted.maxBytes === undefined ? undefined : MAX_ESCAPE_RATIO * wanted.maxBytes + 16;
  const found = await scanMessages(options, {
    keep: wanted.keep,
    fields: ['id', 'content', 'role', 'time'],
    tailField: 'content',
    tailBytes: budget,
    fieldBytes: 1024,
    budgetBytes: budget,
    // A role that is a string but not one coderd knows: left out, not fatal.
    accept: (fields) => {
      const role = fields.get('role');
      return role === undefined || !role.startsWith('"') || QUOTED_ROLES.has(role);
    },
  });
  const role = found.firstRejected?.get('role');
  return {
    total: found.total,
    kept: found.kept,
    leftOut: found.rejected,
    leftOutRole: role ? printable(role, 40) : undefined,
  };
}

/** GET /messages streamed through the scanner with `scan` (last-elements.ts), bounded as it says. */
export async function scanMessages(options: AgentApiOptions, scan: ScanOptions): Promise<LastElements> {
  const what = MESSAGES;
  const started = performance.now();
  const response = await request('messages', options);
  let bytes = 0;
  let found: LastElements;
  try {
    if (!response.body) throw new NotJsonError('it is empty');
    const counted = (async function* (body: AsyncIterable<Uint8Array>) {
      for await (const chunk of body) {
        bytes += chunk.byteLength;
        yield chunk;
      }
    })(response.body);
    found = await lastElements(counted, scan);
  } catch (error) {
    if (error instanceof NotJsonError)
      throw new AgentApiError('malformed', `AgentAPI's ${what} answer is not JSON: ${error.message}`);
    throw await describeFailure(error, what, options);
  }
  options.trace?.(
    `GET ${options.baseUrl}/messages -> ${response.status}, ${bytes} bytes, ${found.total} messages (${found.kept.length} kept${found.rejected ? `, ${found.rejected} left out` : ''}) in ${Math.round(performance.now() - started)}ms`,
  );
  return found;
}

/** The messages read, checked against the shape AgentAPI sends; an AgentApiError if one is not. */
export async function checkMessages(raw: RawMessages): Promise<MessagesResult> {
  const what = MESSAGES;
  const { parse, MessageSchema } = await import('./agentapi-schemas.js');
  const messages = raw.kept.map((element) => {
    const at = ['messages', element.index];
    if (element.problem) {
      throw new AgentApiError(
        'malformed',
        `AgentAPI's ${what} answer is not what AgentAPI sends: ${at.join('.')}.${element.problem}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(element.json.toString('utf8'));
    } catch {
      throw new AgentApiError(
        'malformed',
        `AgentAPI's ${what} answer is not JSON: ${at.join('.')} does not parse`,
      );
    }
    return parse(MessageSchema, json, what, at);
  });
  return { total: raw.total, messages, leftOut: raw.leftOut, leftOutRole: raw.leftOutRole };
}

/**
 * Sends `content` as the user, as the Tasks UI does. AgentAPI answers once the agent took it (it
 * refuses with 500 while the agent is busy: wait for /status to say "stable" first).
 */
export async function postMessage(options: AgentApiOptions, content: string): Promise<void> {
  const limit = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, limit]) : limit;
  const started = performance.now();
  try {
    const response = await ky.post(`${options.baseUrl}/message`, {
      json: { content, type: 'user' },
      timeout: false,
      signal,
      retry: 0,
      redirect: 'manual',
    });
    await response.body?.cancel().catch(() => undefined);
    options.trace?.(
      `POST ${options.baseUrl}/message -> ${response.status} in ${Math.round(performance.now() - started)}ms`,
    );
  } catch (error) {
    throw await describeFailure(error, 'POST /message', options);
  }
}

async function getJson(path: string, options: AgentApiOptions): Promise<unknown> {
  const started = performance.now();
  const response = await request(path, options);
  let body: Awaited<ReturnType<typeof readBounded>>;
  try {
    body = await readBounded(response, STATUS_BODY_LIMIT);
  } catch (error) {
    throw await describeFailure(error, `GET /${path}`, options);
  }
  options.trace?.(
    `GET ${options.baseUrl}/${path} -> ${response.status}, ${body.bytes.length}${body.complete ? '' : '+'} bytes in ${Math.round(performance.now() - started)}ms`,
  );
  if (!body.complete) {
    throw new AgentApiError(
      'malformed',
      `AgentAPI's GET /${path} answer is larger than ${STATUS_BODY_LIMIT} bytes`,
    );
  }
  try {
    return JSON.parse(body.bytes.toString('utf8'));
  } catch {
    throw new AgentApiError(
      'malformed',
      `AgentAPI's GET /${path} answer is not JSON (${body.bytes.length} bytes)`,
    );
  }
}

/** GET with a limit that covers reading the body too (ky's own timeout ends with the headers). */
async function request(path: string, options: AgentApiOptions): Promise<Response> {
  const limit = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, limit]) : limit;
  try {
    // AgentAPI never redirects these; a 3xx is an error like any other, never followed.
    return await ky.get(`${options.baseUrl}/${path}`, {
      timeout: false,
      signal,
      retry: 0,
      redirect: 'manual',
    });
  } catch (error) {
    throw await describeFailure(error, `GET /${path}`, options);
  }
}

async function describeFailure(
  error: unknown,
  what: string,
  options: AgentApiOptions,
): Promise<AgentApiError> {
  const failure = await explainFailure(error, what, options);
  options.trace?.(`${what} to ${options.baseUrl} failed: ${failure.message}`);
  return failure;
}

async function explainFailure(
  error: unknown,
  what: string,
  options: AgentApiOptions,
): Promise<AgentApiError> {
  if (error instanceof HTTPError) {
    // ky throws for any status outside 2xx, a 3xx included (redirects are not followed).
    const response = error.response;
    const snippet = shorten(await bodySnippet(response), 200);
    return new AgentApiError(
      'http',
      `AgentAPI answered ${what} with ${response.status}${snippet ? `: ${snippet}` : ''}`,
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
  if (failure.kind === 'error')
    return new AgentApiError('failed', `${what} to AgentAPI failed: ${failure.detail}`);
  return new AgentApiError(
    'unreachable',
    `AgentAPI is not reachable at ${options.baseUrl} (${failure.detail}); is it running on that port? (--port, AGENTAPI_PORT)`,
  );
}
