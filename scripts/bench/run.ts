// `npm run bench [-- --check] [-- --quick] [-- --smoke] [-- --only <part>]`: agentapi-lifecycle
// against its physical floor and against the bash + curl + jq baseline, side by side in one run,
// on loopback. Every figure is a ratio to a floor measured in the same run (absolute times on a
// shared machine move by tens of percent from run to run):
//   start-up   a bare `console.log` compiled by the same bun with the same flags
//   shutdown   the same four steps as a bare, sleep-free curl sequence (scripts/bench/floor-shutdown.sh)
//   snapshot   `curl -o /dev/null` of the same /messages
//   checkpoint the same steps as a bare curl sequence (scripts/bench/floor-checkpoint.sh)
//   transcript jq printing every message of the same state file (and `cat` of it)
//   logs       what the module's scripts write into the agent's logs a day, against Coder's 1 MiB
//   resident   AgentAPI alone
// Prints a Markdown table (medians, ratios, targets) and writes dist/bench/results.json. With
// --check it exits 1 when a target is missed; --smoke runs everything once, small, to prove the
// bench works (CI runs it). Not part of `npm test`. Run with bun: `bun scripts/bench/run.ts`.

import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { startCoderd } from '../../test/support/coderd.js';
import { startFleet } from '../../test/support/fleet.js';
import { cleanEnv, freePort, startSim, TASK_ID, type Workdir, workdir } from '../../test/support/harness.js';
import { BIN, ROOT, SIM } from '../../test/support/paths.js';
import { peer } from '../../test/support/peers.js';
import { say, startRealAgentApi } from '../../test/support/real-agentapi.js';
import { conversation, messageAt } from '../../test/support/transcript.js';

const args = process.argv.slice(2);
const CHECK = args.includes('--check');
const SMOKE = args.includes('--smoke');
const QUICK = args.includes('--quick') || SMOKE;
const BASELINE = `${ROOT}scripts/bench/baseline-shutdown.sh`;
const FLOOR_SHUTDOWN = `${ROOT}scripts/bench/floor-shutdown.sh`;
const FLOOR_CHECKPOINT = `${ROOT}scripts/bench/floor-checkpoint.sh`;
const FLOOR_BIN = `${ROOT}dist/bench/floor`;
const FETCH_FLOOR_BIN = `${ROOT}dist/bench/floor-fetch`;
/** `--fleet N --capacity C`: workspaces stopping at once, and how many snapshots coderd stores at a time. */
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback;
const FLEET = option('--fleet', SMOKE ? 4 : 40);
const CAPACITY = option('--capacity', SMOKE ? 2 : 4);
const reps = (full: number, quick: number) => (SMOKE ? 1 : QUICK ? quick : full);

