// Running AgentAPI detached from `start`: on its own (no process of ours stays behind), or under
// the checkpoint supervisor; waiting for it to be ready, and cleaning up when it is not. (In the
// foreground: foreground.ts.)

import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { Exit } from '../process/foreground.js';
import { SUPERVISOR_ARG, selfCommand } from '../process/internal-commands.js';
import { readPidFile } from '../process/pid-file.js';
import { identifyAgentApi } from '../process/proc.js';
import { send, waitForExit } from '../process/signals.js';
import type { SupervisorOptions } from '../process/supervisor-options.js';
import { Deadline, pollUntil } from '../utils/deadline.js';
import { readFileTail, withAppendFile } from '../utils/local-file.js';
import { agentApiBaseUrl } from '../utils/settings.js';
import { getStatus } from './agentapi-client.js';

/** Ready means /status answered 200 this many times in a row. */
export const READY_STREAK = 3;

/** Where this run's output starts in the (appended) log file, and the open file to write to. */
export interface LogTarget {
  file: string;
  /** Bytes in the file before this run: earlier runs' output is not this run's story. */
  offset: number;
}

/**
 * Starts AgentAPI on its own: a new session (setsid), output straight to the log file, no
 * process of ours left behind once `start` returns. shutdown, status and the stop script find
 * it by its PID file (or port) exactly as before.
 */
export async function spawnDetached(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  cwd?: string,
): Promise<{ child: ChildProcess; log: LogTarget } | Error> {
  const opened = await withAppendFile(logFile, async (log) => {
    const offset = (await log.stat()).size;
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ['ignore', log.fd, log.fd], detached: true, env, cwd });
    } catch (error) {
      // Bun's spawn throws at once for what posix_spawn refuses (E2BIG): not the log's fault.
      return error instanceof Error ? error : new Error(String(error));
    }
    // Listen before the next await: 'spawn' may come while the log closes.
    return { child, offset, spawned: started(child) };
  });
  if (opened instanceof Error) return opened;
  const { child, offset, spawned } = opened;
  const result = await spawned;
  if (result instanceof Error) return result;
  child.unref();
  return { child, log: { file: logFile, offset } };
}

/**
 * Starts the checkpoint supervisor (this binary, `__supervise`) detached, its output going to
 * `logFile`, and hands it `options` on stdin: it runs AgentAPI and the checkpoints after
 * `start --detach` returns, without parsing a command line (or loading what parses one) again.
 */
export async function spawnSupervisor(
  options: SupervisorOptions,
  logFile: string,
): Promise<{ child: ChildProcess; log: LogTarget }> {
  const [file, args] = selfCommand(SUPERVISOR_ARG);
  const { child, offset } = await withAppendFile(logFile, async (log) => {
    const offset = (await log.stat()).size;
    const child = spawn(file, args, { stdio: ['pipe', log.fd, log.fd], detached: true });
    return { child, offset };
  });
  // An early exit closes the pipe; the readiness wait reports that exit, not this error.
  child.stdin?.on('error', () => {});
  child.stdin?.end(JSON.stringify(options));
  child.unref();
  return { child, log: { file: logFile, offset } };
}

/** The child once it runs, or the reason it could not start. */
async function started(child: ChildProcess): Promise<ChildProcess | Error> {
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  return failed ?? child;
}

export type Readiness = { ready: true } | { ready: false; exit?: Exit };

/** Waits for `streakNeeded` answers from /status in a row, an early exit, or the deadline. */
export async function waitUntilReady(
  child: ChildProcess,
  port: number,
  deadline: Deadline,
  streakNeeded = READY_STREAK,
): Promise<Readiness> {
  // It may have exited already, before anyone listened (a loaded machine): that counts too.
  let exited: Exit | undefined =
    child.exitCode !== null || child.signalCode !== null
      ? { code: child.exitCode, signal: child.signalCode }
      : undefined;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  let streak = 0;
  const ready = await pollUntil(
    deadline,
    async () => {
      if (exited) return false;
      try {
        await getStatus({ baseUrl: agentApiBaseUrl(port), timeoutMs: 1000, signal: deadline.signal });
        streak++;
      } catch {
        streak = 0;
      }
      return streak >= streakNeeded ? true : undefined;
    },
    { firstMs: 20, maxMs: 100 },
  );
  if (ready === true) return { ready: true };
  return exited ? { ready: false, exit: exited } : { ready: false };
}

/** Stops everything a failed detach started: SIGTERM to its process group, SIGKILL if it lingers. */
export async function stopGroup(child: ChildProcess): Promise<void> {
  const group = -(child.pid as number);
  if (send(group, 'SIGTERM') !== 'sent') return;
  if (!(await waitForExit(child.pid as number, Deadline.in(3000)))) send(group, 'SIGKILL');
}

/** The PID in AgentAPI's PID file, if it names a running agentapi server. */
export async function identifiedPid(pidFile: string): Promise<number | undefined> {
  const file = await readPidFile(pidFile);
  if (file.state !== 'ok') return undefined;
  return (await identifyAgentApi(file.pid, file.writtenAtMs)).ok ? file.pid : undefined;
}

/** The children of `pid` (from /proc/<pid>/task/<tid>/children), e.g. the supervisor's AgentAPI. */
export async function childrenOf(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const lists = await Promise.all(
    tasks.map((tid) => readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '')),
  );
  return lists.flatMap((list) => list.trim().split(/\s+/).filter(Boolean).map(Number));
}

/** The last `lines` lines this run wrote to the log (read from at most its last 64 KiB). */
export async function tail(log: LogTarget, lines: number): Promise<string[]> {
  const read = await readFileTail(log.file, 64 * 1024);
  if (read.state !== 'ok') return ['(no log)'];
  const from = Math.max(0, log.offset - (read.stat.size - read.data.length));
  const text = read.data.subarray(from).toString('utf8').trimEnd();
  return text ? text.split('\n').slice(-lines) : ['(nothing written)'];
}
