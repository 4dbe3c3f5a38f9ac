// What every command shares: --verbose/--quiet, a logger on stderr, --json, and one way of
// reporting expected failures (one line, an exit code, no stack trace).

import { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import type { InferredFlags } from '@oclif/core/interfaces';
import { describe, EXIT, UserError } from './errors.js';
import { Logger, redact } from './log.js';
import { coderEnv } from './settings.js';

export type BaseFlags<T extends typeof Command> = InferredFlags<
  (typeof BaseCommand)['baseFlags'] & T['flags']
>;

export abstract class BaseCommand<T extends typeof Command> extends Command {
  static enableJsonFlag = true;

  static baseFlags = {
    verbose: Flags.boolean({ char: 'v', description: 'Log debug details on stderr', helpGroup: 'GLOBAL' }),
    quiet: Flags.boolean({ char: 'q', description: 'Log only warnings and errors', helpGroup: 'GLOBAL' }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: Record<string, unknown>;
  protected logger!: Logger;

  async init(): Promise<void> {
    await super.init();
    let parsed: Awaited<ReturnType<typeof this.parse>>;
    try {
      parsed = await this.parse({
        flags: this.ctor.flags,
        baseFlags: (this.ctor as typeof BaseCommand).baseFlags,
        enableJsonFlag: this.ctor.enableJsonFlag,
        args: this.ctor.args,
        strict: this.ctor.strict,
      });
    } catch (error) {
      // Every command-line mistake is a usage error (exit 2), including a flag's own parser
      // refusing a value, which oclif would report with exit 1.
      throw new UserError(describe(error).replace(/ See more help with --help$/, ''), EXIT.usage);
    }
    this.flags = parsed.flags as BaseFlags<T>;
    this.args = parsed.args;
    // The token is never printed, even if it turns up inside an error message.
    this.logger = new Logger({ verbose: this.flags.verbose, quiet: this.flags.quiet }).withSecret(
      coderEnv().token,
    );
  }

  /** The --json report, with the token hidden like everywhere else (an error body may echo it). */
  protected logJson(json: unknown): void {
    const text = JSON.stringify(json, null, 2);
    try {
      process.stdout.write(`${redact(text, [coderEnv().token ?? ''])}\n`);
    } catch {}
  }

  protected async catch(error: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (!(error instanceof UserError)) return super.catch(error);
    const message = this.logger ? this.logger.redact(describe(error)) : describe(error);
    if (this.jsonEnabled()) this.logJson({ ...error.report, ok: false, error: message });
    if (this.logger) this.logger.error(message);
    else process.stderr.write(`error: ${message}\nSee more help with --help\n`);
    return this.exit(error.exitCode ?? EXIT.failed);
  }
}
