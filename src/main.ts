#!/usr/bin/env bun
// The entry point. `--version` is answered before anything else is loaded; everything else goes
// through oclif (cli.ts), imported only then.
import { versionLine } from './version.js';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
  process.stdout.write(`${versionLine()}\n`);
} else {
  const { main } = await import('./cli.js');
  await main(argv);
}
