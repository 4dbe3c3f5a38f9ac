// A full or read-only disk (issue #30): every file we open is closed on every path, a failed
// write leaves nothing behind, and disk.ts tells a full or read-only file system. On a real tmpfs,
// filled for real (mounting needs root: CI's machines run the suite as root, and the GitHub
// workflow runs these under sudo); and a check of the sources that nothing opens a file outside
// local-file.ts, the one place that closes what it opens.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishSave, startSave } from '../../src/core/agentapi/save.js';
import { acquireLock } from '../../src/core/process/lock.js';
import { type ProcInfo, readProc } from '../../src/core/process/proc.js';
import { readFingerprint, writeFingerprint } from '../../src/core/sequences/fingerprint.js';
import { checkRoom } from '../../src/core/sequences/start-checks.js';
import { gatherStatus } from '../../src/core/sequences/status.js';
import { readStartRecord, writeStartRecord } from '../../src/core/task/start-record.js';
import { Deadline } from '../../src/core/utils/deadline.js';
import { noRoomFor } from '../../src/core/utils/disk.js';
import { replaceFile, writeNewFile } from '../../src/core/utils/local-file.js';
import { Logger } from '../../src/core/utils/log.js';
import { startFakeAgentApi } from '../support/fake-holder.js';
import { AS_ROOT, describeNeeds, tool } from '../support/needs.js';
import { ROOT } from '../support/paths.js';

/** What may open a file (and so must close it): only local-file.ts, which closes on every path. */
const OPENERS = new Set([
  'open',
  'openSync',
  'opendir',
  'opendirSync',
  'writeFile',
  'writeFileSync',
  'appendFile',
  'appendFileSync',
  'createReadStream',
  'createWriteStream',
  // A copy opens both files: adoption used to copy a state file this way, unchecked.
  'copyFile',
  'copyFileSync',
  'cp',
  'cpSync',
]);

