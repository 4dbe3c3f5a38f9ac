// `npm run bench [-- --check] [-- --quick]`: agentapi-lifecycle against the bash + curl + jq
// baseline (scripts/bench/baseline-shutdown.sh), side by side in one run, on loopback.
// Prints a Markdown table (medians of repeated runs, ratios, targets) and writes
// dist/bench/results.json. With --check it exits 1 when a target is missed. Not part of CI:
// timings on shared machines are noisy. Run with bun: `bun scripts/bench/run.ts`.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startCoderd } from '../../test/support/coderd.js';
import { cleanEnv, type Sim, startSim, TASK_ID, type Workdir, workdir } from '../../test/support/harness.js';
import { BIN, ROOT, SIM } from '../../test/support/paths.js';

const args = process.argv.slice(2);
const CHECK = args.includes('--check');
const QUICK = args.includes('--quick');
const BASELINE = `${ROOT}scripts/bench/baseline-shutdown.sh`;
/** `--fleet N --capacity C`: workspaces stopping at once, and how many snapshots coderd stores at a time. */
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
const FLEET = option('--fleet', 40);
const CAPACITY = option('--capacity', 4);

interface Row {
  what: string;
  ours: string;
  baseline: string;
  ratio: string;
  target: string;
  met?: boolean;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

/** Runs a command to completion (async: the coderd stand-in lives in this process); wall ms. */
function timed(
  file: string,
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    // stdout is piped and dropped: under Bun, 'ignore' garbles GNU time's report.
    const child = spawn(file, argv, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ ms: performance.now() - started, code: code ?? 1, stderr }));
  });
}

/** Wall time and peak RSS from GNU time (its report goes to a file, not through a pipe). */
async function measured(argv: string[]): Promise<{ ms: number; rssKb: number }> {
  const reportFile = `${ROOT}dist/bench/time.txt`;
  const result = await timed('/usr/bin/time', ['-v', '-o', reportFile, ...argv]);
  const report = readFileSync(reportFile, 'utf8');
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1] ?? Number.NaN);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(report);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : Number.NaN;
  if (result.code !== 0) {
    throw new Error(`${argv.join(' ')} failed (${result.code}):\n${result.stderr.slice(-800)}`);
  }
  return { ms: seconds * 1000, rssKb: rss };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// --- 1. Shutdown end to end --------------------------------------------------------------
async function shutdownBench(messages: number): Promise<void> {
  const coderd = await startCoderd({ tasks: [TASK_ID] });
  const env = { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token };
  const reps = { ours: QUICK ? 5 : 15, baseline: QUICK ? 3 : 5, floor: QUICK ? 5 : 15 };
  const times: Record<'ours' | 'baseline' | 'floor', number[]> = { ours: [], baseline: [], floor: [] };
  for (const kind of ['floor', 'ours', 'baseline'] as const) {
    for (let i = 0; i < reps[kind]; i++) {
      const work: Workdir = await workdir();
      const sim: Sim = await startSim({ work, env: { AGENTAPI_SIM_MESSAGES: String(messages) } });
      if (kind === 'floor') {
        // AgentAPI's own cost: SIGTERM with unsaved changes (one save), until the process is gone.
        const started = performance.now();
        process.kill(sim.pid, 'SIGTERM');
        await sim.exited;
        times.floor.push(performance.now() - started);
      } else {
        const argv =
          kind === 'ours'
            ? [
                'shutdown',
                '--task-id',
                TASK_ID,
                '--pid-file',
                work.pidFile,
                '--port',
                String(sim.port),
                '--quiet',
              ]
            : [work.pidFile, String(sim.port), TASK_ID];
        const result = await timed(kind === 'ours' ? BIN : BASELINE, argv, env);
        const exited = await Promise.race([
          sim.exited.then(() => true),
          new Promise((r) => setTimeout(() => r(false), 5000)),
        ]);
        if (result.code !== 0 || !exited)
          throw new Error(`${kind} shutdown did not stop AgentAPI: ${result.stderr}`);
        times[kind].push(result.ms);
      }
      await sim.stop();
      await work.cleanup();
    }
  }
  await coderd.close();
  const [ours, baseline, floor] = [median(times.ours), median(times.baseline), median(times.floor)];
  results[`shutdown_${messages}`] = { ours, baseline, floor, runs: reps };
  rows.push({
    what: `shutdown, ${messages} messages (AgentAPI's own save + exit: ${ms(floor)})`,
    ours: ms(ours),
    baseline: ms(baseline),
    ratio: `${(baseline / ours).toFixed(0)}× faster`,
    target: `≥ 10×, ≤ ${ms(floor + 50)}`,
    met: baseline / ours >= 10 && ours - floor <= 50,
  });
}

