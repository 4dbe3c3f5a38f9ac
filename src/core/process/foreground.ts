// A child in the foreground, tini's way: its own process group, signals forwarded, waited for, its
// exit code passed on. Small on purpose, and on Bun's own spawn rather than node:child_process:
// the resident checkpoint supervisor is built on it, and node:child_process alone costs it about
// 4 MiB (measured).

import type { Subprocess } from 'bun';

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

export type Child = Subprocess<'inherit', 'inherit', 'inherit'>;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Spawns `file args` in its own process group, or says why it could not. */
export function spawnForeground(file: string, args: string[], env: NodeJS.ProcessEnv): Child | Error {
  try {
    // Its own process group: a terminal's Ctrl-C reaches AgentAPI once, through us. A second
    // signal would make AgentAPI exit without saving.
    return Bun.spawn([file, ...args], { stdio: ['inherit', 'inherit', 'inherit'], detached: true, env });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Forwards signals to the child until it exits (tini: forward, wait). */
export async function supervise(child: Child): Promise<Exit> {
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  await child.exited;
  for (const signal of FORWARDED) process.off(signal, forward);
  const signal = (child.signalCode as NodeJS.Signals | null) ?? null;
  return { code: signal ? null : child.exitCode, signal };
}

/** A shell's convention: the exit code, else 128 + the signal's number. */
export function exitCodeOf(exit: Exit): number {
  if (exit.code !== null) return exit.code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + ((exit.signal && numbers[exit.signal]) || 1);
}
