#!/usr/bin/env bun
// The entry point. `--version` and help for a script or a log (not a terminal) are answered
// before anything else is loaded, the checkpoint supervisor (which stays resident, supervisor.ts)
// runs without the command line's machinery, and everything else goes through cli.ts, imported
// only then.
import { SMOKE_AGENT_ARG, SUPERVISOR_ARG } from './core/process/internal-commands.js';
import { type HelpPages, prerenderedHelp, stdoutIsTerminal, VERSION_MARK } from './help-text.js';
import { versionJson, versionLine } from './version.js';

/** Every help page, rendered by oclif when the binary was built (scripts/build.ts). */
declare const PRERENDERED_HELP: HelpPages | undefined;

const argv = process.argv.slice(2);
const helpPage = prerenderedHelp(
  argv,
  typeof PRERENDERED_HELP === 'undefined' ? undefined : PRERENDERED_HELP,
  {
    isTTY: stdoutIsTerminal,
    env: process.env,
  },
);
// console.log rather than process.stdout: Node's stdout stream costs ~10 ms to set up in a compiled
// Bun program (measured), three times all the rest of these two answers.
const isVersion = (a: string) => a === '--version' || a === 'version';
// `--version`, or `--version --json` for a script.
if (argv.some(isVersion) && argv.every((a) => isVersion(a) || a === '--json')) {
  console.log(argv.includes('--json') ? versionJson() : versionLine());
} else if (helpPage !== undefined) {
  console.log(helpPage.replace(VERSION_MARK, versionLine()).replace(/\n$/, ''));
} else if (argv.length === 1 && argv[0] === SUPERVISOR_ARG) {
  const { runSupervisor } = await import('./supervisor.js');
  await runSupervisor();
} else if (argv.length === 1 && argv[0] === SMOKE_AGENT_ARG) {
  const { runSmokeAgent } = await import('./smoke-agent.js');
  await runSmokeAgent();
} else {
  const { main } = await import('./cli.js');
  await main(argv);
}
