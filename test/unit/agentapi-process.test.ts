// Finding AgentAPI and reading what it was started with (agentapi-process.ts), against real
// processes and the real /proc: fake `agentapi server` processes (node under a link named agentapi;
// they bind nothing, so several can claim one port) and the simulator where its executable matters.

import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  configuredPort,
  configuredStateFile,
  flagValue,
  hasFlag,
  locateAgentApi,
  persistenceSupport,
  runningVersion,
  scanForAgentApi,
  stateFileOf,
} from '../../src/core/agentapi/agentapi-process.js';
import { PID_MAX } from '../../src/core/process/pid-file.js';
import { type ProcInfo, readProc } from '../../src/core/process/proc.js';
import { startFakeAgentApi } from '../support/fake-holder.js';
import { freePort, killQuietly, type Sim, startSim, type Workdir, workdir } from '../support/harness.js';
import { AS_ROOT, itNeeds } from '../support/needs.js';
import { SIM } from '../support/paths.js';

/** Another user: nobody. */
const NOBODY = 65_534;

let work: Workdir;
let started: ChildProcess[];
let sims: Sim[];

beforeEach(async () => {
  work = await workdir();
  // Open to all, so that a fake run as another user can read its script.
  chmodSync(work.dir, 0o755);
  started = [];
  sims = [];
});

afterEach(async () => {
  vi.unstubAllEnvs();
  for (const child of started) killQuietly(child.pid);
  for (const sim of sims) await sim.stop();
  await work.cleanup();
});

async function fake(args: readonly string[], options: Parameters<typeof startFakeAgentApi>[2] = {}) {
  const child = await startFakeAgentApi(work.dir, args, options);
  started.push(child);
  return child.pid as number;
}

async function procOf(pid: number): Promise<ProcInfo> {
  const proc = await readProc(pid);
  if (!proc) throw new Error(`PID ${pid} is gone`);
  return proc;
}

/** The simulator, without persistence flags (so its executable is asked), from `binary`. */
async function simFrom(binary = SIM): Promise<ProcInfo> {
  const sim = await startSim({ work, binary, pidFile: false, stateFile: false });
  sims.push(sim);
  return procOf(sim.pid);
}

/** A copy of the simulator at <work>/<folder>/agentapi with `mode`. */
function simCopy(folder: string, mode: number): string {
  mkdirSync(join(work.dir, folder), { mode: 0o755 });
  const copy = join(work.dir, folder, 'agentapi');
  copyFileSync(SIM, copy);
  chmodSync(copy, mode);
  return copy;
}

describe('flagValue and hasFlag: the server flags, before --', () => {
  const server = ['agentapi', 'server'];
  it.each([
    { argv: [...server, '--port', '3000'], value: '3000' },
    { argv: [...server, '--port=3001'], value: '3001' },
    { argv: [...server, '-p', '3002'], value: '3002' },
    { argv: [...server, '--type', 'claude', '--port'], value: undefined },
    { argv: [...server, '--', 'claude', '--port', '3003'], value: undefined },
    { argv: [...server, '--type', 'claude'], value: undefined },
  ])('flagValue($argv) is $value', ({ argv, value }) => {
    expect(flagValue(argv, ['--port', '-p'])).toBe(value);
  });

  const persistence = ['--state-file', '-s', '--pid-file'];
  it.each([
    { argv: [...server, '--pid-file', '/p.pid'], has: true },
    { argv: [...server, '--state-file=/s.json'], has: true },
    { argv: [...server, '-s', '/s.json', '--', 'claude'], has: true },
    { argv: [...server, '--', 'claude', '--state-file', '/s.json'], has: false },
    { argv: [...server, '--state-filex', '/s.json'], has: false },
    { argv: [...server, '--port', '1'], has: false },
    { argv: [], has: false },
  ])('hasFlag($argv) is $has', ({ argv, has }) => {
    expect(hasFlag(argv, persistence)).toBe(has);
  });
});

describe('configuredPort: the flag, else AGENTAPI_PORT in its environment, else 3284', () => {
  it.each<{ args: string[]; env: Record<string, string>; port: number }>([
    { args: ['--port', '4100'], env: { AGENTAPI_PORT: '4999' }, port: 4100 },
    { args: ['--port=4101'], env: {}, port: 4101 },
    { args: [], env: { A: 'x=y', AGENTAPI_PORT: '4102', B: '' }, port: 4102 },
    { args: ['--', 'claude', '--port', '4103'], env: {}, port: 3284 },
    { args: [], env: { AGENTAPI_PORTS: '4104' }, port: 3284 },
  ])('agentapi server $args with $env: $port', async ({ args, env, port }) => {
    expect(await configuredPort(await procOf(await fake(args, { env })))).toBe(port);
  });
});

describe('configuredPort of a process that is gone', () => {
  it('the default, not an error', async () => {
    const gone = { pid: PID_MAX + 1, argv: ['agentapi', 'server'] } as ProcInfo;
    expect(await configuredPort(gone)).toBe(3284);
  });
});

