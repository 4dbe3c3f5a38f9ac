// GitHub Copilot CLI: AgentAPI's `copilot` type.

import type { AgentProfile } from './profile.js';

export const copilot: AgentProfile = {
  type: 'copilot',
  executable: 'copilot',
  storage: { paths: ['~/.copilot'], minStorage: '50 MB' },
  latest: {
    args: ['--continue'],
    at: 'end',
    already: ['--continue', '--resume', '-r'],
    source:
      'GitHub Copilot CLI command reference, root option `--continue` (resume the most recent session): https://docs.github.com/en/copilot/reference/copilot-cli-reference/cli-command-reference',
  },
};
