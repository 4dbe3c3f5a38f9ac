// goose: AgentAPI's `goose` type.

import type { AgentProfile } from './profile.js';

export const goose: AgentProfile = {
  type: 'goose',
  executable: 'goose',
  storage: { paths: ['~/.local/share/goose/sessions', '~/.config/goose'], minStorage: '50 MB' },
  latest: {
    args: ['--resume'],
    at: 'end',
    already: ['-r', '--resume', '--session-id', '-n', '--name', '--path'],
    needsSubcommand: 'session',
    source:
      'goose CLI commands, `goose session -r, --resume`: "Resume a previous session" (the most recent without a name or id): https://block.github.io/goose/docs/guides/goose-cli-commands',
  },
};
