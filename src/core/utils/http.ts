// What went wrong with a request, in words a person can act on, and bounded reading of bodies.
// Shared by both clients.

export type FailureKind = 'timeout' | 'aborted' | 'unreachable' | 'error';

export interface RequestFailure {
  kind: FailureKind;
  /** e.g. "connection refused", "timed out after 10s". */
  detail: string;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ConnectionRefused: 'connection refused',
  ECONNRESET: 'connection reset',
  ConnectionClosed: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  FailedToOpenSocket: 'could not open a socket',
  UND_ERR_SOCKET: 'socket error',
};

/**
 * Classifies an error thrown by fetch or ky (not an HTTP status). Only a network failure is
 * "unreachable": anything else (running out of memory, a bug) says what it is.
 */
export function classifyRequestError(error: unknown): RequestFailure {
  const e = error as {
    name?: string;
    code?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  if (e?.name === 'TimeoutError') return { kind: 'timeout', detail: 'timed out' };
  if (e?.name === 'AbortError') return { kind: 'aborted', detail: 'cancelled' };
  const code = e?.code ?? e?.cause?.code;
  if (code && NETWORK_CODES[code]) return { kind: 'unreachable', detail: NETWORK_CODES[code] };
  const message = (e?.cause?.message ?? e?.message ?? String(error)).split('\n')[0];
  // fetch reports network failures as a TypeError or with a system error code.
  if (code || e?.name === 'TypeError') return { kind: 'unreachable', detail: message };
  return { kind: 'error', detail: message };
}

/** Reads at most `limit` bytes of a body and abandons the rest (an error page may be endless). */
export async function readBounded(
  response: Response,
  limit: number,
): Promise<{ bytes: Buffer; complete: boolean }> {
  if (!response.body) return { bytes: Buffer.alloc(0), complete: true };
  const reader = response.body.getReader();
  const parts: Buffer[] = [];
  let size = 0;
  try {
    while (size <= limit) {
      const { value, done } = await reader.read();
      if (done) return { bytes: Buffer.concat(parts), complete: true };
      parts.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      size += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
  return { bytes: Buffer.concat(parts).subarray(0, limit), complete: false };
}

/** Bytes of an error body worth reading for a message. */
export const ERROR_BODY_BYTES = 4096;

/** The start of an error body as one line, for an error message; never reads more than a few KiB. */
export async function bodySnippet(
  response: Response,
  redact: (text: string) => string = (t) => t,
): Promise<string> {
  try {
    const { bytes, complete } = await readBounded(response, ERROR_BODY_BYTES);
    // A body cut short may end inside a character: leave that half out.
    const text = redact(new TextDecoder().decode(bytes, { stream: !complete }))
      .replace(/\s+/g, ' ')
      .trim();
    return complete ? text : `${text}…`;
  } catch {
    return '';
  }
}

/** At most `limit` characters, for a log line; redact before shortening, never after. */
export function shorten(text: string, limit = 240): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
