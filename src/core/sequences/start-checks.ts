// What `start` needs before AgentAPI runs: the exact argv (with or without the persistence
// flags, by version), and preflight checks that turn the usual failures into one clear line.

import { constants } from 'node:fs';
import { access, mkdir, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { flagValue } from '../agentapi/agentapi-process.js';
import { readVersion, type VersionInfo } from '../agentapi/agentapi-version.js';
import { stampOf, summarizeState } from '../agentapi/state-file.js';
import { readPidFile } from '../process/pid-file.js';
import { identifyAgentApi, type ProcInfo } from '../process/proc.js';
import { noRoomFor } from '../utils/disk.js';
import { fsReason, UserError } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';

export interface ServerArgsOptions {
  port: number;
  type?: string;
  pidFile: string;
  stateFile: string;
  /** Pass --state-file --load-state --save-state. */
  statePersistence: boolean;
  /** Pass --pid-file (AgentAPI 0.12.0+ only). */
  pidFileFlag: boolean;
  extra: readonly string[];
  agent: readonly string[];
}

/** `agentapi server ...` argv, persistence flags before any extra arguments, agent after `--`. */
export function serverArgs(o: ServerArgsOptions): string[] {
  const args = ['server', '--port', String(o.port)];
  if (o.type) args.push('--type', o.type);
  if (o.statePersistence) args.push('--state-file', o.stateFile, '--load-state', '--save-state');
  if (o.pidFileFlag) args.push('--pid-file', o.pidFile);
  return [...args, ...o.extra, '--', ...o.agent];
}

export type VersionDecision = { persistence: boolean; info: VersionInfo; warning?: string };

/**
 * The version gate. Below 0.12.0 the persistence and PID-file flags would stop AgentAPI from
 * starting, so they are left out. A version that cannot be read as semver ("dev", "preview")
 * is taken as new: such builds come from current sources. If one turns out to be old, it says
 * "unknown flag" on start, and --no-state-persistence is the way around it.
 */
export async function checkAgentApiVersion(bin: string, timeoutMs = 5000): Promise<VersionDecision> {
  const info = await readVersion(bin, timeoutMs);
  if (info.error)
    throw new UserError(
      info.error.includes('--agentapi-bin') ? info.error : `${info.error} (--agentapi-bin)`,
    );
  if (info.supportsPersistence === false) {
    return {
      persistence: false,
      info,
      warning: `AgentAPI ${info.raw} predates state persistence (0.12.0): starting it without --state-file and --pid-file, so the conversation will not survive a pause. Upgrade AgentAPI to keep it.`,
    };
  }
  if (info.supportsPersistence === undefined) {
    return {
      persistence: true,
      info,
      warning: `cannot read AgentAPI's version "${info.raw ?? ''}"; assuming 0.12.0 or newer (a development build). If it refuses --state-file, use --no-state-persistence.`,
    };
  }
  return { persistence: true, info };
}

/**
 * Creates the state file's directory (0700) and checks we can write there; why not, if not. Not
 * fatal: a workspace must come up, and AgentAPI runs without a writable state folder (it starts
 * fresh, and cannot save until the folder is writable), so start warns and goes on.
 */
export async function prepareStateDir(stateFile: string): Promise<string | undefined> {
  const dir = dirname(stateFile);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    return undefined;
  } catch (error) {
    return `the state folder ${dir} is not writable (${fsReason(error)})`;
  }
}

/** Refuses a port something already listens on (AgentAPI listens on all interfaces). */
export async function checkPortFree(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          error.code === 'EADDRINUSE'
            ? `port ${port} is already in use (another AgentAPI?)`
            : `cannot use port ${port}: ${error.message}`,
        ),
      ),
    );
    server.listen(port, () => server.close(() => resolve()));
  });
}

/**
 * A full or read-only disk, said before AgentAPI runs: it could not write its PID file (refused:
 * it would exit at once), or could not save the conversation (a warning: it still runs, and
 * saves once there is room).
 */
export async function checkRoom(
  o: { pidFile: string; stateFile: string; pidFileFlag: boolean; persistence: boolean },
  logger: Logger,
): Promise<void> {
  if (o.pidFileFlag) {
    const noRoom = await noRoomFor(dirname(o.pidFile), 0);
    if (noRoom) {
      throw new UserError(
        `cannot start AgentAPI: ${noRoom.detail}, so it could not write its PID file ${o.pidFile}; make room there (or give --pid-file elsewhere)`,
      );
    }
  }
  if (!o.persistence) return;
  const noRoom = await noRoomFor(dirname(o.stateFile), (await stampOf(o.stateFile))?.size ?? 0);
  if (noRoom) {
    logger.warn(
      `${noRoom.detail}: AgentAPI runs, but cannot save the conversation (on a pause or a checkpoint) until there is room`,
    );
  }
}

