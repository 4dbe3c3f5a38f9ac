// The sequence behind `smoke`: does pause and resume work in this image? In a fresh private folder,
// on a free loopback port, with files of its own (never the user's, never a running AgentAPI's):
// start AgentAPI with persistence through the same code as `start`, give it a message carrying a
// unique marker through its own HTTP API, run the shutdown sequence with the snapshot posted to a
// loopback receiver that applies coderd's rules, start again and check the marker came back through
// --load-state, stop it. Each stage is timed and says what to do when it fails. Nothing is left
// behind: processes, files and the receiver go, whatever happens.

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getMessages, getStatus, postMessage } from '../agentapi/agentapi-client.js';
import { startSnapshotReceiver } from '../coderd/snapshot-receiver.js';
import { SMOKE_AGENT_ARG, selfCommand } from '../process/internal-commands.js';
import { readPidFile } from '../process/pid-file.js';
import { identifyAgentApi } from '../process/proc.js';
import { send } from '../process/signals.js';
import { Deadline, pollUntil } from '../utils/deadline.js';
import { formatDuration } from '../utils/duration.js';
import { describe } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import { agentApiBaseUrl, DEFAULTS } from '../utils/settings.js';
import { runStart, type StartOptions } from './run-start.js';
import { runShutdown, type ShutdownOptions } from './shutdown.js';
import { checkAgentApiVersion, checkPortFree } from './start-checks.js';

export interface SmokeOptions {
  agentapiBin: string;
  /** The agent behind AgentAPI; none: this binary's trivial chat agent. */
  agent?: readonly string[];
  type?: string;
  /** Listen here (else a free port). */
  port?: number;
  /** Where the private folder is made (else the system's temporary folder). */
  parent?: string;
  timeoutMs: number;
  logger: Logger;
  /** Aborted by SIGINT/SIGTERM: stop at once, clean up. */
  stopped: AbortSignal;
}

export type SmokeStageName =
  | 'agentapi'
  | 'folder'
  | 'port'
  | 'start'
  | 'message'
  | 'shutdown'
  | 'snapshot'
  | 'restart'
  | 'restore'
  | 'stop';

