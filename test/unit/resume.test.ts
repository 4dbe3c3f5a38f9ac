// planResume: what `start` adds to the agent command so the agent continues its own session, and
// only on a resume. Each recipe's argv, the template's own --resume-args, --no-resume-agent, and
// every reason to add nothing.

import { describe, expect, it } from 'vitest';
import { agentTypeOf, planResume, RECIPES } from '../../src/core/agent-resume.js';
import { AGENT_STORAGE } from '../../src/core/agent-storage.js';

const plan = (
  agent: string[],
  o: { type?: string; resumeArgs?: string[]; recipes?: boolean; resumed?: boolean } = {},
) =>
  planResume({
    resumed: o.resumed ?? true,
    type: o.type,
    agent,
    resumeArgs: o.resumeArgs ?? [],
    recipes: o.recipes ?? true,
  });

describe('planResume: each recipe, on a resume', () => {
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

describe('planResume: adds nothing when it should not', () => {
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

describe("planResume: the template's own --resume-args", () => {
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
