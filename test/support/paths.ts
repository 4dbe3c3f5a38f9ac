import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}dist/agentapi-lifecycle-linux-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;
/** The AgentAPI simulator, named `agentapi` like the real thing. */
export const SIM = `${ROOT}dist/sim/agentapi`;
/** The same simulator built as AgentAPI 0.11.2: no persistence flags, killed by SIGUSR1. */
export const OLD_SIM = `${ROOT}dist/sim/old/agentapi`;
export const FIXTURES = `${ROOT}test/fixtures`;
