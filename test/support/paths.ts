import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}dist/agentapi-lifecycle-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;
/** The AgentAPI simulator, named `agentapi` like the real thing. */
export const SIM = `${ROOT}dist/sim/agentapi`;
export const FIXTURES = `${ROOT}test/fixtures`;
