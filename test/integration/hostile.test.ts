// The Task layer tried the way a hostile neighbour, a broken server and a careless template would
// (issue #37), against the compiled binary and the real AgentAPI 0.12.2 with the scripted chat
// agent: the agent token in a failing CLI's words, any prompt a person can type, a prompt
// delivered after start stopped waiting, records and logs planted in a shared folder, adoption of
// what is not a state file, a malformed CODER_AGENT_URL, a proxy whose errors differ at every tick.
// Each case failed on the main of 2026-12-06; the cases only root can set up (another user's
// files) are named "(as root)".

import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type Coderd, startCoderd } from '../support/coderd.js';
import {
  alive,
  freePort,
  killQuietly,
  type RunResult,
  run,
  runFile,
  TASK_ID,
  type Workdir,
  workdir,
} from '../support/harness.js';
import { AS_ROOT, itNeeds } from '../support/needs.js';
import { BIN } from '../support/paths.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, messagesOf, say, stable, startDetached, until } from '../support/real-agentapi.js';

let work: Workdir;
let coderd: Coderd;
let home: string;
let port: number;
const pids: number[] = [];

beforeEach(async () => {
  work = await workdir();
  coderd = await startCoderd({ tasks: [TASK_ID] });
  home = join(work.dir, 'home');
  mkdirSync(home);
  port = await freePort();
});

afterEach(async () => {
  for (const pid of pids.splice(0)) killQuietly(pid);
  await coderd.close();
  await work.cleanup();
});

/** What the runtime prints when it crashes, or a stack: no expected failure may show it. */
const CRASH = /^Bun v\d|\$bunfs|^\s+at |chunk-[a-z0-9]+\.js/m;
const url = () => `http://127.0.0.1:${port}`;
const env = (extra: Record<string, string> = {}) => ({ HOME: home, ...extra });
const token = () => coderd.token;

/** Every piece of the token of 8 characters or more: none may appear. */
function expectNoPieceOfToken(text: string): void {
  const t = token();
  for (let n = 8; n <= t.length; n++) {
    for (let at = 0; at + n <= t.length; at += 1) expect(text).not.toContain(t.slice(at, at + n));
  }
}

const start = (
  agentapi: string,
  extra: string[],
  o: { env?: Record<string, string>; agent?: string[]; type?: string } = {},
) =>
  startDetached({
    agentapi,
    port,
    extra,
    agent: o.agent,
    type: o.type,
    env: env(o.env),
    started: (pid) => pids.push(pid),
  });

/** One cron tick with --quiet-repeats, its PID and state files `files`, against a coderd that answers as set. */
const checkpointTick = (files: string[]) =>
  run(
    [
      'checkpoint',
      '--port',
      String(port),
      ...files,
      '--task-id',
      TASK_ID,
      '--quiet-repeats',
      '--timeout',
      '2s',
    ],
    {
      env: env({ CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: token() }),
    },
  );

const users = async () => (await messagesOf(url())).filter((m) => m.role === 'user').map((m) => m.content);

