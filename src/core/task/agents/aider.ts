// Aider: AgentAPI's `aider` type.

import type { AgentProfile } from './profile.js';

export const aider: AgentProfile = {
  type: 'aider',
  executable: 'aider',
  storage: { paths: ['.aider.chat.history.md'], minStorage: '50 MB' },
  latest: {
    args: ['--restore-chat-history'],
    at: 'end',
    already: ['--restore-chat-history', '--no-restore-chat-history'],
    source:
      'aider options, `--restore-chat-history`: "Restore the previous chat history messages" (from .aider.chat.history.md in the repository): https://aider.chat/docs/config/options.html',
  },
};
