// The flags commands share. Every flag that has an AgentAPI or Coder variable reads it (a flag
// beats its variable, as in AgentAPI itself); defaults come from settings.ts.

import * as Flags from '@oclif/core/flags';
import type { OptionFlag } from '@oclif/core/interfaces';
import type { SaveAndPostOptions } from '../core/agentapi/save.js';
import { EMPTY_BODY } from '../core/coderd/snapshot.js';
import { formatUnit, parseDuration } from '../core/utils/duration.js';
import {
  agentApiBaseUrl,
  coderEnv,
  DEFAULTS,
  defaultPidFile,
  ENV,
  parseAgentApiUrl,
} from '../core/utils/settings.js';

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
export function durationFlag({ min, max, description, ...options }: DurationFlagOptions) {
  const flag = Flags.custom<number>({
    // The range is part of what --help says: a value outside it is refused.
    description: `${description} (${formatUnit(min)} to ${formatUnit(max)})`,
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

export const pidFileFlag = Flags.string({
  description: 'PID file AgentAPI writes',
  env: ENV.pidFile,
  default: async ({ flags }) => defaultPidFile(flags.port as unknown as number | undefined),
  defaultHelp: async () => '~/.agentapi/agentapi.pid (for another --port: ~/.agentapi/agentapi-<port>.pid)',
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

/** Ask AgentAPI to save first (shutdown, checkpoint). */
export const statePersistenceFlag = Flags.boolean({
  description: 'Ask AgentAPI to save its state (--no-state-persistence to skip)',
  default: true,
  allowNo: true,
});

/** How long a save may take to show in the state file (shutdown, checkpoint). */
export const saveTimeoutFlag = durationFlag({
  description: 'How long to wait for the state file to be replaced',
  default: DEFAULTS.saveTimeoutMs,
  min: 100,
  max: 3_600_000,
});

/** The flags of the commands that save a running AgentAPI and post its snapshot (shutdown, checkpoint). */
export const saveAndPostFlags = {
  'task-id': taskIdFlag,
  ...agentApiFlags,
  'pid-file': pidFileFlag,
  'state-file': runningStateFileFlag,
  'state-persistence': statePersistenceFlag,
  ...snapshotFlags,
  'save-timeout': saveTimeoutFlag,
};

/** Those flags, parsed, as the options the core takes (with the Coder variables). */
export function saveAndPostOptions(flags: {
  'task-id'?: string;
  port: number;
  'agentapi-url'?: string;
  'pid-file': string;
  'state-file'?: string;
  'state-persistence': boolean;
  'max-messages': number;
  'max-bytes': number;
  'save-timeout': number;
}): Omit<SaveAndPostOptions, 'timeoutMs' | 'logger'> {
  return {
    taskId: flags['task-id'],
    agentApiUrl: agentApiBaseUrl(flags.port, flags['agentapi-url']),
    port: flags.port,
    pidFile: flags['pid-file'],
    stateFile: flags['state-file'],
    statePersistence: flags['state-persistence'],
    maxMessages: flags['max-messages'],
    maxBytes: flags['max-bytes'],
    saveTimeoutMs: flags['save-timeout'],
    coder: coderEnv(),
  };
}
