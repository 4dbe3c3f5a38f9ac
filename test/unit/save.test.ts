// Saving AgentAPI's state (save.ts): whether SIGUSR1 is sent, which file confirms the save, and
// what a wait for it ends with, against real processes (fake agentapi servers that take SIGUSR1
// and live) and real files.

import type { ChildProcess } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Located } from '../../src/core/agentapi/agentapi-process.js';
import {
  describeStamp,
  finishSave,
  noteMessages,
  type PendingSave,
  startSave,
} from '../../src/core/agentapi/save.js';
import { stampOf } from '../../src/core/agentapi/state-file.js';
import { PID_MAX } from '../../src/core/process/pid-file.js';
import { type ProcInfo, readProc } from '../../src/core/process/proc.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { Logger } from '../../src/core/utils/log.js';
import { startFakeAgentApi } from '../support/fake-holder.js';
import { killQuietly, type Workdir, workdir } from '../support/harness.js';

let work: Workdir;
let started: ChildProcess[];
let lines: string[];
const logger = () =>
  new Logger({ write: (line) => lines.push(line.replace(/^\S+ /, '').trimEnd()), verbose: true });

beforeEach(async () => {
  work = await workdir();
  started = [];
  lines = [];
});

afterEach(async () => {
  for (const child of started) killQuietly(child.pid);
  await work.cleanup();
});

/** A fake AgentAPI started with `args` and `env`, as save would find it. */
async function located(args: string[], env: Record<string, string> = {}): Promise<Located> {
  const child = await startFakeAgentApi(work.dir, args, { env });
  started.push(child);
  const proc = (await readProc(child.pid as number)) as ProcInfo;
  return { pid: proc.pid, proc, via: 'pid-file' };
}

/** An AgentAPI that holds a persistence flag but whose /proc entries are gone. */
const vanished: Located = {
  pid: PID_MAX + 1,
  proc: {
    pid: PID_MAX + 1,
    argv: ['agentapi', 'server', '--pid-file', '/p.pid'],
    state: 'S',
    ppid: 1,
    startedAtMs: 0,
    uid: { real: process.geteuid?.() ?? 0, effective: process.geteuid?.() ?? 0 },
  },
  via: 'pid-file',
};

describe('startSave: whether SIGUSR1 is sent, and which file confirms it', () => {
  it('an AgentAPI whose version cannot be learned is not signalled', async () => {
    const found = await located([]);
    expect(await startSave(found, { statePersistence: true, logger: logger() })).toEqual({
      version: undefined,
      supportsPersistence: undefined,
      result: {
        status: 'skipped',
        outcome: 'version-unknown',
        detail: 'not sending SIGUSR1: its executable is not named agentapi, so its version is unknown',
      },
    });
  });

  it('an AgentAPI without a state file needs no save, whatever --state-file says', async () => {
    const found = await located(['--pid-file', join(work.dir, 'a.pid')]);
    const start = await startSave(found, {
      statePersistence: true,
      stateFile: work.stateFile,
      logger: logger(),
    });
    expect(start).toEqual({
      version: undefined,
      supportsPersistence: true,
      result: { status: 'skipped', outcome: 'no-state-file', detail: 'AgentAPI runs without --state-file' },
    });
  });

  it("AgentAPI's own state file confirms the save; a different --state-file is said and not used", async () => {
    const own = join(work.dir, 'own.json');
    writeFileSync(own, '{"version":1}');
    const found = await located(['--pid-file', join(work.dir, 'a.pid')], { AGENTAPI_STATE_FILE: own });
    const start = await startSave(found, {
      statePersistence: true,
      stateFile: work.stateFile,
      logger: logger(),
    });
    expect(start).toEqual({
      version: undefined,
      supportsPersistence: true,
      pending: { stateFile: own, before: await stampOf(own) },
    });
    expect(lines).toContain(
      `WARN  --state-file ${work.stateFile} is not the file AgentAPI writes (${own}); confirming the save by ${own}`,
    );
    // The same file given: nothing to say.
    lines = [];
    await startSave(found, { statePersistence: true, stateFile: own, logger: logger() });
    expect(lines.filter((l) => l.startsWith('WARN'))).toEqual([]);
  });

  it("when AgentAPI's environment cannot be read: --state-file, else a failure that says to pass it", async () => {
    const given = await startSave(vanished, {
      statePersistence: true,
      stateFile: work.stateFile,
      logger: logger(),
    });
    expect(given.result).toEqual({
      status: 'failed',
      outcome: 'gone',
      detail: 'AgentAPI exited before the save',
    });
    expect(lines).toContain(`DEBUG save: before SIGUSR1, ${work.stateFile} does not exist`);

    const none = await startSave(vanished, { statePersistence: true, logger: logger() });
    expect(none.result).toEqual({
      status: 'failed',
      outcome: 'state-file-unknown',
      detail: `cannot read PID ${PID_MAX + 1}'s environment, so the save cannot be confirmed; pass --state-file`,
    });
  });
});

