// `transcript` (issue #40) against the real AgentAPI 0.12.2 and the scripted chat agent: the whole
// conversation, live and from the state file shutdown saved, the same messages; Markdown that a
// real CommonMark parser reads with every message inside its block; --max-bytes that keeps the
// newest within its bound; --output private and whole; and every file that is not AgentAPI's state
// answered with one line that names it.

import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Parser } from 'commonmark';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort, killQuietly, run, startSim, TASK_ID, type Workdir, workdir } from '../support/harness.js';
import { peer, withPeer } from '../support/peers.js';
import { messagesOf, say, startDetached } from '../support/real-agentapi.js';

let work: Workdir;
let home: string;
const pids: number[] = [];
beforeEach(async () => {
  work = await workdir();
  home = join(work.dir, 'home');
  mkdirSync(home);
});
afterEach(async () => {
  for (const pid of pids.splice(0)) killQuietly(pid);
  await work.cleanup();
});

const CRASH = /^Bun v\d|\$bunfs|^\s+at |chunk-[a-z0-9]+\.js/m;
/** Multi-byte text, and a message that holds runs of three and four backticks. */
const SAID = ['grüße ─ 你好 🚀', 'here is code: ```sh make test``` and ```` four', 'last one'];

/** The code blocks CommonMark reads in `markdown`, in order. */
function codeBlocks(markdown: string): string[] {
  const walker = new Parser().parse(markdown).walker();
  const found: string[] = [];
  for (let step = walker.next(); step; step = walker.next()) {
    if (step.entering && step.node.type === 'code_block') found.push(step.node.literal ?? '');
  }
  return found;
}

const env = () => ({ HOME: home });

withPeer(peer('agentapi'), 'transcript', (agentapi) => {
  let port: number;
  const url = () => `http://127.0.0.1:${port}`;
  async function converse(): Promise<void> {
    port = await freePort();
    const { result } = await startDetached({
      agentapi,
      port,
      extra: ['--task-id', TASK_ID],
      env: env(),
      started: (pid) => pids.push(pid),
    });
    expect(result.code, result.stderr).toBe(0);
    for (const text of SAID) await say(url(), text);
  }

  it('live and from the state file after shutdown: the same messages, each inside its own block', async () => {
    await converse();
    const live = await run(['transcript', '--port', String(port)], { env: env() });
    expect(live.code, live.stderr).toBe(0);
    expect(live.stderr).toContain(`transcript: reading the conversation from AgentAPI at ${url()}`);
    const messages = await messagesOf(url());
    const liveJson = JSON.parse(
      (await run(['transcript', '--port', String(port), '--json'], { env: env() })).stdout,
    );
    expect(liveJson).toMatchObject({
      source: { kind: 'agentapi', url: url() },
      taskId: TASK_ID,
      agentType: 'custom',
      messagesTotal: messages.length,
      leftOut: 0,
    });
    expect(liveJson.messages).toEqual(
      messages.map(({ id, role, time, content }) => ({ id, role, time, content })),
    );

    expect((await run(['shutdown', '--port', String(port)], { env: env() })).code).toBe(0);
    const saved = await run(['transcript', '--port', String(port)], { env: env() });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stderr).toMatch(
      /AgentAPI does not answer at .*; reading its state file .*\.agentapi\/state\.json/,
    );
    const savedJson = JSON.parse(
      (await run(['transcript', '--port', String(port), '--json'], { env: env() })).stdout,
    );
    expect(savedJson.source).toMatchObject({ kind: 'state-file', path: join(home, '.agentapi/state.json') });
    expect(savedJson.messages).toEqual(liveJson.messages);

    // Markdown: a block per message, each holding exactly that message, in order.
    for (const markdown of [live.stdout, saved.stdout]) {
      expect(codeBlocks(markdown)).toEqual(
        messages.map((m) => (m.content.endsWith('\n') || m.content === '' ? m.content : `${m.content}\n`)),
      );
      expect(markdown).toContain(
        `- Messages: ${messages.length}, from ${messages[0].time} to ${messages.at(-1)?.time}`,
      );
      expect(markdown).toContain(`- Task: ${TASK_ID}`);
    }
    expect(saved.stdout).toContain('here is code: ```sh make test``` and ```` four');
    expect(saved.stdout).toContain('grüße ─ 你好 🚀');

    // status, with AgentAPI down, points at it.
    const status = await run(['status', '--port', String(port)], { env: env() });
    expect(status.stdout).toContain(
      `its state file ${join(home, '.agentapi/state.json')} holds ${messages.length} messages: \`agentapi-lifecycle transcript --from-state\` shows them`,
    );
  });

  it('--max-bytes: the newest whole messages that fit, within the bound as written, saying how many were left out', async () => {
    await converse();
    for (let n = 1; n <= 6; n++)
      await say(url(), `and another message, number ${n}, to make it long: 你好 🚀`);
    const all = await messagesOf(url());
    const whole = { markdown: 0, json: 0 };
    for (const format of ['markdown', 'json'] as const) {
      const full = await run(
        ['transcript', '--port', String(port), ...(format === 'json' ? ['--json'] : [])],
        { env: env() },
      );
      whole[format] = Buffer.byteLength(full.stdout);
    }
    for (const format of ['markdown', 'json'] as const) {
      for (const bytes of [Math.max(1024, Math.floor(whole[format] / 2)), whole[format] - 1]) {
        const result = await run(
          [
            'transcript',
            '--port',
            String(port),
            '--max-bytes',
            String(bytes),
            ...(format === 'json' ? ['--json'] : []),
          ],
          { env: env() },
        );
        expect(result.code, result.stderr).toBe(0);
        expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(bytes);
        const shown = format === 'json' ? JSON.parse(result.stdout).messages : undefined;
        const count = shown ? shown.length : codeBlocks(result.stdout).length;
        expect(count).toBeGreaterThan(0);
        expect(count).toBeLessThan(all.length);
        // The newest, whole.
        if (shown) {
          expect(shown.map((m: { id: number }) => m.id)).toEqual(all.slice(-count).map((m) => m.id));
          expect(JSON.parse(result.stdout)).toMatchObject({
            messagesTotal: all.length,
            leftOut: all.length - count,
          });
        } else {
          expect(codeBlocks(result.stdout)).toEqual(all.slice(-count).map((m) => `${m.content}\n`));
          expect(result.stdout).toContain(`*${all.length - count} older message`);
          expect(result.stdout).toContain(`left out to fit ${bytes} bytes; the newest ${count} follow.*`);
        }
      }
    }
    const last = JSON.parse(
      (await run(['transcript', '--port', String(port), '--last', '2', '--json'], { env: env() })).stdout,
    );
    expect(last.messages.map((m: { id: number }) => m.id)).toEqual(all.slice(-2).map((m) => m.id));
    expect(last).toMatchObject({ messagesTotal: all.length, messagesShown: 2, leftOut: all.length - 2 });
  });

  it('--output: private (0600), whole, and never through a link or over what is not a file of ours', async () => {
    await converse();
    const out = join(work.dir, 'kept.md');
    writeFileSync(out, 'an older copy', { mode: 0o644 });
    const kept = await run(['transcript', '--port', String(port), '--output', out], { env: env() });
    expect(kept.code, kept.stderr).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(readFileSync(out, 'utf8')).toContain('# Task conversation');
    expect(kept.stdout).toBe('');
    const target = join(work.dir, 'target');
    writeFileSync(target, 'mine');
    symlinkSync(target, join(work.dir, 'link.md'));
    mkdirSync(join(work.dir, 'folder.md'));
    for (const [name, why] of [
      ['link.md', 'is a symbolic link; not replacing it'],
      ['folder.md', 'is a directory; not replacing it'],
    ]) {
      const refused = await run(['transcript', '--port', String(port), '--output', join(work.dir, name)], {
        env: env(),
      });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`error: --output ${join(work.dir, name)} ${why}`);
    }
    expect(readFileSync(target, 'utf8')).toBe('mine');
  });
});

