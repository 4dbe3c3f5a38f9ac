// `npm run build`: the standalone binaries, their .gz release artifacts, the AgentAPI simulator for
// tests, and SHA256SUMS over every artifact.
// Run with bun (a devDependency): `bun scripts/build.ts [--only linux-x64]`.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const TARGETS = ['linux-x64', 'linux-arm64'] as const;
// Never read .env or bunfig.toml from wherever the binary runs; --production keeps oclif off its
// development paths; bytecode (which needs ESM) halves start-up.
const FLAGS = ['--compile', '--production', '--no-compile-autoload-dotenv', '--no-compile-autoload-bunfig'];

function bun(...args: string[]): void {
  execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const targets = TARGETS.filter((t) => !only || t === only);

await mkdir('dist/sim', { recursive: true });
const artifacts: string[] = [];
for (const target of targets) {
  const out = `dist/agentapi-lifecycle-${target}`;
  await rm(out, { force: true });
  bun(
    'build',
    'src/main.ts',
    ...FLAGS,
    '--bytecode',
    '--format=esm',
    `--target=bun-${target}`,
    '--outfile',
    out,
  );
  artifacts.push(out);
  console.log(`built ${out}`);
}
bun('build', 'test/sim/agentapi.ts', ...FLAGS, '--outfile', 'dist/sim/agentapi');
bun(
  'build',
  'test/sim/agentapi.ts',
  ...FLAGS,
  '--define',
  'SIM_VERSION="0.11.2"',
  '--outfile',
  'dist/sim/old/agentapi',
);
console.log(
  'built dist/sim/agentapi and dist/sim/old/agentapi (AgentAPI simulators 0.12.1 and 0.11.2, for tests)',
);

// Release artifacts: a workspace downloads the .gz (about half the bytes), checked against
// SHA256SUMS. A dev build (--only) is not a release and leaves both alone.
if (only) process.exit(0);
for (const file of [...artifacts]) {
  await pipeline(createReadStream(file), createGzip({ level: 6 }), createWriteStream(`${file}.gz`));
  artifacts.push(`${file}.gz`);
  console.log(`compressed ${file}.gz`);
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

const sums = await Promise.all(artifacts.map(async (file) => `${await sha256(file)}  ${basename(file)}\n`));
await writeFile('dist/SHA256SUMS', sums.join(''));
console.log('wrote dist/SHA256SUMS');
