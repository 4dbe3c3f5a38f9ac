// What start checks before AgentAPI runs (start-checks.ts), in-process with real files, ports,
// processes and the simulator's --version (as 0.12, as 0.11.2, and as a development build): each
// answer and each refusal in its words.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkAgentApiVersion,
  checkPidFile,
  checkPortFree,
  checkRoom,
  decideResume,
  differences,
  prepareStateDir,
  serverArgs,
} from '../../src/core/sequences/start-checks.js';
import { UserError } from '../../src/core/utils/errors.js';
import { Logger } from '../../src/core/utils/log.js';
import { startFakeAgentApi } from '../support/fake-holder.js';
import { freePort, killQuietly, startBystander } from '../support/harness.js';
import { AS_ROOT, itNeeds, NOT_AS_ROOT } from '../support/needs.js';
import { OLD_SIM, SIM } from '../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'start-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `case-${++n}`);
const said: string[] = [];
const logger = new Logger({ write: (line) => said.push(line) });

describe('serverArgs', () => {
  const base = {
    port: 3284,
    pidFile: '/p/agentapi.pid',
    stateFile: '/s/state.json',
    extra: ['--chat-base-path', '/x'],
    agent: ['claude', '--continue'],
  };
  it.each([
    [
      'everything',
      { type: 'claude', statePersistence: true, pidFileFlag: true },
      'server --port 3284 --type claude --state-file /s/state.json --load-state --save-state --pid-file /p/agentapi.pid --chat-base-path /x -- claude --continue',
    ],
    [
      'no type, no persistence, no PID file flag (AgentAPI 0.11)',
      { statePersistence: false, pidFileFlag: false },
      'server --port 3284 --chat-base-path /x -- claude --continue',
    ],
  ])('%s', (_, o, expected) => {
    expect(serverArgs({ ...base, ...o }).join(' ')).toBe(expected);
  });
});

describe('checkAgentApiVersion', () => {
  it('0.12: persistence, no warning', async () => {
    const decision = await checkAgentApiVersion(SIM);
    expect(decision).toMatchObject({ persistence: true, info: { supportsPersistence: true } });
    expect(decision.warning).toBeUndefined();
  });

  it('0.11.2: no persistence, and a warning that says what is lost', async () => {
    const decision = await checkAgentApiVersion(OLD_SIM);
    expect(decision.persistence).toBe(false);
    expect(decision.warning).toBe(
      'AgentAPI 0.11.2 predates state persistence (0.12.0): starting it without --state-file and --pid-file, so the conversation will not survive a pause. Upgrade AgentAPI to keep it.',
    );
  });

  it('a version that is not semver: taken as new, with a warning', async () => {
    const dev = join(fresh(), 'agentapi');
    mkdirSync(join(dev, '..'));
    writeFileSync(dev, '#!/bin/sh\necho "agentapi version dev"\n');
    chmodSync(dev, 0o755);
    const decision = await checkAgentApiVersion(dev);
    expect(decision.persistence).toBe(true);
    expect(decision.warning).toMatch(/^cannot read AgentAPI's version "dev"; assuming 0\.12\.0 or newer/);
  });

  it('no such binary: one line that names --agentapi-bin', async () => {
    const missing = checkAgentApiVersion(join(dir, 'no-agentapi'));
    await expect(missing).rejects.toThrow(UserError);
    await expect(missing).rejects.toThrow(/--agentapi-bin/);
  });
});

describe('prepareStateDir', () => {
  it('creates the folder 0700, and says nothing', async () => {
    const state = join(fresh(), 'deep', 'state.json');
    expect(await prepareStateDir(state)).toBeUndefined();
    const { statSync } = await import('node:fs');
    expect(statSync(join(state, '..')).mode & 0o777).toBe(0o700);
  });

  it('a folder that cannot be made: why, not an error', async () => {
    const file = fresh();
    writeFileSync(file, '');
    expect(await prepareStateDir(join(file, 'state.json'))).toMatch(
      new RegExp(`^the state folder ${file} is not writable \\(.+\\)$`),
    );
  });
});

describe('checkPortFree', () => {
  it('a free port: fine; one in use: refused by name', async () => {
    const port = await freePort();
    await expect(checkPortFree(port)).resolves.toBeUndefined();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, resolve));
    try {
      await expect(checkPortFree(port)).rejects.toThrow(`port ${port} is already in use (another AgentAPI?)`);
    } finally {
      server.close();
    }
  });

  itNeeds(NOT_AS_ROOT, 'a port that may not be used (below 1024): said as it is', async () => {
    await expect(checkPortFree(80)).rejects.toThrow(/^cannot use port 80: /);
  });
});

