// Build-time edits that keep oclif's parser and its dependencies from setting up the terminal
// and loading oclif's help when they load.
//
// Asking Bun for process.stdout or process.stderr sets up Node's stream for it, and node:tty loads
// node:stream: about 10 ms of a compiled command's life either way (measured, issue #29: a bare
// program 6 ms, the same touching both streams 16 ms), more than any of shutdown's own steps but
// one. oclif's parser, when it loads, reads both (the terminal's width for error messages, a
// spinner for `ux.action`), ansis reads stdout for colour, debug and supports-color load node:tty,
// oclif's error handling and help flag load its whole help, its parser its ux, and its error
// classes what renders them (wrapping, colours: ~9 % of an idle checkpoint tick, measured); a
// command that is parsed and run uses none of it (its mistakes are worded by errors.ts). These
// edits make each happen when its value is first used, and not before; what they compute is
// unchanged.
//
// Each edit names the exact text it replaces in the pinned version, once: an upgrade that changes
// it fails the build (scripts/build.ts) and `test/unit/lazy-terminal.test.ts`, rather than
// silently bringing the cost back.

export interface SourceEdit {
  /** The file, relative to node_modules. */
  file: string;
  /** Why, in a few words (the build's error names it). */
  what: string;
  find: string;
  replace: string;
}

/** tty.isatty from Bun's tty binding (src/core/process/terminal.ts's way), else from node:tty. */
const ISATTY =
  '(fd) => { try { return process.binding("tty_wrap").isTTY(fd); } catch { return require("tty").isatty(fd); } }';

/** `const name = __importDefault(require("module"));`: the module required when first used. */
function lazyDefault(file: string, what: string, name: string, module: string): SourceEdit {
  return {
    file,
    what,
    find: `const ${name} = __importDefault(require("${module}"));`,
    replace: `const ${name} = { get default() { return __importDefault(require("${module}")).default; } };`,
  };
}

/** `const name = require("module");` of which only `member` is used: required when first used. */
function lazyMember(file: string, what: string, name: string, module: string, member: string): SourceEdit {
  return {
    file,
    what,
    find: `const ${name} = require("${module}");`,
    replace: `const ${name} = { get ${member}() { return require("${module}").${member}; } };`,
  };
}

/** oclif's error classes load what renders them (wrapping, indenting, colours); we never let them. */
const RENDERING = "what renders an oclif error, used only by oclif's own error output";