interface Row {
  what: string;
  ours: string;
  floor: string;
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
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const times = (ratio: number) => `${ratio.toFixed(2)}×`;

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
async function measured(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; rssKb: number }> {
  const reportFile = `${ROOT}dist/bench/time.txt`;
  const result = await timed('/usr/bin/time', ['-v', '-o', reportFile, ...argv], env);
  const report = readFileSync(reportFile, 'utf8');
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(report)?.[1] ?? Number.NaN);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(report);
  const seconds = wall ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]) : Number.NaN;
  if (result.code !== 0)
    throw new Error(`${argv.join(' ')} failed (${result.code}):\n${result.stderr.slice(-800)}`);
  return { ms: seconds * 1000, rssKb: rss };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * The floors compiled by the same bun with the same flags: a bare console.log (start-up), and a
 * bare streamed fetch of a URL to nowhere (what Bun's runtime and fetch alone cost a snapshot).
 */
async function buildFloors(): Promise<void> {
  await buildFloor(FLOOR_BIN, "console.log('agentapi-lifecycle 0.0.0 (linux-x64)');\n");
  await buildFloor(
    FETCH_FLOOR_BIN,
    'const r = await fetch(process.argv[2]); let n = 0; for await (const c of r.body) n += c.length; console.log(n);\n',
  );
}

async function buildFloor(outfile: string, code: string): Promise<void> {
  const source = `${outfile}.ts`;
  writeFileSync(source, code);
  const result = await Bun.build({
    entrypoints: [source],
    compile: {
      target: 'bun-linux-x64',
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadPackageJson: false,
      autoloadTsconfig: false,
    },
    bytecode: true,
    format: 'esm',
    minify: true,
    splitting: true,
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  if (!result.success) throw new AggregateError(result.logs, `building ${outfile} failed`);
}

// --- 1. Start-up ---------------------------------------------------------------------------
function startupBench(): void {
  const file = `${ROOT}dist/bench/hyperfine.json`;
  const runs = String(reps(21, 11));
  execFileSync(
    'hyperfine',
    [
      '--warmup',
      '3',
      '--runs',
      runs,
      '--export-json',
      file,
      '-N',
      FLOOR_BIN,
      `${BIN} --version`,
      `${BIN} --help`,
    ],
    {
      stdio: 'ignore',
    },
  );
  const [floor, version, help] = (
    JSON.parse(readFileSync(file, 'utf8')) as { results: { median: number }[] }
  ).results.map((r) => r.median * 1000);
  results.startup = { floor, version, help, runs };
  rows.push({
    what: `start-up: \`--version\` (median of ${runs})`,
    ours: ms(version),
    floor: `${ms(floor)} (bare compiled console.log)`,
    ratio: times(version / floor),
    target: '≤ 2×',
    met: version / floor <= 2,
  });
  rows.push({
    what: `start-up: \`--help\` (median of ${runs})`,
    ours: ms(help),
    floor: ms(floor),
    ratio: times(help / floor),
    target: '≤ 3×',
    met: help / floor <= 3,
  });
}

// --- 2. Shutdown end to end ------------------------------------------------------------------
/** The AgentAPI a shutdown is measured against: our simulator, or the real one with the chat agent. */
type Peer = { kind: 'sim' } | { kind: 'real'; bin: string; title: string };

/**
 * An AgentAPI with `messages` in its conversation and something new to save. The real one loads
 * them from a state file (AgentAPI's own --load-state) and is then told one thing more.
 */
async function agentApiFor(peer: Peer, work: Awaited<ReturnType<typeof workdir>>, messages: number) {
  if (peer.kind === 'sim') return startSim({ work, env: { AGENTAPI_SIM_MESSAGES: String(messages) } });
  const real = await startRealAgentApi({ bin: peer.bin, work, conversation: conversation(messages - 2) });
  await say(real.url, 'one thing more');
  return real;
}

async function shutdownBench(
  messages: number,
  withBaseline: boolean,
  peer: Peer = { kind: 'sim' },
): Promise<void> {
  const coderd = await startCoderd({ tasks: [TASK_ID] });
  const env = { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token };
  const count = { ours: reps(7, 5), floor: reps(7, 5), baseline: withBaseline ? reps(3, 2) : 0 };
  const samples: Record<keyof typeof count, number[]> = { ours: [], floor: [], baseline: [] };
  // Interleaved, so a slow moment of the machine lands on both sides alike.
  for (let i = 0; i < Math.max(count.ours, count.floor, count.baseline); i++) {
    for (const kind of ['floor', 'ours', 'baseline'] as const) {
      if (i >= count[kind]) continue;
      const work = await workdir();
      const sim = await agentApiFor(peer, work, messages);
      const [file, argv] =
        kind === 'ours'
          ? [
              BIN,
              [
                'shutdown',
                '--task-id',
                TASK_ID,
                '--pid-file',
                work.pidFile,
                '--port',
                String(sim.port),
                '--quiet',
              ],
            ]
          : [kind === 'floor' ? FLOOR_SHUTDOWN : BASELINE, [work.pidFile, String(sim.port), TASK_ID]];
      const result = await timed(file, argv, env);
      const exited = await Promise.race([
        sim.exited.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5000)),
      ]);
      if (result.code !== 0 || !exited)
        throw new Error(`${kind} shutdown did not stop AgentAPI: ${result.stderr}`);
      samples[kind].push(result.ms);
      await sim.stop();
      await work.cleanup();
    }
  }
  await coderd.close();
  const [ours, floor] = [median(samples.ours), median(samples.floor)];
  const baseline = withBaseline ? median(samples.baseline) : undefined;
  const against = peer.kind === 'real' ? `, ${peer.title}` : '';
  results[`shutdown_${messages}${peer.kind === 'real' ? '_real' : ''}`] = { ours, floor, baseline, samples };
  rows.push({
    what: `shutdown, ${messages} messages${against} (median of ${count.ours})${baseline ? `; bash + curl + jq baseline ${ms(baseline)}, ${(baseline / ours).toFixed(0)}× slower than ours` : ''}`,
    ours: ms(ours),
    floor: `${ms(floor)} (kill -USR1, curl GET, curl POST, kill -TERM, wait)`,
    ratio: times(ours / floor),
    target: messages === 40 && peer.kind === 'sim' ? '≤ 1.5×' : '',
    met: messages === 40 && peer.kind === 'sim' ? ours / floor <= 1.5 : undefined,
  });
}

// --- 3. Big transcripts ----------------------------------------------------------------------
async function transcriptBench(megabytes: number, target: boolean): Promise<void> {
  const work = await workdir();
  // Streamed by the simulator as it is read: the simulator holds none of it.
  const sim = await startSim({ work, env: { AGENTAPI_SIM_HUGE: `messages:${megabytes * 1_000_000}` } });
  const url = `http://localhost:${sim.port}/messages`;
  const count = megabytes >= 1000 ? 1 : reps(3, 1);
  const ours: { ms: number; rssKb: number }[] = [];
  const floor: number[] = [];
  const bunFetch: { ms: number; rssKb: number }[] = [];
  for (let i = 0; i < count; i++) {
    floor.push((await measured(['curl', '-s', '-o', '/dev/null', url])).ms);
    bunFetch.push(await measured([FETCH_FLOOR_BIN, url]));
    ours.push(await measured([BIN, 'snapshot', '--port', String(sim.port), '--quiet']));
  }
  await sim.stop();
  await work.cleanup();
  const o = { ms: median(ours.map((r) => r.ms)), rssKb: Math.max(...ours.map((r) => r.rssKb)) };
  const f = median(floor);
  const b = { ms: median(bunFetch.map((r) => r.ms)), rssKb: Math.max(...bunFetch.map((r) => r.rssKb)) };
  results[`snapshot_${megabytes}mb`] = { ours: o, floorMs: f, bunFetch: b, runs: count };
  rows.push({
    what: `snapshot of a ${megabytes >= 1000 ? `${megabytes / 1000} GB` : `${megabytes} MB`} /messages: time, peak RSS`,
    ours: `${ms(o.ms)}, ${mib(o.rssKb)}`,
    floor: `${ms(f)} (curl -o /dev/null); a bare compiled Bun fetch: ${ms(b.ms)}, ${mib(b.rssKb)}`,
    ratio: times(o.ms / f),
    target: target ? '≤ 1.2×, < 64 MiB' : '',
    met: target ? o.ms / f <= 1.2 && o.rssKb < 64 * 1024 : undefined,
  });
}

// --- 3a. A transcript of a big state file -------------------------------------------------------
/** An AgentAPI state file of about `megabytes` of real agent screens, written once. */
function bigStateFile(megabytes: number): string {
  const file = `${ROOT}dist/bench/state-${megabytes}mb.json`;
  if (existsSync(file)) return file;
  const fd = openSync(`${file}.tmp`, 'w', 0o600);
  writeSync(fd, '{"version":1,"messages":[');
  let bytes = 0;
  for (let id = 0; bytes < megabytes * 1_000_000; id++) {
    const { content, role, time } = messageAt(id);
    const line = `${id ? ',' : ''}${JSON.stringify({ id, message: content, role, time })}`;
    bytes += writeSync(fd, line);
  }
  writeSync(fd, '],"initial_prompt":"","initial_prompt_sent":false}\n');
  closeSync(fd);
  execFileSync('mv', [`${file}.tmp`, file]);
  return file;
}

/**
 * `transcript --from-state` of a big state file (Markdown, to a pipe), against jq printing every
 * message's text from it (a plain program that reads the same JSON and writes the same text; it
 * holds the whole file), and `cat` of it (the bytes alone).
 */
async function stateTranscriptBench(megabytes: number, target: boolean): Promise<void> {
  const file = bigStateFile(megabytes);
  const count = reps(3, 1);
  const samples = { ours: [] as Measured[], jq: [] as Measured[], cat: [] as Measured[] };
  for (let i = 0; i < count; i++) {
    samples.cat.push(await measured(['cat', file]));
    samples.jq.push(await measured(['jq', '-r', '.messages[] | .message', file]));
    samples.ours.push(await measured([BIN, 'transcript', '--from-state', file, '--quiet']));
  }
  if (SMOKE) rmSync(file);
  const sum = (runs: Measured[]) => ({
    ms: median(runs.map((r) => r.ms)),
    rssKb: Math.max(...runs.map((r) => r.rssKb)),
  });
  const [o, jq, cat] = [sum(samples.ours), sum(samples.jq), sum(samples.cat)];
  results[`transcript_${megabytes}mb`] = { ours: o, jq, cat, runs: count };
  rows.push({
    what: `transcript of a ${megabytes} MB state file (Markdown, to a pipe): time, peak RSS`,
    ours: `${ms(o.ms)}, ${mib(o.rssKb)}`,
    floor: `jq printing each message: ${ms(jq.ms)}, ${mib(jq.rssKb)}; cat: ${ms(cat.ms)}`,
    ratio: times(o.ms / jq.ms),
    target: target ? '≤ 2× jq, < 100 MiB' : '',
    met: target ? o.ms / jq.ms <= 2 && o.rssKb < 100 * 1024 : undefined,
  });
}

type Measured = { ms: number; rssKb: number };

// --- 3b. Checkpoint ticks ----------------------------------------------------------------------
/**
 * One `checkpoint` tick, as the agent's cron runs it: one that posts (the conversation changed: no
 * fingerprint yet) and one with nothing changed, each against its floor, time and peak RSS.
 */
async function checkpointBench(size: { messages: number } | { megabytes: number }): Promise<void> {
  const coderd = await startCoderd({ tasks: [TASK_ID] });
  const env = { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: coderd.token };
  const simEnv =
    'messages' in size
      ? { AGENTAPI_SIM_MESSAGES: String(size.messages) }
      : { AGENTAPI_SIM_HUGE: `messages:${size.megabytes * 1_000_000}` };
  const label = 'messages' in size ? `${size.messages} messages` : `a ${size.megabytes} MB transcript`;
  const count = reps(9, 3);
  const samples = {
    posts: [] as { ms: number; rssKb: number }[],
    unchanged: [] as { ms: number; rssKb: number }[],
  };
  const floors = { posts: [] as number[], unchanged: [] as number[] };
  // What Bun's runtime and fetch alone cost the idle tick: its bound, whatever we do.
  const bunFetch: number[] = [];
  // Times from the spawn to the exit, as the floor's; peak RSS from GNU time in runs of their own
  // (its wall clock counts hundredths of a second, too coarse for a 20 ms tick). A tick that
  // posts needs a conversation it has not seen: a fresh AgentAPI for each.
  const tick = async (kind: 'posts' | 'unchanged', withRss: boolean) => {
    const work = await workdir();
    const sim = await startSim({ work, env: simEnv });
    const args = ['checkpoint', '--task-id', TASK_ID, '--pid-file', work.pidFile, '--port', String(sim.port)];
    const floorArgs = [work.pidFile, String(sim.port), TASK_ID];
    if (kind === 'unchanged') await timed(BIN, [...args, '--quiet'], env); // the fingerprint
    // The idle tick's floor is one bare GET, curl spawned as we are (no shell around it); the tick
    // that posts is a sequence of steps, which a shell script does.
    const url = `http://127.0.0.1:${sim.port}/messages`;
    floors[kind].push(
      kind === 'unchanged'
        ? (await timed('curl', ['-s', '-o', '/dev/null', url])).ms
        : (await timed(FLOOR_CHECKPOINT, [kind, ...floorArgs], env)).ms,
    );
    if (kind === 'unchanged') bunFetch.push((await timed(FETCH_FLOOR_BIN, [url])).ms);
    const run = await timed(BIN, [...args, '--quiet'], env);
    if (run.code !== 0) throw new Error(`checkpoint failed (${run.code}):\n${run.stderr.slice(-800)}`);
    const rssKb = withRss ? (await measured([BIN, ...args, '--quiet'], env)).rssKb : Number.NaN;
    samples[kind].push({ ms: run.ms, rssKb });
    await sim.stop();
    await work.cleanup();
  };
  for (let i = 0; i < count; i++) {
    await tick('posts', false);
    await tick('unchanged', true);
  }
  // The RSS of a tick that posts, in a run of its own.
  const work = await workdir();
  const sim = await startSim({ work, env: simEnv });
  const argv = ['checkpoint', '--task-id', TASK_ID, '--pid-file', work.pidFile, '--port', String(sim.port)];
  const rss = await measured([BIN, ...argv, '--quiet'], env);
  samples.posts[0].rssKb = rss.rssKb;
  await sim.stop();
  await work.cleanup();
  await coderd.close();
  for (const kind of ['posts', 'unchanged'] as const) {
    const o = {
      ms: median(samples[kind].map((r) => r.ms)),
      rssKb: Math.max(...samples[kind].map((r) => r.rssKb).filter((kb) => !Number.isNaN(kb))),
    };
    const f = median(floors[kind]);
    // The target is the idle tick of an ordinary conversation: what every workspace pays every
    // two minutes all day.
    const target = kind === 'unchanged' && 'messages' in size && size.messages === 10;
    results[`checkpoint_${kind}_${'messages' in size ? size.messages : `${size.megabytes}mb`}`] = {
      ours: o,
      floorMs: f,
    };
    rows.push({
      what: `checkpoint tick that ${kind === 'posts' ? 'saves and posts' : 'finds nothing changed'}, ${label} (median of ${count}): time, peak RSS`,
      ours: `${ms(o.ms)}, ${mib(o.rssKb)}`,
      floor:
        kind === 'posts'
          ? `${ms(f)} (kill -USR1, curl GET, curl POST)`
          : `${ms(f)} (a bare curl GET, no shell); a bare compiled Bun fetch: ${ms(median(bunFetch))}`,
      ratio: times(o.ms / f),
      target: target ? '≤ 1.5×' : '',
      met: target ? o.ms / f <= 1.5 : undefined,
    });
  }
}

// --- 3c. What the module's scripts write into the agent's logs -------------------------------
/**
 * Coder keeps at most 1 MiB of an agent's logs (coderd's max_logs_length), the output of every
 * coder_script included. The module with its defaults, applied by OpenTofu with the coder
 * provider, its scripts run as the agent runs them: install and start once, the cron's checkpoint
 * every 2 minutes (720 ticks a day), the stop script once; an idle task (nothing changes) and a
 * busy one (something changes before every tick). Bytes of stdout and stderr, both of which the
 * agent keeps. Fewer ticks than a day are scaled to a day (--quick, --smoke).
 */
async function logsBench(): Promise<void> {
  const { engineMissing } = await import('../../test/support/tofu.js');
  if (engineMissing) {
    log(`agent logs: skipped (${engineMissing})`);
    return;
  }
  const { serveRelease } = await import('../../test/support/release-server.js');
  const { workspace } = await import('../../test/support/workspace.js');
  const ticksPerDay = 720;
  const ticks = reps(ticksPerDay, 60) === 1 ? 5 : reps(ticksPerDay, 60);
  const bytes = (r: { stdout: string; stderr: string }) =>
    Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr);
  const day = async (busy: boolean) => {
    const work = await workdir();
    const server = await serveRelease();
    const coderd = await startCoderd({ tasks: [TASK_ID] });
    const cleanups: (() => void)[] = [];
    try {
      const ws = await workspace({ work, server, coderd, cleanups });
      const startup = (await ws.start()).reduce((sum, r) => sum + bytes(r), 0);
      // The first tick saves what the start began with, busy or not: counted once, not scaled.
      const first = bytes(await ws.tick());
      let tickBytes = 0;
      for (let i = 1; i < ticks; i++) {
        if (busy) {
          await fetch(`${ws.url}/message`, {
            method: 'POST',
            body: JSON.stringify({ content: `step ${i}`, type: 'user' }),
          });
        }
        tickBytes += bytes(await ws.tick());
      }
      const stop = bytes(await ws.stop());
      const perDay = first + Math.round((tickBytes * (ticksPerDay - 1)) / (ticks - 1));
      return { startup, perDay, stop };
    } finally {
      for (const cleanup of cleanups) cleanup();
      await coderd.close();
      await server.close();
      await work.cleanup();
    }
  };
  for (const busy of [false, true]) {
    const o = await day(busy);
    const afterStartup = o.perDay + o.stop;
    results[`logs_${busy ? 'busy' : 'idle'}_day`] = { ...o, ticks, ticksPerDay };
    rows.push({
      what: `the module's scripts in the agent's logs, ${busy ? 'a busy day (a change before every tick)' : 'an idle day (nothing changes)'}, defaults: install and start, ${ticksPerDay} cron ticks${ticks < ticksPerDay ? ` (${ticks} run, scaled)` : ''}, stop`,
      ours: `${afterStartup} bytes after start-up (ticks ${o.perDay}, stop ${o.stop}); start-up ${o.startup}`,
      floor: "Coder keeps 1 MiB of an agent's logs",
      ratio: `${((100 * (afterStartup + o.startup)) / 2 ** 20).toFixed(1)}% of it a day`,
      target: busy ? '' : '< 1 KiB after start-up',
      met: busy ? undefined : afterStartup < 1024,
    });
  }
}

