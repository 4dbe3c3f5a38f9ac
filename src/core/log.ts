// Human-readable lines on stderr with timestamps; stdout is kept for data and --json reports.

export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface LoggerOptions {
  /** Show debug lines. */
  verbose?: boolean;
  /** Show warnings and errors only. */
  quiet?: boolean;
  /** Values that must never be printed (the agent token); replaced by "***". */
  secrets?: readonly string[];
  write?: (line: string) => void;
}

export class Logger {
  private readonly secrets: string[];
  private readonly write: (line: string) => void;

  constructor(private readonly options: LoggerOptions = {}) {
    this.secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
    this.write = options.write ?? ((line) => process.stderr.write(line));
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

  /** A copy that also hides `secret`. */
  withSecret(secret: string | undefined): Logger {
    if (!secret) return this;
    return new Logger({ ...this.options, secrets: [...this.secrets, secret] });
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }

  private log(level: Level, message: string): void {
    this.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${this.redact(message)}\n`);
  }
}
