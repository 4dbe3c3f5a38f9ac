// Amazon Q Developer CLI: AgentAPI's `amazonq` type. No documented way to continue its own session could be
// cited, so a resume adds nothing (a template gives its own with --resume-args).

import type { AgentProfile } from './profile.js';

export const amazonq: AgentProfile = {
  type: 'amazonq',
  storage: { paths: ['~/.local/share/amazon-q', '~/.aws/amazonq'], minStorage: '50 MB' },
};
