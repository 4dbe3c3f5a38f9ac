// The Task layer's pure and file logic (issue #27): the prompt given once (prompt.ts), a registry
// module's state adopted (adopt.ts), Claude's sessions found on disk (agents/claude.ts), and
// AgentAPI's environment (settings.ts). Real files in a temporary folder.

import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adoptState } from '../../src/core/adopt.js';
import { AGENTS } from '../../src/core/agents/index.js';
import {
  asSent,
  decidePrompt,
  digest,
  MAX_PROMPT_BYTES,
  readPrompt,
  readPromptRecord,
  writePromptRecord,
} from '../../src/core/prompt.js';
import { agentApiEnv } from '../../src/core/settings.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'task-layer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
const at = (name: string) => join(dir, name);

const PROMPT = 'Fix "the" $HOME `bug`\nin src/ 🚀 – please';

describe("the Task's prompt, once (prompt.ts)", () => {
  it('is sent as AgentAPI sends any message: its own whitespace trimmed at both ends, nothing else', () => {
    expect(asSent(`\n\t ${PROMPT} \r\n\v\f`)).toBe(PROMPT);
    expect(asSent('  ')).toBe('');
  });

  it.each([
    [
      'a first start with no record: given',
      { resumed: false },
      true,
      /is given to AgentAPI, which sends it once/,
    ],
    ['a resume: never', { resumed: true }, false, /a resume, whose conversation holds it/],
    [
      'delivered before (AgentAPI lost the conversation since): not again',
      { resumed: false, record: { state: 'delivered', deliveredAt: '2026-12-01T10:00:00Z' } },
      false,
      /not sent again: it was delivered at 2026-12-01T10:00:00Z/,
    ],
    [
      'handed over, never seen delivered: given again',
      { resumed: false, record: { state: 'handed' } },
      true,
      /again: it was handed over at .* but never seen delivered/,
    ],
    [
      'another prompt delivered before (the template changed it): given',
      { resumed: false, record: { state: 'delivered', sha256: 'f'.repeat(64) } },
      true,
      /which sends it once/,
    ],
  ])('%s', (_, given, give, why) => {
    const o = given as { resumed: boolean; record?: Record<string, string> };
    const record = o.record && {
      sha256: digest(PROMPT),
      bytes: 1,
      at: '2026-12-01T09:00:00Z',
      ...o.record,
    };
    const decision = decidePrompt({ sent: PROMPT, resumed: o.resumed, record: record as never });
    expect(decision.give).toBe(give);
    expect(decision.why).toMatch(why);
    expect(decision.why).toContain(`(${Buffer.byteLength(PROMPT)} bytes)`);
  });

  it('its record holds a digest, never the prompt, and reads back', async () => {
    const stateFile = at('state.json');
    const record = { sha256: digest(PROMPT), bytes: 5, at: 'now', state: 'handed' as const };
    expect(await writePromptRecord(stateFile, record)).toBeUndefined();
    expect(readFileSync(`${stateFile}.prompt`, 'utf8')).not.toContain('HOME');
    expect(statSync(`${stateFile}.prompt`).mode & 0o777).toBe(0o600);
    expect(await readPromptRecord(stateFile)).toEqual(record);
    writeFileSync(`${stateFile}.prompt`, '{"sha256":"nope","state":"delivered"}');
    expect(await readPromptRecord(stateFile)).toBeUndefined();
    writeFileSync(`${stateFile}.prompt`, 'not json');
    expect(await readPromptRecord(stateFile)).toBeUndefined();
  });

  it('a prompt file is read byte for byte; too large or not UTF-8 is refused by name', async () => {
    writeFileSync(at('p'), `${PROMPT}\n`);
    expect(await readPrompt(at('p'))).toBe(`${PROMPT}\n`);
    writeFileSync(at('big'), 'x'.repeat(MAX_PROMPT_BYTES + 1));
    await expect(readPrompt(at('big'))).rejects.toThrow(
      `the prompt in ${at('big')} is ${MAX_PROMPT_BYTES + 1} bytes, more than the ${MAX_PROMPT_BYTES} expected bytes: AgentAPI takes its initial prompt through its environment`,
    );
    writeFileSync(at('latin1'), Buffer.from([0x46, 0x69, 0x78, 0xe9]));
    await expect(readPrompt(at('latin1'))).rejects.toThrow('is not UTF-8 text');
    await expect(readPrompt(at('none'))).rejects.toThrow(`--prompt-file ${at('none')} does not exist`);
  });
});

