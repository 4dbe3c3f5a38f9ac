// A loopback receiver for `smoke`: it takes a log snapshot exactly as coderd's endpoint would,
// in its order, by coderd's own rules (rules.ts): the route, the agent token, the task id as
// uuid.Parse takes it, `format=agentapi` and no other query, the task, then the body (64 KiB,
// decoded as coderd decodes it). 204 when stored, coderd's status otherwise; a snapshot coderd
// stores but its reader refuses (a role other than user or agent) is stored and flagged.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeSnapshot, parseUuid, SNAPSHOT_LIMIT_BYTES, tokenRefusal } from './rules.js';

const ROUTE = /^\/api\/v2\/workspaceagents\/me\/tasks\/([^/]+)\/log-snapshot$/;

export interface StoredSnapshot {
  taskId: string;
  bytes: number;
  messages: { id: number; content: string; role: string; time: string }[];
  /** Stored, but coderd's reader refuses it: why. */
  unreadable?: string;
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
    const header = req.headers['coder-session-token'];
    const refusal = tokenRefusal(typeof header === 'string' ? header : undefined, header === token);
    if (refusal) return refuse(res, 401, refusal.message);
    const id = parseUuid(decodeURIComponent(route[1]));
    if (!id) return refuse(res, 400, `Invalid task ID format: "${route[1]}" is not a UUID`);
    const query = [...url.searchParams.keys()];
    if (!url.searchParams.get('format') || query.some((k) => k !== 'format'))
      return refuse(res, 400, `Invalid query parameters: exactly format=agentapi, not "${url.search}"`);
    if (url.searchParams.get('format') !== 'agentapi') return refuse(res, 400, 'Invalid format parameter.');
    if (id !== parseUuid(taskId)) return refuse(res, 404, 'Resource not found (no such task here)');
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req) {
      bytes += (chunk as Buffer).length;
      // Read on, but keep no more than one byte past the limit: the size is what is judged.
      if (bytes <= SNAPSHOT_LIMIT_BYTES + 1) chunks.push(chunk as Buffer);
    }
    const decoded = decodeSnapshot(Buffer.concat(chunks));
    if (!decoded.ok) return refuse(res, 400, `${decoded.message} ${decoded.detail}`);
    receiver.stored = { taskId: id, bytes, messages: decoded.messages, unreadable: decoded.unreadable };
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
