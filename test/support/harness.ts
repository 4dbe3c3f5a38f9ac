// Runs the compiled binary and the AgentAPI simulator as real processes, in a temp directory.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, OLD_SIM, SIM } from './paths.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A home of its own for every command a test runs: defaults like ~/.agentapi never touch the real one. */
export const TEST_HOME = mkdtempSync(join(tmpdir(), 'agentapi-lifecycle-home-'));

/** A clean environment: none of the developer's AgentAPI/Coder/proxy variables leak in. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOME: TEST_HOME };
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AGENTAPI_|CODER_|HTTPS?_PROXY|NO_PROXY|HOME$)/i.test(k)) env[k] = v;
  }
  // undefined unsets a variable the developer's environment would pass on.
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the command if it runs longer than this (a test failure, not a normal outcome). */
  killAfterMs?: number;
  onSpawn?: (child: ChildProcess) => void;
  /** Written to its stdin, which is then closed (at once without it). */
  input?: string;
}

export function run(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return runFile(BIN, args, options);
}

export function runFile(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: cleanEnv(options.env),
      cwd: options.cwd,
      stdio: 'pipe',
    });
    // A command that exits without reading its stdin closes the pipe: not a test failure.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 45_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    options.onSpawn?.(child);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it holds; throws after `ms`. For tests waiting on another process. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Workdir {
  dir: string;
  pidFile: string;
  stateFile: string;
  eventsFile: string;
  cleanup(): Promise<void>;
}

export async function workdir(): Promise<Workdir> {
  const dir = await mkdtemp(join(tmpdir(), 'agentapi-lifecycle-'));
  return {
    dir,
    pidFile: join(dir, 'agentapi.pid'),
    stateFile: join(dir, 'state', 'state.json'),
    eventsFile: join(dir, 'events.log'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface Sim {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  stop(): Promise<void>;
}

export interface SimOptions {
  work: Workdir;
  env?: Record<string, string | undefined>;
  /** Pass --pid-file (default true). */
  pidFile?: boolean;
  /** Pass --state-file (default true). */
  stateFile?: boolean;
  args?: string[];
  /** Run the 0.11.2 build. */
  old?: boolean;
  /** Run this copy of the simulator instead (it must be named agentapi). */
  binary?: string;
  /** Listen on this port (else a free one). */
  port?: number;
}

/** Starts the AgentAPI simulator and waits until /status answers. */
export async function startSim(options: SimOptions): Promise<Sim> {
  // A port found free can be taken (e.g. as another test's outgoing port) before the simulator
  // binds it: a test-harness race, not something under test, so try another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startSimOn(options.port ?? (await freePort()), options);
    } catch (error) {
      if (attempt >= 3 || !/listen on port .*(EADDRINUSE|in use)/i.test(String(error))) throw error;
    }
  }
}

async function startSimOn(port: number, options: SimOptions): Promise<Sim> {
  const { work } = options;
  const args = ['server', '--port', String(port), '--type', 'claude'];
  if (options.pidFile !== false) args.push('--pid-file', work.pidFile);
  if (options.stateFile !== false) args.push('--state-file', work.stateFile);
  args.push(...(options.args ?? []), '--', 'claude', '--continue');
  const child = spawn(options.binary ?? (options.old ? OLD_SIM : SIM), args, {
    env: cleanEnv({ AGENTAPI_SIM_EVENTS: work.eventsFile, ...options.env }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let done = false;
  exited.then(() => {
    done = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (done) throw new Error(`simulator exited early: ${stderr}`);
    try {
      if ((await fetch(`${url}/status`)).ok) break;
    } catch {}
    if (Date.now() > until) throw new Error('simulator never became ready');
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    pid: child.pid as number,
    port,
    url,
    child,
    exited,
    alive: () => !done,
    async stop() {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface SimEvent {
  source: 'agentapi' | 'coderd';
  event: string;
  /** The process that wrote it (the simulator's own PID). */
  pid?: number;
  signal?: string;
  method?: string;
  path?: string;
  status?: number;
  reason?: string;
}

export function readEvents(file: string): SimEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/**
 * Whether a process runs: it exists and is not a zombie. A detached AgentAPI's parent is init,
 * which reaps it a moment after it exits; until then it only looks alive to kill(pid, 0).
 */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]);
  } catch {
    return false;
  }
}

/**
 * Sends `signal` to `pid` after a test, if it is still there: where orphans are reaped at once (an
 * init that reaps, GitHub's runners), a process the test already stopped is gone, not a zombie.
 */
export function killQuietly(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** A long-lived process that is not AgentAPI, for "must never be signalled" checks. */
export function startBystander(): ChildProcess {
  return spawn('sleep', ['300'], { stdio: 'ignore' });
}

export const TASK_ID = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
