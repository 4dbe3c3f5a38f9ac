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
import { formatDuration } from '../utils/duration.js';
import { describe } from '../utils/errors.js';
import { redact } from '../utils/log.js';
import { ENV } from '../utils/settings.js';
import type { AgentProfile } from './agents/index.js';

export interface Reporting {
  /** configured: the agent reports to `slug`. */
  state: 'configured' | 'unsupported' | 'failed';
  why: string;
  slug: string;
}

/** How long Coder's CLI gets, and how it is stopped after that. */
export interface ConfigureTimings {
  /** Coder's CLI gets this long in all to write the agent's configuration, its stop included. */
  timeoutMs: number;
  /** The end of that time: SIGTERM to its process group this long before it, SIGKILL at it. */
  graceMs: number;
  /** After it exits, this long for what it wrote to arrive (a child of its may hold its output open). */
  drainMs: number;
}

export const CONFIGURE_TIMINGS: ConfigureTimings = { timeoutMs: 30_000, graceMs: 2_000, drainMs: 500 };
/** What is kept of its output, for a failure's line (redacted before it is cut to this). */
const OUTPUT_LIMIT = 4096;
/** What is held of its output while it runs: the token is hidden in all of it before it is cut. */
const HELD_LIMIT = 64 * 1024;

/** Configures the agent to report to the Task's app `slug` through AgentAPI at `agentApiUrl`. */
export async function configureReporting(
  profile: AgentProfile | undefined,
  o: {
    slug: string;
    agentApiUrl: string;
    workdir: string;
    type: string;
    coderBin?: string;
    env?: NodeJS.ProcessEnv;
    timings?: ConfigureTimings;
  },
): Promise<Reporting> {
  const env = o.env ?? process.env;
  const reporting = profile?.reporting;
  if (!reporting) {
    return {
      state: 'unsupported',
      slug: o.slug,
      why: `the ${o.type} agent has no documented Coder MCP set-up: it does not report its status to the Task`,
    };
  }
  const token = env[ENV.agentToken];
  if (!token || !env[ENV.agentUrl]) {
    return {
      state: 'failed',
      slug: o.slug,
      why: `${ENV.agentUrl} and ${ENV.agentToken} are needed to set up status reporting, and are not both set`,
    };
  }
  const args = reporting.configure(o.workdir);
  const bin = o.coderBin ?? 'coder';
  const ran = await run(
    bin,
    args,
    { ...env, CODER_MCP_APP_STATUS_SLUG: o.slug, CODER_MCP_AI_AGENTAPI_URL: o.agentApiUrl },
    o.timings ?? CONFIGURE_TIMINGS,
    token,
  );
  const command = `${bin} ${args.join(' ')}`;
  if (ran.ok)
    return { state: 'configured', slug: o.slug, why: `\`${command}\` set it up for the app ${o.slug}` };
  return {
    state: 'failed',
    slug: o.slug,
    why: `\`${command}\` failed (${ran.why}): the agent does not report its status`,
  };
}

/**
 * Runs Coder's CLI in a process group of its own, bounded for real: SIGTERM to the group a grace
 * before the time limit, SIGKILL at it; once it exits, what it wrote is read only a moment longer
 * (a child it left behind may hold its output open for ever). Its output never leaves here
 * unredacted: the token is hidden in all of it before the last line is taken.
 */
function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timings: ConfigureTimings,
  token: string,
): Promise<{ ok: true } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    let held = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      held = Buffer.concat([held, chunk]);
      if (held.length > HELD_LIMIT) held = held.subarray(held.length - HELD_LIMIT);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (error) {
      resolve({ ok: false, why: describe(error) });
      return;
    }
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let timedOut = false;
    const group = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {}
    };
    const timers = [
      setTimeout(
        () => {
          timedOut = true;
          group('SIGTERM');
        },
        Math.max(0, timings.timeoutMs - timings.graceMs),
      ),
      setTimeout(() => group('SIGKILL'), timings.timeoutMs),
    ];
    let settled = false;
    const finish = (result: { ok: true } | { ok: false; why: string }) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      // Stopped for taking too long: nothing of its group is left running.
      if (timedOut) group('SIGKILL');
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve(result);
    };
    child.once('error', (error) => finish({ ok: false, why: describe(error) }));
    child.once('exit', (code, signal) => {
      const decide = () => {
        if (code === 0 && !timedOut) return finish({ ok: true });
        const text = redact(held.toString('utf8'), [token]);
        const last = text.trim().split('\n').at(-1)?.trim().slice(-OUTPUT_LIMIT);
        const how = timedOut
          ? `still running after ${formatDuration(Math.max(0, timings.timeoutMs - timings.graceMs))}, stopped by ${signal ?? `itself (exit ${code})`}`
          : signal
            ? `killed by ${signal}`
            : `exit ${code}`;
        finish({ ok: false, why: `${how}${last ? `: ${last}` : ''}` });
      };
      // Its output may still be on the way; a child of its holding the pipes open is not waited for.
      let open = 2;
      const closed = () => {
        if (--open === 0) decide();
      };
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream || stream.readableEnded || stream.destroyed) closed();
        else stream.once('close', closed);
      }
      timers.push(setTimeout(decide, timings.drainMs));
    });
  });
}
