// The stop-script sequence (SPEC §3–§5): find AgentAPI, save its state (SIGUSR1, confirmed),
// post a log snapshot, stop it (SIGTERM, then SIGKILL). Best effort: each step's failure is
// reported and the next step still runs. Everything draws from one deadline, and the stop step
// always keeps enough of it for SIGTERM, the grace period and SIGKILL.

import { getMessages } from '../agentapi/agentapi-client.js';
import {
  type Located,
  type LocateResult,
  locateAgentApi,
  stateFileOf,
} from '../agentapi/agentapi-process.js';
import {
  finishSave,
  noteMessages,
  type SaveAndPostOptions,
  type SaveResult,
  type SaveStart,
  startSave,
} from '../agentapi/save.js';
import {
  acquireLock,
  CHECKPOINT_HOLDERS,
  checkpointLockPath,
  lockHolder,
  shutdownLockPath,
} from '../process/lock.js';
import { isSameProcess } from '../process/proc.js';
import { type StopOutcome, stopProcess } from '../process/signals.js';
import { notePromptDelivered } from '../task/prompt.js';
import { Deadline } from '../utils/deadline.js';
import { formatDuration } from '../utils/duration.js';
import { describe } from '../utils/errors.js';
import type { Logger } from '../utils/log.js';
import { preparePrivateFolders } from '../utils/private-dir.js';
import { DEFAULTS, oldDefaultPidFile, PRIVATE_DIR } from '../utils/settings.js';
import { fingerprintPath, writeFingerprint } from './fingerprint.js';
import {
  type Collected,
  collectSnapshot,
  describeCollected,
  postTarget,
  sendSnapshot,
  taskIdProblem,
} from './log-snapshot.js';

export interface ShutdownOptions extends SaveAndPostOptions {
  snapshot: boolean;
  stop: boolean;
  graceMs: number;
  /** Aborted when we are told to exit ourselves: finish fast, still SIGTERM AgentAPI. */
  hurry?: AbortSignal;
  /** The private folder the default PID file and lock live in (~/.agentapi). */
  privateDir?: string;
  timings?: Partial<ShutdownTimings>;
  /**
   * Has `release` run if the process exits at once (a second signal), and returns how to stop
   * that. By default process.once('exit'); a test gives its own.
   */
  onExit?: (release: () => void) => () => void;
}

export interface ShutdownTimings {
  /** Time SIGKILL gets to take effect. */
  killWaitMs: number;
  /** How long a running checkpoint gets to stop when told (it stops at once; SIGKILL after this). */
  checkpointStopMs: number;
}

export const SHUTDOWN_TIMINGS: ShutdownTimings = { killWaitMs: 1000, checkpointStopMs: 2000 };

const onProcessExit = (release: () => void) => {
  process.once('exit', release);
  return () => process.off('exit', release);
};

export type StepName = 'find' | 'save' | 'snapshot' | 'stop';

export interface StepReport {
  step: StepName;
  status: 'ok' | 'skipped' | 'failed';
  /** A stable word for scripts: confirmed, stored, terminated, killed, not-running, ... */
  outcome: string;
  detail: string;
  ms: number;
}

export interface ShutdownReport {
  ok: boolean;
  ms: number;
  steps: StepReport[];
  agentapi?: { pid: number; via: Located['via']; version?: string; supportsPersistence?: boolean };
  stateFile?: string;
  saveConfirmed: boolean;
  snapshot?: {
    messagesTotal: number;
    messagesKept: number;
    /** Left out because coderd would refuse their role. */
    messagesLeftOut: number;
    bytes: number;
    truncated: boolean;
    attempts?: number;
    /** Time spent waiting between attempts. */
    waitedMs?: number;
    /** Why the last failed attempt failed. */
    lastRefusal?: string;
  };
  stop?: StopOutcome;
  /** Another shutdown was already running for this AgentAPI; we waited for it instead. */
  deferredTo?: number;
}

