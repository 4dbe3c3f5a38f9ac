// A one-handler HTTP server on 127.0.0.1, for the answers the real peers (AgentAPI, coderd) never
// give: too large, not JSON, a wrong shape, an odd status, silence. The handler gets the request's
// body whole.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface Loopback {
  /** http://127.0.0.1:<port>, without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

export async function serve(handler: Handler): Promise<Loopback> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Answers every request with `value` as JSON. */
export const answerJson =
  (status: number, value: unknown): Handler =>
  (_, res) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
  };

/** Answers every request with `body` as it is. */
export const answerText =
  (status: number, body: string): Handler =>
  (_, res) => {
    res.writeHead(status).end(body);
  };
