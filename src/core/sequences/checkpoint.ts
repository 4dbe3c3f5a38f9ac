// One checkpoint, the sequence behind `checkpoint` (run by the Coder agent on a cron schedule, or by
// start's timer): find AgentAPI as shutdown does; if the conversation changed since the last
// checkpoint (its fingerprint is kept beside the state file), have AgentAPI save (SIGUSR1,
// confirmed) and post the log snapshot, exactly as shutdown would; if nothing changed, send
// nothing. So a crash, an OOM kill or a stop script that never ran loses little.
//
// It never races a shutdown: it does nothing while one holds the shutdown lock, looks again right
// before it posts, and a shutdown that starts meanwhile stops it (SIGTERM, then waits for it) before
// its own POST, so the last snapshot is always shutdown's. One checkpoint at a time: a tick that
// finds the previous one still running leaves at once.

import { locateAgentApi, stateFileOf } from '../agentapi/agentapi-process.js';
import {
  finishSave,
  noteMessages,
  type SaveAndPostOptions,
  type SaveResult,
  startSave,
} from '../agentapi/save.js';
import {
  acquireLock,
  CHECKPOINT_HOLDERS,
  checkpointLockPath,
  lockHolder,
  SHUTDOWN_HOLDERS,
  shutdownLockPath,
} from '../process/lock.js';
import { notePromptDelivered } from '../task/prompt.js';
import { Deadline } from '../utils/deadline.js';
import { describe } from '../utils/errors.js';
import { readOwnFile, replaceFile } from '../utils/local-file.js';
import { preparePrivateFolders } from '../utils/private-dir.js';
import { oldDefaultPidFile, PRIVATE_DIR } from '../utils/settings.js';
import { sha256Hex } from '../utils/sha256.js';
import { fingerprintPath, readFingerprint, writeFingerprint } from './fingerprint.js';
import {
  type Collected,
  type Conversation,
  postTarget,
  readConversation,
  sendSnapshot,
  snapshotOf,
  taskIdProblem,
} from './log-snapshot.js';

export interface CheckpointOptions extends SaveAndPostOptions {
  /** Aborted when a shutdown (or anyone) tells us to stop: nothing is posted after it. */
  stopped?: AbortSignal;
  /** Say a failure the last tick already said only once a day (for a schedule). */
  quietRepeats?: boolean;
  /** The private folder the default PID file and lock live in (~/.agentapi). */
  privateDir?: string;
}

/**
 * unchanged: nothing new, nothing sent. stored: saved and posted. saved: saved, no snapshot to
 * post (no task id or Coder variables). empty: no messages yet. deferred: a shutdown is running.
 * busy: the previous checkpoint is still running. stopped: told to stop before posting.
 * not-running, not-identified: no AgentAPI of ours. not-saved: the save cannot land (a full or
 * read-only disk, AgentAPI gone). not-stored, unconfirmed, failed: see detail.
 */
export type CheckpointOutcome =
  | 'unchanged'
  | 'stored'
  | 'saved'
  | 'empty'
  | 'deferred'
  | 'busy'
  | 'stopped'
  | 'not-running'
  | 'not-identified'
  | 'not-stored'
  | 'unconfirmed'
  | 'not-saved'
  | 'failed';

export interface CheckpointReport {
  ok: boolean;
  outcome: CheckpointOutcome;
  detail: string;
  ms: number;
  agentapi?: { pid: number; version?: string };
  save?: SaveResult;
  snapshot?: { messagesTotal: number; messagesKept: number; bytes: number; attempts?: number };
  /** Where the fingerprint of the last checkpoint is kept. */
  fingerprintFile?: string;
  /** What failed, in words that stay the same while the failure does (--quiet-repeats compares them). */
  failure?: { step: 'find' | 'read' | 'save' | 'snapshot'; kind: string; status?: number };
}

/** The outcomes that are no failure: the checkpoint did what there was to do. */
const FINE: readonly CheckpointOutcome[] = [
  'unchanged',
  'stored',
  'saved',
  'empty',
  'deferred',
  'busy',
  'stopped',
  'not-running',
];

export async function runCheckpoint(o: CheckpointOptions): Promise<CheckpointReport> {
  // Everything the steps would say is held, and said in the tick's one line (tell()).
  const held: string[] = [];
  const report = await checkpoint({ ...o, logger: o.logger.holding(held) });
  await tell(report, held, o);
  return report;
}

