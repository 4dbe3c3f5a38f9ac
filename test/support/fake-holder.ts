// Processes that /proc shows as one of ours without being it, for what reads /proc: node under a
// link of the right name, running a script named after the command, so its command line is
// `<dir>/<name> <command> <args…>`.
// - startFakeHolder: `agentapi-lifecycle <command>` (a shutdown, a checkpoint): what a lock's
//   holder check (lock.ts: lockHolder) takes for a live holder, without the binary.
// - startFakeAgentApi: `agentapi server <args…>` that binds nothing: what the port scan and the
//   flag readers (agentapi-process.ts) look at, as many on one port as a test wants.

import { type ChildProcess, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface FakeOptions {
  /** Its environment (a fake AgentAPI's is otherwise empty; a holder's is ours). */
  env?: Record<string, string>;
  /** Run it as this user and group (root only). */
  uid?: number;
}

/** Starts `agentapi-lifecycle <command>` in `dir` and waits until /proc shows it. */
export async function startFakeHolder(dir: string, command = 'shutdown'): Promise<ChildProcess> {
  const bin = join(dir, 'agentapi-lifecycle');
  if (!existsSync(bin)) {
    try {
      linkSync(process.execPath, bin);
    } catch {
      copyFileSync(process.execPath, bin);
      chmodSync(bin, 0o755);
    }
  }
  return startScript(dir, bin, command, []);
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
  const script = "process.on('SIGUSR1', () => {});\nsetInterval(() => {}, 1000);\n";
  writeFileSync(join(dir, command), script, { mode: 0o644 });
  const child = spawn(bin, [command, ...args], {
    cwd: dir,
    stdio: 'ignore',
    env: options.env,
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  for (let i = 0; i < 200; i++) {
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    if (argv[1] === command) return child;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  throw new Error(`the fake ${command} never ran`);
}
