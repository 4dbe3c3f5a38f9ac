// The Terraform half of `npm run lint`: `tofu fmt -check` of the module (its .tf files and its
// tests) and of every Terraform example in the READMEs, with the engine `npm run peers` installs.
// Without it the check is skipped with a note, except under CI=true, where it is a failure.
// `--write` formats the module instead (npm run format). Run with bun: `bun scripts/lint-terraform.ts`.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/support/paths.js';
import { peer } from '../test/support/peers.js';

const tofu = peer('tofu');
if (!tofu.installed) {
  process.stderr.write(`tofu fmt: skipped, ${tofu.missing}\n`);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}

// No CLI configuration is needed to format, and none of the machine's is read.
const env = { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' };
if (process.argv.includes('--write')) {
  const result = spawnSync(tofu.path, ['fmt', '-recursive', join(ROOT, 'scripts', 'terraform')], {
    env,
    stdio: 'inherit',
  });
  process.exit(result.status ?? 1);
}
const fmt = (target: string) =>
  spawnSync(tofu.path, ['fmt', '-check', '-diff', '-recursive', '-no-color', target], {
    env,
    encoding: 'utf8',
  });

let failed = false;
const module = fmt(join(ROOT, 'scripts', 'terraform'));
if (module.status !== 0) {
  failed = true;
  process.stderr.write(
    `scripts/terraform is not formatted (tofu fmt -recursive scripts/terraform):\n${module.stdout}${module.stderr}\n`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'agentapi-lifecycle-fmt-'));
try {
  for (const file of ['README.md', 'scripts/terraform/README.md']) {
    const examples = [...readFileSync(join(ROOT, file), 'utf8').matchAll(/```(?:tf|hcl)\n([\s\S]*?)```/g)];
    examples.forEach((match, i) => {
      const example = join(dir, `example-${i + 1}.tf`);
      writeFileSync(example, match[1]);
      const result = fmt(example);
      if (result.status !== 0) {
        failed = true;
        process.stderr.write(
          `${file}, Terraform example ${i + 1}, is not formatted as tofu fmt would:\n${result.stdout}\n`,
        );
      }
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (!failed) {
  const version = execFileSync(tofu.path, ['version'], { env, encoding: 'utf8' }).split('\n')[0];
  process.stderr.write(`tofu fmt: the module and the READMEs' examples are formatted (${version})\n`);
}
process.exit(failed ? 1 : 0);
