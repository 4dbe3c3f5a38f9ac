// Everything `status` looks at, gathered without changing anything: for a person debugging in a
// workspace shell and for CI smoke tests that gate on the exit code.

import { resolve } from 'node:path';
import ky from 'ky';
import { agentApiBaseUrl, getMessages, getStatus } from './agentapi-client.js';
import { configuredStateFile, persistenceSupport, runningVersion } from './agentapi-process.js';
import { TaskIdSchema } from './coderd-client.js';
import { describe } from './errors.js';
import { classifyRequestError, readBounded, shorten } from './http.js';
import { readPidFile } from './pid-file.js';
import { identifyAgentApi, type ProcInfo } from './proc.js';
import { type CoderEnv, DEFAULTS } from './settings.js';
import { type StateSummary, summarizeState } from './state-file.js';

export interface StatusReport {
  healthy: boolean;
  /** Why it is not healthy, or what deserves a look. */
  problems: string[];
  warnings: string[];
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
    detail?: string;
  };
  stateFile: StateSummary & {
    ageSeconds?: number;
    /** Where the path came from: the running AgentAPI's own configuration, --state-file, or the default. */
    source: 'agentapi' | 'flag' | 'default';
  };
  coder: {
    agentUrl?: string;
    tokenSet: boolean;
    reachable?: boolean;
    version?: string;
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
}

export async function gatherStatus(o: StatusOptions): Promise<StatusReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const url = agentApiBaseUrl(o.port, o.agentApiUrl);
  const signal = AbortSignal.timeout(o.timeoutMs);

  const [pidFile, http, coder] = await Promise.all([
    checkPidFile(o.pidFile),
    checkHttp(url, o.timeoutMs, signal),
    checkCoder(o.coder, o.timeoutMs),
  ]);

  if (pidFile.state === 'invalid') problems.push(`PID file ${o.pidFile} is invalid: ${pidFile.detail}`);
  if (pidFile.state === 'ok' && !pidFile.isAgentApi)
    problems.push(`PID file ${o.pidFile}: ${pidFile.detail}`);
  if (pidFile.state === 'missing')
    warnings.push(`no PID file at ${o.pidFile}: shutdown will have to find AgentAPI by its port`);
  if (!http.reachable) problems.push(http.detail ?? 'AgentAPI is not reachable');
  let agentapi: StatusReport['agentapi'] = { url, ...http };
  if (pidFile.pidInfo) {
    const [support, version] = await Promise.all([
      persistenceSupport(pidFile.pidInfo),
      runningVersion(pidFile.pidInfo),
    ]);
    agentapi = { ...agentapi, version: version.raw, supportsPersistence: support.supportsPersistence };
    if (support.supportsPersistence === false)
      warnings.push(`AgentAPI ${support.raw} predates state persistence (0.12.0)`);
  }
  // Only an AgentAPI that can persist is told to get a state file.
  const canPersist = agentapi.supportsPersistence !== false;
  const state = await whichStateFile(o.stateFile, pidFile.pidInfo, canPersist, warnings);
  const stateFile = await summarizeState(state.path);
  if (stateFile.problem) warnings.push(`state file ${stateFile.path} ${stateFile.problem}`);
  // "Not there yet" only where a save will write it: not when AgentAPI runs without one.
  if (!stateFile.exists && !stateFile.problem && !state.agentApiHasNone)
    warnings.push(`no state file at ${stateFile.path} yet (written on the first save)`);
  if (coder.detail) warnings.push(coder.detail);

  const ageSeconds = stateFile.modifiedAt
    ? Math.round((Date.now() - Date.parse(stateFile.modifiedAt)) / 1000)
    : undefined;
  const taskIdValid = o.taskId ? TaskIdSchema.safeParse(o.taskId).success : undefined;
  if (taskIdValid === false) problems.push(`task id "${o.taskId}" is not a UUID`);
  const { pidInfo: _, ...pid } = pidFile;
  return {
    healthy: problems.length === 0,
    problems,
    warnings,
    pidFile: pid,
    agentapi,
    stateFile: { ...stateFile, ageSeconds, source: state.source },
    coder: { ...coder, taskId: o.taskId, taskIdValid },
  };
}

/** The state file AgentAPI writes, as shutdown confirms it; --state-file, then the default, if unknown. */
async function whichStateFile(
  given: string | undefined,
  proc: ProcInfo | undefined,
  canPersist: boolean,
  warnings: string[],
): Promise<{ path: string; source: StatusReport['stateFile']['source']; agentApiHasNone?: boolean }> {
  const fallback = given
    ? { path: resolve(given), source: 'flag' as const }
    : { path: DEFAULTS.stateFile, source: 'default' as const };
  if (!proc) return fallback;
  const own = await configuredStateFile(proc);
  if (own.kind === 'none') {
    if (canPersist)
      warnings.push(
        'AgentAPI runs without a state file: the conversation will not survive a stop (start it with --state-file)',
      );
    return { ...fallback, agentApiHasNone: true };
  }
  if (own.kind === 'unknown') {
    warnings.push(`${own.reason}: showing ${fallback.path}, which may not be the file AgentAPI writes`);
    return fallback;
  }
  if (given && resolve(given) !== own.path)
    warnings.push(`AgentAPI writes its state to ${own.path}, not ${given} (--state-file); showing its own`);
  return { path: own.path, source: 'agentapi' };
}

async function checkPidFile(path: string) {
  const file = await readPidFile(path);
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

async function checkHttp(url: string, timeoutMs: number, signal: AbortSignal) {
  try {
    const status = await getStatus({ baseUrl: url, timeoutMs, signal });
    const messages = await getMessages({ baseUrl: url, timeoutMs, signal }, { keep: 0 }).then(
      (m) => m.total,
      () => undefined,
    );
    return { reachable: true, status: status.status, agentType: status.agent_type, messages };
  } catch (error) {
    return { reachable: false, detail: describe(error) };
  }
}

/** coderd's public build info: is CODER_AGENT_URL reachable, and which Coder is it. */
async function checkCoder(env: CoderEnv, timeoutMs: number) {
  const tokenSet = Boolean(env.token);
  if (!env.agentUrl) {
    return { tokenSet, detail: 'CODER_AGENT_URL is not set: snapshots cannot be posted from this shell' };
  }
  const missingToken = tokenSet
    ? undefined
    : 'CODER_AGENT_TOKEN is not set: snapshots cannot be posted from this shell';
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
    return { agentUrl: env.agentUrl, tokenSet, reachable: true, version, detail: missingToken };
  } catch (error) {
    return unreachable(classifyRequestError(error).detail);
  }
}
