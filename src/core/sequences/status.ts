// Everything `status` looks at, gathered without changing anything: for a person debugging in a
// workspace shell and for CI smoke tests that gate on the exit code.

import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ky from 'ky';
import { getMessages, getStatus } from '../agentapi/agentapi-client.js';
import {
  type ConfiguredStateFile,
  configuredStateFile,
  persistenceSupport,
  runningVersion,
  scanForAgentApi,
} from '../agentapi/agentapi-process.js';
import { type StateSummary, summarizeState } from '../agentapi/state-file.js';
import { CODER_ROWS, type CoderRow, coderRow } from '../coderd/coder-versions.js';
import { parseAgentUrl } from '../coderd/coderd-client.js';
import { parseUuid } from '../coderd/rules.js';
import { readPidFileOrOld } from '../process/pid-file.js';
import { identifyAgentApi } from '../process/proc.js';
import { AGENTS } from '../task/agents/index.js';
import { notePromptDelivered, readPromptRecord } from '../task/prompt.js';
import { readStartRecord, type StartRecord } from '../task/start-record.js';
import { Deadline } from '../utils/deadline.js';
import { type NoRoom, noRoomFor } from '../utils/disk.js';
import { describe } from '../utils/errors.js';
import { classifyRequestError, readBounded, shorten } from '../utils/http.js';
import { agentApiBaseUrl, type CoderEnv, DEFAULTS, oldDefaultPidFile } from '../utils/settings.js';

export interface StatusReport {
  healthy: boolean;
  /** Why it is not healthy. */
  problems: string[];
  /** What deserves a look (the exit code stays 0). */
  warnings: string[];
  /** Plain information, nothing wrong (e.g. a fresh start has no state file yet). */
  notes: string[];
  pidFile: {
    path: string;
    state: 'missing' | 'invalid' | 'ok';
    pid?: number;
    running?: boolean;
    isAgentApi?: boolean;
    detail?: string;
  };
  agentapi: {
    url: string;
    reachable: boolean;
    status?: string;
    agentType?: string;
    messages?: number;
    version?: string;
    supportsPersistence?: boolean;
    /** The running AgentAPI's: on (it writes a state file), off (it cannot, or has none), or unknown. */
    statePersistence: 'on' | 'off' | 'unknown';
    /** The process found by its PID file or port. */
    pid?: number;
    detail?: string;
  };
  stateFile: StateSummary & {
    ageSeconds?: number;
    /** Whether the running AgentAPI writes this file (false: an earlier run's; undefined: none found). */
    writtenByRunning?: boolean;
    /** Where the path came from: the running AgentAPI's own configuration, --state-file, or the default. */
    source: 'agentapi' | 'flag' | 'default';
    /** Its file system cannot take the next save: full, or read-only. */
    noRoom?: NoRoom;
  };
  /** The agent's own session: what the last start did about it, and where the agent keeps it. */
  agentSession?: {
    resumed: boolean;
    why: string;
    added: string[];
    source?: string;
    at: string;
    type: string;
    /** For a known agent type: where it keeps its sessions (Coder's agent compatibility page). */
    folder?: string;
    folderExists?: boolean;
    /** On the state file's filesystem: a hint that it persists with it. */
    sameFilesystemAsState?: boolean;
    /** The persistent storage Coder says the agent's sessions need, e.g. "100 MB (can grow to GB)". */
    minStorage?: string;
    /** The agent's session, when it is one named by us (the task's), and what start did about it. */
    sessionId?: string;
    sessionWhy?: string;
    /** The registry module's state file the state file started as a copy of. */
    adoptedFrom?: string;
    /** The Task's prompt at the last start: given or not, why, whether it was seen delivered. */
    prompt?: { given: boolean; bytes: number; why: string; delivered?: boolean };
    /** Status reporting to the Task, as the last start set it up. */
    reporting?: { state: string; why: string; slug: string };
  };
  coder: {
    agentUrl?: string;
    tokenSet: boolean;
    reachable?: boolean;
    version?: string;
    /** Which row of the README's Coder versions table this coderd is in, and what that means. */
    row?: CoderRow;
    detail?: string;
    taskId?: string;
    taskIdValid?: boolean;
  };
}

export interface StatusOptions {
  port: number;
  agentApiUrl?: string;
  pidFile: string;
  /** Checked when the running AgentAPI's own state file cannot be read (else the default). */
  stateFile?: string;
  taskId?: string;
  coder: CoderEnv;
  timeoutMs: number;
  /** For --verbose: what each check found, as it finds it. */
  trace?: (line: string) => void;
  /** The home folder `~/` means (the agent's session folder). */
  home?: string;
}

