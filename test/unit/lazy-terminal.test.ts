// The build's edits to oclif and its dependencies (scripts/lazy-terminal.ts): each still finds its
// text in the pinned versions, and the edited modules load and give what the originals give, only
// later. The compiled binary running every command (test/integration) is the rest of the proof.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyEdits, EDITED_FILES, LAZY_TERMINAL_EDITS } from '../../scripts/lazy-terminal.js';
import { ROOT } from '../support/paths.js';

const modules = join(ROOT, 'node_modules');

/**
 * Loads `file` (relative to node_modules) with its edits, as CommonJS, with the real require;
 * each module it requires, when it does, is added to `required`.
 */
function loadEdited(file: string, required: string[] = []): Record<string, unknown> {
  const path = join(modules, file);
  const module = { exports: {} as Record<string, unknown> };
  const text = applyEdits(file, readFileSync(path, 'utf8'));
  const realRequire = createRequire(path);
  const recording = (id: string) => {
    required.push(id);
    return realRequire(id);
  };
  new Function('exports', 'require', 'module', '__filename', '__dirname', text)(
    module.exports,
    recording,
    module,
    path,
    join(path, '..'),
  );
  return module.exports;
}

describe('the build-time edits that keep start-up off the terminal', () => {
  it.each(EDITED_FILES)('%s: every edit finds its text once and is made', (file) => {
    const original = readFileSync(join(modules, file), 'utf8');
    const edited = applyEdits(file, original);
    for (const edit of LAZY_TERMINAL_EDITS.filter((e) => e.file === file)) {
      expect(edited).toContain(edit.replace);
      expect(edited).not.toContain(edit.find);
    }
  });

  it('a text that is no longer there fails the build, naming the file and what the edit was for', () => {
    const edits = [{ file: 'x/y.js', what: 'the width', find: 'columns', replace: 'rows' }];
    expect(() => applyEdits('x/y.js', 'nothing here', edits)).toThrow(
      'x/y.js: the text replaced for the width occurs 0 times, not once',
    );
    expect(() => applyEdits('x/y.js', 'columns columns', edits)).toThrow('occurs 2 times');
    expect(applyEdits('other.js', 'columns', edits)).toBe('columns');
  });

  it("oclif's screen: the widths are read when asked for, and are oclif's numbers", () => {
    const screen = loadEdited('@oclif/core/lib/screen.js');
    expect(typeof Object.getOwnPropertyDescriptor(screen, 'stdtermwidth')?.get).toBe('function');
    expect(screen.stdtermwidth).toBeGreaterThanOrEqual(40);
    expect(screen.errtermwidth).toBeGreaterThanOrEqual(40);
  });

  it("oclif's ux: one action, made when first used, the same through ux.action", () => {
    const ux = loadEdited('@oclif/core/lib/ux/index.js');
    expect(typeof Object.getOwnPropertyDescriptor(ux, 'action')?.get).toBe('function');
    const action = ux.action as { start: unknown };
    expect(typeof action.start).toBe('function');
    expect((ux.ux as { action: unknown }).action).toBe(action);
  });

  it('the lazy requires give what the eager ones gave', () => {
    const errors = loadEdited('@oclif/core/lib/errors/index.js');
    expect(typeof errors.handle).toBe('function');
    const parser = loadEdited('@oclif/core/lib/parser/index.js');
    expect(typeof parser.flagUsages).toBe('function');
    const logger = loadEdited('@oclif/core/lib/logger.js');
    expect(typeof (logger.makeDebug as (ns: string) => unknown)('x')).toBe('function');
    const write = loadEdited('@oclif/core/lib/ux/write.js');
    expect(typeof write.stdout).toBe('function');
    const flags = loadEdited('@oclif/core/lib/flags.js');
    expect(typeof flags.integer).toBe('function');
    const parse = loadEdited('@oclif/core/lib/parser/parse.js');
    expect(typeof parse.Parser).toBe('function');
  });

  it("oclif's error classes render and word their messages as the originals do, loading what renders them then", () => {
    const original = (file: string) => createRequire(join(modules, file))(`./${file.split('/').pop()}`);
    const required: string[] = [];
    const cli = loadEdited('@oclif/core/lib/errors/errors/cli.js', required) as {
      CLIError: new (message: string) => Error & { render(): string; bang: string };
    };
    const cliOriginal = original('@oclif/core/lib/errors/errors/cli.js');
    const long = `a parse error ${'that wraps '.repeat(20)}`;
    expect(new cli.CLIError(long).message).toBe(long);
    expect(required).toEqual(['../../cache', '../../settings']);
    expect(new cli.CLIError(long).render()).toBe(new cliOriginal.CLIError(long).render());
    expect(new cli.CLIError('x').bang).toBe(new cliOriginal.CLIError('x').bang);
    // clean-stack, required when the stack is first read: oclif's cleaned stack, first line intact.
    expect(new cli.CLIError('x').stack?.split('\n')[0]).toBe('Error: x');

    const pretty = loadEdited('@oclif/core/lib/errors/errors/pretty-print.js') as {
      default: (error: Error) => string;
    };
    const prettyOriginal = original('@oclif/core/lib/errors/errors/pretty-print.js');
    const error = Object.assign(new Error(long), { code: 'E_X', suggestions: ['try this', 'or that'] });
    expect(pretty.default(error)).toBe(prettyOriginal.default(error));

    const parser = loadEdited('@oclif/core/lib/parser/errors.js') as Record<
      string,
      new (
        o: unknown,
      ) => Error
    >;
    const parserOriginal = original('@oclif/core/lib/parser/errors.js');
    const args = { args: { file: { name: 'file', required: true, description: 'the file' } }, parse: {} };
    expect(new parser.InvalidArgsSpecError(args).message).toBe(
      new parserOriginal.InvalidArgsSpecError(args).message,
    );
    const failed = { failed: ['--port: no', '--port: no'], parse: {} };
    expect(new parser.FailedFlagValidationError(failed).message).toBe(
      new parserOriginal.FailedFlagValidationError(failed).message,
    );
  });

  it('supports-color and ansis answer from the tty binding as node:tty would', () => {
    const supports = loadEdited('supports-color/index.js') as { stdout: unknown; stderr: unknown };
    const original = createRequire(join(modules, 'supports-color/index.js'))('./index.js');
    expect(supports.stdout).toEqual(original.stdout);
    expect(supports.stderr).toEqual(original.stderr);
    const ansis = loadEdited('ansis/index.js') as { level: number; red: (s: string) => string };
    const ansisOriginal = createRequire(join(modules, 'ansis/index.js'))('./index.js');
    expect(ansis.level).toBe(ansisOriginal.level);
    expect(ansis.red('x')).toBe(ansisOriginal.red('x'));
  });
});
