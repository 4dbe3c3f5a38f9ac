// The real peers the tests run beside our stand-ins: AgentAPI (and an AgentAPI from before state
// persistence, for the version gate), the OpenTofu engine, the coder provider and the Claude Code
// CLI. Each Go peer is pinned by a small Go module of ours under test/peers/<name>/ (go.mod +
// go.sum, the peer as a `tool`); the npm one by a package.json and package-lock.json there (the
// lock's integrity hashes decide every byte). `npm run peers` (scripts/peers.ts) installs them
// into a cache folder outside the repository. The folder's name carries a hash of the pins, so a
// changed pin is a new install, never a stale one.
//
// Tests ask `peer(name)`: the installed executable, or why it is missing. Under CI=true a missing
// peer is a failure (the suite says so by name); elsewhere its tests are skipped by name.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { ROOT } from './paths.js';

export interface PeerSpec {
  /** Its folder under test/peers/, and its folder in the cache. */
  name: string;
  /** What the tests call it. */
  title: string;
  /** The Go module that is the peer, as its go.mod requires it. */
  module: string;
  /** The executable `go install tool` produces. */
  executable: string;
  /** Linker flags of the peer's own release builds that change what it does or says. */
  ldflags?: string;
  /** A Terraform provider's registry name: it is also laid out as a filesystem mirror. */
  provider?: string;
  /**
   * An npm package, not a Go module: installed with `npm ci` from its lock, and its executable is
   * this file of the installed packages (`<arch>`: x64 or arm64), moved into the peer's bin/.
   */
  npm?: { file: string };
}

export const PEERS = {
  agentapi: {
    name: 'agentapi',
    title: 'the real AgentAPI',
    module: 'github.com/coder/agentapi',
    executable: 'agentapi',
  },
  'agentapi-0.11': {
    name: 'agentapi-0.11',
    title: 'the real AgentAPI 0.11 (before state persistence)',
    module: 'github.com/coder/agentapi',
    executable: 'agentapi',
  },
  tofu: {
    name: 'tofu',
    title: 'OpenTofu',
    module: 'github.com/opentofu/opentofu',
    executable: 'tofu',
    // OpenTofu's release builds set this; without it `tofu version` says "-dev".
    ldflags: '-X github.com/opentofu/opentofu/version.dev=no',
  },
  'terraform-provider-coder': {
    name: 'terraform-provider-coder',
    title: 'the coder Terraform provider',
    module: 'github.com/coder/terraform-provider-coder/v2',
    executable: 'terraform-provider-coder',
    provider: 'coder/coder',
  },
  'terraform-provider-coder-2.13': {
    name: 'terraform-provider-coder-2.13',
    title: "the coder Terraform provider (the module's oldest)",
    module: 'github.com/coder/terraform-provider-coder/v2',
    executable: 'terraform-provider-coder',
    provider: 'coder/coder',
  },
  'terraform-provider-docker': {
    name: 'terraform-provider-docker',
    title: 'the docker Terraform provider',
    module: 'github.com/terraform-providers/terraform-provider-docker',
    executable: 'terraform-provider-docker',
  },
  'claude-code': {
    name: 'claude-code',
    title: 'the real Claude Code CLI',
    module: '@anthropic-ai/claude-code',
    executable: 'claude',
    // The native program of the platform's optional package: what the npm package's claude.exe is.
    npm: { file: 'node_modules/@anthropic-ai/claude-code-linux-<arch>/claude' },
  },
} as const satisfies Record<string, PeerSpec>;

export type PeerName = keyof typeof PEERS;

/** Where built peers are kept: $AGENTAPI_LIFECYCLE_PEERS, else ~/.cache/agentapi-lifecycle-peers. */
export function peersCache(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.AGENTAPI_LIFECYCLE_PEERS ||
    join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'agentapi-lifecycle-peers')
  );
}

/** The folder of the peer's pins in this repository. */
export function pinsDir(name: PeerName): string {
  return join(ROOT, 'test', 'peers', name);
}

