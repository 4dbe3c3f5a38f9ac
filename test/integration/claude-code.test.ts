// Claude Code as it is (issue #41): the real CLI (@anthropic-ai/claude-code, pinned in
// test/peers/claude-code) decides whether the session arguments the Task layer gives are taken.
// Without a login it still keeps the session it is given, then answers "Not logged in"; a session
// id in use, or one to resume that it does not have, it refuses in its own words. So:
// - the stand-in claude (test/support/claude-stand-in.sh), used where an interactive, logged-in
//   Claude would be needed, is checked against the real CLI's answers on the same arguments;
// - `start` runs the real AgentAPI with an agent command named `claude` that asks the real CLI
//   about exactly the arguments it got (then chats as the scripted agent), from a short and from a
//   long working folder (one whose project folder Claude shortens), with CLAUDE_CONFIG_DIR set and
//   not: the first start's `--session-id <task>` and the resume's `--resume <task>` are taken.

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, killQuietly, run, TASK_ID, type Workdir, workdir } from '../support/harness.js';
import { ROOT } from '../support/paths.js';
import { peer, withPeer } from '../support/peers.js';
import { CHAT_AGENT, say, stable } from '../support/real-agentapi.js';

const STAND_IN = `${ROOT}test/support/claude-stand-in.sh`;
const OTHER_ID = '11111111-2222-4333-8444-555555555555';

type Answer = 'taken' | 'in use' | 'not found';

let work: Workdir;
const pids: number[] = [];
beforeEach(async () => {
  work = await workdir();
});
afterEach(async () => {
  for (const pid of pids.splice(0)) killQuietly(pid);
  await work.cleanup();
});

/** A working folder of the home: short, or one whose name as a project folder is over 200 characters. */
function folder(home: string, long: boolean): string {
  const path = long
    ? join(home, ...Array.from({ length: 9 }, (_, i) => `a-rather-long-folder-name-${i}`))
    : join(home, 'project');
  mkdirSync(path, { recursive: true });
  return path;
}

/** What a Claude answered to `args`, in the real CLI's own words. */
function answerOf(output: string): Answer {
  if (/Session ID .* is already in use/.test(output)) return 'in use';
  if (/No conversation found with session ID/.test(output)) return 'not found';
  return 'taken';
}

/** Runs `file` with `args` in `cwd` (stdin closed: the stand-in then leaves after its greeting). */
function ask(file: string, args: string[], cwd: string, env: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(answerOf(output));
    });
  });
}

const CONFIGS = [
  ['~/.claude', false],
  ['$CLAUDE_CONFIG_DIR', true],
] as const;
const FOLDERS = [
  ['a short working folder', false],
  ['a working folder whose project folder Claude shortens', true],
] as const;

withPeer(peer('claude-code'), "Claude's session rules", (claude) => {
  describe('the stand-in answers session arguments as the real CLI does', () => {
    for (const [config, setConfig] of CONFIGS) {
      for (const [where, long] of FOLDERS) {
        it(`from ${where}, with ${config}`, async () => {
          const answers: Record<string, Answer[]> = {};
          for (const [name, file, args] of [
            ['real', claude, ['--print', 'hi']],
            ['stand-in', STAND_IN, []],
          ] as const) {
            const home = join(work.dir, name);
            mkdirSync(home, { recursive: true });
            const env: Record<string, string> = {
              HOME: home,
              ...(setConfig ? { CLAUDE_CONFIG_DIR: join(home, 'config') } : {}),
            };
            const here = folder(home, long);
            const elsewhere = folder(home, !long);
            const steps: [string[], string][] = [
              [['--resume', TASK_ID], here],
              [['--session-id', TASK_ID], here],
              [['--session-id', TASK_ID], here],
              [['--resume', TASK_ID], here],
              [['--resume', OTHER_ID], here],
              // Another working folder: the session is found to resume, and is not in use there.
              [['--resume', TASK_ID], elsewhere],
            ];
            answers[name] = [];
            for (const [session, cwd] of steps)
              answers[name].push(await ask(file, [...session, ...args], cwd, env));
          }
          expect(answers.real).toEqual(['not found', 'taken', 'in use', 'taken', 'not found', 'taken']);
          expect(answers['stand-in']).toEqual(answers.real);
        });
      }
    }
  });

  withPeer(peer('agentapi'), 'the Task layer decides them against the real CLI', (agentapi) => {
    for (const [config, setConfig] of CONFIGS) {
      for (const [where, long] of FOLDERS) {
        it(`from ${where}, with ${config}: the first start's --session-id and the resume's --resume are taken`, async () => {
          const home = join(work.dir, 'home');
          const bin = join(work.dir, 'bin');
          mkdirSync(bin, { recursive: true });
          const answers = join(work.dir, 'answers');
          // `claude` to the Task layer: asks the real CLI about the arguments it got, then chats.
          writeFileSync(
            join(bin, 'claude'),
            `#!/bin/sh\nanswer=$("$REAL_CLAUDE" "$@" --print hi 2>&1 </dev/null)\nprintf '%s\\t%s\\n' "$*" "$(printf '%s' "$answer" | tr '\\n' ' ')" >>"${answers}"\nexec "${CHAT_AGENT}"\n`,
          );
          chmodSync(join(bin, 'claude'), 0o755);
          const cwd = folder(home, long);
          const port = String(await freePort());
          const env = {
            HOME: home,
            PATH: `${bin}:${process.env.PATH}`,
            REAL_CLAUDE: claude,
            ...(setConfig ? { CLAUDE_CONFIG_DIR: join(work.dir, 'config') } : {}),
          };
          const start = async () => {
            const result = await run(
              [
                'start',
                '--detach',
                '--json',
                '--agentapi-bin',
                agentapi,
                '--type',
                'claude',
                '--port',
                port,
                '--task-id',
                TASK_ID,
                '--',
                'claude',
              ],
              { env, cwd },
            );
            expect(result.code, result.stderr).toBe(0);
            pids.push(JSON.parse(result.stdout).pid);
            await stable(`http://127.0.0.1:${port}`);
          };
          await start();
          await say(`http://127.0.0.1:${port}`, 'remember this');
          expect((await run(['shutdown', '--port', port], { env, cwd })).code).toBe(0);
          await start();
          const asked = readFileSync(answers, 'utf8')
            .trim()
            .split('\n')
            .map((line) => line.split('\t'));
          expect(asked.map(([args]) => args)).toEqual([`--session-id ${TASK_ID}`, `--resume ${TASK_ID}`]);
          expect(asked.map(([, answer]) => answerOf(answer))).toEqual(['taken', 'taken']);
          expect((await run(['shutdown', '--port', port], { env, cwd })).code).toBe(0);
        });
      }
    }
  });
});