// --- 4. What stays resident while AgentAPI runs ------------------------------------------------
async function residentBench(): Promise<void> {
  const rssKb = (pid: number) =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  // Resident processes of ours: a checkpoint, in a process of its own for a moment, is not one.
  const ourProcesses = () =>
    execFileSync('sh', ['-c', `pgrep -f '^${BIN} ' || true`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1] !== 'checkpoint');
  const measure = async (extra: string[], between?: (work: Workdir, port: number) => Promise<void>) => {
    const work = await workdir();
    const port = await freePort();
    const result = await timed(BIN, [
      'start',
      '--detach',
      '--agentapi-bin',
      SIM,
      '--port',
      String(port),
      '--pid-file',
      work.pidFile,
      '--state-file',
      work.stateFile,
      ...extra,
      '--',
      'claude',
    ]);
    if (result.code !== 0) throw new Error(`start --detach failed: ${result.stderr}`);
    // Long enough for two or three checkpoints at 1s: what stays resident after them.
    if (between) await between(work, port);
    else await new Promise((r) => setTimeout(r, 3500));
    const agentapi = Number(readFileSync(work.pidFile, 'utf8'));
    const ours = ourProcesses();
    const sample = {
      agentapiKb: rssKb(agentapi),
      oursKb: ours.reduce((sum, pid) => sum + rssKb(pid), 0),
      processes: ours.length,
    };
    for (const pid of [agentapi, ...ours]) process.kill(pid, 'SIGKILL');
    await work.cleanup();
    return sample;
  };
  const plain = await measure([]);
  const checkpoints = await measure(['--checkpoint-interval', '1s']);
  // The module's way: `start --detach` alone, and the agent's cron running `checkpoint` as one
  // short process per tick; measured between ticks, after three of them.
  const cron = await measure([], async (work, port) => {
    for (let i = 0; i < 3; i++)
      await timed(BIN, ['checkpoint', '--pid-file', work.pidFile, '--port', String(port), '--quiet']);
  });
  // What any Bun process costs before it loads anything: the supervisor's own floor.
  const bareKb = (await measured([FLOOR_BIN])).rssKb;
  rows.push({
    what: 'resident while AgentAPI runs: `start --detach`',
    ours: `${plain.processes} processes of ours, ${mib(plain.oursKb)}`,
    floor: `AgentAPI alone: ${mib(plain.agentapiKb)}`,
    ratio: `+${mib(plain.oursKb)}`,
    target: 'no process of ours',
    met: plain.processes === 0,
  });
  results.resident = { plain, checkpoints, cron, bareKb };
  rows.push({
    what: "resident while AgentAPI runs: `start --detach` and the agent's cron running `checkpoint`, after 3 ticks",
    ours: `${cron.processes} processes of ours, ${mib(cron.oursKb)}`,
    floor: `AgentAPI alone: ${mib(cron.agentapiKb)}`,
    ratio: `+${mib(cron.oursKb)}`,
    target: 'no process of ours',
    met: cron.processes === 0,
  });
  rows.push({
    what: 'resident while AgentAPI runs: `start --detach --checkpoint-interval 1s`, after 2–3 checkpoints',
    ours: `${checkpoints.processes} supervisor, ${mib(checkpoints.oursKb)}`,
    floor: `AgentAPI alone: ${mib(checkpoints.agentapiKb)}; a bare compiled Bun program: ${mib(bareKb)}`,
    ratio: `+${mib(checkpoints.oursKb)}`,
    target: '≤ +30 MiB',
    met: checkpoints.oursKb <= 30 * 1024,
  });
}

