// What /proc says of a process and what is done to it (proc.ts, signals.ts), with real processes:
// a PID is signalled as AgentAPI only when it is `agentapi server`, ours, and older than its PID
// file; a stop is SIGTERM, a grace, then SIGKILL, each outcome named.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  identifyAgentApi,
  isOurs,
  isRunning,
  isSameProcess,
  looksLikeAgentApiServer,
  type ProcInfo,
  readProc,
} from '../../src/core/process/proc.js';
import { send, stopProcess, waitForExit } from '../../src/core/process/signals.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { killQuietly } from '../support/harness.js';
import { AS_ROOT, itNeeds } from '../support/needs.js';

const dir = mkdtempSync(join(tmpdir(), 'processes-'));
// Another user runs the script too (the root-only test).
chmodSync(dir, 0o755);
/** A script named `agentapi`, run as `/bin/sh …/agentapi server`: what identifyAgentApi looks for. */
const FAKE_AGENTAPI = join(dir, 'agentapi');
writeFileSync(FAKE_AGENTAPI, '#!/bin/sh\ntrap "" TERM\nwhile :; do sleep 0.05; done\n');
chmodSync(FAKE_AGENTAPI, 0o755);

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) killQuietly(child.pid);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function start(command: string, args: string[], options: { uid?: number } = {}): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore', ...options });
  children.push(child);
  return child;
}