export async function runShutdown(o: ShutdownOptions): Promise<ShutdownReport> {
  const started = Date.now();
  const { killWaitMs: KILL_WAIT_MS, checkpointStopMs } = { ...SHUTDOWN_TIMINGS, ...o.timings };
  const hurry = o.hurry ?? new AbortController().signal;
  const deadline = Deadline.in(o.timeoutMs);
  // The stop keeps its share (at most half the budget) whatever the earlier steps do.
  const stopReserve = o.stop ? Math.min(o.graceMs + KILL_WAIT_MS, o.timeoutMs / 2) : 0;
  const graceMs = (stopReserve * o.graceMs) / (o.graceMs + KILL_WAIT_MS);
  const beforeStop = deadline.slice(o.timeoutMs - stopReserve, hurry);
  o.logger.debug(
    `budget: ${formatDuration(o.timeoutMs)} in all; find, save and snapshot share ${formatDuration(beforeStop.remaining())}, the stop keeps ${formatDuration(stopReserve)} (SIGTERM's grace ${formatDuration(graceMs)})`,
  );
  const report: ShutdownReport = { ok: true, ms: 0, steps: [], saveConfirmed: false };
  const record = (
    step: StepName,
    status: StepReport['status'],
    outcome: string,
    detail: string,
    since: number,
  ) => {
    const entry = { step, status, outcome, detail, ms: Date.now() - since };
    report.steps.push(entry);
    const line = `${step}: ${outcome}: ${detail} (${formatDuration(entry.ms)})`;
    if (status === 'failed') o.logger.warn(line);
    else o.logger.info(line);
  };

  // The lock beside the default PID file is in our private folder (created if missing).
  const notPrivate = await preparePrivateFolders([o.pidFile], o.privateDir ?? PRIVATE_DIR);
  if (notPrivate) o.logger.warn(`${notPrivate}; going on, trusting nothing found there`);
  const lock = await acquireLock(shutdownLockPath(o.pidFile), deadline.slice(deadline.remaining(), hurry), {
    onWait: (pid) =>
      o.logger.info(`another shutdown (PID ${pid}) holds the lock; waiting for it, taking over if it dies`),
  });
  if (!lock.acquired) {
    report.deferredTo = lock.holder;
    const detail = `another shutdown (PID ${lock.holder}) ${lock.finished ? 'handled it' : 'was still running at our deadline'}`;
    o.logger.warn(`deferring to ${detail}; this one did nothing`);
    for (const step of ['find', 'save', 'snapshot', 'stop'] as const)
      record(step, 'skipped', 'deferred', detail, started);
    return finish(report, started);
  }
  if (lock.unlocked) o.logger.warn(`${lock.unlocked}; going on without it`);
  else o.logger.debug(`lock: holding ${o.pidFile}.shutdown-lock`);
  // Exiting at once (a second signal) must not leave the lock behind.
  const forgetExit = (o.onExit ?? onProcessExit)(() => lock.releaseSync());

  try {
    // A checkpoint running now would post an older snapshot after ours: stop it first.
    await stopCheckpoint(o.pidFile, checkpointStopMs, beforeStop.slice(checkpointStopMs, hurry), o.logger);

    // 1. Find AgentAPI. An unexpected error fails a step, never the steps after it.
    let t = Date.now();
    const located = await locateAgentApi(o.pidFile, o.port, {
      oldDefault: oldDefaultPidFile(o.pidFile, o.port),
      trace: (line) => o.logger.debug(`find: ${line}`),
    }).catch((error: unknown) => describe(error));
    const found = typeof located !== 'string' && located.ok ? located.found : undefined;
    if (typeof located !== 'string') o.logger.debug(`find: ${describeLocated(located)}`);
    if (typeof located === 'string') {
      record('find', 'failed', 'error', `cannot look for AgentAPI: ${located}; nothing will be signalled`, t);
    } else if (located.ok) {
      report.agentapi = { pid: located.found.pid, via: located.found.via };
      record('find', 'ok', 'found', `AgentAPI is PID ${located.found.pid} (${located.found.via})`, t);
    } else if (located.kind === 'not-running') {
      record('find', 'skipped', 'not-running', `AgentAPI is not running: ${located.reason}`, t);
    } else {
      record('find', 'failed', 'not-identified', `${located.reason}; it will not be signalled`, t);
    }

    // 2 and 3. SIGUSR1 goes first; confirming the save and taking the snapshot then overlap,
    // since AgentAPI holds its lock while saving and /messages waits for it anyway.
    t = Date.now();
    const save = await startSave(found, o).catch(
      (error: unknown): SaveStart => ({
        result: { status: 'failed', outcome: 'error', detail: describe(error) },
      }),
    );
    if (report.agentapi)
      Object.assign(report.agentapi, {
        version: save.version,
        supportsPersistence: save.supportsPersistence,
      });
    if (save.pending) report.stateFile = save.pending.stateFile;
    const upToDate = new AbortController();
    const saveDone = (
      save.pending
        ? finishSave(save.pending, beforeStop.slice(o.saveTimeoutMs), upToDate.signal, o.logger)
        : Promise.resolve(save.result as SaveResult)
    ).then((result) => {
      if (result.status === 'ok' && save.pending) report.saveConfirmed = true;
      const detail =
        result.outcome === 'unconfirmed' ? `${result.detail}; SIGTERM will save again` : result.detail;
      record('save', result.status, result.outcome, detail, t);
    });
    const snapshotDone = snapshotStep(o, beforeStop, report, record, save.pending !== undefined, (seen) =>
      noteMessages(save.pending, seen, upToDate),
    );
    const [, posted] = await Promise.all([saveDone, snapshotDone]);
    // A prompt start did not see delivered, in the conversation now: recorded before AgentAPI stops.
    const stateFile = found ? await stateFileOf(found, o) : undefined;
    if (stateFile && !hurry.aborted)
      await notePromptDelivered({
        stateFile,
        baseUrl: o.agentApiUrl,
        deadline: beforeStop,
        logger: o.logger,
      });
    // What is saved and posted now is what the first checkpoint after a resume finds unchanged.
    if (posted && found && report.saveConfirmed)
      await writeFingerprint(fingerprintPath(stateFile, o.pidFile), posted.fingerprint, o.logger);

    // 4. Stop.
    t = Date.now();
    if (!o.stop) record('stop', 'skipped', 'not-requested', '--no-stop: AgentAPI keeps running', t);
    else if (!found) record('stop', 'skipped', 'not-signalled', 'no AgentAPI process was identified', t);
    else if (!(await isSameProcess(found.proc))) {
      report.stop = 'already-gone';
      record('stop', 'ok', 'already-gone', `PID ${found.pid} exited before we stopped it`, t);
    } else {
      const hurried = hurry.aborted;
      o.logger.debug(
        `stop: SIGTERM to PID ${found.pid}, then SIGKILL after ${formatDuration(graceMs)} if it still runs`,
      );
      const outcome = await stopProcess(found.pid, {
        graceMs: hurried ? Math.min(graceMs, KILL_WAIT_MS) : graceMs,
        deadline: deadline.slice(deadline.remaining(), hurry.aborted ? undefined : hurry),
        // Being torn down ourselves: SIGTERM lets AgentAPI save; SIGKILL would lose that.
        escalate: () => !hurry.aborted,
      }).catch((error: unknown) => ({ error: describe(error) }));
      if (typeof outcome === 'object') {
        record('stop', 'failed', 'error', `stopping PID ${found.pid}: ${outcome.error}`, t);
        return finish(report, started);
      }
      report.stop = outcome;
      const words: Record<StopOutcome, [StepReport['status'], string]> = {
        terminated: ['ok', `SIGTERM stopped PID ${found.pid}`],
        killed: ['ok', `PID ${found.pid} ignored SIGTERM for ${formatDuration(graceMs)}; SIGKILL stopped it`],
        'already-gone': ['ok', `PID ${found.pid} had already exited`],
        denied: ['failed', `not allowed to signal PID ${found.pid}`],
        survived: [
          'failed',
          `PID ${found.pid} was still running at the deadline${hurry.aborted ? ' (we were interrupted)' : ''}`,
        ],
      };
      const [status, detail] = words[outcome];
      record('stop', status, outcome, detail, t);
    }
  } finally {
    await lock.release();
    forgetExit();
  }
  return finish(report, started);
}

