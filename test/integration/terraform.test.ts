import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pjson from '../../package.json' with { type: 'json' };
import { startCoderd } from '../support/coderd.js';
import { useFixture } from '../support/fixture.js';
import { runFile, startSim, TASK_ID, type Workdir, workdir } from '../support/harness.js';
import { BIN, ROOT } from '../support/paths.js';
import {
  type Hcl,
  parseModule,
  renderTemplate,
  templatefileKeys,
  templateNames,
} from '../support/terraform.js';

const VERSION = pjson.version;
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x64';
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

let module: Hcl;
beforeAll(async () => {
  module = await parseModule();
});

/** An HCL expression as hcl2json writes it: `${…}` (a plain string here, not a JS template). */
const hcl = (expression: string) => `\${${expression}}`;

describe('main.tf, read by a real HCL parser', () => {
  const variable = (name: string) => module.variable[name]?.[0];

  it.each([
    ['agent_id', undefined],
    ['release_base_url', undefined],
    ['release_version', '0.1.0'],
    ['install_dir', '$HOME/.cache/agentapi-lifecycle'],
    ['agentapi_port', 3284],
    ['enable_state_persistence', true],
    ['state_file_path', ''],
    ['pid_file_path', '/tmp/agentapi.pid'],
    ['task_log_snapshot', true],
    ['max_messages', 10],
    ['shutdown_timeout', 30],
    ['checkpoint_interval', 0],
  ])('variable %s defaults to %j', (name, value) => {
    expect(variable(name)).toBeDefined();
    expect(variable(name).default).toEqual(value);
    expect(variable(name).description).toBeTruthy();
  });

  it('validates what Terraform can', () => {
    for (const name of [
      'release_base_url',
      'release_version',
      'agentapi_port',
      'max_messages',
      'shutdown_timeout',
      'checkpoint_interval',
      'pid_file_path',
    ]) {
      expect(variable(name).validation?.[0]?.condition, name).toContain(`var.${name}`);
    }
  });

  it('declares the coder provider new enough for data.coder_task', () => {
    expect(module.terraform[0].required_providers[0].coder).toEqual({
      source: 'coder/coder',
      version: '>= 2.13',
    });
    expect(module.data.coder_task.me).toBeDefined();
  });

  it('embeds the task id only inside a task', () => {
    expect(module.locals[0].task_id).toBe(hcl('data.coder_task.me.enabled ? data.coder_task.me.id : ""'));
  });

  it('installs on start and shuts down on stop', () => {
    const install = module.resource.coder_script.install[0];
    const shutdown = module.resource.coder_script.shutdown[0];
    expect(install).toMatchObject({ agent_id: hcl('var.agent_id'), run_on_start: true });
    expect(shutdown).toMatchObject({ agent_id: hcl('var.agent_id'), run_on_stop: true });
    expect(shutdown.timeout).toContain('var.shutdown_timeout');
  });

  it.each([
    ['install', 'install.sh.tftpl'],
    ['shutdown', 'shutdown.sh.tftpl'],
  ])('passes the %s template exactly the names it uses', (resource, file) => {
    const script = module.resource.coder_script[resource][0].script;
    expect(script).toContain(file);
    expect(templatefileKeys(script)).toEqual(templateNames(file));
  });

  it('outputs the binary path and the start command prefix', () => {
    expect(Object.keys(module.output).sort()).toEqual(['binary_path', 'start_command_prefix', 'task_id']);
    const prefix = module.locals[0].start_prefix;
    for (const part of [
      '"start"',
      '"--port"',
      '"--pid-file"',
      '"--state-file"',
      '"--"',
      '--checkpoint-interval',
    ])
      expect(prefix).toContain(part);
  });
});

/** A release server on 127.0.0.1 serving dist/ at /<version>/, with faults. */
interface Release {
  url: string;
  requests: string[];
  dir: string;
  cut?: string;
  close(): Promise<void>;
}