describe('configuredStateFile', () => {
  it('an absolute flag needs nothing else of the process', async () => {
    const gone = {
      pid: PID_MAX + 1,
      argv: ['agentapi', 'server', '--state-file', '/data/s.json'],
    } as ProcInfo;
    expect(await configuredStateFile(gone)).toEqual({ kind: 'set', path: '/data/s.json' });
  });

  it("stateFileOf: AgentAPI's own, else the one given", async () => {
    const own = join(work.dir, 'own.json');
    const withOwn = await procOf(await fake([], { env: { AGENTAPI_STATE_FILE: own } }));
    const without = await procOf(await fake([]));
    const located = (proc: ProcInfo) => ({ pid: proc.pid, proc, via: 'pid-file' as const });
    expect(await stateFileOf(located(withOwn), { stateFile: '/given.json' })).toBe(own);
    expect(await stateFileOf(located(without), { stateFile: '/given.json' })).toBe('/given.json');
    expect(await stateFileOf(located(without), {})).toBeUndefined();
  });

  it("a relative AGENTAPI_STATE_FILE is made absolute against the process's working directory", async () => {
    const pid = await fake([], { env: { AGENTAPI_STATE_FILE: 'state/a=b.json' } });
    expect(await configuredStateFile(await procOf(pid))).toEqual({
      kind: 'set',
      path: join(work.dir, 'state/a=b.json'),
    });
  });

  it('a relative flag of a process whose working directory cannot be read: it cannot tell', async () => {
    const gone = { pid: PID_MAX + 1, argv: ['agentapi', 'server', '-s', 'rel.json'] } as ProcInfo;
    expect(await configuredStateFile(gone)).toEqual({
      kind: 'unknown',
      reason: `cannot read PID ${PID_MAX + 1}'s working directory`,
    });
  });
});

describe('scanForAgentApi: our agentapi servers on a port', () => {
  it('finds each of ours configured for the port, and nothing else', async () => {
    const port = await freePort();
    const byFlag = await fake(['--port', String(port)]);
    const byEnv = await fake([], { env: { AGENTAPI_PORT: String(port) } });
    await fake(['--port', String(port + 1)]);
    await fake(['--', 'claude', '--port', String(port)]);
    const found = (await scanForAgentApi(port)).map((p) => p.pid);
    expect(found.sort()).toEqual([byFlag, byEnv].sort());
  });

  it('not a process named agentapi that is not a server', async () => {
    const port = await freePort();
    writeFileSync(join(work.dir, 'attach'), 'setInterval(() => {}, 1000);\n');
    await fake(['--port', String(port)]);
    const attach = spawn(join(work.dir, 'agentapi'), ['attach', '--port', String(port)], {
      cwd: work.dir,
      stdio: 'ignore',
      env: {},
    });
    started.push(attach);
    await vi.waitFor(async () => expect((await procOf(attach.pid as number)).argv[1]).toBe('attach'));
    expect((await scanForAgentApi(port)).map((p) => p.pid)).not.toContain(attach.pid);
  });

  it('not a process of ours that is not agentapi, though without --port it is "on" the default port', async () => {
    const bystander = spawn('sleep', ['300'], { stdio: 'ignore' });
    started.push(bystander);
    await vi.waitFor(async () => expect((await procOf(bystander.pid as number)).argv[0]).toBe('sleep'));
    expect(await configuredPort(await procOf(bystander.pid as number))).toBe(3284);
    expect((await scanForAgentApi(3284)).map((p) => p.pid)).not.toContain(bystander.pid);
  });

  itNeeds(AS_ROOT, "not another user's, which is never signalled", async () => {
    const port = await freePort();
    const theirs = await fake(['--port', String(port)], { uid: NOBODY });
    expect((await procOf(theirs)).uid.real).toBe(NOBODY);
    expect(await scanForAgentApi(port)).toEqual([]);
  });
});

