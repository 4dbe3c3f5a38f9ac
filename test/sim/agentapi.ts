// AgentAPI simulator: a real executable that behaves like `agentapi` as SPEC §2 describes, for
// integration tests and the demo. Not a product feature; configured by AGENTAPI_SIM_* variables:
//   AGENTAPI_SIM_VERSION=0.11.0   report this version; below 0.12.0 it is "old": rejects the
//                                 persistence flags and dies on SIGUSR1
//   AGENTAPI_SIM_MESSAGES=N       start with N messages (AGENTAPI_SIM_TRANSCRIPT_BYTES=B: about B bytes)
//   AGENTAPI_SIM_MESSAGES_DELAY_MS / AGENTAPI_SIM_MESSAGES_HANG=1 / AGENTAPI_SIM_MALFORMED=json|shape
//   AGENTAPI_SIM_IGNORE_SIGTERM=1 AGENTAPI_SIM_SAVE_DELAY_MS=N AGENTAPI_SIM_STARTUP_DELAY_MS=N
//   AGENTAPI_SIM_STATUS=running   AGENTAPI_SIM_EVENTS=file (JSON lines: signals, requests, saves)
//   AGENTAPI_SIM_RECORD=file      write the argv and environment it was started with
//   AGENTAPI_SIM_VERSION_OUTPUT=text  print this for --version instead of AgentAPI's own line
//   AGENTAPI_SIM_HUGE=message:N | key:N | content-key:N | messages:N   serve /messages with one
//                                 message of N content bytes, a top-level or message key of N
//                                 bytes, or real agent screens until N bytes, streamed
//   AGENTAPI_SIM_EXTRA_ROLE=tool  add a last message with this role (one coderd would refuse)
// A file named `version-calls` next to the executable records every --version call (user id,
// whether CODER_AGENT_TOKEN was set), so a test can tell whether and how it was run.

import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import {
  conversation,
  conversationOfBytes,
  type Message,
  messageAt,
  SCREENS,
} from '../support/transcript.js';

declare const SIM_VERSION: string | undefined;

const env = process.env;
// Compiled in, like a real AgentAPI's (dist/sim/old/agentapi is built with 0.11.2); the
// variable lets a test try versions such as "dev" through `start`, which passes it on.
const version = env.AGENTAPI_SIM_VERSION ?? (typeof SIM_VERSION === 'string' ? SIM_VERSION : '0.12.1');
// A development build ("dev") is built from current sources: new.
const isOld = /^\d/.test(version) && compareVersions(version, '0.12.0') < 0;

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) - (pb[i] || 0);
  return 0;
}

function event(name: string, fields: Record<string, unknown> = {}): void {
  if (env.AGENTAPI_SIM_EVENTS) {
    appendFileSync(
      env.AGENTAPI_SIM_EVENTS,
      `${JSON.stringify({ source: 'agentapi', event: name, pid: process.pid, at: Date.now(), ...fields })}\n`,
    );
  }
}

function fail(message: string): never {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(1);
}

const argv = process.argv.slice(2);
if (argv[0] === '--version' || argv[0] === 'version') {
  const calls = `${dirname(process.execPath)}/version-calls`;
  if (existsSync(calls)) {
    appendFileSync(
      calls,
      `${JSON.stringify({ uid: process.getuid?.(), token: 'CODER_AGENT_TOKEN' in env })}\n`,
    );
  }
  process.stdout.write(`${env.AGENTAPI_SIM_VERSION_OUTPUT ?? `agentapi version ${version}`}\n`);
  process.exit(0);
}
if (argv[0] !== 'server') fail(`unknown command "${argv[0] ?? ''}" for "agentapi"`);

// --- flags: a flag beats its AGENTAPI_* variable -------------------------------------------
interface Options {
  port: number;
  type: string;
  stateFile?: string;
  loadState?: boolean;
  saveState?: boolean;
  pidFile?: string;
  /** --allowed-hosts / AGENTAPI_ALLOWED_HOSTS; "*" accepts any Host (behind Coder's proxy). */
  allowedHosts: string;
  /** --initial-prompt / -I (AGENTAPI_INITIAL_PROMPT is read where it is used). */
  initialPrompt?: string;
  agent: string[];
}

