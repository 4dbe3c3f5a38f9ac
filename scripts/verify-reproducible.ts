// `npm run verify-reproducible [-- --against DIR]`: builds the current commit from clean clones at
// two different absolute paths and compares their SHA256SUMS, artifact by artifact. With
// --against DIR it builds once and compares with an existing build (CI: the dist/ it just
// tested, where npm test compresses the x64 binary only: its artifacts are compared), which costs one build
// instead of two. Then the full build's every artifact is compared with the hashes the module pins
// (scripts/terraform/release.tf): the arm64 ones too, which npm test does not build. Exit 0 when
// every artifact is bit-identical and pinned. Only committed files take part (each build is a
// fresh `git clone` of HEAD).
// Run with bun: `bun scripts/verify-reproducible.ts`.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dir, '..');
const args = process.argv.slice(2);
const against = args.includes('--against') ? resolve(args[args.indexOf('--against') + 1]) : undefined;

function sh(cmd: string, argv: string[], cwd: string): void {
  execFileSync(cmd, argv, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** A clean clone of HEAD under `parent`, nested `depth` folders deep, built; its dist/ path. */
function buildClone(parent: string, depth: number): string {
  const dir = join(parent, ...Array.from({ length: depth }, (_, i) => `level${i}`), 'agentapi-lifecycle');
  mkdirSync(dir, { recursive: true });
  sh('git', ['clone', '--quiet', '--no-local', ROOT, dir], parent);
  sh('npm', ['ci', '--no-audit', '--no-fund'], dir);
  sh(process.execPath, ['scripts/build.ts'], dir);
  process.stderr.write(`built ${dir}\n`);
  return join(dir, 'dist');
}

/** The SHA-256 of each artifact scripts/terraform/release.tf pins. */
function pinnedHashes(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'scripts', 'terraform', 'release.tf'), 'utf8');
  return new Map(
    [...text.matchAll(/"(agentapi-lifecycle-linux-[\w.-]+)"\s*=\s*"([0-9a-f]{64})"/g)].map((m) => [
      m[1],
      m[2],
    ]),
  );
}

function sums(dist: string): Map<string, string> {
  const lines = readFileSync(join(dist, 'SHA256SUMS'), 'utf8').trim().split('\n');
  return new Map(lines.map((line) => line.split(/\s+/).reverse() as [string, string]));
}

const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
const work = mkdtempSync(join(tmpdir(), 'reproducible-'));
try {
  const first = against ?? buildClone(work, 0);
  const second = buildClone(work, 3);
  const [a, b] = [sums(first), sums(second)];
  // Against a test build: the artifacts it has.
  const names = (against ? [...a.keys()] : [...new Set([...a.keys(), ...b.keys()])]).sort();
  const differ = names.filter((name) => a.get(name) !== b.get(name));
  for (const name of names) {
    process.stdout.write(
      `${a.get(name) === b.get(name) ? 'same   ' : 'DIFFERS'} ${name} ${a.get(name) ?? '-'} ${b.get(name) ?? '-'}\n`,
    );
  }
  if (differ.length > 0) {
    process.stdout.write(
      `not reproducible: ${differ.length} of ${names.length} artifacts of ${commit} differ between ${first} and ${second}\n`,
    );
    process.exitCode = 1;
  } else {
    process.stdout.write(
      `reproducible: all ${names.length} artifacts of ${commit} are bit-identical from two different paths\n`,
    );
  }
  // The module pins what this commit builds, every artifact of it.
  const pinned = pinnedHashes();
  const unpinned = [...b.keys()].filter((name) => pinned.get(name) !== b.get(name));
  for (const name of [...b.keys()].sort())
    process.stdout.write(`${unpinned.includes(name) ? 'UNPINNED' : 'pinned '} ${name}\n`);
  if (unpinned.length > 0 || pinned.size !== b.size) {
    process.stdout.write(
      `scripts/terraform/release.tf does not pin what ${commit} builds (${unpinned.join(', ') || 'other artifacts'}): npm run build && npm run pin\n`,
    );
    process.exitCode = 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