const STEP_ORDER: StepName[] = ['find', 'save', 'snapshot', 'stop'];

function finish(report: ShutdownReport, started: number): ShutdownReport {
  report.ms = Date.now() - started;
  // Save and snapshot overlap and finish in either order; report them in sequence.
  report.steps.sort((a, b) => STEP_ORDER.indexOf(a.step) - STEP_ORDER.indexOf(b.step));
  report.ok = report.steps.every((s) => s.status !== 'failed');
  return report;
}

type RecordStep = (
  step: StepName,
  status: StepReport['status'],
  outcome: string,
  detail: string,
  since: number,
) => void;

async function snapshotStep(
  o: ShutdownOptions,
  deadline: Deadline,
  report: ShutdownReport,
  record: RecordStep,
  savePending: boolean,
  onMessages: (seen: MessagesSeen) => void,
): Promise<Collected | undefined> {
  const t = Date.now();
  const seen = (total: number, newest: string | undefined) => {
    const ms = newest ? Date.parse(newest) : Number.NaN;
    onMessages({ total, newestMs: Number.isFinite(ms) ? ms : undefined });
  };
  const skip = async (status: StepReport['status'], outcome: string, detail: string) => {
    record('snapshot', status, outcome, detail, t);
    // Without a snapshot, the save step still needs the newest message's time to tell "nothing
    // to save" from "not saved yet"; /messages is on loopback and cheap.
    if (savePending) await probeMessages(o, deadline).then((m) => m && seen(m.total, m.newest));
    return undefined;
  };
  if (!o.snapshot) return skip('skipped', 'disabled', '--no-snapshot');
  const badTaskId = taskIdProblem(o.taskId);
  if (badTaskId) return skip('failed', 'bad-task-id', `${badTaskId}; nothing posted`);
  const target = postTarget(o.taskId, o.coder);
  if ('missing' in target) return skip('skipped', 'no-target', `${target.missing}; nothing posted`);
  if ('invalid' in target) return skip('failed', 'bad-agent-url', `${target.invalid}; nothing posted`);
  try {
    const collected = await collectSnapshot({
      baseUrl: o.agentApiUrl,
      trace: (line) => o.logger.debug(`snapshot: ${line}`),
      maxMessages: o.maxMessages,
      maxBytes: o.maxBytes,
      deadline,
    });
    const { total, snapshot } = collected;
    seen(total, collected.newestTime);
    report.snapshot = {
      messagesTotal: total,
      messagesKept: snapshot.kept,
      messagesLeftOut: collected.leftOut,
      bytes: snapshot.bytes,
      truncated: snapshot.dropped > 0 || snapshot.contentTruncated,
    };
    if (snapshot.kept === 0) {
      const why =
        total === 0
          ? 'AgentAPI has no messages'
          : `none of AgentAPI's ${total} messages has a role coderd accepts (${collected.leftOutRole})`;
      record('snapshot', 'skipped', 'empty', `${why}; nothing posted, so the task's last snapshot stays`, t);
      return undefined;
    }
    const outcome = await sendSnapshot(snapshot.body, target, deadline, o.logger);
    report.snapshot.attempts = outcome.attempts;
    report.snapshot.waitedMs = outcome.waitedMs;
    report.snapshot.lastRefusal = outcome.lastRefusal;
    if (!outcome.ok) {
      record('snapshot', 'failed', outcome.kind, outcome.message, t);
      return undefined;
    }
    record('snapshot', 'ok', 'stored', `${describeCollected(collected)}${describeRetries(outcome)}`, t);
    return collected;
  } catch (error) {
    record('snapshot', 'failed', 'not-taken', describe(error), t);
    return undefined;
  }
}

