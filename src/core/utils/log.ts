// Human-readable lines on stderr with timestamps; stdout is kept for data and --json reports.

import { write } from './output.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface LoggerOptions {
  /** Show debug lines. */
  verbose?: boolean;
  /** Show warnings and errors only. */
  quiet?: boolean;
  /** Values that must never be printed (the agent token); replaced by "***". */
  secrets?: readonly string[];
  write?: (line: string) => void;
  /** Keep info and warn messages here instead of writing them (see holding()). */
  hold?: string[];
}

export class Logger {
  private readonly secrets: readonly string[];
  private readonly write: (line: string) => void;

  constructor(private readonly options: LoggerOptions = {}) {
    this.secrets = options.secrets ?? [];
    this.write = options.write ?? ((line) => write('stderr', line));
  }

  debug(message: string): void {
    if (this.options.verbose) this.log('debug', message);
  }

  info(message: string): void {
    if (!this.options.quiet) this.log('info', message);
  }

  warn(message: string): void {
    this.log('warn', message);
  }

  error(message: string): void {
    this.log('error', message);
  }

  /** How much it shows, for a process that logs on our behalf (the checkpoint supervisor). */
  get level(): { verbose: boolean; quiet: boolean } {
    return { verbose: this.options.verbose === true, quiet: this.options.quiet === true };
  }

  /**
   * A copy that keeps its info and warn messages in `held` instead of writing them (debug lines
   * are still written): for a command that says all it has to say in one line at its end.
   */
  holding(held: string[]): Logger {
    return new Logger({ ...this.options, secrets: this.secrets, hold: held });
  }

  /** A copy that also hides `secret`. */
  withSecret(secret: string | undefined): Logger {
    if (!secret) return this;
    return new Logger({ ...this.options, secrets: [...this.secrets, secret] });
  }

  redact(text: string): string {
    return redact(text, this.secrets);
  }

  private log(level: Level, message: string): void {
    if (this.options.hold && (level === 'info' || level === 'warn')) {
      this.options.hold.push(message);
      return;
    }
    // Logging never changes the outcome: a closed or full stderr is ignored.
    try {
      this.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${this.redact(message)}\n`);
    } catch {}
  }
}

/** Shortest part of a secret worth hiding when a text ends with its beginning. */
const MIN_PARTIAL = 4;

/**
 * `text` with every secret replaced by "***", including a secret cut short at the end of the
 * text (a body read only up to a limit). Redact before shortening anything, never after.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_PARTIAL) continue;
    out = out.split(secret).join('***');
    // Stryker disable next-line ArithmeticOperator: starting longer only tries the whole secret again, already replaced
    for (let n = secret.length - 1; n >= MIN_PARTIAL; n--) {
      if (out.endsWith(secret.slice(0, n))) {
        out = `${out.slice(0, out.length - n)}***`;
        break;
      }
    }
  }
  return out;
}
