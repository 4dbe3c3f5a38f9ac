// How the binary's internal commands (internal-commands.ts) talk: their options come as JSON on
// stdin, bounded and checked against a schema, and their log lines go straight to stderr. Neither
// goes through Node's process.stdin or process.stderr streams, which cost the resident supervisor
// a few MiB (measured); someone who runs one by hand is told what it is at once.

import { writeSync } from 'node:fs';
import type * as z from 'zod/mini';
import { EXIT, printError, UserError } from '../utils/errors.js';
import { Logger, redact } from '../utils/log.js';
import { isTerminal } from './terminal.js';

/** Far more than any command line; a bound all the same. */
const MAX_INPUT_BYTES = 1 << 20;

/**
 * The options on stdin, checked by `schema`; else a usage error that says `arg` is `what` and
 * how to start it properly.
 */
export async function readStdinOptions<T>(arg: string, what: string, schema: z.ZodMiniType<T>): Promise<T> {
  const refuse = (why: string) =>
    new UserError(
      `${arg} is ${what} and reads its options from start (${why}); run 'agentapi-lifecycle start --detach --checkpoint-interval <interval> -- <agent command>'`,
      EXIT.usage,
    );
  // Typed by hand at a terminal: say so now rather than wait for an end of input.
  if (isTerminal(0) ?? process.stdin.isTTY) throw refuse('stdin is a terminal');
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of Bun.stdin.stream()) {
    bytes += chunk.length;
    if (bytes > MAX_INPUT_BYTES) throw refuse('more than 1 MiB on stdin');
    chunks.push(chunk);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw refuse('stdin is not JSON');
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw refuse(`stdin is not its options (${issue?.path.join('.') || 'the whole'}: ${issue?.message})`);
  }
  return parsed.data;
}

/** A logger writing each line with one write(2) to stderr (a log file): nothing buffered, lost at a kill. */
export function stderrLogger(
  level: { verbose: boolean; quiet: boolean },
  secret: string | undefined,
): Logger {
  return new Logger({
    ...level,
    write: (line) => {
      try {
        writeSync(2, line);
      } catch {}
    },
  }).withSecret(secret);
}

/** An expected failure in the one error style, the token hidden, as the exit code; a bug is thrown. */
export function reportFailure(error: unknown, token: string | undefined): void {
  if (!(error instanceof UserError)) throw error;
  printError(error, (text) => redact(text, [token ?? '']));
  process.exitCode = error.exitCode;
}
