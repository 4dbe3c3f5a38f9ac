// Defaults and environment variables in one place, and what derives from them alone. The flags
// that read them are in flags.ts: this module loads no command-line machinery, so the resident
// checkpoint supervisor does not either.

import { homedir } from 'node:os';
import { join } from 'node:path';

export const ENV = {
  port: 'AGENTAPI_PORT',
  pidFile: 'AGENTAPI_PID_FILE',
  stateFile: 'AGENTAPI_STATE_FILE',
  agentUrl: 'CODER_AGENT_URL',
  agentToken: 'CODER_AGENT_TOKEN',
} as const;

/**
 * Our private folder (0700, the user's own): the default state file, PID file and shutdown lock
 * live here. Never the shared /tmp, where another local user could create them first.
 */
export const PRIVATE_DIR = join(homedir(), '.agentapi');

export const DEFAULTS = {
  port: 3284,
  pidFile: join(PRIVATE_DIR, 'agentapi.pid'),
  stateFile: join(PRIVATE_DIR, 'state.json'),
  maxMessages: 10,
  /** coderd's limit on the raw body (SPEC §3). */
  maxBytes: 65_536,
  /** One AgentAPI request. /messages can stall for seconds behind a POST /message lock. */
  requestTimeoutMs: 10_000,
  /** One coderd attempt. */
  postAttemptTimeoutMs: 10_000,
  /** `shutdown` as a whole. */
  shutdownTimeoutMs: 30_000,
  /** One `checkpoint`: well under a minute, so a tick never runs into the next one's schedule. */
  checkpointTimeoutMs: 20_000,
  /** SIGTERM to SIGKILL: AgentAPI's own graceful stop takes up to ~10 s (SPEC §2). */
  graceMs: 10_000,
  /** How long to wait for the state file to be replaced after SIGUSR1. */
  saveTimeoutMs: 5_000,
} as const;

/** The URL AgentAPI answers on: `--agentapi-url` if given, else loopback at `port`. */
export function agentApiBaseUrl(port: number, url?: string): string {
  return (url ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
}

/** AgentAPI answers only these hosts (SPEC §2), and the conversation goes nowhere else. */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** A base URL on this machine, or throws why not. */
export function parseAgentApiUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new Error(`"${input}" is not a URL (e.g. http://127.0.0.1:3284)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`"${input}" must be http or https`);
  if (!LOOPBACK_HOSTS.includes(url.hostname)) {
    throw new Error(
      `host "${url.hostname}" is not on this machine: use localhost, 127.0.0.1 or [::1], the hosts AgentAPI answers`,
    );
  }
  if (url.username || url.password) throw new Error(`"${input}" must not hold a user name or password`);
  return input;
}

/** The default PID file: one per port, so AgentAPIs on two ports never share one. */
export function defaultPidFile(port: number | undefined): string {
  return port === undefined || port === DEFAULTS.port
    ? DEFAULTS.pidFile
    : join(PRIVATE_DIR, `agentapi-${port}.pid`);
}

/**
 * The default PID file of 0.1.x, in /tmp: shutdown and status still look there when `pidFile`
 * is the default and absent, so an AgentAPI started by an earlier version is still found.
 */
export function oldDefaultPidFile(pidFile: string, port: number): string | undefined {
  if (pidFile !== defaultPidFile(port)) return undefined;
  return port === DEFAULTS.port ? '/tmp/agentapi.pid' : `/tmp/agentapi-${port}.pid`;
}

/** The Coder side, read from the environment only: a token never belongs on a command line. */
export interface CoderEnv {
  agentUrl?: string;
  token?: string;
}

/**
 * The environment a child process gets: ours without the agent token, which belongs to coderd
 * alone (an agent that needs it gets it only through `start --pass-agent-token`).
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { [ENV.agentToken]: _, ...rest } = env;
  return rest;
}

/**
 * AgentAPI's environment: ours without the agent token (unless `passAgentToken`) and without an
 * initial prompt we were handed by our own environment (the Task's prompt is given only when start
 * decides so), plus `extra` (the prompt, what the agent needs to report its status).
 */
export function agentApiEnv(
  extra: Readonly<Record<string, string>>,
  passAgentToken: boolean,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const { AGENTAPI_INITIAL_PROMPT: _, ...rest } = passAgentToken ? env : childEnv(env);
  return { ...rest, ...extra };
}

export function coderEnv(env: NodeJS.ProcessEnv = process.env): CoderEnv {
  return { agentUrl: env[ENV.agentUrl] || undefined, token: env[ENV.agentToken] || undefined };
}
