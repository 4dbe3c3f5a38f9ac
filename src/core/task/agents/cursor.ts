// Cursor CLI: AgentAPI's `cursor` type. No documented way to continue its own session could be
// cited, so a resume adds nothing (a template gives its own with --resume-args).

import type { AgentProfile } from './profile.js';

export const cursor: AgentProfile = {
  type: 'cursor',
  storage: { paths: ['~/.cursor'], minStorage: '50 MB' },
};
