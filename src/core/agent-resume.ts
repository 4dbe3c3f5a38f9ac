// The agent's own memory on a resume. AgentAPI's state file brings back the chat the Tasks UI
// shows; most agent CLIs can also continue their own latest session in the working directory,
// but only when there is one (on a first start a `--continue` fails or does something else). So
// `start` adds the agent's resume arguments exactly when this start is a resume.
//
// A recipe is kept only for an agent whose own documentation says how to continue its latest
// session; its source and the date it was read are beside it. It is applied only when the agent
// command is that agent's executable and carries no resume argument already. `--resume-args`
// (the template's own) always wins; `--no-resume-agent` turns the recipes off.

import { basename } from 'node:path';

export interface ResumeRecipe {
  /** The agent CLI's executable. */
  executable: string;
  /** The arguments that continue its latest session, and where they go. */
  args: readonly string[];
  /** After the executable (a subcommand, e.g. `codex resume --last`), or at the end (a flag). */
  at: 'subcommand' | 'end';
  /** Present in the command already: the template resumes by itself, nothing is added. */
  already: readonly string[];
  /** Only when the command runs this subcommand (goose: `goose session`). */
  needsSubcommand?: string;
  /** The documentation the recipe comes from, and when it was read. */
  source: string;
}

/** Read on 2026-12-01. An agent without an entry has no documented way that could be cited. */
export const RECIPES: Readonly<Record<string, ResumeRecipe>> = {
  claude: {
    executable: 'claude',
    args: ['--continue'],
    at: 'end',
    already: ['-c', '--continue', '-r', '--resume', '--session-id'],
    source:
      'Claude Code CLI reference, `claude -c`: "Continue most recent conversation" (in the current directory): https://docs.anthropic.com/en/docs/claude-code/cli-reference',
  },
  codex: {
    executable: 'codex',
    args: ['resume', '--last'],
    at: 'subcommand',
    already: ['resume', 'exec', '--last'],
    source:
      'Codex CLI docs/advanced.md, "codex resume --last  # most recent" (openai/codex, since 0.39): https://github.com/openai/codex/blob/main/docs/advanced.md',
  },
  gemini: {
    executable: 'gemini',
    args: ['--resume', 'latest'],
    at: 'end',
    already: ['-r', '--resume'],
    source:
      'Gemini CLI cheatsheet, `gemini -r "latest"`: "Continue most recent session"; sessions are per project: https://geminicli.com/docs/cli/cli-reference and https://geminicli.com/docs/cli/session-management',
  },
  goose: {
    executable: 'goose',
    args: ['--resume'],
    at: 'end',
    already: ['-r', '--resume', '--session-id', '-n', '--name', '--path'],
    needsSubcommand: 'session',
    source:
      'goose CLI commands, `goose session -r, --resume`: "Resume a previous session" (the most recent without a name or id): https://block.github.io/goose/docs/guides/goose-cli-commands',
  },
  opencode: {
    executable: 'opencode',
    args: ['--continue'],
    at: 'end',
    already: ['-c', '--continue', '-s', '--session'],
    source: 'OpenCode CLI, `--continue, -c`: "Continue the last session": https://opencode.ai/docs/cli',
  },
  copilot: {
    executable: 'copilot',
    args: ['--continue'],
    at: 'end',
    already: ['--continue', '--resume', '-r'],
    source:
      'GitHub Copilot CLI command reference, root option `--continue` (resume the most recent session): https://docs.github.com/en/copilot/reference/copilot-cli-reference/cli-command-reference',
  },
  aider: {
    executable: 'aider',
    args: ['--restore-chat-history'],
    at: 'end',
    already: ['--restore-chat-history', '--no-restore-chat-history'],
    source:
      'aider options, `--restore-chat-history`: "Restore the previous chat history messages" (from .aider.chat.history.md in the repository): https://aider.chat/docs/config/options.html',
  },
};

/** AgentAPI's own names for agent types (cmd/server/server.go: agentTypeAliases). */
const ALIASES: Readonly<Record<string, string>> = {
  claude: 'claude',
  goose: 'goose',
  aider: 'aider',
  codex: 'codex',
  gemini: 'gemini',
  copilot: 'copilot',
  amp: 'amp',
  auggie: 'auggie',
  cursor: 'cursor',
  'cursor-agent': 'cursor',
  q: 'amazonq',
  amazonq: 'amazonq',
  opencode: 'opencode',
  custom: 'custom',
};

/**
 * The agent type AgentAPI will use: --type, else guessed from the agent command's first word as
 * it is (AgentAPI's parseAgentType: `/usr/bin/claude` is a custom agent to it).
 */
export function agentTypeOf(type: string | undefined, agent: readonly string[]): string {
  return ALIASES[type || agent[0] || ''] ?? 'custom';
}

export interface ResumePlan {
  /** The agent command to run. */
  agent: string[];
  /** What was added to it (nothing on a first start). */
  added: string[];
  /** Where the addition came from: `--resume-args`, or `recipe:<type>`. */
  source?: string;
  /** Why, in words, for the log and --json. */
  why: string;
}

export interface ResumeOptions {
  /** This start is a resume (see decideResume). */
  resumed: boolean;
  type?: string;
  agent: readonly string[];
  /** The template's own resume arguments: they always win. */
  resumeArgs: readonly string[];
  /** Use the recipes (--no-resume-agent: no). */
  recipes: boolean;
}

/** The agent command for this start: the agent's resume arguments added on a resume only. */
export function planResume(o: ResumeOptions): ResumePlan {
  const agent = [...o.agent];
  if (!o.resumed) return { agent, added: [], why: 'a first start: the agent command is run as given' };
  if (o.resumeArgs.length > 0) {
    return {
      agent: [...agent, ...o.resumeArgs],
      added: [...o.resumeArgs],
      source: '--resume-args',
      why: 'a resume: --resume-args added',
    };
  }
  const type = agentTypeOf(o.type, agent);
  const recipe = RECIPES[type];
  if (!o.recipes) return { agent, added: [], why: 'a resume, but --no-resume-agent: nothing added' };
  if (!recipe)
    return {
      agent,
      added: [],
      why: `a resume; no documented way to continue the ${type} agent's own session`,
    };
  if (basename(agent[0] ?? '') !== recipe.executable) {
    return {
      agent,
      added: [],
      why: `a resume; the command is not ${recipe.executable} itself, so nothing is added`,
    };
  }
  const rest = agent.slice(1);
  if (rest.some((arg) => recipe.already.some((flag) => arg === flag || arg.startsWith(`${flag}=`)))) {
    return { agent, added: [], why: 'a resume; the command resumes the agent by itself already' };
  }
  if (recipe.needsSubcommand && rest[0] !== recipe.needsSubcommand) {
    return {
      agent,
      added: [],
      why: `a resume; only \`${recipe.executable} ${recipe.needsSubcommand}\` can be resumed, so nothing is added`,
    };
  }
  const resumed =
    recipe.at === 'subcommand' ? [agent[0], ...recipe.args, ...rest] : [...agent, ...recipe.args];
  return {
    agent: resumed,
    added: [...recipe.args],
    source: `recipe:${type}`,
    why: `a resume: ${type}'s own way to continue its latest session`,
  };
}
