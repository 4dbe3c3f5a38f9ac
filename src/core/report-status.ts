// Status reporting to the Task: an agent with a documented Coder MCP set-up (agents/*.ts:
// `reporting`) is configured by Coder's own CLI before it starts, so that it runs Coder's MCP
// server, which reports the task's state to coderd as the workspace agent.
//
// The agent token: that server must authenticate as the workspace agent, so it needs the token.
// The least that works: only `coder exp mcp configure` (Coder's own CLI) is run with it in its
// environment, and it writes it into the MCP server's entry of the agent's configuration (for
// Claude ~/.claude.json, created 0600), from which the agent starts Coder's server. AgentAPI and
// the agent never get it in their environment (unless start --pass-agent-token), and it never
// reaches a log line or --json: what the CLI prints is shown only on failure, with the token hidden.

import { spawn } from 'node:child_process';
import type { AgentProfile } from './agents/index.js';
import { ENV } from './settings.js';
import { describe } from './utils/errors.js';

export interface Reporting {
  /** configured: the agent reports to `slug`. */
  state: 'configured' | 'unsupported' | 'failed';
  why: string;
  slug: string;
}

/** Coder's CLI gets this long to write the agent's configuration. */
const CONFIGURE_TIMEOUT_MS = 30_000;
/** What is kept of its output, for a failure's line. */
const OUTPUT_LIMIT = 4096;

/** Configures the agent to report to the Task's app `slug` through AgentAPI at `agentApiUrl`. */
export async function configureReporting(
  profile: AgentProfile | undefined,
  o: { slug: string; agentApiUrl: string; workdir: string; type: string; coderBin?: string },
): Promise<Reporting> {
  const reporting = profile?.reporting;
  if (!reporting) {
    return {
      state: 'unsupported',
      slug: o.slug,
      why: `the ${o.type} agent has no documented Coder MCP set-up: it does not report its status to the Task`,
    };
  }
  if (!process.env[ENV.agentToken] || !process.env[ENV.agentUrl]) {
    return {
      state: 'failed',
      slug: o.slug,
      why: `${ENV.agentUrl} and ${ENV.agentToken} are needed to set up status reporting, and are not both set`,
    };
  }
  const args = reporting.configure(o.workdir);
  const bin = o.coderBin ?? 'coder';
  const ran = await run(bin, args, {
    ...process.env,
    CODER_MCP_APP_STATUS_SLUG: o.slug,
    CODER_MCP_AI_AGENTAPI_URL: o.agentApiUrl,
  });
  const command = `${bin} ${args.join(' ')}`;
  if (ran.ok)
    return { state: 'configured', slug: o.slug, why: `\`${command}\` set it up for the app ${o.slug}` };
  return {
    state: 'failed',
    slug: o.slug,
    why: `\`${command}\` failed (${ran.why}): the agent does not report its status`,
  };
}

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ok: true } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    const child = spawn(file, args, {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: CONFIGURE_TIMEOUT_MS,
    });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (error) => resolve({ ok: false, why: describe(error) }));
    child.once('close', (code, signal) => {
      if (code === 0) return resolve({ ok: true });
      const last = output.trim().split('\n').at(-1)?.trim();
      const how = signal ? `killed by ${signal}${signal === 'SIGTERM' ? ' after 30s' : ''}` : `exit ${code}`;
      resolve({ ok: false, why: `${how}${last ? `: ${last}` : ''}` });
    });
  });
}
