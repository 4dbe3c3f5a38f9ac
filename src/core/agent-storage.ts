// Where each agent keeps its own sessions, and how much room Coder says to give them, for
// `status`: the agent remembers on a resume only if this folder persists with the state file.
//
// From Coder's "Agent compatibility" page, its matrix's "Session data paths" and "Min storage"
// columns, read on 2026-12-01: https://coder.com/docs/ai-coder/agent-compatibility
// Keyed by AgentAPI's agent type (see agentTypeOf). `~/` is the home folder; any other path is
// relative to the agent's working folder.

export interface AgentStorage {
  /** The folders (or file) the agent keeps its sessions in; the first is its sessions proper. */
  paths: readonly string[];
  /** Coder's figure for the persistent storage it needs. */
  minStorage: string;
}

export const AGENT_STORAGE: Readonly<Record<string, AgentStorage>> = {
  claude: { paths: ['~/.claude'], minStorage: '100 MB (can grow to GB)' },
  codex: { paths: ['~/.codex', '~/.codex-module'], minStorage: '100 MB' },
  copilot: { paths: ['~/.copilot'], minStorage: '50 MB' },
  opencode: { paths: ['~/.local/share/opencode', '~/.config/opencode'], minStorage: '50 MB' },
  auggie: { paths: ['~/.augment'], minStorage: '50 MB' },
  goose: { paths: ['~/.local/share/goose/sessions', '~/.config/goose'], minStorage: '50 MB' },
  amazonq: { paths: ['~/.local/share/amazon-q', '~/.aws/amazonq'], minStorage: '50 MB' },
  gemini: { paths: ['~/.gemini'], minStorage: '200 MB (can reach 400 MB)' },
  cursor: { paths: ['~/.cursor'], minStorage: '50 MB' },
  amp: { paths: ['~/.config/amp'], minStorage: '10 MB (config only)' },
  aider: { paths: ['.aider.chat.history.md'], minStorage: '50 MB' },
};
