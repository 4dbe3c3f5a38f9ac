// oclif's help, from the commands' own definitions. oclif is configured in memory: a
// `bun build --compile` binary has no package.json on disk and cannot import command files by
// path, so the root plugin is handed its commands directly (TOOLCHAIN.md), each wrapped in an
// oclif Command that only describes it (commands run without oclif's configuration:
// commands/base-command.ts). This touches oclif's private `commandCache`;
// test/integration/binary.test.ts and cli.test.ts guard it across upgrades.

import { Command } from '@oclif/core/command';
import { Config, Plugin } from '@oclif/core/config';
import { Help } from '@oclif/core/help';
import type { LoadOptions, PJSON } from '@oclif/core/interfaces';
import { name, oclif, version } from '../package.json' with { type: 'json' };
import { BASE_FLAGS, type CommandClass } from './commands/base-command.js';
import { loadCommands } from './commands/index.js';
import { versionLine } from './version.js';

/** An oclif Command with a command's definition, for help: it is never run. */
function describedCommand(Described: CommandClass): Command.Class {
  return class extends Command {
    static summary = Described.summary;
    static description = Described.description;
    static examples = Described.examples;
    static flags = Described.flags;
    static baseFlags = BASE_FLAGS;
    static enableJsonFlag = true;
    static strict = Described.strict;
    static args = Described.args;

    async run(): Promise<void> {}
  };
}

export async function loadOptions(root = '/'): Promise<LoadOptions> {
  const manifest = {
    name,
    version,
    oclif: { ...oclif, commands: { strategy: 'explicit', target: './commands', identifier: 'COMMANDS' } },
  } as unknown as PJSON;
  const plugin = new Plugin({ root, pjson: manifest, isRoot: true, ignoreManifest: true });
  (plugin as unknown as { commandCache: Record<string, Command.Class> }).commandCache = Object.fromEntries(
    Object.entries(await loadCommands()).map(([id, command]) => [id, describedCommand(command)]),
  );
  await plugin.load();
  return {
    root,
    pjson: manifest,
    plugins: new Map([[name, plugin]]),
    userPlugins: false,
    devPlugins: false,
  } as LoadOptions;
}

/** oclif's configuration, with our version line (oclif's names Bun's Node-compatibility level). */
export async function loadConfig(): Promise<Config> {
  const config = await Config.load(await loadOptions());
  config.userAgent = versionLine();
  return config;
}

/** Help for `--help`, `-h`, `help [command]` or no command, as oclif renders it. */
export async function showHelp(args: string[]): Promise<void> {
  // oclif writes to Node's streams; a closed pipe there must not crash the help (our own output
  // goes through core/utils/output.ts, which ignores it).
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
  await new Help(await loadConfig()).showHelp(args);
}
