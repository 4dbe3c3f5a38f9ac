// What we know of one agent CLI, in one shape: each known agent has a file of its own in this
// folder (claude.ts, codex.ts, …) that fills it in, with the source of every fact beside it, and
// index.ts lists them. Adding an agent is adding its file and its line in index.ts (a unit test
// fails when a file here is not listed).

/** Where the agent keeps its sessions, and how much room Coder says to give them. */
export interface AgentStorage {
  /** Folders (or a file); `~/` is the home folder, anything else is relative to the working folder. */
  paths: readonly string[];
  /** Coder's figure, e.g. "100 MB (can grow to GB)". */
  minStorage: string;
}

/** How the agent continues its latest session in its working folder (when it cannot name one). */
export interface LatestSessionRecipe {
  /** The arguments that continue the latest session. */
  args: readonly string[];
  /** After the executable (a subcommand: `codex resume --last`), or at the end (a flag). */
  at: 'subcommand' | 'end';
  /** Present in the command already: the template resumes by itself, nothing is added. */
  already: readonly string[];
  /** Only when the command runs this subcommand (goose: `goose session`). */
  needsSubcommand?: string;
  source: string;
}

/** Where the agent's own files are, for a check that a session exists. */
export interface AgentPlace {
  home: string;
  /** The folder the agent runs in. */
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** How the agent names a session of ours, so that the task always continues the same one. */
export interface NamedSessions {
  /** Arguments that start a new session with this id (a first start). */
  start(id: string): string[];
  /** Arguments that continue the session with this id (a resume). */
  resume(id: string): string[];
  /** Present in the command already: the template names the session itself, nothing is added. */
  already: readonly string[];
  /** Whether the agent has a session with this id (it refuses to start one twice, or to resume none). */
  exists(id: string, where: AgentPlace): Promise<boolean>;
  /** Sessions an earlier Task module gave every task, continued when ours does not exist (adoption). */
  legacy?: readonly { id: string; source: string }[];
  source: string;
}

/** How the agent reports the Task's state to coderd: Coder's MCP server, set up by Coder's CLI. */
export interface StatusReporting {
  /** The `coder` arguments that configure the agent to run Coder's MCP server in `workdir`. */
  configure(workdir: string): string[];
  /** What the agent itself needs in its environment for that server. */
  agentEnv: Readonly<Record<string, string>>;
  source: string;
}

export interface AgentProfile {
  /** AgentAPI's agent type. */
  type: string;
  /** Its CLI's executable: arguments are added only when the agent command runs it. */
  executable?: string;
  storage: AgentStorage;
  latest?: LatestSessionRecipe;
  sessions?: NamedSessions;
  reporting?: StatusReporting;
  /** The state file the registry's AgentAPI-based module for it kept, relative to the home folder. */
  registryState?: { path: string; source: string };
}

/** Coder's "Agent compatibility" page (its "Session data paths" and "Min storage"), read on 2026-12-01. */
export const COMPATIBILITY = 'https://coder.com/docs/ai-coder/agent-compatibility';
