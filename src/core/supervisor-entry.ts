// The detached checkpoint supervisor's own entry point. It stays resident for the whole task, so
// it loads no command-line machinery (oclif): `start` has parsed and checked every option already
// and hands them over on stdin, and this runs the same foreground sequence with them.

import * as z from 'zod/mini';
import { EXIT, printError, UserError } from './errors.js';
import { Logger, redact } from './log.js';
import { runStart, type StartOptions } from './run-start.js';
import { coderEnv } from './settings.js';
import { SUPERVISOR_ARG } from './supervisor-arg.js';

/** What `start` hands over: its options but the ones only the parent uses. */
export const supervisorOptions = z.object({
  agentapiBin: z.string(),
  port: z.number(),
  type: z.optional(z.string()),
  pidFile: z.string(),
  stateFile: z.string(),
  statePersistence: z.boolean(),
  serverArgs: z.array(z.string()),
  agent: z.array(z.string()).check(z.minLength(1)),
  readyTimeoutMs: z.number(),
  checkpointIntervalMs: z.number(),
  taskId: z.optional(z.string()),
  maxMessages: z.number(),
  maxBytes: z.number(),
  passAgentToken: z.boolean(),
  verbose: z.boolean(),
  quiet: z.boolean(),
});
export type SupervisorOptions = z.infer<typeof supervisorOptions>;

/** Far more than any command line; a bound all the same. */
const MAX_INPUT_BYTES = 1 << 20;

export async function runSupervisor(): Promise<void> {
  const token = coderEnv().token;
  try {
    const { verbose, quiet, ...options } = await readOptions();
    const logger = new Logger({ verbose, quiet }).withSecret(token);
    const start: StartOptions = { ...options, detach: false, replace: false, logger };
    const report = await runStart(start);
    process.exitCode = report.exitCode ?? EXIT.ok;
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    printError(error, (text) => redact(text, [token ?? '']));
    process.exitCode = error.exitCode;
  }
}

async function readOptions(): Promise<SupervisorOptions> {
  const refuse = (why: string) =>
    new UserError(
      `${SUPERVISOR_ARG} is start's checkpoint supervisor and reads its options from start (${why}); run 'agentapi-lifecycle start --detach --checkpoint-interval <interval> -- <agent command>'`,
      EXIT.usage,
    );
  // Typed by hand at a terminal: say so now rather than wait for an end of input.
  if (process.stdin.isTTY) throw refuse('stdin is a terminal');
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
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
  const parsed = supervisorOptions.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw refuse(`stdin is not its options (${issue?.path.join('.') || 'the whole'}: ${issue?.message})`);
  }
  return parsed.data;
}