describe('locateAgentApi', () => {
  const missing = () => join(work.dir, 'missing.pid');

  it('through its PID file', async () => {
    const pid = await fake(['--port', '1']);
    writeFileSync(work.pidFile, `${pid}\n`);
    const result = await locateAgentApi(work.pidFile, 2);
    expect(result).toMatchObject({ ok: true, found: { pid, via: 'pid-file' }, pidFile: { state: 'ok' } });
  });

  it("no PID file: the old default's, said as such, and what it holds decides", async () => {
    const old = join(work.dir, 'old.pid');
    const pid = await fake([]);
    writeFileSync(old, `${pid}\n`);
    const traced: string[] = [];
    const result = await locateAgentApi(missing(), 1, { oldDefault: old, trace: (l) => traced.push(l) });
    expect(result).toMatchObject({ ok: true, found: { pid, via: 'pid-file' }, pidFile: { path: old } });
    expect(traced).toEqual([
      `no PID file at ${missing()}; reading ${old}, the default of 0.1.x (an AgentAPI it started)`,
    ]);

    writeFileSync(old, 'soon\n');
    expect(await locateAgentApi(missing(), 1, { oldDefault: old })).toEqual({
      ok: false,
      kind: 'invalid-pid-file',
      pidFile: { state: 'invalid', path: old, reason: '"soon" is not a decimal process id' },
      reason: `PID file ${old} is invalid: "soon" is not a decimal process id`,
    });
  });

  it('no PID file: the one agentapi server on the port, found by its port', async () => {
    const port = await freePort();
    const pid = await fake(['--port', String(port)]);
    const result = await locateAgentApi(missing(), port, { trace: () => {} });
    expect(result).toMatchObject({
      ok: true,
      found: { pid, via: 'process-scan', proc: { pid } },
      pidFile: { state: 'missing', path: missing() },
    });
  });

  it('no PID file and none on the port: not running, said with both', async () => {
    const port = await freePort();
    await fake(['--port', String(port + 1)]);
    expect(await locateAgentApi(missing(), port)).toEqual({
      ok: false,
      kind: 'not-running',
      pidFile: { state: 'missing', path: missing() },
      reason: `no PID file at ${missing()} and no agentapi server on port ${port}`,
    });
  });

  it('no PID file and two on the port: ambiguous, never a guess', async () => {
    const port = await freePort();
    const pids = [await fake(['--port', String(port)]), await fake(['--port', String(port)])];
    const result = await locateAgentApi(missing(), port);
    expect(result).toMatchObject({ ok: false, kind: 'ambiguous', pidFile: { state: 'missing' } });
    const reason = result.ok ? '' : result.reason;
    const listed =
      /^no PID file at (.+) and 2 agentapi servers on port (\d+) \(PIDs (\d+), (\d+)\); not guessing$/.exec(
        reason,
      );
    expect(listed?.slice(1, 3)).toEqual([missing(), String(port)]);
    expect(listed?.slice(3).map(Number).sort()).toEqual(pids.sort());
  });
});

describe('persistenceSupport and runningVersion: whether SIGUSR1 saves', () => {
  it.each([
    ['--state-file', '/s.json'],
    ['-s', '/s.json'],
    ['--pid-file=/p.pid'],
    ['--load-state'],
    ['--save-state'],
  ])('its persistence flag (%s) is proof, and nothing is run to ask', async (...args) => {
    const proc = await procOf(await fake(args));
    expect(await persistenceSupport(proc)).toEqual({
      supportsPersistence: true,
      evidence: 'started with persistence flags, which an AgentAPI without the SIGUSR1 handler refuses',
    });
  });

  it('without the flags, its executable is asked', async () => {
    const proc = await simFrom();
    expect(await persistenceSupport(proc)).toEqual({
      raw: '0.12.1',
      version: '0.12.1',
      supportsPersistence: true,
      evidence: 'agentapi --version says 0.12.1',
    });
  });

  it('a version that cannot be compared is said, and support stays unknown', async () => {
    const proc = await simFrom();
    vi.stubEnv('AGENTAPI_SIM_VERSION', 'dev');
    expect(await runningVersion(proc)).toEqual({ raw: 'dev', evidence: 'version "dev" cannot be compared' });
  });

  it('an executable not named agentapi (an interpreter) is never run', async () => {
    const proc = await procOf(await fake([]));
    expect(await runningVersion(proc)).toEqual({
      evidence: 'its executable is not named agentapi, so its version is unknown',
    });
  });

  it('an executable named agentapi that is not AgentAPI: what it printed', async () => {
    mkdirSync(join(work.dir, 'sleep'));
    const sleep = join(work.dir, 'sleep', 'agentapi');
    copyFileSync('/bin/sleep', sleep);
    chmodSync(sleep, 0o755);
    const child = spawn(sleep, ['300'], { stdio: 'ignore' });
    started.push(child);
    await vi.waitFor(async () => expect((await procOf(child.pid as number)).argv).toEqual([sleep, '300']));
    const { evidence } = await runningVersion(await procOf(child.pid as number));
    expect(evidence).toMatch(
      /^\/proc\/\d+\/exe is not AgentAPI: its --version printed "sleep \(GNU coreutils\)/,
    );
  });

  it('an executable others may write is never run', async () => {
    const copy = simCopy('open', 0o777);
    const proc = await simFrom(copy);
    expect(await runningVersion(proc)).toEqual({
      evidence: `its executable ${copy} is writable by other users, so it is not run to ask`,
    });
  });

  itNeeds(AS_ROOT, "an executable of another user is never run, though root's own would be", async () => {
    const copy = simCopy('theirs', 0o755);
    chownSync(copy, NOBODY, NOBODY);
    const proc = await simFrom(copy);
    expect(await runningVersion(proc)).toEqual({
      evidence: `its executable ${copy} belongs to user id ${NOBODY}, so it is not run to ask`,
    });
  });

  itNeeds(AS_ROOT, "another user's process: its executable is never run", async () => {
    const proc = await procOf(await fake([], { uid: NOBODY }));
    expect(await runningVersion(proc)).toEqual({
      evidence: "it is another user's process, whose executable is never run",
    });
  });
});
