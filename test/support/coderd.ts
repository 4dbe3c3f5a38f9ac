// A coderd stand-in on 127.0.0.1 that enforces the log-snapshot endpoint's rules in coderd's own
// order, by the rules src/core/coderd/rules.ts keeps (read from coderd/aitasks.go and
// httpmw/workspaceagent.go, cited there): the agent token (a UUID, valid during the stop build
// only while its job runs: coder/coder#21538), the task id as uuid.Parse takes it, the query
// (format required, nothing else), the task known in this workspace, the 64 KiB limit answered
// with 400, the body decoded as Go decodes it. Any role is stored, as coderd stores it, and a
// snapshot its reader would refuse is flagged (`unreadable`). Records what it stored. Switches: answer 401/404/500, hang, fail the first N with 500, and the
// hostile or unlucky answers a proxy in front of coderd gives: redirects, a 200 page, an error
// body that echoes the token, an endless error body, 503 with Retry-After.

import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeSnapshot,
  parseUuid,
  SNAPSHOT_LIMIT_BYTES,
  tokenRefusal,
} from '../../src/core/coderd/rules.js';

export const SNAPSHOT_LIMIT = SNAPSHOT_LIMIT_BYTES;
const ROUTE = /^\/api\/v2\/workspaceagents\/me\/tasks\/([^/]+)\/log-snapshot$/;

export type Mode =
  | { kind: 'normal' }
  | { kind: 'status'; status: 401 | 404 | 500 | 503 }
  /** A Coder too old to have the endpoint: the router answers 404. */
  | { kind: 'no-route' }
  | { kind: 'hang' }
  | { kind: 'fail-first'; count: number; status?: number; retryAfter?: string }
  /** A proxy redirecting (to `location`, absolute or relative). */
  | { kind: 'redirect'; status: 301 | 302 | 303 | 307 | 308; location: string }
  /** A web page or proxy answering 200 instead of coderd's 204. */
  | { kind: 'ok-200' }
  /** An error body that repeats the token after `offset` characters of padding. */
  | { kind: 'echo-token'; status: 400 | 500; offset: number }
  /** A proxy's 400 that names a fresh request id each time, as tracing proxies do. */
  | { kind: 'trace-400' }
  /** An error body of `bytes` (Infinity: it never ends). */
  | { kind: 'huge-error'; status: 400 | 500; bytes: number }
  /**
   * A busy coderd behind a load balancer: it stores `concurrent` snapshots at a time, each
   * taking `holdMs`, and refuses the rest with `refuse` (503 or 429) and a Retry-After. With
   * `gather`, the first `gather` requests are held until all of them have arrived (10 s at
   * most), so a fleet meets the limit at once however unevenly a loaded machine starts it.
   */
  | {
      kind: 'capacity';
      concurrent: number;
      holdMs: number;
      refuse: 429 | 503;
      retryAfter?: string;
      gather?: number;
    };

