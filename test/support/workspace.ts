// A Coder workspace that uses the module, as the Coder agent runs it: the template applied by
// OpenTofu with the coder provider (test/support/tofu.ts), every script read back from the state
// and run with /bin/sh, `coder exp sync` from a stand-in with the agent's semantics
// (coder-cli.sh), the release served from dist/ (release-server.ts), the AgentAPI simulator as
// AgentAPI and the coderd stand-in as coderd. For the lifecycle tests and the bench.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Coderd } from './coderd.js';
import { cleanEnv, freePort, type RunResult, TASK_ID, type Workdir } from './harness.js';
import { ROOT, SIM } from './paths.js';
import type { ReleaseServer } from './release-server.js';
import { applyModule, type ModuleInputs, type OtherModules, type Rendered } from './tofu.js';

const ASSET = process.arch === 'arm64' ? 'agentapi-linux-arm64' : 'agentapi-linux-amd64';
let simSha: string | undefined;

export interface Workspace {
  home: string;
  env: Record<string, string>;
  scripts: Rendered;
  port: number;
  /** The scripts as files, by name (install, start, shutdown, checkpoint). */
  files: Record<string, string>;
  /** Runs every run_on_start script at once, the other modules' too (optionally one of ours first), as the agent does. */
  start(first?: 'install' | 'start'): Promise<RunResult[]>;
  stop(): Promise<RunResult>;
  /** One tick of the checkpoint script's cron, as the agent runs it. */
  tick(): Promise<RunResult>;
  url: string;
}

export interface WorkspaceContext {
  work: Workdir;
  server: ReleaseServer;
  coderd: Coderd;
  /** Called when the test ends: AgentAPI is killed there. */
  cleanups: (() => void)[];
}

export interface WorkspaceOptions {
  /** false: a Coder without `exp sync`. */
  sync?: boolean;
  /** Other modules in the template; their run_on_start scripts run with ours. */
  others?: OtherModules;
  /** The real AgentAPI, on PATH as `agentapi` (the module installs none then), instead of the simulator. */
  agentapi?: string;
  /** More of the workspace's environment. */
  env?: Record<string, string>;
  /** More of the provisioner's (e.g. CODER_TASK_PROMPT, the Task's prompt). */
  provisioner?: Record<string, string>;
}

/** A workspace using the module with these inputs. */
export async function workspace(
  { work, server, coderd, cleanups }: WorkspaceContext,
  inputs: ModuleInputs = {},
  { sync = true, others, agentapi, env: extraEnv = {}, provisioner }: WorkspaceOptions = {},
): Promise<Workspace> {
  const home = join(work.dir, 'home');
  const bin = join(work.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  if (!existsSync(join(bin, 'coder'))) symlinkSync(`${ROOT}test/support/coder-cli.sh`, join(bin, 'coder'));
  if (agentapi && !existsSync(join(bin, 'agentapi'))) symlinkSync(agentapi, join(bin, 'agentapi'));
  const port = (inputs.agentapi_port as number | undefined) ?? (await freePort());
  simSha ??= execFileSync('sha256sum', [SIM]).toString().split(' ')[0];
  const scripts = await applyModule(
    {
      release_base_url: server.base,
      agentapi_release_base_url: server.agentapiBase,
      agentapi_sha256: { [ASSET]: simSha },
      agent_command: 'claude --continue',
      agent_type: 'claude',
      agentapi_port: port,
      pid_file_path: join(work.dir, `${inputs.name ?? 'agentapi'}.pid`),
      ...(agentapi ? { install_agentapi: false } : {}),
      ...inputs,
    },
    TASK_ID,
    { others, provisioner },
  );
  const env: Record<string, string> = {
    HOME: home,
    PATH: `${bin}:${process.env.PATH}`,
    CODER_SYNC_DIR: join(work.dir, 'sync'),
    CODER_AGENT_URL: coderd.url,
    CODER_AGENT_TOKEN: coderd.token,
    AGENTAPI_SIM_EVENTS: work.eventsFile,
    AGENTAPI_SIM_MESSAGES: '2',
    CODER_MCP_RECORD: join(work.dir, 'mcp-configure'),
    ...(sync ? {} : { CODER_SYNC_UNSUPPORTED: '1' }),
    ...extraEnv,
  };
  const files: Record<string, string> = {};
  for (const [name, text] of Object.entries({
    install: scripts.install,
    start: scripts.start,
    shutdown: scripts.shutdown,
    checkpoint: scripts.checkpoint,
  })) {
    if (!text) continue;
    files[name] = join(work.dir, `${inputs.name ?? 'agentapi'}-${name}.sh`);
    writeFileSync(files[name], text);
  }
  // The other modules' start-up scripts, as files too.
  const otherStarts = scripts.others
    .filter((r) => r.values.run_on_start)
    .map((r, i) => {
      const file = join(work.dir, `other-${i}-${r.name}.sh`);
      writeFileSync(file, r.values.script as string);
      return file;
    });
  const runScript = (name: string) => runSh(files[name], env);
  return {
    home,
    env,
    scripts,
    port,
    files,
    url: `http://127.0.0.1:${port}`,
    async start(first) {
      // The agent runs the scripts concurrently; `first` gives one a head start of 300 ms.
      const order = first === 'start' ? ['start', 'install'] : ['install', 'start'];
      const runs = [runScript(order[0]), ...otherStarts.map((file) => runSh(file, env))];
      if (first) await new Promise((r) => setTimeout(r, 300));
      runs.push(runScript(order[1]));
      const results = await Promise.all(runs);
      if (existsSync(scripts.pidFile)) {
        const pid = Number(readFileSync(scripts.pidFile, 'utf8'));
        cleanups.push(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        });
      }
      return results;
    },
    stop: () => runScript('shutdown'),
    tick: () => runScript('checkpoint'),
  };
}

/** A script run with /bin/sh, as the agent runs it, with this environment. */
export function runSh(file: string, env: Record<string, string>, args: string[] = []): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child: ChildProcess = spawn('/bin/sh', [file, ...args], {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}
