// The simulator must be faithful, or every other test proves nothing: its answers are checked
// against AgentAPI's own OpenAPI document, and its state file against a real saved state.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Sim, startSim, type Workdir, workdir } from '../support/harness.js';
import { FIXTURES } from '../support/paths.js';

const openapi = JSON.parse(readFileSync(`${FIXTURES}/agentapi-openapi.json`, 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const validator = (name: string) =>
  ajv.compile({ $ref: `#/components/schemas/${name}`, components: openapi.components });

let work: Workdir;
let sim: Sim | undefined;

beforeEach(async () => {
  work = await workdir();
});

afterEach(async () => {
  await sim?.stop();
  sim = undefined;
  await work.cleanup();
});

describe('the AgentAPI simulator', () => {
  it.each([
    ['/status', 'StatusResponseBody'],
    ['/messages', 'MessagesResponseBody'],
  ])('GET %s matches the OpenAPI %s schema', async (path, schema) => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '6' } });
    const body = await (await fetch(`${sim.url}${path}`)).json();
    const validate = validator(schema);
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
  });

  it('the schema check can fail: a message missing its role is refused', () => {
    const validate = validator('MessagesResponseBody');
    expect(validate({ messages: [{ id: 0, content: 'x', time: '2026-01-01T00:00:00Z' }] })).toBe(false);
  });

  it('refuses a request whose Host is not loopback, as AgentAPI does', async () => {
    sim = await startSim({ work });
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      request(
        { host: '127.0.0.1', port: sim?.port, path: '/status', headers: { Host: 'example.com' } },
        (res) => resolve(res.statusCode ?? 0),
      )
        .on('error', reject)
        .end();
    });
    expect(status).toBe(400);
  });

  it('writes a state file shaped like a real AgentAPI saved state', async () => {
    sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    process.kill(sim.pid, 'SIGTERM');
    await sim.exited;
    const saved = JSON.parse(readFileSync(work.stateFile, 'utf8'));
    const reference = JSON.parse(readFileSync(`${FIXTURES}/agentapi-saved-state.json`, 'utf8'));
    expect(Object.keys(saved).sort()).toEqual(Object.keys(reference).sort());
    expect(Object.keys(saved.messages[0]).sort()).toEqual(Object.keys(reference.messages[0]).sort());
    expect(saved.version).toBe(1);
  });
});
