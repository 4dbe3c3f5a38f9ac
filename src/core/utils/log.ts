// Human-readable lines on stderr with timestamps; stdout is kept for data and --json reports.

import { write } from './output.js';
import { escapeControls } from './text.js';

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
      // One line each: what a record, a server or an agent wrote is shown, never obeyed.
      this.write(
        `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${escapeControls(this.redact(message))}\n`,
      );
    } catch {}
  }
}

/** Shortest part of a secret worth hiding when a text ends with its beginning or starts with its end. */
const MIN_PARTIAL = 4;
/** Shortest piece of a secret hidden wherever it stands: a text cut at both ends, or in a slice. */
export const MIN_FRAGMENT = 8;

/**
 * `text` with every secret replaced by "***": the whole secret, any piece of it of MIN_FRAGMENT
 * characters or more wherever it stands, and a piece of MIN_PARTIAL or more cut off at either end
 * of the text (a body read only up to a limit; the last bytes of an output). Redact before
 * shortening, keeping or writing anything, never after.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_PARTIAL) continue;
    out = out.split(secret).join('***');
    out = hideFragments(out, secret);
    // Stryker disable next-line ArithmeticOperator: starting longer only tries the whole secret again, already replaced
    for (let n = secret.length - 1; n >= MIN_PARTIAL; n--) {
      if (out.endsWith(secret.slice(0, n))) {
        out = `${out.slice(0, out.length - n)}***`;
        break;
      }
    }
    // Stryker disable next-line ArithmeticOperator: starting longer only tries the whole secret again, already replaced
    for (let n = secret.length - 1; n >= MIN_PARTIAL; n--) {
      if (out.startsWith(secret.slice(-n))) {
        out = `***${out.slice(n)}`;
        break;
      }
    }
  }
  return out;
}

/** `text` with every run made of pieces of `secret` (each MIN_FRAGMENT long or more) as "***". */
function hideFragments(text: string, secret: string): string {
  // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: a shortcut only: the loops below find no piece in such a text either
  if (secret.length < MIN_FRAGMENT || text.length < MIN_FRAGMENT) return text;
  // Where some MIN_FRAGMENT characters of the secret stand; overlapping ones make one run.
  const covered = new Uint8Array(text.length);
  // Stryker disable next-line BooleanLiteral: only spares rebuilding a text with nothing to hide
  let any = false;
  for (let at = 0; at + MIN_FRAGMENT <= secret.length; at++) {
    const piece = secret.slice(at, at + MIN_FRAGMENT);
    for (let i = text.indexOf(piece); i !== -1; i = text.indexOf(piece, i + 1)) {
      covered.fill(1, i, i + MIN_FRAGMENT);
      any = true;
    }
  }
  // Stryker disable next-line ConditionalExpression: only spares rebuilding a text with nothing to hide
  if (!any) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += '***';
  }
  return out;
}
