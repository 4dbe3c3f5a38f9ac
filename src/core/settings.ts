// Defaults and environment variables in one place. Every flag that has an AgentAPI or Coder
// variable reads it (a flag beats its variable, as in AgentAPI itself).

import { homedir } from 'node:os';
import { join } from 'node:path';
import * as Flags from '@oclif/core/flags';
import type { OptionFlag } from '@oclif/core/interfaces';
import { formatUnit, parseDuration } from './duration.js';
import { EMPTY_BODY } from './snapshot.js';

export const ENV = {
  port: 'AGENTAPI_PORT',
  pidFile: 'AGENTAPI_PID_FILE',
  stateFile: 'AGENTAPI_STATE_FILE',
  agentUrl: 'CODER_AGENT_URL',
  agentToken: 'CODER_AGENT_TOKEN',
} as const;

export const DEFAULTS = {
  port: 3284,
  pidFile: '/tmp/agentapi.pid',
  stateFile: join(homedir(), '.agentapi', 'state.json'),
  maxMessages: 10,
  /** coderd's limit on the raw body (SPEC §3). */
  maxBytes: 65_536,
  /** One AgentAPI request. /messages can stall for seconds behind a POST /message lock. */
  requestTimeoutMs: 10_000,
  /** One coderd attempt. */
  postAttemptTimeoutMs: 10_000,
  /** `shutdown` as a whole. */
  shutdownTimeoutMs: 30_000,
  /** SIGTERM to SIGKILL: AgentAPI's own graceful stop takes up to ~10 s (SPEC §2). */
  graceMs: 10_000,
  /** How long to wait for the state file to be replaced after SIGUSR1. */
  saveTimeoutMs: 5_000,
} as const;

export interface DurationFlagOptions {
  description: string;
  /** Milliseconds; shown in --help as e.g. "30s". */
  default?: number;
  /** The allowed range in milliseconds: zero or a typo like "30ms" for "30s" does nothing useful. */
  min: number;
  max: number;
}

/** A duration flag: "500ms", "30s", "2m" or seconds, within a range. */
export function durationFlag(o: DurationFlagOptions & { default: number }): OptionFlag<number>;
export function durationFlag(o: DurationFlagOptions): OptionFlag<number | undefined>;
export function durationFlag({ min, max, ...options }: DurationFlagOptions) {
  const flag = Flags.custom<number>({
    parse: async (input) => {
      const ms = parseDuration(input);
      if (ms < min || ms > max) {
        throw new Error(`"${input}" is out of range: use ${formatUnit(min)} to ${formatUnit(max)}`);
      }
      return ms;
    },
  });
  const defaultHelp =
    options.default === undefined ? undefined : async () => formatUnit(options.default as number);
  return flag({ ...options, defaultHelp });
}

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

/** Flags that locate AgentAPI; shared by every command. */
export const agentApiFlags = {
  port: Flags.integer({
    char: 'p',
    description: "AgentAPI's port",
    env: ENV.port,
    default: DEFAULTS.port,
    min: 1,
    max: 65_535,
  }),
  'agentapi-url': Flags.string({
    description: 'AgentAPI base URL; overrides --port (host must be localhost, 127.0.0.1 or [::1])',
    exclusive: ['port'],
    parse: async (input) => parseAgentApiUrl(input),
  }),
};

/** The default PID file: one per port, so AgentAPIs on two ports never share one. */
export function defaultPidFile(port: number | undefined): string {
  return port === undefined || port === DEFAULTS.port ? DEFAULTS.pidFile : `/tmp/agentapi-${port}.pid`;
}

export const pidFileFlag = Flags.string({
  description: 'PID file AgentAPI writes',
  env: ENV.pidFile,
  default: async ({ flags }) => defaultPidFile(flags.port as unknown as number | undefined),
  defaultHelp: async () => `${DEFAULTS.pidFile} (for another --port: /tmp/agentapi-<port>.pid)`,
});

export const stateFileFlag = Flags.string({
  description: 'AgentAPI state file, on persistent storage',
  env: ENV.stateFile,
  default: DEFAULTS.stateFile,
  defaultHelp: async () => '~/.agentapi/state.json',
});

/**
 * --state-file for commands that look at a running AgentAPI (shutdown, status): the file it was
 * started with, read from /proc, wins; this flag is the fallback, so it has no default.
 */
export const runningStateFileFlag = Flags.string({
  description:
    "State file to use only if the running AgentAPI's own (its --state-file or AGENTAPI_STATE_FILE) cannot be read from /proc",
  env: ENV.stateFile,
});

export const taskIdFlag = Flags.string({
  description: "The Coder task's id (a UUID), embedded by Terraform from data.coder_task.me.id",
});

/** Flags that shape the snapshot body; shared by snapshot, shutdown and start. */
export const snapshotFlags = {
  'max-messages': Flags.integer({
    description: 'Keep at most this many of the latest messages',
    min: 1,
    default: DEFAULTS.maxMessages,
  }),
  'max-bytes': Flags.custom<number>({
    description: "Byte budget of the snapshot body (coderd's limit is 65536)",
    default: DEFAULTS.maxBytes,
    parse: async (input) => {
      const bytes = Number(input);
      if (!Number.isSafeInteger(bytes)) throw new Error(`"${input}" is not a whole number of bytes`);
      if (bytes < EMPTY_BODY.length) {
        throw new Error(
          `${bytes} bytes cannot hold even an empty body (${EMPTY_BODY} is ${EMPTY_BODY.length} bytes)`,
        );
      }
      return bytes;
    },
  })(),
};

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

export function coderEnv(env: NodeJS.ProcessEnv = process.env): CoderEnv {
  return { agentUrl: env[ENV.agentUrl] || undefined, token: env[ENV.agentToken] || undefined };
}
