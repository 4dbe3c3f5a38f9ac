// Finding the running AgentAPI and what it was started with. Nothing here signals anything.
// /proc is read synchronously: a thread-pool round trip of fs/promises for each small read costs
// more than the read itself (#29).

import { readdirSync, readFileSync, readlinkSync, type Stats, statSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { type PidFile, readPidFileOrOld } from '../process/pid-file.js';
import {
  identifyAgentApi,
  isOurs,
  isRunning,
  looksLikeAgentApiServer,
  type ProcInfo,
  readProc,
} from '../process/proc.js';
import { attempt } from '../utils/errors.js';
import { DEFAULTS } from '../utils/settings.js';
import type { VersionInfo } from './agentapi-version.js';

export interface Located {
  pid: number;
  proc: ProcInfo;
  /** How we found it: its PID file, or (no PID file) the only agentapi server on our port. */
  via: 'pid-file' | 'process-scan';
}

export type NotFoundKind =
  | 'not-running'
  | 'invalid-pid-file'
  | 'not-agentapi'
  | 'other-user'
  | 'reused'
  | 'self'
  | 'ambiguous';

export type LocateResult =
  | { ok: true; found: Located; pidFile: PidFile }
  | { ok: false; kind: NotFoundKind; reason: string; pidFile: PidFile };

export interface LocateOptions {
  /** Where an earlier version put the PID file by default, read when `pidFilePath` is absent. */
  oldDefault?: string;
  trace?: (line: string) => void;
}

/**
 * Finds AgentAPI through its PID file, checking identity and PID reuse. Without a PID file
 * (older module setups) it looks for exactly one `agentapi server` of ours on `port`.
 */
export async function locateAgentApi(
  pidFilePath: string,
  port: number,
  o: LocateOptions = {},
): Promise<LocateResult> {
  const pidFile = await readPidFileOrOld(pidFilePath, o.oldDefault);
  if (pidFile.path !== pidFilePath) {
    o.trace?.(
      `no PID file at ${pidFilePath}; reading ${pidFile.path}, the default of 0.1.x (an AgentAPI it started)`,
    );
    pidFilePath = pidFile.path;
  }
  if (pidFile.state === 'invalid') {
    return {
      ok: false,
      kind: 'invalid-pid-file',
      pidFile,
      reason: `PID file ${pidFilePath} is invalid: ${pidFile.reason}`,
    };
  }
  if (pidFile.state === 'ok') {
    const identity = await identifyAgentApi(pidFile.pid, pidFile.writtenAtMs);
    if (!identity.ok) return { ok: false, kind: identity.kind, pidFile, reason: identity.reason };
    return { ok: true, pidFile, found: { pid: pidFile.pid, proc: identity.proc, via: 'pid-file' } };
  }
  const candidates = await scanForAgentApi(port);
  if (candidates.length === 1) {
    return { ok: true, pidFile, found: { pid: candidates[0].pid, proc: candidates[0], via: 'process-scan' } };
  }
  const reason =
    candidates.length === 0
      ? `no PID file at ${pidFilePath} and no agentapi server on port ${port}`
      : `no PID file at ${pidFilePath} and ${candidates.length} agentapi servers on port ${port} (PIDs ${candidates.map((c) => c.pid).join(', ')}); not guessing`;
  return { ok: false, kind: candidates.length === 0 ? 'not-running' : 'ambiguous', pidFile, reason };
}

/** `agentapi server` processes we may signal (our own user's) whose configured port is `port`. */
export async function scanForAgentApi(port: number): Promise<ProcInfo[]> {
  const entries = attempt(() => readdirSync('/proc')) ?? [];
  // Stryker disable next-line OptionalChaining: equivalent, geteuid exists on Linux (our one platform)
  const me = process.geteuid?.();
  const found: ProcInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    // Another user's process is skipped before anything else of it is read.
    if (attempt(() => statSync(`/proc/${pid}`))?.uid !== me) continue;
    const proc = await readProc(pid);
    if (!isRunning(proc) || !isOurs(proc) || !looksLikeAgentApiServer(proc.argv)) continue;
    if ((await configuredPort(proc)) === port) found.push(proc);
  }
  return found;
}

/** The value of a flag in AgentAPI's argv (`--name v`, `--name=v`, `-s v`), before `--`. */
export function flagValue(argv: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return undefined;
    for (const name of names) {
      if (argv[i] === name) return argv[i + 1];
      if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
    }
  }
  return undefined;
}

/** A server flag is present in argv (before `--`). */
export function hasFlag(argv: readonly string[], names: readonly string[]): boolean {
  const end = argv.indexOf('--') === -1 ? argv.length : argv.indexOf('--');
  return argv.slice(0, end).some((arg) => names.some((n) => arg === n || arg.startsWith(`${n}=`)));
}

