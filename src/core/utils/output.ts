// stdout and stderr written with write(2), not through Node's process.stdout/process.stderr:
// setting up one of those streams costs a compiled command about 10 ms of start-up (issue #29,
// measured), for lines that one write(2) each delivers as well. And output never changes the
// outcome: a closed pipe or a full device (a stop script's output going nowhere) is ignored.

import { writeSync } from 'node:fs';

const STREAMS = { stdout: 1, stderr: 2 } as const;
type Stream = keyof typeof STREAMS;

/** Where the bytes go: write(2) on fd 1 or 2. The unit tests put a recorder here. */
export const sink = { writeSync: (fd: number, bytes: Uint8Array): number => writeSync(fd, bytes) };

/** Streams that could not take a write at once (EAGAIN: a non-blocking pipe, full); see below. */
const fellBack = new Set<Stream>();

/** Writes all of `text`, or what a closed or full output lets through, and never throws. */
export function write(stream: Stream, text: string): void {
  if (text === '') return;
  // Once a stream had to be queued, everything after it is queued too, to keep the order.
  if (fellBack.has(stream)) {
    queue(stream, text);
    return;
  }
  let bytes = Buffer.from(text, 'utf8');
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(sink.writeSync(STREAMS[stream], bytes));
    } catch (error) {
      // A non-blocking pipe (someone else's, inherited) that is full: Node's stream waits for it.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        fellBack.add(stream);
        queue(stream, bytes);
      }
      return; // and EPIPE, EBADF, ENOSPC, EIO: nobody is reading it.
    }
  }
}

function queue(stream: Stream, data: string | Uint8Array): void {
  const target = process[stream];
  if (target.listenerCount('error') === 0) target.on('error', () => {});
  try {
    target.write(data);
  } catch {}
}
