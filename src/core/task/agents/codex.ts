// OpenAI Codex CLI: AgentAPI's `codex` type.

import type { AgentProfile } from './profile.js';

export const codex: AgentProfile = {
  type: 'codex',
  executable: 'codex',
  storage: { paths: ['~/.codex', '~/.codex-module'], minStorage: '100 MB' },
  latest: {
    args: ['resume', '--last'],
    at: 'subcommand',
    already: ['resume', 'exec', '--last'],
    source:
      'Codex CLI docs/advanced.md, "codex resume --last  # most recent" (openai/codex, since 0.39): https://github.com/openai/codex/blob/main/docs/advanced.md',
  },
  registryState: {
    path: '.codex-module/agentapi-state.json',
    source:
      'registry coder-labs/codex v4.3.1: module_dir_name ".codex-module" and enable_state_persistence (default true) given to coder/agentapi v2.3.0, whose state file is $HOME/<module_dir_name>/agentapi-state.json',
  },
};
