// `bun scripts/release-notes.ts v<version>`: prints the CHANGELOG.md section of that version, for
// the GitHub release. Refuses a tag that is not package.json's version, or a version without a
// section, so a release never goes out with the wrong number or without notes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// import.meta.url, not Bun's import.meta.dir: the tests import this under Node.
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The body of the `## [<version>]` section (up to the next `## `), or undefined. */
export function notesFor(changelog: string, version: string): string | undefined {
  const lines = changelog.split('\n');
  const start = lines.findIndex((l) =>
    new RegExp(`^## \\[?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`).test(l),
  );
  if (start === -1) return undefined;
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines
    .slice(start + 1, end === -1 ? undefined : end)
    .join('\n')
    .trim();
}

if (import.meta.main) {
  const tag = process.argv[2] ?? '';
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  if (tag !== `v${version}`) {
    process.stderr.write(`tag "${tag}" is not v${version}, package.json's version\n`);
    process.exit(1);
  }
  const notes = notesFor(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8'), version);
  if (!notes) {
    process.stderr.write(`CHANGELOG.md has no section for ${version}\n`);
    process.exit(1);
  }
  process.stdout.write(`${notes}\n`);
}