describe('checkRoom', () => {
  it('room enough: nothing said', async () => {
    said.length = 0;
    const folder = fresh();
    mkdirSync(folder);
    await checkRoom(
      {
        pidFile: join(folder, 'a.pid'),
        stateFile: join(folder, 's.json'),
        pidFileFlag: true,
        persistence: true,
      },
      logger,
    );
    expect(said).toEqual([]);
  });

  it('a PID file folder that does not exist cannot be judged: nothing said (AgentAPI will say)', async () => {
    said.length = 0;
    const nowhere = join(fresh(), 'missing');
    await checkRoom(
      {
        pidFile: join(nowhere, 'a.pid'),
        stateFile: join(nowhere, 's.json'),
        pidFileFlag: true,
        persistence: true,
      },
      logger,
    );
    expect(said).toEqual([]);
  });
});

describe('checkPidFile', () => {
  it('none: free', async () => {
    expect(await checkPidFile(fresh(), logger)).toEqual({ state: 'free' });
  });

  it('not a PID file: refused, untouched', async () => {
    const path = fresh();
    writeFileSync(path, 'port = 3284\n');
    await expect(checkPidFile(path, logger)).rejects.toThrow(
      new RegExp(`^--pid-file ${path} is not an AgentAPI PID file \\(.+\\); not touching it`),
    );
  });

  it('naming this very process: refused', async () => {
    const path = fresh();
    writeFileSync(path, `${process.pid}\n`);
    await expect(checkPidFile(path, logger)).rejects.toThrow(
      /is this command or its parent, not AgentAPI; choose another --pid-file$/,
    );
  });

  it('a live AgentAPI of ours: running, the file untouched', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentapi-lifecycle-live-'));
    const fake = await startFakeAgentApi(dir, ['--port', '1']);
    try {
      const path = fresh();
      writeFileSync(path, `${fake.pid}\n`);
      expect(await checkPidFile(path, logger)).toMatchObject({
        state: 'running',
        pid: fake.pid,
        proc: { pid: fake.pid },
      });
      expect(readFileSync(path, 'utf8')).toBe(`${fake.pid}\n`);
    } finally {
      killQuietly(fake.pid);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  itNeeds(AS_ROOT, "another user's AgentAPI: refused, the file untouched", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agentapi-lifecycle-theirs-'));
    chmodSync(dir, 0o755);
    const fake = await startFakeAgentApi(dir, ['--port', '1'], { uid: 65_534 });
    try {
      const path = fresh();
      writeFileSync(path, `${fake.pid}\n`);
      await expect(checkPidFile(path, logger)).rejects.toThrow(
        new RegExp(
          `^--pid-file ${path}: PID ${fake.pid} is agentapi server of user id 65534, not ours .*; choose another --pid-file$`,
        ),
      );
      expect(readFileSync(path, 'utf8')).toBe(`${fake.pid}\n`);
    } finally {
      killQuietly(fake.pid);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stale (a dead PID, or another program): removed, and said', async () => {
    said.length = 0;
    const dead = fresh();
    const gone = spawnSync('true').pid;
    writeFileSync(dead, `${gone}\n`);
    expect(await checkPidFile(dead, logger)).toEqual({ state: 'free' });
    const { existsSync } = await import('node:fs');
    expect(existsSync(dead)).toBe(false);
    const bystander = startBystander();
    try {
      const other = fresh();
      writeFileSync(other, `${bystander.pid}\n`);
      expect(await checkPidFile(other, logger)).toEqual({ state: 'free' });
      expect(said).toEqual([
        expect.stringContaining(`removing stale PID file ${dead}: no process ${gone} is running`),
        expect.stringContaining(`removing stale PID file ${other}: PID ${bystander.pid} is "sleep 300"`),
      ]);
    } finally {
      killQuietly(bystander.pid);
    }
  });

  itNeeds(NOT_AS_ROOT, 'a stale one that cannot be removed: refused, by name', async () => {
    const folder = fresh();
    mkdirSync(folder);
    const path = join(folder, 'agentapi.pid');
    writeFileSync(path, `${spawnSync('true').pid}\n`);
    chmodSync(folder, 0o500);
    try {
      await expect(checkPidFile(path, logger)).rejects.toThrow(
        /^stale PID file .* cannot be removed \(.+\); choose another --pid-file$/,
      );
    } finally {
      chmodSync(folder, 0o700);
    }
  });
});

describe('decideResume', () => {
  const state = (messages: number) =>
    `${JSON.stringify({ version: 1, messages: Array.from({ length: messages }, (_, id) => ({ id, message: 'm', role: id % 2 ? 'user' : 'agent', time: '2026-12-06T10:00:00Z' })), initial_prompt: '', initial_prompt_sent: false })}\n`;

  it.each<[string, (path: string) => void, boolean, RegExp]>([
    ['no state file', () => {}, false, /^no state file at .* yet$/],
    [
      'a greeting only',
      (p) => writeFileSync(p, state(1)),
      false,
      /^the state file holds 1 message\(s\): no conversation yet$/,
    ],
    [
      'a conversation',
      (p) => writeFileSync(p, state(4)),
      true,
      /^the state file holds 4 messages, which AgentAPI loads$/,
    ],
    [
      'two messages: the greeting and the first word',
      (p) => writeFileSync(p, state(2)),
      true,
      /^the state file holds 2 messages, which AgentAPI loads$/,
    ],
    [
      'not a state file',
      (p) => writeFileSync(p, 'hello'),
      false,
      /^the state file \S+ is not a state file AgentAPI can load \(/,
    ],
    ['a link', (p) => symlinkSync('/etc/hostname', p), false, /^the state file \S+ is (?!.*message\(s\))/],
  ])('%s', async (_, make, resumed, why) => {
    const path = fresh();
    make(path);
    const decision = await decideResume(path, true);
    expect(decision.resumed).toBe(resumed);
    expect(decision.why).toMatch(why);
  });

  it('persistence off: never a resume', async () => {
    const path = fresh();
    writeFileSync(path, state(4));
    expect(await decideResume(path, false)).toEqual({ resumed: false, why: 'state persistence is off' });
  });
});

describe('differences', () => {
  const first = ['server', '--port', '3284', '--type', 'claude', '--pid-file', '/p', '--', 'claude'];
  const resume = [
    'server',
    '--port',
    '3284',
    '--type',
    'claude',
    '--pid-file',
    '/p',
    '--',
    'claude',
    '--continue',
  ];

  it.each<[string, string[], string[]]>([
    ['the first start', first, []],
    ['the resume', resume, []],
    [
      'another port',
      ['server', '--port', '1', '--type', 'claude', '--pid-file', '/p', '--', 'claude'],
      ['its port is 1, not 3284'],
    ],
    [
      'no type',
      ['server', '--port', '3284', '--pid-file', '/p', '--', 'claude'],
      ['its agent type is not given, not claude'],
    ],
    ['a state file', [...first.slice(0, 7), '-s', '/s', '--', 'claude'], ['its state file is /s, not none']],
    [
      'an extra flag',
      [...first.slice(0, 7), '--x', '--', 'claude'],
      [
        'it runs `server --port 3284 --type claude --pid-file /p --x`, not `server --port 3284 --type claude --pid-file /p`',
      ],
    ],
    ['another agent', [...first.slice(0, 8), 'codex'], ['its agent command is `codex`, not `claude`']],
    ['no agent at all', first.slice(0, 7), ['its agent command is ``, not `claude`']],
  ])('%s', (_, actual, expected) => {
    expect(differences(actual, [first, resume])).toEqual(expected);
  });
});
