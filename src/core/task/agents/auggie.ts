// Auggie (Augment): AgentAPI's `auggie` type. No documented way to continue its own session could be
// cited, so a resume adds nothing (a template gives its own with --resume-args).

import type { AgentProfile } from './profile.js';

export const auggie: AgentProfile = {
  type: 'auggie',
  storage: { paths: ['~/.augment'], minStorage: '50 MB' },
};
