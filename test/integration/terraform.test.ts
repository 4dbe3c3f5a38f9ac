// The Terraform module, piece by piece: main.tf and release.tf read by HashiCorp's HCL parser, and
// each script rendered as Terraform would and run with /bin/sh against local servers. The whole
// workspace lifecycle, all scripts together, is in lifecycle.test.ts.

import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pjson from '../../package.json' with { type: 'json' };
import { startCoderd } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { type RunResult, runFile, startSim, TASK_ID, type Workdir, workdir } from '../support/harness.js';
import { describeNeeds, itNeeds, tool } from '../support/needs.js';
import { BIN, ROOT, SIM } from '../support/paths.js';
import { AGENTAPI_TAG, type ReleaseServer, serveRelease, VERSION } from '../support/release-server.js';
import {
  applyModule,
  ENGINE,
  type Hcl,
  MODULE_DIR,
  type ModuleInputs,
  parseModule,
} from '../support/tofu.js';

const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const ARTIFACT = `agentapi-lifecycle-linux-${ARCH}`;
const SHELLCHECK = tool('shellcheck');
const XZ = tool('xz');
const hasXz = XZ.ok;
const distSums = () =>
  Object.fromEntries(
    readFileSync(`${ROOT}dist/SHA256SUMS`, 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(/\s+/).reverse()),
  ) as Record<string, string>;

let module: Hcl;
let release: Hcl;
beforeAll(async () => {
  [module, release] = await Promise.all([parseModule('main.tf'), parseModule('release.tf')]);
});

/** An HCL expression as hcl2json writes it: `${…}` (a plain string here, not a JS template). */
const hcl = (expression: string) => `\${${expression}}`;

// Tests that render the module need the engine (ENGINE): skipped by name without it, failed in CI.

