// Claude Code: AgentAPI's `claude` type.

import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { attempt } from '../../utils/errors.js';
import { subfolders } from '../../utils/local-file.js';
import type { AgentPlace, AgentProfile } from './profile.js';

/** Where Claude keeps its files: $CLAUDE_CONFIG_DIR, else ~/.claude. */
function configDir(where: AgentPlace): string {
  return where.env.CLAUDE_CONFIG_DIR || join(where.home, '.claude');
}

/** Project folders looked into for a session: far more than a workspace has, few enough to be quick. */
const MAX_PROJECTS = 10_000;

/**
 * Whether Claude keeps the session `id` in any of its project folders. Claude names a project
 * folder after the working folder (every character but letters and digits as `-`; longer than 200
 * characters: its first 200, `-` and a hash of the path, in its own code), and `--resume <id>`
 * finds a session in any of them (measured with @anthropic-ai/claude-code 2.1.332). So every
 * project folder is looked into rather than the name recomputed: bounded, following no link.
 */
function sessionKept(id: string, where: AgentPlace): boolean {
  const projects = join(configDir(where), 'projects');
  return subfolders(projects, MAX_PROJECTS).some((folder) => {
    const file = attempt(() => lstatSync(join(projects, folder, `${id}.jsonl`)));
    return file?.isFile() === true && file.size > 0;
  });
}

export const claude: AgentProfile = {
  type: 'claude',
  executable: 'claude',
  storage: { paths: ['~/.claude'], minStorage: '100 MB (can grow to GB)' },
  latest: {
    args: ['--continue'],
    at: 'end',
    already: ['-c', '--continue', '-r', '--resume', '--session-id'],
    source:
      'Claude Code CLI reference, `claude -c`: "Continue most recent conversation" (in the current directory): https://docs.anthropic.com/en/docs/claude-code/cli-reference',
  },
  sessions: {
    start: (id) => ['--session-id', id],
    resume: (id) => ['--resume', id],
    already: ['-c', '--continue', '-r', '--resume', '--session-id'],
    async exists(id, where) {
      return sessionKept(id, where);
    },
    legacy: [
      {
        id: 'cd32e253-ca16-4fd3-9825-d837e74ae3c2',
        source:
          'claude-code 4.x gave every task this session (registry coder/claude-code v4.9.2, scripts/start.sh: TASK_SESSION_ID)',
      },
    ],
    source:
      '`claude --help` (@anthropic-ai/claude-code 2.1.332, npm): `--session-id <uuid>` "Use a specific session ID for the conversation (must be a valid UUID)"; `-r, --resume [value]` resumes a conversation by session ID',
  },
  reporting: {
    configure: (workdir) => ['exp', 'mcp', 'configure', 'claude-code', workdir],
    // Coder's MCP server then offers the agent nothing but its report (claude-code 4.x did the same).
    agentEnv: { CODER_MCP_ALLOWED_TOOLS: 'coder_report_task' },
    source:
      "coder/coder cli/exp_mcp.go: `coder exp mcp configure claude-code <project-directory>` adds Coder's MCP server to ~/.claude.json with CODER_MCP_APP_STATUS_SLUG and CODER_MCP_AI_AGENTAPI_URL, as claude-code 4.x ran it (registry coder/claude-code v4.9.2, scripts/install.sh)",
  },
  registryState: {
    path: '.claude-module/agentapi-state.json',
    source:
      'registry coder/claude-code v4.8.0 to v4.9.2: module_dir_name ".claude-module" and enable_state_persistence (default true) given to coder/agentapi v2.4.0, whose state file is $HOME/<module_dir_name>/agentapi-state.json',
  },
};