export const LAZY_TERMINAL_EDITS: readonly SourceEdit[] = [
  {
    file: '@oclif/core/lib/screen.js',
    what: 'the terminal width, read when an error message is wrapped',
    find: [
      'exports.stdtermwidth = columns || termwidth(process.stdout);',
      'exports.errtermwidth = columns || termwidth(process.stderr);',
    ].join('\n'),
    replace: [
      'Object.defineProperty(exports, "stdtermwidth", { get: () => columns || termwidth(process.stdout) });',
      'Object.defineProperty(exports, "errtermwidth", { get: () => columns || termwidth(process.stderr) });',
    ].join('\n'),
  },
  {
    file: '@oclif/core/lib/ux/index.js',
    what: 'ux.action (a spinner on a terminal), made when first used',
    find: [
      'const ACTION_TYPE = (Boolean(process.stderr.isTTY) &&',
      '    !process.env.CI &&',
      "    !['dumb', 'emacs-color'].includes(process.env.TERM) &&",
      "    'spinner') ||",
      "    'simple';",
      "exports.action = ACTION_TYPE === 'spinner' ? new spinner_1.default() : new simple_1.default();",
    ].join('\n'),
    replace: [
      'let action_;',
      'const action = () => (action_ ??= (Boolean(process.stderr.isTTY) &&',
      '    !process.env.CI &&',
      "    !['dumb', 'emacs-color'].includes(process.env.TERM)) ? new spinner_1.default() : new simple_1.default());",
      'Object.defineProperty(exports, "action", { enumerable: true, get: action });',
    ].join('\n'),
  },
  {
    file: '@oclif/core/lib/ux/index.js',
    what: 'ux.action in the ux object',
    find: '    action: exports.action,',
    replace: '    get action() { return action(); },',
  },
  {
    file: '@oclif/core/lib/errors/index.js',
    what: "errors.handle, which loads oclif's whole help",
    find: [
      'var handle_1 = require("./handle");',
      'Object.defineProperty(exports, "handle", { enumerable: true, get: function () { return handle_1.handle; } });',
    ].join('\n'),
    replace:
      'Object.defineProperty(exports, "handle", { enumerable: true, get: function () { return require("./handle").handle; } });',
  },
  {
    file: '@oclif/core/lib/flags.js',
    what: "Flags.help's help class, which loads oclif's whole help",
    find: 'const help_1 = require("./help");',
    replace: 'const help_1 = { loadHelpClass: (...args) => require("./help").loadHelpClass(...args) };',
  },
  {
    file: '@oclif/core/lib/parser/parse.js',
    what: 'node:readline, for a flag value read from stdin',
    find: 'const node_readline_1 = require("node:readline");',
    replace:
      'const node_readline_1 = { createInterface: (...args) => require("node:readline").createInterface(...args) };',
  },
  {
    file: '@oclif/core/lib/parser/index.js',
    what: "flagUsages, which loads oclif's ux (spinners and all)",
    find: [
      'var help_1 = require("./help");',
      'Object.defineProperty(exports, "flagUsages", { enumerable: true, get: function () { return help_1.flagUsages; } });',
    ].join('\n'),
    replace:
      'Object.defineProperty(exports, "flagUsages", { enumerable: true, get: function () { return require("./help").flagUsages; } });',
  },
  lazyDefault(
    '@oclif/core/lib/logger.js',
    "debug (which loads node:tty), for oclif's DEBUG=oclif* lines",
    'debug_1',
    'debug',
  ),
  {
    file: '@oclif/core/lib/ux/write.js',
    what: 'node:util, for formatting what ux.stdout and ux.stderr print',
    find: 'const node_util_1 = require("node:util");',
    replace: 'const node_util_1 = { format: (...args) => require("node:util").format(...args) };',
  },
  lazyDefault('@oclif/core/lib/errors/errors/cli.js', RENDERING, 'clean_stack_1', 'clean-stack'),
  lazyDefault('@oclif/core/lib/errors/errors/cli.js', RENDERING, 'indent_string_1', 'indent-string'),
  lazyDefault('@oclif/core/lib/errors/errors/cli.js', RENDERING, 'wrap_ansi_1', 'wrap-ansi'),
  lazyMember('@oclif/core/lib/errors/errors/cli.js', RENDERING, 'screen_1', '../../screen', 'errtermwidth'),
  lazyMember('@oclif/core/lib/errors/errors/cli.js', RENDERING, 'theme_1', '../../ux/theme', 'colorize'),
  lazyDefault('@oclif/core/lib/errors/errors/pretty-print.js', RENDERING, 'indent_string_1', 'indent-string'),
  lazyDefault('@oclif/core/lib/errors/errors/pretty-print.js', RENDERING, 'wrap_ansi_1', 'wrap-ansi'),
  lazyMember(
    '@oclif/core/lib/errors/errors/pretty-print.js',
    RENDERING,
    'screen_1',
    '../../screen',
    'errtermwidth',
  ),
  lazyDefault('@oclif/core/lib/parser/errors.js', RENDERING, 'list_1', '../ux/list'),
  lazyMember('@oclif/core/lib/parser/errors.js', RENDERING, 'theme_1', '../ux/theme', 'colorize'),
  {
    file: 'supports-color/index.js',
    what: 'node:tty (which loads node:stream), for whether stdout and stderr are terminals',
    find: "const tty = require('tty');",
    replace: `const tty = { isatty: ${ISATTY} };`,
  },
  {
    file: 'ansis/index.js',
    what: "whether stdout is a terminal, from the tty binding (src/core/process/terminal.ts's way)",
    find: '!!s.stdout?.isTTY',
    replace: '((p)=>{try{return!!p.binding("tty_wrap").isTTY(1)}catch{return!!p.stdout?.isTTY}})(s)',
  },
];

/** `text` of node_modules/`file` with its edits made; throws if one does not match exactly once. */
export function applyEdits(
  file: string,
  text: string,
  edits: readonly SourceEdit[] = LAZY_TERMINAL_EDITS,
): string {
  let result = text;
  for (const edit of edits.filter((e) => e.file === file)) {
    const count = result.split(edit.find).length - 1;
    if (count !== 1) {
      throw new Error(
        `${edit.file}: the text replaced for ${edit.what} occurs ${count} times, not once (a new version? see scripts/lazy-terminal.ts)`,
      );
    }
    result = result.replace(edit.find, () => edit.replace);
  }
  return result;
}

/** The files these edits touch, as paths relative to node_modules. */
export const EDITED_FILES = [...new Set(LAZY_TERMINAL_EDITS.map((e) => e.file))];