describe("AgentAPI's environment (agentApiEnv)", () => {
  const env = { PATH: '/bin', CODER_AGENT_TOKEN: 'secret', AGENTAPI_INITIAL_PROMPT: 'inherited' };
  it('drops the token and an inherited prompt; adds what start gives', () => {
    expect(agentApiEnv({ AGENTAPI_INITIAL_PROMPT: PROMPT }, false, env)).toEqual({
      PATH: '/bin',
      AGENTAPI_INITIAL_PROMPT: PROMPT,
    });
    expect(agentApiEnv({}, false, env)).toEqual({ PATH: '/bin' });
  });
  it('keeps the token only with --pass-agent-token', () => {
    expect(agentApiEnv({}, true, env)).toEqual({ PATH: '/bin', CODER_AGENT_TOKEN: 'secret' });
  });
});

describe("a registry module's state adopted (adopt.ts)", () => {
  const theirs = () => at('claude-module/agentapi-state.json');
  const ours = () => at('agentapi/state.json');
  beforeEach(() => {
    mkdirSync(at('claude-module'));
    mkdirSync(at('agentapi'));
    writeFileSync(theirs(), '{"version":1,"messages":[]}\n', { mode: 0o600 });
  });

  it('ours absent, theirs there: ours starts as a copy; theirs is left as it was', async () => {
    const before = statSync(theirs());
    expect(await adoptState(ours(), theirs())).toEqual({ adopted: theirs() });
    expect(readFileSync(ours(), 'utf8')).toBe(readFileSync(theirs(), 'utf8'));
    const after = statSync(theirs());
    expect([after.ino, after.mtimeMs, after.mode]).toEqual([before.ino, before.mtimeMs, before.mode]);
  });

  it('ours there, or theirs absent: nothing happens', async () => {
    writeFileSync(ours(), 'ours');
    expect(await adoptState(ours(), theirs())).toBeUndefined();
    expect(readFileSync(ours(), 'utf8')).toBe('ours');
    expect(await adoptState(at('agentapi/other.json'), at('none.json'))).toBeUndefined();
  });

  it('theirs not a regular file: refused by name, nothing written', async () => {
    mkdirSync(at('dir.json'));
    expect(await adoptState(ours(), at('dir.json'))).toEqual({
      refused: `${at('dir.json')} is a directory, not a state file; not adopted`,
    });
  });

  it("a copy that cannot be made is refused, and leaves nothing (our state file's folder is a file)", async () => {
    writeFileSync(at('not-a-folder'), '');
    const result = await adoptState(at('not-a-folder/state.json'), theirs());
    expect(result).toEqual({
      refused: `cannot copy ${theirs()} to ${at('not-a-folder/state.json')} (its directory does not exist); not adopted`,
    });
    expect(readFileSync(at('not-a-folder'), 'utf8')).toBe('');
  });
});

describe("Claude's sessions, found where Claude keeps them (agents/claude.ts)", () => {
  const id = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
  const exists = (where: { cwd: string; env?: NodeJS.ProcessEnv }) =>
    AGENTS.claude.sessions?.exists(id, { home: dir, env: {}, ...where }) ?? Promise.resolve(false);
  const session = (config: string, folder: string, text = '{"sessionId":"x"}\n') => {
    mkdirSync(join(config, 'projects', folder), { recursive: true });
    writeFileSync(join(config, 'projects', folder, `${id}.jsonl`), text);
  };

  it('in ~/.claude/projects/<the working folder, as Claude names it>/<id>.jsonl', async () => {
    expect(await exists({ cwd: '/home/coder/my_project.v2' })).toBe(false);
    session(at('.claude'), '-home-coder-my-project-v2');
    expect(await exists({ cwd: '/home/coder/my_project.v2' })).toBe(true);
    expect(await exists({ cwd: '/home/coder/other' })).toBe(false);
  });

  it('in $CLAUDE_CONFIG_DIR when it is set', async () => {
    session(at('config'), '-srv');
    expect(await exists({ cwd: '/srv' })).toBe(false);
    expect(await exists({ cwd: '/srv', env: { CLAUDE_CONFIG_DIR: at('config') } })).toBe(true);
  });

  it('an empty file is no session (Claude created it and never wrote to it)', async () => {
    session(at('.claude'), '-srv', '');
    expect(await exists({ cwd: '/srv' })).toBe(false);
  });
});
