// Runs oclif from statically imported commands, with the configuration built in memory.
// A `bun build --compile` binary has no package.json on disk and cannot import command files
// by path, so the root plugin is handed its commands directly (TOOLCHAIN.md). This touches
// oclif's private `commandCache`; test/integration/binary.test.ts guards it across upgrades.

// oclif's entry points one by one, not its index: the index loads every part of oclif (spinners,
// themes, the Node version check), which costs a few milliseconds on every run.
import { Plugin } from '@oclif/core/config';
import { execute } from '@oclif/core/execute';
import type { LoadOptions, PJSON } from '@oclif/core/interfaces';
// Only the fields the CLI needs: the whole package.json in the binary would change it (and its
// pinned hash) whenever a script or a development dependency changes.
import { name, oclif, version } from '../package.json' with { type: 'json' };
import { COMMANDS } from './commands/index.js';

export const VERSION: string = version;

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

export async function loadOptions(root = '/'): Promise<LoadOptions> {
  const manifest = {
    name,
    version,
    oclif: {
      ...oclif,
      commands: { strategy: 'explicit', target: './commands', identifier: 'COMMANDS' },
    },
  } as unknown as PJSON;
  const plugin = new Plugin({ root, pjson: manifest, isRoot: true, ignoreManifest: true });
  (plugin as unknown as { commandCache: typeof COMMANDS }).commandCache = COMMANDS;
  await plugin.load();
  return {
    root,
    pjson: manifest,
    plugins: new Map([[name, plugin]]),
    userPlugins: false,
    devPlugins: false,
  } as LoadOptions;
}

/**
 * Output never changes the outcome: a closed pipe or a full device on stdout or stderr (a stop
 * script's output going nowhere) is ignored instead of crashing the command halfway.
 */
export function ignoreBrokenOutput(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

export async function main(argv: string[]): Promise<void> {
  ignoreBrokenOutput();
  exemptLoopbackFromProxy();
  // oclif's own line names Bun's Node-compatibility level, which says nothing useful here.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === 'version')) {
    process.stdout.write(`agentapi-lifecycle ${VERSION} (${process.platform}-${process.arch})\n`);
    return;
  }
  await execute({ args: argv, loadOptions: await loadOptions() });
}
