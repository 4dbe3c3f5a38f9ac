// What every command shares: its definition in oclif's terms (summary, description, examples, oclif
// flags), --verbose/--quiet, a logger on stderr, --json, and one way of reporting expected
// failures (one line, an exit code, no stack trace).
//
// A command is not an oclif Command. Running one through oclif means loading oclif's whole
// configuration first (plugins, manifest, theme, shell: about 7 ms of every run, measured in the
// compiled binary), when all a run needs of oclif is its flag parser. So a command is parsed by
// oclif's parser and run here, and oclif's help gets the same classes, wrapped (cli.ts).

import * as Flags from '@oclif/core/flags';
import type { ArgInput, FlagInput, InferredFlags } from '@oclif/core/interfaces';
import { parse } from '@oclif/core/parser';
import { describe, EXIT, printError, UserError } from '../core/utils/errors.js';
import { Logger, redact } from '../core/utils/log.js';
import { write } from '../core/utils/output.js';
import { coderEnv } from '../core/utils/settings.js';

export const BASE_FLAGS = {
  verbose: Flags.boolean({ char: 'v', description: 'Log debug details on stderr', helpGroup: 'GLOBAL' }),
  quiet: Flags.boolean({ char: 'q', description: 'Log only warnings and errors', helpGroup: 'GLOBAL' }),
};

/** The flag oclif adds to a command with enableJsonFlag, in oclif's words. */
const JSON_FLAG = Flags.boolean({ description: 'Format output as json.', helpGroup: 'GLOBAL' });

/** A command's definition: the statics oclif's help reads, and how to run it. */
export interface CommandClass {
  new (argv: string[], id: string): { execute(): Promise<void> };
  summary: string;
  description: string;
  examples: { description: string; command: string }[];
  flags: FlagInput;
  strict: boolean;
  args: ArgInput;
}

export type BaseFlags<T extends { flags: FlagInput }> = InferredFlags<
  typeof BASE_FLAGS & T['flags'] & { json: typeof JSON_FLAG }
>;

export abstract class BaseCommand<T extends { flags: FlagInput }> {
  static summary = '';
  static description = '';
  static examples: { description: string; command: string }[] = [];
  static flags: FlagInput = {};
  /** Arguments beyond the flags are refused, unless a command takes them (start, after --). */
  static strict = true;
  static args: ArgInput = {};

  protected flags!: BaseFlags<T>;
  /** The arguments a command takes (static args), parsed. */
  protected args: Record<string, unknown> = {};
  protected logger!: Logger;

  constructor(
    /** The command line after the command's name. */
    protected readonly argv: string[],
    readonly id: string,
  ) {}

  protected abstract run(): Promise<unknown>;

  /** Parses, runs and reports: the report with --json on stdout, the outcome in process.exitCode. */
  async execute(): Promise<void> {
    try {
      await this.init();
      const result = await this.run();
      if (result && this.jsonEnabled()) this.logJson(result);
    } catch (error) {
      this.catch(error);
    }
  }

  private get ctor(): CommandClass {
    return this.constructor as CommandClass;
  }

  /** Parses the command line into flags and sets up the logger. */
  protected async init(): Promise<void> {
    try {
      const parsed = await parse(this.argv, {
        flags: { json: JSON_FLAG, ...BASE_FLAGS, ...this.ctor.flags },
        args: this.ctor.args,
        strict: this.ctor.strict,
        context: undefined,
      });
      this.flags = parsed.flags as BaseFlags<T>;
      this.args = parsed.args;
    } catch (error) {
      // Every command-line mistake is a usage error (exit 2), including a flag's own parser
      // refusing a value, which oclif would report with exit 1.
      throw new UserError(this.explainParseError(error), EXIT.usage, { usage: this.id });
    }
    // The token is never printed, even if it turns up inside an error message.
    this.logger = new Logger({ verbose: this.flags.verbose, quiet: this.flags.quiet }).withSecret(
      coderEnv().token,
    );
  }

  /** --json given before any `--` (after it, it belongs to the agent's command line). */
  protected jsonEnabled(): boolean {
    const end = this.argv.indexOf('--');
    const json = this.argv.indexOf('--json');
    return json !== -1 && (end === -1 || json < end);
  }

  /** The --json report, with the token hidden like everywhere else (an error body may echo it). */
  protected logJson(json: unknown): void {
    const text = JSON.stringify(json, null, 2);
    write('stdout', `${redact(text, [coderEnv().token ?? ''])}\n`);
  }

  private catch(error: unknown): void {
    if (!(error instanceof UserError)) {
      // A bug, not an expected failure: with --json still one JSON document, else the stack trace.
      if (!this.jsonEnabled()) throw error;
      process.exitCode = EXIT.failed;
      this.logJson({ ok: false, error: describe(error) });
      return;
    }
    const hide = (text: string) => redact(text, [coderEnv().token ?? '']);
    if (this.jsonEnabled()) {
      this.logJson({ ...error.report, ok: false, error: describe(error), details: error.details });
    }
    printError(error, hide, this.id);
    process.exitCode = error.exitCode ?? EXIT.failed;
  }

  /**
   * oclif's words for a command-line mistake, in ours: one sentence, and when a value came from an
   * environment variable (AGENTAPI_PORT=abc), the variable named rather than a flag never typed.
   */
  private explainParseError(error: unknown): string {
    const text = describe(error)
      .replace(/ See more help with --help$/, '')
      .replace(/^Parsing --([\w-]+) /, '--$1: ');
    const flags = { ...BASE_FLAGS, ...this.ctor.flags } as Record<string, { env?: string; char?: string }>;
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
