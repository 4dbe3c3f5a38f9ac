// Just enough of Terraform to test the module without a Terraform binary: HashiCorp's own HCL
// parser (through @cdktf/hcl2json) for the .tf files, and templatefile()'s interpolation.

import { readFileSync } from 'node:fs';
import { parse } from '@cdktf/hcl2json';

export const MODULE_DIR = new URL('../../scripts/terraform/', import.meta.url).pathname;

// biome-ignore lint/suspicious/noExplicitAny: hcl2json returns untyped JSON.
export type Hcl = Record<string, any>;

export async function parseModule(file = 'main.tf'): Promise<Hcl> {
  return parse(file, readFileSync(`${MODULE_DIR}${file}`, 'utf8'));
}

/** templatefile(): `${name}` interpolates, `$${` is a literal `${`. Directives (`%{`) are not used. */
export function renderTemplate(file: string, vars: Record<string, string | number>): string {
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
  return [...new Set([...text.matchAll(/\$\{\s*([a-z_]+)\s*\}/g)].map((m) => m[1]))].sort();
}

/** The keys of the object passed to templatefile("…/<file>", { … }) in an HCL expression. */
export function templatefileKeys(expression: string): string[] {
  const object = /templatefile\([^,]+,\s*\{([\s\S]*)\}\s*\)/.exec(expression)?.[1] ?? '';
  return [...object.matchAll(/^\s*([a-z_]+)\s*=/gm)].map((m) => m[1]).sort();
}