/** What a command said on stderr besides its INFO lines. */
const errorLines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => !l.includes(' INFO '));

describe('transcript: an AgentAPI that answers /status but not /messages gets one line', () => {
  it.each([['json'], ['shape']])('malformed (%s)', async (kind) => {
    const sim = await startSim({ work, env: { AGENTAPI_SIM_MALFORMED: kind } });
    try {
      const result = await run(['transcript', '--port', String(sim.port)], { env: env() });
      expect(result.code).toBe(1);
      const lines = errorLines(result.stderr);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: /);
      expect(result.stderr).not.toMatch(CRASH);
    } finally {
      await sim.stop();
    }
  });
});

describe("transcript: a state file that is not AgentAPI's gets one line that names it", () => {
  it.each([
    [
      'truncated',
      (f: string) => writeFileSync(f, '{"version":1,"messages":[{"id":0,"message":"hel'),
      "is not AgentAPI's state file: it ends in the middle of a value",
    ],
    ['not JSON', (f: string) => writeFileSync(f, 'PATH=/bin\n'), "is not AgentAPI's state file"],
    [
      'of another shape',
      (f: string) => writeFileSync(f, '{"version":1,"messages":[1,2]}'),
      "is not AgentAPI's state file: messages[0] is not an object",
    ],
    [
      'of another format version',
      (f: string) => writeFileSync(f, '{"version":2,"messages":[]}'),
      'its format version is 2, not 1',
    ],
    [
      'a message without text',
      (f: string) => writeFileSync(f, '{"version":1,"messages":[{"id":0,"role":"agent","time":"t"}]}'),
      "message 0 is not one of AgentAPI's",
    ],
    [
      'a FIFO',
      (f: string) => spawnFifo(f),
      "cannot be read as AgentAPI's state file: it is a FIFO, not a regular file",
    ],
    [
      'huge and empty (sparse, 2 GiB of NUL)',
      (f: string) => {
        writeFileSync(f, '');
        truncateSync(f, 2 * 1024 ** 3);
      },
      "is not AgentAPI's state file",
    ],
    ['missing', () => {}, 'no state file at'],
  ])('%s', async (_, make, why) => {
    const file = join(work.dir, 'state.json');
    make(file);
    const result = await run(['transcript', '--from-state', file], { env: env(), killAfterMs: 60_000 });
    expect(result.code).toBe(1);
    const lines = errorLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain(why);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(CRASH);
  });
});

function spawnFifo(path: string): void {
  spawnSync('mkfifo', [path]);
  chmodSync(path, 0o600);
}
