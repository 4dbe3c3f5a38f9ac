// Amp: AgentAPI's `amp` type. No documented way to continue its own session could be
// cited, so a resume adds nothing (a template gives its own with --resume-args).

import type { AgentProfile } from './profile.js';

export const amp: AgentProfile = {
  type: 'amp',
  storage: { paths: ['~/.config/amp'], minStorage: '10 MB (config only)' },
};
