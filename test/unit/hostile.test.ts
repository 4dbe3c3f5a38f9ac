// The Task layer under a hostile neighbour (issue #37), in-process: the agent token hidden in any
// piece of it (log.ts), text from records and servers shown and never obeyed (text.ts), and Coder's
// CLI bounded for real (report-status.ts), with real shell scripts as the CLI.

import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AGENTS } from '../../src/core/task/agents/index.js';
import { configureReporting } from '../../src/core/task/report-status.js';
import { Logger, MIN_FRAGMENT, redact } from '../../src/core/utils/log.js';
import { escapeControls, printable } from '../../src/core/utils/text.js';

/** Whether `pid` runs (a zombie does not count: it is only waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('still running');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const TOKEN = '5f0c2a7e-9b41-4d3c-8e6f-1a2b3c4d5e6f';

describe('the token, in any piece of 8 characters or more (redact)', () => {
  it('a piece of it anywhere, cut at both ends, is hidden', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.integer({ min: 0, max: TOKEN.length }),
        fc.integer({ min: MIN_FRAGMENT, max: TOKEN.length }),
        (before, after, from, length) => {
          const piece = TOKEN.slice(from, from + length);
          fc.pre(piece.length >= MIN_FRAGMENT);
          const out = redact(`${before}${piece}${after}`, [TOKEN]);
          expect(out).not.toContain(piece);
          expect(out).toContain('***');
        },
      ),
    );
  });

  it('an output whose kept end starts inside the token: 35 of its 36 characters are not shown', () => {
    expect(redact(`${TOKEN.slice(1)} failed`, [TOKEN])).toBe('*** failed');
    // The end of it, 4 characters or more, at the start of a text that was cut.
    expect(redact(`${TOKEN.slice(-5)} failed`, [TOKEN])).toBe('*** failed');
    expect(redact(`x ${TOKEN.slice(-5)} failed`, [TOKEN])).toBe(`x ${TOKEN.slice(-5)} failed`);
  });

  it('exactly: a piece becomes one "***" where it stood, at the start, inside, or the whole text', () => {
    expect(redact(`${TOKEN.slice(2, 12)} at the start`, [TOKEN])).toBe('*** at the start');
    expect(redact(`inside ${TOKEN.slice(5, 15)} it`, [TOKEN])).toBe('inside *** it');
    expect(redact(TOKEN.slice(3, 11), [TOKEN])).toBe('***');
    expect(redact(`${TOKEN.slice(-4)} cut at the start`, [TOKEN])).toBe('*** cut at the start');
    expect(redact(`${TOKEN.slice(-3)} too short to tell`, [TOKEN])).toBe(
      `${TOKEN.slice(-3)} too short to tell`,
    );
  });

  it('what is not a piece of it stays', () => {
    expect(redact('the task 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b failed', [TOKEN])).toBe(
      'the task 3f2b6c1e-8d4a-4b7e-9c1f-2a5d6e7f8a9b failed',
    );
    expect(redact(`${TOKEN.slice(3, 3 + MIN_FRAGMENT - 1)} stays`, [TOKEN])).toBe(
      `${TOKEN.slice(3, 3 + MIN_FRAGMENT - 1)} stays`,
    );
  });
});

describe('text from elsewhere is shown, never obeyed (text.ts, log.ts)', () => {
  it('escapeControls: line breaks, escape codes, NUL, DEL and C1 written out; tab and UTF-8 kept', () => {
    expect(escapeControls('a\nb\r\u001b[31mc\u0000\u007f\u009b\td 🚀 ─')).toBe(
      'a\\nb\\r\\x1b[31mc\\x00\\x7f\\x9b\td 🚀 ─',
    );
  });

  it('printable: short, ASCII, an ellipsis when cut', () => {
    expect(printable('ab\ncd', 10)).toBe('ab?cd');
    expect(printable('abcdef', 3)).toBe('abc…');
  });

  it('a log line is one line, whatever it quotes', () => {
    const lines: string[] = [];
    new Logger({ write: (l) => lines.push(l) }).warn('planted: 2026-12-01\n\u001b[2J2099 FAKE');
    expect(lines).toHaveLength(1);
    expect(lines[0].match(/\n/g)).toHaveLength(1);
    expect(lines[0]).toContain('2026-12-01\\n\\x1b[2J2099 FAKE');
  });
});

describe("Coder's CLI, bounded for real (configureReporting)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'hostile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const coder = (name: string, script: string) => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${script}\n`);
    chmodSync(file, 0o755);
    return file;
  };
  const timings = { timeoutMs: 1500, graceMs: 500, drainMs: 200 };
  const configure = (coderBin: string) =>
    configureReporting(AGENTS.claude, {
      slug: 'agentapi',
      agentApiUrl: 'http://localhost:3284',
      workdir: dir,
      type: 'claude',
      coderBin,
      env: { PATH: process.env.PATH, CODER_AGENT_URL: 'http://127.0.0.1:1/', CODER_AGENT_TOKEN: TOKEN },
      timings,
    });

  it.each([
    ['ignores SIGTERM', "trap '' TERM; sleep 40", /still running after 1\.0s, stopped by SIGKILL/],
    ['exits at SIGTERM', 'sleep 40', /still running after 1\.0s, stopped by SIGTERM/],
    [
      'hangs in a child of its own that ignores SIGTERM',
      `sh -c "trap '' TERM; echo \\$\\$ > ${dir}/left; sleep 40"; :`,
      /stopped by SIGTERM/,
    ],
  ])('one that %s is stopped at its bound, and said', async (_, script, why) => {
    const started = Date.now();
    const reporting = await configure(coder('stuck', script));
    expect(Date.now() - started).toBeLessThan(timings.timeoutMs + 1000);
    expect(reporting.state).toBe('failed');
    expect(reporting.why).toMatch(why);
    // Nothing of it is left running: not the CLI, not a child it left holding its output.
    expect(spawnSync('pgrep', ['-f', `${dir}/stuck`]).stdout.toString()).toBe('');
    expect(existsSync(join(dir, 'left'))).toBe(script.includes('/left'));
    if (script.includes('/left')) {
      const left = Number(readFileSync(join(dir, 'left'), 'utf8'));
      await until(() => !alive(left));
    }
  });

  it('one that exits 0 leaving a child that holds its output: done when it exits, configured', async () => {
    const started = Date.now();
    const reporting = await configure(coder('leaves-a-child', 'sleep 40 & echo configured'));
    expect(Date.now() - started).toBeLessThan(timings.drainMs + 1000);
    expect(reporting.state).toBe('configured');
  });

  it('an agent without a documented MCP set-up: unsupported, nothing run', async () => {
    const ran = join(dir, 'ran-unsupported');
    const bin = coder('never', `touch ${ran}`);
    for (const profile of [undefined, AGENTS.aider]) {
      const reporting = await configureReporting(profile, {
        slug: 'app',
        agentApiUrl: 'http://localhost:3284',
        workdir: dir,
        type: 'aider',
        coderBin: bin,
        env: { CODER_AGENT_URL: 'http://127.0.0.1:1/', CODER_AGENT_TOKEN: TOKEN },
      });
      expect(reporting).toEqual({
        state: 'unsupported',
        slug: 'app',
        why: 'the aider agent has no documented Coder MCP set-up: it does not report its status to the Task',
      });
    }
    expect(existsSync(ran)).toBe(false);
  });

  it.each([
    ['no token', { CODER_AGENT_URL: 'http://127.0.0.1:1/' }],
    ['no URL', { CODER_AGENT_TOKEN: TOKEN }],
    ['neither', {}],
  ])('%s: failed, nothing run', async (_, env) => {
    const ran = join(dir, 'ran-without');
    const reporting = await configureReporting(AGENTS.claude, {
      slug: 'app',
      agentApiUrl: 'http://localhost:3284',
      workdir: dir,
      type: 'claude',
      coderBin: coder('never-either', `touch ${ran}`),
      env,
    });
    expect(reporting).toEqual({
      state: 'failed',
      slug: 'app',
      why: 'CODER_AGENT_URL and CODER_AGENT_TOKEN are needed to set up status reporting, and are not both set',
    });
    expect(existsSync(ran)).toBe(false);
  });

  it("configured: Coder's CLI gets the slug, AgentAPI's URL and the token; said with its command", async () => {
    const seen = join(dir, 'seen-env');
    const bin = coder('records', `env > ${seen}; echo "$@" >> ${seen}`);
    const reporting = await configure(bin);
    const [configureArgs] = [AGENTS.claude.reporting?.configure(dir) ?? []];
    expect(reporting).toEqual({
      state: 'configured',
      slug: 'agentapi',
      why: `\`${bin} ${configureArgs.join(' ')}\` set it up for the app agentapi`,
    });
    const env = readFileSync(seen, 'utf8');
    expect(env).toContain('CODER_MCP_APP_STATUS_SLUG=agentapi\n');
    expect(env).toContain('CODER_MCP_AI_AGENTAPI_URL=http://localhost:3284\n');
    expect(env).toContain(`CODER_AGENT_TOKEN=${TOKEN}\n`);
    expect(env).toContain(`${configureArgs.join(' ')}\n`);
  });

  it('done as soon as its output closes, not at the drain limit', async () => {
    const started = Date.now();
    const reporting = await configureReporting(AGENTS.claude, {
      slug: 'agentapi',
      agentApiUrl: 'http://localhost:3284',
      workdir: dir,
      type: 'claude',
      coderBin: coder('quick', 'echo done; echo more >&2'),
      env: { CODER_AGENT_URL: 'http://127.0.0.1:1/', CODER_AGENT_TOKEN: TOKEN },
      timings: { timeoutMs: 10_000, graceMs: 1_000, drainMs: 5_000 },
    });
    expect(reporting.state).toBe('configured');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it.each([
    [
      'exits 3: its last line, trimmed',
      'echo first; echo "  the last words  " >&2; exit 3',
      /failed \(exit 3: the last words\): the agent does not report its status$/,
    ],
    ['exits 1 saying nothing', 'exit 1', /failed \(exit 1\): the agent/],
    ['is killed by a signal', 'echo bye; kill -KILL $$', /failed \(killed by SIGKILL: bye\)/],
    [
      'writes more than 64 KiB, then its last line',
      "head -c 100000 /dev/zero | tr '\\0' 'y'; echo; echo 'at the end'; exit 2",
      /\(exit 2: at the end\)/,
    ],
  ])('one that %s', async (_, script, why) => {
    const reporting = await configure(coder(`fails-${script.length}`, script));
    expect(reporting.state).toBe('failed');
    expect(reporting.why).toMatch(why);
  });

  it('a last line over 4096 characters: its last 4096', async () => {
    const reporting = await configure(coder('long-line', "printf 'a%.0s' $(seq 1 5000); echo END; exit 1"));
    const kept = /\(exit 1: (a*END)\)/.exec(reporting.why)?.[1] ?? '';
    expect(kept.length).toBe(4096);
  });

  it('one that cannot be started: failed, and why', async () => {
    const missing = await configure(join(dir, 'no-such-coder'));
    expect(missing).toMatchObject({ state: 'failed' });
    expect(missing.why).toMatch(/failed \(.*ENOENT.*\)/);
    const invalid = await configure('co\0der');
    expect(invalid.state).toBe('failed');
    expect(invalid.why).toMatch(/^`co\0der .*` failed \(.+\)/);
  });

  it('one that prints the token in its error: never shown, not even cut short', async () => {
    const printsIt = coder(
      'prints-token',
      'echo "error: authenticating with token $CODER_AGENT_TOKEN failed" >&2; exit 1',
    );
    const whole = await configure(printsIt);
    expect(whole.why).toContain('error: authenticating with token *** failed');
    // 4096 bytes kept of a long output that begins inside the token.
    const long = coder(
      'prints-long',
      `printf 'x%.0s' $(seq 1 70000); printf '%s' "$CODER_AGENT_TOKEN" | cut -c2- | tr -d '\\n'; echo ' failed'; exit 1`,
    );
    const cut = await configure(long);
    expect(cut.state).toBe('failed');
    for (let n = MIN_FRAGMENT; n <= TOKEN.length; n++) {
      for (let at = 0; at + n <= TOKEN.length; at++) expect(cut.why).not.toContain(TOKEN.slice(at, at + n));
    }
    expect(cut.why).toContain('*** failed');
  });
});
