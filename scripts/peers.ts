// `npm run peers [-- --only <name>...] [-- --check]`: builds the real peers the tests run (the
// real AgentAPI 0.12 and 0.11, OpenTofu, the coder provider, the Claude Code CLI) from their pins
// under test/peers/ into a cache folder outside the repository (test/support/peers.ts says where),
// skipping what is there. A Go peer is `go install tool` in its own pinned Go module, with
// -mod=readonly: go.sum decides every byte, and a pin that no longer matches fails instead of
// changing; an npm peer is `npm ci` from its package-lock.json, whose integrity hashes do the same.
// A build lands in a temporary folder renamed into place, so an interrupted run never leaves half
// a peer behind.
// --check builds nothing and exits 1 when a peer is missing. Run with bun.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  PEERS,
  type PeerName,
  type PeerSpec,
  peerDir,
  peerExecutable,
  peersCache,
  pinFiles,
  pinnedVersion,
  pinsDir,
  providerMirrorPath,
} from '../test/support/peers.js';

const args = process.argv.slice(2);
const only = args.flatMap((arg, i) => (args[i - 1] === '--only' ? [arg] : []));
const check = args.includes('--check');
const names = (only.length ? only : Object.keys(PEERS)) as PeerName[];
for (const name of names) {
  if (!(name in PEERS)) fail(`unknown peer "${name}"; the peers are ${Object.keys(PEERS).join(', ')}`);
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

function goVersion(): string {
  const go = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
  if (go.status !== 0)
    fail('the peers are built with Go (1.24 or newer, for go.mod `tool`): `go` is not on PATH');
  return go.stdout.trim();
}

/** Builds one peer into a temporary folder beside its final one, then renames it into place. */
function build(name: PeerName): void {
  const spec: PeerSpec = PEERS[name];
  const final = peerDir(name);
  const partial = `${final}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(join(partial, 'bin'), { recursive: true });
  try {
    if (spec.npm) installNpm(name, spec.npm.file, partial);
    else buildGo(name, partial);
    if (spec.provider) {
      // The engine finds it as a filesystem mirror: no registry, no network.
      const inMirror = join(partial, 'mirror', providerMirrorPath(name));
      mkdirSync(dirname(inMirror), { recursive: true });
      copyFileSync(join(partial, 'bin', spec.executable), inMirror);
    }
    mkdirSync(dirname(final), { recursive: true });
    if (existsSync(final)) rmSync(partial, { recursive: true, force: true });
    else renameSync(partial, final);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
}

/** `npm ci` from the peer's lock (no install scripts: the lock's integrity hashes are the pin). */
function installNpm(name: PeerName, file: string, partial: string): void {
  for (const pin of pinFiles(name)) copyFileSync(join(pinsDir(name), pin), join(partial, pin));
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: partial,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  renameSync(join(partial, file.replace('<arch>', arch)), join(partial, 'bin', PEERS[name].executable));
  rmSync(join(partial, 'node_modules'), { recursive: true, force: true });
}

/** `go install tool` in the peer's pinned module, read-only: go.sum decides every byte. */
function buildGo(name: PeerName, partial: string): void {
  const spec: PeerSpec = PEERS[name];
  const ldflags = spec.ldflags ? [`-ldflags=${spec.ldflags}`] : [];
  execFileSync('go', ['install', ...ldflags, 'tool'], {
    cwd: pinsDir(name),
    env: { ...process.env, GOBIN: join(partial, 'bin'), GOFLAGS: '-mod=readonly' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

const missing = names.filter((name) => !existsSync(peerExecutable(name)));
if (check) {
  for (const name of names) {
    const state = missing.includes(name) ? 'missing' : peerExecutable(name);
    process.stdout.write(`${name} ${pinnedVersion(name)}: ${state}\n`);
  }
  process.exit(missing.length ? 1 : 0);
}

const needsGo = missing.some((name) => !(PEERS[name] as PeerSpec).npm);
process.stderr.write(`peers: ${peersCache()}${needsGo ? ` (${goVersion()})` : ''}\n`);
for (const name of names) {
  const version = pinnedVersion(name);
  if (!missing.includes(name)) {
    process.stderr.write(`${name} ${version}: installed (${peerExecutable(name)})\n`);
    continue;
  }
  const started = Date.now();
  process.stderr.write(`${name} ${version}: building from test/peers/${name} …\n`);
  try {
    build(name);
  } catch {
    fail(
      `${name} ${version} did not build (the output above says why; a module the proxy refuses is named there)`,
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stderr.write(`${name} ${version}: built in ${seconds} s (${peerExecutable(name)})\n`);
}
