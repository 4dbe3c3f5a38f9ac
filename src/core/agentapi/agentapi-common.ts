// What the AgentAPI client and its schemas share, without loading either: how a call failed, and
// the roles coderd accepts.

/** The roles of the messages coderd accepts in a snapshot (coderd/rules.ts). */
export const ROLES = ['user', 'agent'] as const;

/** One message of AgentAPI's conversation as GET /messages gives it (a role coderd accepts). */
export interface Message {
  id: number;
  content: string;
  role: (typeof ROLES)[number];
  /** RFC 3339. */
  time: string;
}

export type AgentApiErrorKind = 'unreachable' | 'timeout' | 'aborted' | 'http' | 'malformed' | 'failed';

export class AgentApiError extends Error {
  constructor(
    readonly kind: AgentApiErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'AgentApiError';
  }
}
