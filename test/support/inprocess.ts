// What the in-process tests of the sequences share: a fresh work folder and coderd stand-in for
// each test, a logger that keeps its lines, shutdown's options with short timings, and cleanup of
// every process a test started (killQuietly: one already gone is no error).

import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import type { ShutdownOptions } from '../../src/core/sequences/shutdown.js';
import { Logger } from '../../src/core/utils/log.js';
import { type Coderd, startCoderd } from './coderd.js';
import { killQuietly, type Sim, TASK_ID, type Workdir, workdir } from './harness.js';

export interface World {
  work: Workdir;
  coderd: Coderd;
  /** The simulator a test started; stopped after it. */
  sim?: Sim;
  /** Every line the loggers wrote. */
  lines: string[];
  /** Processes to kill after the test. */
  pids: number[];
  logger(): Logger;
  shutdownOptions(port: number, more?: Partial<ShutdownOptions>): ShutdownOptions;
}

/** Registers the per-test set-up and cleanup; the returned world is fresh in each test. */
export function inprocessWorld(): World {
  const world = {
    lines: [] as string[],
    pids: [] as number[],
    logger: () => new Logger({ write: (line) => world.lines.push(line), verbose: true }),
    shutdownOptions: (port: number, more: Partial<ShutdownOptions> = {}): ShutdownOptions => ({
      taskId: TASK_ID,
      agentApiUrl: `http://127.0.0.1:${port}`,
      port,
      pidFile: world.work.pidFile,
      statePersistence: true,
      maxMessages: 10,
      maxBytes: 65_536,
      timeoutMs: 10_000,
      saveTimeoutMs: 2_000,
      coder: { agentUrl: world.coderd.url, token: world.coderd.token },
      logger: world.logger(),
      snapshot: true,
      stop: true,
      graceMs: 1_000,
      privateDir: join(world.work.dir, 'private'),
      onExit: () => () => {},
      ...more,
    }),
  } as World;
  beforeEach(async () => {
    world.work = await workdir();
    world.coderd = await startCoderd({ tasks: [TASK_ID] });
    world.lines = [];
  });
  afterEach(async () => {
    for (const pid of world.pids.splice(0)) killQuietly(pid);
    await world.sim?.stop();
    world.sim = undefined;
    await world.coderd.close();
    await world.work.cleanup();
  });
  return world;
}

/** A user message, through AgentAPI's own POST /message. */
export async function tell(port: number, content: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/message`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content, type: 'user' }),
  });
  expect(response.ok).toBe(true);
}
