// `npm run build`: the standalone binaries, their .gz and .xz release artifacts, SHA256SUMS over
// every artifact, and the AgentAPI simulator for tests. `--for-tests` (npm test): what the tests
// use, both binaries but only the x64 one compressed (xz -9 is most of a build's time; the arm64
// .gz and .xz are checked against their pins by the reproducible-build check, from a full build).
// `--only <target>`: one binary, nothing compressed.
// Run with bun (a devDependency): `bun scripts/build.ts [--for-tests | --only linux-x64] [--out DIR]`.
//
// Reproducible: the same commit builds to the same bytes from any directory. Bun would compile
// the build directory into the binary wherever a dependency uses __dirname or __filename (oclif
// does); the dependency-sources plugin below replaces those with the path relative to the project
// root, so no builder's path is embedded and none leaks (and scripts/lazy-terminal.ts edits oclif
// and ansis so that loading them costs no terminal set-up). The compressors are pinned too: gzip is
// Bun's own zlib (pinned with bun), xz is XZ Utils (single-threaded, whose version the release
// notes name).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { BunPlugin } from 'bun';
import { RENDERING_ENV } from '../src/help-text.js';
import { applyEdits, EDITED_FILES } from './lazy-terminal.js';

export const TARGETS = ['linux-x64', 'linux-arm64'] as const;
const ROOT = resolve(import.meta.dir, '..');

const args = process.argv.slice(2);
const forTests = args.includes('--for-tests');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const out = resolve(args.includes('--out') ? args[args.indexOf('--out') + 1] : join(ROOT, 'dist'));
const targets = TARGETS.filter((t) => !only || t === only);

/**
 * oclif's and ansis's sources as the binary needs them: __dirname and __filename in oclif as paths
 * relative to the project root, and no terminal questions at load (scripts/lazy-terminal.ts).
 */
const edited = new Set(EDITED_FILES.map((file) => join(ROOT, 'node_modules', file)));
const seenEdited = new Set<string>();
const dependencySources: BunPlugin = {
  name: 'dependency-sources',
  setup(build) {
    seenEdited.clear();
    // Only oclif embeds its directory; ejs, say, writes __filename into generated code, which a
    // blanket replacement would break. `npm run verify-reproducible` catches a new one.
    build.onLoad(
      { filter: /[\\/]node_modules[\\/](@oclif[\\/]core|ansis|supports-color)[\\/].*\.c?js$/ },
      async ({ path }) => {
        const text = await readFile(path, 'utf8');
        const needsPaths = path.includes('@oclif') && /\b__(dirname|filename)\b/.test(text);
        if (edited.has(path)) seenEdited.add(path);
        if (!needsPaths && !edited.has(path)) return undefined;
        let contents = applyEdits(relative(join(ROOT, 'node_modules'), path), text);
        if (needsPaths) {
          const file = `/$bunfs/${relative(ROOT, path)}`;
          contents = contents
            .replace(/\b__dirname\b/g, JSON.stringify(file.slice(0, file.lastIndexOf('/'))))
            .replace(/\b__filename\b/g, JSON.stringify(file));
        }
        return { contents, loader: 'js' };
      },
    );
  },
};

/**
 * One standalone binary. Never reads .env or bunfig.toml from wherever it runs; production mode
 * (minified, NODE_ENV=production) keeps oclif off its development paths; bytecode (which needs
 * ESM) halves start-up.
 */
async function compile(entry: string, outfile: string, target: string, define: Record<string, string> = {}) {
  const result = await Bun.build({
    entrypoints: [join(ROOT, entry)],
    compile: {
      target: `bun-${target}` as 'bun-linux-x64',
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    bytecode: true,
    format: 'esm',
    minify: true,
    // Dynamic imports become chunks loaded on first use: `--version` loads none of oclif, and
    // `--help` none of the HTTP clients, schemas and sequences behind the commands.
    splitting: true,
    define: { 'process.env.NODE_ENV': '"production"', ...define },
    plugins: [dependencySources],
  });
  if (!result.success) throw new AggregateError(result.logs, `building ${outfile} failed`);
  // An edit whose file the bundle no longer loads from there would be lost without a word.
  const missed = [...edited].filter((path) => !seenEdited.has(path));
  if (entry === 'src/main.ts' && missed.length > 0) {
    throw new Error(`scripts/lazy-terminal.ts edits files the binary never loaded: ${missed.join(', ')}`);
  }
}

function run(file: string, argv: string[], stdout: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pipe(createWriteStream(stdout));
    child.on('error', (error) =>
      fail(new Error(`${file}: ${error.message}${file === 'xz' ? ' (apt-get install xz-utils)' : ''}`)),
    );
    child.on('close', (code) =>
      code === 0 ? done() : fail(new Error(`${file} ${argv.join(' ')} exited ${code}`)),
    );
  });
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Every help page as oclif renders it when stdout is not a terminal (src/help-text.ts), rendered
 * by scripts/render-help.ts in a process of its own: oclif reads the width and colour from its
 * stdout and environment when it loads, so it gets a pipe and none of the variables that change
 * them.
 */
async function renderHelp(): Promise<string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !RENDERING_ENV.test(name)));
  const child = Bun.spawn([process.execPath, join(ROOT, 'scripts/render-help.ts')], {
    cwd: ROOT,
    env: { ...env, NODE_ENV: 'production' },
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const [text, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  if (code !== 0) throw new Error(`scripts/render-help.ts exited ${code}`);
  return text;
}

await mkdir(join(out, 'sim', 'old'), { recursive: true });
const helpPages = await renderHelp();
const binaries: string[] = [];
for (const target of targets) {
  const file = join(out, `agentapi-lifecycle-${target}`);
  await rm(file, { force: true });
  await compile('src/main.ts', file, target, { PRERENDERED_HELP: helpPages });
  binaries.push(file);
  console.log(`built ${relative(ROOT, file)}`);
}
// The AgentAPI simulator for tests: 0.12.1, and the same built as 0.11.2 (no persistence).
await compile('test/sim/agentapi.ts', join(out, 'sim', 'agentapi'), 'linux-x64');
await compile('test/sim/agentapi.ts', join(out, 'sim', 'old', 'agentapi'), 'linux-x64', {
  SIM_VERSION: '"0.11.2"',
});
console.log(
  `built ${relative(ROOT, join(out, 'sim'))}/agentapi and old/agentapi (AgentAPI simulators 0.12.1 and 0.11.2, for tests)`,
);

// A dev build (--only) is not a release: no compressed artifacts, no SHA256SUMS.
if (!only) {
  // A workspace downloads the .xz when it has xz (about 39 MB), else the .gz (about 51 MB).
  const compressed = forTests ? binaries.filter((file) => file.endsWith('-linux-x64')) : binaries;
  await Promise.all(
    compressed.flatMap((file) => [
      pipeline(createReadStream(file), createGzip({ level: 6 }), createWriteStream(`${file}.gz`)),
      run('xz', ['-9', '-T1', '-c', file], `${file}.xz`),
    ]),
  );
  const artifacts = [...binaries, ...compressed.flatMap((file) => [`${file}.gz`, `${file}.xz`])].sort();
  const sums = await Promise.all(artifacts.map(async (file) => `${await sha256(file)}  ${basename(file)}\n`));
  await writeFile(join(out, 'SHA256SUMS'), sums.join(''));
  console.log(`compressed (.gz, .xz) and wrote ${relative(ROOT, join(out, 'SHA256SUMS'))}`);
}