function parseServerArgs(args: string[]): Options {
  const newFlags = new Set(['--state-file', '-s', '--load-state', '--save-state', '--pid-file']);
  // AgentAPI's other real server flags: accepted and ignored here.
  const otherValueFlags = new Set([
    '--chat-base-path',
    '--term-width',
    '--term-height',
    '--allowed-hosts',
    '--allowed-origins',
  ]);
  const opts: Options = {
    port: Number(env.AGENTAPI_PORT ?? 3284),
    type: env.AGENTAPI_TYPE ?? 'claude',
    allowedHosts: env.AGENTAPI_ALLOWED_HOSTS ?? '',
    agent: [],
  };
  if (!isOld) {
    opts.stateFile = env.AGENTAPI_STATE_FILE || undefined;
    opts.pidFile = env.AGENTAPI_PID_FILE || undefined;
    if (env.AGENTAPI_LOAD_STATE) opts.loadState = env.AGENTAPI_LOAD_STATE === 'true';
    if (env.AGENTAPI_SAVE_STATE) opts.saveState = env.AGENTAPI_SAVE_STATE === 'true';
  }
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = () => inline ?? args[++i];
    if (flag === '--') {
      opts.agent = args.slice(i + 1);
      break;
    }
    if (isOld && newFlags.has(flag)) fail(`unknown flag: ${flag}`);
    if (flag === '--port' || flag === '-p') opts.port = Number(value());
    else if (flag === '--type' || flag === '-t') opts.type = value();
    else if (flag === '--initial-prompt' || flag === '-I') opts.initialPrompt = value();
    else if (flag === '--state-file' || flag === '-s') opts.stateFile = value();
    else if (flag === '--pid-file') opts.pidFile = value();
    else if (flag === '--load-state') opts.loadState = inline === undefined ? true : inline === 'true';
    else if (flag === '--save-state') opts.saveState = inline === undefined ? true : inline === 'true';
    else if (flag === '--allowed-hosts') opts.allowedHosts = value();
    else if (otherValueFlags.has(flag)) value();
    else if (flag.startsWith('-')) fail(`unknown flag: ${flag}`);
    else {
      opts.agent = args.slice(i);
      break;
    }
  }
  if (!opts.stateFile && (opts.loadState || opts.saveState))
    fail('--load-state and --save-state require --state-file');
  if (opts.stateFile) {
    opts.loadState ??= true;
    opts.saveState ??= true;
  }
  return opts;
}

const opts = parseServerArgs(argv.slice(1));
if (opts.agent.length === 0) fail('no agent command given after --');
if (env.AGENTAPI_SIM_RECORD) {
  const agentEnv = Object.fromEntries(
    Object.entries(env).filter(([k]) => k.startsWith('AGENTAPI_') || k.startsWith('CODER_')),
  );
  writeFileSync(
    env.AGENTAPI_SIM_RECORD,
    JSON.stringify({ argv: process.argv.slice(2), env: agentEnv, pid: process.pid }),
  );
}

// --- PID file: refuse a live owner, write our own, remove only if still ours -------------
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

if (opts.pidFile) {
  let existing = '';
  try {
    existing = readFileSync(opts.pidFile, 'utf8').trim();
  } catch {}
  // As AgentAPI: any live PID refuses the start (1 too: init is alive); 0, negatives, garbage
  // and dead PIDs are overwritten.
  const other = Number(existing);
  if (/^\d+$/.test(existing) && other >= 1 && other !== process.pid && pidAlive(other)) {
    fail(`another instance is already running with PID ${other} (PID file: ${opts.pidFile})`);
  }
  mkdirSync(dirname(opts.pidFile), { recursive: true, mode: 0o700 });
  writeFileSync(opts.pidFile, `${process.pid}\n`, { mode: 0o600 });
}

