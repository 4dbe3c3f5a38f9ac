// Guards oclif's in-memory setup for help (src/help.ts), oclif's parser running the commands
// (src/commands/base-command.ts) and the standalone build: an oclif or bun upgrade that breaks one of
// them fails here.
import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pjson from '../../package.json' with { type: 'json' };
import { loadCommands } from '../../src/commands/index.js';
import { run, runFile } from '../support/harness.js';
import { itNeeds, tool } from '../support/needs.js';
import { ROOT } from '../support/paths.js';

const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64']).stdout.toString().trim();
const arm64Libs = '/usr/aarch64-linux-gnu';

describe('the compiled binary', () => {
  it('prints its own version', async () => {
    const result = await run(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(`agentapi-lifecycle ${pjson.version} (linux-${process.arch})`);
  });

  it('lists every command in --help, each with its summary', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    for (const [command, { summary }] of Object.entries(await loadCommands()))
      expect(result.stdout, command).toMatch(
        new RegExp(`^\\s+${command}\\s+${summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'),
      );
  });

  it('shows a command help with examples', async () => {
    const result = await run(['snapshot', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('EXAMPLES');
    expect(result.stdout).toContain('AGENTAPI_PORT');
  });

  it('answers a bad flag with a usage error, exit 2, no stack trace', async () => {
    const result = await run(['snapshot', '--no-such-flag']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--no-such-flag');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('runs from any directory and ignores a .env and bunfig.toml there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cwd-'));
    await writeFile(join(dir, '.env'), 'AGENTAPI_PORT=1\n');
    await writeFile(join(dir, 'bunfig.toml'), 'preload = ["./evil.ts"]\n');
    await writeFile(join(dir, 'evil.ts'), 'console.log("EVIL");\n');
    const result = await run(['snapshot', '--json', '--timeout', '2s'], { cwd: dir });
    expect(result.stdout + result.stderr).not.toContain('EVIL');
    // Port 1 would come from the .env; the default port shows it was not read.
    expect(result.stderr).toContain('127.0.0.1:3284');
  });

  itNeeds(
    [
      tool('qemu-aarch64', ['--version'], 'qemu-user (qemu-aarch64) is not installed'),
      tool(arm64Libs, [], `the arm64 C library (${arm64Libs}, libc6-arm64-cross) is not installed`),
      {
        ok: process.arch !== 'arm64',
        missing: 'this machine is arm64: the build runs natively',
        inCi: 'skip',
      },
    ],
    'the arm64 build runs (under qemu-user)',
    async () => {
      const result = await runFile(
        qemu,
        ['-L', arm64Libs, `${ROOT}dist/agentapi-lifecycle-linux-arm64`, '--version'],
        { killAfterMs: 60_000 },
      );
      expect(result.stdout.trim()).toBe(`agentapi-lifecycle ${pjson.version} (linux-arm64)`);
    },
  );
});
