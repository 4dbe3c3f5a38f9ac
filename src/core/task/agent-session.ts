// The agent's own session on this start. AgentAPI's state file brings back the chat the Tasks UI
// shows; the agent remembers only through its own session. So `start` decides what the agent
// command gets (pure: the caller looks at the disk first):
// - the template's `--resume-args`, on a resume: its own way always wins, and nothing else is added;
// - an agent that can name its sessions (claude) and a task id: the session is the task's, named by
//   its id: started with that name on a first start, continued on a resume, so that a session a
//   person opened by hand in the same folder is never the one continued (`--continue` takes the
//   newest). Whether it exists decides, since the agent refuses to start a name twice or to resume
//   one it lacks;
// - else, on a resume, the agent's documented way to continue its latest session.
// Nothing is added to a command that is not the agent's own executable, or that names or resumes
// a session already, or with --no-resume-agent.

import { basename } from 'node:path';
import type { AgentPlace, AgentProfile } from './agents/index.js';

export interface SessionOptions {
  /** This start is a resume: AgentAPI loads a conversation (see decideResume). */
  resumed: boolean;
  /** The agent type AgentAPI will use, and what we know of it. */
  type: string;
  profile?: AgentProfile;
  agent: readonly string[];
  /** The template's own resume arguments: they always win. */
  resumeArgs: readonly string[];
  /** Add a known agent's own arguments (--no-resume-agent: no). */
  recipes: boolean;
  /** The task's own session, for an agent that names its sessions (the task id). */
  sessionId?: string;
  /** Of that id and the agent's legacy ones, those it has a session for. */
  existing: ReadonlySet<string>;
}

export interface SessionPlan {
  /** The agent command to run. */
  agent: string[];
  /** What was added to it. */
  added: string[];
  /** Where the addition came from: `--resume-args`, `session:<type>` or `recipe:<type>`. */
  source?: string;
  /** The session the agent runs in, when it is one named by us. */
  sessionId?: string;
  /** Why, in words, for the log, --json and status. */
  why: string;
}

export function planSession(o: SessionOptions): SessionPlan {
  const agent = [...o.agent];
  const nothing = (why: string): SessionPlan => ({ agent, added: [], why });
  const first = o.resumed ? 'a resume' : 'a first start';
  if (o.resumeArgs.length > 0) {
    if (!o.resumed)
      return nothing('a first start: the agent command is run as given (--resume-args are for a resume)');
    return {
      agent: [...agent, ...o.resumeArgs],
      added: [...o.resumeArgs],
      source: '--resume-args',
      why: 'a resume: --resume-args added',
    };
  }
  if (!o.recipes) return nothing(`${first}, but --no-resume-agent: the agent command is run as given`);
  const { profile } = o;
  if (!profile?.executable) {
    return nothing(
      o.resumed
        ? `a resume; no documented way to continue the ${o.type} agent's own session`
        : 'a first start: the agent command is run as given',
    );
  }
  if (basename(agent[0] ?? '') !== profile.executable) {
    return nothing(`${first}; the command is not ${profile.executable} itself, so nothing is added`);
  }
  const rest = agent.slice(1);
  const has = (flags: readonly string[]) =>
    rest.some((arg) => flags.some((f) => arg === f || arg.startsWith(`${f}=`)));
  const sessions = profile.sessions;
  if (sessions && o.sessionId) {
    if (has(sessions.already))
      return nothing(`${first}; the command names or resumes the agent's session by itself`);
    const add = (args: string[], sessionId: string, why: string): SessionPlan => ({
      agent: [...agent, ...args],
      added: args,
      source: `session:${profile.type}`,
      sessionId,
      why,
    });
    const id = o.sessionId;
    if (o.existing.has(id)) {
      return add(
        sessions.resume(id),
        id,
        o.resumed
          ? `a resume: ${profile.type} continues its session ${id}, the task's`
          : `a first start for AgentAPI (no conversation saved), but ${profile.type} has the task's session ${id}: continued`,
      );
    }
    const legacy = o.resumed ? sessions.legacy?.find((l) => o.existing.has(l.id)) : undefined;
    if (legacy) {
      return add(
        sessions.resume(legacy.id),
        legacy.id,
        `a resume: ${profile.type} continues session ${legacy.id}, the one ${legacy.source}`,
      );
    }
    return add(
      sessions.start(id),
      id,
      o.resumed
        ? `a resume, but ${profile.type} has no session ${id} (did ${profile.storage.paths[0]} persist?): a new one of that name`
        : `a first start: ${profile.type}'s session is named ${id}, the task's`,
    );
  }
  if (!o.resumed) return nothing('a first start: the agent command is run as given');
  const recipe = profile.latest;
  if (!recipe) return nothing(`a resume; no documented way to continue the ${o.type} agent's own session`);
  if (has(recipe.already)) return nothing('a resume; the command resumes the agent by itself already');
  if (recipe.needsSubcommand && rest[0] !== recipe.needsSubcommand) {
    return nothing(
      `a resume; only \`${profile.executable} ${recipe.needsSubcommand}\` can be resumed, so nothing is added`,
    );
  }
  return {
    agent: recipe.at === 'subcommand' ? [agent[0], ...recipe.args, ...rest] : [...agent, ...recipe.args],
    added: [...recipe.args],
    source: `recipe:${profile.type}`,
    why: `a resume: ${profile.type}'s own way to continue its latest session`,
  };
}

/** Of the task's session id and the agent's legacy ones, those the agent has a session for. */
export async function sessionsFound(
  profile: AgentProfile | undefined,
  sessionId: string | undefined,
  where: AgentPlace,
): Promise<Set<string>> {
  const sessions = profile?.sessions;
  if (!sessions || !sessionId) return new Set();
  const ids = [sessionId, ...(sessions.legacy ?? []).map((l) => l.id)];
  const found = await Promise.all(ids.map((id) => sessions.exists(id, where).catch(() => false)));
  return new Set(ids.filter((_, i) => found[i]));
}
