// Every agent we know something of, by AgentAPI's agent type; one file each (profile.ts says what
// a file holds). Where each keeps its sessions and the storage Coder advises come from Coder's
// agent compatibility page (profile.ts: COMPATIBILITY); every other fact cites its own source.

import { aider } from './aider.js';
import { amazonq } from './amazonq.js';
import { amp } from './amp.js';
import { auggie } from './auggie.js';
import { claude } from './claude.js';
import { codex } from './codex.js';
import { copilot } from './copilot.js';
import { cursor } from './cursor.js';
import { gemini } from './gemini.js';
import { goose } from './goose.js';
import { opencode } from './opencode.js';
import type { AgentProfile } from './profile.js';

export type { AgentPlace, AgentProfile } from './profile.js';
export { COMPATIBILITY } from './profile.js';

export const AGENTS: Readonly<Record<string, AgentProfile>> = Object.fromEntries(
  [claude, codex, gemini, goose, opencode, copilot, aider, amp, auggie, cursor, amazonq].map((p) => [
    p.type,
    p,
  ]),
);

/** AgentAPI's own names for agent types (cmd/server/server.go: agentTypeAliases). */
const ALIASES: Readonly<Record<string, string>> = {
  claude: 'claude',
  goose: 'goose',
  aider: 'aider',
  codex: 'codex',
  gemini: 'gemini',
  copilot: 'copilot',
  amp: 'amp',
  auggie: 'auggie',
  cursor: 'cursor',
  'cursor-agent': 'cursor',
  q: 'amazonq',
  amazonq: 'amazonq',
  opencode: 'opencode',
  custom: 'custom',
};

/**
 * The agent type AgentAPI will use: --type, else guessed from the agent command's first word as
 * it is (AgentAPI's parseAgentType: `/usr/bin/claude` is a custom agent to it).
 */
export function agentTypeOf(type: string | undefined, agent: readonly string[]): string {
  return ALIASES[type || agent[0] || ''] ?? 'custom';
}

/** What we know of the agent AgentAPI will run, if anything. */
export function profileOf(type: string | undefined, agent: readonly string[]): AgentProfile | undefined {
  return AGENTS[agentTypeOf(type, agent)];
}
