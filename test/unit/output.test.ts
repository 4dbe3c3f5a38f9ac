// output.ts: every byte written with write(2), in order, and never an exception: a partial write
// is finished, a closed or full output ends the line quietly, and a non-blocking pipe that is full
// (EAGAIN) hands the rest, and everything after it, to Node's stream, which waits for it. The
// write(2) seam (`sink`) records here; Node's stream is spied on, not replaced.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { sink, write } from '../../src/core/utils/output.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const error = (code: string) => Object.assign(new Error(code), { code });

describe('write', () => {
  it('nothing for an empty text', () => {
    const calls = vi.spyOn(sink, 'writeSync');
    write('stdout', '');
    expect(calls).not.toHaveBeenCalled();
  });

  it('UTF-8 bytes to fd 1 or 2; a partial write is finished', () => {
    const got: [number, Buffer][] = [];
    vi.spyOn(sink, 'writeSync').mockImplementation((fd, bytes) => {
      const n = Math.min(3, bytes.length);
      got.push([fd, Buffer.from(bytes.subarray(0, n))]);
      return n;
    });
    write('stdout', 'hello✓');
    write('stderr', 'ab');
    expect(got.map(([fd, b]) => [fd, b.length])).toEqual([
      [1, 3],
      [1, 3],
      [1, 2],
      [2, 2],
    ]);
    expect(Buffer.concat(got.slice(0, 3).map(([, b]) => b)).toString('utf8')).toBe('hello✓');
  });

  it.each(['EPIPE', 'EBADF', 'ENOSPC', 'EIO'])('%s: the line ends there, quietly', (code) => {
    const calls = vi.spyOn(sink, 'writeSync').mockImplementation(() => {
      throw error(code);
    });
    const queued = vi.spyOn(process.stdout, 'write');
    expect(() => write('stdout', 'lost')).not.toThrow();
    expect(calls).toHaveBeenCalledTimes(1);
    expect(queued).not.toHaveBeenCalled();
  });

  it('EAGAIN: the rest goes to Node’s stream, and so does everything after it, in order', () => {
    // The first write(2) takes 2 bytes, the second finds the pipe full, later ones would succeed:
    // once queued, the rest stays queued, or it would pass what is still waiting.
    let calls = 0;
    const direct: string[] = [];
    vi.spyOn(sink, 'writeSync').mockImplementation((_, bytes) => {
      calls++;
      if (calls === 2) throw error('EAGAIN');
      const n = calls === 1 ? 2 : bytes.length;
      direct.push(Buffer.from(bytes.subarray(0, n)).toString());
      return n;
    });
    const queued: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((data: string | Uint8Array) => {
      queued.push(Buffer.from(data).toString());
      return true;
    });
    write('stderr', 'abcdef');
    write('stderr', 'next');
    expect(direct).toEqual(['ab']);
    expect(queued).toEqual(['cdef', 'next']);
    // A stream that errors later (its reader gone) does not crash the command.
    expect(process.stderr.listenerCount('error')).toBeGreaterThan(0);
    // stdout is not affected.
    const out: string[] = [];
    vi.spyOn(sink, 'writeSync').mockImplementation((_, bytes) => {
      out.push(Buffer.from(bytes).toString());
      return bytes.length;
    });
    write('stdout', 'direct');
    expect(out).toEqual(['direct']);
  });

  it('by default, write(2) itself: what it returns is what it wrote', () => {
    expect(sink.writeSync(1, new Uint8Array(0))).toBe(0);
  });
});