// What the engine does not check: what a template author reads about each variable.
describe('main.tf and release.tf, as a template author reads them', () => {
  const variables = () => ({ ...module.variable, ...release.variable }) as Hcl;

  it('every variable has a type and a description, and the module README lists it', () => {
    const readme = readFileSync(`${MODULE_DIR}/README.md`, 'utf8');
    for (const [name, [block]] of Object.entries(variables())) {
      expect(block.type, name).toBeTruthy();
      expect(block.description, name).toBeTruthy();
      expect(readme, name).toMatch(new RegExp(`^\\|[^\\n]*\`${name}\``, 'm'));
    }
  });

  /**
   * The Terraform version that brought each part of the language the module may use, from
   * Terraform's CHANGELOG (v1.1 to v1.9); anything older than 1.0 counts as 1.0. A function the
   * module uses and this table lacks fails the test: add it, with its version.
   */
  const SINCE: Record<string, string> = {
    // Functions.
    ...Object.fromEntries(
      [
        'alltrue',
        'anytrue',
        'base64encode',
        'base64decode',
        'can',
        'compact',
        'concat',
        'contains',
        'floor',
        'format',
        'join',
        'jsonencode',
        'length',
        'lookup',
        'lower',
        'max',
        'merge',
        'min',
        'parseint',
        'regex',
        'replace',
        'sha256',
        'split',
        'substr',
        'templatefile',
        'tostring',
        'trimspace',
        'trimsuffix',
        'trimprefix',
        'try',
        'upper',
      ].map((f) => [f, '1.0']),
    ),
    startswith: '1.5',
    endswith: '1.5',
    strcontains: '1.5',
    timecmp: '1.3',
    plantimestamp: '1.5',
    templatestring: '1.9',
    // Type constraints, not calls.
    list: '1.0',
    map: '1.0',
    object: '1.0',
    optional: '1.3',
  };
  const newer = (a: string, b: string) => (Number(a.split('.')[1]) >= Number(b.split('.')[1]) ? a : b);

  it('required_version is the oldest Terraform whose language the module uses (startswith: 1.5)', () => {
    let needed = '1.0';
    const why: string[] = [];
    const need = (version: string, what: string) => {
      if (newer(version, needed) === version && version !== needed) why.push(`${what} (${version})`);
      needed = newer(version, needed);
    };
    for (const file of ['main.tf', 'release.tf']) {
      const text = readFileSync(`${MODULE_DIR}/${file}`, 'utf8').replace(/^\s*#.*$/gm, '');
      for (const [, name] of text.matchAll(/\b([a-z_0-9]+)\(/g)) {
        if (name === 'http') continue; // in a URL inside a string, not a call
        expect(SINCE[name], `${file} calls ${name}(), which the table of versions lacks`).toBeDefined();
        need(SINCE[name], `${name}()`);
      }
      if (/^\s+nullable\s+=/m.test(text)) need('1.1', 'nullable');
      if (/^\s+precondition\s+\{/m.test(text)) need('1.2', 'precondition');
      // A validation that reads another variable needs Terraform 1.9.
      for (const [, variable, body] of text.matchAll(/^variable "(\w+)" \{([\s\S]*?)^\}/gm)) {
        for (const [, condition] of body.matchAll(/condition\s+=\s+(.*)/g)) {
          const others = [...condition.matchAll(/var\.(\w+)/g)].filter(([, v]) => v !== variable);
          if (others.length) need('1.9', `a validation of ${variable} reading var.${others[0][1]}`);
        }
      }
    }
    expect(why.at(-1)).toMatch(/startswith/);
    expect(module.terraform[0].required_version).toBe(`>= ${needed}`);
  });

  it('every output has a description, and the module README lists it', () => {
    const readme = readFileSync(`${MODULE_DIR}/README.md`, 'utf8');
    for (const [name, [block]] of Object.entries(module.output as Hcl)) {
      expect(block.description, name).toBeTruthy();
      expect(readme, name).toMatch(new RegExp(`^\\|[^\\n]*\`${name}\``, 'm'));
    }
  });
});

describe('the release the module pins', () => {
  it('pins exactly what `npm run build` of this commit produces (else: npm run build && npm run pin)', () => {
    const pinned = release.locals[0].pinned_release;
    // dist/SHA256SUMS itself must describe dist/ (a dev build rewrites a binary, not the sums).
    const binary = execFileSync('sha256sum', [`${ROOT}dist/${ARTIFACT}`])
      .toString()
      .split(' ')[0];
    expect(binary, 'dist/SHA256SUMS is stale: run npm run build').toBe(distSums()[ARTIFACT]);
    expect(pinned.version).toBe(VERSION);
    // npm test builds both binaries, compressing only the x64 one; the arm64 .gz and .xz are pinned
    // too, and checked against a full build by the reproducible-build check.
    for (const [name, hash] of Object.entries(distSums())) expect(pinned.sha256[name], name).toBe(hash);
    const names = ['x64', 'arm64'].flatMap((arch) =>
      ['', '.gz', '.xz'].map((ext) => `agentapi-lifecycle-linux-${arch}${ext}`),
    );
    expect(Object.keys(pinned.sha256).sort()).toEqual(names.sort());
    for (const name of names) expect(pinned.sha256[name]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("derives every link to the project's home from package.json's repository", () => {
    const home = pjson.repository.url;
    expect(home).toMatch(/^https:\/\/github\.com\/[\w.-]+\/agentapi-lifecycle$/);
    for (const file of [
      'README.md',
      'scripts/terraform/README.md',
      'CHANGELOG.md',
      'scripts/terraform/release.tf',
    ]) {
      const links =
        readFileSync(`${ROOT}${file}`, 'utf8').match(
          /https:\/\/github\.com\/[\w.-]+\/agentapi-lifecycle\b/g,
        ) ?? [];
      for (const link of links) expect(link, file).toBe(home);
    }
  });
});

/** A PATH with the usual tools, minus `without`, plus a fake `uname -m` if asked. */
function shimPath(dir: string, without: string[], machine?: string): string {
  const bin = join(dir, 'shim');
  mkdirSync(bin, { recursive: true });
  const tools = [
    'sh',
    'curl',
    'wget',
    'gzip',
    'xz',
    'sha256sum',
    'cut',
    'awk',
    'mkdir',
    'mktemp',
    'rm',
    'mv',
    'chmod',
    'cat',
    'uname',
    'printf',
    'basename',
  ];
  for (const tool of tools) {
    if (without.includes(tool) || (machine && tool === 'uname')) continue;
    const found = spawnSync('sh', ['-c', `command -v ${tool}`])
      .stdout.toString()
      .trim();
    if (found.startsWith('/')) symlinkSync(found, join(bin, tool));
  }
  // 'wx': a new file only, never written through a link to the real tool.
  if (machine) writeFileSync(join(bin, 'uname'), `#!/bin/sh\necho ${machine}\n`, { mode: 0o755, flag: 'wx' });
  return bin;
}

describeNeeds(
  ENGINE,
  'install script, rendered by the engine and run with /bin/sh against a local release server',
  () => {
    let work: Workdir;
    let server: ReleaseServer;

    beforeEach(async () => {
      work = await workdir();
      server = await serveRelease();
    });

    afterEach(async () => {
      await server.close();
      await work.cleanup();
    });

    const home = () => join(work.dir, 'home');
    const installed = () => join(home(), '.cache', 'agentapi-lifecycle', VERSION, 'agentapi-lifecycle');

    async function install(inputs: ModuleInputs = {}, path?: string): Promise<RunResult> {
      // Our binary alone unless a test asks for AgentAPI too (the module installs it by default).
      const { install: script } = await applyModule({
        release_base_url: server.base,
        agentapi_release_base_url: server.agentapiBase,
        install_agentapi: false,
        ...inputs,
      });
      const file = join(work.dir, 'install.sh');
      writeFileSync(file, script);
      return runFile('/bin/sh', [file], {
        env: { HOME: home(), ...(path ? { PATH: path } : {}) },
        killAfterMs: 120_000,
      });
    }

    itNeeds(
      XZ,
      'with xz in the image: downloads the .xz, checks the pinned hashes, installs atomically',
      async () => {
        const result = await install();
        expect(result.code, result.stderr).toBe(0);
        expect(server.requests).toEqual([`/v${VERSION}/${ARTIFACT}.xz`]);
        expect(execFileSync(installed(), ['--version']).toString()).toContain(VERSION);
        expect(readdirSync(join(installed(), '..')).filter((f) => f.startsWith('.download'))).toEqual([]);
        expect(result.stderr).toContain(`SHA-256 ${distSums()[ARTIFACT]}`);
      },
    );

    it('without xz: the .gz; without gzip either: the raw binary', async () => {
      const noXz = await install({}, shimPath(work.dir, ['xz']));
      expect(noXz.code, noXz.stderr).toBe(0);
      expect(server.requests).toEqual([`/v${VERSION}/${ARTIFACT}.gz`]);
      server.requests.length = 0;
      execFileSync('rm', ['-rf', join(home(), '.cache')]);
      const neither = await install({}, shimPath(join(work.dir, 'b'), ['xz', 'gzip']));
      expect(neither.code, neither.stderr).toBe(0);
      expect(server.requests).toEqual([`/v${VERSION}/${ARTIFACT}`]);
    });

    it('a restart of the same version downloads nothing; a tampered cached binary is replaced', async () => {
      expect((await install()).code).toBe(0);
      server.requests.length = 0;
      const again = await install();
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('already installed');
      expect(server.requests).toEqual([]);
      writeFileSync(installed(), '#!/bin/sh\necho tampered\n');
      const repaired = await install();
      expect(repaired.code).toBe(0);
      expect(server.requests.length).toBe(1);
      expect(execFileSync(installed(), ['--version']).toString()).toContain(VERSION);
    });

    it('refuses bytes that are not the pinned ones, naming both hashes, and installs nothing', async () => {
      const wrong = Object.fromEntries(Object.keys(distSums()).map((name) => [name, '0'.repeat(64)]));
      const result = await install({ release_sha256: wrong });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(
          `checksum mismatch for ${ARTIFACT}(\\.xz|\\.gz)?: expected 0{64}, got [0-9a-f]{64}; refusing to install`,
        ),
      );
      expect(existsSync(installed())).toBe(false);
    });

    it('another version needs its hashes: refused without them, installed with release_sha256, or by trusting the server (logged)', async () => {
      await server.close();
      server = await serveRelease({ version: '9.9.9' });
      const installedAt = join(home(), '.cache', 'agentapi-lifecycle', '9.9.9', 'agentapi-lifecycle');
      // Refused at plan, by the module's precondition: no install script is rendered for it.
      await expect(install({ release_version: '9.9.9' })).rejects.toThrow(
        /No SHA-256 is pinned for agentapi-lifecycle 9\.9\.9: give\s+release_sha256\s+\(preferred\),\s+or\s+set\s+trust_release_server_checksums\s+=\s+true\./,
      );
      expect(server.requests).toEqual([]);

      const given = await install({ release_version: '9.9.9', release_sha256: distSums() });
      expect(given.code, given.stderr).toBe(0);
      expect(server.requests.some((r) => r.endsWith('SHA256SUMS'))).toBe(false);
      expect(existsSync(installedAt)).toBe(true);

      execFileSync('rm', ['-rf', join(home(), '.cache')]);
      server.requests.length = 0;
      const trusted = await install({ release_version: '9.9.9', trust_release_server_checksums: true });
      expect(trusted.code, trusted.stderr).toBe(0);
      expect(trusted.stderr).toContain(
        `no SHA-256 is pinned for 9.9.9: trusting the SHA256SUMS published at ${server.base} (this catches a corrupt download, not a compromised server)`,
      );
      expect(server.requests[0]).toBe('/v9.9.9/SHA256SUMS');
      expect(existsSync(installedAt)).toBe(true);
    });

    it('an air-gapped mirror with the same layout works (release_base_url)', async () => {
      await server.close();
      server = await serveRelease({ prefix: '/internal/mirror/agentapi-lifecycle' });
      const result = await install({ release_base_url: server.base });
      expect(result.code, result.stderr).toBe(0);
      expect(server.requests[0]).toMatch(
        new RegExp(`^/internal/mirror/agentapi-lifecycle/v${VERSION}/${ARTIFACT}`),
      );
    });

    it('never installs an interrupted download', async () => {
      server.cut = hasXz ? `${ARTIFACT}.xz` : `${ARTIFACT}.gz`;
      const result = await install();
      expect(result.code).toBe(1);
      expect(existsSync(installed())).toBe(false);
      expect(readdirSync(join(installed(), '..')).filter((f) => f.startsWith('.download'))).toEqual([]);
    });

    it('names an unknown architecture', async () => {
      const result = await install({}, shimPath(work.dir, [], 'sparc64'));
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('unsupported architecture sparc64');
      expect(server.requests).toEqual([]);
    });

    it('works with wget when there is no curl', async () => {
      const result = await install({}, shimPath(work.dir, ['curl']));
      expect(result.code, result.stderr).toBe(0);
      expect(existsSync(installed())).toBe(true);
    });

    describe('AgentAPI, installed by the module (by default)', () => {
      const agentapi = () =>
        join(home(), '.cache', 'agentapi-lifecycle', 'agentapi', AGENTAPI_TAG, 'agentapi');
      const simHash = () => execFileSync('sha256sum', [SIM]).toString().split(' ')[0];
      const asset = process.arch === 'arm64' ? 'agentapi-linux-arm64' : 'agentapi-linux-amd64';

      it('is downloaded and verified against agentapi_sha256, once', async () => {
        const result = await install({
          install_agentapi: true,
          agent_command: 'claude',
          agentapi_sha256: { [asset]: simHash() },
        });
        expect(result.code, result.stderr).toBe(0);
        expect(execFileSync(agentapi(), ['--version']).toString()).toContain('agentapi version');
        server.requests.length = 0;
        expect(
          (
            await install({
              install_agentapi: true,
              agent_command: 'claude',
              agentapi_sha256: { [asset]: simHash() },
            })
          ).stderr,
        ).toContain(`AgentAPI ${AGENTAPI_TAG} is already installed`);
        expect(server.requests).toEqual([]);
      });

      it('a wrong agentapi_sha256 is refused', async () => {
        const result = await install({
          install_agentapi: true,
          agent_command: 'claude',
          agentapi_sha256: { [asset]: 'f'.repeat(64) },
        });
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('checksum mismatch for agentapi');
        expect(existsSync(agentapi())).toBe(false);
      });

      it('without agentapi_sha256 it is installed, and the log says it is unverified', async () => {
        const result = await install({ install_agentapi: true, agent_command: 'claude' });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).toContain(`AgentAPI ${AGENTAPI_TAG} is downloaded unverified`);
      });

      it('is not downloaded with install_agentapi = false: the install succeeds, with ours alone', async () => {
        const result = await install({ agent_command: 'claude', install_agentapi: false });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).toMatch(
          new RegExp(`installed ${VERSION} at|${VERSION} is already installed at`),
        );
        expect(result.stderr).not.toContain('AgentAPI');
        expect(server.requests.some((r) => r.startsWith('/agentapi/'))).toBe(false);
        expect(existsSync(agentapi())).toBe(false);
      });

      it('is downloaded for a start script of your own too (no agent_command), and start_command_prefix runs it', async () => {
        const result = await install({ install_agentapi: true, agentapi_sha256: { [asset]: simHash() } });
        expect(result.code, result.stderr).toBe(0);
        expect(existsSync(agentapi())).toBe(true);
        const { startPrefix } = await applyModule({ release_base_url: server.base });
        expect(startPrefix).toContain(
          `--agentapi-bin "$HOME/.cache/agentapi-lifecycle/agentapi/${AGENTAPI_TAG}/agentapi"`,
        );
      });
    });

    itNeeds(SHELLCHECK, 'every rendering is clean under shellcheck', async () => {
      for (const inputs of [
        {},
        { agent_command: 'claude --continue', agentapi_sha256: { 'agentapi-linux-amd64': 'a'.repeat(64) } },
      ]) {
        const { install: script } = await applyModule({ release_base_url: server.base, ...inputs });
        const file = join(work.dir, 'install.sh');
        writeFileSync(file, script);
        const check = spawnSync('shellcheck', ['-s', 'sh', file]);
        expect(check.stdout.toString()).toBe('');
        expect(check.status).toBe(0);
      }
    });
  },
);

describeNeeds(ENGINE, 'shutdown script, rendered by the engine and run with /bin/sh', () => {
  const f = useFixture();

  async function script(binary: string, inputs: ModuleInputs = {}, taskId = TASK_ID): Promise<string> {
    const { shutdown } = await applyModule(
      {
        agentapi_port: f.sim?.port ?? 1,
        pid_file_path: f.work.pidFile,
        state_file_path: f.work.stateFile,
        shutdown_timeout: 20,
        ...inputs,
      },
      taskId,
    );
    const file = join(f.work.dir, 'shutdown.sh');
    writeFileSync(file, shutdown.replace(/^BIN=.*$/m, `BIN="${binary}"`));
    return file;
  }

  it('saves, posts the snapshot for the embedded task id, and stops AgentAPI', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const installed = join(f.work.dir, 'bin', 'agentapi-lifecycle');
    mkdirSync(join(f.work.dir, 'bin'));
    copyFileSync(BIN, installed);
    chmodSync(installed, 0o755);
    const result = await runFile('/bin/sh', [await script(installed)], {
      env: { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(f.coderd.stored.get(TASK_ID)?.messages).toHaveLength(3);
    expect(await f.sim.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(f.work.stateFile)).toBe(true);
  });

  it('outside a task (empty id) stops AgentAPI without posting', async () => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const result = await runFile('/bin/sh', [await script(BIN, {}, '')], {
      env: { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token },
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('no --task-id given');
    expect(f.coderd.received).toHaveLength(0);
    expect(await f.sim.exited).toEqual({ code: 0, signal: null });
  });

  it('with stop_agentapi = false (companion mode) saves and posts, and leaves AgentAPI running', async () => {
    f.sim = await startSim({ work: f.work });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const result = await runFile('/bin/sh', [await script(BIN, { stop_agentapi: false })], {
      env: { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token },
    });
    expect(result.code).toBe(0);
    expect(f.coderd.stored.has(TASK_ID)).toBe(true);
    expect(f.sim.alive()).toBe(true);
  });

  it('never fails the stop when the binary is missing', async () => {
    const result = await runFile('/bin/sh', [await script('/nonexistent/agentapi-lifecycle')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('agentapi-lifecycle is not installed at /nonexistent/agentapi-lifecycle');
  });

  it('never fails the stop when shutdown itself refuses its arguments', async () => {
    const file = await script(BIN);
    writeFileSync(file, readFileSync(file, 'utf8').replace(/--timeout "\d+s"/, '--timeout "0s"'));
    const result = await runFile('/bin/sh', [file]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/exited with status 2; the stop goes on/);
  });

  itNeeds(SHELLCHECK, 'is clean under shellcheck, with and without extra flags', async () => {
    for (const inputs of [
      {},
      { enable_state_persistence: false, task_log_snapshot: false, stop_agentapi: false },
    ]) {
      const check = spawnSync('shellcheck', [
        '-s',
        'sh',
        await script('$HOME/.cache/agentapi-lifecycle/x/agentapi-lifecycle', inputs),
      ]);
      expect(check.stdout.toString()).toBe('');
    }
  });
});

describe("the READMEs' Terraform examples", () => {
  const blocks = (file: string) =>
    [...readFileSync(`${ROOT}${file}`, 'utf8').matchAll(/```(?:tf|hcl)\n([\s\S]*?)```/g)].map((m) => m[1]);
  const ours = (example: Hcl) =>
    Object.values(example.module ?? {})
      .map((m) => (m as Hcl[])[0])
      .filter((m) => String(m.source).includes('agentapi-lifecycle'));

  // Whether each example plans and applies is the engine's test (module-engine.test.ts).
  it.each(['README.md', 'scripts/terraform/README.md'])(
    'every example in %s parses and points at this release of the module',
    async (file) => {
      const examples = blocks(file);
      expect(examples.length).toBeGreaterThan(0);
      for (const text of examples) {
        for (const block of ours(await parse(file, text)))
          expect(block.source).toBe(`git::${pjson.repository.url}.git//scripts/terraform?ref=v${VERSION}`);
      }
    },
  );

  it('the Docker example is a whole Task: this module, coder_ai_task with its app_id, a persistent home, minutes of stop grace', async () => {
    const docker = await parse(
      'docker.tf',
      blocks('scripts/terraform/README.md').find((b) => b.includes('kreuzwerker/docker')) ?? '',
    );
    expect(ours(docker)[0].agent_command).toBeTruthy();
    expect(docker.resource.coder_ai_task.task[0].app_id).toBe(hcl('module.agentapi_lifecycle.app_id'));
    const container = docker.resource.docker_container.workspace[0];
    expect(container.stop_timeout).toBeGreaterThanOrEqual(60);
    expect(container.destroy_grace_seconds).toBeGreaterThanOrEqual(60);
    expect(container.env).toContain('CODER_AGENT_SOCKET_SERVER_ENABLED=true');
    expect(container.volumes[0].container_path).toBe('/home/coder');
    // Nothing else of ours is needed: no coder_script or coder_app of the template's own.
    expect(docker.resource.coder_script).toBeUndefined();
    expect(docker.resource.coder_app).toBeUndefined();
  });

  it("the Claude Code example is the Task layer beside claude-code 5.x: it waits for claude-code's scripts, runs claude, and gives coder_ai_task its app", async () => {
    const esr = await parse(
      'esr.tf',
      blocks('scripts/terraform/README.md').find((b) => b.includes('coder/claude-code/coder')) ?? '',
    );
    expect(esr.module['claude-code'][0]).toMatchObject({
      source: 'registry.coder.com/coder/claude-code/coder',
      version: '5.4.0',
    });
    const block = ours(esr)[0];
    expect(block).toMatchObject({
      agent_type: 'claude',
      wait_for_scripts: hcl('module.claude-code.scripts'),
    });
    expect(block.agent_command).toMatch(/claude/);
    expect(esr.resource.coder_ai_task.task[0].app_id).toBe(hcl('module.agentapi_lifecycle.app_id'));
  });
});
