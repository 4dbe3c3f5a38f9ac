// Running AgentAPI detached (supervise.ts), in-process with the simulator: started in a session of
// its own with its output in the log, ready after a streak of answers, an early exit reported at
// once, a failed detach cleaned up, and the log's tail of this run only.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  childrenOf,
  identifiedPid,
  spawnDetached,
  stopGroup,
  tail,
  waitUntilReady,
} from '../../src/core/agentapi/supervise.js';
import { readProc } from '../../src/core/process/proc.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { alive, freePort, killQuietly, startBystander } from '../support/harness.js';
import { inprocessWorld } from '../support/inprocess.js';
import { serve } from '../support/loopback.js';
import { SIM } from '../support/paths.js';

const w = inprocessWorld();

async function detach(port: number, env: Record<string, string> = {}) {
  const log = join(w.work.dir, 'agentapi.log');
  const args = ['server', '--port', String(port), '--pid-file', w.work.pidFile, '--', 'claude'];
  const started = await spawnDetached(SIM, args, { PATH: process.env.PATH, ...env }, log, w.work.dir);
  if (started instanceof Error) throw started;
  w.pids.push(started.child.pid as number);
  return started;
}

describe('spawnDetached and waitUntilReady', () => {
  it('a new session, output to the log after what was there; ready after the streak', async () => {
    const log = join(w.work.dir, 'agentapi.log');
    writeFileSync(log, 'an earlier run\n');
    const port = await freePort();
    const { child, log: target } = await detach(port);
    expect(target).toEqual({ file: log, offset: 'an earlier run\n'.length });
    const proc = await readProc(child.pid as number);
    const sid = Number(readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]);
    expect(sid).toBe(child.pid);
    expect(proc?.ppid).toBe(process.pid);
    const started = Date.now();
    expect(await waitUntilReady(child, port, Deadline.in(10_000), 3)).toEqual({ ready: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await identifiedPid(w.work.pidFile)).toBe(child.pid);
  });

  it('an AgentAPI that exits during start-up: said at once, with how it exited', async () => {
    const port = await freePort();
    const log = join(w.work.dir, 'agentapi.log');
    const started = await spawnDetached(SIM, ['server', '--bogus'], { PATH: process.env.PATH ?? '' }, log);
    if (started instanceof Error) throw started;
    const before = Date.now();
    const readiness = await waitUntilReady(started.child, port, Deadline.in(20_000));
    expect(readiness).toEqual({ ready: false, exit: { code: expect.any(Number), signal: null } });
    expect((readiness as { exit: { code: number } }).exit.code).not.toBe(0);
    expect(Date.now() - before).toBeLessThan(5_000);
    expect((await tail(started.log, 5)).join('\n')).toMatch(/bogus|unknown/i);
  });

  it('one that already exited before anyone listened counts too', async () => {
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    expect(await waitUntilReady(child, await freePort(), Deadline.in(5_000))).toEqual({
      ready: false,
      exit: { code: 0, signal: null },
    });
  });

  it('nothing answering by the deadline: not ready, no exit', async () => {
    const child = spawn('sleep', ['30']);
    w.pids.push(child.pid as number);
    const before = Date.now();
    expect(await waitUntilReady(child, await freePort(), Deadline.in(400))).toEqual({ ready: false });
    expect(Date.now() - before).toBeLessThan(2_000);
  });

  it('ready takes the whole streak in a row: an answer that fails starts it again', async () => {
    // /status answers 200 to every other request.
    let requests = 0;
    const flaky = await serve((_, res) => {
      requests++;
      const ok = requests % 2 === 1;
      res
        .writeHead(ok ? 200 : 500, { 'content-type': 'application/json' })
        .end(ok ? '{"status":"stable"}' : '{}');
    });
    try {
      const port = Number(new URL(flaky.url).port);
      const child = spawn('sleep', ['30']);
      w.pids.push(child.pid as number);
      expect(await waitUntilReady(child, port, Deadline.in(600), 2)).toEqual({ ready: false });
      expect(requests).toBeGreaterThanOrEqual(3);
      // One answer is a streak of one.
      requests = 0;
      expect(await waitUntilReady(child, port, Deadline.in(5_000), 1)).toEqual({ ready: true });
      expect(requests).toBe(1);
    } finally {
      await flaky.close();
    }
  });

  it('a program that cannot be run: an error, not a child', async () => {
    const result = await spawnDetached(join(w.work.dir, 'missing'), [], {}, join(w.work.dir, 'log'));
    expect(result).toBeInstanceOf(Error);
    expect(String(result)).toMatch(/ENOENT/);
  });
});

