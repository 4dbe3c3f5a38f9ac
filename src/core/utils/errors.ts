// Expected failures: a one-line message a person can act on, and the exit code to use.
// Anything that is not a UserError is a bug and keeps its stack trace.

import { write } from './output.js';
import { escapeControls } from './text.js';

export const EXIT = {
  ok: 0,
  /** The operation failed (AgentAPI unreachable, POST refused, unhealthy, ...). */
  failed: 1,
  /** The command line is wrong (oclif's own code for parse errors). */
  usage: 2,
} as const;

export interface UserErrorOptions {
  /** What the command found before failing, for the --json report. */
  report?: object;
  /** Lines to show under the message, as they are (e.g. the end of a log). */
  details?: readonly string[];
  /** For a usage error: the command whose --help to point at ('' for the root). */
  usage?: string;
}

export class UserError extends Error {
  readonly report?: object;
  readonly details?: readonly string[];
  readonly usage?: string;

  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    options: UserErrorOptions = {},
  ) {
    super(message);
    this.name = 'UserError';
    Object.assign(this, options);
  }
}

/**
 * The one error style of every failure a person sees (usage, flags, runtime): `error: <message>`,
 * any details indented below it, and for a usage error where to read the usage. No timestamp and
 * no stack trace: this is the answer, not a log line.
 */
export function printError(
  error: UserError,
  redact: (text: string) => string = (t) => t,
  /** The command that was run: a usage error points at its --help unless it names another. */
  command = '',
): void {
  const shown = (text: string) => escapeControls(redact(text));
  const lines = [`error: ${shown(describe(error))}`, ...(error.details ?? []).map((d) => `  ${shown(d)}`)];
  if (error.exitCode === EXIT.usage) {
    const usage = error.usage ?? command;
    lines.push(`Run 'agentapi-lifecycle ${usage ? `${usage} ` : ''}--help' for usage.`);
  }
  write('stderr', `${lines.join('\n')}\n`);
}

/** What `call` returns, or undefined when it throws (a file or process gone, one we may not read). */
export function attempt<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}

// ENOENT here is about creating a file (a missing file to read is each caller's own case).
const FS_REASONS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'its directory does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on its file system',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'it is a directory',
  EEXIST: 'a file stands where a folder must be',
};

/** Why a file operation failed, in words, without Node's "CODE: ..., open '<path>'" wrapping. */
export function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  return (code && FS_REASONS[code]) || describe(error);
}

/** The message of anything thrown, on one line. */
export function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
