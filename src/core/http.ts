// What went wrong with a request, in words a person can act on. Shared by both clients.

export type FailureKind = 'timeout' | 'aborted' | 'unreachable';

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

/** Classifies an error thrown by fetch or ky (not an HTTP status). */
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
  const message = e?.cause?.message ?? e?.message ?? String(error);
  return { kind: 'unreachable', detail: message.split('\n')[0] };
}

/** At most `limit` characters of a response body, for an error line. */
export async function bodySnippet(response: Response, limit = 200): Promise<string> {
  try {
    const text = (await response.text()).replace(/\s+/g, ' ').trim();
    return text.length > limit ? `${text.slice(0, limit)}…` : text;
  } catch {
    return '';
  }
}