export type PidFileCheck = { state: 'free' } | { state: 'running'; pid: number; proc: ProcInfo };

/**
 * A PID file naming a live AgentAPI of ours means it is running. One that provably is a stale
 * AgentAPI PID file (a small file holding a decimal PID that is dead, reused or not AgentAPI)
 * is removed: AgentAPI refuses to start while its PID file names any live process. Anything
 * else (a config file given by mistake, a FIFO, another user's AgentAPI) is left untouched and
 * refused, since deleting it could destroy something that is not ours.
 */
export async function checkPidFile(path: string, logger: Logger): Promise<PidFileCheck> {
  const file = await readPidFile(path);
  if (file.state === 'missing') return { state: 'free' };
  if (file.state === 'invalid') {
    throw new UserError(
      `--pid-file ${path} is not an AgentAPI PID file (${file.reason}); not touching it: remove it yourself or choose another --pid-file`,
    );
  }
  const identity = await identifyAgentApi(file.pid, file.writtenAtMs);
  if (identity.ok) return { state: 'running', pid: file.pid, proc: identity.proc };
  if (identity.kind === 'other-user' || identity.kind === 'self') {
    throw new UserError(`--pid-file ${path}: ${identity.reason}; choose another --pid-file`);
  }
  logger.warn(`removing stale PID file ${path}: ${identity.reason}`);
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError(
        `stale PID file ${path} cannot be removed (${fsReason(error)}); choose another --pid-file`,
      );
    }
  }
  return { state: 'free' };
}

export interface ResumeDecision {
  resumed: boolean;
  why: string;
}

/**
 * Is this start a resume? Yes when AgentAPI will load a conversation: persistence is on and its
 * state file holds one. A conversation needs at least two messages (AgentAPI's first is the
 * agent's own greeting; the second is always the user's first): a greeting alone means the agent
 * never got to work, so it has no session of its own to continue.
 */
export async function decideResume(stateFile: string, persistence: boolean): Promise<ResumeDecision> {
  if (!persistence) return { resumed: false, why: 'state persistence is off' };
  const state = await summarizeState(stateFile);
  if (!state.exists) return { resumed: false, why: `no state file at ${stateFile} yet` };
  if (state.problem) return { resumed: false, why: `the state file ${stateFile} ${state.problem}` };
  const messages = state.messages ?? 0;
  if (messages < 2)
    return { resumed: false, why: `the state file holds ${messages} message(s): no conversation yet` };
  return { resumed: true, why: `the state file holds ${messages} messages, which AgentAPI loads` };
}

/** The server arguments that locate what AgentAPI keeps, named for a person. */
const NAMED_FLAGS: readonly [string, readonly string[]][] = [
  ['port', ['--port', '-p']],
  ['agent type', ['--type', '-t']],
  ['state file', ['--state-file', '-s']],
  ['PID file', ['--pid-file']],
];

/**
 * How the running AgentAPI's command line (`actual`, after the executable) differs from every one
 * this start could run (`expected`: its first start and its resume differ only in the agent's
 * arguments), in words; empty when it is one of them.
 */
export function differences(actual: readonly string[], expected: readonly (readonly string[])[]): string[] {
  const split = (argv: readonly string[]) => {
    const at = argv.indexOf('--');
    return at === -1 ? [argv, []] : [argv.slice(0, at), argv.slice(at + 1)];
  };
  const [server, agent] = split(actual);
  const [wantedServer, wantedAgent] = split(expected[0]);
  const found: string[] = [];
  for (const [what, names] of NAMED_FLAGS) {
    const is = flagValue(server, names);
    const wanted = flagValue(wantedServer, names);
    if (is !== wanted) found.push(`its ${what} is ${is ?? 'not given'}, not ${wanted ?? 'none'}`);
  }
  if (found.length === 0 && server.join('\0') !== wantedServer.join('\0')) {
    found.push(`it runs \`${server.join(' ')}\`, not \`${wantedServer.join(' ')}\``);
  }
  if (!expected.some((argv) => split(argv)[1].join('\0') === agent.join('\0'))) {
    found.push(`its agent command is \`${agent.join(' ')}\`, not \`${wantedAgent.join(' ')}\``);
  }
  return found;
}
