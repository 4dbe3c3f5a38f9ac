// The version gate (SPEC §2): --state-file, --load-state, --save-state, --pid-file and the
// SIGUSR1 handler all arrived in AgentAPI 0.12.0. Older versions refuse those flags and are
// killed by SIGUSR1, so neither is ever used unless the version is known to be new enough.

import { execFile } from 'node:child_process';
import coerce from 'semver/functions/coerce.js';
import gte from 'semver/functions/gte.js';
import { childEnv } from '../utils/settings.js';

export const PERSISTENCE_SINCE = '0.12.0';

export interface VersionInfo {
  /** What `agentapi --version` printed last ("0.12.1"), if it ran. */
  raw?: string;
  /** Normalized semver, if the raw version could be read as one. */
  version?: string;
  /** true/false when known; undefined when the version cannot be read (e.g. "dev"). */
  supportsPersistence?: boolean;
}

/** Interprets a version string: "0.12.1", "v0.12.0-rc1" and "0.12.1-dev+abc" are all 0.12.x. */
export function interpretVersion(raw: string | undefined): VersionInfo {
  if (!raw) return {};
  const coerced = coerce(raw);
  if (!coerced || !/^v?\d/.test(raw)) return { raw };
  return { raw, version: coerced.version, supportsPersistence: gte(coerced, PERSISTENCE_SINCE) };
}

/** AgentAPI's own answer to --version (SPEC §2); anything else (node's "v20.20.2") is not AgentAPI. */
const VERSION_LINE = /^agentapi version (\S+)$/;

/** Runs `<bin> --version` and reads its first line, which must be "agentapi version 0.12.1". */
export function readVersion(bin: string, timeoutMs: number): Promise<VersionInfo & { error?: string }> {
  return new Promise((resolve) => {
    const options = { timeout: timeoutMs, env: childEnv(), maxBuffer: 64 * 1024 };
    execFile(bin, ['--version'], options, (error, stdout) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const reason =
          code === 'ENOENT'
            ? `${bin} was not found: install AgentAPI 0.12.0 or newer (https://github.com/coder/agentapi/releases) on PATH, or give its path with --agentapi-bin`
            : code === 'EACCES'
              ? `${bin} is not executable`
              : error.killed
                ? `${bin} --version did not answer within ${timeoutMs}ms`
                : `${bin} --version failed: ${error.message.split('\n')[0]}`;
        resolve({ error: reason });
        return;
      }
      const first = (stdout.split('\n')[0] ?? '').trim();
      const match = VERSION_LINE.exec(first);
      if (!match) {
        const shown = first.length > 60 ? `${first.slice(0, 60)}…` : first;
        resolve({
          error: `${bin} is not AgentAPI: its --version printed "${shown}", not "agentapi version …"`,
        });
        return;
      }
      resolve(interpretVersion(match[1]));
    });
  });
}
