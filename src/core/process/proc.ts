// What /proc says about a process: is it alive, is it really `agentapi server`, and did it
// start before its PID file was written (else the PID was reused by a newer process).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcInfo {
  pid: number;
  argv: string[];
  /** One-letter state from /proc/<pid>/stat: R, S, D, Z (zombie), ... */
  state: string;
  /** The parent's PID, from /proc/<pid>/stat. */
  ppid: number;
  /** When the process started, epoch milliseconds (to about 10 ms). */
  startedAtMs: number;
  /** Real and effective user ids, from /proc/<pid>/status. */
  uid: { real: number; effective: number };
}

/** USER_HZ: the unit of /proc/<pid>/stat times, 100 on every Linux architecture. */
const CLOCK_TICKS_PER_SECOND = 100;
/** The PID file is written right after start; allow this much clock and rounding slack. */
const START_SLACK_MS = 1000;

/** Undefined when there is no such process (or it vanished while we read). */
export async function readProc(pid: number): Promise<ProcInfo | undefined> {
  try {
    // Synchronous: three thread-pool round trips of fs/promises cost more than the reads (#29).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself hold ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    // The clock is read right after the uptime, synchronously: an event loop delayed between the
    // two (a loaded machine) would shift the start time and make a PID look reused.
    const uptimeMs = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
    const startedAtMs = Date.now() - (uptimeMs - (startTicks / CLOCK_TICKS_PER_SECOND) * 1000);
    const argv = cmdline.toString('utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids) return undefined;
    const uid = { real: Number(uids[1]), effective: Number(uids[2]) };
    return { pid, argv, state: fields[0], ppid: Number(fields[1]), startedAtMs, uid };
  } catch {
    return undefined;
  }
}

/** Alive means present and not a zombie waiting to be reaped. */
export function isRunning(info: ProcInfo | undefined): info is ProcInfo {
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

/**
 * `agentapi server ...`, directly or behind an interpreter (`node /path/agentapi server`).
 * The executable must be named exactly `agentapi`, so `agentapi-lifecycle` never matches.
 */
export function looksLikeAgentApiServer(argv: readonly string[]): boolean {
  for (let i = 0; i < Math.min(2, argv.length - 1); i++) {
    if (basename(argv[i]) === 'agentapi' && argv[i + 1] === 'server') return true;
  }
  return false;
}

/** Ours: started by the user we run as (real and effective). Only such a process is signalled. */
export function isOurs(proc: ProcInfo): boolean {
  const me = process.geteuid?.() ?? -1;
  return proc.uid.real === me && proc.uid.effective === me;
}

export type Identity =
  | { ok: true; proc: ProcInfo }
  | { ok: false; kind: 'self' | 'not-running' | 'not-agentapi' | 'other-user' | 'reused'; reason: string };

/** Decides whether `pid` may be signalled as AgentAPI. */
export async function identifyAgentApi(pid: number, pidFileWrittenAtMs?: number): Promise<Identity> {
  if (pid === process.pid || pid === process.ppid) {
    return { ok: false, kind: 'self', reason: `PID ${pid} is this command or its parent, not AgentAPI` };
  }
  const proc = await readProc(pid);
  if (!isRunning(proc))
    return { ok: false, kind: 'not-running', reason: `no process ${pid} is running (stale PID file)` };
  if (!looksLikeAgentApiServer(proc.argv)) {
    return {
      ok: false,
      kind: 'not-agentapi',
      reason: `PID ${pid} is "${summarize(proc.argv)}", not agentapi server (stale PID file and a reused PID?)`,
    };
  }
  if (!isOurs(proc)) {
    return {
      ok: false,
      kind: 'other-user',
      reason: `PID ${pid} is agentapi server of user id ${proc.uid.real}, not ours (${process.geteuid?.()}): another user's process is never signalled; run this as that user`,
    };
  }
  if (pidFileWrittenAtMs !== undefined && proc.startedAtMs > pidFileWrittenAtMs + START_SLACK_MS) {
    return {
      ok: false,
      kind: 'reused',
      reason: `PID ${pid} started after the PID file was written: the PID was reused`,
    };
  }
  return { ok: true, proc };
}

/** Still the very process we identified earlier (same PID, same start time, still running)? */
export async function isSameProcess(earlier: ProcInfo): Promise<boolean> {
  const now = await readProc(earlier.pid);
  return isRunning(now) && Math.abs(now.startedAtMs - earlier.startedAtMs) < 50;
}

function summarize(argv: readonly string[]): string {
  const text = argv.join(' ');
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
