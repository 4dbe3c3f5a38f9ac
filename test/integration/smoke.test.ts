// `smoke`: pause and resume proven in an image, with the real AgentAPI (0.12 passes, 0.11 fails with
// the upgrade hint) and the simulator, each failure named with what to do, and nothing left behind
// on success, failure, SIGINT or SIGTERM.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, type RunResult, run, type Workdir, waitFor, workdir } from '../support/harness.js';
import { itNeeds, NOT_AS_ROOT, peerNeed } from '../support/needs.js';
import { BIN, OLD_SIM, SIM } from '../support/paths.js';
import { peer } from '../support/peers.js';

interface SmokeReport {
  ok: boolean;
  verdict: string;
  agentapiVersion?: string;
  stages: { stage: string; ok: boolean; ms: number; detail: string }[];
}

let work: Workdir;
let blocker: Server | undefined;
beforeEach(async () => {
  work = await workdir();
});
afterEach(async () => {
  await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  blocker = undefined;
  await work.cleanup();
});

/** The smoke test's folders are made under this test's own folder. */
const parent = () => join(work.dir, 'smoke');

/** `smoke` in this test's folder, with --json unless `json` is false. */
function smoke(args: string[] = [], json = true): Promise<RunResult> {
  mkdirSync(parent(), { recursive: true });
  return run(['smoke', ...(json ? ['--json'] : []), '--dir', parent(), ...args], { killAfterMs: 90_000 });
}

const reportOf = (result: RunResult): SmokeReport => JSON.parse(result.stdout);

/** Processes whose command line mentions `dir`: AgentAPI, with its files in a smoke folder there. */
function processesUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (/^[^)]*\) Z/.test(stat)) return false;
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Nothing left: no folder, no process of the run. */
function expectNothingLeft(): void {
  expect(readdirSync(parent())).toEqual([]);
  expect(processesUsing(smokeFolders())).toEqual([]);
}

/** The smoke folders' common prefix (the smoke command itself only names their parent). */
const smokeFolders = () => join(parent(), 'agentapi-lifecycle-smoke-');

const STAGES = [
  'agentapi',
  'folder',
  'port',
  'start',
  'message',
  'shutdown',
  'snapshot',
  'restart',
  'restore',
  'stop',
];

describe('smoke: every stage passes, and nothing is left', () => {
  const real = peer('agentapi');
  itNeeds(peerNeed(real), `with ${real.title}`, async () => {
    const result = await smoke(['--agentapi-bin', real.installed ? real.path : '']);
    const report = reportOf(result);
    expect(result.code, result.stderr).toBe(0);
    expect(report.stages.map((s) => [s.stage, s.ok])).toEqual(STAGES.map((s) => [s, true]));
    expect(report.agentapiVersion).toBe(real.version.replace(/^v/, ''));
    expect(report.verdict).toMatch(/^pause and resume work/);
    expectNothingLeft();
  });

  it('with the simulator', async () => {
    const result = await smoke(['--agentapi-bin', SIM]);
    expect(result.code, result.stderr).toBe(0);
    expect(reportOf(result).stages.every((s) => s.ok)).toBe(true);
    expectNothingLeft();
  });

  it('without --json: one line a stage, and the verdict', async () => {
    mkdirSync(parent(), { recursive: true });
    const result = await run(['smoke', '--dir', parent(), '--agentapi-bin', SIM]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      ...STAGES.map((s) => `ok ${s}`),
      'PASSED in',
    ]);
  });
});