export interface Received {
  at: number;
  /** When it was answered (0 while pending). */
  answeredAt: number;
  path: string;
  query: string;
  status: number;
  bytes: number;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The workspace's latest build, for the agent token's window: the start build's agent keeps its
 * token during the stop build while that build's job is pending or running (coder/coder#21538),
 * and loses it when the job completes, and in a delete build.
 */
export interface Build {
  transition: 'start' | 'stop' | 'delete';
  job: 'pending' | 'running' | 'succeeded' | 'failed';
}

export interface CoderdOptions {
  /** The agent's token: a UUID, as Coder makes them (default: a random one). */
  token?: string;
  /** What /api/v2/buildinfo says, in coderd's form (default: the ESR's). */
  version?: string;
  tasks?: string[];
  /** Serve under this path prefix, as a Coder behind a path-based proxy would. */
  prefix?: string;
  mode?: Mode;
  /** Append {source:"coderd", event:"post", ...} lines here, next to the simulator's events. */
  eventsFile?: string;
}

export interface Coderd {
  url: string;
  token: string;
  /** Most snapshots being stored at once (capacity mode). */
  peakConcurrency(): number;
  /** Last stored body per task, as coderd would keep it (an upsert), by the task's canonical id. */
  stored: Map<string, { messages: { id: number; content: string; role: string; time: string }[] }>;
  /** Tasks whose stored snapshot coderd's reader would refuse, and why. */
  unreadable: Map<string, string>;
  /** The workspace's latest build (the token's window). */
  setBuild(build: Build): void;
  received: Received[];
  setMode(mode: Mode): void;
  close(): Promise<void>;
}

export async function startCoderd(options: CoderdOptions = {}): Promise<Coderd> {
  const token = options.token ?? randomUUID();
  const tasks = new Set((options.tasks ?? []).map((t) => parseUuid(t) ?? t));
  let build: Build = { transition: 'start', job: 'succeeded' };
  const unreadable = new Map<string, string>();
  const prefix = options.prefix ?? '';
  let mode: Mode = options.mode ?? { kind: 'normal' };
  let failures = 0;
  const stored: Coderd['stored'] = new Map();
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  let inFlight = 0;
  let peak = 0;
  let arrived = 0;
  let allArrived: () => void = () => {};
  const gathered = new Promise<void>((resolve) => {
    allArrived = resolve;
    setTimeout(resolve, 10_000).unref();
  });

  const reply = (res: ServerResponse, status: number, body?: object) => {
    if (body) res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    else res.writeHead(status).end();
    return status;
  };

  async function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<number> {
    const url = new URL(req.url ?? '/', 'http://coderd');
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : '';
    if (req.method === 'GET' && path === '/api/v2/buildinfo') {
      return reply(res, 200, {
        external_url: 'https://github.com/coder/coder/commit/5d2f6b8e1c3a',
        version: options.version ?? 'v2.34.5+5d2f6b8',
        dashboard_url: 'http://127.0.0.1/',
      });
    }
    const match = ROUTE.exec(path);
    if (mode.kind === 'no-route' || !match || req.method !== 'POST') {
      return reply(res, 404, { message: 'Route not found.' });
    }
    const header = req.headers['coder-session-token'];
    const inWindow =
      build.transition === 'start' ||
      (build.transition === 'stop' && (build.job === 'pending' || build.job === 'running'));
    const refusal = tokenRefusal(
      typeof header === 'string' ? header : undefined,
      header === token && inWindow,
    );
    if (refusal) return reply(res, 401, refusal);
    if (mode.kind === 'hang') {
      hanging.add(res);
      return 0;
    }
    if (mode.kind === 'status') return reply(res, mode.status, { message: `Injected ${mode.status}.` });
    if (mode.kind === 'fail-first' && failures < mode.count) {
      failures++;
      if (mode.retryAfter) res.setHeader('Retry-After', mode.retryAfter);
      return reply(res, mode.status ?? 500, { message: 'Internal error storing snapshot.' });
    }
    if (mode.kind === 'redirect') {
      res.writeHead(mode.status, { Location: mode.location }).end('<a href="elsewhere">moved</a>');
      return mode.status;
    }
    if (mode.kind === 'ok-200') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Sign in</body></html>');
      return 200;
    }
    if (mode.kind === 'echo-token') {
      const text = `${'x'.repeat(mode.offset)}${token} was not accepted here`;
      return reply(res, mode.status, { message: text });
    }
    if (mode.kind === 'huge-error') return hugeError(res, mode.status, mode.bytes);
    if (mode.kind === 'trace-400') {
      const trace = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString('hex');
      return reply(res, 400, { message: `Invalid request (trace ${trace}).` });
    }
    if (mode.kind === 'capacity') {
      if (mode.gather && arrived < mode.gather) {
        if (++arrived === mode.gather) allArrived();
        await gathered;
      }
      if (inFlight >= mode.concurrent) {
        if (mode.retryAfter) res.setHeader('Retry-After', mode.retryAfter);
        return reply(res, mode.refuse, { message: 'Too many requests, try again later.' });
      }
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, mode.kind === 'capacity' ? mode.holdMs : 0));
      inFlight--;
    }
    const taskId = parseUuid(decodeURIComponent(match[1]));
    if (!taskId) return reply(res, 400, { message: 'Invalid task ID format.' });
    const keys = [...url.searchParams.keys()];
    if (keys.some((k) => k !== 'format') || !url.searchParams.get('format')) {
      return reply(res, 400, { message: 'Invalid query parameters.' });
    }
    if (url.searchParams.get('format') !== 'agentapi')
      return reply(res, 400, { message: 'Invalid format parameter.' });
    if (!tasks.has(taskId)) {
      return reply(res, 404, { message: 'Resource not found or you do not have access to this resource' });
    }
    const decoded = decodeSnapshot(raw);
    if (!decoded.ok) return reply(res, 400, { message: decoded.message, detail: decoded.detail });
    const payload = { messages: decoded.messages };
    if (decoded.unreadable) unreadable.set(taskId, decoded.unreadable);
    else unreadable.delete(taskId);
    stored.set(taskId, payload as never);
    return reply(res, 204);
  }

  async function hugeError(res: ServerResponse, status: number, bytes: number): Promise<number> {
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    const piece = Buffer.alloc(1 << 20, 'e');
    for (let sent = 0; sent < bytes && !res.destroyed; sent += piece.length) {
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r).once('close', r));
    }
    res.end();
    return status;
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://coderd');
      const entry = {
        at: Date.now(),
        answeredAt: 0,
        path: url.pathname,
        query: url.search,
        status: 0,
        bytes: raw.length,
        headers: req.headers,
      };
      // Logged on arrival, before answering, so the order against the simulator's events is true.
      if (options.eventsFile) {
        appendFileSync(
          options.eventsFile,
          `${JSON.stringify({ source: 'coderd', event: 'post', at: entry.at })}\n`,
        );
      }
      handle(req, res, raw).then((status) => {
        entry.status = status;
        entry.answeredAt = Date.now();
        received.push(entry);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}${prefix}/`,
    token,
    stored,
    unreadable,
    received,
    setBuild(next) {
      build = next;
    },
    peakConcurrency: () => peak,
    setMode(next) {
      mode = next;
      failures = 0;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