export interface SmokeStage {
  stage: SmokeStageName;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface SmokeReport {
  ok: boolean;
  ms: number;
  /** The first failure, in words a person can act on; "pause and resume work" when none. */
  verdict: string;
  agentapiVersion?: string;
  stages: SmokeStage[];
}

class StageFailed extends Error {}

export async function runSmoke(o: SmokeOptions): Promise<SmokeReport> {
  const started = Date.now();
  const deadline = Deadline.in(o.timeoutMs).slice(o.timeoutMs, o.stopped);
  const report: SmokeReport = { ok: false, ms: 0, verdict: '', stages: [] };
  let folder: string | undefined;
  const pids = new Set<number>();
  let receiver: Awaited<ReturnType<typeof startSnapshotReceiver>> | undefined;

  /** Runs one stage: its detail when it passes; a StageFailed (with what to do) ends the run. */
  const stage = async (name: SmokeStageName, body: () => Promise<string>) => {
    const t = Date.now();
    let ok = false;
    let detail: string;
    try {
      if (deadline.expired || o.stopped.aborted)
        throw new StageFailed(o.stopped.aborted ? 'interrupted' : 'out of time (--timeout)');
      detail = await body();
      ok = true;
    } catch (error) {
      detail = o.stopped.aborted
        ? 'interrupted'
        : error instanceof StageFailed
          ? error.message
          : describe(error);
    }
    report.stages.push({ stage: name, ok, ms: Date.now() - t, detail });
    // A failure is said once, by the report (and the command's error line), not here as well.
    (ok ? o.logger.info : o.logger.debug).call(
      o.logger,
      `smoke: ${name}: ${ok ? 'ok' : 'FAILED'}: ${detail} (${formatDuration(Date.now() - t)})`,
    );
    if (!ok) throw new StageFailed(`${name}: ${detail}`);
  };

  try {
    await stage('agentapi', async () => {
      const gate = await checkAgentApiVersion(o.agentapiBin).catch((error: unknown) => {
        throw new StageFailed(describe(error));
      });
      report.agentapiVersion = gate.info.raw;
      if (!gate.persistence)
        throw new StageFailed(
          `AgentAPI ${gate.info.raw} is too old for state persistence (0.12.0): upgrade it (the module downloads v0.12.2); until then a pause loses the conversation`,
        );
      return `${o.agentapiBin}: AgentAPI ${gate.info.raw}${gate.warning ? ` (${gate.warning})` : ''}`;
    });
    const parent = o.parent ?? tmpdir();
    await stage('folder', async () => {
      folder = await mkdtemp(join(parent, 'agentapi-lifecycle-smoke-')).catch((error: unknown) => {
        throw new StageFailed(
          `cannot make a folder in ${parent} (${describe(error)}): the state folder must be writable`,
        );
      });
      return `${folder} (0700, removed at the end)`;
    });
    const dir = folder as string;
    let port = o.port;
    await stage('port', async () => {
      if (port === undefined) {
        port = await freeLoopbackPort();
        return `${port}, free`;
      }
      await checkPortFree(port).catch((error: unknown) => {
        throw new StageFailed(`${describe(error)}: give smoke another --port, or none for a free one`);
      });
      return `${port}, free`;
    });
    const taskId = randomUUID();
    // Like a workspace agent's token: a UUID.
    const token = randomUUID();
    receiver = await startSnapshotReceiver(token, taskId);
    const base = agentApiBaseUrl(port as number);
    const files = { pidFile: join(dir, 'agentapi.pid'), stateFile: join(dir, 'state', 'state.json') };
    const agent = o.agent?.length
      ? [...o.agent]
      : (([file, args]) => [file, ...args])(selfCommand(SMOKE_AGENT_ARG));
    const start = async () => {
      const started = await runStart(startOptions(o, port as number, files, agent, deadline)).catch(
        (error: unknown) => {
          throw new StageFailed(describe(error));
        },
      );
      if (started.pid) pids.add(started.pid);
      return started;
    };

    await stage('start', async () => {
      const started = await start();
      return `AgentAPI PID ${started.pid} ready after ${formatDuration(started.readyMs ?? 0)}, with --state-file --load-state --save-state --pid-file`;
    });
    const marker = `smoke-${randomBytes(6).toString('hex')}`;
    await stage('message', async () => {
      await stable(base, deadline, 'to take a message');
      await postMessage(
        { baseUrl: base, timeoutMs: Math.max(1, deadline.remaining()), signal: deadline.signal },
        marker,
      );
      const answered = await pollUntil(deadline, async () => {
        const { messages } = await getMessages(
          { baseUrl: base, timeoutMs: 5000, signal: deadline.signal },
          { keep: 10 },
        );
        const at = messages.findIndex((m) => m.role === 'user' && m.content.includes(marker));
        return at !== -1 && messages.slice(at + 1).some((m) => m.role === 'agent') ? true : undefined;
      });
      if (!answered)
        throw new StageFailed(
          `the agent did not answer "${marker}" in time: does it run in AgentAPI's terminal?`,
        );
      return `"${marker}" sent through POST /message, and answered`;
    });
    await stage('shutdown', async () => {
      const result = await runShutdown(
        shutdownOptions(o, base, port as number, files.pidFile, deadline, {
          taskId,
          agentUrl: receiver?.url,
          token,
        }),
      );
      const failed = result.steps.filter((s) => s.status === 'failed');
      if (failed.length)
        throw new StageFailed(failed.map((s) => `${s.step}: ${s.outcome}: ${s.detail}`).join('; '));
      const save = result.steps.find((s) => s.step === 'save');
      if (save?.outcome !== 'confirmed' && save?.outcome !== 'up-to-date')
        throw new StageFailed(
          `the save was not confirmed (${save?.outcome}: ${save?.detail}): AgentAPI did not write ${files.stateFile}`,
        );
      return result.steps.map((s) => `${s.step}: ${s.outcome}`).join(', ');
    });
    await stage('snapshot', async () => {
      const stored = receiver?.stored;
      if (!stored) {
        const refused = receiver?.refusals.at(-1);
        throw new StageFailed(
          refused ? `coderd's rules refused it: ${refused.status} ${refused.why}` : 'nothing was posted',
        );
      }
      if (stored.unreadable)
        throw new StageFailed(`coderd would store it, but not show it: ${stored.unreadable}`);
      if (!stored.messages.some((m) => m.content.includes(marker)))
        throw new StageFailed(`the snapshot coderd would keep does not hold "${marker}"`);
      return `${stored.messages.length} messages, ${stored.bytes} bytes, accepted by coderd's rules (204), "${marker}" in it`;
    });
    await stage('restart', async () => {
      const started = await start();
      return `AgentAPI PID ${started.pid} ready after ${formatDuration(started.readyMs ?? 0)}`;
    });
    await stage('restore', async () => {
      // AgentAPI loads its state file before it first says "stable"; a moment more for good measure.
      await stable(base, deadline, 'after the restart');
      const back = await pollUntil(deadline.slice(Math.min(2000, deadline.remaining())), async () => {
        const { messages } = await getMessages(
          { baseUrl: base, timeoutMs: 5000, signal: deadline.signal },
          { keep: 10 },
        );
        return messages.some((m) => m.content.includes(marker)) ? true : undefined;
      });
      if (!back)
        throw new StageFailed(
          `the conversation did not come back: "${marker}" is not in /messages after --load-state; restore lost the message`,
        );
      return `"${marker}" is back, loaded by AgentAPI from ${files.stateFile}`;
    });
    await stage('stop', async () => {
      const result = await runShutdown(shutdownOptions(o, base, port as number, files.pidFile, deadline));
      const stop = result.steps.find((s) => s.step === 'stop');
      if (stop?.status !== 'ok') throw new StageFailed(`${stop?.outcome}: ${stop?.detail}`);
      return `${stop.outcome}`;
    });
    report.ok = true;
    report.verdict =
      'pause and resume work: the conversation survived a stop, and its snapshot is one coderd accepts';
  } catch (error) {
    report.verdict = error instanceof StageFailed ? error.message : describe(error);
  } finally {
    await cleanUp(folder, pids, receiver);
  }
  report.ms = Date.now() - started;
  return report;
}

function startOptions(
  o: SmokeOptions,
  port: number,
  files: { pidFile: string; stateFile: string },
  agent: string[],
  deadline: Deadline,
): StartOptions {
  return {
    agentapiBin: o.agentapiBin,
    port,
    type: o.type ?? 'custom',
    ...files,
    statePersistence: true,
    serverArgs: [],
    agent,
    resumeArgs: [],
    resumeAgent: false,
    detach: true,
    readyTimeoutMs: Math.max(1000, Math.min(60_000, deadline.remaining())),
    replace: false,
    maxMessages: DEFAULTS.maxMessages,
    maxBytes: DEFAULTS.maxBytes,
    passAgentToken: false,
    logger: o.logger,
  };
}

/** The stop script's sequence for smoke's AgentAPI: with a snapshot to `post`'s receiver, or none. */
function shutdownOptions(
  o: SmokeOptions,
  agentApiUrl: string,
  port: number,
  pidFile: string,
  deadline: Deadline,
  post?: { taskId: string; agentUrl?: string; token: string },
): ShutdownOptions {
  return {
    taskId: post?.taskId,
    agentApiUrl,
    port,
    pidFile,
    statePersistence: true,
    snapshot: post !== undefined,
    stop: true,
    maxMessages: DEFAULTS.maxMessages,
    maxBytes: DEFAULTS.maxBytes,
    timeoutMs: Math.max(1000, Math.min(DEFAULTS.shutdownTimeoutMs, deadline.remaining())),
    graceMs: DEFAULTS.graceMs,
    saveTimeoutMs: DEFAULTS.saveTimeoutMs,
    coder: post ? { agentUrl: post.agentUrl, token: post.token } : {},
    logger: o.logger,
  };
}

/** Waits until AgentAPI says "stable": it takes a message only then. */
async function stable(base: string, deadline: Deadline, why: string): Promise<void> {
  let last = 'no answer';
  const ok = await pollUntil(deadline, async () => {
    try {
      last = (await getStatus({ baseUrl: base, timeoutMs: 2000, signal: deadline.signal })).status;
    } catch (error) {
      last = describe(error);
    }
    return last === 'stable' ? true : undefined;
  });
  if (!ok)
    throw new StageFailed(
      `AgentAPI never became stable ${why} (last: ${last}): does the agent start and wait for input?`,
    );
}

async function freeLoopbackPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Leaves nothing behind: every AgentAPI it started (and its agent, in the same process group), one
 * whose PID only the folder's PID file knows (interrupted during a start), the receiver, the folder.
 */
async function cleanUp(
  folder: string | undefined,
  pids: Set<number>,
  receiver: { close(): Promise<void> } | undefined,
): Promise<void> {
  if (folder) {
    const file = await readPidFile(join(folder, 'agentapi.pid'));
    if (file.state === 'ok') pids.add(file.pid);
  }
  for (const pid of pids) {
    // Only a live AgentAPI of ours with that PID, never a process that took a PID it left.
    if (!(await identifyAgentApi(pid)).ok) continue;
    // It was started in a session of its own: its process group (the agent too) is its PID.
    if (send(-pid, 'SIGKILL') !== 'sent') send(pid, 'SIGKILL');
  }
  await receiver?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
}
