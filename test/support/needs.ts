// What a test needs that a machine may lack, said in the test's name. A tool the tests use
// (shellcheck, GNU time, xz, qemu-user): the test runs where it is; under CI=true (CI installs
// them, as it builds the peers) a missing one fails by name; elsewhere the test is skipped by name.
// Root, for what only root can set up (another user's files and processes, a mounted tmpfs): the
// test is named "(as root)" and skipped by name elsewhere; the GitHub workflow, whose runner is not
// root, runs exactly those again under sudo. And the few cases root cannot make (a file root could
// still read): named "(not as root)", run by every non-root run.

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, it, type TestFunction } from 'vitest';
import { type PeerLookup, peersRequired } from './peers.js';

export interface Need {
  ok: boolean;
  /** What is missing, for the test's name. */
  missing: string;
  /** Under CI=true: fail by name (a tool CI installs), or skip by name (root, run under sudo). */
  inCi: 'fail' | 'skip';
}

export const isRoot = process.getuid?.() === 0;

/** A tool on the PATH, or at a path, that answers `args` with exit 0. */
export function tool(
  command: string,
  args: string[] = ['--version'],
  why = `${command} is not installed`,
): Need {
  const ok =
    command.startsWith('/') && args.length === 0
      ? existsSync(command)
      : spawnSync(command, args).status === 0;
  return { ok, missing: why, inCi: 'fail' };
}

/** A real peer (npm run peers builds them; CI=true requires them). */
export function peerNeed(lookup: PeerLookup): Need {
  return { ok: lookup.installed, missing: lookup.installed ? '' : lookup.missing, inCi: 'fail' };
}

export const AS_ROOT: Need = { ok: isRoot, missing: 'not root', inCi: 'skip' };
export const NOT_AS_ROOT: Need = { ok: !isRoot, missing: 'root', inCi: 'skip' };

function all(needs: Need | readonly Need[]): Need | undefined {
  return ([] as Need[]).concat(needs).find((n) => !n.ok);
}

/** The title a test of root's gets: the GitHub workflow's sudo step selects these by it. */
function titled(title: string, needs: Need | readonly Need[]): string {
  const list = ([] as Need[]).concat(needs);
  if (list.includes(AS_ROOT)) return `${title} (as root)`;
  if (list.includes(NOT_AS_ROOT)) return `${title} (not as root)`;
  return title;
}

/** `it` for a test that needs `needs`. */
export function itNeeds(
  needs: Need | readonly Need[],
  title: string,
  fn: TestFunction,
  timeout?: number,
): void {
  const name = titled(title, needs);
  const lacking = all(needs);
  if (!lacking) it(name, fn, timeout);
  else if (peersRequired && lacking.inCi === 'fail')
    it(`${name}: ${lacking.missing}`, () => {
      throw new Error(`${lacking.missing}; CI=true runs every test, and .ci/run installs what they need`);
    });
  else it.skip(`${name} (skipped: ${lacking.missing})`, fn);
}

/** `describe` for tests that all need `needs`. */
export function describeNeeds(needs: Need | readonly Need[], title: string, body: () => void): void {
  const name = titled(title, needs);
  const lacking = all(needs);
  if (!lacking) describe(name, body);
  else if (peersRequired && lacking.inCi === 'fail')
    it(`${name}: ${lacking.missing}`, () => {
      throw new Error(`${lacking.missing}; CI=true runs every test, and .ci/run installs what they need`);
    });
  else describe.skip(`${name} (skipped: ${lacking.missing})`, body);
}

let binForOthers: string | undefined;
/**
 * The binary where another user (nobody) can run it: a copy in a folder of the system's temporary
 * folder open to all, since a checkout under a private home (/root, /home/runner) is not.
 */
export function binOthersCanRun(bin: string): string {
  if (binForOthers) return binForOthers;
  const dir = mkdtempSync(join(tmpdir(), 'agentapi-lifecycle-bin-'));
  chmodSync(dir, 0o755);
  binForOthers = join(dir, basename(bin));
  copyFileSync(bin, binForOthers);
  chmodSync(binForOthers, 0o755);
  return binForOthers;
}