/** Until /proc shows `child` running `argv0` (a fresh child is still the forking node for a moment). */
async function started(child: ChildProcess, argv0: string | RegExp): Promise<ProcInfo> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const info = await readProc(child.pid as number);
    if (info?.argv.some((a) => (typeof argv0 === 'string' ? a === argv0 : argv0.test(a)))) return info;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${argv0} did not start`);
}

/** A shell that ignores SIGTERM, once it does. */
async function stubborn(): Promise<ChildProcess> {
  const ready = join(dir, `ready-${children.length}-${Date.now()}`);
  const child = start('sh', ['-c', `trap "" TERM; : > ${ready}; while :; do sleep 0.05; done`]);
  const deadline = Date.now() + 5_000;
  while (!existsSync(ready) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );

describe('readProc', () => {
  it('this process: its argv, state, parent, user, and a start time in the past', async () => {
    const me = await readProc(process.pid);
    expect(me?.pid).toBe(process.pid);
    expect(me?.argv).toEqual(
      process.argv.length ? expect.arrayContaining([process.argv0 ? expect.any(String) : '']) : [],
    );
    expect(me?.argv.at(-1)).not.toBe('');
    expect(me?.ppid).toBe(process.ppid);
    expect(me?.uid).toEqual({ real: process.getuid?.(), effective: process.geteuid?.() });
    expect(me?.state).toMatch(/^[RS]$/);
    expect(me?.startedAtMs).toBeLessThanOrEqual(Date.now());
    expect(me?.startedAtMs).toBeGreaterThan(Date.now() - 24 * 3600_000 * 365);
  });

  it('a child: started about now, its parent this process, its arguments each', async () => {
    const before = Date.now();
    const child = start('sleep', ['30']);
    const info = await started(child, 'sleep');
    expect(info.argv).toEqual(['sleep', '30']);
    expect(info.ppid).toBe(process.pid);
    expect(Math.abs(info.startedAtMs - before)).toBeLessThan(1_000);
  });

  it('a command name holding ") " does not shift the fields after it', async () => {
    const odd = join(dir, 'a) S 1 2 3');
    symlinkSync('/bin/sleep', odd);
    const child = start(odd, ['30']);
    const info = await started(child, odd);
    expect(info.ppid).toBe(process.pid);
    expect(info.state).toMatch(/^[RS]$/);
  });

  it('no such process: undefined', async () => {
    expect(await readProc(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('isRunning, looksLikeAgentApiServer, isOurs', () => {
  const info = (state: string, real = process.geteuid?.() ?? 0, effective = real): ProcInfo => ({
    pid: 1,
    argv: [],
    state,
    ppid: 0,
    startedAtMs: 0,
    uid: { real, effective },
  });

  it.each([
    ['S', true],
    ['R', true],
    ['D', true],
    ['Z', false],
    ['X', false],
  ])('state %s: running %s', (state, running) => {
    expect(isRunning(info(state))).toBe(running);
  });

  it('no process is not running', () => {
    expect(isRunning(undefined)).toBe(false);
  });

  it.each<[string[], boolean]>([
    [['agentapi', 'server'], true],
    [['/usr/local/bin/agentapi', 'server', '--port', '3284'], true],
    [['node', '/opt/agentapi', 'server'], true],
    [['agentapi-lifecycle', 'server'], false],
    [['agentapi', 'attach'], false],
    [['agentapi'], false],
    [['sh', '-c', 'agentapi', 'server'], false],
    [['server', 'agentapi'], false],
    [[], false],
  ])('%j: %s', (argv, expected) => {
    expect(looksLikeAgentApiServer(argv)).toBe(expected);
  });

  it('ours only when both the real and the effective user are us', () => {
    const me = process.geteuid?.() ?? 0;
    expect(isOurs(info('S', me, me))).toBe(true);
    expect(isOurs(info('S', me + 1, me))).toBe(false);
    expect(isOurs(info('S', me, me + 1))).toBe(false);
  });
});

describe('identifyAgentApi: who may be signalled', () => {
  it('this command or its parent: never', async () => {
    expect(await identifyAgentApi(process.pid)).toMatchObject({ ok: false, kind: 'self' });
    expect(await identifyAgentApi(process.ppid)).toMatchObject({
      ok: false,
      kind: 'self',
      reason: `PID ${process.ppid} is this command or its parent, not AgentAPI`,
    });
  });

  it('no such process: a stale PID file', async () => {
    expect(await identifyAgentApi(2 ** 22 + 1)).toEqual({
      ok: false,
      kind: 'not-running',
      reason: `no process ${2 ** 22 + 1} is running (stale PID file)`,
    });
  });

  it('another program: named, its command line cut at 60 characters', async () => {
    const child = start('sleep', ['30', ...Array(40).fill('1')]);
    await started(child, 'sleep');
    const identity = await identifyAgentApi(child.pid as number);
    expect(identity).toMatchObject({ ok: false, kind: 'not-agentapi' });
    const reason = (identity as { reason: string }).reason;
    expect(reason).toBe(
      `PID ${child.pid} is "sleep 30${' 1'.repeat(26)}…", not agentapi server (stale PID file and a reused PID?)`,
    );
    const short = start('sleep', ['31']);
    await started(short, 'sleep');
    expect((await identifyAgentApi(short.pid as number)) as { reason: string }).toMatchObject({
      reason: expect.stringContaining('is "sleep 31", not agentapi'),
    });
  });

  it('agentapi server of ours, older than its PID file: yes', async () => {
    const child = start(FAKE_AGENTAPI, ['server']);
    const info = await started(child, FAKE_AGENTAPI);
    const identity = await identifyAgentApi(child.pid as number, Date.now());
    expect(identity).toEqual({ ok: true, proc: expect.objectContaining({ pid: child.pid }) });
    // Within the slack of a PID file written as it started, too.
    expect((await identifyAgentApi(child.pid as number, info.startedAtMs - 900)).ok).toBe(true);
    expect((await identifyAgentApi(child.pid as number)).ok).toBe(true);
  });

  it('agentapi server that started after its PID file was written: the PID was reused', async () => {
    const child = start(FAKE_AGENTAPI, ['server']);
    const info = await started(child, FAKE_AGENTAPI);
    expect(await identifyAgentApi(child.pid as number, info.startedAtMs - 1_500)).toEqual({
      ok: false,
      kind: 'reused',
      reason: `PID ${child.pid} started after the PID file was written: the PID was reused`,
    });
  });

  itNeeds(AS_ROOT, "another user's agentapi server: never", async () => {
    const child = start(FAKE_AGENTAPI, ['server'], { uid: 65534 });
    await started(child, FAKE_AGENTAPI);
    const identity = await identifyAgentApi(child.pid as number, Date.now());
    expect(identity).toMatchObject({ ok: false, kind: 'other-user' });
    expect((identity as { reason: string }).reason).toBe(
      `PID ${child.pid} is agentapi server of user id 65534, not ours (0): another user's process is never signalled; run this as that user`,
    );
  });

  it('isSameProcess: the same start time, still running', async () => {
    const child = start('sleep', ['30']);
    const info = await started(child, 'sleep');
    expect(await isSameProcess(info)).toBe(true);
    expect(await isSameProcess({ ...info, startedAtMs: info.startedAtMs - 100 })).toBe(false);
    expect(await isSameProcess({ ...info, startedAtMs: info.startedAtMs + 100 })).toBe(false);
    child.kill('SIGKILL');
    await exited(child);
    expect(await isSameProcess(info)).toBe(false);
  });
});

