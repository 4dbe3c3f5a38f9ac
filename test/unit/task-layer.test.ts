// The Task layer's pure and file logic (issue #27): the prompt given once (prompt.ts), a registry
// module's state adopted (adopt.ts), Claude's sessions found on disk (agents/claude.ts), and
// AgentAPI's environment (settings.ts). Real files in a temporary folder.

import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adoptState } from '../../src/core/task/adopt.js';
import { AGENTS } from '../../src/core/task/agents/index.js';
import {
  asSent,
  checkPrompt,
  decidePrompt,
  digest,
  MAX_PROMPT_BYTES,
  readPrompt,
  readPromptRecord,
  refusedWhy,
  writePromptRecord,
} from '../../src/core/task/prompt.js';
import { agentApiEnv } from '../../src/core/utils/settings.js';

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
    const record = { sha256: digest(PROMPT), bytes: 5, at: '2026-12-01T09:00:00Z', state: 'handed' as const };
    expect(await writePromptRecord(stateFile, record)).toBeUndefined();
    expect(readFileSync(`${stateFile}.prompt`, 'utf8')).not.toContain('HOME');
    expect(statSync(`${stateFile}.prompt`).mode & 0o777).toBe(0o600);
    expect(await readPromptRecord(stateFile)).toEqual({ record });
    expect(await readPromptRecord(at('none.json'))).toEqual({});
  });

  it.each([
    ['not JSON', 'not json', 'it is not JSON'],
    ['no digest', '{"sha256":"nope","state":"delivered"}', 'not a prompt record of ours'],
    [
      'a delivery time with a newline and escape codes',
      JSON.stringify({
        sha256: 'a'.repeat(64),
        bytes: 1,
        at: '2026-12-01T09:00:00Z',
        state: 'delivered',
        deliveredAt: '2026-12-01T09:00:00Z\n\u001b[31mFAKE',
      }),
      'not a prompt record of ours',
    ],
    [
      'a delivery time in the future',
      JSON.stringify({
        sha256: 'a'.repeat(64),
        bytes: 1,
        at: '2026-12-01T09:00:00Z',
        state: 'delivered',
        deliveredAt: '2099-01-01T00:00:00Z',
      }),
      'holds a time in the future',
    ],
  ])('a record that is %s is ignored, and says so', async (_, text, why) => {
    const stateFile = at('state.json');
    writeFileSync(`${stateFile}.prompt`, text);
    const read = await readPromptRecord(stateFile);
    expect(read.record).toBeUndefined();
    expect(read.ignored).toContain(why);
    expect(read.ignored).not.toContain('\n');
    expect(read.ignored).not.toContain('\u001b');
  });

  it('a record that is a symbolic link is ignored, whatever it points at', async () => {
    const stateFile = at('state.json');
    const real = {
      sha256: digest(PROMPT),
      bytes: 5,
      at: '2026-12-01T09:00:00Z',
      state: 'delivered',
      deliveredAt: '2026-12-01T09:00:00Z',
    };
    writeFileSync(at('elsewhere'), JSON.stringify(real));
    symlinkSync(at('elsewhere'), `${stateFile}.prompt`);
    expect(await readPromptRecord(stateFile)).toEqual({
      ignored: `ignoring the prompt's record ${stateFile}.prompt: it is a symbolic link`,
    });
  });

  describe('any prompt a person can type: one rule for --prompt and --prompt-file (checkPrompt)', () => {
    it.each([
      ['plain text', Buffer.from(`${PROMPT}\n`), { sent: PROMPT, bytes: Buffer.byteLength(PROMPT) }],
      [
        'a NUL byte',
        Buffer.from('before\0after'),
        { refused: 'it holds a NUL byte, which no environment string can', bytes: 12 },
      ],
      ['invalid UTF-8', Buffer.from([0x46, 0x69, 0x78, 0xe9]), { refused: 'it is not UTF-8 text', bytes: 4 }],
      [
        'one byte over what an environment string holds',
        Buffer.from('x'.repeat(MAX_PROMPT_BYTES + 1)),
        {
          refused: expect.stringContaining(`at most ${MAX_PROMPT_BYTES} bytes`),
          bytes: MAX_PROMPT_BYTES + 1,
        },
      ],
      [
        'exactly what it holds',
        Buffer.from('x'.repeat(MAX_PROMPT_BYTES)),
        { sent: 'x'.repeat(MAX_PROMPT_BYTES), bytes: MAX_PROMPT_BYTES },
      ],
      [
        'over it only by whitespace AgentAPI trims',
        Buffer.from(`${'x'.repeat(MAX_PROMPT_BYTES)}\n\n`),
        { bytes: MAX_PROMPT_BYTES },
      ],
    ])('%s', (_, data, expected) => {
      const checked = checkPrompt(data, 'from a test');
      expect(checked).toMatchObject({ where: 'from a test', ...expected });
      if ('refused' in checked) {
        const why = refusedWhy(checked);
        expect(why).toContain(`(${checked.bytes} bytes, from a test) is not given`);
        expect(why).toContain('the agent start without it');
        expect(why).not.toContain('after');
      }
    });

    it('a prompt file is read byte for byte; what cannot be given says why, never the text', async () => {
      writeFileSync(at('p'), `${PROMPT}\n`);
      expect(await readPrompt(at('p'))).toEqual({
        where: `from ${at('p')}`,
        bytes: Buffer.byteLength(PROMPT),
        sent: PROMPT,
      });
      writeFileSync(at('big'), 'x'.repeat(MAX_PROMPT_BYTES + 1));
      expect(await readPrompt(at('big'))).toMatchObject({
        bytes: MAX_PROMPT_BYTES + 1,
        refused: expect.any(String),
      });
      writeFileSync(at('huge'), 'x'.repeat(2 * 1024 * 1024));
      expect(await readPrompt(at('huge'))).toMatchObject({ refused: 'it is more than 1048576 bytes' });
      writeFileSync(at('latin1'), Buffer.from([0x46, 0x69, 0x78, 0xe9]));
      expect(await readPrompt(at('latin1'))).toMatchObject({ refused: 'it is not UTF-8 text' });
      await expect(readPrompt(at('none'))).rejects.toThrow(`--prompt-file ${at('none')} does not exist`);
    });
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

  it('ours there as anything (a folder, a dangling link): theirs is not even read', async () => {
    writeFileSync(theirs(), 'not a state file');
    mkdirSync(ours());
    expect(await adoptState(ours(), theirs())).toBeUndefined();
    const link = at('agentapi/dangling.json');
    symlinkSync(at('nowhere.json'), link);
    expect(await adoptState(link, theirs())).toBeUndefined();
  });

  it.each([
    ['format 2', '{"version":2,"messages":[]}', "it is not AgentAPI's state (format version 2, not 1)"],
    ['no version', '{"messages":[]}', "it is not AgentAPI's state (format version missing, not 1)"],
    ['not JSON', 'hello', "it is not AgentAPI's state ("],
  ])('theirs %s: failed, named, nothing of it left as ours', async (_, text, why) => {
    writeFileSync(theirs(), text);
    const adoption = await adoptState(ours(), theirs());
    expect(adoption).toEqual({
      failed: expect.stringContaining(`cannot adopt ${theirs()} as the state file: ${why}`),
    });
    expect(existsSync(ours())).toBe(false);
  });

  it.each([
    [
      'a directory',
      () => mkdirSync(at('dir.json')),
      () => at('dir.json'),
      'it is a directory, not a regular file',
    ],
    [
      'a symbolic link',
      () => symlinkSync(theirs(), at('link.json')),
      () => at('link.json'),
      'it is a symbolic link',
    ],
    [
      "the kernel's file of our environment (the agent token with it)",
      () => {},
      () => '/proc/self/environ',
      'a file of the kernel',
    ],
    ['a device', () => {}, () => '/dev/zero', "a file of the kernel's or a device"],
    [
      'not JSON',
      () => writeFileSync(at('notes.txt'), 'PATH=/bin\0CODER_AGENT_TOKEN=x\0'),
      () => at('notes.txt'),
      "it is not AgentAPI's state",
    ],
    [
      'JSON of another shape',
      () => writeFileSync(at('other.json'), '{"version":2,"messages":[]}'),
      () => at('other.json'),
      'format version 2, not 1',
    ],
    [
      'cut short',
      () => writeFileSync(at('cut.json'), '{"version":1,"messages":[{"id":0,"mess'),
      () => at('cut.json'),
      "it is not AgentAPI's state",
    ],
    [
      'larger than a state file may be (sparse: 3 GiB of nothing)',
      () => {
        writeFileSync(at('sparse.json'), '');
        truncateSync(at('sparse.json'), 3 * 1024 ** 3);
      },
      () => at('sparse.json'),
      'more than the 536870912 a state file may be',
    ],
  ])('theirs is %s: an error that names it, nothing written', async (_, make, from, why) => {
    make();
    const result = await adoptState(ours(), from());
    expect(result).toEqual({ failed: expect.stringContaining(`cannot adopt ${from()} as the state file: `) });
    expect((result as { failed: string }).failed).toContain(why);
    expect(readdirSync(at('agentapi'))).toEqual([]);
  });

  it('the copy is private (0600) whatever theirs was, and made under a name no one can guess', async () => {
    writeFileSync(theirs(), '{"version":1,"messages":[]}\n', { mode: 0o644 });
    // A planted file at the name the old code used (<state>.<pid>.tmp) is neither used nor removed.
    writeFileSync(`${ours()}.${process.pid}.tmp`, 'planted');
    expect(await adoptState(ours(), theirs())).toEqual({ adopted: theirs() });
    expect(statSync(ours()).mode & 0o777).toBe(0o600);
    expect(readdirSync(at('agentapi')).sort()).toEqual(['state.json', `state.json.${process.pid}.tmp`]);
  });

  it("a copy that cannot be made is an error naming theirs, and leaves nothing (our state file's folder is a file)", async () => {
    writeFileSync(at('not-a-folder'), '');
    const result = await adoptState(at('not-a-folder/state.json'), theirs());
    expect(result).toEqual({
      failed: `cannot adopt ${theirs()} as the state file: cannot write beside ${at('not-a-folder/state.json')} (its directory does not exist)`,
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
  });

  it('in a project folder whose name Claude shortened (a working folder over 200 characters), or any other: --resume finds it in any', async () => {
    const long = `/home/coder/${'a-rather-long-folder-name/'.repeat(9)}repo`;
    session(at('.claude'), `${long.replace(/[^a-zA-Z0-9]/g, '-').slice(0, 200)}-kt7kxm`);
    expect(await exists({ cwd: long })).toBe(true);
    expect(await exists({ cwd: '/somewhere/else' })).toBe(true);
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

  it('no link is followed: a project folder or a session file that is a link is none', async () => {
    session(at('elsewhere'), '-srv');
    mkdirSync(at('.claude/projects'), { recursive: true });
    symlinkSync(at('elsewhere/projects/-srv'), at('.claude/projects/-srv'));
    expect(await exists({ cwd: '/srv' })).toBe(false);
    mkdirSync(at('.claude/projects/-other'));
    symlinkSync(at(`elsewhere/projects/-srv/${id}.jsonl`), at(`.claude/projects/-other/${id}.jsonl`));
    expect(await exists({ cwd: '/srv' })).toBe(false);
  });
});
