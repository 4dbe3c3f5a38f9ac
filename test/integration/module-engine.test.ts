// The module under a real engine: OpenTofu with the real coder provider (npm run peers), offline,
// as a template author runs it: `init`, `validate`, `plan` and `apply` of a Task template, the
// companion setup and every example in the READMEs; every variable validation refusing a bad
// value at `plan` with the module's own message; the same template against the oldest provider
// the module's `>= 2.13` allows; and the module's own `.tftest.hcl` tests under `tofu test`.
// Under CI=true a missing engine fails; elsewhere these tests are skipped by name.

import { readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';
import { afterEach, describe, expect, it } from 'vitest';
import pjson from '../../package.json' with { type: 'json' };
import { TASK_ID } from '../support/harness.js';
import { describeNeeds, itNeeds, peerNeed } from '../support/needs.js';
import { ROOT } from '../support/paths.js';
import { VERSION } from '../support/release-server.js';
import {
  applyModule as applyWith,
  coderProvider,
  coderProviderFloor,
  dockerProvider,
  type Engine,
  engineMissing,
  MODULE_DIR,
  type ModuleInputs,
  moduleFiles,
  provisionerEnv,
  resourcesOf,
  type StateResource,
  TERRAFORM,
  Template,
  TOFU,
  taskTemplate,
} from '../support/tofu.js';

const templates: Template[] = [];

/** The registry module versions the READMEs may name: their interfaces (test/fixtures/registry/README.md). */
const REGISTRY_INTERFACES: Record<string, string> = {
  'registry.coder.com/coder/claude-code/coder@5.4.0': `${ROOT}test/fixtures/registry/claude-code-5.4.0`,
  'registry.coder.com/coder/goose/coder@3.0.1': `${ROOT}test/fixtures/registry/goose-3.0.1`,
};
afterEach(() => {
  for (const t of templates.splice(0)) t.remove();
});

function makeTemplate(
  engine: Engine,
  files: Record<string, string>,
  env?: Record<string, string>,
  overrides = false,
): Template {
  const t = new Template(files, env, { overrides, engine });
  templates.push(t);
  return t;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const byAddress = (resources: StateResource[], address: string) =>
  resources.find((r) => r.address === address)?.values;

// OpenTofu always (a peer); HashiCorp Terraform where the machine has it (Coder's provisioner runs
// it by default), skipped by name where it is absent.
for (const engine of [TOFU, TERRAFORM]) engineSuite(engine);

function engineSuite(engine: Engine): void {
  const missing = engineMissing ?? engine.missing;
  const title = `the module under ${engine.title} with ${coderProvider.title}`;
  const template = (files: Record<string, string>, env?: Record<string, string>, overrides = false) =>
    makeTemplate(engine, files, env, overrides);
  const applyModule = (...[inputs, taskId, options]: Parameters<typeof applyWith>) =>
    applyWith(inputs, taskId, { ...options, engine });
  const need = {
    ok: missing === undefined,
    missing: missing ?? '',
    inCi: engine === TOFU ? 'fail' : 'skip',
  } as const;
  describeNeeds(need, title, () => {
    it('(a) a minimal Task template: init, validate, plan, apply; the scripts, the app and the task id as the agent gets them', async () => {
      const t = template(
        { 'main.tf.json': taskTemplate({ agent_command: 'my-agent --continue', agent_type: 'custom' }) },
        provisionerEnv(TASK_ID),
      );
      await t.init();
      expect(await t.must('validate')).toContain('The configuration is valid');
      expect(await t.must('plan', '-input=false')).toMatch(/Plan: 7 to add, 0 to change, 0 to destroy/);
      const state = await t.apply();
      const resources = resourcesOf(state);
      const outputs = Object.fromEntries(
        Object.entries(state.values.outputs ?? {}).map(([k, v]) => [k, v.value]),
      );
      expect(outputs).toMatchObject({
        task_id: TASK_ID,
        binary_path: `$HOME/.cache/agentapi-lifecycle/${VERSION}/agentapi-lifecycle`,
        pid_file: '$HOME/.agentapi/agentapi.pid',
        state_file: '$HOME/.agentapi/state.json',
        scripts: ['agentapi-lifecycle-agentapi-install_script', 'agentapi-lifecycle-agentapi-start_script'],
      });
      // coder_ai_task takes the module's app, which is AgentAPI's chat on localhost with /status.
      const app = byAddress(resources, 'module.agentapi_lifecycle.coder_app.agentapi[0]');
      expect(outputs.app_id).toMatch(UUID);
      expect(app).toMatchObject({
        id: outputs.app_id,
        slug: 'agentapi',
        url: 'http://localhost:3284/',
        subdomain: true,
        healthcheck: [{ url: 'http://localhost:3284/status', interval: 3, threshold: 20 }],
      });
      expect(byAddress(resources, 'coder_ai_task.task[0]')).toMatchObject({
        app_id: outputs.app_id,
        enabled: true,
      });
      const agentId = byAddress(resources, 'coder_agent.main')?.id;
      const scripts = Object.fromEntries(
        resources.filter((r) => r.type === 'coder_script').map((r) => [r.name, r.values] as const),
      );
      expect(Object.keys(scripts).sort()).toEqual(['checkpoint', 'install', 'shutdown', 'start']);
      for (const script of Object.values(scripts)) expect(script.agent_id).toBe(agentId);
      expect(scripts.install).toMatchObject({
        run_on_start: true,
        run_on_stop: false,
        start_blocks_login: false,
      });
      expect(scripts.start).toMatchObject({ run_on_start: true, run_on_stop: false });
      expect(scripts.shutdown).toMatchObject({ run_on_start: false, run_on_stop: true, timeout: 40 });
      expect(scripts.shutdown.script).toContain(`--task-id "${TASK_ID}"`);
      // The agent's cron parser (robfig/cron, seconds first) took the default schedule.
      expect(scripts.checkpoint).toMatchObject({ run_on_start: false, run_on_stop: false, timeout: 60 });
      expect(scripts.checkpoint.cron).toMatch(/^\d{1,2} [01]-59\/2 \* \* \* \*$/);
      expect(scripts.checkpoint.script).toContain(`--task-id "${TASK_ID}"`);
      expect(scripts.start.script).toContain(`TASK_ID='${TASK_ID}'`);
    });

    it('(a) in a Task the app exists whatever web_app says (coder_ai_task needs it); outside one, web_app = false means none', async () => {
      const inTask = await applyModule({ agent_command: 'my-agent', web_app: false }, TASK_ID);
      expect(inTask.appId).toMatch(UUID);
      const outside = await applyModule({ agent_command: 'my-agent', web_app: false });
      expect(outside.state.values.outputs?.app_id?.value ?? null).toBeNull();
    });

    it('(a) a start script of your own gets the app when it asks for it (web_app = true), and AgentAPI installed for its prefix; a companion of the registry module gets none', async () => {
      const own = await applyModule({ web_app: true }, TASK_ID);
      expect(own.appId).toMatch(UUID);
      expect(own.start).toBeUndefined();
      expect(own.startPrefix).toMatch(
        / start --detach --agentapi-bin "\$HOME\/\.cache\/agentapi-lifecycle\/agentapi\/v0\.12\.2\/agentapi" /,
      );
      expect(own.install).toContain("INSTALL_AGENTAPI='true'");
      const companion = await applyModule({}, TASK_ID);
      expect(companion.state.values.outputs?.app_id?.value ?? null).toBeNull();
    });

    it("(a) in a Task the start script carries the Task's prompt as base64 (never as shell words) and the app's slug; task_prompt overrides it", async () => {
      const prompt = 'Fix `it` in "$HOME"\nnow';
      const rendered = await applyModule({ agent_command: 'my-agent' }, TASK_ID, {
        provisioner: { CODER_TASK_PROMPT: prompt },
      });
      expect(rendered.start).toContain(`PROMPT_B64='${Buffer.from(prompt).toString('base64')}'`);
      expect(rendered.start).not.toContain('Fix `it`');
      expect(rendered.start).toContain("REPORT_SLUG='agentapi'");
      const none = await applyModule(
        { agent_command: 'my-agent', task_prompt: '', report_tasks: false },
        TASK_ID,
      );
      expect(none.start).toContain("PROMPT_B64=''");
      expect(none.start).toContain("REPORT_SLUG=''");
      const outside = await applyModule({ agent_command: 'my-agent' });
      expect(outside.start).toContain("PROMPT_B64=''");
    });

    it('(a) outside a task the id is not empty but meaningless: the scripts embed "" and the output says ""', async () => {
      const rendered = await applyModule({ agent_command: 'my-agent' });
      expect(rendered.shutdown).toContain('--task-id ""');
      expect(rendered.state.values.outputs?.task_id.value).toBe('');
    });

    itNeeds(
      peerNeed(coderProviderFloor),
      `(a) the same template plans and applies with ${coderProviderFloor.title}, the oldest ">= 2.13" allows`,
      async () => {
        const t = template(
          {
            'main.tf.json': taskTemplate(
              { agent_command: 'my-agent', agent_type: 'custom' },
              coderProviderFloor.version.replace(/^v/, ''),
            ),
          },
          provisionerEnv(TASK_ID),
        );
        expect(await t.init()).toContain(
          `Installed coder/coder v${coderProviderFloor.version.replace(/^v/, '')}`,
        );
        const state = await t.apply();
        expect(state.values.outputs?.app_id.value).toMatch(UUID);
        expect(resourcesOf(state).filter((r) => r.type === 'coder_script')).toHaveLength(4);
      },
    );

    it("(b) companion mode: no agent_command, stop_agentapi = false, the registry module's paths", async () => {
      const rendered = await applyModule(
        {
          stop_agentapi: false,
          pid_file_path: '/home/coder/.claude-module/agentapi.pid',
          state_file_path: '$HOME/.claude-module/agentapi-state.json',
        },
        TASK_ID,
      );
      expect(rendered.start).toBeUndefined();
      expect(rendered.units).toEqual(['agentapi-lifecycle-agentapi-install_script']);
      // A null output is left out of the state.
      expect(rendered.state.values.outputs?.app_id?.value ?? null).toBeNull();
      expect(rendered.shutdown).toContain('--pid-file "/home/coder/.claude-module/agentapi.pid"');
      expect(rendered.shutdown).toContain('--state-file "$HOME/.claude-module/agentapi-state.json"');
      expect(rendered.shutdown).toMatch(/--no-stop/);
    });

    describe('(c) every Terraform example in the READMEs, under the engine', () => {
      const examples = ['README.md', 'scripts/terraform/README.md'].flatMap((file) =>
        [...readFileSync(`${ROOT}${file}`, 'utf8').matchAll(/```(?:tf|hcl)\n([\s\S]*?)```/g)].map(
          (m, i) => [`${file} #${i + 1}`, m[1]] as const,
        ),
      );
      const ourSource = `git::${pjson.repository.url}.git//scripts/terraform?ref=v${VERSION}`;

      it.each(examples)('%s', async (_, text) => {
        // Offline: our module from this checkout; a registry module, by the interface of the very
        // version the example names (test/fixtures/registry), so an input it lacks fails to plan.
        let body = text.replaceAll(ourSource, MODULE_DIR);
        const registry = [...body.matchAll(/^module "([\w-]+)" \{\n[\s\S]*?^\}\n/gm)].filter((block) =>
          /source\s+=\s+"registry\./.test(block[0]),
        );
        for (const [block] of registry) {
          const source = /source\s+=\s+"([^"]+)"/.exec(block)?.[1];
          const version = /version\s+=\s+"([^"]+)"/.exec(block)?.[1];
          const fixture = REGISTRY_INTERFACES[`${source}@${version}`];
          if (!fixture) {
            throw new Error(
              `${source} ${version ?? '(no version)'} is named here, but test/fixtures/registry has no interface of it: write one from the registry's files`,
            );
          }
          body = body.replace(
            block,
            block
              .replace(/source\s+=\s+"[^"]+"/, `source = "${fixture}"`)
              .replace(/^\s+version\s+=.*\n/m, ''),
          );
        }
        // Variables an example declares without a default get a value, as a template's user gives one.
        const vars = Object.fromEntries(
          [...body.matchAll(/^variable "(\w+)" \{\n([\s\S]*?)^\}/gm)]
            .filter((m) => !/default\s+=/.test(m[2]))
            .map((m) => [`TF_VAR_${m[1]}`, 'example']),
        );
        // A snippet needs the template around it: the provider, the agent and the data it uses.
        const context: string[] = [];
        if (!/required_providers/.test(body))
          context.push('terraform {\n  required_providers {\n    coder = { source = "coder/coder" }\n  }\n}');
        if (!/resource "coder_agent" "main"/.test(body))
          context.push('resource "coder_agent" "main" {\n  arch = "amd64"\n  os   = "linux"\n}');
        if (/data\.coder_workspace\.me/.test(body) && !/data "coder_workspace" "me"/.test(body))
          context.push('data "coder_workspace" "me" {}');
        if (/data\.coder_task\.me/.test(body) && !/data "coder_task" "me"/.test(body))
          context.push('data "coder_task" "me" {}');
        if (/module\.agentapi_lifecycle\./.test(body) && !/module "agentapi_lifecycle"/.test(body))
          context.push(
            `module "agentapi_lifecycle" {\n  source   = "${MODULE_DIR}"\n  agent_id = coder_agent.main.id\n}`,
          );
        const files = { 'main.tf': `${body}\n${context.join('\n\n')}\n` };
        if (/kreuzwerker\/docker/.test(body)) {
          // Validated with the real docker provider, not planned: planning it needs a Docker engine.
          // The provider has no release to mirror, so both providers are development overrides.
          if (!dockerProvider.installed) throw new Error(dockerProvider.missing);
          const t = template(files, provisionerEnv(TASK_ID), true);
          await t.must('get');
          expect(await t.must('validate')).toContain('The configuration is valid');
          return;
        }
        const t = template(files, provisionerEnv(TASK_ID, vars));
        await t.init();
        expect(await t.must('validate')).toContain('The configuration is valid');
        await t.apply();
      });

      it('an example that passes an input its registry module version lacks fails to plan', async () => {
        const files = {
          'main.tf': `terraform {\n  required_providers {\n    coder = { source = "coder/coder" }\n  }\n}\n\nresource "coder_agent" "main" {\n  arch = "amd64"\n  os   = "linux"\n}\n\nmodule "claude-code" {\n  source            = "${REGISTRY_INTERFACES['registry.coder.com/coder/claude-code/coder@5.4.0']}"\n  agent_id          = coder_agent.main.id\n  task_log_snapshot = false\n}\n`,
        };
        const t = template(files, provisionerEnv(TASK_ID));
        await t.init();
        const validate = await t.run('validate');
        expect(validate.code).not.toBe(0);
        expect(validate.stderr).toMatch(/Unsupported argument[\s\S]*task_log_snapshot/);
      });
    });

    describe("(d) every variable validation refuses a bad value at plan, with the module's own message", () => {
      // variable -> a value it must refuse (and, after it, values it must accept).
      const cases: Record<string, [bad: unknown, ...good: unknown[]]> = {
        // The engine caught what the emulator let through: "agent-" and "a--b" passed the old
        // validation, then the coder provider refused them as the app's slug.
        name: ['agent-', 'claude-2', 'a1-b2-c3'],
        web_app_slug: ['a--b', '', 'chat-ui'],
        web_app_display_name: ['x'.repeat(65), 'Claude Code'],
        release_version: ['v0.1.0', '0.1.0'],
        release_base_url: ['ftp://mirror/releases', 'https://mirror.internal/agentapi-lifecycle'],
        release_sha256: [{ 'agentapi-lifecycle-linux-x64': 'ABC' }],
        install_dir: ['/opt/my tools', '$HOME/.cache/agentapi-lifecycle', '/opt/agentapi-lifecycle'],
        // Paths reach the scripts in double quotes: nothing a shell expands but a leading $HOME.
        workdir: ['/srv/$(id)', '', '$HOME', '/home/coder/project', '$HOME/src/my-repo_1.2'],
        agentapi_port: [3284.5, 1, 65535],
        state_file_path: ['$HOME/state`id`.json', '', '/data/state.json', '$HOME/persist/state.json'],
        pid_file_path: [
          'relative/agentapi.pid',
          '/run/user/1000/agentapi.pid',
          '$HOME/.claude-module/agentapi.pid',
        ],
        max_messages: [0, 1000],
        shutdown_timeout: [4, 5],
        checkpoint_interval: [5, 0, 10],
        checkpoint_cron: ['*/2 * * * *', '', '@every 5m', '0 */2 * * * *'],
        agent_type: ['Claude', 'cursor-agent'],
        wait_for_scripts: [
          ['coder-claude-code-install_script', 'two words'],
          ['coder-claude-code-install_script'],
        ],
        adopt_state_file: [
          '$HOME/x$(touch$${IFS}/tmp/pwned)',
          '',
          '$HOME/.claude-module/agentapi-state.json',
          '/data/agentapi-state.json',
        ],
        start_timeout: [0],
        agentapi_version: ['0.12.1', 'v0.12.2-rc.1'],
        agentapi_sha256: [{ 'agentapi-darwin-amd64': 'a'.repeat(64) }],
        agentapi_release_base_url: ['https://example.com/a b'],
        install_wait_timeout: [5, 10],
      };

      it('covers every variable that has a validation', async () => {
        const validated: string[] = [];
        for (const file of ['main.tf', 'release.tf']) {
          const hcl = await parse(file, readFileSync(`${MODULE_DIR}/${file}`, 'utf8'));
          for (const [name, [block]] of Object.entries(
            hcl.variable as Record<string, { validation?: unknown }[]>,
          ))
            if (block.validation) validated.push(name);
        }
        expect(Object.keys(cases).sort()).toEqual(validated.sort());
      });

      const messages = async () => {
        const out: Record<string, string> = {};
        for (const file of ['main.tf', 'release.tf']) {
          const hcl = await parse(file, readFileSync(`${MODULE_DIR}/${file}`, 'utf8'));
          for (const [name, [block]] of Object.entries(
            hcl.variable as Record<string, { validation?: { error_message: string }[] }[]>,
          ))
            if (block.validation) out[name] = block.validation[0].error_message;
        }
        return out;
      };

      it.each(Object.entries(cases))('%s', async (name, [bad, ...good]) => {
        const inputs = (value: unknown): ModuleInputs => ({
          agent_command: 'my-agent',
          [name]: value as string,
        });
        const refused = template({ 'main.tf.json': taskTemplate(inputs(bad)) });
        await refused.init();
        const plan = await refused.run('plan', '-input=false');
        expect(plan.code).toBe(1);
        const said = plan.stderr.replace(/\s+/g, ' ');
        expect(said).toContain('Invalid value for variable');
        expect(said).toContain((await messages())[name]);
        for (const value of good) {
          const accepted = template({ 'main.tf.json': taskTemplate(inputs(value)) });
          await accepted.init();
          const result = await accepted.run('plan', '-input=false');
          expect(result.code, `${name} = ${JSON.stringify(value)}: ${result.stderr}`).toBe(0);
        }
      });
    });

    it(`(e) the module's own tests (scripts/terraform/tests) pass under \`${engine.name} test\``, async () => {
      const files = moduleFiles();
      const tests = Object.keys(files).filter((f) => f.endsWith('.tftest.hcl'));
      expect(tests.length).toBeGreaterThan(0);
      // In a copy: init must not leave .terraform/ in the repository.
      const t = template(files);
      await t.init();
      const result = await t.run('test');
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      const runs = (text: string) => (text.match(/^\s*run "[^"]+"/gm) ?? []).length;
      const declared = tests.reduce((n, f) => n + runs(files[f]), 0);
      expect(result.stdout).toMatch(new RegExp(`Success! ${declared} passed, 0 failed\\.`));
    });
  });
}
