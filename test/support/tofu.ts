// The module under a real engine: OpenTofu with the real coder provider (test/peers/, npm run
// peers), offline. A template is written to a folder of its own, `tofu init` finds the providers
// in a filesystem mirror (no registry, no network), and `plan`/`apply` run with the variables the
// Coder provisioner sets. `applyModule` is what a template author's `apply` gives: the scripts the
// agent will run, read back from the state (`show -json`), and the module's outputs.

import { execFile, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from '@cdktf/hcl2json';
import { cleanEnv } from './harness.js';
import type { Need } from './needs.js';
import { ROOT } from './paths.js';
import { type PeerName, peer, peerExecutable, peerMirror, providerMirrorPath } from './peers.js';

export const MODULE_DIR = `${ROOT}scripts/terraform`;

// biome-ignore lint/suspicious/noExplicitAny: hcl2json returns untyped JSON.
export type Hcl = Record<string, any>;

/** A module file read by HashiCorp's HCL parser (hcl2json), for what the engine does not check. */
export async function parseModule(file: string): Promise<Hcl> {
  return parse(file, readFileSync(`${MODULE_DIR}/${file}`, 'utf8'));
}

export const tofu = peer('tofu');
export const coderProvider = peer('terraform-provider-coder');
export const coderProviderFloor = peer('terraform-provider-coder-2.13');
export const dockerProvider = peer('terraform-provider-docker');

/** What the engine tests need and is missing, in words; undefined when all is there. */
export const engineMissing: string | undefined =
  [tofu, coderProvider, coderProviderFloor].flatMap((p) => (p.installed ? [] : [p.missing])).join('; ') ||
  undefined;

/** An engine that runs the module: OpenTofu (a peer), or HashiCorp Terraform where the machine has it. */
export interface Engine {
  name: 'tofu' | 'terraform';
  /** e.g. "OpenTofu v1.12.5". */
  title: string;
  executable?: string;
  /** Why it is not here. */
  missing?: string;
  /** The registry host its provider addresses default to. */
  host: string;
}

export const TOFU: Engine = {
  name: 'tofu',
  title: tofu.title,
  executable: tofu.installed ? tofu.path : undefined,
  missing: tofu.installed ? undefined : tofu.missing,
  host: 'registry.opentofu.org',
};

/** HashiCorp Terraform on the PATH (Coder's provisioner runs it by default), if any. */
export const TERRAFORM: Engine = (() => {
  // Its own empty configuration: TF_CLI_CONFIG_FILE may name a missing file here, and Terraform
  // then warns on stdout.
  const probe = spawnSync('terraform', ['version'], {
    env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' },
  });
  const version = /^Terraform (v\S+)/.exec(probe.stdout?.toString() ?? '')?.[1];
  const which = spawnSync('sh', ['-c', 'command -v terraform']).stdout?.toString().trim();
  return {
    name: 'terraform',
    title: `HashiCorp Terraform ${version ?? ''}`.trim(),
    executable: version ? which : undefined,
    missing: version ? undefined : 'HashiCorp Terraform is not on the PATH',
    host: 'registry.terraform.io',
  };
})();

/** OpenTofu and both coder providers, as a test's need (needs.ts). */
export const ENGINE: Need = { ok: engineMissing === undefined, missing: engineMissing ?? '', inCi: 'fail' };

/** One mirror per engine for the run, holding both coder providers (symlinks into their peers' mirrors). */
const mirrors = new Map<string, string>();
function providerMirror(host: string): string {
  const known = mirrors.get(host);
  if (known) return known;
  const mirror = mkdtempSync(join(tmpdir(), 'agentapi-lifecycle-mirror-'));
  for (const name of ['terraform-provider-coder', 'terraform-provider-coder-2.13'] as PeerName[]) {
    const path = providerMirrorPath(name);
    const at = join(mirror, host, ...path.split('/').slice(1));
    mkdirSync(dirname(at), { recursive: true });
    symlinkSync(join(peerMirror(name), path), at);
  }
  mirrors.set(host, mirror);
  return mirror;
}

/**
 * A CLI configuration: coder/coder from the mirror and nothing from anywhere else; or, for a
 * template that also needs the docker provider (which has no release to mirror), both providers
 * as development overrides: then `tofu get` fetches the modules and `init` is not run.
 */
function cliConfig(dir: string, overrides: boolean, host: string): string {
  const file = join(dir, 'engine.tfrc');
  const installation = overrides
    ? [
        '  dev_overrides {',
        `    "${host}/coder/coder" = "${dirname(peerExecutable('terraform-provider-coder'))}"`,
        `    "${host}/kreuzwerker/docker" = "${dirname(peerExecutable('terraform-provider-docker'))}"`,
        '  }',
        '  direct {}',
      ]
    : [
        '  filesystem_mirror {',
        `    path    = "${providerMirror(host)}"`,
        `    include = ["${host}/coder/coder"]`,
        '  }',
      ];
  writeFileSync(file, ['provider_installation {', ...installation, '}', ''].join('\n'));
  return file;
}

/** The variables the Coder provisioner sets for a build (provisioner/terraform, coderd). */
export function provisionerEnv(taskId: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CODER_AGENT_URL: 'https://coder.example.com/',
    CODER_WORKSPACE_TRANSITION: 'start',
    CODER_WORKSPACE_NAME: 'task-ws',
    CODER_WORKSPACE_ID: '5b5c7f59-0ad9-4c4e-9a36-6b0e7cbd0f01',
    CODER_WORKSPACE_OWNER: 'alice',
    CODER_WORKSPACE_OWNER_ID: '8a2f1f1e-9d0b-4f4f-8d3c-0f6a4d1c2b3a',
    CODER_WORKSPACE_OWNER_EMAIL: 'alice@example.com',
    CODER_WORKSPACE_OWNER_NAME: 'Alice',
    CODER_WORKSPACE_TEMPLATE_ID: '2c1a3d4e-5f60-4718-9a2b-3c4d5e6f7081',
    CODER_WORKSPACE_TEMPLATE_NAME: 'tasks',
    CODER_WORKSPACE_TEMPLATE_VERSION: 'v1',
    ...(taskId ? { CODER_TASK_ID: taskId, CODER_TASK_PROMPT: 'Fix the flaky test' } : {}),
    ...extra,
  };
}