export async function gatherStatus(o: StatusOptions): Promise<StatusReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const notes: string[] = [];
  const url = agentApiBaseUrl(o.port, o.agentApiUrl);
  const signal = AbortSignal.timeout(o.timeoutMs);
  const trace = o.trace ?? (() => {});

  const [pidFile, http, coder] = await Promise.all([
    checkPidFile(o.pidFile, oldDefaultPidFile(o.pidFile, o.port)),
    checkHttp(url, o.timeoutMs, signal, trace),
    checkCoder(o.coder, o.timeoutMs),
  ]);
  if (pidFile.path !== o.pidFile) {
    notes.push(
      `no PID file at ${o.pidFile}; found ${pidFile.path}, the default of 0.1.x (an AgentAPI it started: the next start uses ${o.pidFile})`,
    );
  }
  trace(
    `PID file ${pidFile.path}: ${pidFile.state}${pidFile.pid ? `, PID ${pidFile.pid}` : ''}${pidFile.detail ? ` (${pidFile.detail})` : ''}`,
  );
  if (pidFile.state === 'invalid') problems.push(`PID file ${pidFile.path} is invalid: ${pidFile.detail}`);
  if (pidFile.state === 'ok' && !pidFile.isAgentApi)
    problems.push(`PID file ${pidFile.path}: ${pidFile.detail}`);
  if (!http.reachable) problems.push(http.detail ?? 'AgentAPI is not reachable');

  // The running AgentAPI: by its PID file, else (an AgentAPI before 0.12 writes none) the one of
  // ours on the port, as shutdown finds it.
  let proc = pidFile.pidInfo;
  if (!proc && pidFile.state === 'missing') {
    const found = o.agentApiUrl ? [] : await scanForAgentApi(o.port);
    proc = found.length === 1 ? found[0] : undefined;
    trace(`no PID file: ${found.length} agentapi server(s) of ours on port ${o.port}`);
    warnings.push(
      proc
        ? `no PID file at ${o.pidFile}: AgentAPI (PID ${proc.pid}) was found by its port, as shutdown will find it`
        : `no PID file at ${o.pidFile}: shutdown will have to find AgentAPI by its port`,
    );
  }
  const agentapi: StatusReport['agentapi'] = { url, ...http, pid: proc?.pid, statePersistence: 'unknown' };
  let own: ConfiguredStateFile | undefined;
  if (proc) {
    const [support, version] = await Promise.all([persistenceSupport(proc), runningVersion(proc)]);
    trace(`version: ${version.evidence}; SIGUSR1: ${support.evidence}`);
    agentapi.version = version.raw;
    agentapi.supportsPersistence = support.supportsPersistence;
    own = await configuredStateFile(proc);
    trace(`its state file: ${own.kind === 'set' ? own.path : own.kind === 'none' ? 'none' : own.reason}`);
    if (support.supportsPersistence === false) {
      agentapi.statePersistence = 'off';
      warnings.push(
        `AgentAPI ${support.raw} predates state persistence (0.12.0): the conversation will not survive a stop`,
      );
    } else if (own.kind === 'none') {
      agentapi.statePersistence = 'off';
      warnings.push(
        'AgentAPI runs without a state file: the conversation will not survive a stop (start it with --state-file)',
      );
    } else if (own.kind === 'set') {
      agentapi.statePersistence = 'on';
    }
  }
  const persistence = agentapi.statePersistence;

  const state = whichStateFile(o.stateFile, persistence === 'off' ? undefined : own, warnings);
  const stateFile = await summarizeState(state.path);
  trace(
    `state file ${stateFile.path}: ${stateFile.exists ? `${stateFile.size} bytes` : 'absent'}${stateFile.problem ? `, ${stateFile.problem}` : ''}`,
  );
  // A file the running AgentAPI does not write is an earlier run's: shown as such, never as current.
  const writtenByRunning =
    persistence === 'unknown' ? undefined : persistence === 'on' && state.source === 'agentapi';
  if (stateFile.problem && writtenByRunning !== false)
    warnings.push(`state file ${stateFile.path} ${stateFile.problem}`);
  if (!http.reachable && !stateFile.problem && (stateFile.messages ?? 0) > 0) {
    notes.push(
      `AgentAPI is down, and its state file ${stateFile.path} holds ${stateFile.messages} messages: \`agentapi-lifecycle transcript --from-state${stateFile.path === DEFAULTS.stateFile ? '' : ` ${stateFile.path}`}\` shows them`,
    );
  }
  if (!stateFile.exists && !stateFile.problem && persistence === 'on') {
    notes.push(`no state file at ${stateFile.path} yet: AgentAPI writes it on its first save`);
  }
  // Where AgentAPI saves (or would): a full or read-only file system loses the next save.
  const noRoom =
    persistence === 'off' ? undefined : await noRoomFor(dirname(stateFile.path), stateFile.size ?? 0);
  if (noRoom) {
    warnings.push(
      `${noRoom.detail}: AgentAPI cannot save the conversation there (on a pause or a checkpoint) until there is room`,
    );
  }
  if (coder.detail) warnings.push(coder.detail);
  if (coder.row && coder.row !== CODER_ROWS.tasks)
    warnings.push(`Coder ${coder.version} is ${coder.row.releases}: ${coder.row.means}`);
  trace(`coderd: ${coder.agentUrl ?? 'no CODER_AGENT_URL'}${coder.reachable ? ', reachable' : ''}`);

  const ageSeconds = stateFile.modifiedAt
    ? Math.round((Date.now() - Date.parse(stateFile.modifiedAt)) / 1000)
    : undefined;
  // A prompt start did not see delivered, seen in the conversation now: recorded as delivered.
  if (http.reachable) {
    await notePromptDelivered({
      stateFile: stateFile.path,
      baseUrl: url,
      deadline: Deadline.in(o.timeoutMs),
      logger: { info: (line) => notes.push(line), warn: (line) => warnings.push(line) },
    });
  }
  const agentSession = await checkAgentSession(o.pidFile, stateFile.path, warnings, o.home ?? homedir());
  if (agentSession?.folder && agentSession.folderExists && agentSession.sameFilesystemAsState === false)
    warnings.push(
      `the agent keeps its sessions in ${agentSession.folder}, on another filesystem than the state file: if that one is not persistent, the agent forgets on a resume`,
    );
  if (agentSession?.prompt?.given && agentSession.prompt.delivered === false)
    warnings.push(agentSession.prompt.why);
  if (agentSession?.reporting?.state === 'failed')
    warnings.push(`status reporting: ${agentSession.reporting.why}`);
  const taskIdValid = o.taskId ? parseUuid(o.taskId) !== undefined : undefined;
  if (taskIdValid === false) problems.push(`task id "${o.taskId}" is not a UUID`);
  const { pidInfo: _, ...pid } = pidFile;
  return {
    healthy: problems.length === 0,
    problems,
    warnings,
    notes,
    pidFile: pid,
    agentapi,
    stateFile: { ...stateFile, ageSeconds, source: state.source, writtenByRunning, noRoom },
    agentSession,
    coder: { ...coder, taskId: o.taskId, taskIdValid },
  };
}