// --- 5. A fleet stopping at once -------------------------------------------------------------
async function fleetBench(): Promise<void> {
  const outcome: Record<
    string,
    { stored: number; refusals: number; peak: number; lastMs: number; stopped: number }
  > = {};
  for (const kind of ['ours', 'baseline'] as const) {
    const fleet = await startFleet(FLEET, CAPACITY, 10);
    const { coderd, tasks, works, sims, env } = fleet;
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
    await fleet.close();
  }
  results.fleet = { fleet: FLEET, capacity: CAPACITY, holdMs: 250, ...outcome };
  const show = (o: (typeof outcome)[string]) =>
    `${o.stored}/${FLEET} stored, ${o.refusals} refusals, peak ${o.peak}, last at ${ms(o.lastMs)}, ${o.stopped}/${FLEET} stopped`;
  rows.push({
    what: `fleet: ${FLEET} workspaces stop at once; coderd stores ${CAPACITY} at a time (250 ms each), 503 + Retry-After: 1 beyond`,
    ours: show(outcome.ours),
    floor: `bash + curl + jq baseline: ${show(outcome.baseline)}`,
    ratio: '',
    target: `≥ ${Math.ceil(FLEET * 0.95)}/${FLEET} within 30 s, all stopped`,
    met:
      outcome.ours.stored >= Math.ceil(FLEET * 0.95) &&
      outcome.ours.lastMs < 30_000 &&
      outcome.ours.stopped === FLEET,
  });
}