export interface TofuResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A folder with one template in it, and the engine to run on it. */
export class Template {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly engine: Engine;

  constructor(
    files: Record<string, string>,
    env: Record<string, string> = provisionerEnv(''),
    { overrides = false, engine = TOFU }: { overrides?: boolean; engine?: Engine } = {},
  ) {
    this.engine = engine;
    this.dir = mkdtempSync(join(tmpdir(), 'agentapi-lifecycle-tofu-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.dir, name)), { recursive: true });
      writeFileSync(join(this.dir, name), text);
    }
    this.env = cleanEnv({
      ...env,
      TF_CLI_CONFIG_FILE: cliConfig(this.dir, overrides, engine.host),
      TF_IN_AUTOMATION: '1',
      CHECKPOINT_DISABLE: '1',
    });
  }

  run(...args: string[]): Promise<TofuResult> {
    const executable = this.engine.executable;
    if (!executable) throw new Error(this.engine.missing);
    return new Promise((resolve) => {
      execFile(
        executable,
        [...args, '-no-color'],
        { cwd: this.dir, env: this.env, maxBuffer: 64 << 20 },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** Runs a command that must succeed; its output otherwise, in the error. */
  async must(...args: string[]): Promise<string> {
    const result = await this.run(...args);
    if (result.code !== 0)
      throw new Error(
        `${this.engine.name} ${args[0]} failed (${result.code}):\n${result.stderr}${result.stdout}`,
      );
    return result.stdout;
  }

  init(): Promise<string> {
    return this.must('init', '-input=false');
  }

  /** `apply` and the state it leaves, as `show -json` gives it. */
  async apply(): Promise<State> {
    await this.must('apply', '-auto-approve', '-input=false');
    return JSON.parse(await this.must('show', '-json')) as State;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface StateResource {
  address: string;
  type: string;
  name: string;
  index?: number | string;
  // biome-ignore lint/suspicious/noExplicitAny: attribute values as the provider set them.
  values: Record<string, any>;
}

export interface State {
  values: {
    outputs?: Record<string, { value: unknown }>;
    root_module: {
      resources?: StateResource[];
      child_modules?: { address: string; resources: StateResource[] }[];
    };
  };
}

/** Every resource and data source in the state, the module's included. */
export function resourcesOf(state: State): StateResource[] {
  const root = state.values.root_module;
  return [...(root.resources ?? []), ...(root.child_modules ?? []).flatMap((m) => m.resources)];
}

/** The module's own files (its .tf files, templates and tests), to run the engine in a copy. */
export function moduleFiles(): Record<string, string> {
  const files = readdirSync(MODULE_DIR, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.md'))
    .map((entry) => join(entry.parentPath, entry.name).slice(MODULE_DIR.length + 1));
  return Object.fromEntries(files.map((file) => [file, readFileSync(join(MODULE_DIR, file), 'utf8')]));
}

/** An expression in the template, e.g. `module.claude-code.scripts`, where a value goes. */
export interface Expr {
  expr: string;
}
export const expr = (text: string): Expr => ({ expr: text });

/** The module's inputs, as a template author sets them. */
export interface ModuleInputs {
  [name: string]: string | number | boolean | string[] | Record<string, string> | Expr | null | undefined;
}

/** In the JSON syntax a string is a template: `${` and `%{` in a value must stay literal. */
function literal(value: unknown): unknown {
  if (value && typeof value === 'object' && 'expr' in value) return `\${${(value as Expr).expr}}`;
  if (typeof value === 'string') return value.replace(/\$\{/g, '$${').replace(/%\{/g, '%%{');
  if (Array.isArray(value)) return value.map(literal);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literal(v)]));
  return value;
}

/** Other modules in the template, by name: their source and inputs. */
export type OtherModules = Record<string, { source: string } & ModuleInputs>;

/**
 * The smallest Task template around the module, in OpenTofu's JSON syntax: a coder_agent, the
 * module with `inputs` (and `others` beside it), coder_ai_task with the module's app_id (when there
 * is an app: always in a Task), and every output of the module passed through.
 */
export function taskTemplate(
  inputs: ModuleInputs,
  coderVersion = '>= 2.13',
  { others = {}, task = false }: { others?: OtherModules; task?: boolean } = {},
): string {
  const starts = inputs.agent_command !== undefined && inputs.agent_command !== '';
  const hasApp = starts ? task || inputs.web_app !== false : inputs.web_app === true;
  const outputs = [
    'app_id',
    'binary_path',
    'pid_file',
    'scripts',
    'start_command_prefix',
    'state_file',
    'task_id',
  ];
  return JSON.stringify(
    {
      terraform: { required_providers: { coder: { source: 'coder/coder', version: coderVersion } } },
      data: { coder_workspace: { me: {} } },
      resource: {
        coder_agent: { main: { arch: 'amd64', os: 'linux' } },
        ...(hasApp
          ? {
              coder_ai_task: {
                task: {
                  count: '${data.coder_workspace.me.start_count}',
                  app_id: '${module.agentapi_lifecycle.app_id}',
                },
              },
            }
          : {}),
      },
      module: {
        ...Object.fromEntries(
          Object.entries(others).map(([name, { source, ...rest }]) => [
            name,
            { source, agent_id: '${coder_agent.main.id}', ...(literal(rest) as object) },
          ]),
        ),
        agentapi_lifecycle: {
          source: MODULE_DIR,
          agent_id: '${coder_agent.main.id}',
          ...(literal(
            Object.fromEntries(Object.entries(inputs).filter(([, v]) => v !== undefined)),
          ) as object),
        },
      },
      output: Object.fromEntries(
        outputs.map((name) => [name, { value: `\${module.agentapi_lifecycle.${name}}` }]),
      ),
    },
    null,
    2,
  );
}

/** What a template with this module gives the agent to run, read from the applied state. */
export interface Rendered {
  install: string;
  /** Only with agent_command. */
  start?: string;
  shutdown: string;
  /** The cron script, and its schedule (unless checkpoint_cron = ""). */
  checkpoint?: string;
  checkpointCron?: string;
  /** The `scripts` output. */
  units: string[];
  binary: string;
  pidFile: string;
  stateFile: string;
  /** Every coder_script of the module, as applied. */
  scripts: StateResource[];
  /** The other modules' coder_scripts, as applied. */
  others: StateResource[];
  /** Whether the module made its app, and its id. */
  appId?: string;
  /** The `start_command_prefix` output. */
  startPrefix: string;
  state: State;
}

/**
 * `init` and `apply` of the smallest Task template with the module given `inputs`, as the Coder
 * provisioner runs it (a task when `taskId` is given), and what the agent then gets.
 */
export async function applyModule(
  inputs: ModuleInputs,
  taskId = '',
  {
    others = {},
    provisioner = {},
    engine = TOFU,
  }: { others?: OtherModules; provisioner?: Record<string, string>; engine?: Engine } = {},
): Promise<Rendered> {
  const template = new Template(
    { 'main.tf.json': taskTemplate(inputs, undefined, { others, task: taskId !== '' }) },
    provisionerEnv(taskId, provisioner),
    { engine },
  );
  try {
    await template.init();
    const state = await template.apply();
    const all = resourcesOf(state).filter((r) => r.type === 'coder_script');
    const ours = (r: StateResource) => r.address.startsWith('module.agentapi_lifecycle.');
    const scripts = all.filter(ours);
    const script = (name: string) =>
      scripts.find((r) => r.name === name)?.values.script as string | undefined;
    const output = (name: string) => state.values.outputs?.[name]?.value;
    return {
      install: script('install') as string,
      start: script('start'),
      shutdown: script('shutdown') as string,
      checkpoint: script('checkpoint'),
      checkpointCron: scripts.find((r) => r.name === 'checkpoint')?.values.cron,
      units: output('scripts') as string[],
      binary: output('binary_path') as string,
      pidFile: output('pid_file') as string,
      stateFile: output('state_file') as string,
      scripts,
      others: all.filter((r) => !ours(r)),
      appId: output('app_id') as string | undefined,
      startPrefix: output('start_command_prefix') as string,
      state,
    };
  } finally {
    template.remove();
  }
}
