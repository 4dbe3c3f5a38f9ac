// Everything `status` looks at, gathered without changing anything: for a person debugging in a
// workspace shell and for CI smoke tests that gate on the exit code.

import ky from 'ky';
import { agentApiBaseUrl, getMessages, getStatus } from './agentapi-client.js';
import { persistenceSupport, runningVersion } from './agentapi-process.js';
import { TaskIdSchema } from './coderd-client.js';
import { describe } from './errors.js';
import { classifyRequestError } from './http.js';
import { readPidFile } from './pid-file.js';
import { identifyAgentApi } from './proc.js';
import type { CoderEnv } from './settings.js';
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
  stateFile: StateSummary & { ageSeconds?: number };
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
  stateFile: string;
  taskId?: string;
  coder: CoderEnv;
  timeoutMs: number;
}

export async function gatherStatus(o: StatusOptions): Promise<StatusReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const url = agentApiBaseUrl(o.port, o.agentApiUrl);
  const signal = AbortSignal.timeout(o.timeoutMs);

  const [pidFile, http, stateFile, coder] = await Promise.all([
    checkPidFile(o.pidFile),
    checkHttp(url, o.timeoutMs, signal),
    summarizeState(o.stateFile),
    checkCoder(o.coder, o.timeoutMs),
  ]);

  if (pidFile.state === 'invalid') problems.push(`PID file ${o.pidFile} is invalid: ${pidFile.detail}`);
  if (pidFile.state === 'ok' && !pidFile.isAgentApi)
    problems.push(`PID file ${o.pidFile}: ${pidFile.detail}`);
  if (pidFile.state === 'missing')
    warnings.push(`no PID file at ${o.pidFile}: shutdown will have to find AgentAPI by its port`);
  if (!http.reachable) problems.push(http.detail ?? 'AgentAPI is not reachable');
  if (stateFile.problem) warnings.push(`state file ${stateFile.path} ${stateFile.problem}`);
  if (!stateFile.exists && !stateFile.problem)
    warnings.push(`no state file at ${stateFile.path} yet (written on the first save)`);
  if (coder.detail) warnings.push(coder.detail);

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
    stateFile: { ...stateFile, ageSeconds },
    coder: { ...coder, taskId: o.taskId, taskIdValid },
  };
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
    const messages = await getMessages({ baseUrl: url, timeoutMs, signal }, 0).then(
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
  try {
    const base = env.agentUrl.replace(/\/+$/, '');
    const info = await ky
      .get(`${base}/api/v2/buildinfo`, { timeout: timeoutMs, retry: 0 })
      .json<{ version?: string }>();
    return { agentUrl: env.agentUrl, tokenSet, reachable: true, version: info.version, detail: missingToken };
  } catch (error) {
    const failure = classifyRequestError(error);
    const why =
      'response' in (error as object)
        ? `HTTP ${(error as { response: Response }).response.status}`
        : failure.detail;
    return {
      agentUrl: env.agentUrl,
      tokenSet,
      reachable: false,
      detail: `coderd at ${env.agentUrl} is not reachable (${why})`,
    };
  }
}
