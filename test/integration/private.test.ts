// Private by default (issue #23): no default path lies in the shared /tmp, where another local user
// could create it first; the private folder is refused when it is not private; an AgentAPI started
// with the old default is still found; and a lock left by a dead shutdown is taken over by exactly
// one of the shutdowns that find it.

import type { ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFixture } from '../support/fixture.js';
import {
  freePort,
  killQuietly,
  type RunResult,
  run,
  runFile,
  startSim,
  waitFor,
} from '../support/harness.js';
import { AS_ROOT, itNeeds } from '../support/needs.js';
import { BIN, SIM } from '../support/paths.js';
import { type Report, shutdownHelpers } from '../support/shutdown.js';

const f = useFixture();
const { setup, report } = shutdownHelpers(f);
/** An uid that is not ours: `nobody`. */
const NOBODY = 65534;

describe('the shutdown lock: taking over a dead holder is atomic', () => {
  // Many shutdowns find the same lock, left by a shutdown that died; the AgentAPI they would stop
  // saves slowly, so a winner holds the lock long enough for every other to see it held.
  it.each([1, 2, 3])(
    'of 12 shutdowns started at once over a dead holder, exactly one runs (round %i)',
    async () => {
      await setup({ sim: { env: { AGENTAPI_SIM_SAVE_DELAY_MS: '1500' } } });
      writeFileSync(`${f.work.pidFile}.shutdown-lock`, '4194000\n');
      // Each stops itself before it runs the binary; all are let go at once, so they reach the lock
      // together rather than one start-up time apart.
      const args = [
        'shutdown',
        '--pid-file',
        f.work.pidFile,
        '--port',
        String(f.sim?.port),
        '--json',
        '--no-snapshot',
      ];
      const shells: ChildProcess[] = [];
      const runs: Promise<RunResult>[] = [];
      for (let i = 0; i < 12; i++)
        runs.push(
          runFile('/bin/sh', ['-c', 'kill -STOP $$; exec "$0" "$@"', BIN, ...args], {
            onSpawn: (child) => shells.push(child),
          }),
        );
      await waitFor(() =>
        shells.every((c) => /^[^)]*\) T/.test(readFileSync(`/proc/${c.pid}/stat`, 'utf8'))),
      );
      for (const c of shells) c.kill('SIGCONT');
      const reports = (await Promise.all(runs)).map(report);
      // A winner held the lock while AgentAPI ran. One that came so late (a loaded machine) that
      // the winner had finished takes a free lock and finds nothing to stop: that is no race.
      const outcome = (r: Report, step: string) => r.steps.find((s) => s.step === step)?.outcome;
      const ran = reports.filter((r) => r.deferredTo === undefined);
      const winners = ran.filter((r) => outcome(r, 'find') === 'found');
      expect(winners.map((r) => outcome(r, 'stop'))).toEqual(['terminated']);
      for (const r of ran) if (r !== winners[0]) expect(outcome(r, 'find')).toBe('not-running');
    },
  );
});

const home = () => join(f.work.dir, 'home');
const privateDir = () => join(home(), '.agentapi');

/** `start --detach` of the simulator with every path left to its default, in this test's home. */
async function startWithDefaults(port: number): Promise<RunResult> {
  mkdirSync(home(), { recursive: true });
  const result = await run(
    ['start', '--detach', '--json', '--agentapi-bin', SIM, '--port', String(port), '--', 'claude'],
    {
      env: { HOME: home() },
    },
  );
  const pid = result.code === 0 ? JSON.parse(result.stdout).pid : undefined;
  if (pid) f.defer(() => killQuietly(pid));
  return result;
}

/** A file at the 0.1.x default PID file for `port`, removed after the test. */
function plantOldDefault(port: number, content: string, owner?: number): string {
  const path = `/tmp/agentapi-${port}.pid`;
  writeFileSync(path, content);
  if (owner !== undefined) chownSync(path, owner, owner);
  f.defer(() => rmSync(path, { force: true }));
  return path;
}

