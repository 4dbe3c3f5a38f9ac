// A task whose template moved to this module from the registry's AgentAPI-based one (claude-code
// 4.x keeps AgentAPI's state in $HOME/.claude-module/agentapi-state.json) resumes with its
// conversation: when our state file is absent and theirs is there, ours starts as a copy of theirs.
// Theirs is never moved or changed, so going back to the old template still works.
//
// Only a state file is copied: a regular file of the user's own (no link, nothing under /proc,
// /sys or /dev: /proc/self/environ would carry the agent token), at most MAX_ADOPT_BYTES, that
// reads as AgentAPI's state (format version 1), written 0600 under an unpredictable name and put in
// place whole. A candidate that cannot be adopted is an error naming it, never a silent first
// start: the moved task's conversation would be lost without a word.

import { lstatSync } from 'node:fs';
import { lastElements, NotJsonError } from '../agentapi/last-elements.js';
import { attempt, describe } from '../utils/errors.js';
import { copyOwnFile } from '../utils/local-file.js';

/**
 * The largest state file adopted. A state file is a conversation: a long task's reaches tens of
 * MB (SPEC §2 says hundreds of MB for /messages of the longest); beyond this, a copy would hold up
 * the start of a workspace for seconds, and it is more likely not a state file at all.
 */
export const MAX_ADOPT_BYTES = 512 * 1024 * 1024;

export type Adoption = { adopted: string } | { failed: string };

/**
 * Starts `stateFile` as a copy of `from` when `stateFile` is absent and `from` is AgentAPI's state
 * of the user's own; undefined when there is nothing to adopt (ours exists, or theirs does not).
 */
export async function adoptState(
  stateFile: string,
  from: string,
  maxBytes = MAX_ADOPT_BYTES,
): Promise<Adoption | undefined> {
  // Ours is there (a file, or anything else: start and AgentAPI say what is wrong with it).
  if (attempt(() => lstatSync(stateFile)) !== undefined) return undefined;
  try {
    const copied = await copyOwnFile(from, stateFile, { maxBytes, check: checkState });
    return copied === 'missing' ? undefined : { adopted: from };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    return { failed: `cannot adopt ${from} as the state file: ${describe(error)}` };
  }
}

/** Throws why `chunks` are not AgentAPI's state (format 1, a messages array), streamed. */
async function checkState(chunks: AsyncIterable<Buffer>): Promise<void> {
  let version: string | undefined;
  try {
    const found = await lastElements(chunks, { keep: 0, fields: [], topFields: ['version'] });
    version = found.top.get('version');
  } catch (error) {
    if (error instanceof NotJsonError) throw new Error(`it is not AgentAPI's state (${error.message})`);
    throw error;
  }
  if (version !== '1')
    throw new Error(`it is not AgentAPI's state (format version ${version ?? 'missing'}, not 1)`);
}