async function checkpoint(o: CheckpointOptions): Promise<CheckpointReport> {
  const started = Date.now();
  const deadline = Deadline.in(o.timeoutMs).slice(o.timeoutMs, o.stopped);
  const done: Done = (outcome, detail, extra = {}) => ({
    ok: FINE.includes(outcome),
    outcome,
    detail,
    ms: Date.now() - started,
    ...extra,
  });
  if (await shutdownRunning(o.pidFile))
    return done('deferred', 'a shutdown is running; it saves and posts itself');
  const notPrivate = await preparePrivateFolders([o.pidFile], o.privateDir ?? PRIVATE_DIR);
  if (notPrivate) o.logger.warn(`${notPrivate}; going on, trusting nothing found there`);
  const lock = await acquireLock(checkpointLockPath(o.pidFile), deadline, {
    holders: CHECKPOINT_HOLDERS,
    wait: false,
  });
  if (!lock.acquired) return done('busy', `the previous checkpoint (PID ${lock.holder}) is still running`);
  if (lock.unlocked) o.logger.warn(`${lock.unlocked}; going on without it`);
  try {
    return await checkpointLocked(o, deadline, done);
  } finally {
    await lock.release();
  }
}

/** Outcomes that mean nothing happened: a tick that ends so says nothing (but with --verbose). */
const NOTHING_HAPPENED: readonly CheckpointOutcome[] = ['unchanged', 'busy', 'deferred', 'stopped'];
/** Outcomes that are news every time: said even when the last tick said the same words. */
const ALWAYS_NEWS: readonly CheckpointOutcome[] = ['stored', 'saved'];
/** A failure said once is said again after this long, if it lasts (once a day). */
const SAY_AGAIN_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The tick's one line: nothing when nothing happened; what was stored; or what failed, with what
 * the steps noticed on the way. With `quietRepeats` (the module's cron: Coder keeps at most 1 MiB
 * of an agent's logs), a failure the last tick already said is not said again for a day: a failure
 * that lasts (coderd down, AgentAPI gone) is one line, not 720 a day. "The same" is judged by what
 * failed and how (the outcome, the step, its kind, the HTTP status, where it went), never by the
 * words: a proxy's 400 with a fresh request id in its body is the same failure.
 */
async function tell(report: CheckpointReport, held: string[], o: CheckpointOptions): Promise<void> {
  const line = `checkpoint: ${report.outcome}: ${report.detail}${held.length ? `; ${held.join('; ')}` : ''}`;
  if (NOTHING_HAPPENED.includes(report.outcome) && held.length === 0) return o.logger.debug(line);
  if (o.quietRepeats) {
    const said = await saidBefore(
      checkpointSaidPath(o.pidFile),
      samenessOf(report, o),
      ALWAYS_NEWS.includes(report.outcome),
    );
    if (said.problem) o.logger.warn(`--quiet-repeats: ${said.problem}; this line is said at every tick`);
    if (said.before)
      return o.logger.debug(`${line} (said at an earlier tick; not repeated until it changes)`);
  }
  if (report.ok && held.length === 0) o.logger.info(line);
  else o.logger.warn(line);
}

/** What makes two ticks' failures the same: what failed and how, and where it went; not the words. */
function samenessOf(report: CheckpointReport, o: CheckpointOptions): string {
  const f = report.failure;
  const kind = f ?? { step: '', kind: report.save?.outcome ?? '', status: undefined };
  return JSON.stringify([
    report.outcome,
    kind.step,
    kind.kind,
    kind.status ?? null,
    o.agentApiUrl,
    o.taskId ?? null,
  ]);
}

/** Beside the PID file: what the last tick said, for `--quiet-repeats`. */
export function checkpointSaidPath(pidFile: string): string {
  return `${pidFile}.checkpoint-said`;
}

/**
 * Whether a failure that is `sameness` is what the record at `path` says was said within a day;
 * if not, it becomes the record. `news` is always said, and recorded. A record that is not ours
 * (a link, another user's file: the PID file may lie in /tmp) or holds a time in the future is
 * no record; one that cannot be kept is said (`problem`).
 */
async function saidBefore(
  path: string,
  sameness: string,
  news: boolean,
): Promise<{ before: boolean; problem?: string }> {
  const key = sha256Hex(sameness);
  const file = await readOwnFile(path, 128);
  const problem = file.state === 'refused' ? `ignoring ${path}: ${file.reason}` : undefined;
  const [hash, at] = file.state === 'ok' ? file.data.toString('utf8').trim().split(' ') : [];
  const age = Date.now() - Number(at);
  // A time in the future (planted, or a clock set back) would silence the line for good.
  if (!news && !problem && hash === key && age >= 0 && age < SAY_AGAIN_AFTER_MS) return { before: true };
  try {
    await replaceFile(path, `${key} ${Date.now()}\n`);
    return { before: false, problem };
  } catch (error) {
    // A record that cannot be kept (a full disk, a file of another user in /tmp) means saying it again.
    return { before: false, problem: problem ?? `cannot keep ${path} (${describe(error)})` };
  }
}

type Done = (
  outcome: CheckpointOutcome,
  detail: string,
  extra?: Partial<CheckpointReport>,
) => CheckpointReport;

async function checkpointLocked(
  o: CheckpointOptions,
  deadline: Deadline,
  done: Done,
): Promise<CheckpointReport> {
  const located = await locateAgentApi(o.pidFile, o.port, {
    oldDefault: oldDefaultPidFile(o.pidFile, o.port),
    trace: (line) => o.logger.debug(`checkpoint: ${line}`),
  });
  if (!located.ok) {
    const outcome = located.kind === 'not-running' ? 'not-running' : 'not-identified';
    return done(outcome, located.reason);
  }
  const found = located.found;
  const agentapi = { pid: found.pid };
  const cannotRead = (error: unknown) =>
    done(o.stopped?.aborted ? 'stopped' : 'failed', `cannot read /messages: ${describe(error)}`, {
      agentapi,
    });
  let conversation: Conversation;
  try {
    conversation = await readConversation({
      baseUrl: o.agentApiUrl,
      maxMessages: o.maxMessages,
      maxBytes: o.maxBytes,
      deadline,
      trace: (line) => o.logger.debug(`checkpoint: ${line}`),
    });
  } catch (error) {
    return cannotRead(error);
  }
  // Compared before the messages are checked: an idle tick (most ticks) checks and builds nothing.
  const { fingerprint } = conversation;
  const stateFile = await stateFileOf(found, o);
  const fingerprintFile = fingerprintPath(stateFile, o.pidFile);
  // A prompt start did not see delivered, in the conversation now: recorded as delivered.
  if (stateFile) await notePromptDelivered({ stateFile, baseUrl: o.agentApiUrl, deadline, logger: o.logger });
  if ((await readFingerprint(fingerprintFile)) === fingerprint) {
    return done('unchanged', `nothing new since the last checkpoint (${conversation.raw.total} messages)`, {
      agentapi,
      fingerprintFile,
    });
  }
  let collected: Collected;
  try {
    collected = await snapshotOf(conversation, o);
  } catch (error) {
    return cannotRead(error);
  }
  const { total, snapshot } = collected;
  const snapshotReport = { messagesTotal: total, messagesKept: snapshot.kept, bytes: snapshot.bytes };
  if (total === 0) return done('empty', 'AgentAPI has no messages yet', { agentapi });

  // Changed: save first, then post; remember it only when both did what they could.
  const save = await startSave(found, o);
  const upToDate = new AbortController();
  noteMessages(save.pending, { total, newestMs: timeOf(collected.newestTime) }, upToDate);
  const saved = save.pending
    ? await finishSave(save.pending, deadline.slice(o.saveTimeoutMs), upToDate.signal, o.logger)
    : (save.result as SaveResult);
  const extra = {
    agentapi: { ...agentapi, version: save.version },
    save: saved,
    snapshot: snapshotReport,
    fingerprintFile,
  };
  const savedOk = saved.status !== 'failed';
  const notSaved = saved.outcome === 'unconfirmed' ? 'unconfirmed' : 'not-saved';

  const badTaskId = taskIdProblem(o.taskId);
  const target = badTaskId ? { missing: badTaskId } : postTarget(o.taskId, o.coder);
  if ('invalid' in target) {
    if (savedOk) await writeFingerprint(fingerprintFile, fingerprint, o.logger);
    return done('not-stored', `${saved.detail}; no snapshot posted: ${target.invalid}`, {
      ...extra,
      failure: { step: 'snapshot', kind: 'bad-agent-url' },
    });
  }
  if ('missing' in target) {
    if (savedOk) await writeFingerprint(fingerprintFile, fingerprint, o.logger);
    return done(
      savedOk ? 'saved' : notSaved,
      `${saved.detail}; no snapshot posted (${target.missing})`,
      extra,
    );
  }
  if (snapshot.kept === 0) {
    return done('empty', `none of the ${total} messages has a role coderd accepts; nothing posted`, extra);
  }
  // The last look before posting: a shutdown that began meanwhile posts the final snapshot.
  if (o.stopped?.aborted) return done('stopped', 'told to stop before posting; nothing posted', extra);
  if (await shutdownRunning(o.pidFile)) return done('deferred', 'a shutdown began; nothing posted', extra);
  const posted = await sendSnapshot(snapshot.body, target, deadline, o.logger);
  const report = { ...extra, snapshot: { ...snapshotReport, attempts: posted.attempts } };
  if (!posted.ok) {
    const outcome = o.stopped?.aborted ? 'stopped' : 'not-stored';
    return done(outcome, `snapshot: ${posted.kind}: ${posted.message}`, {
      ...report,
      failure: { step: 'snapshot', kind: posted.kind, status: posted.status },
    });
  }
  if (!savedOk) return done(notSaved, `snapshot stored, but ${saved.detail}`, report);
  await writeFingerprint(fingerprintFile, fingerprint, o.logger);
  return done(
    'stored',
    `${saved.outcome}; snapshot of ${snapshot.kept} of ${total} messages stored (${snapshot.bytes} bytes)`,
    report,
  );
}

async function shutdownRunning(pidFile: string): Promise<boolean> {
  return (await lockHolder(shutdownLockPath(pidFile), SHUTDOWN_HOLDERS)).live;
}

function timeOf(time: string | undefined): number | undefined {
  const ms = time ? Date.parse(time) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}