describe('noteMessages: what /messages shows ends the wait early, or not', () => {
  const pending = (mtimeMs: number): PendingSave => ({
    stateFile: '/s.json',
    before: { ino: 1, size: 2, mtimeMs },
  });

  it.each([
    { case: 'no messages', pending: pending(1_000), seen: { total: 0 }, at: 'once' },
    { case: 'no messages, no file', pending: undefined, seen: { total: 0 }, at: 'once' },
    {
      case: 'a file newer than the newest message',
      pending: pending(1_000),
      seen: { total: 3, newestMs: 999 },
      at: 'once',
    },
    { case: 'within a tick of it', pending: pending(1_000), seen: { total: 3, newestMs: 1_005 }, at: 'soon' },
    { case: 'older than it', pending: pending(1_000), seen: { total: 3, newestMs: 1_011 }, at: 'never' },
    {
      case: 'no file yet',
      pending: { stateFile: '/s.json', before: undefined },
      seen: { total: 3, newestMs: 1 },
      at: 'never',
    },
    { case: 'no time on the newest', pending: pending(1_000), seen: { total: 3 }, at: 'never' },
  ])('$case: $at', async ({ pending, seen, at }) => {
    const upToDate = new AbortController();
    noteMessages(pending, seen, upToDate);
    expect(upToDate.signal.aborted).toBe(at === 'once');
    if (at === 'once') return;
    await new Promise((r) => setTimeout(r, 400));
    expect(upToDate.signal.aborted).toBe(at === 'soon');
  });
});

describe('finishSave: what the wait ends with', () => {
  const wait = (p: PendingSave, ms: number, upToDate = new AbortController()) =>
    finishSave(p, Deadline.in(ms), upToDate.signal, logger());

  it('the file replaced: confirmed, with its size', async () => {
    writeFileSync(work.pidFile, 'old');
    const p = { stateFile: work.pidFile, before: await stampOf(work.pidFile) };
    setTimeout(() => {
      writeFileSync(`${work.pidFile}.tmp`, 'newer');
      renameSync(`${work.pidFile}.tmp`, work.pidFile);
    }, 50);
    expect(await wait(p, 5_000)).toEqual({
      status: 'ok',
      outcome: 'confirmed',
      detail: `${work.pidFile} replaced (5 bytes)`,
    });
    expect(lines).toEqual([
      `DEBUG save: after waiting, ${describeStamp(work.pidFile, await stampOf(work.pidFile))}`,
    ]);
  });

  it('known to be current: up to date, without waiting for the deadline', async () => {
    const upToDate = new AbortController();
    upToDate.abort();
    const started = Date.now();
    const p = { stateFile: join(work.dir, 'none.json'), before: undefined };
    expect(await wait(p, 5_000, upToDate)).toMatchObject({ status: 'ok', outcome: 'up-to-date' });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(lines).toEqual([`DEBUG save: after waiting, ${p.stateFile} does not exist`]);
  });

  it('neither by the deadline: unconfirmed', async () => {
    writeFileSync(work.pidFile, 'old');
    const p = { stateFile: work.pidFile, before: await stampOf(work.pidFile) };
    expect(await wait(p, 100)).toEqual({
      status: 'failed',
      outcome: 'unconfirmed',
      detail: `${work.pidFile} was not replaced in time`,
    });
    expect(lines).toEqual([`DEBUG save: after waiting, ${describeStamp(work.pidFile, p.before)}`]);
  });
});

describe('describeStamp', () => {
  it('says where, which inode, how large and when', () => {
    expect(describeStamp('/s.json', { ino: 7, size: 12, mtimeMs: Date.UTC(2026, 11, 6, 10) })).toBe(
      '/s.json: inode 7, 12 bytes, modified 2026-12-06T10:00:00.000Z',
    );
    expect(describeStamp('/s.json', undefined)).toBe('/s.json does not exist');
  });
});