describe('smoke: each failure is named with what to do, and nothing is left', () => {
  const old = peer('agentapi-0.11');

  itNeeds(peerNeed(old), `${old.title}: too old, with the upgrade hint`, async () => {
    if (!old.installed) throw new Error(`${old.missing}; CI=true runs every real-peer test`);
    const result = await smoke(['--agentapi-bin', old.path]);
    expect(result.code).toBe(1);
    expect(reportOf(result).verdict).toBe(
      'agentapi: AgentAPI 0.11.8 is too old for state persistence (0.12.0): upgrade it (the module downloads v0.12.2); until then a pause loses the conversation',
    );
    expectNothingLeft();
  });

  it.each([
    [
      'the simulator as 0.11.2',
      () => [OLD_SIM],
      /AgentAPI 0\.11\.2 is too old for state persistence \(0\.12\.0\): upgrade it/,
    ],
    [
      'AgentAPI missing',
      () => ['/nonexistent/agentapi'],
      /\/nonexistent\/agentapi was not found: install AgentAPI 0\.12\.0 or newer \(https:\/\/github\.com\/coder\/agentapi\/releases\) on PATH, or give its path with --agentapi-bin$/,
    ],
  ])('%s', async (_, bin, verdict) => {
    const result = await smoke(['--agentapi-bin', ...bin()]);
    expect(result.code).toBe(1);
    const report = reportOf(result);
    expect(report.verdict).toMatch(verdict);
    expect(report.stages.map((s) => s.ok)).toEqual([false]);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expectNothingLeft();
    // What to do is said once, whatever is shown.
    const text = await smoke(['--agentapi-bin', ...bin()], false);
    expect(`${text.stdout}${text.stderr}`.split(report.stages[0].detail).length - 1).toBe(1);
  });

  itNeeds(NOT_AS_ROOT, 'a folder that is not writable (mode 0500)', async () => {
    mkdirSync(parent(), { recursive: true });
    chmodSync(parent(), 0o500);
    const report = reportOf(await smoke(['--agentapi-bin', SIM]));
    chmodSync(parent(), 0o700);
    expect(report.verdict).toMatch(/^folder: cannot make a folder in .*: the state folder must be writable$/);
  });

  it('a folder that not even root can write (/proc)', async () => {
    const report = reportOf(await run(['smoke', '--json', '--dir', '/proc', '--agentapi-bin', SIM]));
    expect(report.verdict).toMatch(
      /^folder: cannot make a folder in \/proc .*: the state folder must be writable$/,
    );
  });

  it('a folder that does not exist', async () => {
    const result = await run(['smoke', '--json', '--dir', join(work.dir, 'nope'), '--agentapi-bin', SIM]);
    expect(reportOf(result).verdict).toMatch(
      /^folder: cannot make a folder in .*nope .*: the state folder must be writable$/,
    );
  });

  it('the port taken', async () => {
    const server = createServer();
    blocker = server;
    const port = await new Promise<number>((resolve) =>
      server.listen(0, () => resolve((server.address() as { port: number }).port)),
    );
    const report = reportOf(await smoke(['--agentapi-bin', SIM, '--port', String(port)]));
    expect(report.verdict).toBe(
      `port: port ${port} is already in use (another AgentAPI?): give smoke another --port, or none for a free one`,
    );
    expectNothingLeft();
  });

  it('a restore that loses the message (an AgentAPI that saves but never loads)', async () => {
    // A wrapper named agentapi that drops --load-state: it saves on the stop, loads nothing after.
    const bin = join(work.dir, 'forgetful', 'agentapi');
    mkdirSync(join(work.dir, 'forgetful'));
    writeFileSync(
      bin,
      `#!/bin/sh\nfor a in "$@"; do shift; [ "$a" = --load-state ] && a=--load-state=false; set -- "$@" "$a"; done\nexec ${SIM} "$@"\n`,
      { mode: 0o755 },
    );
    const result = await smoke(['--agentapi-bin', bin]);
    const report = reportOf(result);
    expect(result.code).toBe(1);
    expect(report.stages.map((s) => s.stage).slice(-1)).toEqual(['restore']);
    expect(report.verdict).toMatch(
      /^restore: the conversation did not come back: "smoke-[0-9a-f]+" is not in \/messages after --load-state; restore lost the message$/,
    );
    expectNothingLeft();
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s mid-way: it stops, cleans up and exits 1', async (signal) => {
    mkdirSync(parent(), { recursive: true });
    let child: ChildProcess | undefined;
    const done = new Promise<RunResult>((resolve) => {
      child = spawn(BIN, ['smoke', '--json', '--dir', parent(), '--agentapi-bin', SIM], {
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d) => (stdout += d));
      child.stderr?.on('data', (d) => (stderr += d));
      child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr, ms: 0 }));
    });
    // Once AgentAPI runs in its folder, interrupt.
    await waitFor(() => processesUsing(smokeFolders()).length > 0, 20_000);
    child?.kill(signal);
    const result = await done;
    expect(result.code).toBe(1);
    expect(reportOf(result).verdict).toMatch(/interrupted/);
    await waitFor(() => processesUsing(smokeFolders()).length === 0, 5000);
    expectNothingLeft();
  });
});
