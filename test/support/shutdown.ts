// Running `shutdown` (or `checkpoint`) against one test's fixture and reading its --json report:
// shared by the shutdown, checkpoint, private-default and hostile-field tests.

import type { Mode } from './coderd.js';
import { startCoderd } from './coderd.js';
import type { Fixture } from './fixture.js';
import {
  alive as isAlive,
  type RunOptions,
  type RunResult,
  readEvents,
  run,
  type SimOptions,
  startSim,
  TASK_ID,
} from './harness.js';

export interface Setup {
  sim?: Partial<SimOptions> | false;
  coderd?: { mode?: Mode; tasks?: string[]; token?: string };
}

export type Report = {
  ok: boolean;
  steps: { step: string; status: string; outcome: string; detail: string }[];
  saveConfirmed: boolean;
  stop?: string;
  snapshot?: { bytes: number; messagesKept: number; messagesLeftOut: number; attempts?: number };
  deferredTo?: number;
};

export function shutdownHelpers(f: Fixture) {
  async function setup(options: Setup = {}) {
    if (options.sim !== false) f.sim = await startSim({ work: f.work, ...options.sim });
    f.coderd = await startCoderd({
      tasks: options.coderd?.tasks ?? [TASK_ID],
      mode: options.coderd?.mode,
      token: options.coderd?.token,
      eventsFile: f.work.eventsFile,
    });
  }

  /** `shutdown` with this fixture's task, PID file and port: the arguments every test starts from. */
  const shutdownArgs = (...extra: string[]) => [
    'shutdown',
    '--task-id',
    TASK_ID,
    '--pid-file',
    f.work.pidFile,
    '--port',
    String(f.sim?.port ?? 1),
    ...extra,
  ];

  /** `command` (shutdown or checkpoint) with this fixture's task, PID file, port and coderd, in --json. */
  function against(
    command: 'shutdown' | 'checkpoint',
    args: string[] = [],
    env: Record<string, string | undefined> = {},
    killAfterMs?: number,
    more: Partial<RunOptions> = {},
  ): Promise<RunResult> {
    const task = args.includes('--task-id') ? [] : ['--task-id', TASK_ID];
    return run(
      [command, ...task, '--pid-file', f.work.pidFile, '--port', String(f.sim?.port ?? 1), '--json', ...args],
      {
        env: { CODER_AGENT_URL: f.coderd?.url, CODER_AGENT_TOKEN: f.coderd?.token, ...env },
        killAfterMs,
        ...more,
      },
    );
  }

  const shutdown = (
    args: string[] = [],
    env: Record<string, string | undefined> = {},
    killAfterMs?: number,
    more: Partial<RunOptions> = {},
  ) => against('shutdown', args, env, killAfterMs, more);

  const report = (result: RunResult): Report => JSON.parse(result.stdout);
  const step = (r: Report, name: string) => r.steps.find((s) => s.step === name);
  const signalsReceived = (): string[] =>
    readEvents(f.work.eventsFile)
      .filter((e) => e.source === 'agentapi' && e.event === 'signal')
      .map((e) => e.signal as string);

  return { setup, against, shutdown, shutdownArgs, report, step, signalsReceived, alive: isAlive };
}
