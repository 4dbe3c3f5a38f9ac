// Our private folder (~/.agentapi by default) holds the PID file, the lock and the state file.
// It is created 0700, and an existing one is used only if it is really private: a directory, not a
// symbolic link, owned by us, open to no one else. Nothing is chmodded: a folder that is not
// private may be someone else's, and is refused with what to do about it.

import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { fsReason } from './errors.js';
import { kindOf } from './local-file.js';

/** Why `dir` is not a private folder of ours, or undefined when it is (created if missing). */
export async function privateDirProblem(dir: string): Promise<string | undefined> {
  // Synchronous, as in local-file.ts: cheaper than a thread-pool round trip for each call (#29).
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${dir} cannot be created: ${dirname(dir)} does not exist`;
    if (code !== 'EEXIST') return `${dir} cannot be created (${fsReason(error)})`;
  }
  let stat: Stats;
  try {
    stat = lstatSync(dir);
  } catch (error) {
    return `${dir} cannot be examined (${fsReason(error)})`;
  }
  if (stat.isSymbolicLink()) return `${dir} is a symbolic link; it must be a folder of your own`;
  if (!stat.isDirectory()) return `${dir} is ${kindOf(stat)}, not a folder`;
  const me = process.geteuid?.();
  if (stat.uid !== me) return `${dir} belongs to user id ${stat.uid}, not to you (${me})`;
  const mode = stat.mode & 0o777;
  if (mode & 0o077) {
    return `${dir} is open to other users (mode ${mode.toString(8).padStart(4, '0')}); if it is yours, \`chmod 700 ${dir}\``;
  }
  return undefined;
}

/**
 * The folders of `path` that must be private: the private folder itself and every folder below it
 * down to `path`'s own. None when `path` lies elsewhere (a --pid-file in /tmp, given on purpose).
 */
export function privateFoldersOf(path: string, privateDir: string): string[] {
  const rel = relative(privateDir, dirname(path));
  if (rel === '..' || rel.startsWith(`..${sep}`)) return [];
  const folders = [privateDir];
  for (const part of rel ? rel.split(sep) : []) folders.push(`${folders.at(-1)}${sep}${part}`);
  return folders;
}

/** Every private folder `paths` need, created and checked in order; the first problem, if any. */
export async function preparePrivateFolders(
  paths: readonly string[],
  privateDir: string,
): Promise<string | undefined> {
  const folders = [...new Set(paths.flatMap((path) => privateFoldersOf(path, privateDir)))];
  for (const folder of folders) {
    const problem = await privateDirProblem(folder);
    if (problem) return problem;
  }
  return undefined;
}
