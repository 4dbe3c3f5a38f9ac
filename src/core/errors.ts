// Expected failures: a one-line message a person can act on, and the exit code to use.
// Anything that is not a UserError is a bug and keeps its stack trace.

export const EXIT = {
  ok: 0,
  /** The operation failed (AgentAPI unreachable, POST refused, unhealthy, ...). */
  failed: 1,
  /** The command line is wrong (oclif's own code for parse errors). */
  usage: 2,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
    /** What the command found before failing, for the --json report. */
    readonly report?: object,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

// ENOENT here is about creating a file (a missing file to read is each caller's own case).
const FS_REASONS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'its directory does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EISDIR: 'it is a directory',
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
