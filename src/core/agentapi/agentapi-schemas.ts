// The shapes of AgentAPI's answers we use (SPEC §2, reference/agentapi-openapi.json), checked with
// zod. Loaded only when an answer is checked (agentapi-client.ts): zod takes about 2 ms to load in
// the compiled binary (measured, #29), and an idle checkpoint tick checks nothing.

// zod/mini: the same schemas for a fraction of zod's start-up cost.
import * as z from 'zod/mini';
import { AgentApiError, ROLES } from './agentapi-common.js';

export const MessageSchema = z.object({
  id: z.int(),
  content: z.string(),
  role: z.enum(ROLES),
  time: z.string(),
});

export const StatusSchema = z.object({
  status: z.string(),
  agent_type: z.optional(z.string()),
  transport: z.optional(z.string()),
});

export type AgentStatus = z.infer<typeof StatusSchema>;

/** `json` as `schema` has it, or an AgentApiError naming the first field that is not. */
export function parse<T>(
  schema: z.ZodMiniType<T>,
  json: unknown,
  what: string,
  at: (string | number)[] = [],
): T {
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