withPeer(peer('agentapi'), 'the Task layer under attack', (agentapi) => {
  it("Coder's CLI that prints the token in its error: the start record, status and --json never hold any piece of it", async () => {
    const bin = join(work.dir, 'bin');
    mkdirSync(bin);
    // One says it whole; the other so much that the 4096 bytes kept begin inside the token.
    writeFileSync(
      join(bin, 'coder'),
      `#!/bin/sh\nprintf 'x%.0s' $(seq 1 9000) >&2\necho "error: authenticating with token $CODER_AGENT_TOKEN failed" >&2\nprintf '%s' "$CODER_AGENT_TOKEN" | cut -c2- >&2\nexit 1\n`,
    );
    chmodSync(join(bin, 'coder'), 0o755);
    const { result, report } = await start(agentapi, ['--task-app-slug', 'agentapi'], {
      type: 'claude',
      env: { PATH: `${bin}:${process.env.PATH}`, CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: token() },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(report.reporting).toMatchObject({ state: 'failed' });
    const record = readFileSync(join(home, `.agentapi/agentapi-${port}.pid.start.json`), 'utf8');
    expect(record).toContain('***');
    // A shell without the token in its environment: status cannot hide what it does not know.
    const text = await run(['status', '--port', String(port)], { env: env() });
    const json = await run(['status', '--port', String(port), '--json'], { env: env() });
    expect(text.stdout).toContain('reporting    failed');
    for (const said of [record, result.stdout, result.stderr, text.stdout, text.stderr, json.stdout])
      expectNoPieceOfToken(said);
  });

  /** "zqxjé it" in Latin-1: the é is no UTF-8. */
  const LATIN1 = Buffer.from([0x7a, 0x71, 0x78, 0x6a, 0xe9, 0x20, 0x69, 0x74]);
  it.each([
    ['a NUL byte, from --prompt-file', 'file', Buffer.from('zqxj\0zqxj'), 9, 'it holds a NUL byte'],
    ['invalid UTF-8, from --prompt-file', 'file', LATIN1, 8, 'it is not UTF-8 text'],
    [
      '131,060 bytes, from --prompt-file',
      'file',
      Buffer.from('zqxj'.repeat(32_765)),
      131_060,
      'AgentAPI takes its initial prompt through its environment, at most 131047 bytes',
    ],
    [
      '131,060 bytes, from --prompt',
      'flag',
      Buffer.from('zqxj'.repeat(32_765)),
      131_060,
      'AgentAPI takes its initial prompt through its environment, at most 131047 bytes',
    ],
    ['invalid UTF-8, from --prompt', 'flag', LATIN1, 8, 'it is not UTF-8 text'],
  ] as const)(
    'a prompt with %s: the agent comes up without it, said by its size, never its text; no record says it was handed',
    async (_, source, data, bytes, why) => {
      const file = join(work.dir, 'prompt');
      writeFileSync(file, data);
      const { result, report } =
        source === 'file'
          ? await start(agentapi, ['--prompt-file', file])
          : await startWithRawPrompt(agentapi, data);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).not.toMatch(CRASH);
      const line = result.stderr.split('\n').find((l) => l.includes("the Task's prompt"));
      expect(line).toMatch(/WARN +the Task's prompt \(\d+ bytes, from [^)]+\) is not given: /);
      expect(line).toContain(`(${bytes} bytes, from ${source === 'file' ? file : '--prompt'})`);
      expect(line).toContain(why);
      // Never the prompt's text, and never the wrong flag (the old error named --log-file).
      expect(result.stderr).not.toMatch(/zqxj|--log-file/);
      expect(report.prompt).toMatchObject({ given: false, bytes });
      await stable(url());
      expect(await users()).toEqual([]);
      expect(existsSync(join(home, '.agentapi/state.json.prompt'))).toBe(false);
    },
  );

  /** start with `--prompt` given as these bytes, as a shell passes them (not as UTF-8 text). */
  async function startWithRawPrompt(agentapi: string, prompt: Buffer) {
    const out = join(work.dir, 'start.json');
    const args = [
      'start',
      '--detach',
      '--json',
      '--agentapi-bin',
      agentapi,
      '--type',
      'custom',
      '--port',
      String(port),
    ];
    const quoted = (arg: Buffer) => Buffer.concat([Buffer.from(" '"), arg, Buffer.from("'")]);
    const script = join(work.dir, 'start.sh');
    writeFileSync(
      script,
      Buffer.concat([
        Buffer.from('#!/bin/sh\nexec "$BIN"'),
        ...[
          ...args.map((a) => Buffer.from(a)),
          Buffer.from('--prompt'),
          prompt,
          Buffer.from('--'),
          Buffer.from(CHAT_AGENT),
        ].map(quoted),
        Buffer.from(` >"${out}"\n`),
      ]),
    );
    chmodSync(script, 0o755);
    const result = await runFile(script, [], { env: env({ BIN }) });
    const stdout = readFileSync(out, 'utf8');
    const report = JSON.parse(stdout) as Record<string, unknown>;
    if (typeof report.pid === 'number') pids.push(report.pid);
    return { result: { ...result, stdout }, report };
  }

  it('a prompt delivered after start stopped waiting is marked delivered by the next command that reads the conversation, and never given again, even if AgentAPI is then killed before any save', async () => {
    // An agent slower than --ready-timeout: AgentAPI holds the prompt until it is ready for input.
    const slow = ['/bin/sh', '-c', `echo starting; sleep 4; exec ${CHAT_AGENT}`];
    const first = await start(agentapi, ['--ready-timeout', '2s', '--prompt', 'late but once'], {
      agent: slow,
    });
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.report.prompt).toMatchObject({ given: true, delivered: false });
    await until('the prompt in the conversation', async () => ((await users()).length ? true : undefined));
    const record = join(home, '.agentapi/state.json.prompt');
    expect(JSON.parse(readFileSync(record, 'utf8')).state).toBe('handed');
    const status = await run(['status', '--port', String(port)], { env: env() });
    expect(status.stdout).toContain('prompt       delivered');
    expect(status.stdout).not.toContain('NOT seen delivered');
    expect(JSON.parse(readFileSync(record, 'utf8'))).toMatchObject({ state: 'delivered' });
    // AgentAPI killed before any save: its conversation is lost, the prompt's record is not.
    process.kill(first.report.pid as number, 'SIGKILL');
    await until('AgentAPI gone', async () => (alive(first.report.pid as number) ? undefined : true));
    const again = await start(agentapi, ['--prompt', 'late but once', '--replace']);
    expect(again.result.code, again.result.stderr).toBe(0);
    expect(again.report.prompt).toMatchObject({ given: false });
    await stable(url());
    expect(await users()).toEqual([]);
  });

  it.each([['checkpoint'], ['snapshot'], ['shutdown']])('so does %s', async (command) => {
    const slow = ['/bin/sh', '-c', `echo starting; sleep 3; exec ${CHAT_AGENT}`];
    const first = await start(agentapi, ['--ready-timeout', '1s', '--prompt', 'seen later'], { agent: slow });
    expect(first.report.prompt).toMatchObject({ given: true, delivered: false });
    await until('the prompt in the conversation', async () => ((await users()).length ? true : undefined));
    const ran = await run([command, '--port', String(port)], { env: env() });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain("the Task's prompt (10 bytes) is in the conversation: marked delivered");
    expect(JSON.parse(readFileSync(join(home, '.agentapi/state.json.prompt'), 'utf8'))).toMatchObject({
      state: 'delivered',
    });
  });

  it('records planted beside a state file and PID file in a shared folder are ignored and said; times in them are never obeyed', async () => {
    const shared = join(work.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const files = ['--pid-file', join(shared, 'agentapi.pid'), '--state-file', join(shared, 'state.json')];
    const sha = (await import('node:crypto')).createHash('sha256').update('do the thing').digest('hex');
    // "Delivered", with a delivery time that would rewrite the terminal if printed.
    writeFileSync(
      join(shared, 'state.json.prompt'),
      JSON.stringify({
        sha256: sha,
        bytes: 12,
        at: '2026-12-01T09:00:00Z',
        state: 'delivered',
        deliveredAt: '2026-12-01T09:00:00Z\n\u001b[2J\u001b[31mFAKE',
      }),
    );
    const first = await start(agentapi, [...files, '--prompt', 'do the thing']);
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.result.stderr).toContain(`ignoring the prompt's record ${shared}/state.json.prompt`);
    expect(first.result.stderr).not.toContain('\u001b');
    expect(first.report.prompt).toMatchObject({ given: true });
    await until('the prompt delivered', async () => ((await users()).length ? true : undefined));

    // A checkpoint failing against a coderd that refuses: a record claiming it was said in 2099.
    coderd.setMode({ kind: 'status', status: 500 });
    const said = join(shared, 'agentapi.pid.checkpoint-said');
    const tick = () => checkpointTick(files);
    await say(url(), 'one');
    writeFileSync(said, `${'0'.repeat(64)} ${Date.parse('2099-01-01')}\n`);
    const future = await tick();
    expect(future.stderr).toMatch(/WARN +checkpoint: not-stored/);
    // A link planted where the record goes: ignored, said; then ours replaces it.
    await say(url(), 'two');
    const target = join(work.dir, 'elsewhere');
    writeFileSync(target, 'untouched');
    symlinkSync(target, `${said}.new`);
    spawnSync('mv', ['-fT', `${said}.new`, said]);
    const linked = await tick();
    expect(linked.stderr).toContain(`ignoring ${said}: it is a symbolic link`);
    expect(linked.stderr).toMatch(/WARN +checkpoint: not-stored/);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(lstatSync(said).isSymbolicLink()).toBe(false);
  });

  it("AgentAPI's log never follows a link planted where it goes", async () => {
    const shared = join(work.dir, 'shared');
    mkdirSync(shared);
    const target = join(home, '.bashrc');
    writeFileSync(target, '# mine\n');
    symlinkSync(target, join(shared, 'agentapi.log'));
    const { result } = await start(agentapi, ['--log-file', join(shared, 'agentapi.log')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--log-file ${shared}/agentapi.log is a symbolic link; not following it`);
    expect(readFileSync(target, 'utf8')).toBe('# mine\n');
  });

  it.each([
    ["the kernel's copy of start's own environment", () => '/proc/self/environ', 'a file of the kernel'],
    [
      'a sparse file of 3 GiB',
      (dir: string) => {
        writeFileSync(join(dir, 'sparse'), '');
        truncateSync(join(dir, 'sparse'), 3 * 1024 ** 3);
        return join(dir, 'sparse');
      },
      'more than the 536870912 a state file may be',
    ],
    [
      'a file that is not AgentAPI state',
      (dir: string) => {
        writeFileSync(join(dir, 'notes.json'), '{"notes":[]}');
        return join(dir, 'notes.json');
      },
      "it is not AgentAPI's state",
    ],
  ])(
    '--adopt-state of %s: an error that names it, at once; nothing copied, the token nowhere',
    async (_, make, why) => {
      const from = make(work.dir);
      const { result } = await start(agentapi, [`--adopt-state=${from}`], {
        env: { CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: token() },
      });
      expect(result.code).toBe(1);
      expect(result.ms).toBeLessThan(10_000);
      expect(result.stderr).toContain(`error: cannot adopt ${from} as the state file: `);
      expect(result.stderr).toContain(why);
      expect(result.stderr).toContain("--adopt-state ''");
      expect(readdirSync(join(home, '.agentapi')).filter((f) => f.startsWith('state.json'))).toEqual([]);
    },
  );

  it.each([['not-a-url'], ['ftp://x/'], ['http://[bad']])(
    'CODER_AGENT_URL=%s: snapshot --post, checkpoint and status say so in one line, no stack',
    async (bad) => {
      expect((await start(agentapi, [])).result.code).toBe(0);
      await stable(url());
      await say(url(), 'hello');
      const coder = env({ CODER_AGENT_URL: bad, CODER_AGENT_TOKEN: token() });
      const post = await run(['snapshot', '--post', '--port', String(port), '--task-id', TASK_ID], {
        env: coder,
      });
      expect(post.code).toBe(2);
      expect(post.stderr).toMatch(
        /^error: cannot post: CODER_AGENT_URL "[^"]*" (is not a URL|must be an http or https URL)/m,
      );
      const tick = await run(['checkpoint', '--port', String(port), '--task-id', TASK_ID], { env: coder });
      expect(tick.code).toBe(0);
      expect(tick.stderr).toMatch(
        /WARN +checkpoint: not-stored: .*CODER_AGENT_URL "[^"]*" (is not a URL|must be an http or https URL)/,
      );
      const status = await run(['status', '--port', String(port), '--task-id', TASK_ID], { env: coder });
      expect(status.stdout).toMatch(
        /warning: CODER_AGENT_URL "[^"]*" (is not a URL|must be an http or https URL)/,
      );
      for (const r of [post, tick, status]) expect(`${r.stdout}${r.stderr}`).not.toMatch(CRASH);
    },
  );

  it('a proxy whose 400 carries a fresh request id at every tick: --quiet-repeats says it once', async () => {
    expect((await start(agentapi, [])).result.code).toBe(0);
    await stable(url());
    coderd.setMode({ kind: 'trace-400' });
    const coder = env({ CODER_AGENT_URL: coderd.url, CODER_AGENT_TOKEN: token() });
    const ticks: RunResult[] = [];
    for (const message of ['one', 'two', 'three']) {
      await say(url(), message);
      ticks.push(
        await run(['checkpoint', '--port', String(port), '--task-id', TASK_ID, '--quiet-repeats'], {
          env: coder,
        }),
      );
    }
    const warned = ticks.map((t) => /WARN +checkpoint: not-stored/.test(t.stderr));
    expect(warned).toEqual([true, false, false]);
    expect(ticks[0].stderr).toMatch(/trace [0-9a-f]{12}/);
  });

  itNeeds(AS_ROOT, 'records of another user in a shared folder are never believed', async () => {
    const shared = join(work.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    chmodSync(work.dir, 0o755);
    const files = ['--pid-file', join(shared, 'agentapi.pid'), '--state-file', join(shared, 'state.json')];
    const sha = (await import('node:crypto')).createHash('sha256').update('do the thing').digest('hex');
    const plant = (name: string, text: string) => {
      writeFileSync(join(shared, name), text);
      chownSync(join(shared, name), 65534, 65534);
    };
    plant(
      'state.json.prompt',
      JSON.stringify({
        sha256: sha,
        bytes: 12,
        at: '2026-12-01T09:00:00Z',
        state: 'delivered',
        deliveredAt: '2026-12-01T09:00:00Z',
      }),
    );
    plant('agentapi.pid.checkpoint-said', `${'0'.repeat(64)} ${Date.now()}\n`);
    const first = await start(agentapi, [...files, '--prompt', 'do the thing']);
    expect(first.result.code, first.result.stderr).toBe(0);
    expect(first.result.stderr).toContain('it belongs to user id 65534, not to you (0)');
    expect(first.report.prompt).toMatchObject({ given: true });
    await until('the prompt delivered', async () => ((await users()).length ? true : undefined));
    coderd.setMode({ kind: 'status', status: 500 });
    const tick = async (message: string) => {
      await say(url(), message);
      return checkpointTick(files);
    };
    // Nobody's record says this very failure was said a moment ago: not believed, said.
    const once = await tick('one');
    expect(once.stderr).toMatch(
      /WARN +--quiet-repeats: ignoring .*checkpoint-said: it belongs to user id 65534/,
    );
    expect(once.stderr).toMatch(/WARN +checkpoint: not-stored/);
    // Root may replace it (a user could not, in a sticky folder: then it is said at every tick).
    expect(lstatSync(join(shared, 'agentapi.pid.checkpoint-said')).uid).toBe(0);
    const second = await tick('two');
    expect(second.stderr).not.toMatch(/WARN/);
  });
});
