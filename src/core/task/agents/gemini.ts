// Gemini CLI: AgentAPI's `gemini` type.

import type { AgentProfile } from './profile.js';

export const gemini: AgentProfile = {
  type: 'gemini',
  executable: 'gemini',
  storage: { paths: ['~/.gemini'], minStorage: '200 MB (can reach 400 MB)' },
  latest: {
    args: ['--resume', 'latest'],
    at: 'end',
    already: ['-r', '--resume'],
    source:
      'Gemini CLI cheatsheet, `gemini -r "latest"`: "Continue most recent session"; sessions are per project: https://geminicli.com/docs/cli/cli-reference and https://geminicli.com/docs/cli/session-management',
  },
};