describe('stopGroup, identifiedPid, childrenOf, tail', () => {
  it('stopGroup: SIGTERM to the whole group; SIGKILL for one that lingers', async () => {
    const port = await freePort();
    const { child } = await detach(port, { AGENTAPI_SIM_IGNORE_SIGTERM: '1' });
    await waitUntilReady(child, port, Deadline.in(10_000));
    const before = Date.now();
    await stopGroup(child);
    await new Promise((r) => (child.exitCode !== null || child.signalCode ? r(null) : child.once('exit', r)));
    expect(child.signalCode).toBe('SIGKILL');
    expect(Date.now() - before).toBeGreaterThanOrEqual(2_500);
    // A group already gone: nothing to do, no error.
    await expect(stopGroup(child)).resolves.toBeUndefined();
  });

  it("stopGroup: the group's other processes too, not only its leader", async () => {
    const log = join(w.work.dir, 'group.log');
    const started = await spawnDetached(
      'sh',
      ['-c', 'sleep 30 & sleep 30 & wait'],
      { PATH: process.env.PATH },
      log,
    );
    if (started instanceof Error) throw started;
    const leader = started.child.pid as number;
    w.pids.push(leader);
    let members: number[] = [];
    for (let i = 0; i < 100 && members.length < 2; i++) {
      members = await childrenOf(leader);
      await new Promise((r) => setTimeout(r, 20));
    }
    w.pids.push(...members);
    expect(members).toHaveLength(2);
    await stopGroup(started.child);
    for (let i = 0; i < 100 && members.some(alive); i++) await new Promise((r) => setTimeout(r, 20));
    expect(members.filter(alive)).toEqual([]);
  });

  it('identifiedPid: only a running agentapi server', async () => {
    expect(await identifiedPid(w.work.pidFile)).toBeUndefined();
    const bystander = startBystander();
    w.pids.push(bystander.pid as number);
    writeFileSync(w.work.pidFile, `${bystander.pid}\n`);
    expect(await identifiedPid(w.work.pidFile)).toBeUndefined();
  });

  it('childrenOf: the children /proc lists, none for a process without', async () => {
    const parent = spawn('sh', ['-c', 'sleep 30 & sleep 30 & wait']);
    w.pids.push(parent.pid as number);
    let kids: number[] = [];
    for (let i = 0; i < 100 && kids.length < 2; i++) {
      kids = await childrenOf(parent.pid as number);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(kids).toHaveLength(2);
    for (const kid of kids) {
      expect(alive(kid)).toBe(true);
      killQuietly(kid);
    }
    expect(await childrenOf(2 ** 22 + 7)).toEqual([]);
  });

  it('tail: this run’s last lines only; nothing written, or no log, said', async () => {
    const file = join(w.work.dir, 'run.log');
    writeFileSync(file, 'old 1\nold 2\n');
    const offset = 12;
    expect(await tail({ file, offset }, 3)).toEqual(['(nothing written)']);
    writeFileSync(file, 'old 1\nold 2\nnew 1\nnew 2\nnew 3\nnew 4\n');
    expect(await tail({ file, offset }, 3)).toEqual(['new 2', 'new 3', 'new 4']);
    expect(await tail({ file, offset }, 10)).toEqual(['new 1', 'new 2', 'new 3', 'new 4']);
    expect(await tail({ file: join(w.work.dir, 'none.log'), offset: 0 }, 3)).toEqual(['(no log)']);
    // A log larger than the 64 KiB read: the offset still counts from the file's start.
    writeFileSync(file, `${'x'.repeat(100_000)}\nlast\n`);
    expect(await tail({ file, offset: 10 }, 1)).toEqual(['last']);
    expect(await tail({ file, offset: 100_001 }, 5)).toEqual(['last']);
  });
});
