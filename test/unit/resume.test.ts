// planSession: what `start` adds to the agent command so the agent continues its own session:
// the task's own session where the agent can name one (claude), else its latest session, and only
// on a resume. Each recipe's argv, the task's session in every case, the template's own
// --resume-args, --no-resume-agent, and every reason to add nothing; and the agents' files.

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planSession, sessionsFound } from '../../src/core/task/agent-session.js';
import type { AgentProfile } from '../../src/core/task/agents/index.js';
import { AGENTS, agentTypeOf } from '../../src/core/task/agents/index.js';
import { ROOT } from '../support/paths.js';

const AGENT_STORAGE = Object.fromEntries(Object.entries(AGENTS).map(([type, p]) => [type, p.storage]));
const RECIPES = Object.fromEntries(
  Object.entries(AGENTS).flatMap(([type, p]) => (p.latest ? [[type, p.latest]] : [])),
);

const plan = (
  agent: string[],
  o: {
    type?: string;
    resumeArgs?: string[];
    recipes?: boolean;
    resumed?: boolean;
    sessionId?: string;
    existing?: string[];
  } = {},
) => {
  const type = agentTypeOf(o.type, agent);
  return planSession({
    resumed: o.resumed ?? true,
    type,
    profile: AGENTS[type],
    agent,
    resumeArgs: o.resumeArgs ?? [],
    recipes: o.recipes ?? true,
    sessionId: o.sessionId,
    existing: new Set(o.existing ?? []),
  });
};