// --- 6. Size ---------------------------------------------------------------------------------
function sizeBench(): void {
  for (const arch of ['x64', 'arm64']) {
    const raw = `${ROOT}dist/agentapi-lifecycle-linux-${arch}`;
    if (!existsSync(`${raw}.xz`)) continue;
    const [r, g, x] = [statSync(raw).size, statSync(`${raw}.gz`).size, statSync(`${raw}.xz`).size];
    results[`size_${arch}`] = { raw: r, gz: g, xz: x };
    rows.push({
      what: `binary size, linux-${arch}`,
      ours: `${(r / 1e6).toFixed(1)} MB (.gz ${(g / 1e6).toFixed(1)} MB, .xz ${(x / 1e6).toFixed(1)} MB)`,
      floor: `${(statSync(FLOOR_BIN).size / 1e6).toFixed(1)} MB (the bare compiled program)`,
      ratio: '',
      target: '',
    });
  }
}

for (const tool of ['hyperfine', '/usr/bin/time', 'jq', 'curl', 'pgrep']) {
  if (
    execFileSync('sh', ['-c', `command -v ${tool} || true`])
      .toString()
      .trim() === ''
  ) {
    log(`${tool} is missing: apt-get install hyperfine time jq curl procps`);
    process.exit(2);
  }
}
if (!existsSync(BIN) || !existsSync(SIM)) {
  log('building first (npm run build)');
  execFileSync(process.execPath, ['scripts/build.ts'], { cwd: ROOT, stdio: 'inherit' });
}
mkdirSync(`${ROOT}dist/bench`, { recursive: true });
await buildFloors();