/** What the last start recorded about the agent's own session, and where a known agent keeps it. */
async function checkAgentSession(
  pidFile: string,
  stateFile: string,
  warnings: string[],
  home: string,
): Promise<StatusReport['agentSession']> {
  const { record, ignored } = await readStartRecord(pidFile);
  if (ignored) warnings.push(ignored);
  if (!record) return undefined;
  const { resumed, why, added, source, at, type, sessionId, sessionWhy, adoptedFrom, reporting } = record;
  const known = {
    resumed,
    why,
    added,
    source,
    at,
    type,
    sessionId,
    sessionWhy,
    adoptedFrom,
    prompt: await promptNow(record.prompt, stateFile),
    reporting,
  };
  const storage = AGENTS[type]?.storage;
  if (!storage) return known;
  const [path] = storage.paths;
  const folder = path.startsWith('~/') ? join(home, path.slice(2)) : resolve(record.cwd ?? '/', path);
  const [here, state] = await Promise.all([
    stat(folder).catch(() => undefined),
    stat(dirname(stateFile)).catch(() => undefined),
  ]);
  return {
    ...known,
    folder,
    folderExists: here !== undefined,
    sameFilesystemAsState: here && state ? here.dev === state.dev : undefined,
    minStorage: storage.minStorage,
  };
}

/** The prompt as the last start left it, and delivered since if its record says so now. */
async function promptNow(prompt: StartRecord['prompt'], stateFile: string): Promise<StartRecord['prompt']> {
  if (!prompt?.given || prompt.delivered || !prompt.sha256) return prompt;
  const { record } = await readPromptRecord(stateFile);
  if (record?.state !== 'delivered' || record.sha256 !== prompt.sha256) return prompt;
  return {
    ...prompt,
    delivered: true,
    why: `the Task's prompt (${prompt.bytes} bytes) was delivered at ${record.deliveredAt}`,
  };
}

