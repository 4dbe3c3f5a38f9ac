// The command line, for everything but `--version`, help for a pipe and the supervisor (main.ts):
// the mistakes people make most get a plain answer in the one error style every failure uses
// (errors.ts) before anything else (`help <command>`, an unknown command with the closest one
// suggested, an argument where a command takes none); help goes to oclif's help (help.ts), loaded
// only then; a command is parsed by oclif's parser and run (commands/base-command.ts).

import { COMMAND_IDS, isCommandId, loadCommand } from './commands/index.js';
import { EXIT, printError, UserError } from './core/utils/errors.js';

/** Keep loopback calls away from HTTP(S)_PROXY: Bun's fetch would route them through it. */
export function exemptLoopbackFromProxy(env: NodeJS.ProcessEnv = process.env): void {
  const loopback = ['localhost', '127.0.0.1', '::1'];
  for (const name of ['NO_PROXY', 'no_proxy']) {
    const current = (env[name] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    env[name] = [...current, ...loopback.filter((h) => !current.includes(h))].join(',');
  }
}

/** The closest command name, if it is close enough to be what was meant (edit distance ≤ 2). */
export function closestCommand(word: string): string | undefined {
  let best: { id: string; distance: number } | undefined;
  for (const id of COMMAND_IDS) {
    const distance = editDistance(word.toLowerCase(), id);
    if (!best || distance < best.distance) best = { id, distance };
  }
  return best && best.distance <= 2 ? best.id : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/** The command line oclif should see, or a usage error for the mistakes it would answer poorly. */
export function normalizeArgv(argv: readonly string[]): string[] {
  // `help`, `help <command>`: the same as --help.
  if (argv[0] === 'help') return [...argv.slice(1, 2), '--help'];
  const [first, second] = argv;
  if (!first || first.startsWith('-')) return [...argv];
  if (!isCommandId(first)) {
    const closest = closestCommand(first);
    throw new UserError(
      `unknown command "${first}"${closest ? `; did you mean \`${closest}\`?` : ''}`,
      EXIT.usage,
      { usage: '' },
    );
  }
  // transcript takes a file; every other command takes flags only.
  if (second !== undefined && !second.startsWith('-') && first !== 'transcript') {
    if (first === 'start') {
      throw new UserError(
        `the agent command goes after --, e.g. \`agentapi-lifecycle start -- ${argv.slice(1).join(' ')}\``,
        EXIT.usage,
        { usage: first },
      );
    }
    throw new UserError(`\`${first}\` takes no arguments, but got "${second}"`, EXIT.usage, { usage: first });
  }
  return [...argv];
}

/** No command, or --help/-h before any `--`: what oclif's own run() treats as a help request. */
function wantsHelp(args: readonly string[]): boolean {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  return args.length === 0 || args.slice(0, end).some((a) => a === '--help' || a === '-h');
}

export async function main(argv: string[]): Promise<void> {
  exemptLoopbackFromProxy();
  try {
    const args = normalizeArgv(argv);
    if (wantsHelp(args)) {
      const { showHelp } = await import('./help.js');
      await showHelp(args);
      return;
    }
    const [id, ...rest] = args;
    if (!isCommandId(id)) throw new UserError(`command ${id} not found`, EXIT.usage, { usage: '' });
    const Command = await loadCommand(id);
    await new Command(rest, id).execute();
  } catch (error) {
    const exit = (error as { oclif?: { exit?: number } }).oclif?.exit;
    if (error instanceof UserError) {
      printError(error);
      process.exitCode = error.exitCode;
    } else if (exit !== undefined) {
      // oclif's help refusing what it was asked (`help nope`).
      printError(new UserError((error as Error).message, EXIT.usage, { usage: '' }));
      process.exitCode = EXIT.usage;
    } else {
      throw error;
    }
  }
}
