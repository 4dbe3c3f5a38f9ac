// `npm run demo`: the main job, end to end, on loopback, with the real AgentAPI (when `npm run
// peers` has installed it) running a scripted chat agent, else the AgentAPI simulator, and a
// coderd stand-in for Coder. Says which. Cleans up after itself, even when interrupted.
// Run with bun (a devDependency): `bun scripts/demo.ts`.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCoderd } from '../test/support/coderd.js';
import { freePort, TASK_ID } from '../test/support/harness.js';
import { BIN, ROOT, SIM } from '../test/support/paths.js';
import { peer } from '../test/support/peers.js';
import { CHAT_AGENT, say as sayToAgentApi } from '../test/support/real-agentapi.js';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

function step(title: string): void {
  process.stdout.write(`\n${bold(`==> ${title}`)}\n`);
}

/** Runs a command (async: the coderd stand-in lives in this process), echoing it and its output. */
function sh(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  echo = true,
): Promise<{ code: number; stdout: string }> {
  const shown = file === BIN ? 'agentapi-lifecycle' : file;
  if (echo) process.stdout.write(`$ ${shown} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: ROOT,
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (echo) process.stdout.write(d);
    });
    child.stderr.on('data', (d) => echo && process.stdout.write(d));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

/** Newest modification under `dir` (ms), to tell a stale build from a current one. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .reduce((latest, entry) => Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs), 0);
}

const built = existsSync(BIN) && existsSync(SIM) ? Math.min(statSync(BIN).mtimeMs, statSync(SIM).mtimeMs) : 0;
const sources = Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'test', 'sim')));
if (built < sources) {
  step(built ? 'Building (the sources changed since the last build)' : 'Building (first run only)');
  if (
    (
      await sh(process.execPath, [
        'scripts/build.ts',
        '--only',
        `linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`,
      ])
    ).code !== 0
  ) {
    process.exit(1);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'agentapi-lifecycle-demo-'));
const port = await freePort();
const coderd = await startCoderd({ tasks: [TASK_ID] });
const files = ['--port', String(port), '--pid-file', join(dir, 'agentapi.pid')];
const state = join(dir, 'home', '.agentapi', 'state.json');
const coderEnv = { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token };
const real = peer('agentapi');
const start = [
  'start',
  '--detach',
  '--agentapi-bin',
  real.installed ? real.path : SIM,
  ...files,
  '--state-file',
  state,
  ...(real.installed ? ['--type', 'custom', '--', CHAT_AGENT] : ['--type', 'claude', '--', 'claude']),
];

let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await sh(BIN, ['shutdown', '--quiet', '--no-snapshot', ...files, '--timeout', '5s'], {}, false);
  await coderd.close();
  await rm(dir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    process.stdout.write(`\n${signal}: cleaning up\n`);
    cleanup().then(() => process.exit(130));
  });
}

/** A message through AgentAPI's own POST /message; the real one is waited for until it answers. */
async function say(content: string): Promise<void> {
  process.stdout.write(`  you: ${content}\n`);
  const base = `http://127.0.0.1:${port}`;
  if (real.installed) {
    const reply = (await sayToAgentApi(base, content)).at(-1)?.content.trim();
    process.stdout.write(`  agent: ${reply}\n`);
    return;
  }
  await fetch(`${base}/message`, { method: 'POST', body: JSON.stringify({ content, type: 'user' }) });
}

/**
 * The first lines of a terminal screen, at most `max`, ending where a block of it ends: never
 * inside an open bracket (a tool call's arguments) and never on a blank line.
 */
function quote(content: string, max: number): string {
  const lines = content.replace(/\s+$/, '').split('\n');
  let depth = 0;
  let end = 1;
  for (let i = 0; i < Math.min(lines.length, max); i++) {
    for (const c of lines[i]) depth += c === '{' || c === '[' ? 1 : c === '}' || c === ']' ? -1 : 0;
    if (depth <= 0 && lines[i].trim() !== '') end = i + 1;
  }
  const more = end < lines.length ? '\n    | …' : '';
  return `${lines
    .slice(0, end)
    .map((l) => `    | ${l}`)
    .join('\n')}${more}`;
}

let failed = false;
try {
  step(`A coderd stand-in listens at ${coderd.url}; task ${TASK_ID}`);

  step(
    real.installed
      ? `Start AgentAPI with state persistence (${real.title}, running a scripted chat agent)`
      : `Start AgentAPI with state persistence (the simulator plays AgentAPI: ${real.missing})`,
  );
  if ((await sh(BIN, start)).code !== 0) throw new Error('start failed');

  step('Have a short conversation');
  await say('Add a health check endpoint to the API server');
  await say('Now write a test for it');

  step('What a person debugging in the workspace sees');
  await sh(BIN, ['status', ...files, '--state-file', state], coderEnv);

  step('What shutdown would post, with the same limits (the last 10 messages, fitted to 64 KiB by bytes)');
  await sh(BIN, ['snapshot', '--port', String(port), '--json']);

  step("The workspace stops: the stop script's one line");
  const shutdown = await sh(BIN, ['shutdown', '--task-id', TASK_ID, ...files], coderEnv);
  if (shutdown.code !== 0) throw new Error('shutdown failed');

  step('coderd now shows the task log while the workspace is off');
  const stored = coderd.stored.get(TASK_ID)?.messages ?? [];
  process.stdout.write(`  stored ${stored.length} messages; the newest begins:\n`);
  process.stdout.write(`${quote(stored.at(-1)?.content ?? '', 12)}\n`);
  const saved = JSON.parse(readFileSync(state, 'utf8')) as {
    version: number;
    messages: { message: string }[];
  };
  process.stdout.write(`  state file ${state}: format ${saved.version}, ${saved.messages.length} messages\n`);

  step('While it is off, the conversation can still be read from the state file');
  await sh(BIN, ['transcript', '--from-state', state, '--last', '2']);

  step('The workspace starts again: the conversation comes back');
  if ((await sh(BIN, start)).code !== 0) throw new Error('second start failed');
  const restored = (await (await fetch(`http://127.0.0.1:${port}/messages`)).json()) as {
    messages: { content: string }[];
  };
  const remembered = restored.messages.some((m) => m.content === 'Now write a test for it');
  process.stdout.write(
    `  restored ${restored.messages.length} messages${remembered ? ', including "Now write a test for it"' : ''}\n`,
  );
  if (!remembered || restored.messages.length !== saved.messages.length)
    throw new Error('the conversation was not restored');
} catch (error) {
  failed = true;
  process.stdout.write(`\ndemo failed: ${(error as Error).message}\n`);
} finally {
  step('Cleaning up (AgentAPI stopped, ports freed, temp files removed)');
  await cleanup();
}
process.stdout.write(failed ? '' : `\n${bold('Demo complete.')}\n`);
process.exit(failed ? 1 : 0);
