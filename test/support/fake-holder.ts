// A process that /proc shows as `agentapi-lifecycle <command>` (a shutdown, a checkpoint) of ours:
// node under a link named agentapi-lifecycle, running a script named after the command. What a
// lock's holder check (lock.ts: lockHolder) takes for a live holder, without the binary.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Starts it in `dir` and waits until /proc shows it as `command`. */
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
  writeFileSync(join(dir, command), 'setInterval(() => {}, 1000);\n');
  const child = spawn(bin, [command], { cwd: dir, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    if (argv[1] === command) return child;
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGKILL');
  throw new Error(`the fake ${command} never ran`);
}
