// A fleet of workspaces for the fleet test and the bench: one AgentAPI simulator and task each,
// and one busy coderd that stores `capacity` snapshots at a time (250 ms each), refusing the rest
// with 503 and Retry-After: 1, as a load balancer in front of a busy coderd does. With `gather`,
// coderd holds the fleet's first requests until all have arrived, so they meet its limit at once.
import { type Coderd, startCoderd } from './coderd.js';
import { type Sim, startSim, type Workdir, workdir } from './harness.js';

export interface Fleet {
  coderd: Coderd;
  tasks: string[];
  works: Workdir[];
  sims: Sim[];
  /** The environment a stop script gets. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startFleet(
  size: number,
  capacity: number,
  messages = 10,
  { gather = false } = {},
): Promise<Fleet> {
  const tasks = Array.from({ length: size }, () => crypto.randomUUID());
  const coderd = await startCoderd({
    tasks,
    mode: {
      kind: 'capacity',
      concurrent: capacity,
      holdMs: 250,
      refuse: 503,
      retryAfter: '1',
      gather: gather ? size : undefined,
    },
  });
  const works = await Promise.all(tasks.map(() => workdir()));
  const sims = await Promise.all(
    works.map((work) => startSim({ work, env: { AGENTAPI_SIM_MESSAGES: String(messages) } })),
  );
  return {
    coderd,
    tasks,
    works,
    sims,
    env: { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token },
    async close() {
      await Promise.all(sims.map((s) => s.stop()));
      await coderd.close();
      await Promise.all(works.map((w) => w.cleanup()));
    },
  };
}