// --- 2. Start-up ---------------------------------------------------------------------------
function startupBench(): void {
  const file = `${ROOT}dist/bench/hyperfine.json`;
  execFileSync(
    'hyperfine',
    [
      '--warmup',
      '3',
      '--runs',
      QUICK ? '20' : '40',
      '--export-json',
      file,
      '-N',
      `${BIN} --help`,
      `${BIN} --version`,
    ],
    { stdio: 'ignore' },
  );
  const runs = (JSON.parse(readFileSync(file, 'utf8')) as { results: { command: string; median: number }[] })
    .results;
  const [help, version] = runs.map((r) => r.median * 1000);
  results.startup = { help, version };
  rows.push({
    what: 'start-up: `--help`',
    ours: ms(help),
    baseline: '',
    ratio: '',
    target: '< 50 ms',
    met: help < 50,
  });
  rows.push({
    what: 'start-up: `--version`',
    ours: ms(version),
    baseline: '',
    ratio: '',
    target: '',
    met: undefined,
  });
}

// --- 3. Big transcripts --------------------------------------------------------------------
async function transcriptBench(megabytes: number): Promise<void> {
  const work = await workdir();
  const sim = await startSim({ work, env: { AGENTAPI_SIM_TRANSCRIPT_BYTES: String(megabytes * 1_000_000) } });
  const url = `http://localhost:${sim.port}/messages`;
  const reps = megabytes >= 300 || QUICK ? 1 : 3;
  const ours: { ms: number; rssKb: number }[] = [];
  const baseline: { ms: number; rssKb: number }[] = [];
  const serve: number[] = [];
  for (let i = 0; i < reps; i++) {
    serve.push((await measured(['curl', '-s', '-o', '/dev/null', url])).ms);
    ours.push(await measured([BIN, 'snapshot', '--port', String(sim.port), '--quiet']));
    baseline.push(
      await measured(['bash', '-c', `curl -s ${url} | jq -c '{messages: .messages[-10:]}' > /dev/null`]),
    );
  }
  await sim.stop();
  await work.cleanup();
  const o = { ms: median(ours.map((r) => r.ms)), rssKb: median(ours.map((r) => r.rssKb)) };
  const b = { ms: median(baseline.map((r) => r.ms)), rssKb: median(baseline.map((r) => r.rssKb)) };
  results[`snapshot_${megabytes}mb`] = { ours: o, baseline: b, serveMs: median(serve), runs: reps };
  const big = megabytes === 300;
  rows.push({
    what: `snapshot of ${megabytes} MB /messages (curl alone: ${ms(median(serve))})`,
    ours: `${ms(o.ms)}, ${mb(o.rssKb)}`,
    baseline: `${ms(b.ms)}, ${mb(b.rssKb)}`,
    ratio: `${(b.ms / o.ms).toFixed(1)}× faster, ${(b.rssKb / o.rssKb).toFixed(1)}× less memory`,
    target: big ? '< 2 s, < 200 MB' : '',
    met: big ? o.ms < 2000 && o.rssKb < 200 * 1024 : undefined,
  });
}

