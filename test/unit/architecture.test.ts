// The shape of src/core (issue #39): rooms by role, and imports that only point down. A newcomer
// finds a behaviour from folder and file names; a change that makes two rooms lean on each other,
// or leaves files loose at the top, fails here.
//
//   sequences   what each command runs (shutdown, checkpoint, start, status, smoke, transcript)
//   task        the Task layer: the agents we know (agents/), the prompt, adoption, the session
//   agentapi    AgentAPI: its HTTP API, its process, its state file, its save, running it detached
//   coderd      coderd: the log-snapshot endpoint, its rules, the snapshot builder
//   process     processes and their files: /proc, signals, PID files, locks, the foreground child
//   utils       what every room uses: deadlines, errors, local files, logging, settings

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/paths.js';

const CORE = join(ROOT, 'src/core');
/** Each room's level: a room imports only rooms below it (and itself); rooms of one level not each other. */
const LEVEL: Record<string, number> = { utils: 0, process: 1, agentapi: 2, coderd: 2, task: 3, sequences: 4 };
const MAX_LOOSE = 4;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The relative modules `file` imports (statically or at run time), as files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) =>
    resolve(dirname(file), m[1]).replace(/\.js$/, '.ts'),
  );
}

/** The room of a file of src/core ('' for a loose one), or undefined outside src/core. */
function roomOf(file: string): string | undefined {
  const path = relative(CORE, file);
  if (path.startsWith('..')) return undefined;
  const parts = path.split('/');
  return parts.length === 1 ? '' : parts[0];
}

/** Every import that points up, sideways between rooms, or out of the core. */
function violations(files: readonly string[], imports: (file: string) => string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const from = roomOf(file) as string;
    for (const target of imports(file)) {
      const to = roomOf(target);
      const where = `${relative(CORE, file)} imports ${relative(CORE, target)}`;
      if (to === undefined) found.push(`${where}: outside src/core`);
      else if (to === from) continue;
      else if (!(from in LEVEL) || !(to in LEVEL)) found.push(`${where}: a room without a level`);
      else if (LEVEL[to] >= LEVEL[from]) found.push(`${where}: ${to} is not below ${from}`);
    }
  }
  return found;
}

describe('src/core in rooms by role', () => {
  const files = sources(CORE);

  it(`has at most ${MAX_LOOSE} loose files, and every folder is a room with a level`, () => {
    expect(files.filter((file) => roomOf(file) === '').length).toBeLessThanOrEqual(MAX_LOOSE);
    const rooms = readdirSync(CORE, { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(rooms.map((room) => room.name).sort()).toEqual(Object.keys(LEVEL).sort());
  });

  it('imports only point down: no room leans on one above it or beside it, none reaches outside', () => {
    expect(violations(files, importsOf)).toEqual([]);
  });

  it.each([
    [
      'a room importing one above it',
      'process/lock.ts',
      'agentapi/pid-file.ts',
      'agentapi is not below process',
    ],
    ['two rooms of one level', 'agentapi/client.ts', 'coderd/snapshot.ts', 'coderd is not below agentapi'],
    ['the core importing a command', 'utils/x.ts', '../commands/flags.ts', 'outside src/core'],
  ])('the check finds %s', (_, file, target, why) => {
    const found = violations([join(CORE, file)], () => [resolve(CORE, target)]);
    expect(found).toEqual([expect.stringContaining(why)]);
  });
});
