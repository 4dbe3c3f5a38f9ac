// Just enough of Terraform to test the module without a Terraform binary: HashiCorp's own HCL
// parser (through @cdktf/hcl2json) for the .tf files, templatefile()'s interpolation, and the
// module's few locals, mirrored here and pinned to main.tf by the HCL tests (which check each
// local's expression), so the scripts can be rendered exactly as a template would render them.

import { readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';

export const MODULE_DIR = new URL('../../scripts/terraform/', import.meta.url).pathname;

// biome-ignore lint/suspicious/noExplicitAny: hcl2json returns untyped JSON.
export type Hcl = Record<string, any>;

export async function parseModule(file = 'main.tf'): Promise<Hcl> {
  return parse(file, readFileSync(`${MODULE_DIR}${file}`, 'utf8'));
}

/** templatefile(): `${name}` interpolates, `$${` is a literal `${`. Directives (`%{`) are not used. */
export function renderTemplate(file: string, vars: Record<string, string | number | boolean>): string {
  const text = readFileSync(`${MODULE_DIR}${file}`, 'utf8');
  return text.replace(/\$\$\{|%%\{|%\{|\$\{([^}]*)\}/g, (match, expr: string | undefined) => {
    if (match === '$${') return '${';
    if (match === '%%{') return '%{';
    if (match === '%{') throw new Error(`${file}: template directives are not supported here`);
    const name = (expr ?? '').trim();
    if (!(name in vars)) throw new Error(`${file} uses \${${name}}, which is not passed`);
    return String(vars[name]);
  });
}

/** The names a template interpolates. */
export function templateNames(file: string): string[] {
  const text = readFileSync(`${MODULE_DIR}${file}`, 'utf8').replace(/\$\$\{/g, '');
  return [...new Set([...text.matchAll(/\$\{\s*([a-z_0-9]+)\s*\}/g)].map((m) => m[1]))].sort();
}

/** The object passed to templatefile("…/<file>", { … }) in an HCL expression: key → expression. */
export function templatefileArgs(expression: string): Record<string, string> {
  const object = /templatefile\([^,]+,\s*\{([\s\S]*)\}\s*\)/.exec(expression)?.[1] ?? '';
  return Object.fromEntries(
    [...object.matchAll(/^\s*([a-z_0-9]+)\s*=\s*(.+?)\s*$/gm)].map((m) => [m[1], m[2]]),
  );
}

/** The module's inputs, as a template author sets them (defaults come from the .tf files). */
export interface ModuleInputs {
  [name: string]: string | number | boolean | string[] | Record<string, string> | undefined;
}

export interface Rendered {
  install: string;
  /** Only with agent_command. */
  start?: string;
  shutdown: string;
  /** The `scripts` output. */
  units: string[];
  binary: string;
  pidFile: string;
  stateFile: string;
}

const sums = (map: Record<string, string>) =>
  Object.entries(map)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, hash]) => `${hash}  ${name}`)
    .join('\n');

/**
 * Renders the module's scripts as Terraform would for these inputs: variable defaults read from
 * main.tf and release.tf, locals computed as main.tf defines them (the HCL tests pin those
 * definitions), `task_id` standing in for data.coder_task.me (empty outside a task).
 */
export async function renderModule(inputs: ModuleInputs, taskId = ''): Promise<Rendered> {
  const [main, release] = await Promise.all([parseModule('main.tf'), parseModule('release.tf')]);
  const defaults: ModuleInputs = {};
  for (const [name, [block]] of Object.entries({ ...main.variable, ...release.variable } as Hcl)) {
    defaults[name] = block.default;
  }
  const v = { ...defaults, ...inputs } as Hcl;
  const pinned = release.locals[0].pinned_release;
  const sha256 = { ...(v.release_version === pinned.version ? pinned.sha256 : {}), ...v.release_sha256 };
  const defaultInstance = v.name === 'agentapi';
  const pidFile = v.pid_file_path || (defaultInstance ? '/tmp/agentapi.pid' : `/tmp/agentapi-${v.name}.pid`);
  const stateFile =
    v.state_file_path ||
    (defaultInstance ? '$HOME/.agentapi/state.json' : `$HOME/.agentapi/${v.name}/state.json`);
  const installUnit = `agentapi-lifecycle-${v.name}-install_script`;
  const startUnit = `agentapi-lifecycle-${v.name}-start_script`;
  const startsAgent = v.agent_command !== '';
  const binary = `${v.install_dir}/${v.release_version}/agentapi-lifecycle`;
  const appSlug = v.web_app_slug !== '' ? v.web_app_slug : v.name;
  const compact = (parts: string[]) => parts.filter(Boolean).join(' ');

  const install = renderTemplate('install.sh.tftpl', {
    unit: installUnit,
    release_base_url: v.release_base_url,
    release_version: v.release_version,
    install_dir: v.install_dir,
    sha256sums: sums(sha256),
    trust_release_server: v.trust_release_server_checksums,
    install_agentapi: v.install_agentapi && startsAgent,
    agentapi_version: v.agentapi_version,
    agentapi_release_base_url: v.agentapi_release_base_url,
    agentapi_sums: sums(v.agentapi_sha256),
  });
  const start = startsAgent
    ? renderTemplate('start.sh.tftpl', {
        unit: startUnit,
        install_unit: installUnit,
        install_wait_timeout: v.install_wait_timeout,
        binary,
        agentapi_bin: v.install_agentapi
          ? `${v.install_dir}/agentapi/${v.agentapi_version}/agentapi`
          : 'agentapi',
        port: v.agentapi_port,
        pid_file: pidFile,
        state_file: stateFile,
        agent_type: v.agent_type,
        workdir: v.workdir,
        start_timeout: v.start_timeout,
        start_flags: compact([
          v.enable_state_persistence ? '' : '--no-state-persistence',
          v.checkpoint_interval > 0 ? `--checkpoint-interval ${v.checkpoint_interval}s` : '',
        ]),
        task_id: taskId,
        chat_base_path: v.subdomain ? '' : `/@owner/workspace.${v.agent_id}/apps/${appSlug}/chat`,
        agentapi_args_b64: Buffer.from((v.agentapi_args as string[]).join('\n')).toString('base64'),
        agent_command_b64: Buffer.from(v.agent_command).toString('base64'),
      })
    : undefined;
  const shutdown = renderTemplate('shutdown.sh.tftpl', {
    binary,
    task_id: taskId,
    port: v.agentapi_port,
    pid_file: pidFile,
    state_file: stateFile,
    max_messages: v.max_messages,
    timeout: v.shutdown_timeout,
    extra_flags: compact([
      v.enable_state_persistence ? '' : '--no-state-persistence',
      v.task_log_snapshot ? '' : '--no-snapshot',
      v.stop_agentapi ? '' : '--no-stop',
    ]),
  });
  return {
    install,
    start,
    shutdown,
    units: [installUnit, ...(startsAgent ? [startUnit] : [])],
    binary,
    pidFile,
    stateFile,
  };
}
