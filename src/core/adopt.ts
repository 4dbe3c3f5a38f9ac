// A task whose template moved to this module from the registry's AgentAPI-based one (claude-code
// 4.x keeps AgentAPI's state in $HOME/.claude-module/agentapi-state.json) resumes with its
// conversation: when our state file is absent and theirs is there, ours starts as a copy of theirs.
// Theirs is never moved or changed, so going back to the old template still works.

import { constants } from 'node:fs';
import { copyFile, lstat, rename, unlink } from 'node:fs/promises';
import { fsReason } from './utils/errors.js';
import { kindOf } from './utils/local-file.js';

export type Adoption = { adopted: string } | { refused: string };

/**
 * Starts `stateFile` as a copy of `from` when `stateFile` is absent and `from` is a regular file
 * of ours; undefined when there is nothing to adopt (ours exists, or theirs does not).
 */
export async function adoptState(stateFile: string, from: string): Promise<Adoption | undefined> {
  if ((await lstat(stateFile).catch(() => undefined)) !== undefined) return undefined;
  const theirs = await lstat(from).catch(() => undefined);
  if (!theirs) return undefined;
  if (!theirs.isFile()) return { refused: `${from} is ${kindOf(theirs)}, not a state file; not adopted` };
  if (theirs.uid !== process.geteuid?.()) {
    return { refused: `${from} belongs to user id ${theirs.uid}, not to you; not adopted` };
  }
  const temporary = `${stateFile}.${process.pid}.tmp`;
  try {
    await unlink(temporary).catch(() => undefined);
    // COPYFILE_EXCL: nothing planted at the temporary name is written through.
    await copyFile(from, temporary, constants.COPYFILE_EXCL);
    await rename(temporary, stateFile);
    return { adopted: from };
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    return { refused: `cannot copy ${from} to ${stateFile} (${fsReason(error)}); not adopted` };
  }
}