/** Stops the checkpoint running now, if any (a live `checkpoint` of ours holding its lock). */
async function stopCheckpoint(
  pidFile: string,
  stopMs: number,
  deadline: Deadline,
  logger: Logger,
): Promise<void> {
  const holder = await lockHolder(checkpointLockPath(pidFile), CHECKPOINT_HOLDERS);
  if (!holder.live) return;
  logger.info(`a checkpoint is running (PID ${holder.pid}); stopping it so that it posts nothing after us`);
  const outcome = await stopProcess(holder.pid, { graceMs: (stopMs * 3) / 4, deadline });
  logger.debug(`checkpoint PID ${holder.pid}: ${outcome}`);
}

interface MessagesSeen {
  total: number;
  newestMs?: number;
}

/** How many messages there are and the newest one's time, or undefined if /messages cannot tell. */
async function probeMessages(
  o: ShutdownOptions,
  deadline: Deadline,
): Promise<{ total: number; newest?: string } | undefined> {
  try {
    const { total, messages } = await getMessages(
      {
        baseUrl: o.agentApiUrl,
        timeoutMs: Math.min(DEFAULTS.requestTimeoutMs, Math.max(1, deadline.remaining())),
        signal: deadline.signal,
      },
      { keep: 1, maxBytes: 1024 },
    );
    return { total, newest: messages.at(-1)?.time };
  } catch (error) {
    o.logger.debug(`save: cannot read the newest message's time: ${describe(error)}`);
    return undefined;
  }
}

/** "; after 3 attempts, 1.4s of waiting, the last refused with HTTP 503" (nothing for one attempt). */
function describeRetries(o: { attempts: number; waitedMs: number; lastRefusal?: string }): string {
  if (o.attempts <= 1) return '';
  return `; after ${o.attempts} attempts, ${formatDuration(o.waitedMs)} of waiting, the last refused with ${o.lastRefusal}`;
}

function describeLocated(located: LocateResult): string {
  const file = located.pidFile;
  const pidFile =
    file.state === 'ok'
      ? `PID file ${file.path} holds ${file.pid} (written ${new Date(file.writtenAtMs).toISOString()})`
      : file.state === 'missing'
        ? `no PID file at ${file.path}`
        : `PID file ${file.path} is invalid (${file.reason})`;
  if (!located.ok) return `${pidFile}; ${located.reason}`;
  const { proc, via } = located.found;
  const argv = proc.argv.join(' ');
  return `${pidFile}; /proc/${proc.pid}: "${argv.length > 80 ? `${argv.slice(0, 80)}…` : argv}", user id ${proc.uid.real}, started ${new Date(proc.startedAtMs).toISOString()}; found by ${via}`;
}
