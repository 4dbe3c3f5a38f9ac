// A workspace whose home fills up (issue #30), for real: a small tmpfs as the home inside a private
// mount namespace (one `unshare -m` holder; every command enters it with nsenter), the real
// AgentAPI started by `start --detach` with the defaults, a conversation, the disk filled; then the
// cron's `checkpoint`, the stop script's `shutdown` and `start` again. And a read-only bind mount
// of that home. Mounting needs root (CI runs the suite as root, and the GitHub workflow runs these
// under sudo): elsewhere these tests are skipped by name.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import { freePort, type RunResult, runFile, TASK_ID } from '../support/harness.js';
import { AS_ROOT, describeNeeds } from '../support/needs.js';
import { BIN } from '../support/paths.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, messagesOf, say, stable, until } from '../support/real-agentapi.js';

/** Mounting in a mount namespace of its own: root, and unshare. */
const MOUNT = [
  AS_ROOT,
  {
    ok:
      spawnSync('unshare', ['-m', '--propagation', 'private', 'mount', '-t', 'tmpfs', 'tmpfs', tmpdir()])
        .status === 0,
    missing: 'a tmpfs cannot be mounted in a mount namespace of its own (unshare -m)',
    inCi: 'fail' as const,
  },
];
/** What the runtime prints when it crashes: none of our output may hold it. */
const CRASH = /FileHandle object was closed during garbage collection|^Bun v\d|^\s+at <anonymous>/m;

let holder: ChildProcess;
let home: string;
let port: number;
let coderd: Coderd;

/** Runs `file` inside the namespace, as the workspace user's shell would (HOME on the tmpfs). */
function inside(file: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runFile('nsenter', ['-t', String(holder.pid), '-m', '--', file, ...args], {
    env: { HOME: home, CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token, ...env },
    cwd: '/',
  });
}

/** Fills the home's file system, page by page, until it refuses (dd exits 1 then). */
async function fill(): Promise<void> {
  const result = await inside('sh', ['-c', `dd if=/dev/zero of="$HOME/fill-$$" bs=4k 2>&1; df -k "$HOME"`]);
  expect(result.stdout).toContain('No space left on device');
  expect(result.stdout).toMatch(/\s0\s+100%/);
}

const withoutCrash = (result: RunResult) => {
  expect(`${result.stdout}\n${result.stderr}`).not.toMatch(CRASH);
  return result;
};

const lifecycle = (command: string, extra: string[] = []) =>
  inside(BIN, [command, '--port', String(port), '--task-id', TASK_ID, ...extra]);

