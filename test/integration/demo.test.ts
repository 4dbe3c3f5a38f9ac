// `npm run demo` is the first command a newcomer runs: it must work and leave nothing behind.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cleanEnv, type RunResult, runFile } from '../support/harness.js';
import { ROOT } from '../support/paths.js';
import { peer, peersCache, peersRequired } from '../support/peers.js';

const BUN = `${ROOT}node_modules/.bin/bun`;

/** `agentapi server` processes whose command line mentions `dir`. */
function agentApisUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return (
          argv.includes('server') &&
          argv.includes(dir) &&
          !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The demo's folder, as it names it: found, or the test fails (a cleanup of nothing proves nothing). */
function demoDir(output: string): string {
  const dir = /(\/tmp\/agentapi-lifecycle-demo-\w+)/.exec(output)?.[1];
  expect(dir, 'the demo names its folder').toBeDefined();
  return dir as string;
}

/** Nothing of the demo's is left: no AgentAPI using its folder, and no folder. */
function expectCleanedUp(output: string): void {
  const dir = demoDir(output);
  expect(agentApisUsing(dir)).toEqual([]);
  expect(existsSync(dir)).toBe(false);
}

const real = peer('agentapi');

describe('npm run demo', () => {
  it.each([
    ['the real AgentAPI when it is installed', peersCache()],
    ['the simulator otherwise', '/nonexistent'],
  ])(
    'runs the whole cycle with %s, says which, shows the restored conversation, and cleans up',
    async (_, cache) => {
      const result = await runFile(BUN, ['scripts/demo.ts'], {
        cwd: ROOT,
        killAfterMs: 60_000,
        env: { AGENTAPI_LIFECYCLE_PEERS: cache },
      });
      expect(result.code, result.stdout).toBe(0);
      if (cache === '/nonexistent') expect(result.stdout).toContain('the simulator plays AgentAPI');
      else if (real.installed || peersRequired)
        expect(result.stdout).toContain(`(${real.title}, running a scripted chat agent)`);
      expect(result.stdout).toContain('AgentAPI: healthy');
      expect(result.stdout).toMatch(/save: confirmed/);
      expect(result.stdout).toMatch(/snapshot: stored/);
      expect(result.stdout).toMatch(/stop: terminated/);
      // What it shows as "what shutdown would post" is what shutdown then posted.
      const kept = /"messagesKept": (\d+)/.exec(result.stdout)?.[1];
      expect(result.stdout).toMatch(new RegExp(`snapshot: stored: ${kept} of \\d+ messages`));
      expect(result.stdout).toContain('# Task conversation');
      expect(result.stdout).toMatch(/restored \d+ messages, including "Now write a test for it"/);
      expect(result.stdout).toContain('Demo complete.');
      expectCleanedUp(result.stdout);
    },
  );

  it('cleans up when interrupted', async () => {
    const child = spawn(BUN, ['scripts/demo.ts'], {
      cwd: ROOT,
      env: cleanEnv({ AGENTAPI_LIFECYCLE_PEERS: peersCache() }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const done = new Promise<RunResult>((resolve) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('Have a short conversation') && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '', ms: 0 }));
    });
    const result = await done;
    expect(result.code).toBe(130);
    expect(result.stdout).toContain('SIGINT: cleaning up');
    expectCleanedUp(result.stdout);
  });
});
