// The suite itself: every test that may not run says why in its name. A skip goes through
// test/support/needs.ts (a tool, root, a peer: under CI=true a missing tool or peer fails by name)
// or withPeer (peers.ts); nothing else in a test file skips, or returns early when it cannot run.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

const testFiles = readdirSync(`${ROOT}test`, { withFileTypes: true, recursive: true })
  .filter((e) => e.isFile() && e.name.endsWith('.test.ts') && e.name !== 'suite.test.ts')
  .map((e) => join(e.parentPath, e.name));

/** A skip that does not name its reason, or an early return that hides one, as "file:line: text". */
function unnamedSkips(file: string, text: string): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (
      /\.skipIf\(|\bctx\.skip\(|\b(it|describe|test)\.skip\(|\.runIf\(/.test(code) ||
      /getuid\?\.\(\) === 0\) return/.test(code)
    )
      found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
  });
  return found;
}

describe('the suite', () => {
  it('has test files to look at', () => {
    expect(testFiles.length).toBeGreaterThan(20);
  });

  it('skips nothing but through needs.ts or withPeer, which name why', () => {
    const found = testFiles.flatMap((file) => unnamedSkips(file, readFileSync(file, 'utf8')));
    expect(found).toEqual([]);
  });

  it.each([
    ["it.skipIf(!isRoot)('x', () => {});"],
    ["describe.skipIf(process.getuid?.() !== 0)('x', () => {});"],
    ['  if (reach.code !== 0) ctx.skip();'],
    ['    if (process.getuid?.() === 0) return; // root writes anywhere'],
  ])('the check finds %s', (line) => {
    expect(unnamedSkips('x.test.ts', line)).toHaveLength(1);
  });
});
