// A loopback receiver for `smoke`: it takes a log snapshot exactly as coderd's endpoint would
// (SPEC §3, coderd/aitasks.go, in its order): the route, the agent token header, a UUID task id,
// `format=agentapi` and no other query, at most 64 KiB, JSON with `messages` whose roles coderd
// accepts; 204 when stored, coderd's status otherwise. It keeps what it stored, for the check.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROLES } from '../agentapi/agentapi-client.js';
import { DEFAULTS } from '../settings.js';

/** coderd's limit on the raw body. */
const SNAPSHOT_LIMIT_BYTES = DEFAULTS.maxBytes;

const ROUTE = /^\/api\/v2\/workspaceagents\/me\/tasks\/([^/]+)\/log-snapshot$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface StoredSnapshot {
  taskId: string;
  bytes: number;
  messages: { id: number; content: string; role: string; time: string }[];
}

export interface SnapshotReceiver {
  /** CODER_AGENT_URL for the sender: ends with a slash, as in a workspace. */
  url: string;
  token: string;
  /** The last snapshot stored, and every refusal (status and why), in order. */
  stored?: StoredSnapshot;
  refusals: { status: number; why: string }[];
  close(): Promise<void>;
}

export async function startSnapshotReceiver(token: string, taskId: string): Promise<SnapshotReceiver> {
  const receiver: SnapshotReceiver = {
    url: '',
    token,
    refusals: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const refuse = (res: ServerResponse, status: number, why: string) => {
    receiver.refusals.push({ status, why });
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ message: why }));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = ROUTE.exec(url.pathname);
    if (req.method !== 'POST' || !route)
      return refuse(res, 404, `no such route: ${req.method} ${url.pathname}`);
    if (req.headers['coder-session-token'] !== token)
      return refuse(res, 401, 'the agent token is missing or wrong');
    if (!UUID.test(route[1])) return refuse(res, 400, `task id "${route[1]}" is not a UUID`);
    const query = [...url.searchParams.keys()];
    if (url.searchParams.get('format') !== 'agentapi' || query.length !== 1)
      return refuse(res, 400, `the query must be exactly format=agentapi, not "${url.search}"`);
    if (route[1].toLowerCase() !== taskId.toLowerCase()) return refuse(res, 404, 'task not found');
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req) {
      bytes += (chunk as Buffer).length;
      // Read on, but keep no more than the limit: the size is what is judged.
      if (bytes <= SNAPSHOT_LIMIT_BYTES) chunks.push(chunk as Buffer);
    }
    if (bytes > SNAPSHOT_LIMIT_BYTES) return refuse(res, 400, `the body is ${bytes} bytes, more than 65536`);
    let body: { messages?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return refuse(res, 400, 'the body is not JSON');
    }
    if (!Array.isArray(body.messages)) return refuse(res, 400, 'the body has no messages list');
    for (const [i, m] of (body.messages as Record<string, unknown>[]).entries()) {
      const shaped =
        Number.isInteger(m?.id) &&
        typeof m.content === 'string' &&
        typeof m.time === 'string' &&
        (ROLES as readonly unknown[]).includes(m.role);
      if (!shaped) return refuse(res, 400, `messages.${i} is not {id, content, role: user|agent, time}`);
    }
    receiver.stored = { taskId: route[1], bytes, messages: body.messages as StoredSnapshot['messages'] };
    res.writeHead(204);
    res.end();
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => refuse(res, 500, 'the receiver failed'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return receiver;
}
