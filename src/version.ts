// The version line, on its own: `--version` answers from here without loading oclif or commands.
import { version } from '../package.json' with { type: 'json' };

export function versionLine(): string {
  return `agentapi-lifecycle ${version} (${process.platform}-${process.arch})`;
}

/** The same for a script: `--version --json`. */
export function versionJson(): string {
  return JSON.stringify({
    name: 'agentapi-lifecycle',
    version,
    platform: `${process.platform}-${process.arch}`,
  });
}
