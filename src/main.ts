#!/usr/bin/env bun
// The entry point. `--version` and help for a script or a log (not a terminal) are answered
// before anything else is loaded, the checkpoint supervisor (which stays resident) runs without
// oclif, and everything else goes through oclif (cli.ts), imported only then.
import { isatty } from 'node:tty';
import { SUPERVISOR_ARG } from './core/supervisor-arg.js';
import { type HelpPages, prerenderedHelp, VERSION_MARK } from './help-text.js';
import { versionLine } from './version.js';

/** Every help page, rendered by oclif when the binary was built (scripts/build.ts). */
declare const PRERENDERED_HELP: HelpPages | undefined;

const argv = process.argv.slice(2);
const helpPage = prerenderedHelp(
  argv,
  typeof PRERENDERED_HELP === 'undefined' ? undefined : PRERENDERED_HELP,
  {
    isTTY: () => isatty(1),
    env: process.env,
  },
);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
  process.stdout.write(`${versionLine()}\n`);
} else if (helpPage !== undefined) {
  process.stdout.write(helpPage.replace(VERSION_MARK, versionLine()));
} else if (argv.length === 1 && argv[0] === SUPERVISOR_ARG) {
  const { runSupervisor } = await import('./core/supervisor-entry.js');
  await runSupervisor();
} else {
  const { main } = await import('./cli.js');
  await main(argv);
}