function removePidFile(): void {
  if (!opts.pidFile) return;
  try {
    if (readFileSync(opts.pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(opts.pidFile);
  } catch {}
}

// --- the conversation and its state file --------------------------------------------------
let messages: Message[] = [];
let dirty = false;
let initialPrompt = '';
let initialPromptSent = false;

if (opts.stateFile && opts.loadState) {
  try {
    const saved = JSON.parse(readFileSync(opts.stateFile, 'utf8')) as {
      messages: { id: number; message: string; role: 'user' | 'agent'; time: string }[];
      initial_prompt?: string;
      initial_prompt_sent?: boolean;
    };
    messages = saved.messages.map((m) => ({ id: m.id, content: m.message, role: m.role, time: m.time }));
    initialPrompt = saved.initial_prompt ?? '';
    initialPromptSent = saved.initial_prompt_sent === true;
    event('loaded', { messages: messages.length });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') event('agent_error', { error: String(error) });
  }
}
if (messages.length === 0) {
  const bytes = Number(env.AGENTAPI_SIM_TRANSCRIPT_BYTES ?? 0);
  messages = bytes > 0 ? conversationOfBytes(bytes) : conversation(Number(env.AGENTAPI_SIM_MESSAGES ?? 1));
  if (env.AGENTAPI_SIM_EXTRA_ROLE) {
    const last = messages.at(-1);
    const time = last?.time ?? new Date().toISOString();
    messages.push({
      id: messages.length,
      content: 'a tool call',
      role: env.AGENTAPI_SIM_EXTRA_ROLE as 'agent',
      time,
    });
  }
  dirty = messages.length > 0;
}

function saveState(reason: string): void {
  if (!opts.stateFile || !opts.saveState || !dirty) {
    event('save-skipped', { reason });
    return;
  }
  const delay = Number(env.AGENTAPI_SIM_SAVE_DELAY_MS ?? 0);
  // Blocks like a slow disk would: AgentAPI holds its lock while it writes.
  if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
  const state = {
    version: 1,
    messages: messages.map((m) => ({ id: m.id, message: m.content, role: m.role, time: m.time })),
    initial_prompt: initialPrompt,
    initial_prompt_sent: initialPromptSent,
  };
  mkdirSync(dirname(opts.stateFile), { recursive: true, mode: 0o700 });
  const tmp = `${opts.stateFile}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  // Go's json.Encoder: compact, one line, a newline at the end.
  writeSync(fd, `${JSON.stringify(state)}\n`);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, opts.stateFile);
  dirty = false;
  event('saved', { reason, messages: messages.length });
}

// Serialized once and reused: big transcripts are served without rebuilding them per request.
let messagesBody: Buffer | undefined;
function messagesJson(): Buffer {
  messagesBody ??= Buffer.from(
    JSON.stringify({ $schema: `http://localhost:${opts.port}/schemas/MessagesResponseBody.json`, messages }),
  );
  return messagesBody;
}

function addExchange(content: string): void {
  const now = new Date().toISOString();
  const reply = SCREENS[messages.length % SCREENS.length].content;
  messages.push({ id: messages.length, content, role: 'user', time: now });
  messages.push({ id: messages.length, content: reply, role: 'agent', time: now });
  messagesBody = undefined;
  dirty = true;
}

// AgentAPI's initial prompt (--initial-prompt, AGENTAPI_INITIAL_PROMPT), as the real one handles
// it (lib/screentracker: loadStateLocked, and the snapshot loop): sent once the agent is ready
// (here: at once), trimmed, as the first user message; a loaded state that sent the same prompt
// already is not sent again; another prompt is.
{
  const given = (opts.initialPrompt ?? env.AGENTAPI_INITIAL_PROMPT ?? '').replace(
    /^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g,
    '',
  );
  if (given && (given !== initialPrompt || !initialPromptSent)) {
    initialPrompt = given;
    initialPromptSent = true;
    addExchange(given);
  }
}

// --- HTTP ---------------------------------------------------------------------------------
const ALLOWED_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** huma's error body, as AgentAPI answers a refused message. */
function sendError(res: ServerResponse, status: number, title: string, message: string): void {
  send(res, status, {
    $schema: `http://localhost:${opts.port}/schemas/ErrorModel.json`,
    title,
    status,
    detail: 'unexpected error occurred',
    errors: [{ message }],
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '');
  const path = (req.url ?? '/').split('?')[0];
  event('request', { method: req.method, path });
  if (opts.allowedHosts !== '*' && !ALLOWED_HOSTS.has(host))
    return sendText(res, 400, 'Invalid host header. Allowed hosts: localhost, 127.0.0.1, ::1\n');
  if (req.method === 'GET' && path === '/status') {
    return send(res, 200, {
      $schema: `http://localhost:${opts.port}/schemas/StatusResponseBody.json`,
      status: env.AGENTAPI_SIM_STATUS ?? 'stable',
      agent_type: opts.type,
      transport: 'pty',
    });
  }
  if (req.method === 'GET' && path === '/messages') {
    if (env.AGENTAPI_SIM_MESSAGES_HANG === '1') return; // never answers
    const delay = Number(env.AGENTAPI_SIM_MESSAGES_DELAY_MS ?? 0);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (env.AGENTAPI_SIM_MALFORMED === 'json')
      return send(res, 200, Buffer.from('{"messages":[{"id":0,"content":'));
    if (env.AGENTAPI_SIM_MALFORMED === 'shape')
      return send(res, 200, { messages: [{ id: 'zero', text: 'hi' }] });
    if (env.AGENTAPI_SIM_HUGE) return streamHuge(res, env.AGENTAPI_SIM_HUGE);
    return send(res, 200, messagesJson());
  }
  if (req.method === 'POST' && path === '/message') {
    const body = JSON.parse(await readBody(req)) as { content?: string; type?: string };
    if (typeof body.content !== 'string' || !['user', 'raw'].includes(body.type ?? ''))
      return send(res, 422, { title: 'Unprocessable Entity', status: 422, detail: 'validation failed' });
    const content = body.content.trim();
    if (content === '')
      return sendError(
        res,
        500,
        'Internal Server Error',
        'failed to send message: message must not be empty',
      );
    addExchange(content);
    return send(res, 200, {
      $schema: `http://localhost:${opts.port}/schemas/MessageResponseBody.json`,
      ok: true,
    });
  }
  sendText(res, 404, '404 page not found\n');
}

/**
 * A /messages body with one giant part, written in 1 MiB pieces as the client reads them, so
 * the simulator itself never holds it: one message's content, or a key (top level or inside a
 * message) of `size` bytes. Multi-byte text and escapes, as an agent's screen would have.
 */
async function streamHuge(res: ServerResponse, spec: string): Promise<void> {
  const [where, sizeText] = spec.split(':');
  const size = Number(sizeText);
  // Already escaped for a JSON string: a backslash, quotes, a newline, box drawing, CJK, emoji.
  const unit = Buffer.from('─│ build output \\\\ \\"quoted\\" 你好 🚀 \\n ');
  const perPiece = Math.floor((1 << 20) / unit.length);
  const piece = Buffer.concat(Array(perPiece).fill(unit));
  res.writeHead(200, { 'Content-Type': 'application/json' });
  const write = (data: string | Buffer) =>
    res.write(data) ? Promise.resolve() : new Promise<void>((r) => res.once('drain', () => r()));
  const giant = async () => {
    // Whole units only, so no escape or character is cut.
    for (let units = Math.ceil(size / unit.length); units > 0; units -= perPiece) {
      await write(units >= perPiece ? piece : piece.subarray(0, units * unit.length));
    }
  };
  const ok = (id: number) =>
    JSON.stringify({ id, content: `message ${id}`, role: 'user', time: new Date().toISOString() });
  if (where === 'messages') {
    // A long conversation of real screens, generated as it is sent: a GB costs the simulator nothing.
    await write('{"messages":[');
    let sent = 0;
    let batch = '';
    for (let id = 0; sent < size; id++) {
      const text = `${id ? ',' : ''}${JSON.stringify(messageAt(id))}`;
      sent += text.length;
      batch += text;
      if (batch.length >= 1 << 20) {
        await write(batch);
        batch = '';
      }
    }
    await write(`${batch}]}`);
    res.end();
    return;
  }
  if (where === 'key') {
    await write('{"');
    await giant();
    await write(`":1,"messages":[${ok(0)}]}`);
  } else if (where === 'content-key') {
    await write(`{"messages":[${ok(0)},{"id":1,"`);
    await giant();
    await write(`":1,"content":"after a huge key","role":"agent","time":"${new Date().toISOString()}"}]}`);
  } else {
    await write(`{"messages":[${ok(0)},{"id":1,"content":"`);
    await giant();
    await write(`","role":"agent","time":"${new Date().toISOString()}"}]}`);
  }
  res.end();
}

const server = createServer((req, res) => {
  handle(req, res).catch((error) => send(res, 500, { title: String(error) }));
});

// --- signals --------------------------------------------------------------------------------
let stopping = false;

function shutdown(signal: string): void {
  event('signal', { signal });
  if (env.AGENTAPI_SIM_IGNORE_SIGTERM === '1' && signal === 'SIGTERM') return;
  if (stopping) {
    // A second signal kills it without saving, as in AgentAPI (its handler is gone by then, so the
    // signal's default action ends it and the PID file stays behind).
    event('exit', { code: null, signal });
    dieBy(signal);
  }
  stopping = true;
  saveState(signal);
  server.close();
  server.closeAllConnections();
  removePidFile();
  event('exit', { code: 0, signal });
  process.exit(0);
}

/** Dies by `signal`'s default action, as a process without a handler for it does. */
function dieBy(signal: string): never {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal as NodeJS.Signals);
  // The signal is delivered at once; this only satisfies the type checker.
  return process.exit(128);
}

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));
process.on('SIGUSR1', () => {
  event('signal', { signal: 'SIGUSR1' });
  if (isOld) {
    // An AgentAPI before 0.12.0 has no handler: SIGUSR1's default action kills it.
    event('exit', { code: null, signal: 'SIGUSR1' });
    dieBy('SIGUSR1');
  }
  saveState('SIGUSR1');
});

const startupDelay = Number(env.AGENTAPI_SIM_STARTUP_DELAY_MS ?? 0);
setTimeout(() => {
  server.listen(opts.port, '127.0.0.1', () => event('listening', { port: opts.port }));
  server.on('error', (error) => fail(`listen on port ${opts.port}: ${error.message}`));
}, startupDelay);