/** The files that pin a peer: its lock decides every byte. */
export function pinFiles(name: PeerName): string[] {
  const spec: PeerSpec = PEERS[name];
  return spec.npm ? ['package.json', 'package-lock.json'] : ['go.mod', 'go.sum'];
}

/** The version the peer's pins name, e.g. "v0.12.2" (go.mod) or "2.1.332" (package-lock.json). */
export function pinnedVersion(name: PeerName): string {
  const spec: PeerSpec = PEERS[name];
  if (spec.npm) {
    const lock = JSON.parse(readFileSync(join(pinsDir(name), 'package-lock.json'), 'utf8'));
    const version = lock.packages?.[`node_modules/${spec.module}`]?.version;
    if (typeof version !== 'string')
      throw new Error(`test/peers/${name}/package-lock.json does not pin ${spec.module}`);
    return version;
  }
  const goMod = readFileSync(join(pinsDir(name), 'go.mod'), 'utf8');
  const escaped = spec.module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
  if (!match) throw new Error(`test/peers/${name}/go.mod does not require ${spec.module}`);
  return match[1];
}

/** The build's folder: the version and a hash of everything that decides its bytes. */
export function peerDir(name: PeerName, env: NodeJS.ProcessEnv = process.env): string {
  const spec: PeerSpec = PEERS[name];
  const hash = createHash('sha256');
  for (const file of pinFiles(name)) hash.update(readFileSync(join(pinsDir(name), file)));
  hash.update(spec.ldflags ?? '');
  return join(peersCache(env), name, `${pinnedVersion(name)}-${hash.digest('hex').slice(0, 12)}`);
}

export function peerExecutable(name: PeerName, env: NodeJS.ProcessEnv = process.env): string {
  return join(peerDir(name, env), 'bin', PEERS[name].executable);
}

export type PeerLookup =
  | { installed: true; path: string; version: string; title: string }
  | { installed: false; version: string; title: string; missing: string };

/** The installed peer, or a sentence naming what is missing and how to install it. */
export function peer(name: PeerName, env: NodeJS.ProcessEnv = process.env): PeerLookup {
  const version = pinnedVersion(name);
  const title = `${PEERS[name].title} ${version}`;
  const path = peerExecutable(name, env);
  if (existsSync(path)) return { installed: true, path, version, title };
  return { installed: false, version, title, missing: `${title} is not installed (run \`npm run peers\`)` };
}

/** CI runs every real-peer test: a missing peer there is a failure, not a skip. */
export const peersRequired = process.env.CI === 'true';

/** A describe for tests that need `lookup`: skipped by name without it, failed by name in CI. */
export function withPeer(lookup: PeerLookup, title: string, body: (path: string) => void): void {
  if (lookup.installed) {
    describe(`${title} (${lookup.title})`, () => body(lookup.path));
  } else if (peersRequired) {
    it(`${title}: ${lookup.title} is installed`, () => {
      throw new Error(`${lookup.missing}; CI=true runs every real-peer test`);
    });
  } else {
    describe.skip(`${title} (skipped: ${lookup.missing})`, () => it('needs it', () => {}));
  }
}

/**
 * Where a provider peer lies in an OpenTofu filesystem mirror, relative to the mirror's root:
 * registry.opentofu.org/<namespace>/<type>/<version>/<os>_<arch>/terraform-provider-<type>_v<version>.
 */
export function providerMirrorPath(name: PeerName): string {
  const spec: PeerSpec = PEERS[name];
  if (!spec.provider) throw new Error(`${name} is not a Terraform provider`);
  const version = pinnedVersion(name).replace(/^v/, '');
  const platform = `linux_${process.arch === 'arm64' ? 'arm64' : 'amd64'}`;
  const [namespace, type] = spec.provider.split('/');
  return join(
    'registry.opentofu.org',
    namespace,
    type,
    version,
    platform,
    `terraform-provider-${type}_v${version}`,
  );
}

/** The peer's own mirror, holding just it. */
export function peerMirror(name: PeerName, env: NodeJS.ProcessEnv = process.env): string {
  return join(peerDir(name, env), 'mirror');
}