// --- 4. A fleet stopping at once -------------------------------------------------------------
async function fleetBench(): Promise<void> {
  const outcome: Record<
    string,
    { stored: number; refusals: number; peak: number; lastMs: number; stopped: number }
  > = {};
  for (const kind of ['ours', 'baseline'] as const) {
    const tasks = Array.from({ length: FLEET }, () => crypto.randomUUID());
    const coderd = await startCoderd({
      tasks,
      mode: { kind: 'capacity', concurrent: CAPACITY, holdMs: 250, refuse: 503, retryAfter: '1' },
    });
    const env = { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token };
    const works = await Promise.all(tasks.map(() => workdir()));
    const sims = await Promise.all(
      works.map((work) => startSim({ work, env: { AGENTAPI_SIM_MESSAGES: '10' } })),
    );
    const started = Date.now();
    await Promise.all(
      tasks.map((task, i) =>
        kind === 'ours'
          ? timed(
              BIN,
              [
                'shutdown',
                '--task-id',
                task,
                '--pid-file',
                works[i].pidFile,
                '--port',
                String(sims[i].port),
                '--quiet',
              ],
              env,
            )
          : timed(BASELINE, [works[i].pidFile, String(sims[i].port), task], env),
      ),
    );
    const stopped = (
      await Promise.all(
        sims.map((s) =>
          Promise.race([s.exited.then(() => 1), new Promise<number>((r) => setTimeout(() => r(0), 5000))]),
        ),
      )
    ).reduce((a, b) => a + b, 0);
    const stored = coderd.received.filter((r) => r.status === 204);
    outcome[kind] = {
      stored: coderd.stored.size,
      refusals: coderd.received.filter((r) => r.status === 503).length,
      peak: coderd.peakConcurrency(),
      lastMs: stored.length ? Math.max(...stored.map((r) => r.answeredAt)) - started : Number.NaN,
      stopped,
    };
    await Promise.all(sims.map((s) => s.stop()));
    await Promise.all(works.map((w) => w.cleanup()));
    await coderd.close();
  }
  results.fleet = { fleet: FLEET, capacity: CAPACITY, holdMs: 250, ...outcome };
  const show = (o: (typeof outcome)[string]) =>
    `${o.stored}/${FLEET} stored, ${o.refusals} refusals, peak ${o.peak}, last at ${ms(o.lastMs)}, ${o.stopped}/${FLEET} stopped`;
  rows.push({
    what: `fleet: ${FLEET} workspaces stop at once; coderd stores ${CAPACITY} at a time (250 ms each), 503 + Retry-After: 1 beyond`,
    ours: show(outcome.ours),
    baseline: show(outcome.baseline),
    ratio: '',
    target: `≥ ${Math.ceil(FLEET * 0.95)}/${FLEET} within 30 s, all stopped`,
    met:
      outcome.ours.stored >= Math.ceil(FLEET * 0.95) &&
      outcome.ours.lastMs < 30_000 &&
      outcome.ours.stopped === FLEET,
  });
}

// --- 5. Size ---------------------------------------------------------------------------------
function sizeBench(): void {
  for (const arch of ['x64', 'arm64']) {
    const raw = `${ROOT}dist/agentapi-lifecycle-linux-${arch}`;
    if (!existsSync(raw) || !existsSync(`${raw}.gz`)) continue;
    const [r, g] = [statSync(raw).size, statSync(`${raw}.gz`).size];
    results[`size_${arch}`] = { raw: r, gz: g };
    rows.push({
      what: `binary size, linux-${arch}`,
      ours: `${(r / 1e6).toFixed(1)} MB (gz ${(g / 1e6).toFixed(1)} MB)`,
      baseline: 'bash + curl + jq in the image',
      ratio: '',
      target: '',
    });
  }
}

for (const tool of ['hyperfine', '/usr/bin/time', 'jq', 'curl']) {
  if (
    execFileSync('sh', ['-c', `command -v ${tool} || true`])
      .toString()
      .trim() === ''
  ) {
    log(`${tool} is missing: apt-get install hyperfine time jq curl`);
    process.exit(2);
  }
}
if (!existsSync(BIN) || !existsSync(SIM) || !existsSync(`${BIN}.gz`)) {
  log('building first (npm run build)');
  execFileSync(process.execPath, ['scripts/build.ts'], { cwd: ROOT, stdio: 'inherit' });
}
mkdirSync(`${ROOT}dist/bench`, { recursive: true });

// `--only fleet` (or shutdown, startup, snapshot, size) runs one part.
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const part = (name: string) => !only || only === name;
if (part('shutdown')) {
  log('shutdown, 10 messages…');
  await shutdownBench(10);
  log('shutdown, 1000 messages…');
  await shutdownBench(1000);
}
if (part('startup')) {
  log('start-up…');
  startupBench();
}
if (part('snapshot')) {
  for (const size of QUICK ? [1, 10, 300] : [1, 10, 100, 300]) {
    log(`snapshot of ${size} MB…`);
    await transcriptBench(size);
  }
}
if (part('fleet')) {
  log(`fleet of ${FLEET}…`);
  await fleetBench();
}
if (part('size')) sizeBench();

const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${process.arch}`;
const table = [
  `Machine: ${machine}. ${new Date().toISOString().slice(0, 10)}, \`npm run bench\`${QUICK ? ' -- --quick' : ''}.`,
  '',
  '| measurement | agentapi-lifecycle | baseline (bash + curl + jq) | ratio | target | met |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.what} | ${r.ours} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
writeFileSync(`${ROOT}dist/bench/results.json`, JSON.stringify({ machine, results, rows }, null, 2));
const missed = rows.filter((r) => r.met === false);
if (CHECK && missed.length) {
  log(`targets missed: ${missed.map((r) => r.what).join('; ')}`);
  process.exit(1);
}
