// OpenCode: AgentAPI's `opencode` type.

import type { AgentProfile } from './profile.js';

export const opencode: AgentProfile = {
  type: 'opencode',
  executable: 'opencode',
  storage: { paths: ['~/.local/share/opencode', '~/.config/opencode'], minStorage: '50 MB' },
  latest: {
    args: ['--continue'],
    at: 'end',
    already: ['-c', '--continue', '-s', '--session'],
    source: 'OpenCode CLI, `--continue, -c`: "Continue the last session": https://opencode.ai/docs/cli',
  },
};
