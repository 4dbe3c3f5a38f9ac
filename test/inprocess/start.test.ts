// runStart and gatherStatus in-process (issue #39), with the real AgentAPI 0.12.2 and a chat agent:
// a first start and a resume, the prompt given once, a start-up death said at once. Each test waits
// for the real AgentAPI to come up (seconds), so mutation testing leaves this file out; the binary's
// start is proven by the integration tests.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runStart, type StartOptions } from '../../src/core/sequences/run-start.js';
import { runShutdown } from '../../src/core/sequences/shutdown.js';
import { gatherStatus } from '../../src/core/sequences/status.js';
import { UserError } from '../../src/core/utils/errors.js';
import { alive, freePort } from '../support/harness.js';
import { inprocessWorld } from '../support/inprocess.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, messagesOf, say } from '../support/real-agentapi.js';

const w = inprocessWorld();

withPeer(peer('agentapi'), 'runStart decides, with the real AgentAPI', (agentapi) => {
  const options = (port: number, more: Partial<StartOptions> = {}): StartOptions => {
    const home = join(w.work.dir, 'home');
    mkdirSync(home, { recursive: true });
    return {
      agentapiBin: agentapi,
      port,
      type: 'custom',
      pidFile: w.work.pidFile,
      stateFile: w.work.stateFile,
      statePersistence: true,
      serverArgs: [],
      agent: [CHAT_AGENT],
      resumeArgs: ['--resumed'],
      resumeAgent: true,
      detach: true,
      readyTimeoutMs: 10_000,
      replace: false,
      maxMessages: 10,
      maxBytes: 65_536,
      passAgentToken: false,
      logger: w.logger(),
      world: {
        env: { PATH: process.env.PATH, HOME: home },
        home,
        cwd: home,
        privateDir: join(w.work.dir, 'private'),
      },
      ...more,
    };
  };

  it('a first start, then a resume that adds --resume-args; the prompt given once', async () => {
    const port = await freePort();
    const prompt = { where: 'from a test', bytes: 5, sent: 'hello' } as const;
    const first = await runStart(options(port, { prompt }));
    w.pids.push(first.pid as number);
    expect(first).toMatchObject({
      ok: true,
      outcome: 'started',
      resume: { resumed: false },
      prompt: { given: true },
    });
    await say(`http://127.0.0.1:${port}`, 'and more');
    const stop = await runShutdown(w.shutdownOptions(port, { taskId: undefined }));
    expect(stop.saveConfirmed).toBe(true);
    const again = await runStart(options(port, { prompt }));
    w.pids.push(again.pid as number);
    expect(again.resume).toMatchObject({ resumed: true, added: ['--resumed'], source: '--resume-args' });
    expect(again.prompt).toMatchObject({ given: false });
    const users = (await messagesOf(`http://127.0.0.1:${port}`)).filter((m) => m.role === 'user');
    expect(users.map((m) => m.content)).toEqual(['hello', 'and more']);
  });

  it('an AgentAPI that dies during start-up is said at once, not at the ready timeout', async () => {
    const started = Date.now();
    const failing = runStart(
      options(await freePort(), { serverArgs: ['--bogus-flag'], readyTimeoutMs: 30_000 }),
    );
    await expect(failing).rejects.toThrow(UserError);
    await expect(failing).rejects.toThrow(/AgentAPI exited during start-up \(code 1\)/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gatherStatus: healthy, with the last start and its prompt', async () => {
    const port = await freePort();
    const report = await runStart(options(port, { prompt: { where: 'from a test', bytes: 2, sent: 'hi' } }));
    w.pids.push(report.pid as number);
    const status = await gatherStatus({
      port,
      pidFile: w.work.pidFile,
      coder: {},
      timeoutMs: 5_000,
      home: join(w.work.dir, 'home'),
    });
    expect(status.healthy).toBe(true);
    expect(status.agentSession).toMatchObject({
      resumed: false,
      type: 'custom',
      prompt: { given: true, delivered: true },
    });
    expect(alive(report.pid as number)).toBe(true);
  });
});
