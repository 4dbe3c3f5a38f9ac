// Integration tests run the compiled binaries; say how to build them instead of failing oddly.
import { existsSync } from 'node:fs';
import { BIN, SIM } from './paths.js';

export default function requireBuild(): void {
  for (const file of [BIN, SIM]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  }
}
