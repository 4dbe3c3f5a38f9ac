// Help rendered at build time. oclif renders help in ~25 ms (loading it is most of that); the
// text only depends on the terminal, so for the case with no terminal (a script, a CI log, a pipe:
// 80 columns, no colour) scripts/build.ts renders every help page once with oclif itself and
// compiles the pages into the binary. Whenever the output could differ (a terminal, an oclif or
// colour setting in the environment, any other argument) oclif renders it as before.
// test/integration/cli.test.ts checks that both ways print the same bytes.

import { isTerminal } from './core/process/terminal.js';

/** Help pages by command id ('' for the root), as oclif printed them at build time. */
export type HelpPages = Readonly<Record<string, string>>;

/** Stands for the version line in the root page: the builder's platform is not the target's. */
export const VERSION_MARK = '\u0000version\u0000';

/** Environment variables that change how oclif renders help (width, colour, debug output). */
export const RENDERING_ENV = /^(OCLIF_|FORCE_COLOR$|DEBUG$)/;

/**
 * The page this command line asks for, if it is one of the plain spellings of a help request
 * (`help`, `-h`, `--help`, none, `help <command>`, `<command> -h|--help`) and was rendered at build
 * time for this kind of output; otherwise undefined and oclif answers.
 */
export function prerenderedHelp(
  argv: readonly string[],
  pages: HelpPages | undefined,
  output: { isTTY: () => boolean; env: NodeJS.ProcessEnv },
): string | undefined {
  const id = helpRequest(argv);
  if (!pages || id === undefined || !Object.hasOwn(pages, id)) return undefined;
  if (Object.keys(output.env).some((name) => RENDERING_ENV.test(name)) || output.isTTY()) return undefined;
  return pages[id];
}

function helpRequest(argv: readonly string[]): string | undefined {
  const isHelpFlag = (arg: string | undefined) => arg === '--help' || arg === '-h';
  if (argv.length === 0) return '';
  if (argv.length === 1) return argv[0] === 'help' || isHelpFlag(argv[0]) ? '' : undefined;
  if (argv.length === 2 && argv[0] === 'help') return argv[1].startsWith('-') ? undefined : argv[1];
  if (argv.length === 2 && isHelpFlag(argv[1]) && !argv[0].startsWith('-')) return argv[0];
  return undefined;
}

/** Whether stdout is a terminal; when that cannot be told cheaply, "yes", so that oclif renders. */
export function stdoutIsTerminal(): boolean {
  return isTerminal(1) ?? true;
}
