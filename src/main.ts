#!/usr/bin/env bun
// The entry point. `--version` is answered before anything else is loaded, the checkpoint
// supervisor (which stays resident) runs without oclif, and everything else goes through oclif
// (cli.ts), imported only then.
import { SUPERVISOR_ARG } from './core/supervisor-arg.js';
import { versionLine } from './version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
  process.stdout.write(`${versionLine()}\n`);
} else if (argv.length === 1 && argv[0] === SUPERVISOR_ARG) {
  const { runSupervisor } = await import('./core/supervisor-entry.js');
  await runSupervisor();
} else {
  const { main } = await import('./cli.js');
  await main(argv);
}