async function serveRelease(dir: string): Promise<Release> {
  const release: Partial<Release> = { requests: [], dir };
  const server: Server = createServer((req, res) => {
    release.requests?.push(req.url ?? '');
    const name = (req.url ?? '').split('/').pop() ?? '';
    const file = join(dir, name);
    if (!(req.url ?? '').startsWith(`/${VERSION}/`) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'Content-Length': size });
    if (release.cut === name) {
      // The connection drops halfway through, every time.
      const stream = createReadStream(file, { end: Math.floor(size / 2) });
      stream.on('end', () => res.destroy());
      stream.pipe(res, { end: false });
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  release.url = `http://127.0.0.1:${port}`;
  release.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return release as Release;
}

describe('install script, rendered and run with /bin/sh against a local release server', () => {
  let work: Workdir;
  let release: Release;

  beforeEach(async () => {
    work = await workdir();
    const dir = join(work.dir, 'release');
    mkdirSync(dir);
    for (const file of readdirSync(`${ROOT}dist`)) {
      if (file.startsWith('agentapi-lifecycle-') || file === 'SHA256SUMS')
        symlinkSync(`${ROOT}dist/${file}`, join(dir, file));
    }
    release = await serveRelease(dir);
  });

  afterEach(async () => {
    await release.close();
    await work.cleanup();
  });

  function script(): string {
    const file = join(work.dir, 'install.sh');
    writeFileSync(
      file,
      renderTemplate('install.sh.tftpl', {
        release_base_url: release.url,
        release_version: VERSION,
        install_dir: '$HOME/.cache/agentapi-lifecycle',
      }),
    );
    return file;
  }

  const installed = () =>
    join(work.dir, 'home', '.cache', 'agentapi-lifecycle', VERSION, 'agentapi-lifecycle');

  function install(path?: string) {
    return runFile('/bin/sh', [script()], {
      env: { HOME: join(work.dir, 'home'), ...(path ? { PATH: path } : {}) },
      killAfterMs: 120_000,
    });
  }

  /** A PATH with the usual tools, minus `without`, plus a fake `uname -m` if asked. */
  function shimPath(without: string[], machine?: string): string {
    const bin = join(work.dir, 'shim');
    mkdirSync(bin, { recursive: true });
    const fake = machine ? ['uname'] : [];
    for (const tool of [
      'sh',
      'curl',
      'wget',
      'gzip',
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
    ]) {
      if (without.includes(tool) || fake.includes(tool)) continue;
      const found = spawnSync('sh', ['-c', `command -v ${tool}`])
        .stdout.toString()
        .trim();
      if (found.startsWith('/')) symlinkSync(found, join(bin, tool));
    }
    // 'wx': a new file only, never written through a link to the real tool.
    if (machine)
      writeFileSync(join(bin, 'uname'), `#!/bin/sh\necho ${machine}\n`, { mode: 0o755, flag: 'wx' });
    return bin;
  }

  it('downloads the .gz, verifies it, installs atomically, and the binary runs', async () => {
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    expect(release.requests).toEqual([
      `/${VERSION}/SHA256SUMS`,
      `/${VERSION}/agentapi-lifecycle-linux-${ARCH}.gz`,
    ]);
    expect(execFileSync(installed(), ['--version']).toString()).toContain(VERSION);
    expect(readdirSync(join(installed(), '..')).filter((f) => f.startsWith('.download'))).toEqual([]);
  });

  it('a restart of the same version downloads nothing', async () => {
    expect((await install()).code).toBe(0);
    release.requests.length = 0;
    const again = await install();
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already installed');
    expect(release.requests).toEqual([]);
  });

  it('refuses a checksum mismatch and installs nothing', async () => {
    const sums = readFileSync(`${ROOT}dist/SHA256SUMS`, 'utf8').replace(
      /^[0-9a-f]{64}(?= {2}agentapi-lifecycle-linux-\w+\.gz)/gm,
      '0'.repeat(64),
    );
    const file = join(release.dir, 'SHA256SUMS');
    execFileSync('rm', [file]);
    writeFileSync(file, sums);
    const result = await install();
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /checksum mismatch for agentapi-lifecycle-linux-\w+\.gz: expected 0{64}, got [0-9a-f]{64}; refusing to install/,
    );
    expect(existsSync(installed())).toBe(false);
  });

  it('never installs an interrupted download', async () => {
    release.cut = `agentapi-lifecycle-linux-${ARCH}.gz`;
    const result = await install();
    expect(result.code).toBe(1);
    expect(existsSync(installed())).toBe(false);
    expect(readdirSync(join(installed(), '..')).filter((f) => f.startsWith('.download'))).toEqual([]);
  });

  it('names an unknown architecture', async () => {
    const result = await install(shimPath([], 'sparc64'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('unsupported architecture sparc64');
    expect(release.requests).toEqual([]);
  });

  it('works with wget when there is no curl', async () => {
    const result = await install(shimPath(['curl']));
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(installed())).toBe(true);
  });

  it.skipIf(!hasShellcheck)('is clean under shellcheck', () => {
    const check = spawnSync('shellcheck', ['-s', 'sh', script()]);
    expect(check.stdout.toString()).toBe('');
    expect(check.status).toBe(0);
  });
});

describe('shutdown script, rendered and run with /bin/sh', () => {
  const f = useFixture();

  function script(binary: string, overrides: Record<string, string | number> = {}): string {
    const file = join(f.work.dir, 'shutdown.sh');
    writeFileSync(
      file,
      renderTemplate('shutdown.sh.tftpl', {
        binary,
        task_id: TASK_ID,
        port: f.sim?.port ?? 1,
        pid_file: f.work.pidFile,
        max_messages: 10,
        timeout: 20,
        extra_flags: '',
        ...overrides,
      }),
    );
    return file;
  }

  it('saves, posts the snapshot for the embedded task id, and stops AgentAPI', async () => {
    f.sim = await startSim({ work: f.work, env: { AGENTAPI_SIM_MESSAGES: '3' } });
    f.coderd = await startCoderd({ tasks: [TASK_ID] });
    const installed = join(f.work.dir, 'bin', 'agentapi-lifecycle');
    mkdirSync(join(f.work.dir, 'bin'));
    copyFileSync(BIN, installed);
    execFileSync('chmod', ['+x', installed]);
    const result = await runFile('/bin/sh', [script(installed)], {
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
    const result = await runFile('/bin/sh', [script(BIN, { task_id: '' })], {
      env: { CODER_AGENT_URL: f.coderd.url, CODER_AGENT_TOKEN: f.coderd.token },
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('no --task-id given');
    expect(f.coderd.received).toHaveLength(0);
    expect(await f.sim.exited).toEqual({ code: 0, signal: null });
  });

  it('never fails the stop when the binary is missing', async () => {
    const result = await runFile('/bin/sh', [script('/nonexistent/agentapi-lifecycle')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('agentapi-lifecycle is not installed at /nonexistent/agentapi-lifecycle');
  });

  it('never fails the stop when shutdown itself refuses its arguments', async () => {
    const result = await runFile('/bin/sh', [script(BIN, { timeout: 0 })]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/exited with status 2; the stop goes on/);
  });

  it.skipIf(!hasShellcheck)('is clean under shellcheck, with and without extra flags', () => {
    for (const extra of ['', '--no-state-persistence --no-snapshot']) {
      const check = spawnSync('shellcheck', [
        '-s',
        'sh',
        script('$HOME/.cache/agentapi-lifecycle/0.1.0/agentapi-lifecycle', { extra_flags: extra }),
      ]);
      expect(check.stdout.toString()).toBe('');
    }
  });
});