/** Every place in `source` that opens a file other than through local-file.ts, as "line: text". */
function openingsIn(source: string): string[] {
  const found: string[] = [];
  const lines = source.split('\n');
  // Named imports from node:fs or node:fs/promises (possibly over several lines).
  for (const match of source.matchAll(
    /import\s*(type\s*)?\{([^}]*)\}\s*from\s*['"](node:)?fs(\/promises)?['"]/g,
  )) {
    if (match[1]) continue;
    const names = match[2].split(',').map((n) => n.trim().split(/\s+as\s+/)[0]);
    for (const name of names.filter((n) => OPENERS.has(n))) found.push(`imports ${name} from fs`);
  }
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/import\s+(\*\s+as\s+)?\w+\s+from\s*['"](node:)?fs(\/promises)?['"]/.test(code))
      found.push(`${i + 1}: ${line.trim()} (the whole of fs)`);
    if (/import\(\s*['"](node:)?fs(\/promises)?['"]\s*\)/.test(code))
      found.push(`${i + 1}: ${line.trim()} (fs imported at run time)`);
    if (
      /\b(fs|fsp|promises)\.(open|openSync|writeFile|writeFileSync|appendFile|createWriteStream)\s*\(/.test(
        code,
      )
    )
      found.push(`${i + 1}: ${line.trim()}`);
    if (/\bBun\.(file|write)\s*\(/.test(code)) found.push(`${i + 1}: ${line.trim()}`);
  });
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('nothing opens a file but local-file.ts, which closes it on every path', () => {
  it('the sources hold no other opening', () => {
    const offenders = sourceFiles(`${ROOT}src`)
      .filter((file) => !file.endsWith('/utils/local-file.ts'))
      .flatMap((file) => openingsIn(readFileSync(file, 'utf8')).map((o) => `${relative(ROOT, file)}: ${o}`));
    expect(offenders).toEqual([]);
  });

  it.each([
    ['the lock that leaked on a full disk', "import { lstat, open, readlink } from 'node:fs/promises';"],
    ['a writer by path', "import { rename, unlink, writeFile } from 'node:fs/promises';"],
    ['an import over several lines', "import {\n  mkdir,\n  open as openFile,\n} from 'node:fs/promises';"],
    ['a stream', "import { createWriteStream } from 'fs';"],
    ['a copy', "import { constants, copyFile } from 'node:fs/promises';"],
    ['the whole module', "import * as fs from 'node:fs';"],
    ['a default import', "import fs from 'node:fs/promises';"],
    ['a run-time import', "const { open } = await import('node:fs/promises');"],
    ["Bun's own files", 'await Bun.write(path, data);'],
  ])('the check finds %s', (_, source) => {
    expect(openingsIn(source)).not.toEqual([]);
  });

  it.each([
    [
      'reading, statting and removing',
      "import { lstat, readFile, rename, stat, unlink } from 'node:fs/promises';",
    ],
    ['types only', "import type { FileHandle } from 'node:fs/promises';"],
    ['a method of a handle local-file.ts holds', 'handle.createReadStream({ autoClose: false })'],
  ])('the check lets %s pass', (_, source) => {
    expect(openingsIn(source)).toEqual([]);
  });
});

/** File descriptors of this process open on anything under `dir`. */
function openUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [`${fd} → ${target}`] : [];
    } catch {
      return [];
    }
  });
}

describeNeeds([AS_ROOT, tool('mount')], 'on a real full tmpfs (mounted for the test)', () => {
  let mountpoint: string;
  let folder: string;
  const lines: string[] = [];
  const logger = new Logger({ write: (line) => lines.push(line) });

  beforeAll(async () => {
    mountpoint = await mkdtemp(join(tmpdir(), 'full-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mountpoint]);
    folder = join(mountpoint, 'agentapi');
    mkdirSync(folder, { mode: 0o700 });
    writeFileSync(join(folder, 'state.json.checkpoint'), `${'a'.repeat(64)}\n`);
    // Fill it: page by page until the file system says no.
    const filler = join(mountpoint, 'filler');
    writeFileSync(filler, '');
    for (;;) {
      try {
        writeFileSync(filler, Buffer.alloc(4096), { flag: 'a' });
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
        break;
      }
    }
  });

  afterAll(() => {
    spawnSync('umount', ['-l', mountpoint]);
    rmSync(mountpoint, { recursive: true, force: true });
  });

  const leftovers = () => readdirSync(folder).sort();

  it('a lock that cannot be written is no lock, says why, and leaves no file and no open descriptor', async () => {
    const lock = await acquireLock(join(folder, 'agentapi.pid.shutdown-lock'), Deadline.in(2000));
    expect(lock).toMatchObject({
      acquired: true,
      unlocked: expect.stringContaining('no space left on its file system'),
    });
    expect(openUnder(mountpoint)).toEqual([]);
    expect(leftovers()).toEqual(['state.json.checkpoint']);
  });

  it("the checkpoint's fingerprint that cannot be written is named once, and the old one stays whole", async () => {
    lines.length = 0;
    const path = join(folder, 'state.json.checkpoint');
    await writeFingerprint(path, 'b'.repeat(64), logger);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`cannot keep the checkpoint's fingerprint in ${path}`);
    expect(lines[0]).toContain('no space left');
    expect(await readFingerprint(path)).toBe('a'.repeat(64));
    expect(openUnder(mountpoint)).toEqual([]);
    expect(leftovers()).toEqual(['state.json.checkpoint']);
  });

  it('the start record that cannot be written costs only itself', async () => {
    const pidFile = join(folder, 'agentapi.pid');
    await writeStartRecord(
      pidFile,
      {
        at: new Date().toISOString(),
        type: 'claude',
        resumed: false,
        why: 'a first start',
        added: [],
        cwd: '/',
      },
      [],
    );
    expect(await readStartRecord(pidFile)).toEqual({});
    expect(openUnder(mountpoint)).toEqual([]);
    expect(leftovers()).toEqual(['state.json.checkpoint']);
  });

  it('writeNewFile and replaceFile throw ENOSPC, close what they opened and remove what they created', async () => {
    await expect(writeNewFile(join(folder, 'new'), 'x'.repeat(10_000))).rejects.toMatchObject({
      code: 'ENOSPC',
    });
    await expect(
      replaceFile(join(folder, 'state.json.checkpoint'), 'x'.repeat(10_000)),
    ).rejects.toMatchObject({
      code: 'ENOSPC',
    });
    expect(openUnder(mountpoint)).toEqual([]);
    expect(leftovers()).toEqual(['state.json.checkpoint']);
    expect(readFileSync(join(folder, 'state.json.checkpoint'), 'utf8')).toBe(`${'a'.repeat(64)}\n`);
  });

  it('noRoomFor names the full file system, and what a new file of a given size would need', async () => {
    expect(await noRoomFor(folder, 0)).toEqual({
      kind: 'no-space',
      detail: `the file system of ${folder} is full (0 bytes free, 4096 needed)`,
    });
  });

  it("start's room check: a PID file that cannot be written refuses the start; a state file is a warning", async () => {
    const full = `the file system of ${folder} is full (0 bytes free, 4096 needed)`;
    const pidFile = join(folder, 'agentapi.pid');
    const stateFile = join(folder, 'state.json');
    lines.length = 0;
    await expect(
      checkRoom({ pidFile, stateFile, pidFileFlag: true, persistence: true }, logger),
    ).rejects.toThrow(
      `cannot start AgentAPI: ${full}, so it could not write its PID file ${pidFile}; make room there (or give --pid-file elsewhere)`,
    );
    await checkRoom({ pidFile, stateFile, pidFileFlag: false, persistence: true }, logger);
    expect(lines).toEqual([
      expect.stringContaining(
        ` WARN  ${full}: AgentAPI runs, but cannot save the conversation (on a pause or a checkpoint) until there is room`,
      ),
    ]);
    lines.length = 0;
    await checkRoom({ pidFile, stateFile, pidFileFlag: false, persistence: false }, logger);
    expect(lines).toEqual([]);
  });

  it('a save that cannot land is not asked for; a wait that ends says the disk is full', async () => {
    const stateFile = join(folder, 'state.json');
    const dir = await mkdtemp(join(tmpdir(), 'full-disk-agentapi-'));
    const fake = await startFakeAgentApi(dir, ['--pid-file', join(dir, 'a.pid')], {
      env: { AGENTAPI_STATE_FILE: stateFile },
    });
    try {
      const proc = (await readProc(fake.pid as number)) as ProcInfo;
      const start = await startSave(
        { pid: proc.pid, proc, via: 'pid-file' },
        { statePersistence: true, logger },
      );
      expect(start.result).toEqual({
        status: 'failed',
        outcome: 'no-space',
        detail: `${stateFile} cannot be saved: the file system of ${folder} is full (0 bytes free, 4096 needed)`,
      });
      const waited = await finishSave(
        { stateFile, before: undefined },
        Deadline.in(100),
        new AbortController().signal,
        logger,
      );
      expect(waited).toEqual({
        status: 'failed',
        outcome: 'no-space',
        detail: `${stateFile} was not replaced in time: the file system of ${folder} is full (0 bytes free, 4096 needed)`,
      });
    } finally {
      fake.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('status warns that a save would not land there', async () => {
    const stateFile = join(folder, 'state.json');
    const status = await gatherStatus({
      port: 1,
      pidFile: join(folder, 'none.pid'),
      stateFile,
      coder: {},
      timeoutMs: 1_000,
      home: folder,
    });
    expect(status.warnings).toContain(
      `the file system of ${folder} is full (0 bytes free, 4096 needed): AgentAPI cannot save the conversation there (on a pause or a checkpoint) until there is room`,
    );
    expect(status.stateFile.noRoom).toMatchObject({ kind: 'no-space' });
  });

  it("status warns when the agent's sessions are on another file system than the state file", async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'full-disk-home-'));
    try {
      mkdirSync(join(elsewhere, 'home', '.claude'), { recursive: true });
      const pidFile = join(elsewhere, 'agentapi.pid');
      const record = {
        at: new Date().toISOString(),
        type: 'claude',
        resumed: false,
        why: 'a first start',
        added: [],
        cwd: '/',
      };
      await writeStartRecord(pidFile, record, []);
      const status = await gatherStatus({
        port: 1,
        pidFile,
        stateFile: join(folder, 'state.json'),
        coder: {},
        timeoutMs: 1_000,
        home: join(elsewhere, 'home'),
      });
      expect(status.agentSession).toMatchObject({ folderExists: true, sameFilesystemAsState: false });
      expect(status.warnings).toContain(
        `the agent keeps its sessions in ${join(elsewhere, 'home', '.claude')}, on another filesystem than the state file: if that one is not persistent, the agent forgets on a resume`,
      );
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('noRoomFor names a read-only file system (a read-only bind mount of it)', async () => {
    const readOnly = `${mountpoint}-ro`;
    mkdirSync(readOnly);
    try {
      execFileSync('mount', ['--bind', '-o', 'ro', mountpoint, readOnly]);
      try {
        expect(await noRoomFor(join(readOnly, 'agentapi'), 0)).toEqual({
          kind: 'read-only',
          detail: `the file system of ${join(readOnly, 'agentapi')} is read-only`,
        });
      } finally {
        spawnSync('umount', ['-l', readOnly]);
      }
    } finally {
      rmSync(readOnly, { recursive: true, force: true });
    }
  });
});

describeNeeds([AS_ROOT, tool('mount')], 'on a tmpfs out of inodes (mounted for the test)', () => {
  let mountpoint: string;
  beforeAll(async () => {
    mountpoint = await mkdtemp(join(tmpdir(), 'no-inodes-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,nr_inodes=8,mode=0700', 'tmpfs', mountpoint]);
    // Empty files until the file system refuses one more: the blocks are free, the inodes are not.
    for (let i = 0; i < 64; i++) {
      try {
        writeFileSync(join(mountpoint, `f${i}`), '');
      } catch {
        break;
      }
    }
  });
  afterAll(() => {
    spawnSync('umount', ['-l', mountpoint]);
    rmSync(mountpoint, { recursive: true, force: true });
  });

  it('noRoomFor names it: no free inodes, however much space', async () => {
    expect(await noRoomFor(mountpoint, 0)).toEqual({
      kind: 'no-space',
      detail: `the file system of ${mountpoint} has no free inodes`,
    });
  });

  it('exactly the free space is room enough (then the inodes are judged); one byte more is not', async () => {
    const { statfsSync } = await import('node:fs');
    const fs = statfsSync(mountpoint);
    const free = fs.bfree * fs.bsize;
    expect(free).toBeGreaterThan(0);
    expect((await noRoomFor(mountpoint, free))?.detail).toMatch(/has no free inodes$/);
    expect((await noRoomFor(mountpoint, free + 1))?.detail).toBe(
      `the file system of ${mountpoint} is full (${free} bytes free, ${free + 1} needed)`,
    );
  });
});

describe('noRoomFor, with room', () => {
  it('a folder with room, and a need it can meet: nothing to say', async () => {
    expect(await noRoomFor(tmpdir(), 1)).toBeUndefined();
  });

  it('a need larger than the free space of any disk is named, with both figures', async () => {
    const room = await noRoomFor(tmpdir(), 10 ** 15);
    expect(room?.kind).toBe('no-space');
    expect(room?.detail).toMatch(/is full \(\d+ bytes free, 1000000000000000 needed\)$/);
  });

  it('a folder that does not exist: it cannot tell, and says nothing (the write itself will)', async () => {
    expect(await noRoomFor(join(tmpdir(), 'no-such-folder-here', 'x'), 0)).toBeUndefined();
  });
});