describe('private by default', () => {
  it('start, shutdown and status use ~/.agentapi (0700) for the PID file, its lock and the state', async () => {
    const port = await freePort();
    const started = await startWithDefaults(port);
    expect(started.code, started.stderr).toBe(0);
    const pidFile = join(privateDir(), `agentapi-${port}.pid`);
    expect(readFileSync(pidFile, 'utf8')).toBe(`${JSON.parse(started.stdout).pid}\n`);
    expect(statSync(privateDir()).mode & 0o777).toBe(0o700);
    const status = JSON.parse(
      (await run(['status', '--json', '--port', String(port)], { env: { HOME: home() } })).stdout,
    );
    expect(status.pidFile).toMatchObject({ path: pidFile, isAgentApi: true });
    const stopped = report(
      await run(['shutdown', '--json', '--port', String(port)], { env: { HOME: home() } }),
    );
    expect(stopped.steps.map((s) => s.outcome)).toEqual(['found', 'confirmed', 'no-target', 'terminated']);
    expect(existsSync(join(privateDir(), 'state.json'))).toBe(true);
  });

  itNeeds(
    AS_ROOT,
    "another user's file at the old /tmp default blocks nothing: start, status and shutdown ignore it",
    async () => {
      const port = await freePort();
      plantOldDefault(port, '1\n', NOBODY);
      const started = await startWithDefaults(port);
      expect(started.code, started.stderr).toBe(0);
      const stopped = report(
        await run(['shutdown', '--json', '--port', String(port)], { env: { HOME: home() } }),
      );
      expect(stopped.steps.find((s) => s.step === 'stop')?.outcome).toBe('terminated');
      // With nothing running, the planted file is still not taken for a PID file of ours.
      const idle = report(
        await run(['shutdown', '--json', '--port', String(port)], { env: { HOME: home() } }),
      );
      expect(idle.steps.find((s) => s.step === 'find')?.outcome).toBe('not-running');
      const status = JSON.parse(
        (await run(['status', '--json', '--port', String(port)], { env: { HOME: home() } })).stdout,
      );
      expect(status.pidFile.path).toBe(join(privateDir(), `agentapi-${port}.pid`));
    },
  );

  it('an AgentAPI started with the old /tmp default (by 0.1.x) is still found by shutdown and status, and --verbose says so', async () => {
    const port = await freePort();
    const old = `/tmp/agentapi-${port}.pid`;
    f.defer(() => rmSync(old, { force: true }));
    f.sim = await startSim({ work: f.work, port, pidFile: false, args: ['--pid-file', old] });
    const env = { HOME: home() };
    const status = JSON.parse(
      (await run(['status', '--json', '--port', String(f.sim.port)], { env })).stdout,
    );
    expect(status.pidFile).toMatchObject({ path: old, isAgentApi: true });
    expect(status.notes.join('\n')).toContain(`found ${old}, the default of 0.1.x`);
    const result = await run(['shutdown', '--json', '--verbose', '--port', String(f.sim.port)], { env });
    expect(result.stderr).toContain(`reading ${old}, the default of 0.1.x`);
    expect(report(result).steps.map((s) => s.outcome)).toEqual([
      'found',
      'confirmed',
      'no-target',
      'terminated',
    ]);
  });

  describe('a private folder that is not private is refused, and nothing is changed', () => {
    const startIn = async () => {
      const port = await freePort();
      return { port, result: await startWithDefaults(port) };
    };

    it('open to other users', async () => {
      mkdirSync(privateDir(), { recursive: true, mode: 0o755 });
      chmodSync(privateDir(), 0o755);
      const { result } = await startIn();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `${privateDir()} is open to other users (mode 0755); if it is yours, \`chmod 700 ${privateDir()}\``,
      );
      expect(statSync(privateDir()).mode & 0o777).toBe(0o755);
    });

    it('a symbolic link', async () => {
      mkdirSync(join(f.work.dir, 'elsewhere'), { mode: 0o700 });
      mkdirSync(home(), { recursive: true });
      symlinkSync(join(f.work.dir, 'elsewhere'), privateDir());
      const { result } = await startIn();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${privateDir()} is a symbolic link`);
      expect(readdirSync(join(f.work.dir, 'elsewhere'))).toEqual([]);
    });

    it('not a folder', async () => {
      mkdirSync(home(), { recursive: true });
      writeFileSync(privateDir(), 'x');
      const { result } = await startIn();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${privateDir()} is a regular file, not a folder`);
    });

    itNeeds(AS_ROOT, "another user's", async () => {
      mkdirSync(privateDir(), { recursive: true, mode: 0o700 });
      chownSync(privateDir(), NOBODY, NOBODY);
      const { result } = await startIn();
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${privateDir()} belongs to user id ${NOBODY}, not to you (0)`);
      expect(statSync(privateDir()).uid).toBe(NOBODY);
    });

    it('a folder below it, for another instance, is checked too', async () => {
      mkdirSync(join(privateDir(), 'review'), { recursive: true, mode: 0o700 });
      chmodSync(join(privateDir(), 'review'), 0o777);
      const port = await freePort();
      const result = await run(
        [
          'start',
          '--detach',
          '--agentapi-bin',
          SIM,
          '--port',
          String(port),
          '--pid-file',
          join(privateDir(), 'review', 'agentapi.pid'),
          '--',
          'claude',
        ],
        { env: { HOME: home() } },
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`${join(privateDir(), 'review')} is open to other users (mode 0777)`);
    });

    it('shutdown is never blocked by it: it says so and goes on', async () => {
      mkdirSync(privateDir(), { recursive: true, mode: 0o755 });
      chmodSync(privateDir(), 0o755);
      const port = await freePort();
      const result = await run(['shutdown', '--json', '--port', String(port)], { env: { HOME: home() } });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`${privateDir()} is open to other users (mode 0755)`);
      expect(report(result).steps.find((s) => s.step === 'find')?.outcome).toBe('not-running');
    });
  });
});
