// What every command shares: --verbose/--quiet, a logger on stderr, --json, and one way of
// reporting expected failures (one line, an exit code, no stack trace).

import { Command } from '@oclif/core/command';
import * as Flags from '@oclif/core/flags';
import type { InferredFlags } from '@oclif/core/interfaces';
import { describe, EXIT, printError, UserError } from './errors.js';
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
      throw new UserError(this.explainParseError(error), EXIT.usage, { usage: this.id ?? '' });
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
    const hide = (text: string) => redact(text, [coderEnv().token ?? '']);
    if (this.jsonEnabled()) {
      this.logJson({ ...error.report, ok: false, error: describe(error), details: error.details });
    }
    printError(error, hide);
    return this.exit(error.exitCode ?? EXIT.failed);
  }

  /**
   * oclif's words for a command-line mistake, in ours: one sentence, and when a value came from an
   * environment variable (AGENTAPI_PORT=abc), the variable named rather than a flag never typed.
   */
  private explainParseError(error: unknown): string {
    const text = describe(error)
      .replace(/ See more help with --help$/, '')
      .replace(/^Parsing --([\w-]+) /, '--$1: ');
    const flags = { ...(this.ctor as typeof BaseCommand).baseFlags, ...this.ctor.flags } as Record<
      string,
      { env?: string; char?: string }
    >;
    for (const [name, flag] of Object.entries(flags)) {
      if (!flag.env || process.env[flag.env] === undefined || !text.includes(`--${name}`)) continue;
      const typed = this.argv.some(
        (a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `-${flag.char}`,
      );
      if (!typed) {
        const detail = text.replace(new RegExp(`^--${name}: `), '');
        return `${flag.env}=${JSON.stringify(process.env[flag.env])} (read for --${name}): ${detail}`;
      }
    }
    return text;
  }
}
