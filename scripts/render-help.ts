// Prints every help page as oclif renders it for output that is not a terminal, as JSON
// ({ "": root page, "<command>": its page }), for scripts/build.ts to compile into the binary
// (src/help-text.ts says why). The build runs it with stdout on a pipe and an environment without
// the variables that change oclif's rendering, the same conditions the binary checks before it
// prints a page from here. The root page's version line is a mark: it names the target platform.
import { format } from 'node:util';
import { Config } from '@oclif/core/config';
import { Help } from '@oclif/core/help';
import { COMMAND_IDS } from '../src/commands/index.js';
import { loadOptions } from '../src/help.js';
import { type HelpPages, VERSION_MARK } from '../src/help-text.js';

/** oclif's Help, writing into a string what it would hand to console.log. */
class CapturedHelp extends Help {
  text = '';

  protected log(...args: string[]): void {
    this.text += `${format(...args)}\n`;
  }
}

const config = await Config.load(await loadOptions());
config.userAgent = VERSION_MARK;
const pages: Record<string, string> = {};
for (const id of ['', ...COMMAND_IDS]) {
  const help = new CapturedHelp(config);
  await help.showHelp(id ? [id, '--help'] : ['--help']);
  pages[id] = help.text;
}
process.stdout.write(JSON.stringify(pages satisfies HelpPages));
