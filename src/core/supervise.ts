// Running AgentAPI under `start`: in the foreground (forward signals, wait, pass on the exit
// code: tini's recipe) or as a detached supervisor that `start --detach` waits on until ready.

import { type ChildProcess, spawn } from 'node:child_process';
import { agentApiBaseUrl, getStatus } from './agentapi-client.js';
import { Deadline, pollUntil } from './deadline.js';
import { openForAppend, readFileTail } from './local-file.js';
import { readPidFile } from './pid-file.js';
import { identifyAgentApi } from './proc.js';
import { send, waitForExit } from './signals.js';

/** Ready means /status answered 200 this many times in a row. */
const READY_STREAK = 3;
const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/** Flags of `start` that the detached supervisor must not see again. */
const PARENT_ONLY = ['--detach', '-d', '--json'];

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Spawns `file args` in its own process group, or says why it could not. */
export async function spawnForeground(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<ChildProcess | Error> {
  // Its own process group: a terminal's Ctrl-C reaches AgentAPI once, through us. A second
  // signal would make AgentAPI exit without saving.
  const child = spawn(file, args, { stdio: 'inherit', detached: true, env });
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  return failed ?? child;
}

/** Forwards signals to the child until it exits (tini: forward, wait). */
export function supervise(child: ChildProcess): Promise<Exit> {
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve({ code, signal });
    });
  });
}

/** A shell's convention: the exit code, else 128 + the signal's number. */
export function exitCodeOf(exit: Exit): number {
  if (exit.code !== null) return exit.code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + ((exit.signal && numbers[exit.signal]) || 1);
}

/**
 * Re-runs this same `start` command line without --detach as a detached supervisor whose
 * output goes to `logFile`, so checkpoints keep running after `start --detach` returns.
 */
export async function spawnSupervisor(logFile: string): Promise<ChildProcess> {
  const log = await openForAppend(logFile);
  // Compiled, argv[1] is the binary's own virtual path; under bun or node it is the script.
  const self = process.argv[1]?.startsWith('/$bunfs/') ? [] : [process.argv[1]];
  const argv = process.argv.slice(2);
  const end = argv.indexOf('--');
  // Up to the agent command, which stays untouched.
  const own = argv.slice(0, end).filter((a) => !PARENT_ONLY.includes(a));
  const child = spawn(process.execPath, [...self, ...own, ...argv.slice(end)], {
    stdio: ['ignore', log.fd, log.fd],
    detached: true,
  });
  await log.close();
  child.unref();
  return child;
}

export type Readiness = { ready: true } | { ready: false; exitCode?: number | null };

/** Waits for READY_STREAK answers from /status in a row, an early exit, or the deadline. */
export async function waitUntilReady(
  child: ChildProcess,
  port: number,
  deadline: Deadline,
): Promise<Readiness> {
  let exited: { code: number | null } | undefined;
  child.once('exit', (code) => {
    exited = { code };
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
      return streak >= READY_STREAK ? true : undefined;
    },
    { firstMs: 50, maxMs: 100 },
  );
  if (ready === true) return { ready: true };
  return exited ? { ready: false, exitCode: exited.code } : { ready: false };
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

/** The last `lines` lines of a log file (read from its last 64 KiB), for an error message. */
export async function tail(file: string, lines: number): Promise<string> {
  const read = await readFileTail(file, 64 * 1024);
  if (read.state !== 'ok') return '(no log)';
  return read.data.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
}