/** The state file AgentAPI writes, as shutdown confirms it; --state-file, then the default, if unknown. */
function whichStateFile(
  given: string | undefined,
  own: ConfiguredStateFile | undefined,
  warnings: string[],
): { path: string; source: StatusReport['stateFile']['source'] } {
  const fallback = given
    ? { path: resolve(given), source: 'flag' as const }
    : { path: DEFAULTS.stateFile, source: 'default' as const };
  if (!own || own.kind === 'none') return fallback;
  if (own.kind === 'unknown') {
    warnings.push(`${own.reason}: showing ${fallback.path}, which may not be the file AgentAPI writes`);
    return fallback;
  }
  if (given && resolve(given) !== own.path)
    warnings.push(`AgentAPI writes its state to ${own.path}, not ${given} (--state-file); showing its own`);
  return { path: own.path, source: 'agentapi' };
}

/** The PID file and what it names; when it is absent, the old default `oldDefault` if that exists. */
async function checkPidFile(given: string, oldDefault: string | undefined) {
  const file = await readPidFileOrOld(given, oldDefault);
  const path = file.path;
  if (file.state === 'missing') return { path, state: file.state };
  if (file.state === 'invalid') return { path, state: file.state, detail: file.reason };
  const identity = await identifyAgentApi(file.pid, file.writtenAtMs);
  return {
    path,
    state: file.state,
    pid: file.pid,
    running: identity.ok || identity.kind !== 'not-running',
    isAgentApi: identity.ok,
    detail: identity.ok ? 'agentapi server' : identity.reason,
    pidInfo: identity.ok ? identity.proc : undefined,
  };
}

async function checkHttp(url: string, timeoutMs: number, signal: AbortSignal, trace: (line: string) => void) {
  try {
    const status = await getStatus({ baseUrl: url, timeoutMs, signal, trace });
    const messages = await getMessages({ baseUrl: url, timeoutMs, signal, trace }, { keep: 0 }).then(
      (m) => m.total,
      () => undefined,
    );
    return { reachable: true, status: status.status, agentType: status.agent_type, messages };
  } catch (error) {
    return { reachable: false, detail: describe(error) };
  }
}

/** coderd's public build info: is CODER_AGENT_URL reachable, and which Coder is it. */
async function checkCoder(
  env: CoderEnv,
  timeoutMs: number,
): Promise<Omit<StatusReport['coder'], 'taskId' | 'taskIdValid'>> {
  const tokenSet = Boolean(env.token);
  if (!env.agentUrl) {
    return { tokenSet, detail: 'CODER_AGENT_URL is not set: snapshots cannot be posted from this shell' };
  }
  const missingToken = tokenSet
    ? undefined
    : 'CODER_AGENT_TOKEN is not set: snapshots cannot be posted from this shell';
  const parsed = parseAgentUrl(env.agentUrl);
  if (!(parsed instanceof URL))
    return { agentUrl: env.agentUrl, tokenSet, reachable: false, detail: parsed.problem };
  const base = env.agentUrl.replace(/\/+$/, '');
  const unreachable = (why: string) => ({
    agentUrl: env.agentUrl,
    tokenSet,
    reachable: false,
    detail: `coderd at ${env.agentUrl} is not reachable (${why})`,
  });
  try {
    // No token is sent here, but a redirect is still not followed: CODER_AGENT_URL must be coderd.
    const response = await ky.get(`${base}/api/v2/buildinfo`, {
      // A limit that covers reading the body too (ky's own timeout ends with the headers).
      timeout: false,
      signal: AbortSignal.timeout(timeoutMs),
      retry: 0,
      redirect: 'manual',
      throwHttpErrors: false,
    });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      return unreachable(
        `HTTP ${response.status}, a redirect: CODER_AGENT_URL should be coderd's own address`,
      );
    }
    const body = await readBounded(response, 64 * 1024);
    if (response.status !== 200) return unreachable(`HTTP ${response.status}`);
    let version: string | undefined;
    try {
      const info = JSON.parse(body.bytes.toString('utf8')) as { version?: unknown };
      if (typeof info.version === 'string') version = shorten(info.version, 60);
    } catch {}
    return {
      agentUrl: env.agentUrl,
      tokenSet,
      reachable: true,
      version,
      row: coderRow(version),
      detail: missingToken,
    };
  } catch (error) {
    return unreachable(classifyRequestError(error).detail);
  }
}
