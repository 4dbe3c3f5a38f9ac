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

/** Loads `file` (relative to node_modules) with its edits, as CommonJS, with the real require. */
function loadEdited(file: string): Record<string, unknown> {
  const path = join(modules, file);
  const module = { exports: {} as Record<string, unknown> };
  const text = applyEdits(file, readFileSync(path, 'utf8'));
  new Function('exports', 'require', 'module', '__filename', '__dirname', text)(
    module.exports,
    createRequire(path),
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
