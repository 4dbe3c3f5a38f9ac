// Processes that /proc shows as one of ours without being it, for what reads /proc: node under a
// link of the right name, running a script named after the command, so its command line is
// `<dir>/<name> <command> <args…>`.
// - startFakeHolder: `agentapi-lifecycle <command>` (a shutdown, a checkpoint): what a lock's
//   holder check (lock.ts: lockHolder) takes for a live holder, without the binary.
// - startFakeAgentApi: `agentapi server <args…>` that binds nothing: what the port scan and the
//   flag readers (agentapi-process.ts) look at, as many on one port as a test wants.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FakeOptions {
  /** Its environment (a fake AgentAPI's is otherwise empty; a holder's is ours). */
  env?: Record<string, string>;
  /** Run it as this user and group (root only). */
  uid?: number;
  /** Take SIGTERM and live, as a process too busy to stop would: only SIGKILL ends it. */
  ignoreSigterm?: boolean;
}

/** Starts `agentapi-lifecycle <command>` in `dir` and waits until /proc shows it. */
export async function startFakeHolder(
  dir: string,
  command = 'shutdown',
  options: FakeOptions = {},
): Promise<ChildProcess> {
  const bin = join(dir, 'agentapi-lifecycle');
  if (!existsSync(bin)) {
    try {
      linkSync(process.execPath, bin);
    } catch {
      copyFileSync(process.execPath, bin);
      chmodSync(bin, 0o755);
    }
  }
  return startScript(dir, bin, command, [], options);
}

/**
 * Starts `agentapi server <args…>` in `dir` and waits until /proc shows it. `agentapi` is a
 * symbolic link to node, so the executable /proc names is node's (not named agentapi).
 */
export async function startFakeAgentApi(
  dir: string,
  args: readonly string[],
  options: FakeOptions = {},
): Promise<ChildProcess> {
  const bin = join(dir, 'agentapi');
  if (!existsSync(bin)) symlinkSync(process.execPath, bin);
  return startScript(dir, bin, 'server', args, { env: {}, ...options });
}

async function startScript(
  dir: string,
  bin: string,
  command: string,
  args: readonly string[],
  options: FakeOptions = {},
): Promise<ChildProcess> {
  // SIGUSR1 would open node's inspector: a fake AgentAPI takes it, as the real one does, and lives.
  // "ready" on stdout once its handlers are in place: a signal sent before would find none.
  const script = [
    "process.on('SIGUSR1', () => {});",
    options.ignoreSigterm ? "process.on('SIGTERM', () => {});" : '',
    "process.stdout.write('ready\\n');",
    'setInterval(() => {}, 1000);',
  ].join('\n');
  writeFileSync(join(dir, command), script, { mode: 0o644 });
  const child = spawn(bin, [command, ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: options.env,
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  child.stdout?.destroy();
  if (ready) return child;
  child.kill('SIGKILL');
  throw new Error(`the fake ${command} never ran`);
}