describe('planSession: each recipe, on a resume (no task session)', () => {
  it.each([
    ['claude', ['claude'], ['claude', '--continue']],
    ['claude', ['claude', '--model', 'opus'], ['claude', '--model', 'opus', '--continue']],
    ['codex', ['codex', '--model', 'o4'], ['codex', 'resume', '--last', '--model', 'o4']],
    ['gemini', ['gemini', '--yolo'], ['gemini', '--yolo', '--resume', 'latest']],
    [
      'goose',
      ['goose', 'session', '--with-builtin', 'developer'],
      ['goose', 'session', '--with-builtin', 'developer', '--resume'],
    ],
    ['opencode', ['opencode'], ['opencode', '--continue']],
    ['copilot', ['copilot', '--allow-all-tools'], ['copilot', '--allow-all-tools', '--continue']],
    ['aider', ['aider', '--yes-always'], ['aider', '--yes-always', '--restore-chat-history']],
    ['claude', ['/usr/local/bin/claude'], ['/usr/local/bin/claude', '--continue']],
  ])('%s: %j becomes %j', (type, agent, expected) => {
    const p = plan(agent, { type });
    expect(p.agent).toEqual(expected);
    expect(p.source).toBe(`recipe:${type}`);
    expect(p.added).toEqual(RECIPES[type].args);
  });

  it('without --type, the agent type is guessed from the executable, as AgentAPI does', () => {
    expect(plan(['claude']).agent).toEqual(['claude', '--continue']);
    expect(agentTypeOf(undefined, ['cursor-agent'])).toBe('cursor');
    expect(agentTypeOf(undefined, ['q'])).toBe('amazonq');
    expect(agentTypeOf(undefined, ['my-agent'])).toBe('custom');
    expect(agentTypeOf('nonsense', ['claude'])).toBe('custom');
  });

  it('every recipe names its source, and Coder names where its agent keeps its sessions', () => {
    for (const [type, recipe] of Object.entries(RECIPES)) {
      expect(recipe.source, type).toMatch(/https:\/\//);
      expect(AGENT_STORAGE[type]?.paths.length, type).toBeGreaterThan(0);
      expect(recipe.already, type).toEqual(
        expect.arrayContaining(recipe.args.filter((a) => a.startsWith('-')).slice(0, 1)),
      );
    }
  });
});

describe("where each agent keeps its sessions (Coder's agent compatibility page)", () => {
  it('is known for every agent type AgentAPI names, and for no custom agent', () => {
    const names = [
      'claude',
      'goose',
      'aider',
      'codex',
      'gemini',
      'copilot',
      'amp',
      'auggie',
      'cursor-agent',
      'q',
      'opencode',
    ];
    for (const name of names) {
      const storage = AGENT_STORAGE[agentTypeOf(name, [])];
      expect(storage?.paths.length, name).toBeGreaterThan(0);
      expect(storage?.minStorage, name).toMatch(/^\d+ MB/);
    }
    expect(AGENT_STORAGE[agentTypeOf('custom', [])]).toBeUndefined();
  });
});

describe('planSession: adds nothing when it should not', () => {
  it.each([
    ['a first start', ['claude'], { type: 'claude', resumed: false }, /a first start/],
    [
      'an agent with no documented way',
      ['amp'],
      { type: 'amp' },
      /no documented way to continue the amp agent/,
    ],
    ['a custom agent', ['my-agent'], { type: 'custom' }, /no documented way/],
    ['a wrapper around the agent', ['npx', 'claude'], { type: 'claude' }, /is not claude itself/],
    [
      'a command that resumes by itself (--continue)',
      ['claude', '--continue'],
      { type: 'claude' },
      /resumes the agent by itself/,
    ],
    ['a command that resumes by itself (-c)', ['claude', '-c'], { type: 'claude' }, /by itself/],
    [
      'a command that resumes by itself (--resume=id)',
      ['claude', '--resume=abc'],
      { type: 'claude' },
      /by itself/,
    ],
    ['codex resumed already', ['codex', 'resume', 'abc'], { type: 'codex' }, /by itself/],
    [
      'goose without its session subcommand',
      ['goose'],
      { type: 'goose' },
      /only `goose session` can be resumed/,
    ],
    ['--no-resume-agent', ['claude'], { type: 'claude', recipes: false }, /--no-resume-agent/],
  ])('%s', (_, agent, o, why) => {
    const p = plan(agent, o);
    expect(p.agent).toEqual(agent);
    expect(p.added).toEqual([]);
    expect(p.why).toMatch(why);
  });
});

describe("planSession: the template's own --resume-args", () => {
  it('win over a recipe, are added at the end, on a resume only', () => {
    expect(plan(['claude'], { type: 'claude', resumeArgs: ['--resume', 'x'] })).toMatchObject({
      agent: ['claude', '--resume', 'x'],
      added: ['--resume', 'x'],
      source: '--resume-args',
    });
    expect(plan(['my-agent'], { resumeArgs: ['--again'], resumed: false }).agent).toEqual(['my-agent']);
  });

  it('apply even with --no-resume-agent, and for any agent', () => {
    expect(plan(['my-agent'], { resumeArgs: ['--again'], recipes: false }).agent).toEqual([
      'my-agent',
      '--again',
    ]);
  });
});

const TASK = '3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b';
const LEGACY = 'cd32e253-ca16-4fd3-9825-d837e74ae3c2';

describe("planSession: claude's session is the task's own, named by its id", () => {
  it.each([
    [
      'a first start: a new session of that name',
      { resumed: false },
      ['--session-id', TASK],
      TASK,
      /a first start: claude's session is named/,
    ],
    [
      'a resume: that session continued',
      { resumed: true, existing: [TASK] },
      ['--resume', TASK],
      TASK,
      /a resume: claude continues its session/,
    ],
    [
      'a first start for AgentAPI whose conversation was lost, the session kept: continued, never named twice',
      { resumed: false, existing: [TASK] },
      ['--resume', TASK],
      TASK,
      /no conversation saved.*has the task's session/,
    ],
    [
      'a resume whose session did not persist: a new one of that name, not a resume of nothing',
      { resumed: true },
      ['--session-id', TASK],
      TASK,
      /has no session .* \(did ~\/\.claude persist\?\)/,
    ],
    [
      'a resume of a task claude-code 4.x began: the session it gave every task',
      { resumed: true, existing: [LEGACY] },
      ['--resume', LEGACY],
      LEGACY,
      /the one claude-code 4\.x gave every task/,
    ],
    [
      'ours wins over the legacy one',
      { resumed: true, existing: [TASK, LEGACY] },
      ['--resume', TASK],
      TASK,
      /its session/,
    ],
    [
      'a legacy session is never continued on a first start',
      { resumed: false, existing: [LEGACY] },
      ['--session-id', TASK],
      TASK,
      /a first start/,
    ],
  ])('%s', (_, o, added, sessionId, why) => {
    const p = plan(['claude', '--model', 'opus'], { type: 'claude', sessionId: TASK, ...o });
    expect(p.agent).toEqual(['claude', '--model', 'opus', ...added]);
    expect(p.added).toEqual(added);
    expect(p.sessionId).toBe(sessionId);
    expect(p.source).toBe('session:claude');
    expect(p.why).toMatch(why);
  });

  it.each([
    ['a command that names its session', ['claude', '--session-id', 'x'], /names or resumes/],
    ['a command that continues by itself', ['claude', '--continue'], /names or resumes/],
    ['a wrapper', ['npx', 'claude'], /is not claude itself/],
  ])('nothing for %s', (_, agent, why) => {
    const p = plan(agent, { type: 'claude', sessionId: TASK, resumed: false });
    expect(p.added).toEqual([]);
    expect(p.why).toMatch(why);
  });

  it('without a task id (outside a Task): the latest-session recipe on a resume, nothing on a first start', () => {
    expect(plan(['claude'], { type: 'claude' }).added).toEqual(['--continue']);
    expect(plan(['claude'], { type: 'claude', resumed: false }).added).toEqual([]);
  });

  it('an agent that cannot name its sessions keeps its recipe, task id or not', () => {
    expect(plan(['codex'], { type: 'codex', sessionId: TASK }).agent).toEqual(['codex', 'resume', '--last']);
    expect(plan(['codex'], { type: 'codex', sessionId: TASK, resumed: false }).added).toEqual([]);
  });

  it('--resume-args and --no-resume-agent leave the session to the template, on a first start too', () => {
    expect(
      plan(['claude'], { type: 'claude', sessionId: TASK, resumed: false, resumeArgs: ['-c'] }).added,
    ).toEqual([]);
    expect(plan(['claude'], { type: 'claude', sessionId: TASK, resumeArgs: ['-c'] }).added).toEqual(['-c']);
    expect(
      plan(['claude'], { type: 'claude', sessionId: TASK, resumed: false, recipes: false }).added,
    ).toEqual([]);
  });
});

describe('one file per agent (src/core/task/agents)', () => {
  const folder = `${ROOT}src/core/task/agents`;
  const files = readdirSync(folder).filter(
    (f) => f.endsWith('.ts') && !['index.ts', 'profile.ts'].includes(f),
  );

  it('every file is listed in index.ts, under its own type', () => {
    const index = readFileSync(`${folder}/index.ts`, 'utf8');
    for (const file of files) {
      const name = file.replace(/\.ts$/, '');
      expect(index, file).toContain(`from './${name}.js'`);
      expect(AGENTS[name]?.type, file).toBe(name);
    }
    expect(Object.keys(AGENTS).sort()).toEqual(files.map((f) => f.replace(/\.ts$/, '')).sort());
  });

  it('every fact names its source', () => {
    for (const profile of Object.values(AGENTS)) {
      for (const part of [profile.latest, profile.sessions, profile.reporting, profile.registryState]) {
        if (part)
          expect(part.source, profile.type).toMatch(/https:\/\/|registry |coder\/coder |claude --help/);
      }
      for (const legacy of profile.sessions?.legacy ?? []) expect(legacy.source).toMatch(/registry /);
    }
  });

  it('session ids go where the agent takes them', () => {
    const sessions = AGENTS.claude.sessions;
    expect(sessions?.start(TASK)).toEqual(['--session-id', TASK]);
    expect(sessions?.resume(TASK)).toEqual(['--resume', TASK]);
    expect(AGENTS.claude.reporting?.configure('/srv/p')).toEqual([
      'exp',
      'mcp',
      'configure',
      'claude-code',
      '/srv/p',
    ]);
  });
});

describe('planSession with agents of other shapes', () => {
  const named: AgentProfile = {
    type: 'named',
    executable: 'named',
    storage: { paths: ['~/.named'], minStorage: '1 MB' },
    sessions: {
      start: (id) => ['--new', id],
      resume: (id) => ['--old', id],
      already: ['--new', '--old'],
      exists: async () => false,
      source: 'a test',
    },
  };
  const bare: AgentProfile = {
    type: 'bare',
    executable: 'bare',
    storage: { paths: ['~/.bare'], minStorage: '1 MB' },
  };
  const run = (profile: AgentProfile, o: { resumed: boolean; existing?: string[] }) =>
    planSession({
      resumed: o.resumed,
      type: profile.type,
      profile,
      agent: [profile.type],
      resumeArgs: [],
      recipes: true,
      sessionId: TASK,
      existing: new Set(o.existing ?? []),
    });

  it('an agent that names sessions but had no earlier module: a resume without its session starts one of that name', () => {
    expect(run(named, { resumed: true }).agent).toEqual(['named', '--new', TASK]);
    expect(run(named, { resumed: true, existing: [TASK] }).agent).toEqual(['named', '--old', TASK]);
  });

  it('an agent with an executable but no way to continue: nothing on a resume, and it says so', () => {
    const p = run(bare, { resumed: true });
    expect(p.added).toEqual([]);
    expect(p.why).toBe("a resume; no documented way to continue the bare agent's own session");
  });
});

describe("sessionsFound: which of the task's session and the legacy ones the agent has", () => {
  const profile = (found: string[], fail = false): AgentProfile => ({
    type: 't',
    executable: 't',
    storage: { paths: ['~/.t'], minStorage: '1 MB' },
    sessions: {
      start: () => [],
      resume: () => [],
      already: [],
      exists: async (id) => {
        if (fail) throw new Error('unreadable');
        return found.includes(id);
      },
      legacy: [{ id: LEGACY, source: 'a test' }],
      source: 'a test',
    },
  });
  const where = { home: '/h', cwd: '/w', env: {} };

  it.each([
    ['ours', [TASK], [TASK]],
    ['the legacy one', [LEGACY], [LEGACY]],
    ['both', [TASK, LEGACY], [TASK, LEGACY]],
    ['neither', [], []],
  ])('%s', async (_, found, expected) => {
    expect([...(await sessionsFound(profile(found), TASK, where))]).toEqual(expected);
  });

  it('none without a task id, without named sessions, or when looking fails', async () => {
    expect(await sessionsFound(profile([TASK]), undefined, where)).toEqual(new Set());
    expect(await sessionsFound(AGENTS.codex, TASK, where)).toEqual(new Set());
    expect(await sessionsFound(undefined, TASK, where)).toEqual(new Set());
    expect(await sessionsFound(profile([TASK], true), TASK, where)).toEqual(new Set());
  });
});