describeNeeds(MOUNT, 'a full or read-only home', () =>
  withPeer(peer('agentapi'), 'a full or read-only home', (agentapi) => {
    beforeAll(() => {
      holder = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '600'], { stdio: 'ignore' });
    });
    afterAll(() => {
      holder.kill('SIGKILL');
    });

    beforeEach(async () => {
      home = mkdtempSync(join(tmpdir(), 'full-home-'));
      port = await freePort();
      coderd = await startCoderd({ tasks: [TASK_ID] });
      // The holder's namespace exists once unshare has exec'd sleep; mount the home's tmpfs in it.
      await until('the namespace', async () => ((await mountHome()).code === 0 ? true : undefined), 5000);
    });
    const mountHome = () => inside('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'tmpfs', home]);

    afterEach(async () => {
      await inside('pkill', ['-KILL', '-f', `agentapi server --port ${port}`]);
      await inside('sh', ['-c', 'umount -l "$1"; umount -l "$1"', 'sh', home]);
      await coderd.close();
      rmSync(home, { recursive: true, force: true });
    });

    /** `start --detach` of the real AgentAPI with the chat agent, inside the namespace. */
    const start = (extra: string[] = []) =>
      inside(BIN, [
        'start',
        '--detach',
        '--agentapi-bin',
        agentapi,
        '--type',
        'custom',
        '--port',
        String(port),
        ...extra,
        '--',
        CHAT_AGENT,
      ]);
    const url = () => `http://127.0.0.1:${port}`;

    it('checkpoint and shutdown finish their steps and exit 0 without a crash; start refuses by name, then resumes', async () => {
      expect(withoutCrash(await start()).code).toBe(0);
      await say(url(), 'before the disk filled');
      // A checkpoint while there is room: the conversation so far is saved.
      const first = withoutCrash(await lifecycle('checkpoint', ['--json']));
      expect(JSON.parse(first.stdout)).toMatchObject({ outcome: 'stored', save: { outcome: 'confirmed' } });
      await say(url(), 'after the disk filled');
      await fill();

      // The cron's tick: the snapshot still goes out; the save is named as impossible, at once.
      const tick = withoutCrash(await lifecycle('checkpoint', ['--json']));
      expect(tick.code).toBe(0);
      const report = JSON.parse(tick.stdout);
      expect(report).toMatchObject({ outcome: 'not-saved', save: { status: 'failed', outcome: 'no-space' } });
      expect(report.save.detail).toMatch(
        /state\.json cannot be saved: the file system of .* is full \(0 bytes free/,
      );
      expect(tick.ms).toBeLessThan(4000);
      expect(coderd.stored.get(TASK_ID)?.messages.at(-1)?.content).toContain(
        'You said: after the disk filled',
      );
      // The lock that could not be written is named once.
      expect(tick.stderr.match(/cannot take the lock/g)).toHaveLength(1);
      expect(tick.stderr).toContain('no space left on its file system');

      // The stop script: every step, exit 0, the save named (not waited out: its timeout is 5 s).
      const stop = withoutCrash(await lifecycle('shutdown', ['--json']));
      expect(stop.code).toBe(0);
      const steps = Object.fromEntries(
        (JSON.parse(stop.stdout).steps as { step: string; outcome: string }[]).map((s) => [
          s.step,
          s.outcome,
        ]),
      );
      expect(steps).toEqual({ find: 'found', save: 'no-space', snapshot: 'stored', stop: 'terminated' });
      expect(stop.ms).toBeLessThan(4000);
      expect(stop.stderr.match(/cannot take the lock/g)).toHaveLength(1);
      await until('AgentAPI to stop', async () =>
        (await fetch(url()).catch(() => undefined)) ? undefined : true,
      );

      // start on the full home: AgentAPI could not write its PID file; refused, naming the disk.
      await fill();
      const refused = withoutCrash(await start());
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        /error: cannot start AgentAPI: the file system of .*\/\.agentapi is full \(0 bytes free, 4096 needed\), so it could not write its PID file/,
      );
      // Room again: the conversation saved before the disk filled comes back.
      await inside('sh', ['-c', 'rm -f "$HOME"/fill-*']);
      const resumed = withoutCrash(await start());
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toContain('a resume');
      await stable(url());
      const messages = await until('the conversation loaded', async () => {
        const all = await messagesOf(url());
        return all.some((m) => m.content.includes('You said: before the disk filled')) ? all : undefined;
      });
      expect(messages.some((m) => m.content.includes('after the disk filled'))).toBe(false);
    });

    it('start on a full state file system (PID file elsewhere) runs AgentAPI and warns that it cannot save', async () => {
      await fill();
      const pidFile = join(mkdtempSync(join(tmpdir(), 'full-pid-')), 'agentapi.pid');
      try {
        const started = withoutCrash(await start(['--pid-file', pidFile]));
        expect(started.code).toBe(0);
        expect(started.stderr).toMatch(
          /WARN .*the file system of .*\/\.agentapi is full \(0 bytes free, 4096 needed\): AgentAPI runs, but cannot save the conversation/,
        );
        const status = withoutCrash(
          await inside(BIN, ['status', '--port', String(port), '--pid-file', pidFile]),
        );
        expect(status.stderr + status.stdout).toMatch(/the file system of .*\/\.agentapi is full/);
      } finally {
        rmSync(join(pidFile, '..'), { recursive: true, force: true });
      }
    });

    it('a read-only state folder: start runs AgentAPI all the same, says it cannot save, and keeps its log beside the PID file', async () => {
      const persist = join(home, 'persist');
      expect((await inside('mkdir', ['-p', persist])).code).toBe(0);
      expect((await inside('mount', ['--bind', persist, persist])).code).toBe(0);
      expect((await inside('mount', ['-o', 'remount,bind,ro', persist])).code).toBe(0);
      const started = withoutCrash(await start(['--state-file', join(persist, 'state.json')]));
      expect(started.code, started.stderr).toBe(0);
      expect(started.stderr).toMatch(
        new RegExp(
          `WARN +the state folder ${persist} is not writable \\(read-only file system\\): AgentAPI runs, but cannot save the conversation`,
        ),
      );
      expect(started.stderr).toContain(`log ${home}/.agentapi/agentapi.log`);
      await say(url(), 'still here');
      expect((await inside('umount', [persist])).code).toBe(0);
    });

    it('a read-only home: status names it; checkpoint and shutdown exit 0 with clear refusals', async () => {
      expect(withoutCrash(await start()).code).toBe(0);
      await say(url(), 'hello');
      // A read-only view of it over it (AgentAPI's open log keeps the tmpfs itself from going read-only).
      expect((await inside('mount', ['--bind', home, home])).code).toBe(0);
      expect((await inside('mount', ['-o', 'remount,bind,ro', home])).code).toBe(0);

      const status = withoutCrash(await inside(BIN, ['status', '--port', String(port), '--json']));
      expect(JSON.parse(status.stdout).stateFile.noRoom).toEqual({
        kind: 'read-only',
        detail: `the file system of ${home}/.agentapi is read-only`,
      });
      const tick = withoutCrash(await lifecycle('checkpoint', ['--json']));
      expect(tick.code).toBe(0);
      expect(JSON.parse(tick.stdout)).toMatchObject({ outcome: 'not-saved', save: { outcome: 'read-only' } });
      const stop = withoutCrash(await lifecycle('shutdown', ['--json']));
      expect(stop.code).toBe(0);
      const steps = JSON.parse(stop.stdout).steps as { step: string; outcome: string }[];
      expect(steps.map((s) => s.outcome)).toEqual(['found', 'read-only', 'stored', 'terminated']);
      expect(stop.stderr).toContain('read-only file system');
      // Nothing was saved, and nothing of this leaked out of the namespace.
      expect((await inside('test', ['-e', join(home, '.agentapi', 'state.json')])).code).toBe(1);
      expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(home);
    });
  }),
);