// `--only fleet` (or startup, shutdown, snapshot, transcript, checkpoint, logs, resident, size) runs one part.
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const part = (name: string) => !only || only === name;
if (part('startup')) {
  log('start-up…');
  startupBench();
}
if (part('shutdown')) {
  for (const messages of SMOKE ? [40] : [10, 40, 1000]) {
    log(`shutdown, ${messages} messages…`);
    await shutdownBench(messages, messages !== 40);
  }
  const real = peer('agentapi');
  if (real.installed) {
    log(`shutdown against ${real.title}…`);
    await shutdownBench(40, true, { kind: 'real', bin: real.path, title: real.title });
  } else log(`shutdown against the real AgentAPI: skipped (${real.missing})`);
}
if (part('snapshot')) {
  for (const size of SMOKE ? [1] : QUICK ? [10, 300] : [10, 100, 300, 1000]) {
    log(`snapshot of ${size} MB…`);
    await transcriptBench(size, size === 300);
  }
}
if (part('transcript')) {
  for (const size of SMOKE ? [1] : QUICK ? [100] : [100, 300]) {
    log(`transcript of a ${size} MB state file…`);
    await stateTranscriptBench(size, size === 300);
  }
}
if (part('checkpoint')) {
  for (const size of SMOKE
    ? [{ messages: 10 }]
    : [{ messages: 10 }, { messages: 1000 }, { megabytes: 100 }]) {
    log(`checkpoint ticks, ${'messages' in size ? `${size.messages} messages` : `${size.megabytes} MB`}…`);
    await checkpointBench(size);
  }
}
if (part('logs')) {
  log("the module's scripts in the agent's logs, an idle and a busy day…");
  await logsBench();
}
if (part('resident')) {
  log('resident memory…');
  await residentBench();
}
if (part('fleet')) {
  log(`fleet of ${FLEET}…`);
  await fleetBench();
}
if (part('size')) sizeBench();

const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${process.arch}`;
const mode = SMOKE ? ' -- --smoke' : QUICK ? ' -- --quick' : '';
const table = [
  `Machine: ${machine}. ${new Date().toISOString().slice(0, 10)}, \`npm run bench${mode}\`.`,
  '',
  '| measurement | agentapi-lifecycle | floor (same run) | ratio | target | met |',
  '|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.what} | ${r.ours} | ${r.floor} | ${r.ratio} | ${r.target} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
writeFileSync(`${ROOT}dist/bench/results.json`, JSON.stringify({ machine, results, rows }, null, 2));
const missed = rows.filter((r) => r.met === false);
if (CHECK && missed.length) {
  log(`targets missed: ${missed.map((r) => r.what).join('; ')}`);
  process.exit(1);
}
