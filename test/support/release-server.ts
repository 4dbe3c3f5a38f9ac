// A release server on 127.0.0.1 for the module's install script: dist/ served in the GitHub
// releases layout (<prefix>/v<version>/<artifact>), and the AgentAPI simulator served as AgentAPI's
// release assets (/agentapi/<tag>/agentapi-linux-<amd64|arm64>). Records every request; can cut a
// download halfway, or leave artifacts out.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import pjson from '../../package.json' with { type: 'json' };
import { ROOT, SIM } from './paths.js';

export const VERSION = pjson.version;
export const AGENTAPI_TAG = 'v0.12.2';

export interface ReleaseServer {
  /** The base URL of our releases: `${url}${prefix}`. */
  base: string;
  /** AgentAPI's releases. */
  agentapiBase: string;
  requests: string[];
  /** A file name whose download drops halfway, every time. */
  cut?: string;
  /** File names answered 404, as if not published. */
  missing: Set<string>;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Path before /v<version>/ (an air-gapped mirror's layout). */
  prefix?: string;
  /** Serve dist/ as this version's release. */
  version?: string;
}

export async function serveRelease({
  prefix = '',
  version = VERSION,
}: ServeOptions = {}): Promise<ReleaseServer> {
  const dist = `${ROOT}dist`;
  const requests: string[] = [];
  const missing = new Set<string>();
  const release: Partial<ReleaseServer> = { requests, missing };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    const name = url.split('/').pop() ?? '';
    let file: string | undefined;
    if (url === `${prefix}/v${version}/${name}`) file = join(dist, name);
    if (url === `/agentapi/${AGENTAPI_TAG}/${name}` && /^agentapi-linux-(amd64|arm64)$/.test(name))
      file = SIM;
    if (!file || !existsSync(file) || missing.has(name)) {
      res.writeHead(404).end('not found');
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'Content-Length': size });
    if (release.cut === name) {
      const stream = createReadStream(file, { end: Math.floor(size / 2) });
      stream.on('end', () => res.destroy());
      stream.pipe(res, { end: false });
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  release.base = `http://127.0.0.1:${port}${prefix}`;
  release.agentapiBase = `http://127.0.0.1:${port}/agentapi`;
  release.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return release as ReleaseServer;
}