/** Its environment, or undefined when it cannot be read (another user's process, hidepid). */
async function environ(pid: number): Promise<Record<string, string> | undefined> {
  try {
    const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return Object.fromEntries(
      // Stryker disable next-line MethodExpression: equivalent, an empty entry becomes the key "", which no reader asks for
      raw
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    // Stryker disable next-line BlockStatement: equivalent, a function that ends returns undefined too
  } catch {
    return undefined;
  }
}

export async function configuredPort(proc: ProcInfo): Promise<number> {
  const value = flagValue(proc.argv, ['--port', '-p']) ?? (await environ(proc.pid))?.AGENTAPI_PORT;
  return value ? Number(value) : DEFAULTS.port;
}

export type ConfiguredStateFile =
  | { kind: 'set'; path: string }
  | { kind: 'none' }
  /** Its environment or working directory cannot be read, so we cannot tell. */
  | { kind: 'unknown'; reason: string };

/** The state file AgentAPI was started with (flag, else AGENTAPI_STATE_FILE), made absolute. */
export async function configuredStateFile(proc: ProcInfo): Promise<ConfiguredStateFile> {
  let value = flagValue(proc.argv, ['--state-file', '-s']);
  if (value === undefined) {
    const env = await environ(proc.pid);
    if (!env) return { kind: 'unknown', reason: `cannot read PID ${proc.pid}'s environment` };
    value = env.AGENTAPI_STATE_FILE;
  }
  if (!value) return { kind: 'none' };
  if (isAbsolute(value)) return { kind: 'set', path: value };
  const cwd = attempt(() => readlinkSync(`/proc/${proc.pid}/cwd`));
  if (!cwd) return { kind: 'unknown', reason: `cannot read PID ${proc.pid}'s working directory` };
  return { kind: 'set', path: resolve(cwd, value) };
}

export interface Persistence extends VersionInfo {
  /** Why we believe what we believe, for the log. */
  evidence: string;
}

/**
 * Whether this running AgentAPI handles SIGUSR1. Its own command line is proof when it holds
 * a persistence flag (an older AgentAPI refuses to start with one); else ask its executable.
 */
export async function persistenceSupport(proc: ProcInfo, timeoutMs = 2000): Promise<Persistence> {
  if (hasFlag(proc.argv, ['--state-file', '-s', '--pid-file', '--load-state', '--save-state'])) {
    return {
      supportsPersistence: true,
      evidence: 'started with persistence flags, which an AgentAPI without the SIGUSR1 handler refuses',
    };
  }
  return runningVersion(proc, timeoutMs);
}

/**
 * Asks the running AgentAPI's own executable for its version (never an interpreter's), but only
 * one we would run anyway: our own process, an executable owned by us or root that no one else
 * can write. Running another user's program (as root, say) would hand it our privileges.
 */
export async function runningVersion(proc: ProcInfo, timeoutMs = 2000): Promise<Persistence> {
  if (!isOurs(proc)) return { evidence: "it is another user's process, whose executable is never run" };
  const exe = attempt(() => readlinkSync(`/proc/${proc.pid}/exe`));
  // Stryker disable next-line Regex: equivalent, the kernel adds " (deleted)" at the end only
  if (!exe || basename(exe.replace(/ \(deleted\)$/, '')) !== 'agentapi') {
    return { evidence: 'its executable is not named agentapi, so its version is unknown' };
  }
  const file: Stats | undefined = attempt(() => statSync(`/proc/${proc.pid}/exe`));
  // Stryker disable next-line OptionalChaining: equivalent, geteuid exists on Linux (our one platform)
  const me = process.geteuid?.();
  if (!file) return { evidence: `its executable ${exe} cannot be examined` };
  if (file.uid !== me && file.uid !== 0) {
    return { evidence: `its executable ${exe} belongs to user id ${file.uid}, so it is not run to ask` };
  }
  if (file.mode & 0o022) {
    return { evidence: `its executable ${exe} is writable by other users, so it is not run to ask` };
  }
  // Loaded only here: semver builds its regular expressions when it loads, ~2 ms of every
  // command's start-up (measured, #29), and most runs have the flags as proof.
  const { readVersion } = await import('./agentapi-version.js');
  const info = await readVersion(`/proc/${proc.pid}/exe`, timeoutMs);
  if (info.error) return { evidence: info.error };
  if (info.supportsPersistence === undefined)
    return { ...info, evidence: `version "${info.raw}" cannot be compared` };
  return { ...info, evidence: `agentapi --version says ${info.raw}` };
}

/** The state file the AgentAPI found writes: its own configuration, else `o.stateFile`, if given. */
export async function stateFileOf(found: Located, o: { stateFile?: string }): Promise<string | undefined> {
  const configured = await configuredStateFile(found.proc);
  return configured.kind === 'set' ? configured.path : o.stateFile;
}