describe('send, waitForExit, stopProcess: tini’s recipe', () => {
  it('send: sent to a live process, gone for one that is not', async () => {
    const child = start('sleep', ['30']);
    await started(child, 'sleep');
    expect(send(child.pid as number, 'SIGTERM')).toBe('sent');
    await exited(child);
    expect(send(2 ** 22 + 1, 'SIGTERM')).toBe('gone');
  });

  it('waitForExit: true once it exits, false at the deadline', async () => {
    const child = start('sleep', ['30']);
    await started(child, 'sleep');
    const started_ = Date.now();
    expect(await waitForExit(child.pid as number, Deadline.in(200))).toBe(false);
    expect(Date.now() - started_).toBeGreaterThanOrEqual(190);
    setTimeout(() => child.kill('SIGTERM'), 50);
    expect(await waitForExit(child.pid as number, Deadline.in(5_000))).toBe(true);
  });

  it('a process that exits at SIGTERM: terminated, without waiting out the grace', async () => {
    const child = start('sleep', ['30']);
    await started(child, 'sleep');
    const before = Date.now();
    expect(await stopProcess(child.pid as number, { graceMs: 5_000, deadline: Deadline.in(10_000) })).toBe(
      'terminated',
    );
    expect(Date.now() - before).toBeLessThan(2_000);
    await exited(child);
    expect(child.signalCode).toBe('SIGTERM');
  });

  it('one that ignores SIGTERM: SIGKILL after the grace, killed', async () => {
    const child = await stubborn();
    const before = Date.now();
    expect(await stopProcess(child.pid as number, { graceMs: 300, deadline: Deadline.in(10_000) })).toBe(
      'killed',
    );
    expect(Date.now() - before).toBeGreaterThanOrEqual(290);
    await exited(child);
    expect(child.signalCode).toBe('SIGKILL');
  });

  it('told not to escalate: survived, still running', async () => {
    const child = await stubborn();
    const outcome = await stopProcess(child.pid as number, {
      graceMs: 200,
      deadline: Deadline.in(10_000),
      escalate: () => false,
    });
    expect(outcome).toBe('survived');
    expect(isRunning(await readProc(child.pid as number))).toBe(true);
  });

  it('told it may escalate: killed', async () => {
    const child = await stubborn();
    const outcome = await stopProcess(child.pid as number, {
      graceMs: 100,
      deadline: Deadline.in(10_000),
      escalate: () => true,
    });
    expect(outcome).toBe('killed');
  });

  it('one gone before the signal: already-gone', async () => {
    const child = start('sleep', ['30']);
    await started(child, 'sleep');
    child.kill('SIGKILL');
    await exited(child);
    expect(await stopProcess(child.pid as number, { graceMs: 100, deadline: Deadline.in(1_000) })).toBe(
      'already-gone',
    );
  });
});
